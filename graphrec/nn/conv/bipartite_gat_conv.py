"""Graph attention between two node types (user -> item, user -> query, query -> item),
with its attention softmax on graphrec's segment kernels."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import softmax as pyg_softmax

from graphrec.ops import CSRAdjacency, segment_reduce, segment_softmax
from graphrec.resolver import register_conv
from graphrec.typing import Adj, OptTensor, PairTensor


@register_conv("gat")
class BipartiteGATConv(MessagePassing):
    r"""A graph-attention layer in the style of `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_ for edges between two node types, such as
    graphrec's ``('user', 'clicks', 'item')``, ``('user', 'searches', 'query')`` and
    ``('query', 'leads_to', 'item')``: each destination :math:`i` attends over its
    sources :math:`j`, per head :math:`h`,

    .. math::
        \alpha^{h}_{ji} = \operatorname{softmax}_{j \in \mathcal{N}(i)}\Big(
        \mathrm{LeakyReLU}\big(\mathbf{a}_{s}^{h\top} \mathbf{W}_{s}^{h} \mathbf{x}_j +
        \mathbf{a}_{t}^{h\top} \mathbf{W}_{t}^{h} \mathbf{x}_i\big)\Big), \qquad
        \mathbf{x}^{\prime}_i = \bigoplus_{h=1}^{H} \sum_{j \in \mathcal{N}(i)}
        \alpha^{h}_{ji} \mathbf{W}_{s}^{h} \mathbf{x}_j + \mathbf{b}

    with separate projections :math:`\mathbf{W}_s, \mathbf{W}_t` for the two types
    (a query and an item live in different spaces) and :math:`\bigoplus` the
    concatenation or the mean of the heads. A destination without edges gets
    :math:`\mathbf{b}`.

    A worked example of extending graphrec with a layer that learns its own edge
    weights: on a :class:`~graphrec.ops.CSRAdjacency` (destination-sorted CSR, so
    every destination's edges form one segment) the softmax over each
    neighbourhood is :func:`graphrec.ops.segment_softmax` and the weighted sum is
    :func:`graphrec.ops.segment_reduce`, the library's kernels (Triton on CUDA);
    on an :obj:`edge_index` it is PyG message passing with
    :func:`torch_geometric.utils.softmax`, the reference the tests compare against.
    The adjacency's stored weights are not used (attention replaces them).
    Registered as ``"gat"`` (:func:`~graphrec.resolver.register_conv`); works per
    edge type inside :class:`~torch_geometric.nn.conv.HeteroConv`.

    Args:
        in_channels (int or tuple): size of the input features, or
            ``(source size, destination size)`` when the two types differ.
        out_channels (int): size of each head's output.
        heads (int, optional): attention heads :math:`H`. (default: :obj:`1`)
        concat (bool, optional): concatenate the heads (output
            :math:`H F'`) instead of averaging them (output :math:`F'`).
            (default: :obj:`False`)
        negative_slope (float, optional): LeakyReLU slope of the scores.
            (default: :obj:`0.2`)
        dropout (float, optional): dropout on the attention weights while
            training. (default: :obj:`0.0`)
        bias (bool, optional): learn the additive bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        **kwargs (optional): additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`((|\mathcal{V_s}|, F_s), (|\mathcal{V_t}|, F_t))`
          (or one tensor when sources and destinations are the same nodes),
          edge indices :math:`(2, |\mathcal{E}|)` or a :class:`CSRAdjacency` of
          size :math:`(|\mathcal{V_s}|, |\mathcal{V_t}|)`
        - **output:** node features :math:`(|\mathcal{V_t}|, H F')` or
          :math:`(|\mathcal{V_t}|, F')`

    Example:
        >>> from graphrec.ops import CSRAdjacency
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])  # user -> query
        >>> adj = CSRAdjacency.from_edge_index(edge_index, size=(3, 2), normalize=False)
        >>> conv = BipartiteGATConv((8, 4), 16, heads=2).eval()
        >>> x_user, x_query = torch.randn(3, 8), torch.randn(2, 4)
        >>> conv((x_user, x_query), adj).shape
        torch.Size([2, 16])
        >>> torch.allclose(conv((x_user, x_query), adj), conv((x_user, x_query), edge_index), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int | tuple[int, int], out_channels: int, heads: int = 1,
                 concat: bool = False, negative_slope: float = 0.2, dropout: float = 0.0,
                 bias: bool = True, **kwargs) -> None:
        kwargs.setdefault("aggr", "add")
        kwargs.setdefault("node_dim", 0)
        super().__init__(**kwargs)
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.concat, self.negative_slope, self.dropout = concat, negative_slope, dropout
        in_src, in_dst = (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        self.lin_src = nn.Linear(in_src, heads * out_channels, bias=False)
        self.lin_dst = nn.Linear(in_dst, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = nn.Parameter(torch.empty(heads * out_channels if concat else out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for w in (self.lin_src.weight, self.lin_dst.weight, self.att_src, self.att_dst):
            nn.init.xavier_uniform_(w)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor | PairTensor, edge_index: Adj, size: tuple[int, int] | None = None) -> Tensor:
        x_src, x_dst = (x[0], x[1]) if isinstance(x, (tuple, list)) else (x, x)
        if x_dst is None:
            raise ValueError("BipartiteGATConv needs the destination features (they score the "
                             "attention): pass (x_src, x_dst)")
        H, C = self.heads, self.out_channels
        h_src = self.lin_src(x_src).view(-1, H, C)
        h_dst = self.lin_dst(x_dst).view(-1, H, C)
        score_src = (h_src * self.att_src).sum(-1)  # (|V_s|, H)
        score_dst = (h_dst * self.att_dst).sum(-1)  # (|V_t|, H)
        if isinstance(edge_index, CSRAdjacency):
            if edge_index.size != (x_src.size(0), x_dst.size(0)):
                raise ValueError(f"BipartiteGATConv: the adjacency has size {edge_index.size} but the "
                                 f"features have {x_src.size(0)} source and {x_dst.size(0)} destination nodes")
            out = self._csr_attention(edge_index, h_src, score_src, score_dst)
        else:
            size = (x_src.size(0), x_dst.size(0)) if size is None else size
            out = self.propagate(edge_index, x=(h_src, h_dst), score=(score_src, score_dst), size=size)
        out = out.reshape(-1, H * C) if self.concat else out.mean(dim=1)
        return out if self.bias is None else out + self.bias

    def _attention(self, logits: Tensor) -> Tensor:
        return F.leaky_relu(logits, self.negative_slope)

    def _csr_attention(self, adj: CSRAdjacency, h_src: Tensor, score_src: Tensor, score_dst: Tensor) -> Tensor:
        # every destination's edges are one CSR segment: softmax and sum per segment
        src, dst = adj.col.long(), adj.row.long()
        alpha = segment_softmax(self._attention(score_src[src] + score_dst[dst]), adj.rowptr)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        messages = (alpha.unsqueeze(-1) * h_src[src]).flatten(1)  # (|E|, H * C)
        return segment_reduce(messages, adj.rowptr, "sum").view(-1, self.heads, self.out_channels)

    def message(self, x_j: Tensor, score_j: Tensor, score_i: Tensor, index: Tensor,
                ptr: OptTensor, size_i: int | None) -> Tensor:
        alpha = pyg_softmax(self._attention(score_j + score_i), index, ptr, size_i)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        return alpha.unsqueeze(-1) * x_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"
