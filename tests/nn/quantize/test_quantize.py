"""Residual quantisation (GSERec S3): Sinkhorn, the quantiser, the two-tower RQ-VAE, fit and code assignment."""
import math

import pytest
import torch
import torch.nn.functional as F

from graphrec.nn.cluster import kmeans
from graphrec.nn.quantize import (
    ResidualQuantizer,
    RQVAEConfig,
    RQVAETower,
    TwoTowerRQVAE,
    assign_codes,
    codebook_usage,
    collision_rate,
    fit_rqvae,
    sinkhorn_assign,
    sinkhorn_plan,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _unit_rows(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=_gen(seed)), dim=1)


# ------------------------------------------------------------------ Sinkhorn
def test_sinkhorn_plan_marginals_and_determinism():
    d = torch.rand(50, 8, generator=_gen(1))
    q = sinkhorn_plan(d)
    assert torch.allclose(q.sum(0), torch.full((8,), 50 / 8, dtype=q.dtype))  # columns exact (last step)
    assert torch.isfinite(q).all()
    assert torch.equal(sinkhorn_assign(d), sinkhorn_assign(d.clone()))


def test_sinkhorn_scaling_and_log_domain_agree():
    d = torch.rand(300, 64, generator=_gen(30)) ** 3
    scaling, log = sinkhorn_plan(d, method="scaling"), sinkhorn_plan(d, method="log")
    assert torch.allclose(scaling, log, rtol=1e-8, atol=1e-12)
    assert torch.equal(sinkhorn_plan(d), scaling)
    tiny = sinkhorn_plan(d, epsilon=1e-3)  # kernel not representable: the log domain is used
    assert torch.isfinite(tiny).all() and torch.equal(tiny, sinkhorn_plan(d, epsilon=1e-3, method="log"))
    with pytest.raises(ValueError, match="method"):
        sinkhorn_plan(d, method="exp")


def test_sinkhorn_balances_a_skewed_input():
    g = _gen(2)
    codes = torch.randn(32, 4, generator=g)
    x = codes[0] + 0.3 * torch.randn(1024, 4, generator=g)  # nearly every point is closest to code 0's region
    d = torch.cdist(x, codes) ** 2
    nn_counts = d.argmin(1).bincount(minlength=32)
    sk_counts = sinkhorn_assign(d).bincount(minlength=32)
    assert nn_counts.max() > 200 and (nn_counts > 0).sum() < 32
    assert (sk_counts > 0).all() and sk_counts.max() <= 2 * 1024 // 32
    perp = [codebook_usage(c[:, None], 32)["perplexity"][0] for c in (d.argmin(1), sinkhorn_assign(d))]
    assert perp[1] > 2 * perp[0]


def test_sinkhorn_constant_and_empty_inputs():
    assert sinkhorn_assign(torch.ones(4, 3)).shape == (4,)
    assert sinkhorn_assign(torch.zeros(0, 3)).shape == (0,)


# ------------------------------------------------------------------ quantiser
def test_round_trip_exact_with_data_codebooks():
    x = torch.randn(8, 4, generator=_gen(3))
    rq = ResidualQuantizer(num_levels=3, num_codes=8, dim=4).eval()
    with torch.no_grad():
        rq.codebooks[0].copy_(x)
        rq.codebooks[1:].normal_(generator=_gen(4))
        rq.codebooks[1:, 5] = 0.0  # a zero code keeps the exact residual at 0 on later levels
    out = rq(x)
    assert torch.allclose(out.quantized, x, atol=1e-6)
    assert out.codes[:, 0].tolist() == list(range(8))
    assert (out.codes[:, 1:] == 5).all()
    assert out.loss.item() < 1e-10


def test_residual_norms_decrease_level_by_level():
    z = torch.randn(600, 8, generator=_gen(5))
    rq = ResidualQuantizer(num_levels=4, num_codes=32, dim=8, sinkhorn_last_level=False)
    rq(z, generator=_gen(6))  # training mode: k-means init
    out = rq.eval()(z)
    norms = out.residuals.norm(dim=2).mean(0)
    final = (z - out.quantized).norm(dim=1).mean()
    assert (norms[1:] < norms[:-1]).all() and final < norms[-1]


