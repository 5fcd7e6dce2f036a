"""Target-aware attention pooling of a history (DIN-style activation unit)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from graphrec.ops import gather_csr, segment_reduce, segment_softmax


class AttentionPooling(nn.Module):
    r"""Target-aware attention pooling of a user's history, as the local activation
    unit of DIN (`Zhou et al., KDD 2018 <https://arxiv.org/abs/1706.06978>`_):

    .. math::
        a_j = \mathrm{score}(\mathbf{q}, \mathbf{k}_j),\qquad
        \alpha_j = \mathrm{softmax}_{j \in \mathcal{H}}(a_j),\qquad
        \mathbf{o} = \sum_{j \in \mathcal{H}} \alpha_j \mathbf{k}_j

    with :math:`\mathrm{score}(\mathbf{q}, \mathbf{k}) = \mathbf{q}^\top\mathbf{k}/\sqrt{d}`
    (``score="dot"``) or DIN's
    :math:`\mathrm{MLP}([\mathbf{q}, \mathbf{k}, \mathbf{q}-\mathbf{k}, \mathbf{q}\odot\mathbf{k}])`
    (``score="mlp"``). With ``normalize=False`` the weights are DIN's raw activations
    :math:`\alpha_j = a_j` (no softmax, keeps the intensity of the interest).
    The history is either padded ``(B, L, d)`` with a validity mask, or CSR
    (``values (nnz, d)`` with ``ptr (B + 1,)``); both paths give the same result.
    Padding is never attended; an empty history pools to zero.

    Args:
        dim (int): embedding size :math:`d`.
        score (str, optional): ``"dot"`` or ``"mlp"``. (default: ``"dot"``)
        hidden (int, optional): MLP width for ``score="mlp"``. (default: ``36``, DIN)
        normalize (bool, optional): softmax over the history. (default: ``True``)

    Shapes:
        - **input:** target :math:`(B, d)`; history :math:`(B, L, d)` with mask
          :math:`(B, L)`, or :math:`(\text{nnz}, d)` with ``ptr`` :math:`(B + 1)`
        - **output:** :math:`(B, d)`
    """

    def __init__(self, dim: int, score: str = "dot", hidden: int = 36, normalize: bool = True) -> None:
        super().__init__()
        if score not in ("dot", "mlp"):
            raise ValueError(f"score must be 'dot' or 'mlp', got {score!r}")
        self.dim, self.score_type, self.normalize = dim, score, normalize
        self.mlp = (nn.Sequential(nn.Linear(4 * dim, hidden), nn.PReLU(), nn.Linear(hidden, 1))
                    if score == "mlp" else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.mlp is not None:
            for m in self.mlp:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.PReLU):
                    nn.init.constant_(m.weight, 0.25)

    def score(self, q: Tensor, k: Tensor) -> Tensor:
        """Scores of keys ``k (..., d)`` against broadcastable targets ``q (..., d)``."""
        if self.mlp is None:
            return (q * k).sum(-1) / math.sqrt(self.dim)
        q = q.expand_as(k)
        return self.mlp(torch.cat([q, k, q - k, q * k], -1)).squeeze(-1)

    def forward(self, target: Tensor, history: Tensor, mask: Tensor | None = None,
                ptr: Tensor | None = None) -> Tensor:
        if ptr is not None:  # CSR history
            a = self.score(gather_csr(target, ptr), history)
            w = segment_softmax(a, ptr) if self.normalize else a
            return segment_reduce(history * w.unsqueeze(-1), ptr, "sum")
        if mask is None:
            mask = torch.ones(history.shape[:2], dtype=torch.bool, device=history.device)
        a = self.score(target.unsqueeze(1), history)
        if self.normalize:
            has = mask.any(-1, keepdim=True)
            w = torch.softmax(a.masked_fill(~mask, float("-inf")).masked_fill(~has, 0.0), -1) * has
        else:
            w = a * mask
        return (w.unsqueeze(-1) * history).sum(1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, score={self.score_type!r}, normalize={self.normalize}"


__all__ = ["AttentionPooling"]
