"""The synthetic world's truth object, impressions and policy re-simulation."""
from __future__ import annotations

import dataclasses

import networkx as nx
import pytest
import torch

from graphrec.data.datasets.synthetic import (
    POLICY_FIELDS,
    SyntheticConfig,
    intervene_world,
    resimulate_world,
    simulate_world,
)

SMALL = SyntheticConfig(num_users=300, num_items=200, num_topics=8, num_brands=40, mean_rec_interactions=15.0)
#: a policy that fills most slots by popularity instead of by taste
POPULAR = (1.5, -1.5, -1.0)


@pytest.fixture(scope="module")
def small():
    return simulate_world(SMALL)


def test_every_engagement_is_one_clicked_slate_and_skips_come_first(small):
    logs, imp = small.logs, small.impressions
    engaged = imp.clicked >= 0
    # one engaged slate per logged recommendation row, holding the logged item
    assert int(engaged.sum()) == len(logs.rec)
    rows = imp.rec_row[engaged]
    assert torch.equal(rows.sort().values, torch.arange(len(logs.rec)))
    picked = imp.items[engaged].gather(1, imp.clicked[engaged][:, None]).squeeze(1)
    assert torch.equal(picked, logs.rec.item[rows])
    assert torch.equal(imp.user, logs.rec.user[imp.rec_row])
    assert torch.equal(imp.time, logs.rec.time[imp.rec_row])
    # slates of one engagement: the skipped ones, then the engaged one
    for r in torch.unique(imp.rec_row)[:50].tolist():
        c = imp.clicked[imp.rec_row == r]
        assert int(c[-1]) >= 0 and bool((c[:-1] < 0).all())
    assert int((~engaged).sum()) > 0
    assert imp.items.shape[1] == SMALL.slate_size + SMALL.explore_slots
    assert small.truth["impression.source"].shape == imp.items.shape


def test_click_rate_is_an_outcome_the_policy_moves(small):
    U = SMALL.num_users
    rate = small.impressions.click_rate(U)
    assert bool(((rate > 0) & (rate <= 1)).all()) and float(rate.std()) > 0.05
    # the same draw of the recommendation surface under two policies: slates filled by
    # popularity instead of by taste are engaged with less often (0.55 vs 0.60; seeds
    # 1-3 agree within 0.004)
    same = resimulate_world(SMALL, seed=1).impressions.click_rate(U)
    shifted = resimulate_world(SMALL, platform_bias=POPULAR, seed=1).impressions.click_rate(U)
    assert abs(float(same.mean()) - float(rate.mean())) < 0.02
    assert float(shifted.mean()) < float(same.mean()) - 0.03


def test_impressions_do_not_change_the_logs_or_the_truth(small):
    quick = simulate_world(SMALL, impressions=False)
    for k in ("user", "item", "time"):
        assert torch.equal(getattr(quick.logs.rec, k), getattr(small.logs.rec, k))
    assert torch.equal(quick.logs.search.item, small.logs.search.item)
    for k in small.truth.keys():
        if k != "impression.source":
            assert torch.equal(quick.truth[k], small.truth[k]), k
    assert len(quick.impressions) == len(small.logs.rec)  # only the engaged slates


def test_resimulated_policy_shift_has_a_known_answer(small):
    shifted = resimulate_world(SMALL, platform_bias=POPULAR, seed=3)
    a, b = small, shifted
    # the users, their searches and their clock are held ...
    for k in ("user", "query", "item", "time"):
        assert torch.equal(getattr(a.logs.search, k), getattr(b.logs.search, k)), k
    assert torch.equal(a.logs.rec.user, b.logs.rec.user) and torch.equal(a.logs.rec.time, b.logs.rec.time)
    assert torch.equal(a.truth["rec_intent"], b.truth["rec_intent"])
    for k in ("user.z_pref", "user.z_platform", "user.u_pref", "user.u_platform"):
        assert torch.equal(a.truth[k], b.truth[k]), k
    # ... the policy's log-odds move by exactly the change of platform_bias ...
    delta = torch.tensor(POPULAR) - torch.tensor(SMALL.platform_bias)
    moved = b.truth["user.policy_logits"] - a.truth["user.policy_logits"]
    assert torch.allclose(moved, delta.expand_as(moved).float(), atol=1e-5)
    # ... and the recommendation surface follows it
    assert not torch.equal(a.logs.rec.item, b.logs.rec.item)
    by_pop = [float(x.truth["user.exposure_share"][:, 0].mean()) for x in (a, b)]  # 0: "popularity"
    assert by_pop[1] > 2 * by_pop[0]
    assert b.truth.config.platform_bias == POPULAR


