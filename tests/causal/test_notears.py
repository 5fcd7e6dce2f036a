"""NOTEARS: recovery of a small known DAG, background knowledge, and the graph helpers."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

from graphrec.causal import is_dag, notears_linear, structural_hamming_distance, threshold_weights, to_networkx

# chain 0 -> 1 -> 2 and fork 2 -> {3, 4}, weights in +-[0.5, 2]
TRUE_W = np.zeros((5, 5))
TRUE_W[0, 1], TRUE_W[1, 2], TRUE_W[2, 3], TRUE_W[2, 4] = 1.5, -1.0, 0.8, -1.2


def _sem(n: int = 2000, seed: int = 0) -> np.ndarray:
    """Linear-Gaussian SEM X = X W + E with unit noise variances (so X = E (I - W)^-1)."""
    noise = np.random.default_rng(seed).normal(size=(n, 5))
    return noise @ np.linalg.inv(np.eye(5) - TRUE_W) + 10.0  # an offset the fit must centre away


def test_recovers_the_known_dag_from_raw_data():
    # equal noise variances on the raw scale: the setting in which NOTEARS orients every edge
    W = notears_linear(_sem(), standardize=False)
    assert structural_hamming_distance(W, TRUE_W) == 0
    assert is_dag(W)
    # the l1 penalty shrinks the weights a little towards zero
    np.testing.assert_allclose(W[TRUE_W != 0], TRUE_W[TRUE_W != 0], atol=0.2)


def test_background_knowledge_orients_the_standardised_fit():
    # standardising removes the variance ordering; forbidding parents of the root and children
    # of the leaves (spec: "T has no parents", "Y has no children") restores the orientation
    X = _sem(seed=1)
    forbidden = np.zeros((5, 5), dtype=bool)
    forbidden[:, 0] = True
    forbidden[[3, 4], :] = True
    W = notears_linear(X, forbidden=forbidden)
    assert structural_hamming_distance(W, TRUE_W) == 0
    assert not W[forbidden].any()
    unconstrained = notears_linear(X)  # skeleton right, some directions wrong
    skeleton = (unconstrained != 0) | (unconstrained.T != 0)
    np.testing.assert_array_equal(skeleton, (TRUE_W != 0) | (TRUE_W.T != 0))


def test_unthresholded_fit_thresholded_later_is_the_same_graph():
    X = _sem(seed=4)
    raw = notears_linear(X, w_threshold=None)
    assert ((np.abs(raw) > 0) & (np.abs(raw) < 0.3)).any()  # the small weights are kept ...
    np.testing.assert_array_equal(threshold_weights(raw, 0.3), notears_linear(X))  # ... until thresholded
    with pytest.warns(RuntimeWarning, match="has a cycle"):
        threshold_weights(np.array([[0.0, 1.0], [1.0, 0.0]]), 0.3)


def test_forbidden_edges_stay_zero():
    forbidden = np.zeros((5, 5), dtype=bool)
    forbidden[0, 1] = True  # a true edge
    forbidden[2, :] = True  # node 2 may have no children
    W = notears_linear(_sem(seed=2), standardize=False, forbidden=forbidden)
    assert not W[forbidden].any()
    assert not np.diag(W).any()
    assert is_dag(W)
    with pytest.raises(ValueError, match="forbidden must have shape"):
        notears_linear(_sem(), forbidden=np.zeros((4, 4), dtype=bool))


def test_torch_input_and_seeded_start_agree_with_numpy():
    X = _sem(seed=3)
    W = notears_linear(X, standardize=False)
    Wt = notears_linear(torch.from_numpy(X), standardize=False, seed=7)
    assert structural_hamming_distance(W, Wt) == 0
    np.testing.assert_allclose(W, Wt, atol=1e-3)


def test_logistic_loss_on_binary_data_runs_and_is_acyclic():
    rng = np.random.default_rng(4)
    a = rng.random(3000) < 0.5
    b = np.where(a, rng.random(3000) < 0.9, rng.random(3000) < 0.1)
    X = np.column_stack([a, b, rng.random(3000) < 0.5]).astype(float)
    W = notears_linear(X, loss="logistic", lambda1=0.01)
    assert is_dag(W)
    assert (W[0, 1] != 0) or (W[1, 0] != 0)
    assert not W[2].any() and not W[:, 2].any()  # the independent node (needs the intercepts)
    with pytest.raises(ValueError, match="standardize=True is only meaningful"):
        notears_linear(X, loss="logistic", standardize=True)


@pytest.mark.parametrize("loss", ["l2", "logistic", "poisson"])
def test_loss_and_acyclicity_gradients(loss):
    from graphrec.causal.notears import _acyclicity, _loss_and_grad

    rng = np.random.default_rng(5)
    d = 4
    X = rng.normal(size=(50, d)) if loss == "l2" else (rng.random((50, d)) < 0.4).astype(float)
    S = X.T @ X / 50

    def split(v):
        return v[: d * d].reshape(d, d), v[d * d:]

    def grad(v):
        _, gw, gb = _loss_and_grad(loss, X, S, *split(v))
        return np.concatenate([gw.ravel(), gb])

    v0 = rng.normal(size=d * d + d) * 0.3
    assert check_grad(lambda v: _loss_and_grad(loss, X, S, *split(v))[0], grad, v0) < 1e-5
    w0 = v0[: d * d]
    assert check_grad(lambda w: _acyclicity(w.reshape(d, d))[0],
                      lambda w: _acyclicity(w.reshape(d, d))[1].ravel(), w0) < 1e-5


SHD_CASES = [
    # (learned edges, true edges, SHD)
    ([(0, 1), (1, 2)], [(0, 1), (1, 2)], 0),
    ([(0, 1)], [(0, 1), (1, 2)], 1),  # missing
    ([(0, 1), (1, 2), (0, 2)], [(0, 1), (1, 2)], 1),  # extra
    ([(1, 0), (1, 2)], [(0, 1), (1, 2)], 1),  # reversed counts once
    ([(0, 1), (1, 0), (1, 2)], [(0, 1), (1, 2)], 1),  # both directions where one is true
    ([(1, 0), (0, 2)], [(0, 1), (1, 2)], 3),  # reversed + extra + missing
    ([(2, 2)], [], 1),  # a self-loop is an extra edge
]


@pytest.mark.parametrize("learned, truth, expected", SHD_CASES)
def test_structural_hamming_distance_hand_cases(learned, truth, expected):
    def matrix(edges):
        A = np.zeros((3, 3))
        for i, j in edges:
            A[i, j] = 1.0
        return A

    assert structural_hamming_distance(matrix(learned), matrix(truth)) == expected
    assert structural_hamming_distance(nx.DiGraph(learned), nx.DiGraph(truth)) == expected
    assert structural_hamming_distance(matrix(truth), matrix(learned)) == expected  # symmetric


def test_shd_rejects_different_sizes():
    with pytest.raises(ValueError, match="learned has 3 nodes but truth has 4"):
        structural_hamming_distance(np.zeros((3, 3)), np.zeros((4, 4)))


def test_to_networkx_and_is_dag():
    graph = to_networkx(TRUE_W, names=["T", "A", "B", "C", "Y"])
    assert set(graph.nodes) == {"T", "A", "B", "C", "Y"}
    assert graph.number_of_edges() == 4
    assert graph["B"]["Y"]["weight"] == -1.2
    assert is_dag(TRUE_W) and is_dag(graph)
    cyclic = TRUE_W.copy()
    cyclic[4, 0] = 0.5
    assert not is_dag(cyclic) and not is_dag(to_networkx(cyclic))
    assert not is_dag(np.diag([0.0, 1.0]))  # self-loop
    isolated = to_networkx(np.zeros((3, 3)))
    assert list(isolated.nodes) == [0, 1, 2] and isolated.number_of_edges() == 0
    with pytest.raises(ValueError, match="names must be 5 distinct labels"):
        to_networkx(TRUE_W, names=["a", "a", "b", "c", "d"])
