"""Mean correlation coefficient: invariances, chance level, partial matches and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.causal import mcc_details, mean_correlation_coefficient


def _gaussian(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, k))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_permuted_and_sign_flipped_copy_is_perfect(method):
    truth = _gaussian(500, 4, 0)
    perm = [2, 0, 3, 1]
    estimated = truth[:, perm] * np.array([-1.0, 2.0, -0.5, 3.0]) + 7.0
    details = mcc_details(estimated, truth, method=method)
    assert details["mcc"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(details["permutation"], perm)
    np.testing.assert_array_equal(details["signs"], [-1, 1, -1, 1])
    np.testing.assert_allclose(details["matched"], 1.0, atol=1e-12)
    assert details["corr"].shape == (4, 4)


def test_independent_noise_is_near_zero():
    assert mean_correlation_coefficient(_gaussian(5000, 4, 1), _gaussian(5000, 4, 2)) < 0.1


def test_known_partial_correlations():
    # each estimated column correlates rho_j with one true column and nothing else
    n, rho = 20000, np.array([0.9, 0.6, 0.3])
    truth, noise = _gaussian(n, 3, 3), _gaussian(n, 3, 4)
    estimated = (rho * truth + np.sqrt(1 - rho**2) * noise)[:, [1, 2, 0]]
    details = mcc_details(estimated, truth)
    assert details["mcc"] == pytest.approx(rho.mean(), abs=0.02)
    np.testing.assert_array_equal(details["permutation"], [1, 2, 0])
    np.testing.assert_allclose(details["matched"], rho[[1, 2, 0]], atol=0.02)


def test_single_column_correlation_matches_numpy():
    truth = _gaussian(300, 1, 5)[:, 0]
    estimated = 0.5 * truth + _gaussian(300, 1, 6)[:, 0]
    expected = abs(np.corrcoef(estimated, truth)[0, 1])
    assert mean_correlation_coefficient(estimated, truth) == pytest.approx(expected, abs=1e-12)


def test_spearman_ignores_monotone_distortion():
    truth = _gaussian(400, 2, 7)
    estimated = np.column_stack([np.exp(truth[:, 1]), -truth[:, 0] ** 3])
    assert mean_correlation_coefficient(estimated, truth, method="spearman") == pytest.approx(1.0, abs=1e-12)
    assert mean_correlation_coefficient(estimated, truth, method="pearson") < 0.95


def test_different_numbers_of_columns():
    truth = _gaussian(1000, 3, 8)
    estimated = np.column_stack([truth[:, 2], -truth[:, 0]])
    details = mcc_details(estimated, truth)  # 2 estimated vs 3 true: 2 pairs
    assert details["mcc"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(details["permutation"], [2, 0])
    wide = mcc_details(truth, estimated)  # 3 estimated vs 2 true: one estimated column unmatched
    np.testing.assert_array_equal(wide["permutation"], [1, -1, 0])
    assert wide["mcc"] == pytest.approx(1.0, abs=1e-12)


def test_torch_input_matches_numpy():
    truth = _gaussian(200, 3, 10)
    estimated = truth + 0.5 * _gaussian(200, 3, 11)
    expected = mean_correlation_coefficient(estimated, truth)
    got = mean_correlation_coefficient(torch.from_numpy(estimated).float(), torch.from_numpy(truth))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, abs=1e-6)


def test_errors_name_the_argument_and_column():
    good = _gaussian(10, 2, 12)
    with pytest.raises(ValueError, match="estimated has 10 rows but truth has 9"):
        mean_correlation_coefficient(good, good[:9])
    with pytest.raises(ValueError, match="at least 2 rows"):
        mean_correlation_coefficient(good[:1], good[:1])
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"truth contains NaN or inf \(first at row 3, column 1\)"):
        mean_correlation_coefficient(good, bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="estimated contains NaN or inf"):
        mean_correlation_coefficient(bad, good)
    constant = good.copy()
    constant[:, 1] = 4.0
    with pytest.raises(ValueError, match=r"estimated has a constant column \(index 1\)"):
        mean_correlation_coefficient(constant, good)
    with pytest.raises(ValueError, match=r"truth has a constant column \(index 1\)"):
        mean_correlation_coefficient(good, constant)
    with pytest.raises(ValueError, match="method must be one of"):
        mean_correlation_coefficient(good, good, method="kendall")
