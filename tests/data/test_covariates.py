"""Covariates from the logs: a hand case for every column, constant columns dropped,
named one-hot user features and their errors."""
import math

import pytest
import torch

from graphrec.data.covariates import UserCovariates, named_user_features, one_hot_features, timeline_covariates
from graphrec.data.ragged import Ragged
from graphrec.data.timeline import REC, SEARCH, JointTimeline

H, D = 3600.0, 86400.0


@pytest.fixture
def timeline():
    # user 0: rec at day 0 01:00 (item 0) and 13:00 (item 1), day 2 01:00 (item 0); one search (item 2)
    # user 1: rec at day 5 20:00 (item 2); no search
    # user 2: no rec; two searches (items 0, 2)
    user = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    time = torch.tensor([1 * H, 13 * H, 2 * D + H, 3 * H, 5 * D + 20 * H, 4 * H, 5 * H])
    surface = torch.tensor([REC, REC, REC, SEARCH, REC, SEARCH, SEARCH])
    item = torch.tensor([0, 1, 0, 2, 2, 0, 2])
    query = torch.tensor([-1, -1, -1, 0, -1, 1, 2])
    return JointTimeline.from_events(user, time, surface, item, query, num_users=3)


def test_hand_case(timeline):
    # items 0, 1 in group 0 ("a"); item 2 in groups 1 ("b") and 0
    groups = Ragged.from_coo(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 0, 1, 0]), 3)
    cov = timeline_covariates(timeline, groups, ["a", "b"], hour_blocks=4)
    p = dict(zip(cov.platform_names, cov.platform.t()))
    f = dict(zip(cov.preference_names, cov.preference.t()))
    torch.testing.assert_close(p["rec_per_active_day"], torch.tensor([math.log1p(3 / 2), math.log1p(1.0), 0.0]))
    # blocks of 6 hours: user 0 has 2 of 3 events in 0-6 and 1 in 12-18; user 1 its one in 18-24
    assert set(cov.platform_names) >= {"rec_hour_0-6", "rec_hour_12-18", "rec_hour_18-24"}
    assert "rec_hour_6-12" not in cov.platform_names  # no one: a constant column, dropped
    torch.testing.assert_close(p["rec_hour_0-6"], torch.tensor([2 / 3, 0.0, 0.0]))
    torch.testing.assert_close(p["rec_hour_18-24"], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(p["rec_group_a"], torch.tensor([1.0, 1.0, 0.0]))  # every rec item is in "a"
    torch.testing.assert_close(p["rec_group_b"], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(f["search_volume"], torch.log1p(torch.tensor([1.0, 0.0, 2.0])))
    torch.testing.assert_close(f["search_share"], torch.tensor([1 / 4, 0.0, 1.0]))
    torch.testing.assert_close(f["search_group_b"], torch.tensor([1.0, 0.0, 0.5]))
    assert cov.platform.shape == (3, len(cov.platform_names)) and cov.platform.dtype == torch.float32


def test_without_groups_and_group_limit(timeline):
    cov = timeline_covariates(timeline)
    assert not any("group" in n for n in cov.platform_names + cov.preference_names)
    groups = Ragged.from_coo(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), 3)
    one = timeline_covariates(timeline, groups, max_groups=1)
    assert sum("rec_group" in n for n in one.platform_names) == 1
    with pytest.raises(ValueError, match="hour_blocks"):
        timeline_covariates(timeline, hour_blocks=0)


def test_named_user_features():
    codes = torch.tensor([[0, 2], [1, -1], [0, 0]])
    x, names = named_user_features(codes, ["rec_level", "search_level"], ["search_level"])
    # value 1 never occurs: its column is constant and dropped; -1 is all zeros
    assert names == ["search_level=0", "search_level=2"]
    torch.testing.assert_close(x, torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="'other'.*rec_level"):
        named_user_features(codes, ["rec_level", "search_level"], ["other"])
    torch.testing.assert_close(one_hot_features(codes[:, :1]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))


def test_extend_and_shape_checks():
    cov = UserCovariates(torch.zeros(2, 1), torch.zeros(2, 0), ["a"], [])
    more = cov.extend(preference=(torch.ones(2, 2), ["b", "c"]))
    assert more.preference_names == ["b", "c"] and more.preference.shape == (2, 2)
    with pytest.raises(ValueError, match="names"):
        UserCovariates(torch.zeros(2, 2), torch.zeros(2, 0), ["a"], [])
