"""DuoRec: contrastive learning against representation degeneration."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from graphrec.data.inputs import SubsequenceInputs
from graphrec.data.loader import partner_views
from graphrec.models.base import resolve_config
from graphrec.models.sasrec import SameTargetContrastConfig, SASRec
from graphrec.nn.losses import info_nce
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model


@dataclass
class DuoRecConfig(SameTargetContrastConfig):
    """SASRec's arguments (its backbone), the same-target contrast's (``pair_partners``:
    :class:`~graphrec.models.sasrec.SameTargetContrastConfig`) and the following.

    Args:
        loss: only ``"ce"``: DuoRec trains with softmax cross-entropy over all items.
        cl_weight: lambda of the contrastive regulariser (0.1, DuoRec paper).
        temperature: InfoNCE temperature (1.0).
        similarity: ``"dot"`` (DuoRec default) or ``"cos"``.
        mask_false_negatives: drop in-batch views with the same target from the denominator
            (not in DuoRec; ICSRec's later fix). Off by default.
        min_input_len: shortest training prefix (1: every prefix, as RecBole's sequential data).
        separate_anchor: contrast a second dropout-forward of the sequence instead of reusing
            the cross-entropy forward (DuoRec's code does; ``False`` saves that forward).
    """

    loss: str = "ce"
    cl_weight: float = 0.1
    temperature: float = 1.0
    similarity: str = "dot"
    mask_false_negatives: bool = False
    separate_anchor: bool = False

    def validate(self) -> None:
        super().validate()
        if self.loss != "ce":
            self._fail("loss", "'ce' (DuoRec trains with softmax cross-entropy)")
        self.require_non_negative("cl_weight")
        self.require_positive("temperature")
        self.require_choice("similarity", ("dot", "cos"))

    def partners_unused(self) -> str | None:
        return "cl_weight is 0" if self.cl_weight <= 0 else None


@register_model("duorec")
class DuoRec(SASRec):
    r"""DuoRec (`Qiu et al., WSDM 2022 <https://arxiv.org/abs/2110.05730>`_): SASRec with
    full-softmax cross-entropy on prefix subsequences, regularised by contrasting the
    dropout-augmented representation :math:`\mathbf{h}'` of a sequence with that of a
    *semantic positive* :math:`\mathbf{h}'_s`, another training subsequence with the same
    target item (supervised + unsupervised augmentation, the paper's ``us_x`` mode):

    .. math::
        \mathcal{L} = \mathcal{L}_{rec} + \lambda\, \mathrm{InfoNCE}(\mathbf{h}', \mathbf{h}'_s)

    with in-batch negatives. Trains on :class:`~graphrec.data.loader.SubsequenceLoader`
    batches; a subsequence whose target occurs nowhere else is its own partner, so the
    two dropout masks are its only difference.
    """

    Config = DuoRecConfig

    def __init__(self, num_users: int, num_items: int, adj: CSRAdjacency | None = None,
                 config: DuoRecConfig | None = None, **kwargs: Any) -> None:
        cfg = resolve_config(self.Config, config, kwargs, type(self).__name__)
        super().__init__(num_users=num_users, num_items=num_items, adj=adj, config=cfg)
        self.cl_weight, self.temperature, self.similarity = cfg.cl_weight, cfg.temperature, cfg.similarity
        self.mask_false_negatives, self.min_input_len = cfg.mask_false_negatives, cfg.min_input_len
        self.separate_anchor, self.pair_partners = cfg.separate_anchor, cfg.pair_partners
        self.pair_by_length = cfg.pair_by_length

    def train_inputs(self) -> SubsequenceInputs:
        return SubsequenceInputs(max_len=self.max_len, min_len=self.min_input_len, pair_partners=self.pair_partners,
                                 pair_by_length=self.pair_by_length)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        seq, target = batch["input"], batch["target"]
        h = self.encode(seq)[:, -1]
        rec = F.cross_entropy(h @ self.item_emb.table()[1:].t(), target - 1)
        if self.cl_weight <= 0:
            return {"loss": rec, "rec": rec.detach()}
        anchor = self.encode(seq)[:, -1] if self.separate_anchor else h
        h_s = partner_views(batch, anchor, lambda s: self.encode(s)[:, -1])
        labels = target if self.mask_false_negatives else None
        cl = info_nce(anchor, h_s, self.temperature, self.similarity, labels)
        return {"loss": rec + self.cl_weight * cl, "rec": rec.detach(), "cl": cl.detach()}


__all__ = ["DuoRec", "DuoRecConfig"]
