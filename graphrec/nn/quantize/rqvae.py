"""RQ-VAE towers and GSERec's two-tower RQ-VAE with the cross-domain contrastive loss (S3)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.nn.losses import info_nce
from graphrec.nn.quantize.residual import ResidualQuantizer


def _mlp(dims: Sequence[int]) -> nn.Sequential:
    """Linear layers through ``dims`` with a ReLU between two layers and none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class TowerOutput(NamedTuple):
    """What :class:`RQVAETower` returns: the pre-quantisation ``latent`` :math:`(N, D)`, the
    straight-through ``quantized`` latent :math:`(N, D)`, ``codes`` :math:`(N, L)`, the quantiser
    loss ``vq`` (mean over levels) and the reconstruction ``recon`` :math:`(N, F)`."""

    latent: Tensor
    quantized: Tensor
    codes: Tensor
    vq: Tensor
    recon: Tensor


class RQVAETower(nn.Module):
    r"""One RQ-VAE tower: an MLP encoder, a :class:`ResidualQuantizer` and the mirrored decoder,

    .. math::
        \mathbf{z} = \mathrm{Enc}(\mathbf{x}), \qquad
        \hat{\mathbf{z}} = \mathrm{RQ}(\mathbf{z}), \qquad
        \hat{\mathbf{x}} = \mathrm{Dec}(\hat{\mathbf{z}}),

    with :math:`\mathrm{Enc}` the layers :math:`F \to h_1 \to \dots \to h_m \to D` (ReLU between,
    none after the last, no dropout or normalisation) and :math:`\mathrm{Dec}` the reverse.
    GSERec uses :math:`1024 \to 512 \to 256 \to 128 \to 64 \to 32` for BGE-M3 text embeddings
    (``hidden=(512, 256, 128, 64)``); the default suits 384-d MiniLM embeddings.

    Args:
        in_dim (int): input size :math:`F`.
        hidden (Sequence[int], optional): hidden sizes of the encoder. (default: ``(256, 128, 64)``)
        latent_dim (int, optional): latent and code size :math:`D`. (default: ``32``)
        num_levels (int, optional): quantiser levels :math:`L`. (default: ``4``)
        num_codes (int, optional): codes per level :math:`K`. (default: ``256``)
        beta (float, optional): commitment weight. (default: ``0.25``)
        sinkhorn_last_level (bool, optional): balanced last level in training. (default: ``True``)
        sinkhorn_epsilon (float, optional): Sinkhorn :math:`\varepsilon`. (default: ``0.003``)
        sinkhorn_iters (int, optional): Sinkhorn iterations. (default: ``50``)
        kmeans_iters (int, optional): k-means iterations of the codebook initialisation. (default: ``100``)
        dead_code_window (int, optional): dead-code reset window in batches, ``0`` off. (default: ``0``)

    Shapes:
        - **input:** :math:`(N, F)`
        - **output:** :class:`TowerOutput`
    """

    def __init__(self, in_dim: int, hidden: Sequence[int] = (256, 128, 64), latent_dim: int = 32,
                 num_levels: int = 4, num_codes: int = 256, beta: float = 0.25, sinkhorn_last_level: bool = True,
                 sinkhorn_epsilon: float = 0.003, sinkhorn_iters: int = 50, kmeans_iters: int = 100,
                 dead_code_window: int = 0) -> None:
        super().__init__()
        self.in_dim, self.hidden, self.latent_dim = in_dim, tuple(hidden), latent_dim
        dims = [in_dim, *self.hidden, latent_dim]
        self.encoder = _mlp(dims)
        self.decoder = _mlp(dims[::-1])
        self.quantizer = ResidualQuantizer(num_levels, num_codes, latent_dim, beta, sinkhorn_last_level,
                                           sinkhorn_epsilon, sinkhorn_iters, kmeans_iters, dead_code_window)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Xavier-normal weights and zero biases, as LC-Rec's RQ-VAE MLPs: with PyTorch's default
        # init the biases dominate a deep MLP's output, every latent lands near one point and the
        # first-level codebook collapses onto a single code after the first steps.
        for m in [*self.encoder, *self.decoder]:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)
        self.quantizer.reset_parameters()

    def forward(self, x: Tensor, generator: torch.Generator | None = None,
                sinkhorn_last_level: bool | None = None) -> TowerOutput:
        z = self.encoder(x)
        q = self.quantizer(z, generator=generator, sinkhorn_last_level=sinkhorn_last_level)
        return TowerOutput(z, q.quantized, q.codes, q.loss, self.decoder(q.quantized))

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Pre-quantisation latents :math:`(N, D)`."""
        return self.encoder(x)


class TwoTowerRQVAE(nn.Module):
    r"""GSERec's S3: two independent RQ-VAE towers, ``rec`` on the recommendation-side text
    embedding :math:`T^r_u` and ``search`` on the search-side one :math:`T^s_u`, trained with

    .. math::
        \mathcal{L}_{RQ} = \underbrace{\mathrm{MSE}(\hat{T}^r, T^r) + \mathrm{MSE}(\hat{T}^s, T^s)}_{recon}
        + w_{vq}\,\underbrace{\tfrac{1}{2}\big(\mathcal{L}^r_{vq} + \mathcal{L}^s_{vq}\big)}_{vq}
        + w_{cl}\,\mathcal{L}_{RQ\text{-}CL},

    where :math:`\mathcal{L}_{vq}` of a tower is already the mean over its :math:`L` levels (so
    ``vq`` is the mean over all :math:`2L` levels) and :math:`\mathcal{L}_{RQ\text{-}CL}` is InfoNCE
    (:func:`~graphrec.nn.losses.info_nce`, cosine) between the normalised pre-quantisation latents of
    the same user in the two domains, every other of the :math:`2B - 2` latents of the batch a
    negative, averaged over the :math:`2B` anchors:

    .. math::
        \mathcal{L}_{RQ\text{-}CL} = -\frac{1}{2B}\sum_{a}\log
        \frac{\exp(\cos(\mathbf{z}_a, \mathbf{z}_a^+)/\tau)}
        {\sum_{b \ne a} \exp(\cos(\mathbf{z}_a, \mathbf{z}_b)/\tau)}.

    Args:
        in_dim (int): input size of the ``rec`` tower (and of ``search`` unless ``search_in_dim``).
        hidden (Sequence[int], optional): encoder hidden sizes. (default: ``(256, 128, 64)``)
        latent_dim (int, optional): latent/code size. (default: ``32``)
        num_levels (int, optional): levels per tower. (default: ``4``)
        num_codes (int, optional): codes per level. (default: ``256``)
        vq_weight (float, optional): :math:`w_{vq}`. (default: ``1.0``)
        rq_cl_weight (float, optional): :math:`w_{cl}` (:math:`\lambda_{RQ\text{-}CL}`). (default: ``1e-4``)
        temperature (float, optional): :math:`\tau`. (default: ``0.1``)
        search_in_dim (int, optional): input size of the ``search`` tower. (default: ``None``: ``in_dim``)
        **kwargs: the other :class:`RQVAETower` settings (``beta``, ``sinkhorn_last_level``,
            ``sinkhorn_epsilon``, ``sinkhorn_iters``, ``kmeans_iters``, ``dead_code_window``), shared
            by both towers.

    Shapes:
        - **input:** ``x_rec`` :math:`(B, F)`, ``x_search`` :math:`(B, F)`, row :math:`b` the same user
        - **output:** :meth:`loss` a dict of scalars; :meth:`codes` :math:`(B, 2, L)`
    """

    def __init__(self, in_dim: int, hidden: Sequence[int] = (256, 128, 64), latent_dim: int = 32,
                 num_levels: int = 4, num_codes: int = 256, vq_weight: float = 1.0, rq_cl_weight: float = 1e-4,
                 temperature: float = 0.1, search_in_dim: int | None = None, **kwargs) -> None:
        super().__init__()
        self.vq_weight, self.rq_cl_weight, self.temperature = vq_weight, rq_cl_weight, temperature
        self.num_levels, self.num_codes = num_levels, num_codes
        self.rec = RQVAETower(in_dim, hidden, latent_dim, num_levels, num_codes, **kwargs)
        self.search = RQVAETower(search_in_dim or in_dim, hidden, latent_dim, num_levels, num_codes, **kwargs)

    def reset_parameters(self) -> None:
        self.rec.reset_parameters()
        self.search.reset_parameters()

    def forward(self, x_rec: Tensor, x_search: Tensor,
                generator: torch.Generator | None = None) -> tuple[TowerOutput, TowerOutput]:
        return self.rec(x_rec, generator=generator), self.search(x_search, generator=generator)

    def rq_cl(self, z_rec: Tensor, z_search: Tensor) -> Tensor:
        """:math:`\\mathcal{L}_{RQ-CL}` of pre-quantisation latents :math:`(B, D)` of the same users."""
        return info_nce(z_rec, z_search, temperature=self.temperature, similarity="cos")

    def loss(self, x_rec: Tensor, x_search: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``{"loss", "recon", "vq", "rq_cl"}`` of a batch of users (see the class docstring)."""
        r, s = self(x_rec, x_search, generator=generator)
        recon = F.mse_loss(r.recon, x_rec) + F.mse_loss(s.recon, x_search)
        vq = (r.vq + s.vq) / 2
        rq_cl = self.rq_cl(r.latent, s.latent) if x_rec.size(0) > 1 else x_rec.new_zeros(())
        loss = recon + self.vq_weight * vq + self.rq_cl_weight * rq_cl
        return {"loss": loss, "recon": recon, "vq": vq, "rq_cl": rq_cl}

    @torch.no_grad()
    def codes(self, x_rec: Tensor, x_search: Tensor, batch_size: int = 65536) -> Tensor:
        """Nearest-neighbour codes :math:`(N, 2, L)` (``[:, 0]`` rec, ``[:, 1]`` search) of every
        level, whatever the module's mode (no Sinkhorn, no usage counting)."""
        was = self.training
        self.eval()
        try:
            out = [torch.stack([t.quantizer(t.encoder(x[i:i + batch_size])).codes
                                for t, x in ((self.rec, x_rec), (self.search, x_search))], 1)
                   for i in range(0, x_rec.size(0), batch_size)]
        finally:
            self.train(was)
        return torch.cat(out, 0) if out else torch.zeros(0, 2, self.num_levels, dtype=torch.long)


__all__ = ["RQVAETower", "TowerOutput", "TwoTowerRQVAE"]
