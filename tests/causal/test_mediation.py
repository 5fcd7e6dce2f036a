"""Mediation: known standardised effects inside their bootstrap CIs, the OLS identity, suppression."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.causal import first_principal_component, mediation_analysis


def _simulate(a: tuple[float, float], b: tuple[float, float], direct: float, n: int = 5000, seed: int = 0):
    """T, M1, M2, Y with unit variances, so the structural coefficients are the standardised ones.

    ``M_j = a_j T + sqrt(1 - a_j^2) e_j`` has variance 1 and ``corr(M1, M2) = a1 a2``; the noise
    of ``Y`` is scaled so that ``Var(Y) = 1`` as well.
    """
    rng = np.random.default_rng(seed)
    T = rng.normal(size=n)
    M = np.column_stack([aj * T + np.sqrt(1 - aj**2) * rng.normal(size=n) for aj in a])
    explained = (direct**2 + b[0] ** 2 + b[1] ** 2 + 2 * direct * (b[0] * a[0] + b[1] * a[1])
                 + 2 * b[0] * b[1] * a[0] * a[1])
    Y = direct * T + M @ np.array(b) + np.sqrt(1 - explained) * rng.normal(size=n)
    # arbitrary units: the analysis standardises
    return 3.0 * T + 1.0, {"platform": M[:, 0] * 2.0 - 5.0, "preference": M[:, 1] * 0.5}, 10.0 * Y + 2.0


def _zscore(x):
    return (x - x.mean()) / x.std()


SUPPRESSION = dict(a=(0.5, -0.4), b=(0.4, 0.3), direct=0.3)  # IE_preference = -0.12, opposite to c'
CONSISTENT = dict(a=(0.5, 0.4), b=(0.4, 0.3), direct=0.3)


@pytest.mark.parametrize("case", [SUPPRESSION, CONSISTENT])
def test_recovers_known_effects_within_bootstrap_cis(case):
    T, M, Y = _simulate(**case)
    result = mediation_analysis(T, M, Y, n_boot=1000, seed=1)
    a, b, c_prime = case["a"], case["b"], case["direct"]
    truth = {("a", "platform"): a[0], ("a", "preference"): a[1], ("b", "platform"): b[0],
             ("b", "preference"): b[1], ("indirect", "platform"): a[0] * b[0],
             ("indirect", "preference"): a[1] * b[1]}
    for (key, name), value in truth.items():
        est = result[key][name]
        assert est["estimate"] == pytest.approx(value, abs=0.05), (key, name)
        assert est["ci"][0] <= value <= est["ci"][1], (key, name, est)
    total = c_prime + a[0] * b[0] + a[1] * b[1]
    for key, value in (("direct", c_prime), ("total", total), ("total_indirect", total - c_prime)):
        assert result[key]["estimate"] == pytest.approx(value, abs=0.05), key
        assert result[key]["ci"][0] <= value <= result[key]["ci"][1], (key, result[key])
    assert result["n_boot_valid"] == 1000
    assert result["bootstrap"]["a"].shape == (1000, 2)


def test_total_is_direct_plus_indirect_exactly():
    T, M, Y = _simulate(**SUPPRESSION, n=700, seed=2)
    result = mediation_analysis(T, M, Y, n_boot=200)
    indirect = sum(result["indirect"][name]["estimate"] for name in result["names"])
    assert result["total"]["estimate"] == pytest.approx(result["direct"]["estimate"] + indirect, abs=1e-10)
    assert result["total_indirect"]["estimate"] == pytest.approx(indirect, abs=1e-10)
    assert sum(result["share"][name]["estimate"] for name in result["names"]) == pytest.approx(1.0, abs=1e-10)
    boot = result["bootstrap"]  # the identity holds in every resample as well
    np.testing.assert_allclose(boot["total"], boot["direct"] + boot["indirect"].sum(axis=1), atol=1e-10)


def test_point_estimates_are_ols_on_zscores():
    T, M, Y = _simulate(**CONSISTENT, n=400, seed=3)
    result = mediation_analysis(T, M, Y, n_boot=0)
    t, m1, m2, y = _zscore(T), _zscore(M["platform"]), _zscore(M["preference"]), _zscore(Y)
    ones = np.ones_like(t)

    def ols(target, *cols):
        return np.linalg.lstsq(np.column_stack([ones, *cols]), target, rcond=None)[0][1:]

    assert result["a"]["platform"]["estimate"] == pytest.approx(ols(m1, t)[0], abs=1e-10)
    assert result["a"]["preference"]["estimate"] == pytest.approx(ols(m2, t)[0], abs=1e-10)
    full = ols(y, t, m1, m2)
    assert result["direct"]["estimate"] == pytest.approx(full[0], abs=1e-10)
    assert result["b"]["platform"]["estimate"] == pytest.approx(full[1], abs=1e-10)
    assert result["b"]["preference"]["estimate"] == pytest.approx(full[2], abs=1e-10)
    assert result["total"]["estimate"] == pytest.approx(ols(y, t)[0], abs=1e-10)
    assert np.isnan(result["direct"]["ci"][0]) and result["n_boot"] == 0


def test_raw_units_without_standardising():
    T, M, Y = _simulate(**CONSISTENT, n=400, seed=4)
    result = mediation_analysis(T, M, Y, n_boot=0, standardize=False)
    X = np.column_stack([np.ones_like(T), T, M["platform"], M["preference"]])
    full = np.linalg.lstsq(X, Y, rcond=None)[0]
    assert result["direct"]["estimate"] == pytest.approx(full[1], rel=1e-9)
    assert result["b"]["preference"]["estimate"] == pytest.approx(full[3], rel=1e-9)
    slope = np.polyfit(T, M["platform"], 1)[0]
    assert result["a"]["platform"]["estimate"] == pytest.approx(slope, rel=1e-9)


def test_vectorised_bootstrap_matches_a_loop_over_resamples():
    # the resamples are rng.integers(0, n, (n_boot, n)) rows drawn with the given seed
    T, M, Y = _simulate(**SUPPRESSION, n=300, seed=5)
    result = mediation_analysis(T, M, Y, n_boot=40, seed=9)
    rows = np.random.default_rng(9).integers(0, 300, size=(40, 300))
    V = np.column_stack([T, M["platform"], M["preference"], Y])
    for r, idx in enumerate(rows):
        s = V[idx]
        z = (s - s.mean(axis=0)) / s.std(axis=0)
        design = np.column_stack([np.ones(300), z[:, :3]])
        coef = np.linalg.lstsq(design, z[:, 3], rcond=None)[0]
        a1 = np.linalg.lstsq(design[:, :2], z[:, 1], rcond=None)[0][1]
        assert result["bootstrap"]["direct"][r] == pytest.approx(coef[1], abs=1e-10)
        assert result["bootstrap"]["b"][r, 0] == pytest.approx(coef[2], abs=1e-10)
        assert result["bootstrap"]["a"][r, 0] == pytest.approx(a1, abs=1e-10)
    low, high = np.percentile(result["bootstrap"]["direct"], [2.5, 97.5])
    assert result["direct"]["ci"] == pytest.approx((low, high))


def test_suppression_is_flagged_and_consistent_mediation_is_not():
    sup = mediation_analysis(*_simulate(**SUPPRESSION, seed=6), n_boot=100)
    assert sup["suppression"] == {"platform": False, "preference": True}
    assert sup["signs"]["a"] == {"platform": 1, "preference": -1}
    assert sup["signs"]["indirect"]["preference"] == -1 and sup["signs"]["direct"] == 1
    assert sup["inconsistent"]
    con = mediation_analysis(*_simulate(**CONSISTENT, seed=6), n_boot=100)
    assert con["suppression"] == {"platform": False, "preference": False}
    assert not con["direct_exceeds_total"] and not con["inconsistent"]
    # a dominant suppressor makes the direct effect larger than the total
    strong = mediation_analysis(*_simulate(a=(0.6, -0.6), b=(0.1, 0.5), direct=0.3, seed=7), n_boot=100)
    assert strong["direct_exceeds_total"] and strong["suppression"]["preference"]


def test_array_dict_and_torch_inputs_agree():
    T, M, Y = _simulate(**CONSISTENT, n=500, seed=8)
    from_dict = mediation_analysis(T, M, Y, n_boot=50, seed=3)
    stacked = np.column_stack([M["platform"], M["preference"]])
    from_array = mediation_analysis(torch.from_numpy(T), torch.from_numpy(stacked), torch.from_numpy(Y),
                                    n_boot=50, seed=3, names=["platform", "preference"])
    for got, want in ((from_array["direct"], from_dict["direct"]), (from_array["total"], from_dict["total"]),
                      (from_array["indirect"]["preference"], from_dict["indirect"]["preference"])):
        assert got["estimate"] == pytest.approx(want["estimate"], abs=1e-12)
        assert got["ci"] == pytest.approx(want["ci"], abs=1e-12)
    single = mediation_analysis(T, M["platform"], Y, n_boot=0)
    assert single["names"] == ["M0"]


def test_errors():
    T, M, Y = _simulate(**CONSISTENT, n=50, seed=9)
    with pytest.raises(ValueError, match="same rows"):
        mediation_analysis(T[:-1], M, Y)
    with pytest.raises(ValueError, match="mediator 'platform' is constant"):
        mediation_analysis(T, {"platform": np.ones(50)}, Y)
    with pytest.raises(ValueError, match="names must be 1 distinct labels"):
        mediation_analysis(T, M["platform"], Y, names=["a", "b"])
    with pytest.raises(ValueError, match="outcome contains NaN"):
        mediation_analysis(T, M, np.full(50, np.nan))


def test_first_principal_component():
    rng = np.random.default_rng(10)
    factor = rng.normal(size=2000)
    loading = np.array([0.2, -3.0, 1.0])
    Z = factor[:, None] * loading + 0.1 * rng.normal(size=(2000, 3)) + 4.0
    pc = first_principal_component(Z)
    assert pc.shape == (2000,)
    assert abs(pc.mean()) < 1e-10
    # largest |loading| (-3.0) made positive: the scores run against the factor
    assert np.corrcoef(pc, factor)[0, 1] < -0.99
    with_ref = first_principal_component(torch.from_numpy(Z), sign_reference=factor)
    assert np.corrcoef(with_ref, factor)[0, 1] > 0.99
    np.testing.assert_allclose(with_ref, -pc, atol=1e-10)
    # the scores are the projection on the unit loading vector: their variance is the top eigenvalue
    top = np.linalg.eigvalsh(np.cov(Z.T, bias=True))[-1]
    assert pc.var() == pytest.approx(top, rel=1e-10)
    with pytest.raises(ValueError, match="no variance"):
        first_principal_component(np.ones((5, 2)))
