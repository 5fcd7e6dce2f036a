"""Clustering of representation rows (k-means), used by the intent-learning models."""
from __future__ import annotations

import torch
from torch import Tensor


def nearest_centroid(x: Tensor, centroids: Tensor) -> Tensor:
    r"""Index of the nearest row of ``centroids (k, d)`` for every row of ``x (N, d)``
    under squared Euclidean distance,
    :math:`\arg\min_k \lVert\mathbf{x}\rVert^2 - 2\,\mathbf{x}^\top\mathbf{c}_k + \lVert\mathbf{c}_k\rVert^2`
    (ties go to the lowest index). One ``(N, k)`` matrix product."""
    return ((x * x).sum(1, keepdim=True) - 2 * x @ centroids.t() + (centroids * centroids).sum(1)[None, :]).argmin(1)


def kmeans(x: Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None,
           init: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""Lloyd's k-means in torch (squared Euclidean distance, as faiss' default in ICLRec).

    Centroids start at ``k`` distinct random points (or ``init``); each iteration assigns
    every point to its nearest centroid (:func:`nearest_centroid`) and moves every
    non-empty cluster to the mean of its points (an empty cluster keeps its centroid):

    .. math::
        a_n = \arg\min_k \lVert \mathbf{x}_n - \mathbf{c}_k \rVert^2, \qquad
        \mathbf{c}_k \leftarrow \frac{1}{|\{n : a_n = k\}|} \sum_{n : a_n = k} \mathbf{x}_n

    Fully vectorised: one ``(N, k)`` distance matrix per iteration.

    Args:
        x (torch.Tensor): points :math:`(N, d)`.
        k (int): clusters; capped at :math:`N`.
        iters (int, optional): Lloyd iterations. (default: ``20``)
        generator (torch.Generator, optional): draws the initial points. (default: ``None``)
        init (torch.Tensor, optional): initial centroids :math:`(k, d)`. (default: ``None``)

    Returns:
        ``(centroids (k, d), assignment (N,))``.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
        >>> c, a = kmeans(x, 2, init=x[[0, 2]])
        >>> a.tolist()
        [0, 0, 1, 1]
    """
    n = x.size(0)
    k = min(k, n)
    if init is None:
        idx = torch.randperm(n, generator=generator)[:k].to(x.device)
        c = x[idx].clone()
    else:
        c = init.clone()
    for _ in range(iters):
        a = nearest_centroid(x, c)
        sums = torch.zeros_like(c).index_add_(0, a, x)
        cnt = torch.bincount(a, minlength=k)
        nonempty = cnt > 0
        c[nonempty] = sums[nonempty] / cnt[nonempty, None].to(x.dtype)
    return c, nearest_centroid(x, c)


__all__ = ["kmeans", "nearest_centroid"]
