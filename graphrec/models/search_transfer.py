r"""Naive search transfer: every search click becomes an ordinary recommendation positive
(the "AUG"-style baseline of search-enhanced recommendation, against which ClardRec
measures negative transfer)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.inputs import MergedSequenceInputs, RecSearchPairsInputs, TrainInputs
from graphrec.models.base import ModelConfig, resolve_config
from graphrec.models.clardrec import SEARCH_GRAPH, SearchBackboneConfig, rec_and_search_click_graph
from graphrec.models.propagated import PropagatedEmbeddingModel
from graphrec.models.sasrec import SASRec, SASRecConfig
from graphrec.nn.losses import bpr_loss, l2_reg
from graphrec.nn.models import LightGCNPropagation
from graphrec.ops import CSRAdjacency, adjacency_on
from graphrec.resolver import register_model


@dataclass
class SearchTransferConfig(SearchBackboneConfig):
    """Args:
        backbone: ``"lightgcn"`` (propagation over the recommendation and search clicks
            together), ``"mf"`` (MF-BPR) or ``"sasrec"`` (SASRec over both surfaces' clicks
            in time order, :class:`MergedHistorySASRec`, with the encoder settings of
            ClardRec's sequential setting and its ``sasrec-seq`` backbone).
        search_weight: weight of the BPR loss on the search clicks (1: exactly as
            recommendation positives; CF backbones).
    """

    search_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        self.require_non_negative("search_weight")


@register_model("search_transfer")
class SearchTransfer(PropagatedEmbeddingModel):
    r"""Search clicks as recommendation positives. The graph is the union of the
    recommendation clicks and the (training-period) search clicks, propagated by
    LightGCN (or none, ``backbone="mf"``); the loss is BPR on both,

    .. math::
        \mathcal{L} = \mathcal{L}^{BPR}_{rec} + w\, \mathcal{L}^{BPR}_{search} + \text{reg},

    with the search batch's negatives outside the user's recommendation and search
    positives (:class:`~graphrec.data.inputs.RecSearchPairsInputs`). The query is ignored.
    """

    Config = SearchTransferConfig
    train_defaults = {"batch_size": 2048, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, edge_index: Tensor,
                 config: SearchTransferConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        if cfg.backbone == "sasrec":
            raise ValueError("SearchTransfer is the CF setting; backbone='sasrec' is built by "
                             "SearchTransfer.from_data (MergedHistorySASRec)")
        self.num_users, self.num_items = num_users, num_items
        self.user_emb = nn.Embedding(num_users, cfg.dim)
        self.item_emb = nn.Embedding(num_items, cfg.dim)
        self.gcn = LightGCNPropagation(cfg.num_layers if cfg.backbone == "lightgcn" else 0)
        self.adj = CSRAdjacency.from_edge_index(edge_index, size=(num_users, num_items))
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> SearchTransfer | MergedHistorySASRec:
        """The union graph for the CF backbones; SASRec over the merged click history for
        ``backbone="sasrec"``."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        if cfg.backbone == "sasrec":
            seq = SASRecConfig(dim=cfg.dim, max_len=cfg.max_len, num_layers=cfg.seq_layers, num_heads=cfg.num_heads,
                               dropout=cfg.dropout, loss="bce")
            return MergedHistorySASRec(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes, config=seq)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   edge_index=rec_and_search_click_graph(data), config=cfg)

    @classmethod
    def graph_requirements(cls, config: ModelConfig) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        return SEARCH_GRAPH

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)

    def compute_embedding(self) -> tuple[Tensor, Tensor]:
        eu, ei = self.user_emb.weight, self.item_emb.weight
        return self.gcn(eu, ei, adjacency_on(self, "adj", eu.device))

    def train_inputs(self) -> TrainInputs:
        return RecSearchPairsInputs()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.config
        eu, ei = self.compute_embedding()
        users, pos, neg = [batch["user"]], [batch["pos"]], [batch["neg"]]
        parts = {"rec": bpr_loss((eu[users[0]] * ei[pos[0]]).sum(-1), (eu[users[0]] * ei[neg[0]]).sum(-1))}
        total = parts["rec"]
        if "s_user" in batch and batch["s_user"].numel() and cfg.search_weight > 0:
            su, si, sj = batch["s_user"], batch["s_item"], batch["s_neg"]
            parts["search"] = bpr_loss((eu[su] * ei[si]).sum(-1), (eu[su] * ei[sj]).sum(-1))
            total = total + cfg.search_weight * parts["search"]
            users.append(su)
            pos.append(si)
            neg.append(sj)
        if cfg.reg_weight > 0:
            u, i, j = torch.cat(users), torch.cat(pos), torch.cat(neg)
            total = total + cfg.reg_weight * l2_reg(self.user_emb(u), self.item_emb(i), self.item_emb(j),
                                                    batch_size=batch["user"].numel())
        return {"loss": total, **{k: v.detach() for k, v in parts.items()}}


class MergedHistorySASRec(SASRec):
    """SASRec whose sequences are both surfaces' clicks in time order
    (:class:`~graphrec.data.inputs.MergedSequenceInputs`): naive search transfer in the
    sequential setting, built by :meth:`SearchTransfer.from_data` for ``backbone="sasrec"``.
    At evaluation the history is the merged one too (every click before the held-out item)."""

    def train_inputs(self) -> MergedSequenceInputs:
        return MergedSequenceInputs(max_len=self.max_len, negatives=self.loss_type == "bce")


__all__ = ["SearchTransfer", "SearchTransferConfig", "MergedHistorySASRec"]
