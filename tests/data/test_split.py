"""Splits: exact membership on hand cases, and no leakage of held-out search."""
import pytest
import torch

from graphrec.data.logs import BehaviourLogs, RecLog, SearchLog
from graphrec.data.ragged import Ragged
from graphrec.data.split import (
    TEST,
    TRAIN,
    VALID,
    given_split,
    leave_one_out,
    ratio_split,
    temporal_split,
)


def make_logs(with_search=True):
    # user 0: items 0..4 at t=1..5 (rows in shuffled file order); user 1: 3 items; user 2: 1 item
    user = torch.tensor([0, 0, 1, 0, 0, 1, 0, 1, 2])
    item = torch.tensor([4, 0, 5, 1, 3, 6, 2, 7, 0])
    time = torch.tensor([5, 1, 1, 2, 4, 2, 3, 3, 1.0])
    rec = RecLog(user, item, time, 3, 8)
    search = None
    if with_search:
        search = SearchLog(
            user=torch.tensor([0, 0, 0, 1, 1]),
            query=torch.tensor([0, 1, 0, 1, 0]),
            item=torch.tensor([3, 4, 1, 7, 6]),
            time=torch.tensor([3.5, 4.0, 4.5, 1.5, 2.5]),
            num_users=3, num_items=8,
            query_tokens=Ragged.from_lists([[0, 1], [2]]), num_words=3)
    return BehaviourLogs(rec, search)


def test_leave_one_out_takes_last_two_by_time():
    logs = make_logs()
    s = leave_one_out(logs)
    rec = logs.rec
    assert sorted(zip(rec.user[s.test].tolist(), rec.item[s.test].tolist())) == [(0, 4), (1, 7)]
    assert sorted(zip(rec.user[s.valid].tolist(), rec.item[s.valid].tolist())) == [(0, 3), (1, 6)]
    # user 2 has one interaction: kept in training
    assert 8 in s.train.tolist()
    assert len(s.train) + len(s.valid) + len(s.test) == len(rec)


def test_leave_one_out_hides_search_at_or_after_heldout_time():
    logs = make_logs()
    s = leave_one_out(logs)
    # user 0's first held-out time is 4 (valid): search at 3.5 visible, 4.0 and 4.5 hidden.
    # user 1's first held-out time is 2: search at 1.5 visible, 2.5 hidden.
    assert sorted(s.search_train.tolist()) == [0, 3]
    srch = logs.search
    cutoff = {0: 4.0, 1: 2.0}
    for r in s.search_train.tolist():
        assert srch.time[r] < cutoff[int(srch.user[r])]


def test_temporal_split_is_a_global_cut():
    logs = make_logs()
    s = temporal_split(logs, valid_frac=0.2, test_frac=0.2)
    t = logs.rec.time
    assert t[s.train].max() <= t[s.valid].min() <= t[s.test].min()
    assert len(s.train) + len(s.valid) + len(s.test) == len(logs.rec)
    cut = float(t[s.valid].min())
    assert all(float(logs.search.time[r]) < cut for r in s.search_train.tolist())


def test_ratio_split_partitions_and_keeps_a_training_row_per_user():
    logs = make_logs(with_search=False)
    s = ratio_split(logs, (0.6, 0.2, 0.2), seed=1)
    labels = s.labels(len(logs.rec))
    assert (labels >= 0).all()
    for u in range(3):
        assert (labels[logs.rec.user == u] == TRAIN).any()
    assert torch.equal(ratio_split(logs, (0.6, 0.2, 0.2), seed=1).train, s.train)


def test_ratio_split_rejects_bad_ratios():
    with pytest.raises(ValueError, match="sum"):
        ratio_split(make_logs(), (0.5, 0.2, 0.2))


def test_given_split_validates_labels():
    logs = make_logs()
    labels = torch.zeros(len(logs.rec), dtype=torch.long)
    labels[3] = 7
    with pytest.raises(ValueError, match="row 4"):
        given_split(logs, labels)
    labels[3] = VALID
    labels[0] = TEST
    s = given_split(logs, labels)
    assert s.valid.tolist() == [3] and s.test.tolist() == [0]


def test_leave_one_out_with_no_user_to_hold_out_says_so(caplog):
    """Every user with fewer than 3 interactions once gave an empty results table and exit 0
    without a word; the split warns, and a training run refuses it (tests/train/test_contract.py)."""
    rec = RecLog(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]), torch.arange(4.0), 3, 3,
                 source="clicks.csv")
    with caplog.at_level("WARNING", logger="graphrec.data"):
        split = leave_one_out(BehaviourLogs(rec, None))
    assert split.test.numel() == 0 and split.valid.numel() == 0
    assert "leave-one-out split of clicks.csv: no user has the 3 interactions" in caplog.text
    assert "the most any of the 3 users has is 2" in caplog.text
