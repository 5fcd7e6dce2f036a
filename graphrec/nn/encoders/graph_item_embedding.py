"""Item inputs of the sequence encoders, read from the user-item graph."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.nn.models import LightGCNPropagation
from graphrec.ops import CSRAdjacency, adjacency_on


class GraphItemEmbedding(nn.Embedding):
    r"""The ``item`` node embeddings a sequence encoder reads, with id 0 as padding,
    optionally after :math:`K` LightGCN layers over the user-item training graph
    (:class:`~graphrec.nn.models.LightGCNPropagation`):

    .. math::
        \mathbf{e}_u^{(k+1)} = \sum_{i \in \mathcal{N}_u} \frac{\mathbf{e}_i^{(k)}}{\sqrt{d_u d_i}},\quad
        \mathbf{e}_i^{(k+1)} = \sum_{u \in \mathcal{N}_i} \frac{\mathbf{e}_u^{(k)}}{\sqrt{d_i d_u}},\quad
        \tilde{\mathbf{E}} = \tfrac{1}{K+1}\textstyle\sum_{k=0}^{K} \mathbf{E}^{(k)}

    so an item's input (and output) vector also carries the items co-consumed with it
    by the same users. With ``num_layers=0`` (the default) it *is* an
    :class:`torch.nn.Embedding` of ``num_items + 1`` rows (same state dict), so plain
    SASRec weights load unchanged.

    Models use it like an embedding (``emb(ids)``) and score with :meth:`table`;
    each call propagates again (two sparse products per layer on graphrec's CSR
    kernels, a few ms on Amazon Beauty), so gradients reach the user embeddings too.

    Args:
        num_items (int): items (ids ``1..num_items``; 0 is padding).
        dim (int): embedding size.
        adj (CSRAdjacency, optional): user x item training adjacency (needed when
            ``num_layers > 0``).
        num_layers (int, optional): LightGCN layers :math:`K`. (default: ``0``)
    """

    def __init__(self, num_items: int, dim: int, adj: CSRAdjacency | None = None, num_layers: int = 0) -> None:
        super().__init__(num_items + 1, dim, padding_idx=0)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if num_layers > 0:
            if adj is None:
                raise ValueError("GraphItemEmbedding with num_layers > 0 needs the user-item adjacency")
            if adj.size[1] != num_items:
                raise ValueError(f"adjacency has {adj.size[1]} item columns, expected {num_items}")
            self.user = nn.Embedding(adj.size[0], dim)
            self.propagation = LightGCNPropagation(num_layers)
        self.adj, self.num_layers = adj, num_layers
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)
        with torch.no_grad():
            self.weight[0].zero_()
        if getattr(self, "num_layers", 0) > 0:
            nn.init.normal_(self.user.weight, std=0.02)

    def table(self) -> Tensor:
        """``(num_items + 1, d)``: row 0 zero, rows ``1..`` the (propagated) items."""
        if self.num_layers == 0:
            return self.weight
        _, items = self.propagation(self.user.weight, self.weight[1:], adjacency_on(self, "adj", self.weight.device))
        return F.pad(items, (0, 0, 1, 0))

    def forward(self, ids: Tensor) -> Tensor:
        if self.num_layers == 0:
            return super().forward(ids)
        return F.embedding(ids, self.table(), padding_idx=0)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, graph_layers={self.num_layers}"


__all__ = ["GraphItemEmbedding"]
