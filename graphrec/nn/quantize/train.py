"""Fitting GSERec's two-tower RQ-VAE, assigning user codes with collision repair, and the
statistics that judge a code assignment (collision rate, codebook usage)."""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import Tensor

from graphrec.nn.quantize.residual import squared_distances, usage_from_counts
from graphrec.nn.quantize.rqvae import RQVAETower, TwoTowerRQVAE
from graphrec.nn.quantize.sinkhorn import sinkhorn_assign

log = logging.getLogger(__name__)


@dataclass
class RQVAEConfig:
    r"""Settings of GSERec's S3 (the defaults are the paper code's, ``index/run_index.py``).

    Model (passed to :class:`~graphrec.nn.quantize.TwoTowerRQVAE` by keyword):
        hidden ``(256, 128, 64)`` (``(512, 256, 128, 64)`` for 1024-d BGE-M3), latent_dim ``32``,
        num_levels ``4``, num_codes ``256``, beta ``0.25``, sinkhorn_last_level ``True``,
        sinkhorn_epsilon ``0.003``, sinkhorn_iters ``50``, kmeans_iters ``100``, dead_code_window ``0``
        (off), vq_weight ``1.0``, rq_cl_weight ``1e-4``, temperature ``0.1``.

    Optimisation:
        epochs ``500``, batch_size ``1024``, AdamW with lr ``1e-3`` and weight_decay ``1e-7``, a
        linear warm-up over warmup_epochs ``50`` then a linear decay to 0 at the last step, gradient
        norm clipped at grad_clip ``1.0``, the collision rate measured every eval_every ``10`` epochs
        (and after the last) and the state with the lowest one kept, seed ``2024``.
    """

    hidden: Sequence[int] = (256, 128, 64)
    latent_dim: int = 32
    num_levels: int = 4
    num_codes: int = 256
    beta: float = 0.25
    sinkhorn_last_level: bool = True
    sinkhorn_epsilon: float = 0.003
    sinkhorn_iters: int = 50
    kmeans_iters: int = 100
    dead_code_window: int = 0
    vq_weight: float = 1.0
    rq_cl_weight: float = 1e-4
    temperature: float = 0.1
    epochs: int = 500
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-7
    warmup_epochs: int = 50
    grad_clip: float = 1.0
    eval_every: int = 10
    seed: int = 2024
    _model_fields: ClassVar[tuple[str, ...]] = (
        "hidden", "latent_dim", "num_levels", "num_codes", "beta", "sinkhorn_last_level", "sinkhorn_epsilon",
        "sinkhorn_iters", "kmeans_iters", "dead_code_window", "vq_weight", "rq_cl_weight", "temperature")

    def model_kwargs(self) -> dict:
        """The keyword arguments of :class:`~graphrec.nn.quantize.TwoTowerRQVAE`."""
        d = asdict(self)
        return {k: d[k] for k in self._model_fields}


def collision_rate(codes: Tensor) -> float:
    r"""Share of users whose code tuple is not unique,
    :math:`\frac{1}{N}|\{u : \exists v \ne u,\ \mathbf{c}_v = \mathbf{c}_u\}|`, for codes
    :math:`(N, L)`; for :math:`(N, 2, L)` the mean over the two towers (GSERec's criterion)."""
    if codes.dim() == 3:
        return sum(collision_rate(codes[:, t]) for t in range(codes.size(1))) / codes.size(1)
    if codes.size(0) == 0:
        return 0.0
    _, inv, cnt = torch.unique(codes, dim=0, return_inverse=True, return_counts=True)
    return float((cnt[inv] > 1).double().mean())


