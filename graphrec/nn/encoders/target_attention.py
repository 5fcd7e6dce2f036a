r"""Candidate-aware pooling of a history with a bilinear score."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class TargetAttention(nn.Module):
    r"""Pools a history :math:`\mathbf{h}_1..\mathbf{h}_L` once per candidate item
    :math:`\mathbf{e}_v` (DIN-style target attention with the bilinear score of GSERec
    and UniSAR):

    .. math::
        a_j(v) = \mathbf{h}_j^\top \mathbf{W} \mathbf{e}_v, \qquad
        \alpha_j(v) = \mathrm{softmax}_{j \in \mathcal{H}}\big(a_j(v)\big), \qquad
        \mathbf{p}(v) = \sum_{j \in \mathcal{H}} \alpha_j(v)\, \mathbf{h}_j

    over the real (non-padding) entries :math:`\mathcal{H}`; an empty history pools
    to zero. :meth:`weights` returns :math:`\alpha` alone, so a caller that applies a
    linear map :math:`\mathbf{A}` to :math:`\mathbf{p}(v)` can compute
    :math:`\alpha (\mathbf{H}\mathbf{A}^\top)` once per history instead of once per
    candidate.

    Args:
        dim (int): size :math:`d` of history entries and candidates.

    Shapes:
        - **input:** history :math:`(B, L, d)`, mask :math:`(B, L)`, candidates :math:`(B, C, d)`
        - **output:** :math:`(B, C, d)`
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.weight = nn.Parameter(torch.empty(dim, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)

    def weights(self, history: Tensor, valid: Tensor, candidates: Tensor) -> Tensor:
        """:math:`\\alpha` of shape ``(B, C, L)`` (zero rows for an empty history)."""
        scores = torch.einsum("bld,bcd->bcl", history @ self.weight, candidates)
        scores = scores.masked_fill(~valid.unsqueeze(1), float("-inf"))
        alpha = torch.softmax(scores, dim=-1)
        return torch.nan_to_num(alpha, nan=0.0)  # all -inf (empty history) -> 0

    def forward(self, history: Tensor, valid: Tensor, candidates: Tensor) -> Tensor:
        return self.weights(history, valid, candidates) @ history

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = ["TargetAttention"]
