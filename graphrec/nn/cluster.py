"""Clustering of representation rows (k-means), used by the intent-learning models."""
from __future__ import annotations

import torch
from torch import Tensor

#: rows scored against the centroids at once: an ``(8192, k)`` block stays in cache on a CPU (about
#: 2x faster than one ``(N, k)`` matrix for ICSRec's 131k Beauty rows and 256 intents) and bounds memory
NEAREST_CHUNK = 8192


def nearest_centroid(x: Tensor, centroids: Tensor) -> Tensor:
    r"""Index of the nearest row of ``centroids (k, d)`` for every row of ``x (N, d)``
    under squared Euclidean distance,
    :math:`\arg\min_k \lVert\mathbf{x}-\mathbf{c}_k\rVert^2 = \arg\min_k \lVert\mathbf{c}_k\rVert^2
    - 2\,\mathbf{x}^\top\mathbf{c}_k` (the row's own norm moves no argmin; ties go to the lowest
    index). One fused ``addmm`` per block of :data:`NEAREST_CHUNK` rows."""
    norms = (centroids * centroids).sum(1)
    return torch.cat([torch.addmm(norms, rows, centroids.t(), alpha=-2.0).argmin(1)
                      for rows in x.split(NEAREST_CHUNK)]) if x.size(0) else x.new_zeros(0, dtype=torch.long)


def kmeans(x: Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None,
           init: Tensor | None = None, restarts: int = 1, split_empty: bool = False) -> tuple[Tensor, Tensor]:
    r"""Lloyd's k-means in torch (squared Euclidean distance, as faiss' default in ICLRec).

    Centroids start at ``k`` distinct random points (or ``init``); each iteration assigns
    every point to its nearest centroid (:func:`nearest_centroid`) and moves every
    non-empty cluster to the mean of its points:

    .. math::
        a_n = \arg\min_k \lVert \mathbf{x}_n - \mathbf{c}_k \rVert^2, \qquad
        \mathbf{c}_k \leftarrow \frac{1}{|\{n : a_n = k\}|} \sum_{n : a_n = k} \mathbf{x}_n

    An empty cluster keeps its centroid, or with ``split_empty`` takes half of the
    largest cluster (faiss' rule: the two centroids become :math:`\mathbf{c}(1 \pm
    \epsilon)`, signs alternating over dimensions, :math:`\epsilon = 1/1024`). With
    ``restarts > 1`` the whole fit is repeated from new random points and the one with
    the lowest inertia :math:`\sum_n \lVert \mathbf{x}_n - \mathbf{c}_{a_n} \rVert^2`
    is kept (faiss' ``nredo``; ICLRec and ICSRec use 5 with ``split_empty``).
    Fully vectorised: one ``(N, k)`` distance matrix per iteration.

    Args:
        x (torch.Tensor): points :math:`(N, d)`.
        k (int): clusters; capped at :math:`N`.
        iters (int, optional): Lloyd iterations. (default: ``20``)
        generator (torch.Generator, optional): draws the initial points. (default: ``None``)
        init (torch.Tensor, optional): initial centroids :math:`(k, d)`; only with one
            restart. (default: ``None``)
        restarts (int, optional): fits from different initial points, best kept.
            (default: ``1``)
        split_empty (bool, optional): re-seed empty clusters by splitting the largest.
            (default: ``False``)

    Returns:
        ``(centroids (k, d), assignment (N,))``.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
        >>> c, a = kmeans(x, 2, init=x[[0, 2]])
        >>> a.tolist()
        [0, 0, 1, 1]
    """
    if restarts < 1:
        raise ValueError(f"kmeans: restarts must be >= 1, got {restarts}")
    if init is not None and restarts > 1:
        raise ValueError("kmeans: init fixes the starting centroids, so restarts > 1 would repeat one fit")
    best: tuple[Tensor, Tensor, float] | None = None
    for _ in range(restarts):
        c = _lloyd(x, min(k, x.size(0)), iters, generator, init, split_empty)
        a = nearest_centroid(x, c)
        inertia = float(((x - c[a]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (c, a, inertia)
    return best[0], best[1]


def intent_centroids(x: Tensor, k: int, iters: int = 20, restarts: int = 1, split_empty: bool = False,
                     seed: int = -1) -> Tensor:
    """The centroids of :func:`kmeans` over ``x``, its draws seeded by ``seed`` afresh at
    every call (``-1``: the global generator): the E-step of the intent models."""
    gen = torch.Generator().manual_seed(seed) if seed >= 0 else None
    return kmeans(x, k, iters, generator=gen, restarts=restarts, split_empty=split_empty)[0]


#: faiss' relative perturbation when an empty cluster takes half of a large one
SPLIT_EPS = 1.0 / 1024.0


def _lloyd(x: Tensor, k: int, iters: int, generator: torch.Generator | None, init: Tensor | None,
           split_empty: bool) -> Tensor:
    n = x.size(0)
    if init is None:
        idx = torch.randperm(n, generator=generator)[:k].to(x.device)
        c = x[idx].clone()
    else:
        c = init.clone()
    sign = torch.ones(x.size(1), dtype=x.dtype, device=x.device)
    sign[1::2] = -1.0
    for _ in range(iters):
        a = nearest_centroid(x, c)
        sums = torch.zeros_like(c).index_add_(0, a, x)
        cnt = torch.bincount(a, minlength=k)
        nonempty = cnt > 0
        c[nonempty] = sums[nonempty] / cnt[nonempty, None].to(x.dtype)
        if split_empty:
            for j in torch.nonzero(~nonempty).flatten().tolist():
                big = int(cnt.argmax())
                if int(cnt[big]) < 2:
                    break
                base = c[big].clone()
                c[j], c[big] = base * (1 + SPLIT_EPS * sign), base * (1 - SPLIT_EPS * sign)
                cnt[j] = cnt[big] // 2
                cnt[big] -= cnt[j]
    return c


__all__ = ["kmeans", "nearest_centroid", "intent_centroids"]
