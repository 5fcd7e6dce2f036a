"""LightGCN's multi-layer, layer-averaged propagation over a bipartite user-item graph."""
from __future__ import annotations

from torch import Tensor, nn

from graphrec.nn.conv import LightGCNConv
from graphrec.ops import CSRAdjacency


class LightGCNPropagation(nn.Module):
    r"""The propagation stack of LightGCN from the `"LightGCN: Simplifying and
    Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper on the bipartite user-item graph:
    :math:`K` parameter-free :class:`~graphrec.nn.conv.LightGCNConv` layers, two
    bipartite sparse products each, and the mean of the :math:`K+1` layer outputs:

    .. math::
        \mathbf{e}_u^{(k+1)} = \sum_{i \in \mathcal{N}_u} \frac{1}{\sqrt{|\mathcal{N}_u||\mathcal{N}_i|}}
        \mathbf{e}_i^{(k)}, \quad
        \mathbf{e}_i^{(k+1)} = \sum_{u \in \mathcal{N}_i} \frac{1}{\sqrt{|\mathcal{N}_i||\mathcal{N}_u|}}
        \mathbf{e}_u^{(k)}, \quad
        \mathbf{e} = \frac{1}{K+1}\sum_{k=0}^{K} \mathbf{e}^{(k)}

    The square :math:`(U+I)^2` adjacency is never built. The graph is either a
    :class:`~graphrec.ops.CSRAdjacency` of size ``(num_users, num_items)`` (graphrec's
    fused CSR path; its cached transpose gives the item-to-user direction) or the
    ``(2, |E|)`` user-to-item ``edge_index`` (PyG message passing, normalised on every
    call; slower, kept as the reference path). Both give the same result. A pair
    ``(user -> item, item -> user)`` of adjacencies propagates each direction over its
    own edges (a sampled subgraph, whose two directions are sampled separately).

    Args:
        num_layers (int): propagation layers :math:`K`; ``0`` returns the inputs.

    Shapes:
        - **input:** user embeddings :math:`(|\mathcal{U}|, F)`, item embeddings
          :math:`(|\mathcal{I}|, F)`, a :class:`CSRAdjacency` of size
          :math:`(|\mathcal{U}|, |\mathcal{I}|)` or edge indices :math:`(2, |\mathcal{E}|)`
        - **output:** layer-mean user and item embeddings
          :math:`(|\mathcal{U}|, F)`, :math:`(|\mathcal{I}|, F)`

    Example:
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])  # user -> item
        >>> adj = CSRAdjacency.from_edge_index(edge_index, size=(3, 2))
        >>> prop = LightGCNPropagation(num_layers=2)
        >>> x_user, x_item = torch.randn(3, 8), torch.randn(2, 8)
        >>> u, i = prop(x_user, x_item, adj)
        >>> u.shape, i.shape
        (torch.Size([3, 8]), torch.Size([2, 8]))
        >>> torch.allclose(i, prop(x_user, x_item, edge_index)[1], atol=1e-6)
        True
    """

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_layers = num_layers
        self.conv = LightGCNConv()

    def reset_parameters(self) -> None:
        pass

    def propagate_once(self, x_user: Tensor, x_item: Tensor,
                       adj: CSRAdjacency | Tensor | tuple[CSRAdjacency, CSRAdjacency]) -> tuple[Tensor, Tensor]:
        """One layer: ``(users from items, items from users)``."""
        if isinstance(adj, tuple):  # two directions that are not each other's transpose
            adj_ui, adj_iu = adj
            return self.conv(x_item, adj_iu), self.conv(x_user, adj_ui)
        if isinstance(adj, CSRAdjacency):
            return self.conv(x_item, adj.t()), self.conv(x_user, adj)
        size = (x_user.size(0), x_item.size(0))
        return (self.conv((x_item, x_user), adj.flip(0), size=size[::-1]),
                self.conv((x_user, x_item), adj, size=size))

    def forward(self, x_user: Tensor, x_item: Tensor,
                adj: CSRAdjacency | Tensor | tuple[CSRAdjacency, CSRAdjacency]) -> tuple[Tensor, Tensor]:
        u, i = x_user, x_item
        sum_u, sum_i = u, i
        for _ in range(self.num_layers):
            u, i = self.propagate_once(u, i, adj)
            sum_u, sum_i = sum_u + u, sum_i + i
        return sum_u / (self.num_layers + 1), sum_i / (self.num_layers + 1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_layers={self.num_layers})"


__all__ = ["LightGCNPropagation"]
