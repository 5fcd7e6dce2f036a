r"""Acyclic linear structure learning by NOTEARS, and helpers to read and score the graphs.

HMV-CRL (spec, section 2.7) learns a linear SEM :math:`V = V W + \varepsilon` over its latent
dimensions, the exposure :math:`T` and the engagement :math:`Y` with NOTEARS (Zheng, Aragam,
Ravikumar and Xing, *DAGs with NO TEARS: Continuous Optimization for Structure Learning*,
NeurIPS 2018, https://arxiv.org/abs/1803.01422):

.. math::
    \min_{W \in \mathbb{R}^{d \times d}} \; \ell(W; X) + \lambda_1 \|W\|_1
    \quad \text{s.t.} \quad h(W) = \operatorname{tr}\bigl(e^{W \circ W}\bigr) - d = 0,

with :math:`\ell(W; X) = \frac{1}{2n} \|X - X W\|_F^2` (``loss="l2"``; also the GLM losses
``"logistic"``, :math:`\frac1n \sum \log(1 + e^{M}) - X \circ M`, and ``"poisson"``,
:math:`\frac1n \sum e^{M} - X \circ M`, with :math:`M = XW + \mathbf{1} \beta^\top` and an
unpenalised intercept :math:`\beta` per column, since 0/1 or count data cannot be centred).
:math:`h(W) = 0` exactly when the weighted graph of :math:`W` is acyclic. ``W[i, j] != 0`` is
the edge :math:`i \to j` (column :math:`j` is regressed on its parents). The constrained problem
is solved by the augmented Lagrangian

.. math::
    \min_W \; \ell(W; X) + \lambda_1 \|W\|_1 + \frac{\rho}{2} h(W)^2 + \alpha\, h(W),
    \qquad \alpha \leftarrow \alpha + \rho\, h(W),

each inner problem by L-BFGS-B on the split :math:`W = W_+ - W_-`, :math:`W_\pm \ge 0`, which
makes the :math:`\ell_1` term smooth (:math:`\|W\|_1 = \mathbf{1}^\top (W_+ + W_-)`). In each
outer step :math:`\rho` is multiplied by 10 until :math:`h` falls below a quarter of its previous
value; the loop stops when :math:`h \le` ``h_tol`` or :math:`\rho \ge` ``rho_max``. Bounds
:math:`[0, 0]` pin the diagonal and every ``forbidden`` entry to zero (background knowledge,
e.g. "Y has no children": ``forbidden[y, :] = True``; "T has no parents":
``forbidden[:, t] = True``). Finally entries with :math:`|W_{ij}| <` ``w_threshold`` are set to
zero (the paper's defaults: :math:`\lambda_1 = 0.1`, threshold 0.3).

**Scale matters.** With the squared loss on raw data, NOTEARS orients edges largely by the
variances, which grow downstream when the noise variances are equal; standardising (the default
here, since the spec fits standardised posterior means) removes that cue (Reisach, Seiler and
Weichwald, *Beware of the Simulated DAG!*, NeurIPS 2021). On standardised data expect the
skeleton to be found but some directions to need background knowledge through ``forbidden``.

The structural Hamming distance (:func:`structural_hamming_distance`) counts, over unordered
pairs of nodes, those whose edges differ (missing, extra or reversed: a reversed edge counts
once).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import scipy.linalg
from scipy.optimize import minimize

from graphrec.causal._array import as_array as _as_array

__all__ = ["notears_linear", "threshold_weights", "to_networkx", "structural_hamming_distance", "is_dag"]

_LOSSES = ("l2", "logistic", "poisson")


def _loss_and_grad(
    loss: str, X: np.ndarray, S: np.ndarray | None, W: np.ndarray, bias: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, its gradient in ``W`` and in the per-column intercepts ``bias`` (GLM losses only)."""
    if loss == "l2":
        # centred data need no intercept, and with S = X^T X / n the loss costs O(d^3), whatever n is
        R = np.eye(W.shape[0]) - W
        SR = S @ R
        return 0.5 * float(np.sum(R * SR)), -SR, np.zeros_like(bias)
    n = X.shape[0]
    M = X @ W + bias
    if loss == "logistic":
        value = float(np.sum(np.logaddexp(0.0, M) - X * M)) / n
        resid = 0.5 * (1.0 + np.tanh(0.5 * M)) - X  # tanh form of the sigmoid: no overflow
    else:
        E = np.exp(M)
        value = float(np.sum(E - X * M)) / n
        resid = E - X
    return value, X.T @ resid / n, resid.sum(axis=0) / n


def _acyclicity(W: np.ndarray) -> tuple[float, np.ndarray]:
    r"""The acyclicity measure :math:`h(W) = \operatorname{tr}(e^{W \circ W}) - d` and its gradient
    :math:`(e^{W \circ W})^\top \circ 2W`."""
    E = scipy.linalg.expm(W * W)
    return float(np.trace(E)) - W.shape[0], E.T * W * 2.0


