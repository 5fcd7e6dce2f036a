"""Per-edge-type adjacencies for heterogeneous propagation (HeteroConv)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphrec.ops import CSRAdjacency
from graphrec.typing import EdgeType


def hetero_adjacency(
    data: Any,
    edge_types: Iterable[EdgeType] | None = None,
    normalize: bool = True,
    add_reverse: bool = False,
) -> dict[EdgeType, CSRAdjacency]:
    r"""Builds one :class:`~graphrec.ops.CSRAdjacency` per edge type of a
    :class:`~torch_geometric.data.HeteroData` object, to be passed as the
    :obj:`edge_index_dict` of a :class:`~torch_geometric.nn.conv.HeteroConv`
    of :class:`LightGCNConv` layers.

    Args:
        data (torch_geometric.data.HeteroData): the graph.
        edge_types (list of tuples, optional): the edge types to build
            (default: :obj:`None`, all of them).
        normalize (bool, optional): symmetric normalisation of every
            adjacency. (default: :obj:`True`)
        add_reverse (bool, optional): if :obj:`True`, adds
            :obj:`(dst, "rev_" + rel, src)` as the cached transpose of each
            edge type that has no such entry, at no extra build cost.
            (default: :obj:`False`)
    """
    edge_types = list(data.edge_types if edge_types is None else edge_types)
    out: dict[EdgeType, CSRAdjacency] = {}
    for et in edge_types:
        out[tuple(et)] = CSRAdjacency.from_hetero(data, et, normalize=normalize)
    if add_reverse:
        for (src, rel, dst), adj in list(out.items()):
            rev = (dst, f"rev_{rel}", src)
            if rev not in out:
                out[rev] = adj.t()
    return out


__all__ = ["hetero_adjacency"]
