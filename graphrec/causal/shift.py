r"""How far each channel of a representation moves under an intervention, and an iVAE rank check.

**Policy shift** (HMV-CRL spec, section 4.3). The same users are encoded twice, before and after
a change of exposure policy (the counterfactual sequences and the re-encoding live with the
models and the synthetic worlds; this module only measures the movement). For channel
:math:`c` with codes :math:`\mu_c(n) \in \mathbb{R}^{k_c}` of user :math:`n`:

.. math::
    \delta_c = \frac{\frac1N \sum_n \bigl\|\mu_c(n, \text{after}) - \mu_c(n, \text{before})\bigr\|_2}
                    {\sqrt{\operatorname{tr} \operatorname{Cov}\bigl(\mu_c(\cdot, \text{before})\bigr)}},

the mean displacement in units of the channel's spread before the shift (covariance with the
:math:`N - 1` denominator), and the stability :math:`\bar\rho_c = \frac{1}{k_c} \sum_j
\operatorname{corr}_n\bigl(\mu_{c,j}(n, \text{before}), \mu_{c,j}(n, \text{after})\bigr)`, the
Pearson correlation across users of each coordinate, averaged over the coordinates (a
coordinate constant before or after has no correlation and is left out of the mean). The spec
expects :math:`\delta_f \ll \delta_p`: the preference channel stays put while the platform
channel moves.

**Identifiability rank** (spec, section 2.4). The iVAE result for a conditionally factorial
exponential-family prior with :math:`m = 2k` natural parameters (Gaussian:
:math:`\lambda(u) = [\mu/\sigma^2, -1/(2\sigma^2)]`) needs points :math:`u_0, \dots, u_m` whose
differences :math:`\lambda(u_i) - \lambda(u_0)` are linearly independent. Over the users' stacked
natural parameters :math:`\Lambda \in \mathbb{R}^{N \times m}` that is the **affine** rank
(the rank of :math:`\Lambda` with its column means removed) reaching :math:`m`; the plain rank
of :math:`\Lambda` is reported too, as the spec words it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphrec.causal._array import as_array as _as_array

__all__ = ["channel_shift", "identifiability_rank", "gaussian_natural_parameters"]


def _columns(spec: Any, k: int, name: str) -> np.ndarray:
    if isinstance(spec, slice):
        cols = np.arange(k)[spec]
    else:
        raw = np.asarray(spec.detach().cpu() if hasattr(spec, "detach") else spec)
        if raw.ndim == 0:
            raw = raw[None]
        if raw.dtype == bool:
            raise ValueError(f"channel {name!r}: give a slice or integer indices, not a boolean mask")
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"channel {name!r}: indices must be integers, got dtype {raw.dtype}")
        cols = raw.astype(np.int64)
        if cols.size and (cols.min() < -k or cols.max() >= k):
            raise ValueError(f"channel {name!r} has indices outside [0, {k})")
        cols = np.where(cols < 0, cols + k, cols)
    if cols.size == 0:
        raise ValueError(f"channel {name!r} selects no dimension")
    return cols


def channel_shift(
    before: Any,
    after: Any,
    channels: Mapping[str, slice | Sequence[int] | Any] | None = None,
) -> dict[str, dict[str, Any]]:
    r"""Normalised displacement :math:`\delta_c` and stability of each channel's codes.

    See :mod:`graphrec.causal.shift` for the definitions.

    Args:
        before (array or torch.Tensor): ``(N, k)`` codes (e.g. posterior means) of ``N``
            users under the original policy.
        after (array or torch.Tensor): ``(N, k)`` codes of the same users, same order,
            after the shift.
        channels (dict, optional): ``{name: slice or list of column indices}``, e.g.
            ``{"platform": slice(0, 8), "preference": slice(8, 16)}``.
            (default: :obj:`None`, one channel ``"all"`` of every column)

    Returns:
        dict: per channel name, ``delta`` (float, :math:`\delta_c`), ``mean_distance`` (its
        numerator), ``scale`` (its denominator :math:`\sqrt{\operatorname{tr}
        \operatorname{Cov}}`), ``corr`` (float, mean per-coordinate correlation, NaN if no
        coordinate has one), ``corr_per_dim`` (``(k_c,)`` array, NaN where undefined) and
        ``dim`` (int, :math:`k_c`).
    """
    A = _as_array(before, "before", ndim=(2,))
    B = _as_array(after, "after", ndim=(2,))
    if A.shape != B.shape:
        raise ValueError(f"before has shape {A.shape} but after has {B.shape}: the same users must be encoded twice")
    if A.shape[0] < 2:
        raise ValueError(f"need at least 2 users, got {A.shape[0]}")
    if channels is None:
        channels = {"all": slice(None)}
    out: dict[str, dict[str, Any]] = {}
    for name, spec in channels.items():
        cols = _columns(spec, A.shape[1], str(name))
        a, b = A[:, cols], B[:, cols]
        distance = float(np.linalg.norm(b - a, axis=1).mean())
        scale = float(np.sqrt(a.var(axis=0, ddof=1).sum()))
        if scale == 0:
            raise ValueError(f"channel {name!r} is constant before the shift: its displacement has no scale")
        ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
        norm = np.sqrt((ca * ca).sum(axis=0) * (cb * cb).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_dim = np.where(norm > 0, (ca * cb).sum(axis=0) / np.where(norm > 0, norm, 1.0), np.nan)
        per_dim = np.clip(per_dim, -1.0, 1.0)
        defined = per_dim[np.isfinite(per_dim)]
        out[str(name)] = {
            "delta": distance / scale,
            "mean_distance": distance,
            "scale": scale,
            "corr": float(defined.mean()) if defined.size else float("nan"),
            "corr_per_dim": per_dim,
            "dim": int(cols.size),
        }
    return out


def gaussian_natural_parameters(mean: Any, var: Any) -> np.ndarray:
    r"""Natural parameters :math:`[\mu / \sigma^2, -1 / (2\sigma^2)]` of diagonal Gaussians.

    Args:
        mean (array or torch.Tensor): ``(N, k)`` prior means :math:`m(u)`.
        var (array or torch.Tensor): ``(N, k)`` prior variances :math:`v(u)`, positive.

    Returns:
        numpy.ndarray: ``(N, 2k)``, the ``k`` first-order columns then the ``k``
        second-order ones, for :func:`identifiability_rank`.
    """
    mu = _as_array(mean, "mean", ndim=(2,))
    v = _as_array(var, "var", ndim=(2,))
    if mu.shape != v.shape:
        raise ValueError(f"mean has shape {mu.shape} but var has {v.shape}")
    if (v <= 0).any():
        raise ValueError("var must be positive")
    return np.concatenate([mu / v, -0.5 / v], axis=1)


def identifiability_rank(natural_params: Any, required: int | None = None, rtol: float | None = None) -> dict[str, Any]:
    r"""Numerical rank of the users' stacked natural parameters (the iVAE variability check).

    Args:
        natural_params (array or torch.Tensor): ``(N, m)`` natural parameters
            :math:`\lambda(u_n)` of the conditional prior, one row per user (see
            :func:`gaussian_natural_parameters`).
        required (int, optional): rank needed. (default: :obj:`None`, ``m``)
        rtol (float, optional): singular values below ``rtol`` times the largest singular
            value of the (uncentred) matrix count as zero. (default: :obj:`None`, ``max(N, m)``
            times machine epsilon, as :func:`numpy.linalg.matrix_rank`)

    Returns:
        dict: ``rank`` (int, rank of :math:`\Lambda`), ``affine_rank`` (int, rank of
        :math:`\Lambda` with column means removed: the iVAE condition), ``required``,
        ``identifiable`` (bool, ``affine_rank >= required``), ``n_rows``, ``n_cols``,
        ``singular_values`` (of the centred matrix) and ``condition_number`` (largest over
        smallest of them; ``inf`` when the smallest is exactly 0).
    """
    L = _as_array(natural_params, "natural_params", ndim=(2,))
    n, m = L.shape
    if n < 1 or m < 1:
        raise ValueError(f"natural_params must be non-empty, got shape {L.shape}")
    need = m if required is None else int(required)
    tol = float(np.finfo(np.float64).eps * max(n, m)) if rtol is None else float(rtol)

    s_raw = np.linalg.svd(L, compute_uv=False)
    s = np.linalg.svd(L - L.mean(axis=0), compute_uv=False)
    # one cut-off for both, relative to the uncentred matrix: centring rows that are all equal
    # leaves rounding noise, which is tiny against the data but not against itself
    cut = tol * s_raw[0]
    affine = int((s > cut).sum())
    return {
        "rank": int((s_raw > cut).sum()),
        "affine_rank": affine,
        "required": need,
        "identifiable": bool(affine >= need),
        "n_rows": int(n),
        "n_cols": int(m),
        "singular_values": s,
        "condition_number": float(s[0] / s[-1]) if s.size and s[-1] > 0 else float("inf"),
    }