def codebook_usage(codes: Tensor, num_codes: int) -> dict[str, Tensor]:
    """Usage of every level's codebook by codes :math:`(N, L)` (or :math:`(N, 2, L)`): ``counts``
    :math:`(L, K)`, ``used_share`` :math:`(L,)` and ``perplexity`` :math:`(L,)` (a leading tower
    dimension of 2 for 3-d codes); see :func:`~graphrec.nn.quantize.residual.usage_from_counts`."""
    lead = codes.shape[1:-1]
    flat = codes.reshape(codes.size(0), -1)  # (N, T*L)
    offsets = torch.arange(flat.size(1), device=codes.device) * num_codes
    counts = torch.bincount((flat + offsets).flatten(), minlength=flat.size(1) * num_codes)
    stats = usage_from_counts(counts.view(flat.size(1), num_codes))
    return {k: v.view(*lead, codes.size(-1), *v.shape[1:]) for k, v in stats.items()}


def _collision_groups(codes: Tensor) -> list[Tensor]:
    """The groups (index tensors, size > 1) of rows of ``codes (N, L)`` sharing a tuple, in tuple order."""
    _, inv, cnt = torch.unique(codes, dim=0, return_inverse=True, return_counts=True)
    rows = (cnt[inv] > 1).nonzero().flatten()
    if rows.numel() == 0:
        return []
    order = torch.argsort(inv[rows], stable=True)
    rows = rows[order]
    sizes = torch.unique_consecutive(inv[rows], return_counts=True)[1]
    return list(torch.split(rows, sizes.tolist()))


@torch.no_grad()
def _repair_tower(tower: RQVAETower, x: Tensor, codes: Tensor, rounds: int, exclude_taken: bool) -> tuple[Tensor, int]:
    """Collision repair of one tower's codes :math:`(N, L)` (see :func:`assign_codes`); returns the
    repaired codes and the number of rounds run. Groups are processed one after the other on the
    current codes, so a group never moves onto a code that an earlier group just took."""
    q = tower.quantizer
    last = q(tower.encoder(x), sinkhorn_last_level=False).residuals[:, -1]  # eval mode: nearest codes
    codebook = q.codebooks[-1].detach()
    codes = codes.clone()
    done = 0
    for _ in range(rounds):
        groups = _collision_groups(codes)
        if not groups:
            break
        before = codes[:, -1].clone()
        for grp in groups:
            cols = torch.arange(codebook.size(0), device=codes.device)
            if exclude_taken:  # the last codes held by other users with the group's prefix stay theirs
                same = (codes[:, :-1] == codes[grp[0], :-1]).all(1)
                same[grp] = False
                free = torch.ones_like(cols, dtype=torch.bool)
                free[codes[same, -1]] = False
                if int(free.sum()) >= grp.numel():
                    cols = cols[free]
            d = squared_distances(last[grp], codebook[cols])
            codes[grp, -1] = cols[sinkhorn_assign(d, q.sinkhorn_epsilon, q.sinkhorn_iters)]
        done += 1
        if torch.equal(before, codes[:, -1]):  # a fixed point: more rounds would change nothing
            break
    return codes, done


def _duplicated_rows(x: Tensor, rows: Tensor) -> int:
    """How many of ``rows`` have an input vector equal to another row's among them."""
    if rows.numel() == 0:
        return 0
    _, inv, cnt = torch.unique(x[rows], dim=0, return_inverse=True, return_counts=True)
    return int((cnt[inv] > 1).sum())


