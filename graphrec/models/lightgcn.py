"""LightGCN over the user-item clicks of a HeteroData."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.config import ConfigError
from graphrec.data.hetero import CLICKS
from graphrec.data.inputs import PairwiseInputs, SampledPairwiseInputs, TrainInputs
from graphrec.models.base import ModelConfig, resolve_config
from graphrec.models.propagated import PropagatedEmbeddingModel
from graphrec.nn.losses import bpr_loss, l2_reg
from graphrec.nn.models import LightGCNPropagation
from graphrec.ops import CSRAdjacency, adjacency_on
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
        num_neighbors: ``""`` trains full-batch (every batch propagates over the whole
            graph, as the paper); ``"10,10,10"`` trains on sampled subgraphs, that many
            neighbours per node at each hop (``-1``: all), one entry per layer
            (needs ``graphrec[sampling]``; evaluation stays full-graph).
    """

    dim: int = 64
    num_layers: int = 3
    reg_weight: float = 1e-4
    propagation: str = "csr"
    num_neighbors: str = ""

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim")
        self.require_non_negative("num_layers", "reg_weight")
        self.require_choice("propagation", ("csr", "edge_index"))
        self.fanout()

    def fanout(self) -> tuple[int, ...]:
        """``num_neighbors`` parsed; ``()`` for full-batch training."""
        if not self.num_neighbors.strip():
            return ()
        try:
            fan = tuple(int(v) for v in self.num_neighbors.split(","))
        except ValueError:
            fan = ()
        if not fan or any(v == 0 or v < -1 for v in fan):
            raise ConfigError("num_neighbors", f"must be comma-separated counts >= 1 or -1 (all), got "
                                               f"{self.num_neighbors!r}")
        if len(fan) != self.num_layers:
            raise ConfigError("num_neighbors", f"needs one count per layer ({self.num_layers}), got "
                                               f"{self.num_neighbors!r}")
        return fan


@register_model("lightgcn")
class LightGCN(PropagatedEmbeddingModel):
    r"""LightGCN (`He et al., SIGIR 2020 <https://arxiv.org/abs/2002.02126>`_) on the
    bipartite user-item graph: the user and item tables :math:`\mathbf{e}^{(0)}` go through
    :math:`K` symmetric-normalised propagation layers and are averaged,
    :math:`\mathbf{e} = \frac{1}{K+1}\sum_{k=0}^{K} \mathbf{e}^{(k)}`
    (:class:`~graphrec.nn.models.LightGCNPropagation`, whose docstring has the update),
    scored by :math:`\hat y_{u,i} = \mathbf{e}_u^\top \mathbf{e}_i` and trained with BPR plus
    :math:`\lambda \frac{1}{2B}(\lVert e^{(0)}_u\rVert^2 + \lVert e^{(0)}_i\rVert^2 + \lVert e^{(0)}_j\rVert^2)`
    as the reference implementation. Two bipartite sparse products per layer; the
    square :math:`(U+I)^2` adjacency is never built. Propagated embeddings are
    cached for evaluation and the cache is dropped when the model trains again.
    """

    Config = LightGCNConfig
    train_defaults = {"batch_size": 2048, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, edge_index: Tensor, adj: CSRAdjacency | None = None,
                 config: LightGCNConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.reg_weight, self.propagation = cfg.num_layers, cfg.reg_weight, cfg.propagation
        self.user_emb = nn.Embedding(num_users, cfg.dim)
        self.item_emb = nn.Embedding(num_items, cfg.dim)
        self.gcn = LightGCNPropagation(cfg.num_layers)
        self.edge_index = edge_index  # user -> item training edges
        # the same graph as CSR (built here from edge_index unless given)
        self.adj = adj if adj is not None else CSRAdjacency.from_edge_index(edge_index, size=(num_users, num_items))
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> LightGCN:
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   edge_index=data[CLICKS].edge_index, adj=CSRAdjacency.from_hetero(data, CLICKS), config=cfg)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)

    def graph(self, device: torch.device) -> CSRAdjacency | Tensor:
        """The training graph on ``device`` in the form ``propagation`` names."""
        if self.propagation == "edge_index":
            return self.edge_index.to(device)
        return self.adjacency(device)

    def adjacency(self, device: torch.device) -> CSRAdjacency:
        """The training graph's CSRAdjacency, moved to ``device`` once."""
        return adjacency_on(self, "adj", device)

    def compute_embedding(self) -> tuple[Tensor, Tensor]:
        """Layer-averaged user and item embeddings over the whole training graph."""
        u, i = self.user_emb.weight, self.item_emb.weight
        return self.gcn(u, i, self.graph(u.device))

    def train_inputs(self) -> TrainInputs:
        fan = self.config.fanout()
        return SampledPairwiseInputs(num_neighbors=fan) if fan else PairwiseInputs()

    def subgraph_embedding(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        r"""Layer-mean embeddings of a sampled subgraph's nodes
        (:class:`~graphrec.data.sampled.SampledBPRLoader` batches). Each node's
        neighbourhood sum is estimated from its :math:`s_i` sampled neighbours,
        :math:`\frac{d_i}{s_i}\sum_{j \in S_i} \frac{e_j}{\sqrt{d_i d_j}}` with
        full-graph degrees :math:`d`, so with all neighbours sampled it is exactly the
        full-graph layer."""
        nu, ni = batch["n_id_user"], batch["n_id_item"]
        full = self.adjacency(nu.device)
        deg_u, deg_i = full.deg_src, full.deg_dst  # the degrees the training graph is normalised with
        adj_ui = self._sampled_adjacency(batch["edge_user_item"], deg_u[nu], deg_i[ni])  # users -> items
        adj_iu = self._sampled_adjacency(batch["edge_item_user"], deg_i[ni], deg_u[nu])  # items -> users
        return self.gcn(self.user_emb(nu), self.item_emb(ni), (adj_ui, adj_iu))

    @staticmethod
    def _sampled_adjacency(edge_index: Tensor, deg_src: Tensor, deg_dst: Tensor) -> CSRAdjacency:
        src, dst = edge_index
        sampled = torch.bincount(dst, minlength=deg_dst.numel()).clamp(min=1).to(deg_dst.dtype)
        weight = (deg_src[src] * deg_dst[dst]).rsqrt() * (deg_dst / sampled)[dst]
        return CSRAdjacency.from_edge_index(edge_index, size=(deg_src.numel(), deg_dst.numel()), normalize=False,
                                            edge_weight=weight)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        u, p, n = batch["user"], batch["pos"], batch["neg"]
        if "n_id_user" in batch:  # a sampled subgraph: propagate over it only
            users, items = self.subgraph_embedding(batch)
            eu, ep, en = users[batch["seed_user"]], items[batch["seed_pos"]], items[batch["seed_neg"]]
        else:
            users, items = self.get_embedding()
            eu, ep, en = users[u], items[p], items[n]
        rec = bpr_loss((eu * ep).sum(-1), (eu * en).sum(-1))
        reg = self.reg_weight * l2_reg(self.user_emb(u), self.item_emb(p), self.item_emb(n),
                                       batch_size=u.numel())
        return {"loss": rec + reg, "bpr": rec.detach(), "reg": reg.detach()}

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, "
                f"num_layers={self.num_layers}, propagation={self.propagation!r}")
