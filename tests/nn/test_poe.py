import pytest
import torch
from torch.distributions import Normal, kl_divergence

from graphrec.nn.poe import gaussian_kl, product_of_experts


def test_product_of_two_gaussians_by_hand():
    # N(0, 1) x N(3, 2): precisions 1 and 1/2, T = 3/2, mu = (0 * 1 + 3 * 0.5) / 1.5 = 1, var = 2/3
    mu = torch.tensor([[[0.0], [3.0]]])
    logvar = torch.tensor([[[1.0], [2.0]]]).log()  # variances 1 and 2
    m, lv = product_of_experts(mu, logvar)
    assert m.shape == (1, 1)
    assert m.item() == pytest.approx(1.0)
    assert lv.exp().item() == pytest.approx(2 / 3)


def test_a_missing_expert_drops_out():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, 4, generator=g), torch.randn(5, 3, 4, generator=g)
    mask = torch.tensor([True, False, True]).expand(5, 3)
    m, lv = product_of_experts(mu, logvar, mask)
    m2, lv2 = product_of_experts(mu[:, [0, 2]], logvar[:, [0, 2]])
    torch.testing.assert_close(m, m2)
    torch.testing.assert_close(lv, lv2)
    # one expert present: the expert itself; the absent one's values (even NaN) do not matter
    mu_nan = mu.clone()
    mu_nan[:, 1] = float("nan")
    m1, lv1 = product_of_experts(mu_nan, logvar, torch.tensor([True, False, False]).expand(5, 3))
    torch.testing.assert_close(m1, mu[:, 0])
    torch.testing.assert_close(lv1, logvar[:, 0])


def test_no_expert_gives_the_standard_normal_and_gradients_are_finite():
    mu = torch.randn(2, 2, 3, requires_grad=True)
    logvar = torch.randn(2, 2, 3, requires_grad=True)
    mask = torch.tensor([[True, True], [False, False]])
    m, lv = product_of_experts(mu, logvar, mask)
    assert torch.equal(m[1], torch.zeros(3)) and torch.equal(lv[1], torch.zeros(3))
    (m.sum() + lv.sum()).backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(logvar.grad).all()
    assert torch.equal(mu.grad[1], torch.zeros(2, 3))


def test_poe_matches_the_precision_weighted_formula_in_float64():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(4, 3, 5, generator=g, dtype=torch.float64), torch.randn(4, 3, 5, generator=g,
                                                                                      dtype=torch.float64)
    t = torch.exp(-logvar)
    m, lv = product_of_experts(mu, logvar)
    torch.testing.assert_close(m, (t * mu).sum(1) / t.sum(1))
    torch.testing.assert_close(lv, -t.sum(1).log())
    assert torch.autograd.gradcheck(lambda a, b: product_of_experts(a, b),
                                    (mu.requires_grad_(), logvar.requires_grad_()))


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    mq, lq, mp, lp = (torch.randn(6, 4, generator=g) for _ in range(4))
    expected = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp()))
    torch.testing.assert_close(gaussian_kl(mq, lq, mp, lp), expected)
    standard = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(torch.zeros(()), torch.ones(())))
    torch.testing.assert_close(gaussian_kl(mq, lq), standard)
    assert gaussian_kl(mq, lq, mq, lq).abs().max() < 1e-6
