r"""Product-of-coefficients mediation with bootstrap intervals, and suppression tests.

HMV-CRL (spec, section 4.4) asks how much of the effect of exposure :math:`T` on engagement
:math:`Y` runs through each channel of the representation, using one mediator per channel
(:func:`first_principal_component` of :math:`z_p` and of :math:`z_f`). With treatment
:math:`T`, mediators :math:`M_1, \dots, M_m` and outcome :math:`Y`, all standardised to mean 0
and variance 1 (``standardize=True``), three sets of OLS fits with intercepts:

.. math::
    M_j = a_j T + e_j, \qquad
    Y = c' T + \sum_j b_j M_j + e, \qquad
    Y = c\, T + e',

give the indirect effects :math:`\mathrm{IE}_j = a_j b_j`, the direct effect :math:`c'` and the
total effect :math:`c`. Because the residual :math:`e` of the second fit is orthogonal to
:math:`T`, regressing both of its sides on :math:`T` gives the exact OLS identity

.. math::
    c = c' + \sum_j a_j b_j ,

so the total indirect effect is :math:`c - c'`, and the share through mediator :math:`j` is
:math:`\mathrm{IE}_j / \sum_k \mathrm{IE}_k` (it can be negative or above 1 when the indirect
effects have opposite signs). Every coefficient above is a function of the covariance matrix of
:math:`(T, M, Y)` alone (its correlation matrix on the standardised scale), which is how they
are computed: once for the sample, and for each bootstrap resample of rows (users, drawn with
replacement) from the resample's weighted moments, all resamples at once.
Intervals are percentile intervals of the bootstrap draws.

**Suppression** (inconsistent mediation, MacKinnon, Krull and Lockwood, *Prevention Science*
2000): mediator :math:`j` is a suppressor when :math:`\mathrm{IE}_j` and :math:`c'` have opposite
signs; the direct effect then exceeds the total effect in magnitude when the suppressors
dominate, :math:`|c'| > |c|`, which is reported as well. All path signs are returned; nothing
about which path carries which sign is assumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphrec.causal._array import as_array as _as_array

__all__ = ["mediation_analysis", "first_principal_component"]

#: bootstrap resamples whose moments are formed at once (bounds memory at about
#: chunk x n x 8 bytes for the resample counts: 2 MB per 1,000 users)
_BOOT_CHUNK = 250


def first_principal_component(Z: Any, sign_reference: Any | None = None) -> np.ndarray:
    r"""Scores of the first principal component of the centred columns of ``Z``.

    The scores are :math:`(Z - \bar Z) v_1` with :math:`v_1` the leading right singular
    vector of :math:`Z - \bar Z` (unit-norm loadings; the columns are centred, not rescaled).
    A principal component's sign is arbitrary; it is fixed so that the scores correlate
    positively with ``sign_reference`` when given (e.g. exposure, so that "larger = more
    platform-driven"), else so that the loading of largest magnitude is positive.

    Args:
        Z (array or torch.Tensor): ``(n, k)`` codes (a 1-D input is one column).
        sign_reference (array or torch.Tensor, optional): ``(n,)`` variable the scores should
            increase with. (default: :obj:`None`)

    Returns:
        numpy.ndarray: ``(n,)`` float64 scores.
    """
    data = _as_array(Z, "Z")
    data = data[:, None] if data.ndim == 1 else data
    centred = data - data.mean(axis=0)
    _, s, Vt = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        raise ValueError("Z has no variance: its principal component is undefined")
    loading = Vt[0]
    scores = centred @ loading
    direction = 0.0
    if sign_reference is not None:
        ref = _as_array(sign_reference, "sign_reference", ndim=(1,))
        if ref.shape[0] != data.shape[0]:
            raise ValueError(f"sign_reference has {ref.shape[0]} rows but Z has {data.shape[0]}")
        direction = float(np.dot(scores, ref - ref.mean()))
    if direction == 0.0:
        # no reference (or an uncorrelated one): the deterministic rule of sklearn's svd_flip
        direction = float(loading[np.argmax(np.abs(loading))])
    return -scores if direction < 0 else scores


def _mediators(mediators: Any, names: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    if isinstance(mediators, Mapping):
        if names is not None:
            raise ValueError("names is only for an array of mediators; a dict carries its own names")
        if not mediators:
            raise ValueError("mediators is empty")
        labels = [str(k) for k in mediators]
        cols = [_as_array(v, f"mediators[{k!r}]", ndim=(1,)) for k, v in mediators.items()]
        lengths = {c.shape[0] for c in cols}
        if len(lengths) != 1:
            raise ValueError(f"mediators have different lengths: {dict(zip(labels, (c.shape[0] for c in cols)))}")
        return labels, np.stack(cols, axis=1)
    M = _as_array(mediators, "mediators")
    M = M[:, None] if M.ndim == 1 else M
    if M.shape[1] == 0:
        raise ValueError("mediators has no column")
    labels = [f"M{j}" for j in range(M.shape[1])] if names is None else [str(x) for x in names]
    if len(labels) != M.shape[1] or len(set(labels)) != len(labels):
        raise ValueError(f"names must be {M.shape[1]} distinct labels, got {labels!r}")
    return labels, M


def _paths(cov: np.ndarray, standardize: bool) -> dict[str, np.ndarray]:
    """All path coefficients from a batch ``(B, q, q)`` of covariance matrices of ``(T, M..., Y)``.

    Invalid matrices (a variable without variance, e.g. in a degenerate resample) give NaN.
    """
    q = cov.shape[-1]
    diag = np.diagonal(cov, axis1=1, axis2=2)
    valid = (diag > 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)).all(axis=1)
    cov = np.where(valid[:, None, None], cov, np.eye(q))
    if standardize:
        inv = 1.0 / np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        cov = cov * inv[:, :, None] * inv[:, None, :]
    a = cov[:, 0, 1:q - 1] / cov[:, :1, 0]
    c = cov[:, 0, q - 1] / cov[:, 0, 0]
    lhs, rhs = cov[:, : q - 1, : q - 1], cov[:, : q - 1, q - 1:]
    try:
        coef = np.linalg.solve(lhs, rhs)[..., 0]
    except np.linalg.LinAlgError:
        # perfectly collinear mediators in some resample: the minimum-norm solution
        coef = (np.linalg.pinv(lhs) @ rhs)[..., 0]
    direct, b = coef[:, 0], coef[:, 1:]
    indirect = a * b
    total_indirect = indirect.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = indirect / total_indirect[:, None]
    out = {"a": a, "b": b, "indirect": indirect, "share": share, "direct": direct, "total": c,
           "total_indirect": total_indirect}
    for value in out.values():
        value[~valid] = np.nan
    return out


def _estimate(point: float, draws: np.ndarray, ci: float) -> dict[str, Any]:
    finite = draws[np.isfinite(draws)]
    if finite.size:
        low, high = np.percentile(finite, [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)])
        se = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    else:
        low = high = se = float("nan")
    return {"estimate": float(point), "ci": (float(low), float(high)), "se": se,
            "excludes_zero": bool(low > 0 or high < 0), "sign": int(np.sign(point))}


def mediation_analysis(
    treatment: Any,
    mediators: Mapping[str, Any] | Any,
    outcome: Any,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    *,
    names: Sequence[str] | None = None,
    standardize: bool = True,
) -> dict[str, Any]:
    r"""Direct, indirect and total effects of ``treatment`` on ``outcome``, with bootstrap CIs.

    See :mod:`graphrec.causal.mediation` for the model and the identity
    :math:`c = c' + \sum_j a_j b_j`.

    Args:
        treatment (array or torch.Tensor): ``(n,)`` treatment :math:`T` (e.g. exposure).
        mediators (dict or array): ``{name: (n,) array}``, or an ``(n, m)`` array (1-D: one
            mediator) whose column names are ``names``.
        outcome (array or torch.Tensor): ``(n,)`` outcome :math:`Y` (e.g. engagement).
        n_boot (int): bootstrap resamples of the rows; ``0`` skips the intervals (NaN).
            (default: ``1000``)
        ci (float): coverage of the percentile intervals. (default: ``0.95``)
        seed (int): seed of the resampling. (default: ``0``)
        names (Sequence[str], optional): names of the columns of an array of mediators.
            (default: :obj:`None`, ``"M0", "M1", ...``)
        standardize (bool): estimate standardised coefficients (every variable z-scored, as
            the spec asks); :obj:`False` keeps the raw units. (default: :obj:`True`)

    Returns:
        dict: each effect is a dict ``{"estimate", "ci": (low, high), "se", "excludes_zero",
        "sign"}`` (``se``: bootstrap standard deviation; ``sign``: -1, 0 or 1 of the
        estimate). ``a``, ``b``, ``indirect`` (:math:`a_j b_j`) and ``share``
        (:math:`\mathrm{IE}_j / \sum_k \mathrm{IE}_k`): ``{name: effect}``; ``direct``
        (:math:`c'`), ``total`` (:math:`c`), ``total_indirect``: one effect each.
        ``signs``: ``{"a": {name: int}, "b": ..., "indirect": ..., "direct": int, "total":
        int}``. ``suppression``: ``{name: bool}``, true when :math:`\mathrm{IE}_j` and
        :math:`c'` have opposite signs; ``direct_exceeds_total``: :math:`|c'| > |c|`;
        ``inconsistent``: any of those. ``bootstrap``: the draws, ``{"a": (n_boot, m), ...,
        "direct": (n_boot,), ...}`` (NaN for a degenerate resample). Also ``names``, ``n``,
        ``n_boot``, ``n_boot_valid``, ``ci``, ``seed``, ``standardize``.
    """
    labels, M = _mediators(mediators, names)
    T = _as_array(treatment, "treatment", ndim=(1,))
    Y = _as_array(outcome, "outcome", ndim=(1,))
    n = T.shape[0]
    if M.shape[0] != n or Y.shape[0] != n:
        raise ValueError(f"treatment, mediators and outcome must have the same rows, got {n}, {M.shape[0]} "
                         f"and {Y.shape[0]}")
    m = M.shape[1]
    if n < m + 3:
        raise ValueError(f"need more rows than mediators + 2 to fit the outcome model, got n={n}, m={m}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot!r}")
    V = np.column_stack([T, M, Y])
    for j, label in enumerate(["treatment", *(f"mediator {x!r}" for x in labels), "outcome"]):
        if np.ptp(V[:, j]) == 0:
            raise ValueError(f"{label} is constant: its effects are undefined")
    # z-score once with the sample's moments so that the resample moments below stay well
    # conditioned (raw moments of uncentred data would cancel catastrophically); this changes
    # no coefficient on the standardised scale and is undone for standardize=False
    mu, sd = V.mean(axis=0), V.std(axis=0)
    V = (V - mu) / sd
    q = V.shape[1]
    unscale = 1.0 if standardize else sd[:, None] * sd[None, :]
    point = _paths((V.T @ V / n * unscale)[None], standardize)

    draws: dict[str, list[np.ndarray]] = {key: [] for key in point}
    if n_boot:
        rng = np.random.default_rng(seed)
        outer = (V[:, :, None] * V[:, None, :]).reshape(n, q * q)
        for start in range(0, n_boot, _BOOT_CHUNK):
            size = min(_BOOT_CHUNK, n_boot - start)
            idx = rng.integers(0, n, size=(size, n))
            # each resample as row counts: its moments are two matrix products, no per-resample loop
            counts = np.bincount((idx + n * np.arange(size)[:, None]).ravel(), minlength=size * n)
            counts = counts.reshape(size, n).astype(np.float64) / n
            mean = counts @ V
            cov = (counts @ outer).reshape(size, q, q) - mean[:, :, None] * mean[:, None, :]
            for key, value in _paths(cov * unscale, standardize).items():
                draws[key].append(value)
    boot = {key: (np.concatenate(v) if v else np.full((0,) + point[key].shape[1:], np.nan)) for key, v in draws.items()}

    def effect(key: str, j: int | None = None) -> dict[str, Any]:
        if j is None:
            return _estimate(point[key][0], boot[key], ci)
        return _estimate(point[key][0, j], boot[key][:, j], ci)

    result: dict[str, Any] = {"names": labels}
    for key in ("a", "b", "indirect", "share"):
        result[key] = {label: effect(key, j) for j, label in enumerate(labels)}
    for key in ("direct", "total", "total_indirect"):
        result[key] = effect(key)
    result["signs"] = {
        **{key: {label: result[key][label]["sign"] for label in labels} for key in ("a", "b", "indirect")},
        "direct": result["direct"]["sign"],
        "total": result["total"]["sign"],
    }
    direct = result["direct"]["estimate"]
    result["suppression"] = {label: bool(result["indirect"][label]["estimate"] * direct < 0) for label in labels}
    result["direct_exceeds_total"] = bool(abs(direct) > abs(result["total"]["estimate"]))
    result["inconsistent"] = bool(any(result["suppression"].values()) or result["direct_exceeds_total"])
    result["bootstrap"] = boot
    valid = np.isfinite(boot["direct"]).sum() if n_boot else 0
    result.update(n=n, n_boot=int(n_boot), n_boot_valid=int(valid), ci=float(ci), seed=seed, standardize=standardize)
    return result
