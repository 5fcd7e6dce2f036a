"""ICSRec: intent contrastive learning with cross subsequences."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import train_history
from graphrec.data.inputs import SubsequenceInputs
from graphrec.data.loader import SubsequenceLoader, partner_views
from graphrec.models.base import resolve_config
from graphrec.models.sasrec import SameTargetContrastConfig, SASRec
from graphrec.nn.cluster import intent_centroids, nearest_centroid
from graphrec.nn.losses import info_nce
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model

#: rows encoded at once in the E-step (memory, not a hyperparameter)
E_STEP_CHUNK = 4096


@dataclass
class ICSRecConfig(SameTargetContrastConfig):
    """SASRec's arguments (its backbone, with the ICSRec code's defaults: cross-entropy,
    no dropout inside the FFN), the same-target contrast's (``pair_partners``:
    :class:`~graphrec.models.sasrec.SameTargetContrastConfig`) and the following; the defaults are the authors'
    Beauty script (QinHsiu/ICSRec ``src/scripts/beauty.sh``).

    Args:
        loss: only ``"ce"``: cross-entropy over all items at the last position.
        cicl_weight: :math:`\\lambda` of the coarse-grained intent contrast between a
            subsequence and another with the same target (0.3; 0.2 on Toys).
        ficl_weight: :math:`\\beta` of the fine-grained contrast with the k-means intents (0.1).
        num_intents: :math:`K` of the per-epoch k-means (256; 1024 on Toys).
        temperature: InfoNCE temperature (1.0).
        similarity: ``"dot"`` (the authors' code) or ``"cos"``.
        mask_false_negatives: remove in-batch views with the same label (the target for
            the coarse contrast, the intent for the fine one) from the denominator
            (FNM, on in every script).
        kmeans_iters, kmeans_restarts, kmeans_split_empty, kmeans_seed: the E-step's
            k-means (20 iterations, 5 restarts with the best inertia kept, empty clusters
            split, seed 1: the authors' faiss settings).
        normalize_centroids: contrast with L2-normalised centroids (assignment uses the
            raw ones), as the authors' code.
        min_input_len: shortest training prefix (1: every prefix).
    """

    loss: str = "ce"
    ffn_inner_dropout: bool = False
    cicl_weight: float = 0.3
    ficl_weight: float = 0.1
    num_intents: int = 256
    temperature: float = 1.0
    similarity: str = "dot"
    kmeans_iters: int = 20
    kmeans_restarts: int = 5
    kmeans_split_empty: bool = True
    kmeans_seed: int = 1
    normalize_centroids: bool = True

    def validate(self) -> None:
        super().validate()
        if self.loss != "ce":
            self._fail("loss", "'ce' (ICSRec trains with cross-entropy over all items)")
        self.require_non_negative("cicl_weight", "ficl_weight")
        self.require_positive("num_intents", "temperature", "kmeans_iters", "kmeans_restarts")
        self.require_choice("similarity", ("dot", "cos"))
        if self.kmeans_seed < -1:
            self._fail("kmeans_seed", ">= 0, or -1 (the global generator)")

    def partners_unused(self) -> str | None:
        return "cicl_weight and ficl_weight are both 0" if self.cicl_weight <= 0 and self.ficl_weight <= 0 else None


@register_model("icsrec")
class ICSRec(SASRec):
    r"""ICSRec (`Qin et al., WSDM 2024 <https://arxiv.org/abs/2310.14318>`_): SASRec
    trained on every prefix ("subsequence") of the training sequences with cross-entropy
    at the last position, plus two intent contrasts across subsequences.

    For a training row :math:`s` with target :math:`v`, let :math:`\mathbf{h}_1` be the
    last-position encoding of :math:`s` under a fresh dropout mask and :math:`\mathbf{h}_2`
    that of a partner :math:`s'`, another training subsequence with the same target
    (:class:`~graphrec.data.loader.SubsequenceLoader`; the row itself when alone).

    *Coarse-grained (CICL)*: :math:`\mathcal{L}_{c} = \mathrm{InfoNCE}(\mathbf{h}_1,
    \mathbf{h}_2)` with in-batch negatives, same-target views removed from the
    denominator (FNM).

    *Fine-grained (FICL)*: before every epoch (:meth:`on_epoch_start`, eval mode) every
    training subsequence is encoded and clustered by k-means into :math:`K` intents
    :math:`\{\mathbf{c}_k\}`; each view is pulled toward its nearest centroid
    :math:`\mathbf{c}(\mathbf{h}_i)` (L2-normalised), same-intent views masked:
    :math:`\mathcal{L}_{f} = \sum_{i=1,2} \mathrm{InfoNCE}(\mathbf{h}_i,
    \bar{\mathbf{c}}(\mathbf{h}_i))`.

    .. math::
        \mathcal{L} = \mathcal{L}_{CE} + \lambda\,\mathcal{L}_{c} + \beta\,\mathcal{L}_{f}

    Difference from the authors' code: the partner is drawn uniformly among the rows
    with the same target every time (theirs is a fixed one). Scoring is SASRec's.
    """

    Config = ICSRecConfig
    train_defaults = {"batch_size": 256, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, adj: CSRAdjacency | None = None,
                 config: ICSRecConfig | None = None, **kwargs: Any) -> None:
        cfg = resolve_config(self.Config, config, kwargs, type(self).__name__)
        super().__init__(num_users=num_users, num_items=num_items, adj=adj, config=cfg)
        # refitted every epoch, so not part of the checkpoint
        self.register_buffer("centroids", torch.empty(0, cfg.dim), persistent=False)

    def train_inputs(self) -> SubsequenceInputs:
        return SubsequenceInputs(max_len=self.max_len, min_len=self.config.min_input_len, partners=True,
                                 pair_partners=self.config.pair_partners,
                                 pair_by_length=self.config.pair_by_length)

    @torch.no_grad()
    def subsequence_representations(self, loader: SubsequenceLoader) -> Tensor:
        """Last-position encodings ``(num_rows, d)`` of every row of ``loader``, in row
        order (rows of similar length are encoded together: exact, and cheaper)."""
        dev = self.item_emb.weight.device
        order = torch.argsort(loader.input_lengths(), stable=True)
        out = torch.empty(loader.num_rows, self.config.dim, device=dev)
        for rows in order.split(E_STEP_CHUNK):
            width = int(loader.input_lengths(rows).max())
            out[rows.to(dev)] = self.encode(loader.windows(rows, width).to(dev))[:, -1]
        return out

    def on_epoch_start(self, data: HeteroData) -> None:
        cfg = self.config
        if cfg.ficl_weight <= 0:
            return
        was = self.training
        self.eval()
        rows = SubsequenceLoader(train_history(data), data["item"].num_nodes, max_len=self.max_len,
                                 min_len=cfg.min_input_len, shuffle=False, partners=False)
        x = self.subsequence_representations(rows)
        if x.size(0):
            self.centroids = intent_centroids(x, cfg.num_intents, cfg.kmeans_iters, cfg.kmeans_restarts,
                                              cfg.kmeans_split_empty, cfg.kmeans_seed)
        self.train(was)

    def intent_contrast(self, h: Tensor) -> Tensor:
        """InfoNCE of the views ``h (B, d)`` against their nearest (normalised) centroids."""
        cfg = self.config
        ids = nearest_centroid(h.detach(), self.centroids)
        c = self.centroids[ids]
        if cfg.normalize_centroids:
            c = F.normalize(c, dim=-1)
        return info_nce(h, c, cfg.temperature, cfg.similarity, ids if cfg.mask_false_negatives else None)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.config
        seq, target = batch["input"], batch["target"]
        rec = F.cross_entropy(self.encode(seq)[:, -1] @ self.item_emb.table()[1:].t(), target - 1)
        out = {"rec": rec.detach()}
        total = rec
        fine = cfg.ficl_weight > 0 and self.centroids.numel() > 0
        if cfg.cicl_weight > 0 or fine:
            h1 = self.encode(seq)[:, -1]  # the same rows under another dropout mask
            h2 = partner_views(batch, h1, lambda s: self.encode(s)[:, -1])
            if cfg.cicl_weight > 0:
                cicl = info_nce(h1, h2, cfg.temperature, cfg.similarity,
                                target if cfg.mask_false_negatives else None)
                total = total + cfg.cicl_weight * cicl
                out["cicl"] = cicl.detach()
            if fine:
                ficl = self.intent_contrast(h1) + self.intent_contrast(h2)
                total = total + cfg.ficl_weight * ficl
                out["ficl"] = ficl.detach()
        return {"loss": total, **out}


__all__ = ["ICSRec", "ICSRecConfig"]
