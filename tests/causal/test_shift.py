"""Channel shift: no movement, movement confined to one channel, analytic displacement; rank check."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.causal import channel_shift, gaussian_natural_parameters, identifiability_rank

CHANNELS = {"platform": slice(0, 3), "preference": [3, 4]}


def _codes(n: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 5)) * np.array([1.0, 2.0, 0.5, 1.0, 3.0])


def test_no_movement_when_nothing_changes():
    codes = _codes()
    result = channel_shift(codes, codes.copy(), CHANNELS)
    for name in CHANNELS:
        assert result[name]["delta"] == 0.0 and result[name]["mean_distance"] == 0.0
        assert result[name]["corr"] == pytest.approx(1.0, abs=1e-12)
    assert result["platform"]["dim"] == 3 and result["preference"]["dim"] == 2


def test_a_shift_in_one_channel_moves_only_that_channel():
    before = _codes(seed=1)
    after = before.copy()
    after[:, :3] += np.random.default_rng(2).normal(size=(1000, 3))  # re-encoded platform codes
    result = channel_shift(before, torch.from_numpy(after), CHANNELS)
    assert result["platform"]["delta"] > 0.5
    assert result["preference"]["delta"] == 0.0
    assert result["platform"]["corr"] < 0.95
    assert result["preference"]["corr"] == pytest.approx(1.0, abs=1e-12)


def test_known_translation_hand_case():
    # columns with sample variance 2/3 each (N - 1 = 3): tr Cov = 4/3; |t| = |(3, 4)| = 5
    before = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    result = channel_shift(before, before + np.array([3.0, 4.0]))["all"]
    assert result["mean_distance"] == pytest.approx(5.0)
    assert result["scale"] == pytest.approx(np.sqrt(4.0 / 3.0))
    assert result["delta"] == pytest.approx(5.0 * np.sqrt(3.0) / 2.0)
    np.testing.assert_allclose(result["corr_per_dim"], [1.0, 1.0])


def test_translation_on_random_codes_matches_the_formula():
    before = _codes(seed=3)
    t = np.array([0.0, 0.0, 0.0, 1.0, -2.0])
    result = channel_shift(before, before + t, CHANNELS)
    expected = np.sqrt(5.0) / np.sqrt(np.trace(np.cov(before[:, 3:].T)))
    assert result["preference"]["delta"] == pytest.approx(expected, rel=1e-12)
    assert result["platform"]["delta"] == 0.0


def test_correlation_of_noisy_and_flipped_codes():
    before = _codes(n=20000, seed=4)[:, :2] / np.array([1.0, 2.0])  # unit variances
    noisy = before + np.random.default_rng(5).normal(size=before.shape)
    assert channel_shift(before, noisy)["all"]["corr"] == pytest.approx(1 / np.sqrt(2), abs=0.02)
    assert channel_shift(before, -before)["all"]["corr"] == pytest.approx(-1.0, abs=1e-12)
    collapsed = before.copy()
    collapsed[:, 1] = 0.0  # a coordinate with no spread after the shift has no correlation
    result = channel_shift(before, collapsed)["all"]
    assert np.isnan(result["corr_per_dim"][1]) and result["corr"] == pytest.approx(1.0)


def test_channel_errors():
    codes = _codes(n=10)
    with pytest.raises(ValueError, match="same users"):
        channel_shift(codes, codes[:9])
    with pytest.raises(ValueError, match="'p' has indices outside"):
        channel_shift(codes, codes, {"p": [0, 7]})
    with pytest.raises(ValueError, match="'p' selects no dimension"):
        channel_shift(codes, codes, {"p": slice(5, 5)})
    with pytest.raises(ValueError, match="'p' is constant before the shift"):
        channel_shift(np.zeros((10, 2)), codes[:, :2], {"p": [0, 1]})


def test_identifiability_rank():
    rng = np.random.default_rng(6)
    k = 3
    mean, var = rng.normal(size=(200, k)), np.exp(rng.normal(size=(200, k)))
    lam = gaussian_natural_parameters(torch.from_numpy(mean), var)
    np.testing.assert_allclose(lam, np.hstack([mean / var, -0.5 / var]))
    full = identifiability_rank(lam)
    assert full["rank"] == full["affine_rank"] == full["required"] == 2 * k and full["identifiable"]
    # every user with the same prior: no variation at all
    same = identifiability_rank(np.tile(lam[:1], (200, 1)))
    assert same["rank"] == 1 and same["affine_rank"] == 0 and not same["identifiable"]
    # constant variance: the second-order half never varies, full plain rank is not enough
    fixed = identifiability_rank(gaussian_natural_parameters(mean, np.ones_like(mean)))
    assert fixed["rank"] == k + 1 and fixed["affine_rank"] == k and not fixed["identifiable"]
    assert identifiability_rank(lam, required=k)["identifiable"]
    with pytest.raises(ValueError, match="var must be positive"):
        gaussian_natural_parameters(mean, -var)
