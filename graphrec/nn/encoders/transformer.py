"""SASRec-style causal transformer over item sequences."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.nn.dropout import Dropout
from graphrec.nn.encoders.causal_cross_attention import masked_attention


def causal_mask(valid: Tensor) -> Tensor:
    """Boolean attention mask ``(B, 1, L, L)``: query ``t`` may attend to key ``s``
    when ``s <= t`` and ``s`` is a real item. Every position may attend to itself,
    so a padding query never has an empty row (and never yields NaN)."""
    L = valid.size(1)
    tril = torch.ones(L, L, dtype=torch.bool, device=valid.device).tril()
    eye = torch.eye(L, dtype=torch.bool, device=valid.device)
    return (tril & valid[:, None, :]) | eye  # (B, L, L)


def leading_padding(valid: Tensor) -> int:
    """Number of leading columns of ``valid (B, L)`` that are padding in every row
    (``L`` when every position is padding)."""
    has = valid.any(0)
    return int(has.to(torch.uint8).argmax()) if bool(has.any()) else valid.size(1)


def trim_left_padding(seq: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """Drop the leading columns that are padding (0) in every row of the left-padded
    ``seq (B, L)``, and the same columns of each ``(B, L, ...)`` tensor in ``others``.

    With right-aligned positions (:class:`SequenceTransformer`) and padding masked
    out, this changes no output at a real position; it only saves the work on
    padding, which dominates when most sequences are short (Amazon: median ~6 of 50).
    """
    first = min(leading_padding(seq != 0), seq.size(1) - 1)  # keep one column of an all-padding batch
    if first == 0:
        return (seq, *others)
    return (seq[:, first:], *(t[:, first:] for t in others))


def length_groups(valid: Tensor, groups: int) -> tuple[list[Tensor], Tensor]:
    """Row ids of ``groups`` groups of similar length (rows ordered by their number of real
    entries in ``valid (B, L)``; fewer groups when ``B < groups``) and the permutation that
    puts rows, concatenated group after group, back in their order. Encoding each group
    trimmed to its own longest row (:func:`trim_left_padding`) saves the work on padding."""
    order = valid.sum(1).argsort()
    return list(order.tensor_split(min(groups, valid.size(0)))), order.argsort()


#: what :class:`SequenceTransformer` computes at a padding position
PADDING_OUTPUTS = ("zero", "attend_all")


class TransformerBlock(nn.Module):
    r"""One self-attention block (multi-head attention + position-wise GELU FFN).

    ``norm_first=False`` is the post-LN block of the ICLRec/ICSRec SASRec code:
    :math:`H' = \mathrm{LN}(H + \mathrm{Drop}(\mathrm{MHA}(H)))`,
    :math:`H'' = \mathrm{LN}(H' + \mathrm{Drop}(\mathrm{FFN}(H')))`;
    ``norm_first=True`` normalises before each sub-layer (pre-LN).

    Args:
        dim (int): hidden size :math:`d`.
        num_heads (int): attention heads (must divide ``dim``).
        dropout (float): dropout on attention probabilities and hidden states.
        ffn_mult (int, optional): FFN width as a multiple of ``dim``. (default: ``4``)
        norm_first (bool, optional): pre-LN instead of post-LN. (default: ``False``)
        inner_dropout (bool, optional): dropout between the FFN's two linear layers too;
            the ICLRec / ICSRec / RecBole code has none (``False``). (default: ``True``)
    """

    def __init__(self, dim: int, num_heads: int, dropout: float, ffn_mult: int = 4,
                 norm_first: bool = False, inner_dropout: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.num_heads, self.dropout, self.norm_first = num_heads, dropout, norm_first
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        # an Identity in place of the inner dropout keeps the parameter names (ffn.0, ffn.3)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.GELU(),
                                 Dropout(dropout) if inner_dropout else nn.Identity(),
                                 nn.Linear(ffn_mult * dim, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-12), nn.LayerNorm(dim, eps=1e-12)
        self.drop = Dropout(dropout)

    def attention(self, x: Tensor, mask: Tensor) -> Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, D // self.num_heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, L, Dh)
        if self.training and self.dropout > 0 and x.device.type == "cpu":
            # SDPA's CPU attention dropout draws per-element bernoulli_ (slow); same maths
            o, _ = masked_attention(q, k, v, mask, self.dropout, True)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None],
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.out(o.transpose(1, 2).reshape(B, L, D))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.norm_first:
            x = x + self.drop(self.attention(self.norm1(x), mask))
            return x + self.drop(self.ffn(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attention(x, mask)))
        return self.norm2(x + self.drop(self.ffn(x)))


class SequenceTransformer(nn.Module):
    r"""Causal transformer encoder over left-padded item sequences (SASRec,
    `Kang & McAuley, ICDM 2018 <https://arxiv.org/abs/1808.09781>`_):

    .. math::
        X = \mathrm{Drop}(\mathrm{LN}(E_{s} + P)),\qquad
        H = \mathrm{Block}_n \circ \dots \circ \mathrm{Block}_1 (X)

    with a causal mask (position :math:`t` sees :math:`s \le t`) and padding id 0.
    Positions are right-aligned: the last column always gets :math:`P_{L_{max}-1}`, so
    an input with fewer than ``max_len`` columns (e.g. after :func:`trim_left_padding`)
    encodes its real items exactly as its full-width left-padded form would. Outputs
    at padding positions are zero (see ``padding_outputs``).
    The item embeddings :math:`E` are passed in, so they can be a graph's ``item``
    node embeddings (e.g. after LightGCN propagation).

    Args:
        dim (int): hidden size.
        max_len (int): longest sequence (learned positions).
        num_layers (int, optional): blocks. (default: ``2``)
        num_heads (int, optional): heads. (default: ``1``)
        dropout (float, optional): dropout. (default: ``0.2``)
        norm_first (bool, optional): pre-LN blocks. (default: ``False``)
        inner_dropout (bool, optional): see :class:`TransformerBlock`. (default: ``True``)
        length_groups (int, optional): encode the rows in this many groups of similar
            length, each trimmed to its own longest row: the same outputs (rows are
            encoded independently; other dropout draws) with less work on padding, which
            pays on a CPU when a batch mixes short and long rows; on a GPU the extra
            launches cost more. ``1``: one pass. The trainer sets it from
            ``train.encoder_length_groups``. (default: ``1``)
        padding_outputs (str, optional): what a padding position encodes. ``"zero"``:
            zero, and no work is spent on it. ``"attend_all"``: what the SASRec code of
            ICLRec / ICSRec computes with its additive :math:`-10^4` mask: a query with no
            allowed key (padding before the first item) attends to every position of the
            row, and its output is kept. Outputs at real positions are the same either
            way; only a representation pooled over padding (ICLRec's mean and
            concatenation) differs. (default: ``"zero"``)

    Shapes:
        - **input:** item embeddings of the sequence :math:`(B, L, d)`, validity mask
          :math:`(B, L)`
        - **output:** :math:`(B, L, d)`
    """

    def __init__(self, dim: int, max_len: int, num_layers: int = 2, num_heads: int = 1,
                 dropout: float = 0.2, norm_first: bool = False, inner_dropout: bool = True,
                 length_groups: int = 1, padding_outputs: str = "zero") -> None:
        super().__init__()
        if length_groups < 1:
            raise ValueError(f"length_groups must be >= 1, got {length_groups}")
        if padding_outputs not in PADDING_OUTPUTS:
            raise ValueError(f"padding_outputs must be one of {PADDING_OUTPUTS}, got {padding_outputs!r}")
        self.length_groups, self.padding_outputs = length_groups, padding_outputs
        self.pos = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(dim, num_heads, dropout, norm_first=norm_first,
                                                     inner_dropout=inner_dropout)
                                    for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(dim, eps=1e-12) if norm_first else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def forward(self, item_emb: Tensor, valid: Tensor, groups: int | None = None) -> Tensor:
        """``groups`` overrides :attr:`length_groups` for this call (``1``: one pass, e.g.
        when the caller has grouped the rows already)."""
        L = item_emb.size(1)
        if L > self.pos.num_embeddings:
            raise ValueError(f"sequence length {L} exceeds max_len={self.pos.num_embeddings}")
        groups = self.length_groups if groups is None else groups
        if groups > 1 and item_emb.size(0) > 1 and self.padding_outputs == "zero":
            rows, inverse = length_groups(valid, groups)
            return torch.cat([self._encode(item_emb[idx], valid[idx]) for idx in rows])[inverse]
        return self._encode(item_emb, valid)

    def _encode(self, item_emb: Tensor, valid: Tensor) -> Tensor:
        attend_all = self.padding_outputs == "attend_all"
        # skip columns that are padding in every row (outputs there are zero anyway), unless
        # padding outputs are wanted
        cut = 0 if attend_all else leading_padding(valid)
        x, v = item_emb[:, cut:], valid[:, cut:]
        x = x + self.pos.weight[self.pos.num_embeddings - x.size(1):].unsqueeze(0)
        x = self.drop(self.norm(x))
        if attend_all:
            mask = torch.ones(v.size(1), v.size(1), dtype=torch.bool, device=v.device).tril() & v[:, None, :]
            # -1e4 on every key of such a row shifts all its scores alike: softmax over all keys
            mask = mask | ~mask.any(-1, keepdim=True)
        else:
            mask = causal_mask(v)
        for block in self.blocks:
            x = block(x, mask)
        if attend_all:
            return self.final_norm(x)
        x = self.final_norm(x) * v.unsqueeze(-1).to(x.dtype)
        return F.pad(x, (0, 0, cut, 0)) if cut else x

__all__ = ["TransformerBlock", "SequenceTransformer", "causal_mask", "trim_left_padding", "length_groups"]
