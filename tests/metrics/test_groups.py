"""Metrics broken down by user group (``groups=`` of full_ranking / sampled_ranking)."""
import math

import pytest
import torch

from graphrec.data.ragged import Ragged
from graphrec.metrics import full_ranking, sampled_ranking

NAMES = ["no_search", "sparse", "rich", "empty"]


def _world(U=60, N=80, seed=0, max_targets=3):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(U, N, generator=g)
    scores[:, :5] = 0.0  # some ties
    targets, exclude = [], []
    for u in range(U):
        perm = torch.randperm(N, generator=g).tolist()
        k = int(torch.randint(0, max_targets + 1, (1,), generator=g))
        if u % 11 == 0:
            k = 0  # users without targets are skipped (and not counted in any group)
        targets.append(perm[:k])
        exclude.append(perm[k : k + 10])
    groups = torch.randint(0, 3, (U,), generator=g)  # group 3 ("empty") gets nobody
    return scores, Ragged.from_lists(targets), Ragged.from_lists(exclude), groups


def _check_breakdown(out, plain):
    assert {k: v for k, v in out.items() if k != "groups"} == plain  # overall unchanged, exactly
    groups = out["groups"]
    assert list(groups) == NAMES
    assert sum(g["users"] for g in groups.values()) == out["users"]
    assert groups["empty"]["users"] == 0
    assert all(math.isnan(v) for k, v in groups["empty"].items() if k != "users")
    for key, value in plain.items():
        if key == "users":
            continue
        weighted = sum(g[key] * g["users"] for g in groups.values() if g["users"])
        assert weighted == pytest.approx(value * out["users"], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_full_ranking_groups(chunk_size):
    scores, targets, exclude, groups = _world()
    users = torch.arange(scores.size(0))
    kw = dict(num_items=scores.size(1), ks=(1, 5, 10), chunk_size=chunk_size)
    plain = full_ranking(lambda u: scores[u], users, targets, exclude, **kw)
    out = full_ranking(lambda u: scores[u], users, targets, exclude, groups=groups, group_names=NAMES, **kw)
    _check_breakdown(out, plain)
    # each group's numbers are those of evaluating that group's users alone
    for gid, name in enumerate(NAMES[:3]):
        sel = torch.nonzero(groups == gid).flatten()
        alone = full_ranking(lambda u: scores[u], users[sel], targets.select(sel), exclude.select(sel), **kw)
        for key, value in alone.items():
            assert out["groups"][name][key] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("popularity", [False, True])
def test_sampled_ranking_groups(popularity):
    scores, targets, exclude, groups = _world(U=90, N=300, seed=1, max_targets=1)
    users = torch.arange(scores.size(0))
    pop = torch.arange(300, dtype=torch.float64) if popularity else None

    def run(**extra):
        return sampled_ranking(
            lambda u, i: scores[u.unsqueeze(1), i], users, targets, exclude, num_items=300,
            num_negatives=40, ks=(5, 10), chunk_size=16, generator=torch.Generator().manual_seed(0),
            popularity=pop, **extra,
        )

    _check_breakdown(run(groups=groups, group_names=NAMES), run())


def test_group_names_default_to_ids():
    scores, targets, exclude, groups = _world()
    out = full_ranking(lambda u: scores[u], torch.arange(scores.size(0)), targets, exclude,
                       num_items=scores.size(1), groups=groups.int())
    assert list(out["groups"]) == ["0", "1", "2"]


def test_groups_json_friendly():
    scores, targets, exclude, groups = _world()
    out = full_ranking(lambda u: scores[u], torch.arange(scores.size(0)), targets, exclude,
                       num_items=scores.size(1), groups=groups, group_names=NAMES)
    for g in out["groups"].values():
        assert type(g["users"]) is int
        assert all(type(v) is float for k, v in g.items() if k != "users")


@pytest.mark.parametrize(
    "groups,names,match",
    [
        (torch.zeros(3, dtype=torch.long), None, "one group id per evaluated user"),
        (torch.zeros(4), None, "integer"),
        (torch.tensor([0, 1, 2, 3]), ["a", "b"], "outside"),
        (torch.tensor([0, -1, 0, 0]), ["a", "b"], "outside"),
        (torch.zeros(4, dtype=torch.long), ["a", "a"], "distinct"),
        (None, ["a"], "without groups"),
        (torch.zeros(4, dtype=torch.long), "ab", "sequence"),
    ],
)
def test_group_errors(groups, names, match):
    users = torch.arange(4)
    tg = Ragged.from_lists([[0], [1], [2], [3]])
    with pytest.raises(ValueError, match=match):
        full_ranking(lambda u: torch.zeros(u.numel(), 10), users, tg, num_items=10,
                     groups=groups, group_names=names)
    with pytest.raises(ValueError, match=match):
        sampled_ranking(lambda u, i: torch.zeros(i.shape), users, tg, num_items=10, num_negatives=3,
                        groups=groups, group_names=names)