@torch.no_grad()
def assign_codes(model: TwoTowerRQVAE, x_rec: Tensor, x_search: Tensor, repair_rounds: int = 20,
                 exclude_taken: bool = True, return_report: bool = False) -> Tensor | tuple[Tensor, dict]:
    r"""GSERec's code assignment: the nearest code of every level for every user, then up to
    ``repair_rounds`` rounds of collision repair per tower, each round re-assigning the last level of
    every group of users that share a tuple with :func:`~graphrec.nn.quantize.sinkhorn_assign`
    over that group's last residuals (a balanced assignment spreads the group over the codes).

    With ``exclude_taken`` (our addition), the Sinkhorn assignment of a group runs over the last-level
    codes that no other user with the same first :math:`L-1` codes holds at that moment (all codes
    when fewer are free than the group has members); GSERec's code (``exclude_taken=False``) lets a
    group move onto an outsider's code, which makes a new collision for the next round, and on random
    data 20 rounds then leave collisions that this removes.
    Note that for a group smaller than the codebook the Sinkhorn plan is nearly flat over the codes a
    member "wins" against the rest of the group, so the chosen code is not always its nearest one.

    Repair stops early when no tuple collides or when a round changes nothing. It cannot separate
    users with identical inputs (identical residuals get identical Sinkhorn rows, hence the same
    code), nor a group larger than the codebook; those users stay collided and are counted in the
    report (``identical_inputs``), with the collisions before and after, which are also logged.

    Args:
        model (TwoTowerRQVAE): a fitted model.
        x_rec (torch.Tensor): rec-side inputs :math:`(N, F)`.
        x_search (torch.Tensor): search-side inputs :math:`(N, F)`.
        repair_rounds (int, optional): at most this many repair rounds per tower; ``0`` keeps the
            nearest codes. (default: ``20``)
        exclude_taken (bool, optional): repair only onto last-level codes free under the group's
            prefix. (default: ``True``)
        return_report (bool, optional): also return the report dict. (default: ``False``)

    Returns:
        codes :math:`(N, 2, L)` long (``[:, 0]`` rec, ``[:, 1]`` search), and with
        ``return_report`` a dict per tower (``"rec"``, ``"search"``) of ``collided_before``,
        ``collided_after`` (users), ``rate_before``, ``rate_after``, ``rounds``,
        ``identical_inputs`` (collided users whose input equals another collided user's).
    """
    was = model.training
    model.eval()
    try:
        codes = model.codes(x_rec, x_search)
        report: dict = {}
        for t, (name, tower, x) in enumerate((("rec", model.rec, x_rec), ("search", model.search, x_search))):
            c0 = codes[:, t].clone()  # codes[:, t] is overwritten below
            c, rounds = _repair_tower(tower, x, c0, repair_rounds, exclude_taken) if repair_rounds > 0 else (c0, 0)
            codes[:, t] = c
            n = max(c.size(0), 1)
            before = round(collision_rate(c0) * c.size(0))
            groups = _collision_groups(c)
            collided = torch.cat(groups) if groups else c.new_zeros(0)
            report[name] = {"collided_before": before, "collided_after": int(collided.numel()),
                            "rate_before": before / n, "rate_after": collided.numel() / n, "rounds": rounds,
                            "identical_inputs": _duplicated_rows(x, collided)}
            log.info("RQ-VAE %s codes: %d -> %d collided users after %d repair rounds (%d with identical inputs)",
                     name, before, collided.numel(), rounds, report[name]["identical_inputs"])
    finally:
        model.train(was)
    return (codes, report) if return_report else codes