def test_straight_through_gradient_is_the_identity_path():
    tower = RQVAETower(6, hidden=(5,), latent_dim=3, num_levels=2, num_codes=4)
    x = torch.randn(20, 6, generator=_gen(7))
    tower(x, generator=_gen(8))  # initialise the codebooks
    w = torch.randn(20, 3, generator=_gen(9))
    x1 = x.clone().requires_grad_()
    (tower.quantizer(tower.encoder(x1)).quantized * w).sum().backward()
    x2 = x.clone().requires_grad_()
    (tower.encoder(x2) * w).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


def test_codebook_and_commitment_loss_hand_case():
    rq = ResidualQuantizer(num_levels=2, num_codes=2, dim=2, beta=0.25, sinkhorn_last_level=False).eval()
    with torch.no_grad():
        rq.codebooks.copy_(torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [-0.2, 0.1]]]))
    z = torch.tensor([[0.8, 1.0]], requires_grad=True)
    out = rq(z)
    # level 1: e=(1,1), r-e=(-0.2,0): MSE 0.02, loss 0.02*(1+0.25); level 2: r=(-0.2,0), e=(-0.2,0.1): MSE 0.005
    assert out.codes.tolist() == [[1, 1]]
    assert math.isclose(float(out.loss), (0.025 + 0.00625) / 2, rel_tol=1e-5)
    assert torch.allclose(out.quantized, torch.tensor([[0.8, 1.1]]))
    out.loss.backward()
    # encoder side: only the commitment terms, beta * 2 (r - e) / D / L per level
    assert torch.allclose(z.grad, torch.tensor([[-0.025, -0.0125]]), atol=1e-6)
    # codebook side: only the chosen codes, 2 (e - r) / D / L
    expected = torch.zeros(2, 2, 2)
    expected[0, 1] = torch.tensor([0.1, 0.0])
    expected[1, 1] = torch.tensor([0.0, 0.05])
    assert torch.allclose(rq.codebooks.grad, expected, atol=1e-6)


def test_kmeans_init_on_first_training_batch_only():
    z = torch.randn(300, 4, generator=_gen(10))
    rq = ResidualQuantizer(num_levels=1, num_codes=16, dim=4, sinkhorn_last_level=False)
    rq.eval()(z)
    assert not bool(rq.initialized)  # eval never initialises
    rq.train()(z, generator=_gen(11))
    assert bool(rq.initialized)
    centroids, _ = kmeans(z, 16, iters=100, generator=_gen(11))
    assert torch.allclose(rq.codebooks[0], centroids)
    before = rq.codebooks.detach().clone()
    rq(torch.randn(300, 4, generator=_gen(12)), generator=_gen(13))
    assert torch.equal(rq.codebooks.detach(), before)
    small = ResidualQuantizer(num_levels=2, num_codes=16, dim=4)  # fewer points than codes
    small(z[:5], generator=_gen(0))
    assert torch.isfinite(small.codebooks).all()


def test_training_uses_sinkhorn_on_last_level_eval_uses_nearest():
    g = _gen(14)
    z = torch.randn(512, 4, generator=g) * torch.tensor([3.0, 1.0, 1.0, 1.0])
    rq = ResidualQuantizer(num_levels=2, num_codes=8, dim=4)
    rq(z[:256], generator=g)
    with torch.no_grad():  # one far away code attracts nobody under nearest neighbour
        rq.codebooks[1, 7] = 50.0
    train_codes = rq.train()(z).codes
    eval_out = rq.eval()(z)
    assert (train_codes[:, 1] == 7).any() and not (eval_out.codes[:, 1] == 7).any()
    assert torch.equal(train_codes[:, 0], eval_out.codes[:, 0])
    assert train_codes[:, 1].bincount(minlength=8).max() <= 2 * 512 // 8