def notears_linear(
    X: Any,
    lambda1: float = 0.1,
    w_threshold: float | None = 0.3,
    max_iter: int = 100,
    h_tol: float = 1e-8,
    rho_max: float = 1e16,
    loss: str = "l2",
    forbidden: Any | None = None,
    seed: int | None = None,
    standardize: bool | None = None,
) -> np.ndarray:
    r"""Weighted adjacency of a linear SEM learned by NOTEARS.

    See :mod:`graphrec.causal.notears` for the objective and the algorithm.

    Args:
        X (array or torch.Tensor): ``(n, d)`` raw data, one column per node.
        lambda1 (float): :math:`\ell_1` penalty. (default: ``0.1``)
        w_threshold (float, optional): entries with smaller magnitude are set to zero at
            the end (:func:`threshold_weights`); :obj:`None` returns the weights
            unthresholded, to threshold later. (default: ``0.3``)
        max_iter (int): largest number of dual (outer) steps. (default: ``100``)
        h_tol (float): stop when :math:`h(W) \le` ``h_tol``. (default: ``1e-8``)
        rho_max (float): stop when the penalty :math:`\rho` reaches this. (default: ``1e16``)
        loss (str): ``"l2"`` (linear Gaussian SEM), ``"logistic"`` (binary data) or
            ``"poisson"`` (counts). (default: ``"l2"``)
        forbidden (array, optional): ``(d, d)`` boolean mask; ``forbidden[i, j]`` forces the
            edge :math:`i \to j` to be absent. The diagonal is always forbidden.
            (default: :obj:`None`)
        seed (int, optional): :obj:`None` starts from :math:`W = 0` (deterministic, the
            paper's start); an integer starts from small uniform weights in
            :math:`[0, 10^{-3})` drawn with this seed. (default: :obj:`None`)
        standardize (bool, optional): with ``"l2"`` the columns are always centred, and
            also divided by their standard deviation when this is true (the spec fits
            standardised posterior means; scale changes which DAG the squared loss prefers).
            The GLM losses use ``X`` as given (with a free intercept per column) and refuse
            ``True``.
            (default: :obj:`None`:
            true for ``"l2"``, false otherwise)

    Returns:
        numpy.ndarray: ``(d, d)`` thresholded weights; ``W[i, j] != 0`` is the edge
        :math:`i \to j`. A warning is issued when the constraint was not met to ``h_tol``
        or the thresholded graph still has a cycle.
    """
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    data = _as_array(X, "X", ndim=(2,))
    n, d = data.shape
    if n < 2 or d < 1:
        raise ValueError(f"X must have at least 2 rows and 1 column, got shape {data.shape}")
    if standardize is None:
        standardize = loss == "l2"
    if loss == "l2":
        data = data - data.mean(axis=0)
        if standardize:
            std = data.std(axis=0)
            if (std == 0).any():
                raise ValueError(f"X has a constant column (index {int(np.flatnonzero(std == 0)[0])})")
            data = data / std
    elif standardize:
        raise ValueError(f"standardize=True is only meaningful for loss='l2', not {loss!r} "
                         f"(binary or count data must be passed as they are)")
    S = data.T @ data / n if loss == "l2" else None

    mask = np.eye(d, dtype=bool)
    if forbidden is not None:
        extra = np.asarray(forbidden.detach().cpu() if hasattr(forbidden, "detach") else forbidden)
        if extra.shape != (d, d):
            raise ValueError(f"forbidden must have shape {(d, d)}, got {extra.shape}")
        mask |= extra.astype(bool)
    # variables: W+ and W- (d*d each, bounded below by 0, pinned to 0 where masked), then one
    # free intercept per column for the GLM losses (their data cannot be centred)
    n_bias = 0 if loss == "l2" else d
    pinned = np.concatenate([mask.ravel(), mask.ravel()])
    bounds = [(0.0, 0.0) if m else (0.0, None) for m in pinned] + [(None, None)] * n_bias

    def unpack(w: np.ndarray) -> np.ndarray:
        return (w[: d * d] - w[d * d: 2 * d * d]).reshape(d, d)

    rho, dual, h = 1.0, 0.0, np.inf

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        W, bias = unpack(w), w[2 * d * d:]
        # near rho_max the penalty's gradient may overflow: L-BFGS-B then stops, and the
        # unmet tolerance is reported once below rather than as floating-point noise
        with np.errstate(over="ignore", invalid="ignore"):
            value, grad, grad_bias = _loss_and_grad(loss, data, S, W, bias)
            hv, hgrad = _acyclicity(W)
            value += 0.5 * rho * hv * hv + dual * hv + lambda1 * float(w[: 2 * d * d].sum())
            grad = grad + (rho * hv + dual) * hgrad
        return value, np.concatenate([(grad + lambda1).ravel(), (-grad + lambda1).ravel(), grad_bias])

    w_est = np.zeros(2 * d * d + n_bias)
    if seed is not None:
        w_est[: 2 * d * d] = np.random.default_rng(seed).uniform(0.0, 1e-3, size=2 * d * d)
        w_est[: 2 * d * d][pinned] = 0.0
    for _ in range(max_iter):
        w_new, h_new = w_est, h
        while rho < rho_max:
            w_new = minimize(objective, w_est, jac=True, method="L-BFGS-B", bounds=bounds).x
            h_new = _acyclicity(unpack(w_new))[0]
            # the paper's progress rule: accept once h has shrunk by a factor 4, else stiffen
            if h_new > 0.25 * h:
                rho *= 10.0
            else:
                break
        w_est, h = w_new, h_new
        dual += rho * h
        if h <= h_tol or rho >= rho_max:
            break
    if h > h_tol:
        warnings.warn(f"NOTEARS stopped with h(W) = {h:.3g} > h_tol = {h_tol:g} (rho = {rho:.3g}); "
                      f"the graph may not be acyclic before thresholding", RuntimeWarning, stacklevel=2)
    W = unpack(w_est)
    W[mask] = 0.0
    return W if w_threshold is None else threshold_weights(W, w_threshold)


