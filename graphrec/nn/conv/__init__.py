"""Message-passing layers (PyG :class:`MessagePassing` subclasses)."""
from graphrec.nn.conv.hetero import hetero_adjacency
from graphrec.nn.conv.lightgcn_conv import LightGCNConv

__all__ = ["LightGCNConv", "hetero_adjacency"]