def _linear_warmup_decay(warmup: int, total: int):
    """LR factor of step ``s``: :math:`s / w` during the warm-up, then :math:`(T - s)/(T - w)` down to 0
    (``transformers.get_linear_schedule_with_warmup``, as GSERec's ``index/`` uses)."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


def fit_rqvae(x_rec: Tensor, x_search: Tensor, config: RQVAEConfig | None = None,
              generator: torch.Generator | None = None, progress: bool = True) -> tuple[TwoTowerRQVAE, dict]:
    r"""Train GSERec's :class:`~graphrec.nn.quantize.TwoTowerRQVAE` on per-user text embeddings.

    AdamW on :math:`\mathcal{L}_{RQ}` over shuffled user batches, a linear warm-up then linear decay
    of the learning rate per step, gradient-norm clipping; every ``eval_every`` epochs (and after the
    last) the nearest-neighbour codes of all users are computed and the state with the lowest collision
    rate (:func:`collision_rate`, mean over the towers; the earliest on ties) is kept and returned. The codebooks are
    initialised by k-means on the first batch. A tqdm bar shows the loss, the collision rate and the
    codebook usage (mean share of codes used, mean perplexity over the :math:`2L` levels).

    Deterministic on CPU for a given ``generator`` (or ``config.seed``): the weights are drawn under a
    seed taken from it, and it drives the shuffling, the k-means initialisation and any dead-code reset;
    the global RNG is left untouched.

    Args:
        x_rec (torch.Tensor): rec-side inputs :math:`(N, F)`.
        x_search (torch.Tensor): search-side inputs :math:`(N, F')`, row :math:`u` the same user.
        config (RQVAEConfig, optional): settings. (default: ``None``: :class:`RQVAEConfig()`)
        generator (torch.Generator, optional): randomness. (default: ``None``: seeded by ``config.seed``)
        progress (bool, optional): show a tqdm bar. (default: ``True``)

    Returns:
        ``(model, history)``: the model (in eval mode) with the best state loaded, and a dict of lists
        ``loss``, ``recon``, ``vq``, ``rq_cl`` (epoch means), ``epoch_time`` (s), ``eval_epoch``,
        ``collision_rate``, ``used_share``, ``perplexity``, plus ``best_epoch`` and ``best_collision_rate``.
    """
    config = config or RQVAEConfig()
    if x_rec.size(0) != x_search.size(0):
        raise ValueError(f"x_rec and x_search must have the same users, got {x_rec.size(0)} and {x_search.size(0)}")
    g = generator if generator is not None else torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=g)))
        model = TwoTowerRQVAE(x_rec.size(1), search_in_dim=x_search.size(1), **config.model_kwargs())
    model.to(x_rec.device)
    n = x_rec.size(0)
    steps = max(1, math.ceil(n / config.batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _linear_warmup_decay(config.warmup_epochs * steps, config.epochs * steps))
    history: dict = {k: [] for k in ("loss", "recon", "vq", "rq_cl", "epoch_time", "eval_epoch", "collision_rate",
                                     "used_share", "perplexity")}
    best_state, best_rate, best_epoch = None, float("inf"), -1
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=config.epochs, unit="epoch", desc="RQ-VAE", dynamic_ncols=True)
    postfix: dict = {}
    try:
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(n, generator=g).to(x_rec.device)
            sums = {k: 0.0 for k in ("loss", "recon", "vq", "rq_cl")}
            for i in range(0, n, config.batch_size):
                idx = perm[i:i + config.batch_size]
                out = model.loss(x_rec[idx], x_search[idx], generator=g)
                opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                opt.step()
                sched.step()
                for k in sums:
                    sums[k] += float(out[k].detach()) * idx.numel() / n
            for k, v in sums.items():
                history[k].append(v)
            history["epoch_time"].append(time.perf_counter() - t0)
            postfix["loss"] = f"{sums['loss']:.4g}"
            if (epoch + 1) % max(1, config.eval_every) == 0 or epoch == config.epochs - 1:
                codes = model.codes(x_rec, x_search)
                rate = collision_rate(codes)
                usage = codebook_usage(codes, config.num_codes)
                history["eval_epoch"].append(epoch + 1)
                history["collision_rate"].append(rate)
                history["used_share"].append(float(usage["used_share"].mean()))
                history["perplexity"].append(float(usage["perplexity"].mean()))
                if rate < best_rate:
                    best_rate, best_epoch = rate, epoch + 1
                    best_state = copy.deepcopy(model.state_dict())
                postfix.update(coll=f"{rate:.4f}", used=f"{history['used_share'][-1]:.3f}",
                               ppl=f"{history['perplexity'][-1]:.1f}")
            if bar is not None:
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"], history["best_collision_rate"] = best_epoch, best_rate
    return model.eval(), history


__all__ = ["RQVAEConfig", "fit_rqvae", "assign_codes", "codebook_usage", "collision_rate"]
