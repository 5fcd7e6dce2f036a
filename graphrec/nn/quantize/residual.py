"""Residual vector quantiser with k-means initialisation, a Sinkhorn-balanced last level,
usage statistics and an optional dead-code reset."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.nn.cluster import kmeans, nearest_centroid
from graphrec.nn.quantize.sinkhorn import sinkhorn_assign


class QuantizerOutput(NamedTuple):
    """What :class:`ResidualQuantizer` returns.

    Attributes:
        quantized: :math:`\\hat{\\mathbf{z}}` with the straight-through gradient, :math:`(N, D)`.
        codes: the code of every level, :math:`(N, L)` long.
        loss: the codebook + commitment loss averaged over the levels (a scalar).
        residuals: the (detached) input :math:`\\boldsymbol{\\rho}_{l-1}` of every level, :math:`(N, L, D)`.
    """

    quantized: Tensor
    codes: Tensor
    loss: Tensor
    residuals: Tensor


def squared_distances(x: Tensor, codebook: Tensor) -> Tensor:
    r"""Squared Euclidean distances :math:`\lVert\mathbf{x}_n - \mathbf{e}_k\rVert^2` as an
    :math:`(N, K)` matrix (the same expansion as :func:`~graphrec.nn.cluster.nearest_centroid`)."""
    return (x * x).sum(1, keepdim=True) - 2 * x @ codebook.t() + (codebook * codebook).sum(1)[None, :]


def usage_from_counts(counts: Tensor) -> dict[str, Tensor]:
    r"""Usage statistics of codebooks from per-level counts :math:`c_{lk}` :math:`(L, K)`:
    ``counts``, ``used_share`` :math:`|\{k : c_{lk} > 0\}| / K` and ``perplexity``
    :math:`\exp(-\sum_k p_{lk} \log p_{lk})` with :math:`p_{lk} = c_{lk} / \sum_{k'} c_{lk'}`
    (:math:`K` for perfectly even use, 1 when one code takes everything; 0 for an unused level)."""
    counts = counts.double()
    total = counts.sum(1, keepdim=True)
    p = counts / total.clamp_min(1)
    entropy = -(p * p.clamp_min(1e-300).log()).sum(1)
    perplexity = torch.where(total.squeeze(1) > 0, entropy.exp(), torch.zeros_like(entropy))
    return {"counts": counts.long(), "used_share": (counts > 0).double().mean(1), "perplexity": perplexity}


class ResidualQuantizer(nn.Module):
    r"""Residual vector quantiser (RQ-VAE, `Lee et al., CVPR 2022 <https://arxiv.org/abs/2203.01941>`_)
    as GSERec's S3 uses it: :math:`L` codebooks of :math:`K` codes each quantise what the previous
    levels left over,

    .. math::
        \boldsymbol{\rho}_0 = \mathbf{z}, \qquad
        k_l = \arg\min_k \lVert \boldsymbol{\rho}_{l-1} - \mathbf{e}^{(l)}_k \rVert^2, \qquad
        \boldsymbol{\rho}_l = \boldsymbol{\rho}_{l-1} - \mathbf{e}^{(l)}_{k_l}, \qquad
        \hat{\mathbf{z}} = \mathbf{z} + \mathrm{sg}\Big(\sum_{l=1}^{L} \mathbf{e}^{(l)}_{k_l} - \mathbf{z}\Big)

    (straight-through: the gradient of :math:`\hat{\mathbf{z}}` w.r.t. :math:`\mathbf{z}` is the
    identity), with the loss

    .. math::
        \mathcal{L}_{vq} = \frac{1}{L}\sum_{l=1}^{L}
        \mathrm{MSE}\big(\mathrm{sg}(\boldsymbol{\rho}_{l-1}), \mathbf{e}^{(l)}_{k_l}\big)
        + \beta\, \mathrm{MSE}\big(\boldsymbol{\rho}_{l-1}, \mathrm{sg}(\mathbf{e}^{(l)}_{k_l})\big).

    The residual chain uses detached codes, so the codebook of level :math:`l` learns only from its
    own codebook term and the encoder receives every level's commitment term (in LC-Rec's code the
    residual after a straight-through level carries no gradient, so deeper commitment terms do not
    reach the encoder; the loss values are the same).

    In training mode, the last level assigns codes with :func:`~graphrec.nn.quantize.sinkhorn_assign`
    on the batch's distances (``sinkhorn_last_level``) to spread its usage; levels before it, and
    every level in eval mode, take the nearest code. On the first training batch the codebooks are
    initialised by k-means (``kmeans_iters`` Lloyd iterations, level by level on the residuals); a
    batch with fewer than :math:`K` points fills the remaining codes with random points of it.

    Usage counts are kept per level (``counts`` since :meth:`reset_usage`, :meth:`usage_stats`). With
    ``dead_code_window > 0``, every ``dead_code_window`` training batches the codes that no point
    chose during the window are re-seeded from random residuals of the current batch
    (:meth:`dead_code_reset`); GSERec itself relies on Sinkhorn alone, so this is off by default.

    Args:
        num_levels (int, optional): levels :math:`L`. (default: ``4``)
        num_codes (int, optional): codes per level :math:`K`. (default: ``256``)
        dim (int, optional): code dimension :math:`D`. (default: ``32``)
        beta (float, optional): commitment weight :math:`\beta`. (default: ``0.25``)
        sinkhorn_last_level (bool, optional): balanced assignment at the last level in training.
            (default: ``True``)
        sinkhorn_epsilon (float, optional): Sinkhorn :math:`\varepsilon`. (default: ``0.003``)
        sinkhorn_iters (int, optional): Sinkhorn iterations. (default: ``50``)
        kmeans_iters (int, optional): k-means iterations of the initialisation. (default: ``100``)
        dead_code_window (int, optional): training batches per dead-code window; ``0`` turns the
            reset off. (default: ``0``)

    Shapes:
        - **input:** :math:`\mathbf{z}` :math:`(N, D)`
        - **output:** :class:`QuantizerOutput` (quantized :math:`(N, D)`, codes :math:`(N, L)`,
          loss :math:`()`, residuals :math:`(N, L, D)`)

    Example:
        >>> rq = ResidualQuantizer(num_levels=2, num_codes=4, dim=3)
        >>> out = rq(torch.randn(10, 3), generator=torch.Generator().manual_seed(0))  # k-means init
        >>> out.codes.shape, bool(rq.initialized)
        (torch.Size([10, 2]), True)
    """

    def __init__(self, num_levels: int = 4, num_codes: int = 256, dim: int = 32, beta: float = 0.25,
                 sinkhorn_last_level: bool = True, sinkhorn_epsilon: float = 0.003, sinkhorn_iters: int = 50,
                 kmeans_iters: int = 100, dead_code_window: int = 0) -> None:
        super().__init__()
        self.num_levels, self.num_codes, self.dim, self.beta = num_levels, num_codes, dim, beta
        self.sinkhorn_last_level = sinkhorn_last_level
        self.sinkhorn_epsilon, self.sinkhorn_iters = sinkhorn_epsilon, sinkhorn_iters
        self.kmeans_iters, self.dead_code_window = kmeans_iters, dead_code_window
        self.codebooks = nn.Parameter(torch.empty(num_levels, num_codes, dim))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("counts", torch.zeros(num_levels, num_codes, dtype=torch.long))
        # usage within the current dead-code window, and batches seen in it
        self.register_buffer("window_counts", torch.zeros(num_levels, num_codes, dtype=torch.long))
        self.register_buffer("window_steps", torch.zeros((), dtype=torch.long))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform codebooks in :math:`\\pm 1/K` (replaced by k-means on the first training batch)."""
        nn.init.uniform_(self.codebooks, -1.0 / self.num_codes, 1.0 / self.num_codes)
        self.initialized.fill_(False)
        self.reset_usage()

    def reset_usage(self) -> None:
        """Zero the usage counts and the dead-code window."""
        self.counts.zero_()
        self.window_counts.zero_()
        self.window_steps.zero_()

    @torch.no_grad()
    def init_codebooks(self, z: Tensor, generator: torch.Generator | None = None) -> None:
        """k-means initialisation, level by level on the residuals of ``z`` :math:`(N, D)`."""
        r = z.detach()
        for level in range(self.num_levels):
            c, _ = kmeans(r, self.num_codes, iters=self.kmeans_iters, generator=generator)
            if c.size(0) < self.num_codes:  # fewer points than codes: the rest are random points
                extra = torch.randint(r.size(0), (self.num_codes - c.size(0),), generator=generator)
                c = torch.cat([c, r[extra.to(r.device)]], 0)
            self.codebooks[level].copy_(c)
            r = r - c[nearest_centroid(r, c)]
        self.initialized.fill_(True)

    def assign(self, residual: Tensor, level: int, sinkhorn: bool) -> Tensor:
        """Codes :math:`(N,)` of level ``level`` for ``residual`` :math:`(N, D)`: nearest code, or the
        Sinkhorn-balanced assignment with ``sinkhorn=True``."""
        codebook = self.codebooks[level].detach()
        if sinkhorn:
            return sinkhorn_assign(squared_distances(residual.detach(), codebook),
                                   self.sinkhorn_epsilon, self.sinkhorn_iters)
        return nearest_centroid(residual.detach(), codebook)

    def forward(self, z: Tensor, generator: torch.Generator | None = None,
                sinkhorn_last_level: bool | None = None) -> QuantizerOutput:
        """Quantise ``z`` :math:`(N, D)`; ``generator`` drives the k-means initialisation and the
        dead-code reset; ``sinkhorn_last_level`` overrides the mode's choice (Sinkhorn in training
        when enabled, nearest code in eval)."""
        if self.training and not bool(self.initialized):
            self.init_codebooks(z, generator)
        use_sk = (self.training and self.sinkhorn_last_level) if sinkhorn_last_level is None else sinkhorn_last_level
        residual = z
        residuals, codes, losses = [], [], []
        quantized = torch.zeros_like(z)
        for level in range(self.num_levels):
            k = self.assign(residual, level, use_sk and level == self.num_levels - 1)
            e = self.codebooks[level][k]
            losses.append(F.mse_loss(e, residual.detach()) + self.beta * F.mse_loss(residual, e.detach()))
            residuals.append(residual.detach())
            codes.append(k)
            quantized = quantized + e.detach()
            residual = residual - e.detach()
        codes_t = torch.stack(codes, 1)
        residuals_t = torch.stack(residuals, 1)
        if self.training:
            self._count(codes_t, residuals_t, generator)
        loss = torch.stack(losses).mean() if losses else z.new_zeros(())
        return QuantizerOutput(z + (quantized - z).detach(), codes_t, loss, residuals_t)

    @torch.no_grad()
    def _count(self, codes: Tensor, residuals: Tensor, generator: torch.Generator | None) -> None:
        offsets = torch.arange(self.num_levels, device=codes.device) * self.num_codes
        batch = torch.bincount((codes + offsets).flatten(), minlength=self.num_levels * self.num_codes)
        batch = batch.view(self.num_levels, self.num_codes)
        self.counts += batch
        if self.dead_code_window > 0:
            self.window_counts += batch
            self.window_steps += 1
            if int(self.window_steps) >= self.dead_code_window:
                self.dead_code_reset(residuals, generator)

    @torch.no_grad()
    def dead_code_reset(self, batch_residuals: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Re-seed every code unused during the current window (``window_counts == 0``) with a random
        residual of the current batch at its level, then start a new window.

        Args:
            batch_residuals (torch.Tensor): the residuals :math:`(N, L, D)` of a batch
                (:attr:`QuantizerOutput.residuals`).
            generator (torch.Generator, optional): draws the residuals. (default: ``None``)

        Returns:
            the number of codes re-seeded per level, :math:`(L,)` long.
        """
        reset = torch.zeros(self.num_levels, dtype=torch.long)
        n = batch_residuals.size(0)
        for level in range(self.num_levels):
            dead = (self.window_counts[level] == 0).nonzero().flatten()
            if dead.numel() == 0 or n == 0:
                continue
            pick = torch.randint(n, (dead.numel(),), generator=generator).to(batch_residuals.device)
            self.codebooks[level, dead] = batch_residuals[pick, level].to(self.codebooks.dtype)
            reset[level] = dead.numel()
        self.window_counts.zero_()
        self.window_steps.zero_()
        return reset

    def usage_stats(self) -> dict[str, Tensor]:
        """Per-level ``counts`` :math:`(L, K)`, ``used_share`` :math:`(L,)` and ``perplexity``
        :math:`(L,)` of the codes chosen in training since :meth:`reset_usage`
        (see :func:`usage_from_counts`)."""
        return usage_from_counts(self.counts)

    def extra_repr(self) -> str:
        return (f"num_levels={self.num_levels}, num_codes={self.num_codes}, dim={self.dim}, beta={self.beta}, "
                f"sinkhorn_last_level={self.sinkhorn_last_level}")


__all__ = ["QuantizerOutput", "ResidualQuantizer", "squared_distances", "usage_from_counts"]
