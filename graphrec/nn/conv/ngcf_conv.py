"""NGCF's embedding propagation as a PyG layer, with a fused path on CSRAdjacency."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.nn.conv.lightgcn_conv import LightGCNConv
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_conv
from graphrec.typing import Adj, OptTensor, PairTensor


@register_conv("ngcf")
class NGCFConv(LightGCNConv):
    r"""The embedding propagation layer of NGCF from the `"Neural Graph
    Collaborative Filtering" <https://arxiv.org/abs/1905.08108>`_ paper (eq. 7),
    for a graph from source nodes to destination nodes (users and items):

    .. math::
        \mathbf{m}_i = \sum_{j \in \mathcal{N}(i)}
        \frac{w_{ji}}{\sqrt{\deg(j)\deg(i)}} \mathbf{x}_j, \qquad
        \mathbf{x}^{\prime}_i = \mathrm{LeakyReLU}\Big(
        \mathbf{W}_1 (\mathbf{x}_i + \mathbf{m}_i) +
        \mathbf{W}_2 (\mathbf{x}_i \odot \mathbf{m}_i) \Big)

    The first term is the paper's :math:`(\mathcal{L} + \mathbf{I})\mathbf{E}\mathbf{W}_1`
    (neighbours plus the node itself); the second its affinity term
    :math:`(\mathcal{L}\mathbf{E}) \odot \mathbf{E}\,\mathbf{W}_2`, where each
    neighbour's message :math:`\mathbf{x}_j \odot \mathbf{x}_i` is weighted by how
    much it agrees with the receiver. Because :math:`\odot \mathbf{x}_i` and
    :math:`\mathbf{W}_2` are linear, the sum of the per-edge messages of the paper
    equals the expression above, so the layer needs a single sparse product
    :math:`\mathbf{m} = \hat{\mathbf{A}} \mathbf{x}` and no per-edge
    :math:`F`-dimensional products.

    A worked example of extending graphrec with a layer: its aggregate
    :math:`\mathbf{m}` is :class:`~graphrec.nn.conv.LightGCNConv`'s, which it
    subclasses (so :meth:`message` and the fused :meth:`message_and_aggregate` are
    inherited), and it registers itself with
    :func:`~graphrec.resolver.register_conv` as ``"ngcf"``, so
    ``GraphCF(conv="ngcf")`` (and the :class:`~graphrec.models.NGCF` model) build
    it by name; it accepts an :obj:`edge_index` (message passing: :meth:`message`
    scales by the normalised weight) or a :class:`~graphrec.ops.CSRAdjacency`
    (:meth:`message_and_aggregate` runs graphrec's fused CSR kernel), and both
    paths agree.

    Args:
        in_channels (int): size of the input features :math:`F`. Source and
            destination features share it (the self term adds them).
        out_channels (int): size of the output features :math:`F'`.
        negative_slope (float, optional): LeakyReLU slope; the authors' code
            uses 0.2. (default: :obj:`0.2`)
        bias (bool, optional): learn biases in :math:`\mathbf{W}_1`,
            :math:`\mathbf{W}_2`. (default: :obj:`True`)
        normalize (bool, optional): symmetric normalisation of the edge weights
            on :obj:`edge_index` input (a :class:`CSRAdjacency` carries its own).
            (default: :obj:`True`)
        **kwargs (optional): additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F)` or
          :math:`((|\mathcal{V_s}|, F), (|\mathcal{V_t}|, F))` if bipartite,
          edge indices :math:`(2, |\mathcal{E}|)` or a
          :class:`CSRAdjacency` of size :math:`(|\mathcal{V_s}|, |\mathcal{V_t}|)`
        - **output:** node features :math:`(|\mathcal{V_t}|, F')`

    Example:
        >>> from graphrec.ops import CSRAdjacency
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])  # user -> item
        >>> adj = CSRAdjacency.from_edge_index(edge_index, size=(3, 2))
        >>> conv = NGCFConv(8, 16)
        >>> x_user, x_item = torch.randn(3, 8), torch.randn(2, 8)
        >>> conv((x_user, x_item), adj).shape  # items from users
        torch.Size([2, 16])
        >>> torch.allclose(conv((x_user, x_item), adj), conv((x_user, x_item), edge_index), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, out_channels: int, negative_slope: float = 0.2,
                 bias: bool = True, normalize: bool = True, **kwargs) -> None:
        super().__init__(normalize=normalize, **kwargs)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.negative_slope = negative_slope
        self.lin_self = nn.Linear(in_channels, out_channels, bias=bias)  # W_1
        self.lin_affinity = nn.Linear(in_channels, out_channels, bias=bias)  # W_2
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        # Xavier, as the authors' code initialises W_1 and W_2
        for lin in (self.lin_self, self.lin_affinity):
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor | PairTensor, edge_index: Adj, edge_weight: OptTensor = None,
                size: tuple[int, int] | None = None) -> Tensor:
        x_src, x_dst = (x[0], x[1]) if isinstance(x, (tuple, list)) else (x, x)
        if x_dst is None:
            raise ValueError("NGCFConv needs the destination features (its self and affinity "
                             "terms read them): pass (x_src, x_dst)")
        if isinstance(edge_index, CSRAdjacency) and edge_index.size != (x_src.size(0), x_dst.size(0)):
            raise ValueError(f"NGCFConv: the adjacency has size {edge_index.size} but the features "
                             f"have {x_src.size(0)} source and {x_dst.size(0)} destination nodes")
        m = super().forward((x_src, x_dst), edge_index, edge_weight, size)  # LightGCN's aggregate
        out = self.lin_self(x_dst + m) + self.lin_affinity(x_dst * m)
        return F.leaky_relu(out, self.negative_slope)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
