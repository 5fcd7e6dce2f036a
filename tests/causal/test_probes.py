"""Held-out R^2 probes: analytic values, chance level, train-only statistics, ridge fallback."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.causal import held_out_split, r2_probe


def test_linear_targets_reach_the_analytic_r2():
    # X ~ N(0, I): R^2 of y = X beta + e is |beta|^2 / (|beta|^2 + var(e)), per target and pooled
    rng = np.random.default_rng(0)
    n, p = 20000, 5
    X = rng.normal(size=(n, p))
    betas = np.array([[1.0, -0.5, 0.0, 0.25, 0.0], [0.0, 0.0, 2.0, 0.0, 0.0]]).T
    noise_var = np.array([1.0, 4.0])
    Y = X @ betas + rng.normal(size=(n, 2)) * np.sqrt(noise_var) + np.array([3.0, -1.0])
    signal = (betas**2).sum(axis=0)
    train, test = held_out_split(n, 0.2, seed=1)
    result = r2_probe(X, Y, train, test)
    assert not result["ridge"] and result["alpha"] == 0.0
    np.testing.assert_allclose(result["r2_per_target"], signal / (signal + noise_var), atol=0.02)
    assert result["r2"] == pytest.approx(1 - noise_var.sum() / (signal + noise_var).sum(), abs=0.02)
    assert (result["n_train"], result["n_test"], result["n_features"]) == (16000, 4000, 5)


def test_unrelated_targets_give_zero():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(10000, 6)), rng.normal(size=(10000, 3))
    result = r2_probe(X, Y, *held_out_split(10000, seed=3))
    assert abs(result["r2"]) < 0.02
    assert np.all(np.abs(result["r2_per_target"]) < 0.02)


def test_standardisation_uses_train_rows_only():
    # hand case: train rows 0..2 hold 1, 2, 3; the test rows hold values far away
    X = np.array([[1.0], [2.0], [3.0], [100.0], [-50.0]])
    y = np.array([1.0, 3.0, 2.0, 0.0, 0.0])
    result = r2_probe(X, y, train=[0, 1, 2], alpha=0.5)
    assert result["feature_mean"][0] == pytest.approx(2.0)
    assert result["feature_scale"][0] == pytest.approx(np.sqrt(2 / 3))
    np.testing.assert_array_equal(result["test_index"], [3, 4])
    # ridge by hand on the train-standardised feature: beta = sum(x y) / (sum(x^2) + alpha)
    x = (np.array([1.0, 2.0, 3.0]) - 2.0) / np.sqrt(2 / 3)
    beta = (x @ (np.array([1.0, 3.0, 2.0]) - 2.0)) / (x @ x + 0.5)
    expected = 2.0 + beta * (np.array([100.0, -50.0]) - 2.0) / np.sqrt(2 / 3)
    np.testing.assert_allclose(result["predictions"][:, 0], expected, rtol=1e-12)


def test_a_test_row_prediction_ignores_the_other_test_rows():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(200, 4)), rng.normal(size=(200, 2))
    train, test = np.arange(150), np.arange(150, 200)
    before = r2_probe(X, Y, train, test, alpha=3.0)["predictions"]
    moved = X.copy()
    moved[160:] = moved[160:] * 1000.0 + 50.0  # would shift the statistics if test rows leaked in
    after = r2_probe(moved, Y, train, test, alpha=3.0)["predictions"]
    np.testing.assert_allclose(after[:10], before[:10], rtol=1e-12)


def test_ridge_kicks_in_on_a_collinear_design():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1000, 2))
    X = np.column_stack([X, X[:, 0] - 2 * X[:, 1]])  # exact linear dependence
    y = X[:, 0] + rng.normal(size=1000)
    result = r2_probe(X, y, *held_out_split(1000))
    assert result["ill_conditioned"] and result["ridge"]
    assert result["alpha"] == 1.0
    assert result["r2"] == pytest.approx(0.5, abs=0.1)
    well = r2_probe(X[:, :2], y, *held_out_split(1000))
    assert not well["ill_conditioned"] and not well["ridge"]
    explicit = r2_probe(X[:, :2], y, *held_out_split(1000), alpha=2.5)
    assert explicit["ridge"] and explicit["alpha"] == 2.5 and not explicit["ill_conditioned"]


def test_constant_train_feature_is_dropped():
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.normal(size=300), np.zeros(300)])
    X[250:, 1] = 1.0  # constant on the train rows, varies only on the test rows
    y = 2 * X[:, 0] + rng.normal(size=300)
    result = r2_probe(X, y, np.arange(250))
    np.testing.assert_array_equal(result["dropped_features"], [1])
    assert not result["ridge"]
    assert result["r2"] > 0.6


def test_mask_index_and_torch_forms_agree():
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(100, 3)), rng.normal(size=(100, 2))
    train, test = held_out_split(100, seed=8)
    mask = np.zeros(100, dtype=bool)
    mask[train] = True
    a = r2_probe(X, Y, train, test)["r2"]
    assert r2_probe(X, Y, mask)["r2"] == pytest.approx(a, abs=1e-12)
    assert r2_probe(torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(mask))["r2"] == pytest.approx(a)


def test_held_out_split_is_deterministic_and_partitions():
    train, test = held_out_split(101, test_share=0.2, seed=3)
    again = held_out_split(101, test_share=0.2, seed=3)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(test, again[1])
    assert len(test) == 20 and len(train) == 81
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(101))
    other = held_out_split(101, test_share=0.2, seed=4)[1]
    assert not np.array_equal(test, other)
    assert len(held_out_split(3, test_share=0.01)[1]) == 1
    with pytest.raises(ValueError, match="test_share"):
        held_out_split(10, test_share=1.0)


def test_errors():
    X = np.zeros((10, 2)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match="features has 10 rows but targets has 9"):
        r2_probe(X, np.arange(9.0), np.arange(5))
    with pytest.raises(ValueError, match="train and test share"):
        r2_probe(X, np.arange(10.0), np.arange(6), np.arange(5, 10))
    with pytest.raises(ValueError, match="boolean mask of length 9"):
        r2_probe(X, np.arange(10.0), np.ones(9, dtype=bool))
    with pytest.raises(ValueError, match="targets contains NaN"):
        r2_probe(X, np.full(10, np.nan), np.arange(5))
