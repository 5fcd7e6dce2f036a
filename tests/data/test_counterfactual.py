"""Counterfactual recommendation histories: what each policy draws, and what it leaves alone."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from graphrec.data.counterfactual import REWRITE_POLICIES, rewrite_rec_history
from graphrec.data.datasets.synthetic import SyntheticConfig, simulate_world
from graphrec.data.hetero import build_hetero_data
from graphrec.data.split import leave_one_out
from graphrec.models.hmv_crl import item_categories


@pytest.fixture(scope="module")
def world():
    logs = simulate_world(SyntheticConfig(num_users=120, num_items=80, num_topics=4, num_brands=10,
                                          mean_rec_interactions=12.0)).logs
    split = leave_one_out(logs)
    categories, _ = item_categories(build_hetero_data(logs, split))
    return logs, split, categories


def _train_items(logs, split, user):
    rows = split.train[logs.rec.user[split.train] == user]
    return set(logs.rec.item[rows].tolist())


@pytest.mark.parametrize("policy", REWRITE_POLICIES)
def test_only_training_rec_items_change(world, policy):
    logs, split, categories = world
    before = logs.rec.item.clone()
    out = rewrite_rec_history(logs, split, policy, seed=3, categories=categories)
    assert torch.equal(logs.rec.item, before)  # a copy: the input is not changed
    held = torch.cat([split.valid, split.test])
    assert torch.equal(out.rec.item[held], before[held])
    assert torch.equal(out.rec.user, logs.rec.user) and torch.equal(out.rec.time, logs.rec.time)
    assert out.search is logs.search
    if logs.impressions is not None:  # impressions drawn from the same policy, flags and times kept
        assert torch.equal(out.impressions.clicked, logs.impressions.clicked)
        assert torch.equal(out.impressions.time, logs.impressions.time)
        assert (out.impressions.item != logs.impressions.item).any()
    assert (out.rec.item[split.train] != before[split.train]).any()
    again = rewrite_rec_history(logs, split, policy, seed=3, categories=categories)
    assert torch.equal(again.rec.item, out.rec.item)  # the same seed, the same draws


def test_own_draws_come_from_the_users_own_history(world):
    logs, split, categories = world
    out = rewrite_rec_history(logs, split, "own", seed=0)
    for user in range(0, logs.num_users, 7):
        rows = split.train[logs.rec.user[split.train] == user]
        assert set(out.rec.item[rows].tolist()) <= _train_items(logs, split, user)


def test_popular_draws_follow_training_popularity(world):
    logs, split, _ = world
    popularity = torch.bincount(logs.rec.item[split.train], minlength=logs.num_items).double()
    drawn = sum(torch.bincount(rewrite_rec_history(logs, split, "popular", seed=s).rec.item[split.train],
                               minlength=logs.num_items).double() for s in range(10))
    assert drawn[popularity == 0].sum() == 0  # never an item no training row has
    share = popularity / popularity.sum()
    assert torch.corrcoef(torch.stack([share, drawn / drawn.sum()]))[0, 1] > 0.97


def test_search_draws_come_from_the_categories_the_user_searched(world):
    logs, split, categories = world
    out = rewrite_rec_history(logs, split, "search", seed=0, categories=categories)
    search = logs.search.subset(split.search_train)
    cats_of = [set(categories.values[categories.ptr[i]:categories.ptr[i + 1]].tolist())
               for i in range(logs.num_items)]
    everyone = set().union(*(cats_of[i] for i in search.item.tolist()))
    checked = 0
    for user in range(logs.num_users):
        rows = split.train[logs.rec.user[split.train] == user]
        mine = search.item[search.user == user].tolist()
        allowed = set().union(*(cats_of[i] for i in mine)) if mine else everyone
        for item in out.rec.item[rows].tolist():
            assert cats_of[item] & allowed
            checked += 1
    assert checked == split.train.numel()


def test_bad_policies_and_missing_inputs_are_errors(world):
    logs, split, categories = world
    with pytest.raises(ValueError, match="unknown policy 'random'.*popular, search, own"):
        rewrite_rec_history(logs, split, "random")
    with pytest.raises(ValueError, match="needs search logs and item categories.*no item categories"):
        rewrite_rec_history(logs, split, "search")
    no_search = dataclasses.replace(logs, search=None)
    with pytest.raises(ValueError, match="no search"):
        rewrite_rec_history(no_search, split, "search", categories=categories)