def threshold_weights(W: Any, w_threshold: float) -> np.ndarray:
    """``W`` with entries of magnitude below ``w_threshold`` set to zero (NOTEARS's last
    step), and a warning when what is left still has a cycle."""
    W = np.array(W, dtype=np.float64)
    W[np.abs(W) < w_threshold] = 0.0
    if not is_dag(W):
        warnings.warn("the thresholded NOTEARS graph has a cycle; raise w_threshold", RuntimeWarning, stacklevel=2)
    return W


def to_networkx(W: Any, names: Sequence[Any] | None = None) -> nx.DiGraph:
    """The weighted graph of an adjacency matrix.

    Args:
        W (array or torch.Tensor): ``(d, d)`` weights; every non-zero ``W[i, j]`` becomes
            the edge ``names[i] -> names[j]`` with attribute ``weight``.
        names (Sequence, optional): ``d`` distinct node labels, in the order of the rows.
            (default: :obj:`None`, the integers ``0 .. d-1``)

    Returns:
        networkx.DiGraph: all ``d`` nodes (isolated ones too) and the weighted edges.
    """
    A = _as_array(W, "W", ndim=(2,))
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"W must be square, got shape {A.shape}")
    labels = list(range(A.shape[0])) if names is None else list(names)
    if len(labels) != A.shape[0] or len(set(labels)) != len(labels):
        raise ValueError(f"names must be {A.shape[0]} distinct labels, got {labels!r}")
    graph = nx.DiGraph()
    graph.add_nodes_from(labels)
    rows, cols = np.nonzero(A)
    graph.add_weighted_edges_from((labels[i], labels[j], float(A[i, j])) for i, j in zip(rows, cols))
    return graph


def _edges(graph: Any, name: str) -> tuple[set[tuple[Any, Any]], int | None]:
    """Directed edges of a DiGraph or of the non-zero entries of a square matrix (and its size)."""
    if isinstance(graph, nx.Graph):
        if not graph.is_directed():
            raise ValueError(f"{name} must be a directed graph")
        return set(graph.edges()), None
    A = _as_array(graph, name, ndim=(2,), finite=False)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be square, got shape {A.shape}")
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(A))}, A.shape[0]


def structural_hamming_distance(learned: Any, truth: Any) -> int:
    r"""Number of node pairs whose edges differ between two directed graphs.

    For every unordered pair :math:`\{u, v\}` (and every self-loop) the edges between
    :math:`u` and :math:`v` are compared as a whole: a missing edge, an extra edge and a
    reversed edge each count 1.

    Args:
        learned (array, torch.Tensor or networkx.DiGraph): non-zero entries (or edges) are
            the learned edges.
        truth (array, torch.Tensor or networkx.DiGraph): the reference graph. A matrix's
            nodes are ``0 .. d-1``; to compare a matrix with a graph, label the graph's nodes
            so.

    Returns:
        int: the structural Hamming distance.
    """
    a, da = _edges(learned, "learned")
    b, db = _edges(truth, "truth")
    if da is not None and db is not None and da != db:
        raise ValueError(f"learned has {da} nodes but truth has {db}")
    pairs = {frozenset(e) for e in a | b}
    distance = 0
    for pair in pairs:
        u, v = tuple(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
        if ((u, v) in a, (v, u) in a) != ((u, v) in b, (v, u) in b):
            distance += 1
    return distance


def is_dag(W: Any) -> bool:
    """Whether a weighted adjacency matrix (non-zero = edge) or DiGraph has no directed cycle.

    Args:
        W (array, torch.Tensor or networkx.DiGraph): the graph; a non-zero diagonal entry is
            a self-loop, hence a cycle.

    Returns:
        bool: true for a directed acyclic graph.
    """
    if isinstance(W, nx.Graph):
        return bool(W.is_directed() and nx.is_directed_acyclic_graph(W))
    edges, d = _edges(W, "W")
    graph = nx.DiGraph()
    graph.add_nodes_from(range(d or 0))
    graph.add_edges_from(edges)
    return bool(nx.is_directed_acyclic_graph(graph))