def test_dead_code_reset_revives_unused_codes_and_usage_stats():
    z = torch.randn(200, 3, generator=_gen(15))
    rq = ResidualQuantizer(num_levels=1, num_codes=8, dim=3, sinkhorn_last_level=False, dead_code_window=2)
    rq(z, generator=_gen(16))  # init + first batch of the window
    with torch.no_grad():
        rq.codebooks[0, 3] = 1e3  # dead from now on
    rq.reset_usage()
    rq(z, generator=_gen(17))
    assert rq.window_steps.item() == 1 and rq.usage_stats()["counts"][0, 3] == 0
    out = rq(z, generator=_gen(18))  # the window closes: code 3 re-seeded from this batch
    revived = rq.codebooks[0, 3].detach()
    assert (out.residuals[:, 0] == revived).all(1).any()
    assert (rq.eval()(z).codes[:, 0] == 3).any()
    assert rq.window_steps.item() == 0
    stats = rq.usage_stats()
    assert stats["counts"].sum() == 2 * 200
    assert stats["used_share"].shape == (1,) and 0 < stats["perplexity"][0] <= 8
    # off: no window, nothing reset
    off = ResidualQuantizer(num_levels=1, num_codes=8, dim=3, sinkhorn_last_level=False)
    off(z, generator=_gen(16))
    assert off.window_steps.item() == 0


def test_dead_code_reset_direct_call():
    rq = ResidualQuantizer(num_levels=2, num_codes=4, dim=2)
    rq.window_counts[0] = torch.tensor([1, 0, 2, 0])
    rq.window_counts[1] = torch.tensor([1, 1, 1, 1])
    res = torch.randn(10, 2, 2, generator=_gen(19))
    reset = rq.dead_code_reset(res, generator=_gen(20))
    assert reset.tolist() == [2, 0]
    for k in (1, 3):
        assert (res[:, 0] == rq.codebooks[0, k].detach()).all(1).any()


# ------------------------------------------------------------------ statistics
def test_collision_rate_and_codebook_usage_hand_case():
    codes = torch.tensor([[0, 1], [0, 1], [1, 1], [2, 0]])
    assert collision_rate(codes) == 0.5
    assert collision_rate(torch.stack([codes, torch.arange(8).view(4, 2)], 1)) == 0.25
    u = codebook_usage(codes, 4)
    assert u["counts"].tolist() == [[2, 1, 1, 0], [1, 3, 0, 0]]
    assert u["used_share"].tolist() == [0.75, 0.5]
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    assert torch.isclose(u["perplexity"][0], (-(p * p.log()).sum()).exp())
    assert codebook_usage(torch.stack([codes, codes], 1), 4)["used_share"].shape == (2, 2)


# ------------------------------------------------------------------ two towers
def test_rq_cl_matches_definition_and_rewards_alignment():
    model = TwoTowerRQVAE(8, hidden=(8,), latent_dim=4, num_codes=4)
    g = _gen(21)
    zr, zs = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    z = F.normalize(torch.cat([zr, zs]), dim=1)
    sim = z @ z.t() / 0.1
    terms = []
    for a in range(10):  # 2B anchors, positive = same user other domain, 2B - 2 negatives
        pos = (a + 5) % 10
        others = [b for b in range(10) if b != a]
        terms.append(-(sim[a, pos] - torch.logsumexp(sim[a, others], 0)))
    assert torch.isclose(model.rq_cl(zr, zs), torch.stack(terms).mean(), atol=1e-5)
    aligned = model.rq_cl(zr, zr + 0.01 * torch.randn(5, 4, generator=g))
    assert aligned < model.rq_cl(zr, zs)


def test_two_tower_loss_composition_and_codes():
    g = _gen(22)
    x, y = torch.randn(64, 12, generator=g), torch.randn(64, 12, generator=g)
    model = TwoTowerRQVAE(12, hidden=(8,), latent_dim=4, num_levels=2, num_codes=8, rq_cl_weight=0.5)
    out = model.loss(x, y, generator=g)
    assert set(out) == {"loss", "recon", "vq", "rq_cl"}
    assert torch.isclose(out["loss"], out["recon"] + out["vq"] + 0.5 * out["rq_cl"])
    out["loss"].backward()
    assert model.rec.encoder[0].weight.grad is not None and model.search.quantizer.codebooks.grad is not None
    codes = model.codes(x, y)
    assert codes.shape == (64, 2, 2) and codes.dtype == torch.long and model.training


