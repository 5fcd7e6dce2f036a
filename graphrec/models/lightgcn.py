"""LightGCN over the user-item clicks of a HeteroData."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS
from graphrec.data.ragged import Ragged
from graphrec.models.base import ModelConfig, RecModel
from graphrec.nn.conv import LightGCNConv
from graphrec.nn.losses import bpr_loss, l2_reg
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model


@dataclass
class LightGCNConfig(ModelConfig):
    """Args:
        dim: embedding size (64 in the paper).
        num_layers: propagation layers K (3 for Gowalla in the paper).
        reg_weight: L2 weight on the batch's layer-0 embeddings (1e-4).
        propagation: ``"csr"`` -- graphrec's fused CSR path (default) -- or
            ``"edge_index"`` -- PyG message passing over the edge list (slower;
            kept for comparison and as the reference path).
    """

    dim: int = 64
    num_layers: int = 3
    reg_weight: float = 1e-4
    propagation: str = "csr"


@register_model("lightgcn")
class LightGCN(RecModel):
    r"""LightGCN (`He et al., SIGIR 2020 <https://arxiv.org/abs/2002.02126>`_) on the
    bipartite user-item graph, propagated with :class:`~graphrec.nn.conv.LightGCNConv`:

    .. math::
        \mathbf{e}_u^{(k+1)} = \sum_{i \in \mathcal{N}_u} \frac{1}{\sqrt{|\mathcal{N}_u||\mathcal{N}_i|}}
        \mathbf{e}_i^{(k)}, \quad
        \mathbf{e}_i^{(k+1)} = \sum_{u \in \mathcal{N}_i} \frac{1}{\sqrt{|\mathcal{N}_i||\mathcal{N}_u|}}
        \mathbf{e}_u^{(k)}, \quad
        \mathbf{e} = \frac{1}{K+1}\sum_{k=0}^{K} \mathbf{e}^{(k)}

    scored by :math:`\hat y_{u,i} = \mathbf{e}_u^\top \mathbf{e}_i` and trained with BPR plus
    :math:`\lambda \frac{1}{2B}(\lVert e^{(0)}_u\rVert^2 + \lVert e^{(0)}_i\rVert^2 + \lVert e^{(0)}_j\rVert^2)`
    as the reference implementation. Two bipartite sparse products per layer; the
    square :math:`(U+I)^2` adjacency is never built. Propagated embeddings are
    cached for evaluation and the cache is dropped when the model trains again.
    """

    input_type = "pairwise"
    Config = LightGCNConfig
    train_defaults = {"batch_size": 2048, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, edge_index: Tensor, dim: int = 64,
                 num_layers: int = 3, reg_weight: float = 1e-4, propagation: str = "csr") -> None:
        super().__init__()
        if propagation not in ("csr", "edge_index"):
            raise ValueError(f"propagation must be 'csr' or 'edge_index', got {propagation!r}")
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.reg_weight, self.propagation = num_layers, reg_weight, propagation
        self.user_emb = nn.Embedding(num_users, dim)
        self.item_emb = nn.Embedding(num_items, dim)
        self.conv = LightGCNConv()
        self.edge_index = edge_index  # user -> item training edges
        self.adj = CSRAdjacency.from_edge_index(edge_index, size=(num_users, num_items))
        self._cache: tuple[Tensor, Tensor] | None = None
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> LightGCN:
        cfg = config or LightGCNConfig()
        return cls(data["user"].num_nodes, data["item"].num_nodes, data[CLICKS].edge_index,
                   **cfg.to_dict())

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)
        self._cache = None

    def train(self, mode: bool = True) -> LightGCN:
        self._cache = None
        return super().train(mode)

    def load_state_dict(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self._cache = None
        return super().load_state_dict(*args, **kwargs)

    def _propagate_once(self, x_user: Tensor, x_item: Tensor) -> tuple[Tensor, Tensor]:
        if self.propagation == "csr":
            if self.adj.device != x_user.device:
                self.adj = self.adj.to(x_user.device)
            return self.conv(x_item, self.adj.t()), self.conv(x_user, self.adj)
        ei = self.edge_index.to(x_user.device)
        size = (self.num_users, self.num_items)
        return (self.conv((x_item, x_user), ei.flip(0), size=size[::-1]),
                self.conv((x_user, x_item), ei, size=size))

    def get_embedding(self) -> tuple[Tensor, Tensor]:
        """Layer-averaged user and item embeddings."""
        if not self.training and self._cache is not None:
            return self._cache
        u, i = self.user_emb.weight, self.item_emb.weight
        sum_u, sum_i = u, i
        for _ in range(self.num_layers):
            u, i = self._propagate_once(u, i)
            sum_u, sum_i = sum_u + u, sum_i + i
        out = sum_u / (self.num_layers + 1), sum_i / (self.num_layers + 1)
        if not self.training:  # evaluation: cache detached copies until train() is called
            self._cache = (out[0].detach(), out[1].detach())
            return self._cache
        return out

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.get_embedding()
        u, p, n = batch["user"], batch["pos"], batch["neg"]
        eu = users[u]
        rec = bpr_loss((eu * items[p]).sum(-1), (eu * items[n]).sum(-1))
        reg = self.reg_weight * l2_reg(self.user_emb(u), self.item_emb(p), self.item_emb(n),
                                       batch_size=u.numel())
        return {"loss": rec + reg, "bpr": rec.detach(), "reg": reg.detach()}

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        eu, ei = self.get_embedding()
        return eu[users] @ ei.t()

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, "
                f"num_layers={self.num_layers}, propagation={self.propagation!r}")
