r"""Held-out linear :math:`R^2` probes: how much of a representation a set of covariates explains.

HMV-CRL (spec, section 4.2) regresses each coordinate of the preference latent
:math:`E_q[z_f]` on the exposure covariates and reports the held-out, variance-weighted
:math:`R^2`; a low value means the preference channel did not absorb exposure (the same probe
on :math:`z_p` is the control and should be high).

For features :math:`X` and targets :math:`Y \in \mathbb{R}^{n \times k}`, split into train
users :math:`\mathcal{T}` and test users :math:`\mathcal{S}`:

1. the features are standardised with the **train** mean and standard deviation only (columns
   constant on the train rows carry nothing beyond the intercept and are dropped);
2. each target column gets an intercept and a linear fit on the train rows, by OLS, or by
   ridge :math:`\min_{\beta} \|y - \beta_0 - X\beta\|_2^2 + \alpha \|\beta\|_2^2` (intercept not
   penalised) when ``alpha > 0`` or when the standardised train design is ill-conditioned
   (condition number above ``max_condition``, or fewer train rows than features), in which
   case ``ridge_alpha`` (the spec's :math:`\alpha = 1`) is used;
3. on the test rows, with :math:`\bar y_j` the **test** mean of target :math:`j`,

.. math::
    \mathrm{SSE}_j = \sum_{i \in \mathcal{S}} (y_{ij} - \hat y_{ij})^2, \qquad
    \mathrm{SST}_j = \sum_{i \in \mathcal{S}} (y_{ij} - \bar y_j)^2, \qquad
    R^2_j = 1 - \frac{\mathrm{SSE}_j}{\mathrm{SST}_j}, \qquad
    R^2 = 1 - \frac{\sum_j \mathrm{SSE}_j}{\sum_j \mathrm{SST}_j} .

The pooled :math:`R^2` weights each coordinate by its test variance. Held-out :math:`R^2` can be
negative (a fit worse than the test mean); with unrelated targets it is about
:math:`-p / n_{\mathrm{test}}`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrec.causal._array import as_array as _as_array

__all__ = ["r2_probe", "held_out_split"]


def held_out_split(n: int, test_share: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic random split of ``range(n)`` into train and test indices.

    Args:
        n (int): number of rows (at least 2).
        test_share (float): share of rows in the test set, in ``(0, 1)``; rounded, and kept
            between 1 and ``n - 1`` rows. (default: ``0.2``)
        seed (int): seed of :func:`numpy.random.default_rng`. (default: ``0``)

    Returns:
        tuple[numpy.ndarray, numpy.ndarray]: sorted int64 ``(train_idx, test_idx)``, disjoint,
        covering ``range(n)``.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share must be in (0, 1), got {test_share!r}")
    n = int(n)
    n_test = min(max(int(round(n * test_share)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]).astype(np.int64), np.sort(order[:n_test]).astype(np.int64)


def _rows(index: Any, n: int, name: str) -> np.ndarray:
    """A boolean mask or integer indices (array, list or tensor) as sorted unique int64 rows."""
    if hasattr(index, "detach") and hasattr(index, "cpu"):
        index = index.detach().cpu().numpy()
    arr = np.asarray(index)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D boolean mask or index array, got shape {arr.shape}")
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise ValueError(f"{name} is a boolean mask of length {arr.shape[0]} but there are {n} rows")
        return np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a boolean mask or integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise ValueError(f"{name} has indices outside [0, {n})")
    return np.unique(np.where(arr < 0, arr + n, arr))


def r2_probe(
    features: Any,
    targets: Any,
    train: Any,
    test: Any | None = None,
    alpha: float = 0.0,
    *,
    ridge_alpha: float = 1.0,
    max_condition: float = 1e8,
) -> dict[str, Any]:
    r"""Held-out :math:`R^2` of a linear probe from ``features`` to ``targets``.

    See :mod:`graphrec.causal.probes` for the exact definition.

    Args:
        features (array or torch.Tensor): ``(n, p)`` covariates (1-D: one covariate).
        targets (array or torch.Tensor): ``(n, k)`` representation to explain (1-D: one
            coordinate).
        train (array or torch.Tensor): train rows, as a boolean mask of length ``n`` or
            integer indices.
        test (array or torch.Tensor, optional): test rows, same forms; must not overlap
            ``train``. (default: :obj:`None`, every row not in ``train``)
        alpha (float): ridge penalty on the standardised coefficients; ``0`` is OLS unless
            the design is ill-conditioned. (default: ``0.0``)
        ridge_alpha (float): the penalty used when OLS is replaced by ridge because the design
            is ill-conditioned (spec: :math:`\alpha = 1`). (default: ``1.0``)
        max_condition (float): largest condition number of the standardised train design
            accepted for OLS. (default: ``1e8``)

    Returns:
        dict: ``r2`` (float, pooled held-out :math:`R^2`); ``r2_per_target`` (``(k,)``
        array, NaN for a target constant on the test rows); ``n_train``, ``n_test``,
        ``n_features`` (ints); ``ridge`` (bool, whether ridge was used) and ``alpha`` (the
        penalty used, ``0.0`` for OLS); ``ill_conditioned`` (bool) and ``condition_number``
        (float); ``dropped_features`` (indices of features constant on the train rows);
        ``feature_mean`` and ``feature_scale`` (``(p,)`` train statistics used to standardise;
        scale 1 for dropped features); ``predictions`` (``(n_test, k)`` array, rows in the
        sorted order of ``test``); ``test_index`` (those rows).
    """
    X = _as_array(features, "features")
    Y = _as_array(targets, "targets")
    X = X[:, None] if X.ndim == 1 else X
    Y = Y[:, None] if Y.ndim == 1 else Y
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ValueError(f"features has {n} rows but targets has {Y.shape[0]}")
    if alpha < 0 or ridge_alpha <= 0:
        raise ValueError(f"alpha must be >= 0 and ridge_alpha > 0, got {alpha!r} and {ridge_alpha!r}")
    tr = _rows(train, n, "train")
    if test is None:
        te = np.setdiff1d(np.arange(n), tr)
    else:
        te = _rows(test, n, "test")
        overlap = np.intersect1d(tr, te)
        if overlap.size:
            raise ValueError(f"train and test share {overlap.size} rows (first: {int(overlap[0])})")
    if tr.size < 2 or te.size < 2:
        raise ValueError(f"need at least 2 train and 2 test rows, got {tr.size} and {te.size}")

    # every statistic below comes from the train rows only: nothing of the test set leaks in
    mean = X[tr].mean(axis=0)
    scale = X[tr].std(axis=0)
    dropped = np.flatnonzero(scale == 0)
    scale[dropped] = 1.0
    keep = np.setdiff1d(np.arange(X.shape[1]), dropped)
    Xs = (X[:, keep] - mean[keep]) / scale[keep]
    y_mean = Y[tr].mean(axis=0)
    # centring both sides on the train means is the unpenalised intercept
    U, s, Vt = np.linalg.svd(Xs[tr], full_matrices=False)
    p = Xs.shape[1]
    if p == 0:
        cond, ill = 1.0, False
    else:
        cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
        ill = bool(tr.size <= p or cond > max_condition)
    ridge = bool(alpha > 0 or ill)
    used = float(alpha if alpha > 0 else ridge_alpha) if ridge else 0.0
    if p == 0:
        coef = np.zeros((0, Y.shape[1]))
    else:
        # OLS and ridge from one SVD: beta = V diag(s / (s^2 + alpha)) U^T (y - ybar)
        shrink = s / (s * s + used)
        coef = Vt.T @ (shrink[:, None] * (U.T @ (Y[tr] - y_mean)))
    pred = y_mean + Xs[te] @ coef
    resid = Y[te] - pred
    sse = (resid * resid).sum(axis=0)
    dev = Y[te] - Y[te].mean(axis=0)
    sst = (dev * dev).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.nan)
    total = float(1.0 - sse.sum() / sst.sum()) if sst.sum() > 0 else float("nan")
    return {
        "r2": total,
        "r2_per_target": per,
        "n_train": int(tr.size),
        "n_test": int(te.size),
        "n_features": int(X.shape[1]),
        "ridge": ridge,
        "alpha": used,
        "ill_conditioned": ill,
        "condition_number": cond,
        "dropped_features": dropped.astype(np.int64),
        "feature_mean": mean,
        "feature_scale": scale,
        "predictions": pred,
        "test_index": te,
    }
