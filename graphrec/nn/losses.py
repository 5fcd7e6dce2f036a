"""Training losses shared by the models."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""Bayesian personalised ranking (Rendle et al., 2009):

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{b} \log \sigma(\hat y_{u,i} - \hat y_{u,j})
    """
    return F.softplus(neg_score - pos_score).mean()


def l2_reg(*tensors: Tensor, batch_size: int) -> Tensor:
    r"""LightGCN's reference regulariser on the batch's layer-0 embeddings:
    :math:`\frac{1}{2B}\sum_t \lVert t \rVert_2^2`."""
    return sum(t.pow(2).sum() for t in tensors) / (2.0 * batch_size)  # type: ignore[return-value]


def sampled_bce(pos_logit: Tensor, neg_logit: Tensor, mask: Tensor) -> Tensor:
    r"""SASRec's binary cross-entropy with one sampled negative per position:

    .. math::
        \mathcal{L} = -\frac{1}{|M|}\sum_{t \in M} \left[\log\sigma(r_{t}^{+}) + \log(1-\sigma(r_{t}^{-}))\right]
    """
    loss = F.softplus(-pos_logit) + F.softplus(neg_logit)
    m = mask.to(loss.dtype)
    return (loss * m).sum() / m.sum().clamp(min=1)


def info_nce(anchor: Tensor, positive: Tensor, temperature: float = 1.0,
             similarity: str = "dot", labels: Tensor | None = None) -> Tensor:
    r"""Symmetric in-batch InfoNCE over the :math:`2B` views: row :math:`b` of ``anchor``
    and ``positive`` is a positive pair, every other view a negative. With ``labels``,
    any other view whose label equals the anchor's is removed from the denominator
    (false-negative masking, as ICSRec's FNM), except the anchor's own positive.

    .. math::
        \mathcal{L} = -\frac{1}{2B}\sum_{z}\log \frac{\exp(s(z, z^+)/\tau)}
        {\sum_{z' \ne z,\ \ell(z') \ne \ell(z) \lor z' = z^+} \exp(s(z, z')/\tau)}

    Args:
        similarity: ``"dot"`` or ``"cos"``.
        labels: ``(B,)`` optional labels of the pairs (e.g. target items).
    """
    if similarity == "cos":
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    elif similarity != "dot":
        raise ValueError(f"similarity must be 'dot' or 'cos', got {similarity!r}")
    n = anchor.size(0)
    z = torch.cat([anchor, positive], 0)
    sim = z @ z.t() / temperature
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    drop = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    if labels is not None:
        lab = torch.cat([labels, labels])
        same = lab[:, None] == lab[None, :]
        same[torch.arange(2 * n, device=z.device), target] = False
        drop = drop | same
    return F.cross_entropy(sim.masked_fill(drop, float("-inf")), target)


__all__ = ["bpr_loss", "l2_reg", "sampled_bce", "info_nce"]
