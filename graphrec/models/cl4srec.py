"""CL4SRec: contrastive learning for sequential recommendation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.models.base import resolve_config
from graphrec.models.sasrec import SASRec, SASRecConfig
from graphrec.nn.losses import info_nce, sampled_bce
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model

#: id of a masked position in an augmented sequence (its embedding is a learned vector)
MASK_ID = -1


def _lengths(seq: Tensor) -> Tensor:
    return (seq != 0).sum(1)


def _rand(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=generator, device="cpu" if generator is not None else like.device).to(
        like.device)


def crop(seq: Tensor, ratio: float = 0.2, generator: torch.Generator | None = None,
         spare_last: bool = False) -> Tensor:
    """Item crop: a random contiguous window of ``max(1, floor(ratio * n))`` of the
    ``n`` items of each left-padded row, left-padded again. ``spare_last``: a window of
    ``floor(ratio * n) >= 1`` items ends before the most recent item (the ICLRec code's
    ``Crop`` draws its start from ``[0, n - c - 1]``)."""
    B, L = seq.shape
    n = _lengths(seq)
    c = torch.minimum((ratio * n).long().clamp(min=1), n)
    starts = n - c + 1 - (spare_last & ((ratio * n).long() >= 1)).long()
    s = (_rand((B,), seq, generator) * starts).long()
    j = torch.arange(L, device=seq.device)
    src = (j[None, :] + (s + c - n)[:, None]).clamp(0, L - 1)
    return torch.where(j[None, :] >= (L - c)[:, None], seq.gather(1, src), torch.zeros_like(seq))


def mask(seq: Tensor, ratio: float = 0.7, generator: torch.Generator | None = None,
         mask_id: int = MASK_ID) -> Tensor:
    """Item mask: ``floor(ratio * n)`` random real positions become ``mask_id``."""
    B, L = seq.shape
    k = (ratio * _lengths(seq)).long()
    keys = _rand((B, L), seq, generator).masked_fill(seq == 0, 2.0)
    rank = keys.argsort(1).argsort(1)
    return seq.masked_fill(rank < k[:, None], mask_id)


def reorder(seq: Tensor, ratio: float = 0.2, generator: torch.Generator | None = None,
            spare_last: bool = False) -> Tensor:
    """Item reorder: a random contiguous window of ``floor(ratio * n)`` items is shuffled.
    ``spare_last``: the window ends before the most recent item (the ICLRec code's
    ``Reorder`` draws its start from ``[0, n - w - 1]``)."""
    B, L = seq.shape
    n = _lengths(seq)
    w = (ratio * n).long()
    starts = (n - w + 1 - int(spare_last)).clamp(min=0)
    ws = (L - n) + (_rand((B,), seq, generator) * starts).long()
    j = torch.arange(L, device=seq.device)[None, :].expand(B, L)
    inside = (j >= ws[:, None]) & (j < (ws + w)[:, None])
    keys = torch.where(inside, ws[:, None] + _rand((B, L), seq, generator) * w[:, None], j.to(torch.float32))
    return seq.gather(1, keys.argsort(1))


def random_augment(seq: Tensor, crop_ratio: float = 0.2, mask_ratio: float = 0.7, reorder_ratio: float = 0.2,
                   generator: torch.Generator | None = None, mask_id: int = MASK_ID,
                   spare_last: bool = False) -> Tensor:
    """One of crop / mask / reorder, drawn uniformly per row (CL4SRec); masked items
    become ``mask_id`` (0: padding, dropped from attention, as the ICLRec code);
    ``spare_last`` as in :func:`crop` and :func:`reorder`."""
    choice = (_rand((seq.size(0),), seq, generator) * 3).long()[:, None]
    out = torch.where(choice == 0, crop(seq, crop_ratio, generator, spare_last),
                      mask(seq, mask_ratio, generator, mask_id))
    return torch.where(choice == 2, reorder(seq, reorder_ratio, generator, spare_last), out)


def pool(h: Tensor, valid: Tensor, how: str = "last") -> Tensor:
    """Sequence representation of ``h (B, L, d)``: the last position, the mean over
    valid positions, or all positions concatenated (``(B, L*d)``)."""
    if how == "last":
        return h[:, -1]
    if how == "mean":
        w = valid.to(h.dtype).unsqueeze(-1)
        return (h * w).sum(1) / w.sum(1).clamp(min=1)
    if how == "concat":
        return h.flatten(1)
    raise ValueError(f"pooling must be 'last', 'mean' or 'concat', got {how!r}")


@dataclass
class CL4SRecConfig(SASRecConfig):
    """SASRec's arguments plus the following.

    Args:
        cl_weight: lambda of the contrastive loss (0.1, CL4SRec paper).
        temperature: NT-Xent temperature (1.0).
        similarity: ``"dot"`` (the papers' code) or ``"cos"``. With dot at 1.0 on the
            post-LN encodings, the weighted contrastive gradient is ~25x the
            recommendation gradient at initialisation on Beauty (2x after 30 epochs).
        crop_ratio, mask_ratio, reorder_ratio: eta, gamma, beta (0.2, 0.7, 0.2: the values of
            the ICLRec code's CL4SRec reproduction).
        cl_pooling: sequence representation for the contrast: ``"last"``, ``"mean"``, ``"concat"``
            (``"last"``; the ICLRec code's CL4SRec concatenates every position).
        mask_token: what a masked item becomes: ``"learned"`` -- a learned vector that is
            attended (graphrec's default; DuoRec's CL4SRec has a dedicated item id) -- or
            ``"padding"`` -- id 0, so the item drops out of attention (the ICLRec code).
        spare_last_item: crop and reorder windows end before the most recent item, as the
            ICLRec code draws them (``False``: any window of the row).
        pool_padding: the mean and concatenated representations run over all ``max_len``
            positions, padding included; padding embeds to a fixed ``N(0, 0.02)`` vector
            (the reference code's untrained row 0) and is encoded as the ICLRec code's
            encoder does (:class:`~graphrec.nn.encoders.SequenceTransformer`'s
            ``padding_outputs="attend_all"``): every row is encoded at full width.
            ``False``: real positions only, padding is zero (graphrec's default).
    """

    cl_weight: float = 0.1
    temperature: float = 1.0
    similarity: str = "dot"
    crop_ratio: float = 0.2
    mask_ratio: float = 0.7
    reorder_ratio: float = 0.2
    cl_pooling: str = "last"
    mask_token: str = "learned"
    spare_last_item: bool = False
    pool_padding: bool = False

    #: whether the model pools sequences over padding elsewhere than in the contrast
    pools_beyond_contrast: ClassVar[bool] = False

    def validate(self) -> None:
        super().validate()
        self.require_non_negative("cl_weight")
        self.require_positive("temperature")
        self.require_choice("similarity", ("dot", "cos"))
        self.require_fraction("crop_ratio", "mask_ratio", "reorder_ratio")
        self.require_choice("cl_pooling", ("last", "mean", "concat"))
        self.require_choice("mask_token", ("learned", "padding"))
        if self.pool_padding and self.cl_pooling == "last" and not self.pools_beyond_contrast:
            self._fail("pool_padding", "False with cl_pooling='last' (the last position is never padding)")


@register_model("cl4srec")
class CL4SRec(SASRec):
    r"""CL4SRec (`Xie et al., ICDE 2022 <https://arxiv.org/abs/2010.14395>`_): SASRec
    trained with an extra contrastive task. Two views of every sequence are drawn
    by a random augmentation :math:`a, a' \in \{\text{crop}, \text{mask}, \text{reorder}\}`
    and pulled together with in-batch NT-Xent (:func:`graphrec.nn.losses.info_nce`):

    .. math::
        \mathcal{L} = \mathcal{L}_{rec} + \lambda\, \mathcal{L}_{cl}(f(a(s)), f(a'(s)))

    Masked positions use a learned mask embedding (``mask_token="learned"``) or become
    padding (``"padding"``). Scoring is SASRec's.
    """

    Config = CL4SRecConfig

    def __init__(self, num_users: int, num_items: int, adj: CSRAdjacency | None = None,
                 config: CL4SRecConfig | None = None, **kwargs: Any) -> None:
        cfg = resolve_config(self.Config, config, kwargs, type(self).__name__)
        super().__init__(num_users=num_users, num_items=num_items, adj=adj, config=cfg)
        self.cl_weight, self.temperature, self.cl_pooling = cfg.cl_weight, cfg.temperature, cfg.cl_pooling
        self.similarity = cfg.similarity
        self.ratios = (cfg.crop_ratio, cfg.mask_ratio, cfg.reorder_ratio)
        self.mask_id = MASK_ID if cfg.mask_token == "learned" else 0
        self.spare_last_item, self.pool_padding = cfg.spare_last_item, cfg.pool_padding
        # padding outputs only matter to a representation pooled over them; zero is cheaper
        self.encoder.padding_outputs = "attend_all" if cfg.pool_padding else "zero"
        self.mask_emb = nn.Parameter(torch.empty(cfg.dim))
        nn.init.normal_(self.mask_emb, std=0.02)
        # what padding (id 0) embeds to with pool_padding: the reference code draws its whole item
        # table, row 0 included, from N(0, 0.02) after building it, and row 0 gets no gradient
        self.register_buffer("pad_emb", torch.zeros(cfg.dim))
        if self.pool_padding:
            nn.init.normal_(self.pad_emb, std=0.02)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "mask_emb"):
            nn.init.normal_(self.mask_emb, std=0.02)
            if self.pool_padding:
                nn.init.normal_(self.pad_emb, std=0.02)

    def encode(self, seq: Tensor) -> Tensor:
        """Like SASRec's, with ``MASK_ID`` positions embedded by the mask vector (and, with
        ``pool_padding``, padding by the fixed padding vector)."""
        e = self.item_emb(seq.clamp(min=0))
        masked = seq == MASK_ID
        e = torch.where(masked.unsqueeze(-1), self.mask_emb.to(e.dtype), e)
        if self.pool_padding:
            e = torch.where((seq == 0).unsqueeze(-1), self.pad_emb.to(e.dtype), e)
        return self.encoder(e, seq != 0)

    def rec_loss(self, h: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """SASRec's loss from already-encoded ``h`` (avoids a second forward)."""
        target = batch["target"]
        m = target > 0
        if self.loss_type == "bce":
            pos = (h * self.item_emb(target)).sum(-1)
            neg = (h * self.item_emb(batch["neg"])).sum(-1)
            return sampled_bce(pos, neg, m)
        return F.cross_entropy(h[m] @ self.item_emb.table()[1:].t(), target[m] - 1)

    def augmented_views(self, seq: Tensor) -> tuple[Tensor, Tensor]:
        return (random_augment(seq, *self.ratios, mask_id=self.mask_id, spare_last=self.spare_last_item),
                random_augment(seq, *self.ratios, mask_id=self.mask_id, spare_last=self.spare_last_item))

    def pooled(self, h: Tensor, seq: Tensor, how: str) -> Tensor:
        """:func:`pool` over the real positions of ``seq``, or over all of them with
        ``pool_padding``."""
        return pool(h, torch.ones_like(seq, dtype=torch.bool) if self.pool_padding else seq != 0, how)

    def full_width(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``batch`` with its ``(B, L)`` tensors left-padded to ``max_len`` columns when
        representations pool over padding (a length-bucketed batch is narrower)."""
        extra = self.max_len - batch["input"].size(1)
        if not self.pool_padding or extra <= 0:
            return batch
        return {k: F.pad(v, (extra, 0)) if k in ("input", "target", "neg") else v for k, v in batch.items()}

    def cl_loss(self, seq: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """NT-Xent between two augmented views; also returns ``(view, encoding)`` of both."""
        v1, v2 = self.augmented_views(seq)
        h1, h2 = self.encode(v1), self.encode(v2)
        z1, z2 = self.pooled(h1, v1, self.cl_pooling), self.pooled(h2, v2, self.cl_pooling)
        return info_nce(z1, z2, self.temperature, self.similarity), (v1, h1), (v2, h2)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        batch = self.full_width(batch)
        h = self.encode(batch["input"])
        rec = self.rec_loss(h, batch)
        cl, _, _ = self.cl_loss(batch["input"])
        return {"loss": rec + self.cl_weight * cl, "rec": rec.detach(), "cl": cl.detach()}


__all__ = ["CL4SRec", "CL4SRecConfig", "crop", "mask", "reorder", "random_augment", "pool", "MASK_ID"]
