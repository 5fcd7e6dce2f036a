"""IDCLRec: intent-interest disentanglement and item-aware intent contrastive
learning for sequential recommendation (spec: shared/methods/idclrec.md)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.config import ConfigError
from graphrec.data.inputs import SubsequenceInputs
from graphrec.data.loader import item_windows, partner_views
from graphrec.data.ragged import Ragged
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.models.sasrec import SameTargetContrastConfig, clicks_adjacency, sasrec_backbone
from graphrec.nn.encoders import CausalCrossAttention, length_groups, trim_left_padding
from graphrec.nn.losses import info_nce
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model

# ---- losses and the category weighting (module-level: tested on hand cases) -----------------


def similarity_adjustment_loss(R: Tensor, I: Tensor, valid: Tensor) -> Tensor:
    r"""Proposed form of :math:`\mathcal{L}_d` (spec section 3.4): over the valid pairs
    :math:`i \ne j` of each sequence,

    .. math::
        \mathcal{L}_d = \mathrm{mean}_{ij}\,(1 - \cos(R_i, R_j)) + \mathrm{mean}_{ij}\,\max(0, \cos(I_i, I_j))

    averaged per sequence, then over the sequences with at least two valid positions
    (0 when there is none). Computed in fp32 on ``(B, L, L)`` masked matrices."""
    Rn = F.normalize(R.float(), dim=-1)
    In = F.normalize(I.float(), dim=-1)
    L = valid.size(1)
    pair = valid[:, :, None] & valid[:, None, :] & ~torch.eye(L, dtype=torch.bool, device=valid.device)
    cnt = pair.sum((1, 2))
    w = pair.float()
    per_seq = (((1 - Rn @ Rn.transpose(1, 2)) * w).sum((1, 2))
               + ((In @ In.transpose(1, 2)).clamp(min=0) * w).sum((1, 2))) / cnt.clamp(min=1)
    has = cnt > 0
    return per_seq[has].mean() if bool(has.any()) else per_seq.sum() * 0.0


# L_CL1 partner groups of similar length when cl1_length_groups is None and the batch is on a CPU
CPU_LENGTH_GROUPS = 4

#: forms of L_d selectable by name (``IDCLRecConfig.ld_form``); add your own here or pass ``ld_fn``
SIMILARITY_ADJUSTMENT: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "cos": similarity_adjustment_loss,
}


def intent_category_weights(I: Tensor, valid: Tensor, delta: float | Tensor, tau: float = 1.0,
                            use_importance: bool = True,
                            soft_temperature: float | None = None) -> tuple[Tensor, Tensor]:
    r"""Importance-weighted attention over the categorical intent of the last
    position :math:`N` (left-padded sequences: :math:`N = L-1`), spec section 3.5:

    .. math::
        s_j = \cos(I_N, I_j),\quad S = \{j : s_j \ge \delta\} \cup \{N\},\quad
        \mathrm{imp}_j = \frac{1}{|S|-1}\sum_{k \in S, k \ne j} \cos(I_j, I_k),\quad
        \alpha = \mathrm{softmax}_{j \in S}(\mathrm{imp}_j / \tau_a)

    with :math:`\mathrm{imp}_j = 1` when :math:`|S| = 1`, and uniform weights over
    :math:`S` when ``use_importance=False``. Membership is hard (no gradient) unless
    ``soft_temperature`` is given: then :math:`m_j = \sigma((s_j - \delta)/T)` (``delta``
    may be a learnable tensor), the importance averages with weights :math:`m_k`, and
    :math:`\log m_j` is added to the attention logits. :math:`\delta \le -1` selects every
    valid position, :math:`\delta > 1` only :math:`N`.

    Returns:
        ``(alpha (B, L), member (B, L))`` -- attention weights (zero outside :math:`S`) and
        the (0/1 or soft) membership.
    """
    In = F.normalize(I.float(), dim=-1)
    L = I.size(1)
    s = (In * In[:, -1:]).sum(-1)
    last = torch.zeros(L, dtype=torch.bool, device=I.device)
    last[-1] = True
    if soft_temperature is None:
        member = ((s >= delta) & valid) | last
        member = member.float()
    else:
        member = torch.sigmoid((s - delta) / soft_temperature) * valid
        member = torch.where(last, torch.ones_like(member), member)
    if use_importance:
        A = In @ In.transpose(1, 2)
        W = member[:, None, :] * (1.0 - torch.eye(L, device=I.device))
        denom = W.sum(-1)
        imp = (A * W).sum(-1) / denom.clamp(min=1e-12)
        imp = torch.where(denom > 0, imp, torch.ones_like(imp))
        logits = imp / tau
    else:
        logits = torch.zeros_like(s)
    # outside S (membership 0) -> -inf; clamp keeps the gradient of log finite there
    logits = torch.where(member > 0, logits + torch.log(member.clamp(min=1e-30)), float("-inf"))
    return torch.softmax(logits, -1), member


# ---- model ----------------------------------------------------------------------------------


@dataclass
class IDCLRecConfig(SameTargetContrastConfig):
    """SASRec's arguments (its backbone: ``dim``, ``max_len``, ``num_layers``, ``num_heads``,
    ``dropout``, ``norm_first``, ``graph_layers``), the same-target contrast's
    (``pair_partners``: :class:`~graphrec.models.sasrec.SameTargetContrastConfig`) and the
    following (spec section 4 defaults; every ablation of section 8 is a flag).

    Args:
        loss: only ``"ce"``: L_rec is softmax cross-entropy over all items.
        cross_heads: heads of the causal cross-attention (2).
        include_self: the cross-attention of position t sees t itself (True) or only < t.
        delta: category threshold (0.5); -1 selects all intents, > 1 only the current one.
        use_threshold: False is the same as ``delta=-1`` (attend over all intents).
        learn_delta: soft membership sigmoid((s - delta)/delta_temperature) with a learned
            delta = tanh(theta), initialised at ``delta`` (clipped to (-0.99, 0.99)).
        delta_temperature: temperature of the soft membership (0.1).
        tau_a: temperature of the importance softmax (1.0).
        use_importance: importance-weighted (True) or uniform attention over the category.
        use_interest / use_intent: h = r_N + i (both), h = i (no interest), h = r_N (no intent).
        use_Ld, lambda_d, ld_form: similarity adjustment loss (0.1, ``"cos"``).
        use_CL1, lambda_cl1: intent-intent InfoNCE with same-target positives (0.5).
        use_CL2, lambda_cl2: intent vs. centroid of the category's items (0.1).
        temperature, similarity: InfoNCE temperature and ``"dot"`` / ``"cos"`` (0.2, cosine).
            The spec proposes dot product at 1.0 (ICSRec's default); on Beauty that let
            L_CL1/L_CL2 (~17/~6) swamp L_rec (~9) and the model learned worse than with no
            auxiliary loss, while cosine at 0.2 learned best of {0.1, 0.2, 0.5} (docs/methods/idclrec.md).
        mask_false_negatives: drop in-batch views with the same target from L_CL1.
        cl1_length_groups: the L_CL1 partners (random rows with the same target, so not
            length-bucketed) are encoded in this many groups of similar length, each trimmed
            to its own longest row. Exact: rows are encoded independently; it only saves the
            work on padding. 0 encodes the partners in one pass together with the input (2B
            rows, one trim): the fewest operations, the fastest where launches rather than
            arithmetic cost the time. ``None`` (default): 4 groups on a CPU, 0 on a GPU, the
            faster on each (``benchmarks/test_bench_sequential.py``: one H200 step 55.6 ms in
            4 groups, 18.4 ms with the input; on a CPU thread the groups are the faster).
            Same values either way, other dropout draws.
        centroid_items: ``"current"`` (items v_j of the category) or ``"next"`` (v_{j+1}).
        min_input_len: shortest input of a training subsequence (2).
    """

    loss: str = "ce"
    cross_heads: int = 2
    include_self: bool = True
    delta: float = 0.5
    use_threshold: bool = True
    learn_delta: bool = False
    delta_temperature: float = 0.1
    tau_a: float = 1.0
    use_importance: bool = True
    use_interest: bool = True
    use_intent: bool = True
    use_Ld: bool = True
    lambda_d: float = 0.1
    ld_form: str = "cos"
    use_CL1: bool = True
    lambda_cl1: float = 0.5
    use_CL2: bool = True
    lambda_cl2: float = 0.1
    temperature: float = 0.2
    similarity: str = "cos"
    cl1_length_groups: int | None = None
    centroid_items: str = "current"
    min_input_len: int = 2

    def validate(self) -> None:
        super().validate()
        if self.loss != "ce":
            self._fail("loss", "'ce' (IDCLRec trains with softmax cross-entropy)")
        if not (self.use_interest or self.use_intent):
            raise ConfigError("use_interest", "and use_intent cannot both be False (IDCLRecConfig)")
        self.require_positive("cross_heads", "delta_temperature", "tau_a", "temperature")
        if self.cl1_length_groups is not None:
            self.require_non_negative("cl1_length_groups")
        if self.dim % self.cross_heads:
            self._fail("dim", f"a multiple of cross_heads={self.cross_heads}")
        self.require_non_negative("lambda_d", "lambda_cl1", "lambda_cl2")
        self.require_choice("similarity", ("dot", "cos"))
        self.require_choice("centroid_items", ("current", "next"))

    def partners_unused(self) -> str | None:
        return None if self.use_CL1 and self.lambda_cl1 > 0 else "L_CL1 is off (use_CL1=False or lambda_cl1=0)"


def _pad_left(t: Tensor, width: int) -> Tensor:
    """``t (b, L, ...)`` with zeros (False) prepended along dim 1 up to ``width``."""
    pad = t.new_zeros((t.size(0), width - t.size(1), *t.shape[2:]))
    return torch.cat([pad, t], 1)


def _join_rows(parts: list[dict[str, Tensor]], inverse: Tensor) -> dict[str, Tensor]:
    """The forward outputs of row groups as one batch: per-position tensors (``(b, L_g, ...)``,
    right-aligned) left-padded with zeros to the widest group, rows put back in order."""
    width = max(p["seq"].size(1) for p in parts)
    out = {}
    for key in parts[0]:
        if parts[0][key].dim() >= 2 and key not in ("i", "r_N", "h"):
            padded = [_pad_left(p[key], width) for p in parts]
        else:
            padded = [p[key] for p in parts]
        out[key] = torch.cat(padded)[inverse]
    return out


@register_model("idclrec")
class IDCLRec(RecModel):
    r"""IDCLRec (`Choi & Lim, 2025 <https://arxiv.org/abs/2501.07096>`_).

    A SASRec encoder gives behaviours :math:`\mathbf{H}`; a causal cross-attention
    over them gives interests :math:`\mathbf{R}`; intents are the residual
    :math:`\mathbf{I} = \mathbf{H} - \mathbf{R}`. The intents similar (cosine
    :math:`\ge \delta`) to the current one form its category, aggregated with
    importance weights into :math:`\mathbf{i}`; the user is :math:`\mathbf{h} =
    \mathbf{r}_N + \mathbf{i}` and items are scored by :math:`\mathbf{h}^\top\mathbf{e}_v`.

    .. math::
        \mathcal{L} = \mathcal{L}_{rec} + \lambda_d \mathcal{L}_d + \lambda_{CL1}\mathcal{L}_{CL1}
        + \lambda_{CL2}\mathcal{L}_{CL2}

    with full-softmax cross-entropy :math:`\mathcal{L}_{rec}`, the similarity adjustment
    loss :math:`\mathcal{L}_d` (:func:`similarity_adjustment_loss`), intent-intent InfoNCE
    :math:`\mathcal{L}_{CL1}` (positive: a subsequence with the same target) and intent-item
    InfoNCE :math:`\mathcal{L}_{CL2}` (positive: mean embedding of the category's items).
    :math:`\mathbf{h}` is computed as :math:`\mathbf{H}_N + (\mathbf{i} - \mathbf{I}_N)`, which
    equals :math:`\mathbf{r}_N + \mathbf{i}` and is *exactly* :math:`\mathbf{H}_N` when the
    category is only :math:`N` (SASRec). Trains on :class:`~graphrec.data.loader.SubsequenceLoader`
    batches (:class:`~graphrec.data.inputs.SubsequenceInputs`). Equation forms marked "proposed" in the spec
    are our reading of the paper's abstract; see the config for the switches.
    """

    Config = IDCLRecConfig
    train_defaults = {"batch_size": 256, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, adj: CSRAdjacency | None = None,
                 ld_fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
                 config: IDCLRecConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        if ld_fn is None and cfg.ld_form not in SIMILARITY_ADJUSTMENT:
            raise ValueError(f"ld_form must be one of {sorted(SIMILARITY_ADJUSTMENT)}, got {cfg.ld_form!r}")
        self.num_users, self.num_items, self.max_len = num_users, num_items, cfg.max_len
        self.min_input_len = cfg.min_input_len
        self.delta = cfg.delta if cfg.use_threshold else -1.0
        self.learn_delta, self.delta_temperature, self.tau_a = cfg.learn_delta, cfg.delta_temperature, cfg.tau_a
        self.use_importance, self.use_interest, self.use_intent = cfg.use_importance, cfg.use_interest, cfg.use_intent
        self.lambda_d = cfg.lambda_d if cfg.use_Ld else 0.0
        self.lambda_cl1 = cfg.lambda_cl1 if cfg.use_CL1 else 0.0
        self.lambda_cl2 = cfg.lambda_cl2 if cfg.use_CL2 else 0.0
        self.temperature, self.similarity = cfg.temperature, cfg.similarity
        self.mask_false_negatives, self.centroid_items = cfg.mask_false_negatives, cfg.centroid_items
        self.cl1_length_groups, self.pair_partners = cfg.cl1_length_groups, cfg.pair_partners
        self.pair_by_length = cfg.pair_by_length
        self.ld_fn = ld_fn or SIMILARITY_ADJUSTMENT[cfg.ld_form]
        # same attribute names as SASRec, so SASRec weights load into IDCLRec and back
        self.item_emb, self.encoder = sasrec_backbone(cfg, num_items, adj)
        self.cross = CausalCrossAttention(cfg.dim, num_heads=cfg.cross_heads, dropout=cfg.dropout,
                                          include_self=cfg.include_self)
        self.delta_param = nn.Parameter(torch.zeros(())) if cfg.learn_delta else None
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> IDCLRec:
        """``adj``: the user x item training clicks when ``config.graph_layers > 0``."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   adj=clicks_adjacency(data, cfg), config=cfg)

    def reset_parameters(self) -> None:
        self.item_emb.reset_parameters()
        self.encoder.reset_parameters()
        self.cross.reset_parameters()
        if self.delta_param is not None:
            with torch.no_grad():
                self.delta_param.fill_(math.atanh(max(-0.99, min(0.99, self.delta))))

    def current_delta(self) -> float | Tensor:
        return torch.tanh(self.delta_param) if self.delta_param is not None else self.delta

    def forward(self, seq: Tensor) -> dict[str, Tensor]:
        """All representations of left-padded shifted ids ``seq (B, L)``: ``H``, ``R``,
        ``I`` ``(B, L', d)``, ``valid``, category ``alpha``/``member`` ``(B, L')``, and
        ``i``, ``r_N``, ``h`` ``(B, d)`` at the last position. Columns that are padding
        in every row are dropped first (``L' <= L``; the trimmed ids are ``seq``): an
        exact saving, since positions are right-aligned and padding is masked.
        With ``encoder.length_groups = G > 1`` (``train.encoder_length_groups``) the whole
        forward pass, cross-attention and intent terms included, runs in ``G`` groups of
        similar length, each trimmed to its own longest row, and the outputs are left-padded
        back to the batch's width: the same values with less work on padding."""
        groups = self.encoder.length_groups
        if groups > 1 and seq.size(0) > 1:
            rows, inverse = length_groups(seq > 0, groups)
            return _join_rows([self._forward(seq[idx]) for idx in rows], inverse)
        return self._forward(seq)

    def _forward(self, seq: Tensor) -> dict[str, Tensor]:
        (seq,) = trim_left_padding(seq)
        valid = seq > 0
        H = self.encoder(self.item_emb(seq), valid, groups=1)  # already one length group
        R = self.cross(H, valid)
        I = H - R
        alpha, member = intent_category_weights(
            I, valid, self.current_delta(), self.tau_a, self.use_importance,
            self.delta_temperature if self.learn_delta else None)
        i = (alpha.to(I.dtype).unsqueeze(-1) * I).sum(1)
        r_N = R[:, -1]
        if self.use_interest and self.use_intent:
            h = H[:, -1] + (i - I[:, -1])  # = r_N + i, exactly H_N when the category is {N}
        elif self.use_intent:
            h = i
        else:
            h = r_N
        return {"seq": seq, "H": H, "R": R, "I": I, "valid": valid, "alpha": alpha, "member": member,
                "i": i, "r_N": r_N, "h": h}

    def intent_by_length(self, seq: Tensor, groups: int) -> Tensor:
        """Aggregated intent ``i (B, d)`` of each row of ``seq``, encoding the rows in
        ``groups`` groups of similar length so that each group is trimmed to its own
        longest row (:func:`trim_left_padding`). Same values as ``self(seq)["i"]``."""
        if groups <= 1 or seq.size(0) <= 1:
            return self(seq)["i"]
        rows, inverse = length_groups(seq > 0, groups)
        return torch.cat([self._forward(seq[idx])["i"] for idx in rows])[inverse]

    def scores(self, h: Tensor) -> Tensor:
        return h @ self.item_emb.table()[1:].t()

    def item_centroid(self, seq: Tensor, member: Tensor, target: Tensor | None = None) -> Tensor:
        """Mean embedding of the items under the selected category (weights ``member``)."""
        items = seq
        if self.centroid_items == "next":
            if target is None:
                raise ValueError("centroid_items='next' needs the target (training only)")
            items = torch.cat([seq[:, 1:], target[:, None]], 1).masked_fill(seq == 0, 0)
        w = member.to(self.item_emb.weight.dtype) * (items > 0)
        return (w.unsqueeze(-1) * self.item_emb(items)).sum(1) / w.sum(1, keepdim=True).clamp(min=1e-12)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        seq, target = batch["input"], batch["target"]
        groups = self.cl1_length_groups
        if groups is None:  # launches cost a GPU's step, padding a CPU's
            groups = 0 if seq.is_cuda else CPU_LENGTH_GROUPS
        joint = self.lambda_cl1 > 0 and groups == 0 and "partner_slot" not in batch
        if joint:  # the input and its L_CL1 partners in one pass: rows are encoded independently
            partner = batch.get("partner", seq)
            width = max(seq.size(1), partner.size(1))  # length-bucketed batches trim each to its own width
            both = self(torch.cat([_pad_left(seq, width), _pad_left(partner, width)]))
            out = {k: v[:seq.size(0)] for k, v in both.items()}
        else:
            out = self(seq)
        rec = F.cross_entropy(self.scores(out["h"]), target - 1)
        parts = {"rec": rec}
        total = rec
        if self.lambda_d > 0:
            parts["Ld"] = self.ld_fn(out["R"], out["I"], out["valid"])
            total = total + self.lambda_d * parts["Ld"]
        if self.lambda_cl1 > 0:
            # partner subsequence with the same target (paired in the batch, or drawn and
            # encoded); without one the same input passed again through dropout is the second view
            if joint:
                other = both["i"][seq.size(0):]
            elif self.encoder.length_groups > 1 or "partner_slot" in batch:
                # forward groups the rows by length already / a paired batch encodes a few rows at most
                other = partner_views(batch, out["i"], lambda s: self(s)["i"])
            else:
                other = partner_views(batch, out["i"], lambda s: self.intent_by_length(s, groups))
            labels = target if self.mask_false_negatives else None
            parts["CL1"] = info_nce(out["i"], other, self.temperature, self.similarity, labels)
            total = total + self.lambda_cl1 * parts["CL1"]
        if self.lambda_cl2 > 0:
            c = self.item_centroid(out["seq"], out["member"], target)
            parts["CL2"] = info_nce(out["i"], c, self.temperature, self.similarity)
            total = total + self.lambda_cl2 * parts["CL2"]
        return {"loss": total, **{k: v.detach() for k, v in parts.items()}}

    def train_inputs(self) -> SubsequenceInputs:
        return SubsequenceInputs(max_len=self.max_len, min_len=self.min_input_len,
                                 pair_partners=self.pair_partners, pair_by_length=self.pair_by_length)

    def sequence_representation(self, history: Ragged) -> Tensor:
        r"""``(B, d)``: :math:`\mathbf{h} = \mathbf{r}_N + \mathbf{i}` of each history."""
        dev = self.item_emb.weight.device
        seq = item_windows(history, self.max_len).to(dev)
        return self(seq)["h"]

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        return self.scores(self.sequence_representation(history))

    def score(self, users: Tensor, items: Tensor, history: Ragged) -> Tensor:
        h = self.sequence_representation(history)
        return (h.unsqueeze(1) * self.item_emb(items + 1)).sum(-1)


__all__ = ["IDCLRec", "IDCLRecConfig", "intent_category_weights", "similarity_adjustment_loss",
           "SIMILARITY_ADJUSTMENT"]
