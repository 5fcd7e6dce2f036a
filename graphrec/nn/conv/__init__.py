"""Message-passing layers (PyG :class:`MessagePassing` subclasses).

Each layer registers itself by name (:func:`graphrec.resolver.register_conv`), so
models that build their layers by name (:class:`graphrec.models.GraphCF`) and
configs (``model.conv: ngcf``) reach it, and a user's own layer registered the
same way plugs in beside them.
"""
from graphrec.nn.conv.bipartite_gat_conv import BipartiteGATConv
from graphrec.nn.conv.hetero import hetero_adjacency
from graphrec.nn.conv.lightgcn_conv import LightGCNConv
from graphrec.nn.conv.ngcf_conv import NGCFConv

__all__ = ["LightGCNConv", "NGCFConv", "BipartiteGATConv", "hetero_adjacency"]
