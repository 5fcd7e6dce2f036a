r"""BPR triples with the sampled subgraph around them, for mini-batch training of
graph models on graphs that do not fit full-batch.

Each batch holds :math:`B` triples ``(user, pos, neg)`` -- the same triples as
:class:`~graphrec.data.loader.BPRLoader` (negatives outside the user's training
items) -- and the :math:`K`-hop neighbourhood of their nodes, sampled by PyG's
:class:`~torch_geometric.loader.LinkNeighborLoader` over the user-item graph and its
reverse (``num_neighbors[k]`` neighbours per node at hop :math:`k`). A model then
propagates over the subgraph only; nodes at hop :math:`h` hold correct layer-:math:`k`
values for :math:`h + k \le K`, which is all the seeds need.

Batch keys: ``user``, ``pos``, ``neg`` (global ids, ``(B,)``); ``n_id_user``,
``n_id_item`` (global id of each subgraph node); ``edge_user_item`` (user -> item
edges, local ids, sampled towards items) and ``edge_item_user`` (item -> user,
sampled towards users); ``seed_user``, ``seed_pos``, ``seed_neg`` (local ids of the
triples' nodes in the subgraph).

PyG's samplers need ``pyg-lib`` or ``torch-sparse`` (``pip install graphrec[sampling]``);
without them building the loader raises an :class:`ImportError` that says so.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS, reverse
from graphrec.data.loader import BPRLoader
from graphrec.typing import WITH_NEIGHBOR_SAMPLING

REV_CLICKS = reverse(CLICKS)


def require_neighbor_sampling(owner: str) -> None:
    """Raise a clear :class:`ImportError` when PyG's neighbour samplers cannot run."""
    if not WITH_NEIGHBOR_SAMPLING:
        raise ImportError(f"{owner}: mini-batch training on sampled subgraphs uses PyG's neighbour "
                          "samplers, which need 'torch-sparse' or 'pyg-lib'; install them with "
                          "`pip install graphrec[sampling]` (torch-sparse builds from source, about 10 "
                          "minutes), or train full-batch")


def sampling_graph(edge_index: Tensor, num_users: int, num_items: int) -> HeteroData:
    """The bare user-item graph the sampler walks: both directions, no other attribute
    (graph-level python lists and unrelated types would only slow the loader down)."""
    g = HeteroData()
    g["user"].num_nodes, g["item"].num_nodes = num_users, num_items
    g[CLICKS].edge_index = edge_index
    g[REV_CLICKS].edge_index = edge_index.flip(0)
    return g


class SampledBPRLoader:
    """One epoch of BPR triples, each batch with its sampled subgraph (module docstring).

    Args:
        edge_index: training user -> item edges ``(2, E)``.
        num_users, num_items: node counts.
        num_neighbors: neighbours sampled per node at each hop (``-1``: all); its
            length is the number of hops, the model's propagation depth.
        batch_size: triples per batch.
        generator: draws the triples' order and negatives (the subgraph sampling draws
            from torch's global generator, which the trainer seeds).
    """

    def __init__(self, edge_index: Tensor, num_users: int, num_items: int, num_neighbors: Sequence[int],
                 batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True) -> None:
        require_neighbor_sampling("SampledBPRLoader")
        from torch_geometric.sampler import NeighborSampler

        self.triples = BPRLoader(edge_index, num_items, batch_size, shuffle=shuffle, generator=generator,
                                 num_users=num_users)
        self.graph = sampling_graph(edge_index, num_users, num_items)
        self.num_neighbors = list(num_neighbors)
        self.batch_size = batch_size
        # built once: it converts the graph to the sampler's CSC layout
        with warnings.catch_warnings():
            # PyG deprecates its torch-sparse sampling path in favour of pyg-lib, which has no
            # wheel for this torch; torch-sparse is the path that installs here
            warnings.filterwarnings("ignore", message=".*without a 'pyg-lib' installation.*")
            self.sampler = NeighborSampler(self.graph, num_neighbors=self.num_neighbors)

    def __len__(self) -> int:
        return len(self.triples)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        from torch_geometric.loader import LinkNeighborLoader

        triples = list(self.triples)
        # one seed edge list for the epoch, laid out batch by batch as [(u, pos) x B, (u, neg) x B]:
        # consecutive slices of 2B seed edges are then exactly one batch's triples
        pairs = torch.cat([torch.stack([torch.cat([t["user"], t["user"]]), torch.cat([t["pos"], t["neg"]])])
                           for t in triples], dim=1)
        loader = LinkNeighborLoader(self.graph, num_neighbors=self.num_neighbors, neighbor_sampler=self.sampler,
                                    batch_size=2 * self.batch_size, edge_label_index=(CLICKS, pairs),
                                    shuffle=False)
        for t, sub in zip(triples, loader):
            local = sub[CLICKS].edge_label_index  # (2, 2B) local ids, in seed order
            size = t["user"].numel()
            yield {
                **t,
                "n_id_user": sub["user"].n_id, "n_id_item": sub["item"].n_id,
                "edge_user_item": sub[CLICKS].edge_index, "edge_item_user": sub[REV_CLICKS].edge_index,
                "seed_user": local[0, :size], "seed_pos": local[1, :size], "seed_neg": local[1, size:],
            }

__all__ = ["SampledBPRLoader", "sampling_graph", "require_neighbor_sampling"]