def test_resimulation_without_a_change_redraws_only_the_recommendation_surface(small):
    again = resimulate_world(SMALL, seed=5)
    assert again.truth.config == SMALL
    assert torch.equal(again.logs.search.item, small.logs.search.item)
    same = float((again.logs.rec.item == small.logs.rec.item).double().mean())
    assert 0.0 < same < 0.9  # a second draw, not a copy


def test_resimulate_rejects_what_is_not_the_policy():
    with pytest.raises(ValueError, match="num_users.*policy fields"):
        resimulate_world(SMALL, num_users=10)
    assert "platform_bias" in POLICY_FIELDS


def test_intervention_on_the_volume_moves_what_follows_it_only(small):
    U = SMALL.num_users
    base, more = intervene_world(SMALL, rec_volume=1.0, seed=2), intervene_world(SMALL, rec_volume=3.0, seed=2)
    for k in ("user.z_pref", "user.z_platform", "user.u_pref", "user.u_platform", "user.policy_logits"):
        assert torch.equal(base.truth[k], small.truth[k]) and torch.equal(more.truth[k], small.truth[k]), k
    n = [torch.bincount(w.logs.rec.user, minlength=U).double().mean() for w in (small, base, more)]
    assert abs(n[1] - n[0]) < 0.1 * n[0] and n[2] > 1.5 * n[1]  # the factor acts on the rate beyond the minimum
    # more engagements block more of later slates: the click rate falls (the effect the report's truth measures)
    assert more.impressions.click_rate(U).mean() < base.impressions.click_rate(U).mean()
    again = intervene_world(SMALL, rec_volume=3.0, seed=2)
    assert torch.equal(again.logs.rec.item, more.logs.rec.item)  # deterministic in (config, factor, seed)
    with pytest.raises(ValueError, match="rec_volume must be > 0"):
        intervene_world(SMALL, rec_volume=0.0)


@pytest.mark.parametrize("k_p", [2, 6])
def test_platform_latent_size_is_configurable(k_p):
    cfg = dataclasses.replace(SMALL, platform_dim=k_p)
    truth = simulate_world(cfg, impressions=False).truth
    z_p, controls = truth["user.z_platform"], truth["user.platform_controls"]
    assert z_p.shape == (SMALL.num_users, k_p) and controls.shape == (SMALL.num_users, 4)
    # the controls are a fixed linear map of the latent (least squares fits exactly)
    fit = torch.linalg.lstsq(z_p.double(), controls.double()).solution
    assert torch.allclose(z_p.double() @ fit, controls.double(), atol=1e-4)
    if k_p < 4:
        assert int(torch.linalg.matrix_rank(fit)) == k_p  # injective: identifiable from behaviour


def test_default_platform_latent_is_the_controls(small):
    assert torch.equal(small.truth["user.z_platform"], small.truth["user.platform_controls"])


def test_causal_graph_is_a_dag_of_the_simulator(small):
    g = small.truth.causal_graph()
    assert nx.is_directed_acyclic_graph(g)
    assert g.has_edge("z_platform", "exposure") and g.has_edge("z_pref", "rec_clicks")
    assert not g.has_edge("z_platform", "z_pref") and not nx.has_path(g, "u_platform", "z_pref")
    assert all(g.edges[e]["how"] for e in g.edges)


def test_truth_names_what_it_lacks(small):
    with pytest.raises(KeyError, match="no 'user.z'.*user.z_pref"):
        small.truth["user.z"]


def test_offtaste_searches_are_marked_and_carry_no_taste(small):
    """search_offtaste: the marked share of searches, whose clicked items match the user's
    taste no better than chance, while on-taste clicks do; the recommendation surface is
    drawn as before (its own generator) and a world without them draws nothing new."""
    assert not bool(small.truth["search_offtaste"].any())
    cfg = dataclasses.replace(SMALL, search_offtaste=0.5)
    off = simulate_world(cfg, impressions=False)
    flag = off.truth["search_offtaste"]
    assert flag.numel() == len(off.logs.search) and 0.4 < float(flag.double().mean()) < 0.6
    assert torch.equal(off.logs.rec.user, small.logs.rec.user)
    z, theta = off.truth["user.z_pref"], off.truth["item.embedding"]
    taste = (z[off.logs.search.user] * theta[off.logs.search.item]).sum(-1)
    baseline = (z[off.logs.search.user] * theta.mean(0)).sum(-1)  # an average item
    lift = taste - baseline
    # (seed 0: on-taste 6.4, off-taste 0.2, a standard error of about 0.2 on each)
    assert float(lift[~flag].mean()) > 3.0 and abs(float(lift[flag].mean())) < 1.0
    # a policy shift replays the searches, their marks included
    shifted = resimulate_world(cfg, platform_bias=POPULAR, seed=3)
    assert torch.equal(shifted.truth["search_offtaste"], flag)
    with pytest.raises(ValueError, match="search_offtaste"):
        SyntheticConfig(search_offtaste=1.5)
