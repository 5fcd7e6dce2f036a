"""Joint timelines: hand-made cases (ties, no search, no history, cutting) and a
property test over random logs against a brute-force reference."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrec.data.hetero import build_hetero_data, train_history
from graphrec.data.loader import JointTimelineLoader
from graphrec.data.logs import BehaviourLogs, RecLog, SearchLog
from graphrec.data.ragged import Ragged
from graphrec.data.split import leave_one_out, ratio_split, temporal_split
from graphrec.data.timeline import REC, SEARCH, JointTimeline, add_joint_timeline, eval_timeline
from tests.data.test_split import make_logs


def tied_logs() -> BehaviourLogs:
    # user 0: clicks 2@2, 0@1, 1@2 (file order), 3@3, then 4@4 and 5@5 (held out); searches
    # q0->5 @1 (tied with the first click), q1->6 @2 (tied with two clicks), q0->7 @4.5
    # (after the held-out time: hidden).
    # user 1: two clicks, both kept for training (too few to hold out), no search.
    # user 2: one search, then four clicks (the last two held out).
    rec = RecLog(user=torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2]),
                 item=torch.tensor([2, 0, 1, 3, 4, 5, 6, 7, 1, 2, 3, 4]),
                 time=torch.tensor([2, 1, 2, 3, 4, 5, 1, 2, 2, 3, 4, 5.0]),
                 num_users=3, num_items=8)
    search = SearchLog(user=torch.tensor([0, 0, 0, 2]), query=torch.tensor([0, 1, 0, 1]),
                       item=torch.tensor([5, 6, 7, 0]), time=torch.tensor([1, 2, 4.5, 1.0]),
                       num_users=3, num_items=8, query_tokens=Ragged.from_lists([[0, 1], [2]]), num_words=3)
    return BehaviourLogs(rec, search)


def test_timeline_order_breaks_ties_by_surface_then_stored_order():
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    u = data["user"]
    tl = JointTimeline.from_data(data)
    assert u.event_ptr.tolist() == [0, 6, 8, 11]
    assert tl.time[:6].tolist() == [1, 1, 2, 2, 2, 3]
    # t=1: click before search; t=2: the two clicks in file order (item 2 then item 1), then the search
    assert tl.item[:6].tolist() == [0, 5, 2, 1, 6, 3]
    assert tl.surface[:6].tolist() == [REC, SEARCH, REC, REC, SEARCH, REC]
    assert tl.query[:6].tolist() == [-1, 0, -1, -1, 1, -1]
    assert u.event_surface.dtype == torch.int8 and u.event_time.dtype == torch.float64
    # the clicks of the timeline are hist_item, in the same order
    rec = tl.surface == REC
    assert Ragged.from_coo(tl.row_index()[rec], tl.item[rec], 3).tolist() == train_history(data).tolist()
    # user 2's search (t=1) comes before its clicks
    assert tl.item[8:].tolist() == [0, 1, 2] and tl.surface[8:].tolist() == [SEARCH, REC, REC]
    assert tl.surface[6:8].tolist() == [REC, REC]  # user 1: no search


def test_loader_never_sees_tied_or_later_events():
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    loader = JointTimelineLoader.from_hetero(data, max_rec_len=4, max_search_len=3, shuffle=False,
                                             min_history=0, batch_size=100)
    b = next(iter(loader))
    rows = {(int(u), int(t) - 1): r for r, (u, t) in enumerate(zip(b["user"], b["target"]))}
    # user 0's click on item 1 at t=2: its tied click (item 2) and tied search are not inputs
    r = rows[(0, 1)]
    assert b["rec_item"][r].tolist() == [0, 0, 0, 1] and b["rec_time"][r].tolist() == [0, 0, 0, 1]
    assert b["search_query"][r].tolist() == [0, 0, 1] and b["search_item"][r].tolist() == [0, 0, 6]
    assert b["target_time"][r] == 2
    # the first click (t=1) has neither history; its tied search is not an input either
    r = rows[(0, 0)]
    assert b["rec_item"][r].sum() == 0 and b["search_query"][r].sum() == 0
    # user 0's click at t=3 sees both t=2 clicks and both searches
    r = rows[(0, 3)]
    assert b["rec_item"][r].tolist() == [0, 1, 3, 2]
    assert b["search_query"][r].tolist() == [0, 1, 2] and b["search_time"][r].tolist() == [0, 1, 2]
    # user 2's first click: no click history, one search
    r = rows[(2, 1)]
    assert b["rec_item"][r].sum() == 0 and b["search_item"][r].tolist() == [0, 0, 1]


def test_min_history_drops_targets_without_enough_earlier_clicks():
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    n0 = JointTimelineLoader.from_hetero(data, min_history=0).num_rows
    n1 = JointTimelineLoader.from_hetero(data, min_history=1).num_rows
    n2 = JointTimelineLoader.from_hetero(data, min_history=2).num_rows
    # training clicks at t=1,2,2,3 (user 0), 1,2 (user 1), 2,3 (user 2): earlier-click counts
    # 0,1,1,3 / 0,1 / 0,1
    assert (n0, n1, n2) == (8, 5, 1)


def test_last_only_keeps_each_users_last_training_click():
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    every = JointTimelineLoader.from_hetero(data, max_rec_len=4, max_search_len=3, shuffle=False, min_history=0,
                                            batch_size=100)
    last = JointTimelineLoader.from_hetero(data, max_rec_len=4, max_search_len=3, shuffle=False, min_history=0,
                                           batch_size=100, last_only=True)
    b, a = next(iter(last)), next(iter(every))
    # one row per user: its latest training click (user 0: item 3 at t=3; user 1: item 7; user 2: item 2)
    assert b["user"].tolist() == [0, 1, 2] and (b["target"] - 1).tolist() == [3, 7, 2]
    # ... with the same windows the every-target loader gives that click
    for r, (u, t) in enumerate(zip(b["user"], b["target"])):
        (i,) = torch.nonzero((a["user"] == u) & (a["target"] == t)).flatten().tolist()
        for key in ("rec_item", "rec_time", "search_query", "search_item", "search_time", "target_time"):
            assert torch.equal(b[key][r], a[key][i]), key
    # min_history still applies: user 1's last click has one earlier, user 2's one too
    assert JointTimelineLoader.from_hetero(data, min_history=2, last_only=True).num_rows == 1


def test_windows_keep_the_most_recent_events():
    n = 9
    rec = RecLog(torch.zeros(n + 2, dtype=torch.long), torch.arange(n + 2), torch.arange(n + 2.0), 1, n + 2)
    search = SearchLog(torch.zeros(5, dtype=torch.long), torch.tensor([0, 1, 0, 1, 0]), torch.arange(5),
                       torch.arange(5) + 0.5, 1, n + 2, Ragged.from_lists([[0], [1]]), 2)
    logs = BehaviourLogs(rec, search)
    data = build_hetero_data(logs, leave_one_out(logs))
    loader = JointTimelineLoader.from_hetero(data, max_rec_len=3, max_search_len=2, shuffle=False, batch_size=64)
    b = next(iter(loader))
    last = b["target"] == n  # the click on item 8 at t=8
    assert b["rec_item"][last].tolist() == [[6, 7, 8]]  # items 5, 6, 7 shifted
    assert b["search_item"][last].tolist() == [[4, 5]] and b["search_query"][last].tolist() == [[2, 1]]
    assert b["search_time"][last].tolist() == [[3.5, 4.5]]
    # the eval cut: valid sees clicks 0..8, test also the validation click 9
    va = eval_timeline(data, "valid", max_rec_len=3, max_search_len=2)
    te = eval_timeline(data, "test", max_rec_len=3, max_search_len=2)
    assert va["rec_item"].tolist() == [[7, 8, 9]] and te["rec_item"].tolist() == [[8, 9, 10]]
    assert va["target_time"].tolist() == [9.0] and te["target_time"].tolist() == [10.0]
    assert te["search_item"].tolist() == [[4, 5]]
    assert "target" not in te  # held-out items never reach a ranking batch
    # validation batches for a validation loss: the held-out item as the target
    va = eval_timeline(data, "valid", max_rec_len=3, max_search_len=2, with_target=True)
    assert va["target"].tolist() == [n + 1] and va["rec_item"].tolist() == [[7, 8, 9]]


def test_rec_only_graphs_get_a_rec_only_timeline():
    logs = make_logs(with_search=False)
    data = build_hetero_data(logs, leave_one_out(logs))
    tl = JointTimeline.from_data(data)
    assert (tl.surface == REC).all() and (tl.query == -1).all()
    assert Ragged(tl.ptr, tl.item).tolist() == train_history(data).tolist()
    b = next(iter(JointTimelineLoader.from_hetero(data, max_search_len=2, shuffle=False)))
    assert b["search_query"].shape == (b["user"].numel(), 2) and b["search_query"].sum() == 0


def test_eval_users_without_heldout_see_their_whole_timeline():
    logs = make_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    out = eval_timeline(data, "valid", users=torch.tensor([2, 0]), max_rec_len=4, max_search_len=2)
    assert out["user"].tolist() == [2, 0]
    assert out["target_time"][0] == float("inf") and out["rec_item"][0].tolist() == [0, 0, 0, 1]
    assert out["rec_item"][1].tolist() == [0, 1, 2, 3] and out["search_item"][1].tolist() == [0, 4]


def test_select_and_stored_attributes_roundtrip():
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    tl = JointTimeline.from_data(data)
    sub = tl.select(torch.tensor([2, 0]))
    assert sub.lengths().tolist() == [3, 6]
    assert sub.item.tolist() == tl.item[8:].tolist() + tl.item[:6].tolist()
    fresh = JointTimeline.from_graph(data)
    for key in ("ptr", "time", "surface", "item", "query"):
        assert torch.equal(getattr(fresh, key), getattr(tl, key))
    del data["user"].event_ptr  # graphs cached before timelines: rebuilt on the fly
    assert torch.equal(JointTimeline.from_data(data).item, tl.item)
    add_joint_timeline(data)
    assert torch.equal(data["user"].event_ptr, tl.ptr)


def test_negatives_and_length_buckets():
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    plain = JointTimelineLoader.from_hetero(data, max_rec_len=5, max_search_len=4, shuffle=False, min_history=0)
    bucketed = JointTimelineLoader.from_hetero(data, max_rec_len=5, max_search_len=4, min_history=0, batch_size=2,
                                               length_buckets=2, num_negatives=3,
                                               generator=torch.Generator().manual_seed(0))
    full = plain.batch(torch.arange(plain.num_rows))
    seen = []
    hist = train_history(data)
    for b in bucketed:
        rows = b["index"]
        seen += rows.tolist()
        w_r, w_s = b["rec_item"].size(1), b["search_item"].size(1)
        assert torch.equal(b["rec_item"], full["rec_item"][rows][:, -w_r:])
        assert torch.equal(b["search_query"], full["search_query"][rows][:, -w_s:])
        assert (full["rec_item"][rows][:, :-w_r] == 0).all() and (full["search_item"][rows][:, :-w_s] == 0).all()
        assert b["neg"].shape == (rows.numel(), 3) and (b["neg"] >= 1).all()
        for u, negs in zip(b["user"].tolist(), b["neg"].tolist()):
            assert not {v - 1 for v in negs} & set(hist[u].tolist())
    assert sorted(seen) == list(range(plain.num_rows))


# ---- property test: random logs against a brute-force reference ----------------------

@st.composite
def random_logs(draw):
    num_users = draw(st.integers(1, 4))
    num_items = draw(st.integers(2, 6))
    n_rec = draw(st.integers(1, 18))
    n_search = draw(st.integers(0, 10))
    users = st.integers(0, num_users - 1)
    items = st.integers(0, num_items - 1)
    times = st.integers(0, 6)  # few distinct times: many ties, within and across surfaces
    rec = RecLog(torch.tensor(draw(st.lists(users, min_size=n_rec, max_size=n_rec))),
                 torch.tensor(draw(st.lists(items, min_size=n_rec, max_size=n_rec))),
                 torch.tensor(draw(st.lists(times, min_size=n_rec, max_size=n_rec)), dtype=torch.float64),
                 num_users, num_items)
    search = SearchLog(torch.tensor(draw(st.lists(users, min_size=n_search, max_size=n_search)), dtype=torch.long),
                       torch.tensor(draw(st.lists(st.integers(0, 2), min_size=n_search, max_size=n_search)),
                                    dtype=torch.long),
                       torch.tensor(draw(st.lists(items, min_size=n_search, max_size=n_search)), dtype=torch.long),
                       torch.tensor(draw(st.lists(times, min_size=n_search, max_size=n_search)), dtype=torch.float64),
                       num_users, num_items, Ragged.from_lists([[0], [1], [0, 1]]), 2)
    return BehaviourLogs(rec, search if draw(st.booleans()) or n_search == 0 else None)


def _expected(events, t, length):
    """The reference window: events strictly before ``t``, in (time, tie key) order, last ``length``."""
    before = sorted(e for e in events if e[0] < t)
    return before[max(len(before) - length, 0):]


def _window(ids, times, extra=None):
    keep = ids > 0
    out = [(float(tt), int(i) - 1) for i, tt in zip(ids[keep], times[keep])]
    if extra is not None:
        out = [(tt, q, int(v) - 1) for (tt, q), v in zip(out, extra[keep])]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=random_logs(), splitter=st.sampled_from(["loo", "ratio", "temporal"]),
       max_rec_len=st.integers(1, 4), max_search_len=st.integers(1, 3), min_history=st.integers(0, 2))
def test_random_logs_inputs_are_causal_complete_and_chronological(logs, splitter, max_rec_len, max_search_len,
                                                                   min_history):
    split = {"loo": leave_one_out, "ratio": ratio_split, "temporal": temporal_split}[splitter](logs)
    data = build_hetero_data(logs, split)
    rec = logs.rec
    # reference events per user: (time, tie key..., payload); file order breaks ties within a surface
    clicks = {u: [] for u in range(rec.num_users)}
    for r in split.train.tolist():
        clicks[int(rec.user[r])].append((float(rec.time[r]), 0, r, int(rec.item[r])))
    searches = {u: [] for u in range(rec.num_users)}
    if logs.search is not None:
        s = logs.search
        for r in split.search_train.tolist():
            searches[int(s.user[r])].append((float(s.time[r]), r, int(s.query[r]), int(s.item[r])))

    def check(b, row, t, rec_events, search_events):
        got_rec = _window(b["rec_item"][row], b["rec_time"][row])
        want_rec = [(e[0], e[-1]) for e in _expected(rec_events, t, max_rec_len)]
        assert got_rec == want_rec  # causal (all < t), complete within the budget, chronological
        got_s = _window(b["search_query"][row], b["search_time"][row], b["search_item"][row])
        want_s = [(e[0], e[2], e[3]) for e in _expected(search_events, t, max_search_len)]
        assert got_s == want_s
        assert all(x[0] < t for x in got_rec + got_s)

    loader = JointTimelineLoader.from_hetero(data, max_rec_len=max_rec_len, max_search_len=max_search_len,
                                             min_history=min_history, batch_size=7,
                                             generator=torch.Generator().manual_seed(0))
    targets = []
    for b in loader:
        for row, (u, v, t) in enumerate(zip(b["user"].tolist(), b["target"].tolist(), b["target_time"].tolist())):
            targets.append((u, t, v - 1))
            check(b, row, t, clicks[u], searches[u])
    # every training click with at least min_history strictly earlier clicks is a target, once
    want = sorted((u, e[0], e[3]) for u, evs in clicks.items() for e in evs
                  if sum(f[0] < e[0] for f in evs) >= min_history)
    assert sorted(targets) == want

    for part, parts in (("valid", [split.train]), ("test", [split.train, split.valid])):
        heldout = split.valid if part == "valid" else split.test
        first = {}
        for r in heldout.tolist():
            u = int(rec.user[r])
            first[u] = min(first.get(u, float("inf")), float(rec.time[r]))
        events = {u: [] for u in range(rec.num_users)}
        for k, rows in enumerate(parts):
            for r in rows.tolist():
                events[int(rec.user[r])].append((float(rec.time[r]), k, r, int(rec.item[r])))
        out = eval_timeline(data, part, max_rec_len=max_rec_len, max_search_len=max_search_len, with_target=True)
        assert out["user"].tolist() == sorted(first)
        for row, u in enumerate(out["user"].tolist()):
            assert out["target_time"][row] == first[u]
            earliest = {int(rec.item[r]) for r in heldout.tolist() if int(rec.user[r]) == u and rec.time[r] == first[u]}
            assert int(out["target"][row]) - 1 in earliest
            check(out, row, first[u], events[u], searches[u])


@pytest.mark.parametrize("max_len", [1, 3])
def test_eval_cut_matches_training_cut_on_the_same_time(max_len):
    # a training target and an evaluated user at the same time see the same windows
    logs = tied_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    loader = JointTimelineLoader.from_hetero(data, max_rec_len=max_len, max_search_len=max_len, shuffle=False,
                                             min_history=0)
    b = loader.batch(torch.arange(loader.num_rows))
    tl = JointTimeline.from_data(data)
    end = tl.cut_before(b["user"], b["target_time"])
    again = tl.windows(b["user"], end, max_len, max_len)
    for key, value in again.items():
        assert torch.equal(value, b[key])
