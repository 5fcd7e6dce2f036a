"""Graph collaborative filtering with the propagation layer chosen by name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv

from graphrec.config import ConfigError
from graphrec.data.hetero import CLICKS, LEADS_TO, SEARCHES, reverse
from graphrec.data.schema import require_types
from graphrec.models.base import ModelConfig, resolve_config
from graphrec.models.propagated import PropagatedEmbeddingModel
from graphrec.nn.losses import bpr_loss, l2_reg
from graphrec.ops import CSRAdjacency
from graphrec.resolver import build_conv, conv_resolver, register_model
from graphrec.typing import EdgeType

#: names for groups of edge types in ``relations``
RELATION_ALIASES: dict[str, tuple[EdgeType, ...]] = {
    "clicks": (CLICKS,),
    "search": (SEARCHES, LEADS_TO),
}


def parse_relations(text: str) -> tuple[EdgeType, ...]:
    """The forward edge types a ``relations`` setting names (their reverses are added
    by the model): comma-separated aliases (``clicks``, ``search``) or edge types
    written ``source:relation:target`` (e.g. ``item:made_by:creator``). ``clicks``
    must be among them: scores are user-item dot products."""
    out: list[EdgeType] = []
    for part in (p.strip() for p in text.split(",")):
        if part in RELATION_ALIASES:
            types = RELATION_ALIASES[part]
        elif part.count(":") == 2 and all(part.split(":")):
            types = (tuple(part.split(":")),)  # type: ignore[assignment]
        else:
            raise ValueError(f"'{part}' is neither {' nor '.join(RELATION_ALIASES)} nor an edge type "
                             "written source:relation:target")
        out += [t for t in types if t not in out]
    if CLICKS not in out:
        raise ValueError("must include 'clicks' (scores are user-item dot products)")
    return tuple(out)


@dataclass
class GraphCFConfig(ModelConfig):
    """Args:
        dim: embedding size of every node type and width of every layer (64).
        num_layers: propagation layers K (3).
        conv: the layer, by its registered name: lightgcn, ngcf, gat, or a class of your own
            registered with @register_conv (lightgcn).
        conv_options: the layer's own options as a YAML mapping, e.g. "{heads: 2, dropout: 0.1}"
            ("" = the layer's defaults).
        relations: the edge types propagated over, comma-separated: "clicks" (user-item), "search"
            (query nodes with user-query and query-item edges; needs a search log) and edge types of
            your own graph written source:relation:target, e.g. "clicks,item:made_by:creator"; reverses
            are added (clicks).
        combine: how the K+1 layer outputs make the final embedding: mean (LightGCN), concat (NGCF),
            sum or last (mean).
        normalize_layers: L2-normalise each propagated layer before combining, as the NGCF
            authors' code does (false).
        message_dropout: dropout on each propagated layer while training (NGCF: 0.1) (0.0).
        reg_weight: L2 weight on the batch's embeddings (1e-4).
        regularize: which embeddings reg_weight applies to: "ego" (the layer-0 tables, LightGCN)
            or "final" (the combined ones, the NGCF authors' code) (ego).
        propagation: "csr" -- graphrec's fused CSR path -- or "edge_index" -- PyG message
            passing over edge lists (the reference path) (csr).
    """

    dim: int = 64
    num_layers: int = 3
    conv: str = "lightgcn"
    conv_options: str = ""
    relations: str = "clicks"
    combine: str = "mean"
    normalize_layers: bool = False
    message_dropout: float = 0.0
    reg_weight: float = 1e-4
    regularize: str = "ego"
    propagation: str = "csr"

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim")
        self.require_non_negative("num_layers", "reg_weight")
        self.require_fraction("message_dropout", below_one=True)
        try:
            parse_relations(self.relations)
        except ValueError as err:
            raise ConfigError("relations", f"{self.relations!r}: {err}") from None
        self.require_choice("combine", ("mean", "concat", "sum", "last"))
        self.require_choice("regularize", ("ego", "final"))
        self.require_choice("propagation", ("csr", "edge_index"))
        try:
            conv_resolver(self.conv)
        except ValueError as err:
            raise ConfigError("conv", str(err)) from None
        self.options()

    def options(self) -> dict[str, Any]:
        """``conv_options`` parsed (a mapping of option name to value)."""
        if not self.conv_options.strip():
            return {}
        try:
            value = yaml.safe_load(self.conv_options)
        except yaml.YAMLError as err:
            raise ConfigError("conv_options", f"is not valid YAML: {err}") from None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError("conv_options", f"must be a YAML mapping such as '{{heads: 2}}', "
                                              f"got {self.conv_options!r}")
        return value


@register_model("graph_cf")
class GraphCF(PropagatedEmbeddingModel):
    r"""Graph collaborative filtering over the user-item (and optionally the
    user-query-item) graph with **any registered layer**: node tables
    :math:`\mathbf{e}^{(0)}_v` for users, items (and queries) go through :math:`K`
    heterogeneous layers, each a :class:`~torch_geometric.nn.conv.HeteroConv` with one
    layer of type ``conv`` per edge type (forward and reverse, outputs arriving at a
    node type summed),

    .. math::
        \mathbf{e}^{(k+1)}_v = \sum_{r \in \mathcal{R}(v)} \mathrm{conv}^{(k)}_r\big(
        \mathbf{e}^{(k)}_{\mathcal{N}_r(v)}, \mathbf{e}^{(k)}_v\big), \qquad
        \mathbf{e}_v = \mathrm{combine}\big(\mathbf{e}^{(0)}_v, \ldots, \mathbf{e}^{(K)}_v\big),

    scored by :math:`\hat y_{u,i} = \mathbf{e}_u^\top \mathbf{e}_i` and trained with
    BPR plus an L2 term. ``relations`` picks the edge types, your own included
    (``"clicks,item:made_by:creator"`` gives creators an embedding table and
    propagates through them). With ``conv="lightgcn"``, ``combine="mean"`` and
    ``relations="clicks"`` it is LightGCN; :class:`NGCF` is ``conv="ngcf"``,
    ``combine="concat"``. Any class registered with
    :func:`~graphrec.resolver.register_conv` plugs in by name
    (``--set model.conv=my_layer``; see ``docs/tutorials/own_layer.md``).

    Each layer receives ``(x_src, x_dst)`` and the edge type's
    :class:`~graphrec.ops.CSRAdjacency` (reverse types use the cached transpose), or
    its ``edge_index`` under ``propagation="edge_index"``; it must return
    ``dim`` features per destination node. The graph must have the node and edge
    types ``relations`` names (a clear error otherwise). Propagated embeddings are
    cached for evaluation and dropped when the model trains again.
    """

    Config = GraphCFConfig
    train_defaults = {"batch_size": 2048, "lr": 1e-3}

    def __init__(self, num_nodes: dict[str, int], edge_index: dict[EdgeType, Tensor],
                 config: GraphCFConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        forward_types = parse_relations(cfg.relations)
        missing = [et for et in forward_types if et not in edge_index]
        if missing:
            raise ValueError(f"{type(self).__name__}(relations={cfg.relations!r}) needs the edges of "
                             f"{missing}; got {sorted(edge_index)}")
        node_types = sorted({nt for et in forward_types for nt in (et[0], et[2])})
        self.num_users, self.num_items = num_nodes["user"], num_nodes["item"]
        self.num_nodes = {nt: num_nodes[nt] for nt in node_types}
        self.edge_types: list[EdgeType] = [t for et in forward_types for t in (et, reverse(et))]
        self.emb = nn.ModuleDict({nt: nn.Embedding(n, cfg.dim) for nt, n in self.num_nodes.items()})
        options = cfg.options()
        self.convs = nn.ModuleList(
            HeteroConv({et: build_conv(cfg.conv, cfg.dim, cfg.dim, **options) for et in self.edge_types},
                       aggr="sum")
            for _ in range(cfg.num_layers))
        self.edge_index = {et: edge_index[et] for et in forward_types}
        self._adjacency: dict[EdgeType, CSRAdjacency] | None = None
        self.reset_parameters()

    @classmethod
    def graph_requirements(cls, config: ModelConfig) -> tuple[tuple[str, ...], tuple[EdgeType, ...]]:
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return (), parse_relations(cfg.relations)

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None, **_: Any) -> GraphCF:
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        forward_types = cls.graph_requirements(cfg)[1]
        require_types(data, f"{cls.__name__}(relations={cfg.relations!r})", edge_types=forward_types,
                      hint="name in model.relations only edge types the graph has, or add the missing one "
                           "to the graph")
        num_nodes = {nt: data[nt].num_nodes for et in forward_types for nt in (et[0], et[2])}
        return cls(num_nodes=num_nodes, edge_index={et: data[et].edge_index for et in forward_types}, config=cfg)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for emb in self.emb.values():
            nn.init.normal_(emb.weight, std=0.1)
        for conv in self.convs:
            conv.reset_parameters()

    def graph(self, device: torch.device) -> dict[EdgeType, CSRAdjacency | Tensor]:
        """Every propagated edge type's graph on ``device``, in the form ``propagation`` names."""
        if self.config.propagation == "edge_index":
            out = {}
            for et, ei in self.edge_index.items():
                out[et], out[reverse(et)] = ei.to(device), ei.flip(0).to(device)
            return out
        if self._adjacency is None or next(iter(self._adjacency.values())).device != device:
            self._adjacency = {}
            for et, ei in self.edge_index.items():
                size = (self.num_nodes[et[0]], self.num_nodes[et[2]])
                adj = CSRAdjacency.from_edge_index(ei, size=size).to(device)
                self._adjacency[et], self._adjacency[reverse(et)] = adj, adj.t()
        return self._adjacency

    def propagate(self) -> dict[str, Tensor]:
        """Final embedding of every node type: K layers, then ``combine``."""
        cfg = self.config
        x = {nt: emb.weight for nt, emb in self.emb.items()}
        graph = self.graph(x["user"].device)
        layers = [x]
        for k, conv in enumerate(self.convs):
            out = conv(x, graph)
            for nt, h in out.items():
                if h.size(-1) != cfg.dim:
                    raise ValueError(f"layer '{cfg.conv}' returned {h.size(-1)} features for '{nt}' at layer "
                                     f"{k}, but GraphCF's layers must keep dim={cfg.dim} (check conv_options, "
                                     "e.g. concat=false for multi-head attention)")
            x = {nt: out.get(nt, torch.zeros_like(h0)) for nt, h0 in x.items()}  # a type nobody sends to
            x = {nt: F.dropout(h, cfg.message_dropout, self.training) for nt, h in x.items()}
            layers.append({nt: F.normalize(h, dim=-1) for nt, h in x.items()} if cfg.normalize_layers else x)
        return {nt: self._combine([layer[nt] for layer in layers]) for nt in ("user", "item")}

    def _combine(self, layers: list[Tensor]) -> Tensor:
        how = self.config.combine
        if how == "concat":
            return torch.cat(layers, dim=-1)
        if how == "last":
            return layers[-1]
        total = torch.stack(layers).sum(0)
        return total / len(layers) if how == "mean" else total

    def compute_embedding(self) -> tuple[Tensor, Tensor]:
        out = self.propagate()
        return out["user"], out["item"]

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.get_embedding()
        u, p, n = batch["user"], batch["pos"], batch["neg"]
        eu, ep, en = users[u], items[p], items[n]
        rec = bpr_loss((eu * ep).sum(-1), (eu * en).sum(-1))
        if self.config.regularize == "final":
            reg_terms = (eu, ep, en)
        else:
            reg_terms = (self.emb["user"](u), self.emb["item"](p), self.emb["item"](n))
        reg = self.config.reg_weight * l2_reg(*reg_terms, batch_size=u.numel())
        return {"loss": rec + reg, "bpr": rec.detach(), "reg": reg.detach()}

    def extra_repr(self) -> str:
        cfg = self.config
        return (f"nodes={self.num_nodes}, conv={cfg.conv!r}, num_layers={cfg.num_layers}, "
                f"relations={cfg.relations!r}, combine={cfg.combine!r}")
