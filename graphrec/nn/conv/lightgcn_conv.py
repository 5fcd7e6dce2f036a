"""LightGCN propagation as a PyG layer, with a fused path on CSRAdjacency."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import is_sparse
from torch_geometric.utils import spmm as pyg_spmm

from graphrec.ops import CSRAdjacency, spmm
from graphrec.ops.adjacency import validate_edge_weight
from graphrec.ops.dispatch import should_validate
from graphrec.resolver import register_conv
from graphrec.typing import Adj, OptTensor, PairTensor


def bipartite_gcn_norm(edge_index: Tensor, edge_weight: OptTensor,
                       size: tuple[int, int], dtype: torch.dtype) -> Tensor:
    r"""Edge weights :math:`w_{ji} / \sqrt{\deg(j) \deg(i)}` for edges
    :math:`j \to i` between two node sets of sizes :obj:`size`, where
    :math:`\deg(j)` is the weighted out-degree of source :math:`j` and
    :math:`\deg(i)` the weighted in-degree of destination :math:`i`. On a
    symmetric square graph this equals PyG's :obj:`gcn_norm` without
    self-loops.

    Raises a :class:`ValueError` naming the first negative, NaN or infinite
    edge weight (checked on CPU, or everywhere with ``GRAPHREC_VALIDATE=1``):
    a negative weight can make a degree zero or negative, and
    :math:`1/\sqrt{\deg}` NaN."""
    src, dst = edge_index[0], edge_index[1]
    if edge_weight is not None and should_validate(edge_weight.device):
        validate_edge_weight(edge_weight, "LightGCNConv (normalize=True)", normalize=True)
    if edge_weight is None:
        edge_weight = torch.ones(src.numel(), dtype=dtype, device=src.device)
    deg_src = edge_weight.new_zeros(size[0]).index_add(0, src, edge_weight)
    deg_dst = edge_weight.new_zeros(size[1]).index_add(0, dst, edge_weight)
    norm = (deg_src[src] * deg_dst[dst]).rsqrt()
    norm = norm.masked_fill(torch.isinf(norm), 0.0)
    return edge_weight * norm


@register_conv("lightgcn")
class LightGCNConv(MessagePassing):
    r"""The neighbourhood propagation of LightGCN from the `"LightGCN:
    Simplifying and Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper, for a graph from source nodes
    to destination nodes (the same set, or two different types such as
    users and items):

    .. math::
        \mathbf{x}^{\prime}_i = \sum_{j \in \mathcal{N}(i)}
        \frac{w_{ji}}{\sqrt{\deg(j)\deg(i)}} \mathbf{x}_j

    where :math:`\deg(j)` is the (weighted) out-degree of source :math:`j`,
    :math:`\deg(i)` the (weighted) in-degree of destination :math:`i` and
    :math:`w_{ji}` the edge weight (default 1). The layer has no parameters.

    It accepts an :obj:`edge_index` (message passing; :meth:`message` scales
    by the weight), a torch sparse / :obj:`SparseTensor` adjacency, or a
    :class:`graphrec.ops.CSRAdjacency`, for which :meth:`message_and_aggregate`
    runs graphrec's fused CSR kernel with a cached-transpose backward (the
    fast path; build the adjacency once per graph). A :class:`CSRAdjacency`
    carries its own (already normalised) weights, so :obj:`normalize` only
    applies to :obj:`edge_index` input. Usable inside
    :class:`~torch_geometric.nn.conv.HeteroConv`.

    Args:
        normalize (bool, optional): if :obj:`True`, normalises edge weights by
            :math:`1/\sqrt{\deg(j)\deg(i)}` on :obj:`edge_index` input.
            (default: :obj:`True`)
        **kwargs (optional): additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing` (e.g.
            :obj:`aggr="mean"`; only ``"add"`` and ``"mean"`` are fused).

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F)` or
          :math:`((|\mathcal{V_s}|, F), (|\mathcal{V_t}|, F))` if bipartite,
          edge indices :math:`(2, |\mathcal{E}|)` or a
          :class:`CSRAdjacency` of size :math:`(|\mathcal{V_s}|, |\mathcal{V_t}|)`,
          edge weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V_t}|, F)`

    Example:
        >>> from graphrec.ops import CSRAdjacency
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])  # user -> item
        >>> adj = CSRAdjacency.from_edge_index(edge_index, size=(3, 2))
        >>> conv = LightGCNConv()
        >>> x_user, x_item = torch.randn(3, 8), torch.randn(2, 8)
        >>> conv(x_user, adj).shape  # items from users
        torch.Size([2, 8])
        >>> conv(x_item, adj.t()).shape  # users from items (cached transpose)
        torch.Size([3, 8])
        >>> torch.allclose(conv(x_user, adj), conv((x_user, x_item), edge_index))
        True
    """

    def __init__(self, normalize: bool = True, **kwargs) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        self.normalize = normalize

    def reset_parameters(self) -> None:
        pass

    def forward(
        self,
        x: Tensor | PairTensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        if isinstance(edge_index, CSRAdjacency):
            x_src = x[0] if isinstance(x, (tuple, list)) else x
            if edge_weight is not None:
                raise ValueError("edge_weight is ignored with a CSRAdjacency; build the "
                                 "adjacency with CSRAdjacency.from_edge_index(..., edge_weight=)")
            return self.message_and_aggregate(edge_index, (x_src, None))
        if isinstance(x, Tensor):  # destination features are never read
            x = (x, x if size is None or size[1] == x.size(0) else None)
        if self.normalize and isinstance(edge_index, Tensor) and not is_sparse(edge_index):
            if size is None:
                size = (x[0].size(0), x[1].size(0) if x[1] is not None else x[0].size(0))
            edge_weight = bipartite_gcn_norm(edge_index, edge_weight, size, x[0].dtype)
        return self.propagate(edge_index, x=x, edge_weight=edge_weight, size=size)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, edge_index: Adj, x: PairTensor) -> Tensor:
        if isinstance(edge_index, CSRAdjacency):
            return spmm(edge_index, x[0], reduce=self.aggr)
        return pyg_spmm(edge_index, x[0], reduce=self.aggr)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(normalize={self.normalize})"
