r"""Gaussian product of experts and the closed-form KL between diagonal Gaussians.

The fusion of the multimodal VAE (`Wu & Goodman, NeurIPS 2018
<https://arxiv.org/abs/1802.05335>`_): each available modality ("expert") gives a
diagonal Gaussian posterior and the joint posterior is their (renormalised) product.
"""
from __future__ import annotations

import torch
from torch import Tensor


def product_of_experts(mu: Tensor, logvar: Tensor, mask: Tensor | None = None,
                       dim: int = -2) -> tuple[Tensor, Tensor]:
    r"""Product of diagonal Gaussian experts, per latent coordinate:

    .. math::
        T_e = \sigma_e^{-2}, \qquad T = \sum_{e \in E} T_e, \qquad
        \mu = \frac{1}{T}\sum_{e \in E} T_e\,\mu_e, \qquad \sigma^2 = \frac{1}{T},

    where :math:`E` is the set of experts present for the row: an expert whose
    ``mask`` entry is false contributes no precision and drops out exactly (the PoE
    over the remaining experts; one present expert returns itself). A row with no
    expert at all gets :math:`\mathcal{N}(0, 1)` (``mu = 0``, ``logvar = 0``).
    Computed in log space (:math:`\log T = \operatorname{logsumexp}_e(-\log\sigma_e^2)`)
    so very small or large variances do not overflow.

    Args:
        mu (torch.Tensor): expert means, experts along ``dim``.
        logvar (torch.Tensor): expert log-variances, same shape.
        mask (torch.Tensor, optional): boolean presence of each expert, shaped like
            ``mu`` without its last axis (one flag per expert and row), or like ``mu``.
            ``None``: every expert is present. (default: ``None``)
        dim (int, optional): the experts axis. (default: ``-2``)

    Shapes:
        - **mu, logvar:** :math:`(*, E, k)` (for ``dim=-2``)
        - **mask:** :math:`(*, E)` or :math:`(*, E, k)`
        - **output:** ``(mu, logvar)``, each :math:`(*, k)`

    Example:
        >>> mu = torch.tensor([[[0.0], [2.0]]]); logvar = torch.tensor([[[0.0], [0.0]]])
        >>> m, lv = product_of_experts(mu, logvar)
        >>> m.item(), round(lv.exp().item(), 4)
        (1.0, 0.5)
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")
    neg_logvar = -logvar
    if mask is not None:
        mask = mask.to(torch.bool)
        if mask.dim() == mu.dim() - 1:
            mask = mask.unsqueeze(-1)
        mask = mask.expand_as(mu)
        neg_logvar = neg_logvar.masked_fill(~mask, float("-inf"))
    log_t = torch.logsumexp(neg_logvar, dim=dim, keepdim=True)  # log total precision
    empty = torch.isinf(log_t)  # no expert present
    weight = torch.exp(neg_logvar - torch.where(empty, torch.zeros_like(log_t), log_t))  # T_e / T
    mu_out = (weight * torch.where(weight > 0, mu, torch.zeros_like(mu))).sum(dim)
    logvar_out = torch.where(empty, torch.zeros_like(log_t), -log_t).squeeze(dim)
    return mu_out, logvar_out


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor | None = None,
                logvar_p: Tensor | None = None) -> Tensor:
    r"""Elementwise :math:`\mathrm{KL}(q \,\|\, p)` between diagonal Gaussians
    :math:`q = \mathcal{N}(\mu_q, \sigma_q^2)` and :math:`p = \mathcal{N}(\mu_p, \sigma_p^2)`:

    .. math::
        \mathrm{KL} = \tfrac12\Big(\log\frac{\sigma_p^2}{\sigma_q^2}
        + \frac{\sigma_q^2 + (\mu_q - \mu_p)^2}{\sigma_p^2} - 1\Big).

    Sum over the latent axis for the KL of the whole diagonal Gaussian.

    Args:
        mu_q, logvar_q (torch.Tensor): the posterior's mean and log-variance.
        mu_p, logvar_p (torch.Tensor, optional): the prior's; ``None`` = 0 (the
            standard normal). Broadcast against ``mu_q``. (default: ``None``)

    Shapes:
        - **input:** :math:`(*)` each (broadcastable)
        - **output:** :math:`(*)`, one KL per coordinate
    """
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0)


__all__ = ["product_of_experts", "gaussian_kl"]
