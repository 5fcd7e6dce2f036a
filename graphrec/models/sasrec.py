"""SASRec: self-attentive sequential recommendation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS
from graphrec.data.inputs import SequenceInputs
from graphrec.data.loader import item_windows
from graphrec.data.ragged import Ragged
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.nn.encoders import GraphItemEmbedding, SequenceTransformer
from graphrec.nn.losses import sampled_bce
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model


@dataclass
class SASRecConfig(ModelConfig):
    """Args:
        dim: hidden size (64, as the ICLRec/ICSRec comparisons).
        max_len: most recent items kept (50).
        num_layers: transformer blocks (2).
        num_heads: attention heads (2).
        dropout: hidden and attention dropout (0.5 for the sparse Amazon data).
        loss: ``"bce"`` -- one sampled negative per position, as the SASRec paper --
            or ``"ce"`` -- softmax cross-entropy over all items.
        norm_first: pre-LN blocks instead of post-LN.
        ffn_inner_dropout: a dropout between the two layers of each block's feed-forward
            network as well as after it (graphrec's default); the ICLRec, ICSRec and
            RecBole (DuoRec) code has only the one after it (``False``).
        graph_layers: LightGCN layers over the user-item training graph applied to the
            item embeddings before they enter (and score from) the encoder
            (:class:`~graphrec.nn.encoders.GraphItemEmbedding`); 0 = plain SASRec.
    """

    dim: int = 64
    max_len: int = 50
    num_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.5
    loss: str = "bce"
    norm_first: bool = False
    ffn_inner_dropout: bool = True
    graph_layers: int = 0

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim", "max_len", "num_layers", "num_heads")
        self.require_non_negative("graph_layers")
        self.require_fraction("dropout", below_one=True)
        self.require_choice("loss", ("bce", "ce"))
        if self.dim % self.num_heads:
            self._fail("dim", f"a multiple of num_heads={self.num_heads} (attention splits dim across heads)")


@dataclass
class SameTargetContrastConfig(SASRecConfig):
    """SASRec's arguments plus those every model shares that trains on subsequences and
    contrasts each with another of the same target (DuoRec, ICSRec, IDCLRec); each such
    model sets its own defaults and names the contrast the partners serve
    (:meth:`partners_unused`).

    Args:
        mask_false_negatives: drop in-batch views with the same target from the denominator.
        min_input_len: shortest input of a training subsequence.
        pair_partners: take each row's same-target partner from the batch (the loader pairs
            rows with the same target: :class:`~graphrec.data.loader.SubsequenceLoader`
            ``pair_partners``) instead of encoding a drawn one: one encoder pass fewer per
            step. Each view then also stands among the other's in-batch candidates, which
            ``mask_false_negatives`` removes (so it is required). Off by default (the
            papers' drawn partner, encoded).
        pair_by_length: with ``pair_partners``, pair each target's rows in order of input
            length, so that a row's partner is the one of its target nearest in length: less
            padding in length-bucketed batches (``SubsequenceLoader`` ``pair_by_length``), a
            partner no longer uniform over the target's rows. Off by default.
    """

    mask_false_negatives: bool = True
    min_input_len: int = 1
    pair_partners: bool = False
    pair_by_length: bool = False

    def partners_unused(self) -> str | None:
        """Why no loss would read the partners (a setting named), or ``None`` when one does."""
        return None

    def validate(self) -> None:
        super().validate()
        self.require_positive("min_input_len")
        if not self.pair_partners:
            if self.pair_by_length:
                self._fail("pair_by_length", "False unless pair_partners=True (it orders the rows that are paired)")
            return
        if not self.mask_false_negatives:
            self._fail("pair_partners", "False, or mask_false_negatives=True (a pair's rows would be each "
                       "other's negatives)")
        unused = self.partners_unused()
        if unused is not None:
            self._fail("pair_partners", f"False when {unused} (pairs only serve the contrast)")


def sasrec_backbone(cfg: SASRecConfig, num_items: int,
                    adj: CSRAdjacency | None = None) -> tuple[GraphItemEmbedding, SequenceTransformer]:
    """SASRec's item table and causal encoder from a config, for SASRec and the models built
    on its backbone (the same attribute names, ``item_emb`` and ``encoder``, let weights
    move between them)."""
    item_emb = GraphItemEmbedding(num_items, cfg.dim, adj=adj, num_layers=cfg.graph_layers)
    encoder = SequenceTransformer(cfg.dim, cfg.max_len, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
                                  dropout=cfg.dropout, norm_first=cfg.norm_first, inner_dropout=cfg.ffn_inner_dropout)
    return item_emb, encoder


def clicks_adjacency(data: HeteroData, cfg: SASRecConfig) -> CSRAdjacency | None:
    """The user x item training clicks when ``cfg.graph_layers > 0`` (the graph item table), else ``None``."""
    return CSRAdjacency.from_hetero(data, CLICKS) if cfg.graph_layers > 0 else None


@register_model("sasrec")
class SASRec(RecModel):
    r"""SASRec (`Kang & McAuley, ICDM 2018 <https://arxiv.org/abs/1808.09781>`_).

    A causal transformer encodes the item sequence; the representation at
    position :math:`t` scores the next item with the shared item embeddings,
    :math:`r_{t,i} = \mathbf{h}_t^\top \mathbf{e}_i`. Item id 0 is padding.

    Training: with ``loss="bce"``,
    :math:`-\sum_t [\log\sigma(r_{t,o_t}) + \log(1-\sigma(r_{t,j_t}))]` with one negative
    :math:`j_t` outside the user's items per position; with ``loss="ce"``, softmax
    cross-entropy over all items.
    """

    Config = SASRecConfig
    train_defaults = {"batch_size": 256, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, adj: CSRAdjacency | None = None,
                 config: SASRecConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items = num_users, num_items
        self.max_len, self.loss_type = cfg.max_len, cfg.loss
        self.item_emb, self.encoder = sasrec_backbone(cfg, num_items, adj)
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> SASRec:
        """``adj``: the user x item training clicks when ``config.graph_layers > 0``."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   adj=clicks_adjacency(data, cfg), config=cfg)

    def reset_parameters(self) -> None:
        self.item_emb.reset_parameters()
        self.encoder.reset_parameters()

    def encode(self, seq: Tensor) -> Tensor:
        """``(B, L)`` padded item ids (shifted, 0 = pad) -> ``(B, L, d)``."""
        return self.encoder(self.item_emb(seq), seq > 0)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h = self.encode(batch["input"])
        target = batch["target"]
        mask = target > 0
        if self.loss_type == "bce":
            pos = (h * self.item_emb(target)).sum(-1)
            neg = (h * self.item_emb(batch["neg"])).sum(-1)
            loss = sampled_bce(pos, neg, mask)
        else:
            logits = h[mask] @ self.item_emb.table()[1:].t()
            loss = F.cross_entropy(logits, target[mask] - 1)
        return {"loss": loss}

    def train_inputs(self) -> SequenceInputs:
        return SequenceInputs(max_len=self.max_len, negatives=self.loss_type == "bce")

    def sequence_representation(self, history: Ragged) -> Tensor:
        """``(B, d)``: the encoding at the last position of each history (its
        ``max_len`` most recent items)."""
        dev = self.item_emb.weight.device
        seq = item_windows(history, self.max_len).to(dev)
        return self.encode(seq)[:, -1]

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        return self.sequence_representation(history) @ self.item_emb.table()[1:].t()

    def score(self, users: Tensor, items: Tensor, history: Ragged) -> Tensor:
        h = self.sequence_representation(history)
        return (h.unsqueeze(1) * self.item_emb(items + 1)).sum(-1)
