"""Causal cross-attention: each position reads the behaviours up to (or before) it."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from graphrec.nn.dropout import dropout as dropout_fn


def masked_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, dropout: float = 0.0,
                     training: bool = False) -> tuple[Tensor, Tensor]:
    r"""Scaled dot-product attention in which a query with no allowed key yields a
    zero output (instead of NaN).

    Args:
        q, k, v: ``(B, H, Lq, Dh)``, ``(B, H, Lk, Dh)``, ``(B, H, Lk, Dh)``.
        mask: boolean ``(B, Lq, Lk)`` or ``(B, H, Lq, Lk)``, ``True`` = may attend.

    Returns:
        ``(out (B, H, Lq, Dh), attn (B, H, Lq, Lk))``; rows of ``attn`` without an
        allowed key are all zero.
    """
    if mask.dim() == 3:
        mask = mask[:, None]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.size(-1))
    scores = scores.masked_fill(~mask, float("-inf"))
    has_key = mask.any(-1, keepdim=True)
    attn = torch.softmax(scores.masked_fill(~has_key, 0.0), dim=-1) * has_key
    attn = dropout_fn(attn, dropout, training)
    return attn @ v, attn


class CausalCrossAttention(nn.Module):
    r"""Causal cross-attention of IDCLRec (`Choi & Lim, 2025
    <https://arxiv.org/abs/2501.07096>`_): the query is the behaviour at step
    :math:`t`, keys and values are the behaviours of the same sequence up to step
    :math:`t`; the output is the *interest* expressed at :math:`t`.

    .. math::
        \mathbf{A} = \mathrm{softmax}\Big(\frac{(\mathbf{H}\mathbf{W}_Q)(\mathbf{C}\mathbf{W}_K)^\top}
        {\sqrt{d_h}} + \mathbf{M}\Big),\qquad
        \mathbf{R} = \mathbf{A}\,(\mathbf{C}\mathbf{W}_V)\,\mathbf{W}_O

    per head, with :math:`\mathbf{C} = \mathbf{H}` unless a separate context is
    given, and :math:`M_{ts} = -\infty` unless :math:`s \le t` (``include_self=True``)
    or :math:`s < t` (``include_self=False``) and :math:`s` is a real (non-padding)
    position. Padding queries and queries without any allowed key (with
    ``include_self=False``: the first real position) get a **zero** output, so
    :math:`\mathbf{R}_t = 0` there and the intent :math:`\mathbf{H}_t - \mathbf{R}_t`
    falls back to the behaviour itself. A single attention layer: no residual, no
    feed-forward network, no normalisation (a residual would let :math:`\mathbf{R}`
    copy :math:`\mathbf{H}`).

    Args:
        dim (int): hidden size :math:`d`.
        num_heads (int, optional): attention heads (must divide ``dim``). (default: ``1``)
        dropout (float, optional): dropout on the attention probabilities. (default: ``0.0``)
        include_self (bool, optional): position :math:`t` may attend to itself.
            (default: ``True``)
        bias (bool, optional): biases in the projections. (default: ``True``)

    Shapes:
        - **input:** query sequence :math:`(B, L, d)`, optional context :math:`(B, L, d)`
          (default: the query sequence), validity mask :math:`(B, L)` (``True`` = real item)
        - **output:** :math:`(B, L, d)`, and with ``return_attention=True`` also the
          attention :math:`(B, \text{heads}, L, L)`
    """

    def __init__(self, dim: int, num_heads: int = 1, dropout: float = 0.0, include_self: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.dropout, self.include_self = dim, num_heads, dropout, include_self
        self.q = nn.Linear(dim, dim, bias=bias)
        self.k = nn.Linear(dim, dim, bias=bias)
        self.v = nn.Linear(dim, dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.q, self.k, self.v, self.out):
            nn.init.normal_(lin.weight, std=0.02)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def mask(self, valid: Tensor) -> Tensor:
        """Boolean ``(B, L, L)``: query ``t`` may attend to key ``s``."""
        L = valid.size(1)
        allowed = torch.ones(L, L, dtype=torch.bool, device=valid.device).tril(0 if self.include_self else -1)
        return allowed & valid[:, None, :] & valid[:, :, None]

    def forward(self, x: Tensor, valid: Tensor | None = None, context: Tensor | None = None,
                return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        B, L, D = x.shape
        ctx = x if context is None else context
        if valid is None:
            valid = torch.ones(B, L, dtype=torch.bool, device=x.device)
        heads, dh = self.num_heads, D // self.num_heads
        q = self.q(x).view(B, L, heads, dh).transpose(1, 2)
        k = self.k(ctx).view(B, L, heads, dh).transpose(1, 2)
        v = self.v(ctx).view(B, L, heads, dh).transpose(1, 2)
        mask = self.mask(valid)
        o, attn = masked_attention(q, k, v, mask, self.dropout, self.training)
        out = self.out(o.transpose(1, 2).reshape(B, L, D))
        out = out * mask.any(-1, keepdim=True).to(out.dtype)  # no key -> zero (also drops the bias)
        return (out, attn) if return_attention else out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, include_self={self.include_self}"


__all__ = ["CausalCrossAttention", "masked_attention"]