# ------------------------------------------------------------------ fit and code assignment
def test_assign_codes_repairs_collisions_on_random_data():
    x, y = _unit_rows(2000, 64, 23), _unit_rows(2000, 64, 24)
    torch.manual_seed(0)
    model = TwoTowerRQVAE(64, num_levels=4, num_codes=16)
    model(x, y, generator=_gen(25))  # k-means initialisation of the codebooks
    plain = assign_codes(model, x, y, repair_rounds=0)
    codes, report = assign_codes(model, x, y, return_report=True)
    assert collision_rate(plain) > 0
    assert collision_rate(codes) == 0.0 and report["rec"]["collided_after"] == 0
    assert report["rec"]["collided_before"] == round(collision_rate(plain[:, 0]) * 2000)
    assert torch.equal(codes[:, :, :3], plain[:, :, :3])  # only the last level moves


def test_assign_codes_identical_inputs_stay_collided():
    x = _unit_rows(120, 16, 26)
    x[10:20] = x[0]  # eleven users with the same input
    torch.manual_seed(0)
    model = TwoTowerRQVAE(16, hidden=(16,), latent_dim=8, num_levels=3, num_codes=8)
    model(x, x, generator=_gen(27))
    codes, report = assign_codes(model, x, x, return_report=True)
    assert report["rec"]["identical_inputs"] >= 11 and report["rec"]["rounds"] <= 20
    assert len(set(map(tuple, codes[[0, *range(10, 20)], 0].tolist()))) == 1


def test_fit_rqvae_small_problem_reduces_recon_and_is_deterministic():
    x, y = _unit_rows(500, 64, 28), _unit_rows(500, 64, 29) * 0.5 + _unit_rows(500, 64, 28) * 0.5
    cfg = RQVAEConfig(epochs=20, batch_size=128, warmup_epochs=2, num_codes=32, eval_every=5)
    m1, h1 = fit_rqvae(x, y, cfg, progress=False)
    m2, h2 = fit_rqvae(x, y, cfg, progress=False)
    assert h1["recon"][-1] < h1["recon"][0]
    assert h1["eval_epoch"] == [5, 10, 15, 20] and h1["best_collision_rate"] == min(h1["collision_rate"])
    assert not m1.training
    assert torch.equal(assign_codes(m1, x, y), assign_codes(m2, x, y))
    assert h1["loss"] == h2["loss"]
    _, h3 = fit_rqvae(x, y, cfg, generator=_gen(123), progress=False)
    assert h3["loss"] != h1["loss"]


@pytest.mark.parametrize("hidden", [(512, 256, 128, 64), (256, 128, 64)])
def test_tower_shapes_follow_hidden(hidden):
    tower = RQVAETower(1024 if len(hidden) == 4 else 384, hidden=hidden)
    sizes = [m.out_features for m in tower.encoder if isinstance(m, torch.nn.Linear)]
    assert sizes == [*hidden, 32]
    assert [m.out_features for m in tower.decoder if isinstance(m, torch.nn.Linear)][-1] == tower.in_dim
    assert not isinstance(tower.encoder[-1], torch.nn.ReLU) and not isinstance(tower.decoder[-1], torch.nn.ReLU)


def test_fit_rqvae_progress_bar_and_dead_code_setting(capsys):
    x = _unit_rows(40, 8, 31)
    cfg = RQVAEConfig(hidden=(8,), latent_dim=4, num_levels=2, num_codes=4, epochs=2, batch_size=16,
                      warmup_epochs=1, eval_every=1, dead_code_window=1)
    model, hist = fit_rqvae(x, x, cfg, progress=True)
    assert len(hist["loss"]) == 2 and hist["eval_epoch"] == [1, 2]
    assert model.rec.quantizer.dead_code_window == 1
    assert "RQ-VAE" in capsys.readouterr().err
    with pytest.raises(ValueError, match="same users"):
        fit_rqvae(x, x[:10], cfg, progress=False)
