r"""Mean correlation coefficient (MCC) between estimated and true latent factors.

The identifiability metric of the nonlinear-ICA / iVAE literature (HMV-CRL spec, section 4.1).
For estimated latents :math:`\hat Z \in \mathbb{R}^{n \times k_e}` and target factors
:math:`Z^* \in \mathbb{R}^{n \times k_t}` (rows are the same users, in the same order), let

.. math::
    C_{ij} = \bigl|\operatorname{corr}(\hat Z_{:,i}, Z^*_{:,j})\bigr|, \qquad
    \pi^\star = \arg\max_{\pi} \sum_{i} C_{i, \pi(i)}, \qquad
    \mathrm{MCC} = \frac{1}{m} \sum_{i} C_{i, \pi^\star(i)},

where :math:`\pi` ranges over the one-to-one matchings of :math:`m = \min(k_e, k_t)` pairs
(the linear assignment problem, solved exactly by :func:`scipy.optimize.linear_sum_assignment`)
and :math:`\operatorname{corr}` is Pearson's correlation, or Spearman's (Pearson's on the ranks,
average ranks for ties) with ``method="spearman"``. MCC is invariant to permutations, sign flips and
(for Pearson) affine rescaling of each column, which is exactly the indeterminacy an
identifiable model is allowed; it is 1 when every estimated column is an affine function of a
distinct true column. With :math:`k_e \ne k_t` the surplus columns stay unmatched and do not
enter the mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from graphrec.causal._array import as_array as _as_array

__all__ = ["mean_correlation_coefficient", "mcc_details"]

_METHODS = ("pearson", "spearman")


def _as_columns(x: Any, name: str) -> np.ndarray:
    """``(n, k)`` float64 copy of ``x``; a 1-D input is one column."""
    arr = _as_array(x, name)
    return arr[:, None] if arr.ndim == 1 else arr


def _check_not_constant(x: np.ndarray, name: str) -> None:
    # a constant column has no correlation with anything: say which one rather than return NaN
    flat = np.flatnonzero(np.ptp(x, axis=0) == 0)
    if flat.size:
        raise ValueError(f"{name} has a constant column (index {int(flat[0])}): its correlation is undefined")


def _standardised(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(axis=0)
    return z / np.sqrt((z * z).mean(axis=0))


def mcc_details(estimated: Any, truth: Any, method: str = "pearson") -> dict[str, Any]:
    r"""MCC with the matching behind it.

    Args:
        estimated (array or torch.Tensor): ``(n, k_e)`` estimated latents (a 1-D input is
            one column), e.g. posterior means of one channel.
        truth (array or torch.Tensor): ``(n, k_t)`` target factors for the same ``n`` rows.
        method (str): ``"pearson"`` or ``"spearman"``. (default: ``"pearson"``)

    Returns:
        dict: ``mcc`` (float, mean matched :math:`|\mathrm{corr}|`);
        ``estimated_index`` and ``truth_index`` (int arrays of the ``min(k_e, k_t)`` matched
        pairs, ordered by estimated column); ``permutation`` (int array of length ``k_e``: the
        true column matched to each estimated column, ``-1`` if unmatched); ``matched``
        (float array, :math:`|\mathrm{corr}|` of each pair); ``signs`` (int array, sign of
        each pair's correlation, so ``estimated[:, i] * sign`` points the way of its match);
        ``corr`` (``(k_e, k_t)`` array of all :math:`|\mathrm{corr}|`); ``method``.

    Raises:
        ValueError: for an unknown ``method``, different numbers of rows, fewer than 2 rows,
            NaN or inf, or a constant column (the message names the argument and the column).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    est = _as_columns(estimated, "estimated")
    tru = _as_columns(truth, "truth")
    if est.shape[0] != tru.shape[0]:
        raise ValueError(f"estimated has {est.shape[0]} rows but truth has {tru.shape[0]}: "
                         f"rows must be the same samples in the same order")
    if est.shape[0] < 2:
        raise ValueError(f"need at least 2 rows to compute a correlation, got {est.shape[0]}")
    if est.shape[1] == 0 or tru.shape[1] == 0:
        raise ValueError(f"need at least one column, got estimated {est.shape} and truth {tru.shape}")
    _check_not_constant(est, "estimated")
    _check_not_constant(tru, "truth")
    if method == "spearman":
        est, tru = rankdata(est, axis=0), rankdata(tru, axis=0)
    signed = _standardised(est).T @ _standardised(tru) / est.shape[0]
    # rounding can put |corr| of identical columns a few ulps above 1
    signed = np.clip(signed, -1.0, 1.0)
    corr = np.abs(signed)
    rows, cols = linear_sum_assignment(corr, maximize=True)
    permutation = np.full(est.shape[1], -1, dtype=np.int64)
    permutation[rows] = cols
    matched = corr[rows, cols]
    return {
        "mcc": float(matched.mean()),
        "estimated_index": rows.astype(np.int64),
        "truth_index": cols.astype(np.int64),
        "permutation": permutation,
        "matched": matched,
        "signs": np.sign(signed[rows, cols]).astype(np.int64),
        "corr": corr,
        "method": method,
    }


def mean_correlation_coefficient(estimated: Any, truth: Any, method: str = "pearson") -> float:
    r"""Mean absolute correlation of the best one-to-one matching of columns.

    See :mod:`graphrec.causal.mcc` for the definition; :func:`mcc_details` also returns the
    matching and the full :math:`|\mathrm{corr}|` matrix.

    Args:
        estimated (array or torch.Tensor): ``(n, k_e)`` estimated latents (1-D: one column).
        truth (array or torch.Tensor): ``(n, k_t)`` target factors for the same rows.
        method (str): ``"pearson"`` or ``"spearman"``. (default: ``"pearson"``)

    Returns:
        float: MCC in :math:`[0, 1]`, over :math:`\min(k_e, k_t)` matched pairs.
    """
    return mcc_details(estimated, truth, method=method)["mcc"]
