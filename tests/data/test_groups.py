import pytest
import torch
from torch_geometric.data import HeteroData

from graphrec.data import groups as groups_mod
from graphrec.data.groups import (
    check_user_groups,
    register_user_groups,
    search_activity_groups,
    search_counts,
    user_group_names,
    user_groups,
)
from graphrec.data.hetero import SEARCHES, build_hetero_data
from graphrec.data.split import leave_one_out
from tests.data.test_split import make_logs


def _graph(search_users, num_users):
    data = HeteroData()
    data["user"].num_nodes = num_users
    data["item"].num_nodes = 3
    if search_users is not None:
        data["query"].num_nodes = 2
        src = torch.tensor(search_users, dtype=torch.long)
        data[SEARCHES].edge_index = torch.stack([src, torch.zeros_like(src)])
    return data


# (search interactions as user ids, number of users, expected groups)
# counts among searching users, and their median:
#   [1, 2, 3]        -> median 2:   1 sparse, 2 and 3 rich
#   [1, 2, 3, 4]     -> median 2.5: 1, 2 sparse, 3, 4 rich
#   [2, 2]           -> median 2:   both rich, sparse empty
#   [1, 1, 1, 2, 5]  -> median 1:   "below 1" is empty; the cut 2 halves them (3 | 2)
#   [1, 1, 2, 2]     -> median 1.5: 1, 1 sparse, 2, 2 rich
CASES = [
    ([1, 2, 2, 3, 3, 3], 5, [0, 1, 2, 2, 0]),
    ([0, 1, 1, 2, 2, 2, 3, 3, 3, 3], 5, [1, 1, 2, 2, 0]),
    ([1, 1, 3, 3], 4, [0, 2, 0, 2]),
    ([0, 1, 2, 3, 3, 4, 4, 4, 4, 4], 6, [1, 1, 1, 2, 2, 0]),
    ([0, 1, 2, 2, 3, 3], 4, [1, 1, 2, 2]),
]


@pytest.mark.parametrize("search_users,num_users,expected", CASES)
def test_search_activity_groups_hand_cases(search_users, num_users, expected):
    ids, names = search_activity_groups(_graph(search_users, num_users))
    assert names == ["no_search", "sparse", "rich"]
    assert ids.dtype == torch.long
    assert ids.tolist() == expected


def test_search_activity_groups_on_built_graph_use_training_search_only():
    logs = make_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    counts = search_counts(data)
    assert counts.tolist() == (data["user"].search_ptr.diff()).tolist()
    ids, names = user_groups("search_activity", data)
    assert ids.numel() == data["user"].num_nodes
    for u, c in enumerate(counts.tolist()):
        assert (ids[u] == 0) == (c == 0)


def test_search_counts_fall_back_to_search_ptr():
    data = HeteroData()
    data["user"].num_nodes = 3
    data["user"].search_ptr = torch.tensor([0, 0, 4, 5])
    assert search_counts(data).tolist() == [0, 4, 1]
    assert search_activity_groups(data)[0].tolist() == [0, 2, 1]  # median 2.5


def test_no_search_is_a_clear_error():
    with pytest.raises(ValueError, match="no search interactions"):
        search_activity_groups(_graph(None, 4))
    with pytest.raises(ValueError, match="no user has a training search"):
        search_activity_groups(_graph([], 4))
    logs = make_logs(with_search=False)
    with pytest.raises(ValueError, match="search log"):
        user_groups("search_activity", build_hetero_data(logs, leave_one_out(logs)))


def test_registry_names_and_normalisation():
    data = _graph([0, 1, 1], 3)
    assert "search_activity" in user_group_names()
    a = user_groups("search_activity", data)
    b = user_groups("Search-Activity", data)
    assert a[0].tolist() == b[0].tolist() and a[1] == b[1]
    with pytest.raises(ValueError, match="valid: .*search_activity"):
        user_groups("by_age", data)


def test_register_user_groups(monkeypatch):
    monkeypatch.setattr(groups_mod, "_GROUPINGS", dict(groups_mod._GROUPINGS))
    monkeypatch.setattr(groups_mod, "_GROUPING_NAMES", dict(groups_mod._GROUPING_NAMES))

    def parity(data):
        n = data["user"].num_nodes
        return torch.arange(n) % 2, ["even", "odd"]

    register_user_groups("test_parity", parity)
    ids, names = user_groups("test-parity", _graph([0], 5))
    assert ids.tolist() == [0, 1, 0, 1, 0] and names == ["even", "odd"]

    register_user_groups("test_broken", lambda data: (torch.zeros(2, dtype=torch.long), ["a"]))
    with pytest.raises(ValueError, match="one entry per user"):
        user_groups("test_broken", _graph([0], 5))


@pytest.mark.parametrize(
    "ids,names,num_users,match",
    [
        (torch.tensor([0.0, 1.0]), ["a", "b"], 2, "integer"),
        (torch.tensor([True, False]), ["a", "b"], 2, "integer"),
        (torch.tensor([[0, 1]]), ["a", "b"], 2, "1-D"),
        (torch.tensor([0, 1]), ["a", "b"], 3, "one entry per user"),
        (torch.tensor([0, 2]), ["a", "b"], 2, "outside"),
        (torch.tensor([0, -1]), ["a", "b"], 2, "outside"),
        (torch.tensor([0, 0]), ["a", "a"], 2, "distinct"),
        (torch.tensor([0, 0]), "ab", 2, "sequence"),
        (torch.tensor([0, 0]), [], 2, "at least one"),
        ([0, 1], ["a", "b"], 2, "tensor"),
    ],
)
def test_check_user_groups_errors(ids, names, num_users, match):
    with pytest.raises(ValueError, match=match):
        check_user_groups(ids, names, num_users)


def test_check_user_groups_accepts_int32():
    ids, names = check_user_groups(torch.tensor([1, 0], dtype=torch.int32), ("x", "y"), 2)
    assert ids.dtype == torch.long and names == ["x", "y"]
