"""Cross-attention fusion of two sequences (or of a sequence with a set)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrec.nn.dropout import Dropout
from graphrec.nn.encoders.causal_cross_attention import masked_attention


class CrossAttentionFusion(nn.Module):
    r"""Fuses a sequence :math:`\mathbf{X}` with a second representation
    :math:`\mathbf{Y}` (another behaviour sequence, search queries, side
    information) by multi-head cross-attention, as in the transformer decoder's
    encoder-decoder attention (`Vaswani et al., NeurIPS 2017
    <https://arxiv.org/abs/1706.03762>`_):

    .. math::
        \mathbf{Z} = \mathrm{LN}\big(\mathbf{X} + \mathrm{Drop}(\mathrm{MHA}(\mathbf{X}\mathbf{W}_Q,
        \mathbf{Y}\mathbf{W}_K, \mathbf{Y}\mathbf{W}_V)\mathbf{W}_O)\big),\qquad
        \mathbf{X}' = \mathrm{LN}\big(\mathbf{Z} + \mathrm{Drop}(\mathrm{FFN}(\mathbf{Z}))\big)

    Padding keys of :math:`\mathbf{Y}` are never attended; with ``causal=True`` and
    aligned time steps (``L = M``) query :math:`t` sees keys :math:`s \le t` only.
    A query without any allowed key receives a zero attention output (the residual
    keeps :math:`\mathbf{X}`). ``ffn=False`` drops the feed-forward sub-layer,
    ``residual=False`` returns the bare (projected) attention output.

    Args:
        dim (int): hidden size :math:`d` of both inputs.
        num_heads (int, optional): heads (must divide ``dim``). (default: ``1``)
        dropout (float, optional): dropout on attention and hidden states. (default: ``0.0``)
        causal (bool, optional): mask keys later than the query. (default: ``False``)
        ffn (bool, optional): position-wise GELU feed-forward sub-layer. (default: ``True``)
        residual (bool, optional): residual connections and LayerNorms. (default: ``True``)

    Shapes:
        - **input:** :math:`\mathbf{X}` :math:`(B, L, d)`, :math:`\mathbf{Y}` :math:`(B, M, d)`
          (or :math:`(B, d)`, one token), optional masks :math:`(B, L)` and :math:`(B, M)`
        - **output:** :math:`(B, L, d)`
    """

    def __init__(self, dim: int, num_heads: int = 1, dropout: float = 0.0, causal: bool = False,
                 ffn: bool = True, residual: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.dropout = dim, num_heads, dropout
        self.causal, self.residual = causal, residual
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), Dropout(dropout),
                                 nn.Linear(4 * dim, dim)) if ffn else None
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-12), nn.LayerNorm(dim, eps=1e-12)
        self.drop = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def forward(self, x: Tensor, y: Tensor, x_mask: Tensor | None = None,
                y_mask: Tensor | None = None) -> Tensor:
        if y.dim() == 2:
            y = y.unsqueeze(1)
        B, L, D = x.shape
        M = y.size(1)
        if x_mask is None:
            x_mask = torch.ones(B, L, dtype=torch.bool, device=x.device)
        if y_mask is None:
            y_mask = torch.ones(B, M, dtype=torch.bool, device=x.device)
        mask = x_mask[:, :, None] & y_mask[:, None, :]
        if self.causal:
            if L != M:
                raise ValueError(f"causal fusion needs aligned sequences, got L={L}, M={M}")
            mask = mask & torch.ones(L, M, dtype=torch.bool, device=x.device).tril()
        h, dh = self.num_heads, D // self.num_heads
        q = self.q(x).view(B, L, h, dh).transpose(1, 2)
        k = self.k(y).view(B, M, h, dh).transpose(1, 2)
        v = self.v(y).view(B, M, h, dh).transpose(1, 2)
        o, _ = masked_attention(q, k, v, mask, self.dropout, self.training)
        a = self.out(o.transpose(1, 2).reshape(B, L, D)) * mask.any(-1, keepdim=True).to(x.dtype)
        if not self.residual:
            return a if self.ffn is None else a + self.ffn(a)
        z = self.norm1(x + self.drop(a))
        if self.ffn is not None:
            z = self.norm2(z + self.drop(self.ffn(z)))
        return z

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, causal={self.causal}"


__all__ = ["CrossAttentionFusion"]
