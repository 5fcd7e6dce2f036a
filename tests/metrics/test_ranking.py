import math

import pytest
import torch

from graphrec.data.ragged import Ragged
from graphrec.metrics import Protocol, full_ranking, parse_protocol, protocol_label, sampled_ranking
from graphrec.metrics.ranking import _sample_negatives

INF = float("inf")


def disc(p: int) -> float:
    """Discount of list position p (0-based)."""
    return 1.0 / math.log2(p + 2)


def desc(n: int) -> list[float]:
    """Scores -i: item 0 is the best, item n-1 the worst."""
    return [-float(i) for i in range(n)]


# One user per case, hand-computed: (name, scores, targets, exclude, ks, expected).
# Ranks follow the documented rule r_t = |{i in C_u : s_i >= s_t}| (ties pessimistic),
# and the j-th best target sits at position r_(j) + j.
# fmt: off
CASES = [
    ("hit at rank 0", [0.9, 0.1, 0.2, 0.3, 0.4, 0.5], [0], [], (1, 3),
     {"hr@1": 1.0, "ndcg@1": 1.0, "recall@1": 1.0, "precision@1": 1.0,
      "hr@3": 1.0, "ndcg@3": 1.0, "precision@3": 1 / 3, "mrr": 1.0}),
    ("hit at rank 1", [0.5, 0.9, 0.1, 0.2, 0.3, 0.0], [0], [], (1, 3),
     {"hr@1": 0.0, "ndcg@1": 0.0, "hr@3": 1.0, "ndcg@3": disc(1), "recall@3": 1.0,
      "precision@3": 1 / 3, "mrr": 0.5}),
    ("hit at rank 5", desc(10), [5], [], (5, 10),
     {"hr@5": 0.0, "ndcg@5": 0.0, "hr@10": 1.0, "ndcg@10": disc(5), "mrr": 1 / 6}),
    ("miss", desc(10), [9], [], (5,),
     {"hr@5": 0.0, "ndcg@5": 0.0, "recall@5": 0.0, "precision@5": 0.0, "mrr": 0.1}),
    ("all items above the target masked", desc(10), [5], [0, 1, 2, 3, 4], (1,),
     {"hr@1": 1.0, "ndcg@1": 1.0, "mrr": 1.0}),
    ("some items above the target masked", desc(10), [5], [0, 2], (3, 5),
     {"hr@3": 0.0, "hr@5": 1.0, "ndcg@5": disc(3), "mrr": 0.25}),
    ("masked items below the target do not matter", desc(10), [2], [7, 8, 9], (3,),
     {"hr@3": 1.0, "ndcg@3": disc(2), "mrr": 1 / 3}),
    # constant scores: the target ties with all 9 candidates and is ranked last
    ("constant scores", [0.0] * 10, [3], [], (5, 9, 10),
     {"hr@5": 0.0, "hr@9": 0.0, "hr@10": 1.0, "ndcg@10": disc(9), "mrr": 0.1}),
    ("constant scores, fewer candidates than k", [0.0] * 10, [3], [0, 1, 2, 4, 5], (5,),
     {"hr@5": 1.0, "ndcg@5": disc(4), "mrr": 0.2}),
    # one strictly higher (item 0) + two equal (items 1, 3) -> r = 3
    ("partial ties", [3.0, 2.0, 2.0, 2.0, 1.0, 0.0], [2], [], (3, 4),
     {"hr@3": 0.0, "hr@4": 1.0, "ndcg@4": disc(3), "mrr": 0.25}),
    # masked items must not tie with a -inf target: candidates {2, 3} -> r = 2
    ("target scored -inf", [-INF, -INF, 0.0, -INF], [0], [1], (2, 3),
     {"hr@2": 0.0, "hr@3": 1.0, "mrr": 1 / 3}),
    ("target scored +inf", [0.0, INF, 1.0, 2.0], [1], [], (1,), {"hr@1": 1.0, "mrr": 1.0}),
    # ranks among non-targets: item1 -> 1, item4 -> 3, item7 -> 5; positions 1, 4, 7
    ("three targets", desc(10), [1, 4, 7], [], (1, 5, 10),
     {"hr@1": 0.0, "recall@1": 0.0, "ndcg@1": 0.0, "precision@1": 0.0,
      "hr@5": 1.0, "recall@5": 2 / 3, "precision@5": 2 / 5,
      "ndcg@5": (disc(1) + disc(4)) / (disc(0) + disc(1) + disc(2)),
      "hr@10": 1.0, "recall@10": 1.0, "precision@10": 3 / 10,
      "ndcg@10": (disc(1) + disc(4) + disc(7)) / (disc(0) + disc(1) + disc(2)),
      "mrr": 0.5}),
    # IDCG is over min(|T|, k) = 1 slot at k = 1
    ("three targets, best at the top", desc(10), [0, 1, 9], [], (1, 3),
     {"hr@1": 1.0, "ndcg@1": 1.0, "recall@1": 1 / 3, "precision@1": 1.0,
      "ndcg@3": (disc(0) + disc(1)) / (disc(0) + disc(1) + disc(2)), "recall@3": 2 / 3,
      "mrr": 1.0}),
    # masking: non-targets ahead of item 5 are only 3 and 4 -> r = 2; item 8: {3, 4, 6, 7} -> 4
    ("two targets with exclusions", desc(10), [5, 8], [0, 1, 2], (3, 6),
     {"hr@3": 1.0, "recall@3": 0.5, "ndcg@3": disc(2) / (disc(0) + disc(1)),
      "recall@6": 1.0, "ndcg@6": (disc(2) + disc(5)) / (disc(0) + disc(1)),
      "precision@6": 2 / 6, "mrr": 1 / 3}),
    # constant scores, two targets: each ties with the 4 non-targets -> positions 4, 5
    ("two targets, constant scores", [0.0] * 6, [0, 1], [], (5, 6),
     {"hr@5": 1.0, "recall@5": 0.5, "precision@5": 0.2,
      "ndcg@5": disc(4) / (disc(0) + disc(1)), "recall@6": 1.0,
      "ndcg@6": (disc(4) + disc(5)) / (disc(0) + disc(1)), "mrr": 0.2}),
    ("a repeated target counts once", desc(10), [4, 4], [], (5,),
     {"hr@5": 1.0, "recall@5": 1.0, "ndcg@5": disc(4), "precision@5": 0.2, "mrr": 0.2}),
]
# fmt: on


def _full(scores, targets, exclude, **kw):
    s = torch.as_tensor(scores, dtype=torch.float32)
    if s.dim() == 1:
        s = s.unsqueeze(0)
    return full_ranking(
        lambda u: s[u],
        torch.arange(s.size(0)),
        Ragged.from_lists(targets),
        Ragged.from_lists(exclude) if exclude is not None else None,
        num_items=s.size(1),
        **kw,
    )


@pytest.mark.parametrize(
    "name,scores,targets,exclude,ks,expected", CASES, ids=[c[0] for c in CASES]
)
def test_full_ranking_hand_cases(
    name, scores, targets, exclude, ks, expected
):
    out = _full(scores, [targets], [exclude], ks=ks)
    assert out["users"] == 1
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), (name, key)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_full_ranking_dtypes(dtype):
    s = torch.tensor([[5, 9, 1, 3]], dtype=dtype)
    out = full_ranking(
        lambda u: s[u], torch.arange(1), Ragged.from_lists([[0]]), num_items=4, ks=(1, 2)
    )
    assert out["hr@1"] == 0.0 and out["hr@2"] == 1.0 and out["mrr"] == 0.5


def test_keys_and_user_without_targets_skipped():
    scores = torch.tensor([desc(10), [0.0] * 10, desc(10)])
    calls = []

    def score_fn(u):
        calls.append(u.clone())
        return scores[u]

    out = full_ranking(
        score_fn,
        torch.tensor([0, 1, 2]),
        Ragged.from_lists([[1], [], [5]]),
        num_items=10,
        ks=(10, 20),
    )
    assert out["users"] == 2 and isinstance(out["users"], int)
    assert set(out) == {
        "hr@10",
        "ndcg@10",
        "recall@10",
        "precision@10",
        "hr@20",
        "ndcg@20",
        "recall@20",
        "precision@20",
        "mrr",
        "users",
    }
    assert out["mrr"] == pytest.approx((1 / 2 + 1 / 6) / 2)
    assert torch.cat(calls).tolist() == [0, 2]  # the empty user is never scored


def test_no_user_with_targets_gives_nan():
    out = _full([desc(4)], [[]], None, ks=(1,))
    assert out["users"] == 0 and math.isnan(out["hr@1"]) and math.isnan(out["mrr"])


def _reference(scores, targets, exclude, ks):
    """Per-user loop, straight from the definition (test oracle only)."""
    sums = {}
    count = 0
    for u in range(scores.size(0)):
        T = sorted(set(targets[u]))
        if not T:
            continue
        count += 1
        blocked = set(T) | set(exclude[u])
        cand = [i for i in range(scores.size(1)) if i not in blocked]
        ranks = sorted(sum(1 for i in cand if scores[u, i] >= scores[u, t]) for t in T)
        pos = [r + j for j, r in enumerate(ranks)]
        row = {"mrr": 1 / (1 + pos[0])}
        for k in ks:
            hits = [p for p in pos if p < k]
            row[f"hr@{k}"] = float(bool(hits))
            row[f"recall@{k}"] = len(hits) / len(T)
            row[f"precision@{k}"] = len(hits) / k
            idcg = sum(disc(i) for i in range(min(len(T), k)))
            row[f"ndcg@{k}"] = sum(disc(p) for p in hits) / idcg
        for key, v in row.items():
            sums[key] = sums.get(key, 0.0) + v
    return {k: v / count for k, v in sums.items()}, count


def _random_case(seed, U=23, N=40, max_t=25):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 6, (U, N), generator=g).float()  # many ties
    targets, exclude = [], []
    for _ in range(U):
        perm = torch.randperm(N, generator=g).tolist()
        nt = int(torch.randint(0, max_t, (1,), generator=g))
        ne = int(torch.randint(0, 10, (1,), generator=g))
        targets.append(perm[:nt])
        exclude.append(perm[nt : nt + ne])
    return scores, targets, exclude


# ks=(1,) puts most ranks beyond K = max(ks), where only the best target's is counted
# exactly (for MRR); infinite scores tie with the masked slots
@pytest.mark.parametrize("ks", [(1, 5, 10), (1,), (3, 40)])
@pytest.mark.parametrize("infinities", [False, True])
def test_full_ranking_matches_reference_and_chunking(ks, infinities):
    scores, targets, exclude = _random_case(0)
    if infinities:
        scores[scores == 0] = float("-inf")
        scores[scores == 5] = float("inf")
    expected, count = _reference(scores, targets, exclude, ks)
    results = [_full(scores, targets, exclude, ks=ks, chunk_size=c) for c in (1, 7, 1000)]
    for out in results:
        assert out["users"] == count
        for key, value in expected.items():
            assert out[key] == pytest.approx(value, abs=1e-12), key
    for out in results[1:]:
        assert out == pytest.approx(results[0], abs=1e-12)


def test_chunks_are_bounded():
    scores, targets, exclude = _random_case(1, U=50, N=30, max_t=3)
    sizes = []

    def score_fn(u):
        sizes.append(u.numel())
        return scores[u]

    full_ranking(
        score_fn,
        torch.arange(50),
        Ragged.from_lists(targets),
        Ragged.from_lists(exclude),
        num_items=30,
        chunk_size=8,
    )
    assert max(sizes) <= 8


def test_target_in_exclude_raises_naming_the_row():
    with pytest.raises(ValueError, match=r"row 2 \(user 12\): target item 3"):
        full_ranking(
            lambda u: torch.zeros(u.numel(), 5),
            torch.tensor([10, 11, 12]),
            Ragged.from_lists([[0], [1], [3, 4]]),
            Ragged.from_lists([[1], [2], [2, 3]]),
            num_items=5,
        )


def test_input_errors():
    users, tg = torch.arange(2), Ragged.from_lists([[0], [1]])
    zeros = lambda u: torch.zeros(u.numel(), 4)  # noqa: E731
    with pytest.raises(ValueError, match="one row per user"):
        full_ranking(zeros, torch.arange(3), tg, num_items=4)
    with pytest.raises(ValueError, match="targets row 1 holds item 7"):
        full_ranking(zeros, users, Ragged.from_lists([[0], [7]]), num_items=4)
    with pytest.raises(ValueError, match="shape"):
        full_ranking(lambda u: torch.zeros(u.numel(), 3), users, tg, num_items=4)
    with pytest.raises(ValueError, match="NaN"):
        full_ranking(lambda u: torch.full((u.numel(), 4), float("nan")), users, tg, num_items=4)
    with pytest.raises(ValueError, match="positive integer"):
        full_ranking(zeros, users, tg, num_items=4, ks=(0,))


def test_progress_bar(capsys):
    out = _full([desc(5)], [[1]], None, ks=(1,), progress=True)
    assert out["users"] == 1


def test_score_fn_runs_without_grad():
    w = torch.randn(3, 6, requires_grad=True)
    seen = []

    def score_fn(u):
        s = w[u]
        seen.append(s.requires_grad)
        return s

    full_ranking(score_fn, torch.arange(3), Ragged.from_lists([[0], [1], [2]]), num_items=6)
    assert seen == [False]


# ---------------------------------------------------------------------------------
# protocol labels
# ---------------------------------------------------------------------------------
def test_protocol_label():
    assert protocol_label("full") == "full"
    assert protocol_label("sampled", 100) == "sampled-100"
    assert protocol_label("sampled", 100, "uniform") == "sampled-100"
    assert protocol_label("sampled", 99, "popularity") == "sampled-pop-99"
    assert protocol_label("sampled", 99, "pop") == "sampled-pop-99"
    assert parse_protocol("sampled-100") == ("sampled", 100, "uniform")
    assert parse_protocol("sampled-pop-99") == Protocol("sampled", 99, "popularity")
    assert parse_protocol("full") == ("full", None, None)
    p = parse_protocol("sampled-pop-99")
    assert p.mode == "sampled" and p.num_negatives == 99 and p.sampler == "popularity"
    assert p.sampled and not parse_protocol("full").sampled
    for label in ["full", "sampled-1", "sampled-100", "sampled-pop-1", "sampled-pop-99"]:
        assert protocol_label(*parse_protocol(label)) == label  # exact inverses
        assert parse_protocol(label).label == label
    for bad in [("sampled", None), ("sampled", 0), ("full", 100), ("popular", None),
                ("full", None, "uniform"), ("sampled", 5, "zipf"), ("sampled", None, "popularity")]:
        with pytest.raises(ValueError):
            protocol_label(*bad)
    for bad in ["Full", "sampled", "sampled-0", "sampled-x", "sampled-01", "sampled-pop-0",
                "sampled-pop-", "sampled-pop-01", "sampled-popularity-5", "sampled-uniform-5",
                "pop-100", "sampled--5"]:
        with pytest.raises(ValueError):
            parse_protocol(bad)


# ---------------------------------------------------------------------------------
# sampled ranking
# ---------------------------------------------------------------------------------
# N = 130 items; exclude 0..28 (29 items) and the target 32: the valid pool is
# exactly the 100 items {29..129} \ {32}, so every candidate set is known.
N_EXACT = 130
EXCL_EXACT = list(range(29))
POOL_EXACT = sorted(set(range(29, 130)) - {32})


def _pair_scorer(item_scores, record=None):
    def fn(users, items):
        if record is not None:
            record.append(items.clone())
        return item_scores[items]

    return fn


def test_sampled_exact_pool_hand_case():
    assert len(POOL_EXACT) == 100
    seen = []
    U = 4
    out = sampled_ranking(
        _pair_scorer(-torch.arange(N_EXACT).double(), seen),
        torch.arange(U),
        Ragged.from_lists([[32]] * U),
        Ragged.from_lists([EXCL_EXACT] * U),
        num_items=N_EXACT,
        num_negatives=100,
        ks=(10, 20),
        generator=torch.Generator().manual_seed(0),
    )
    items = torch.cat(seen)
    assert items.shape == (U, 101)
    assert (items[:, 0] == 32).all()
    for row in items[:, 1:].tolist():
        assert sorted(row) == POOL_EXACT  # never excluded, never the target, no repeats
    # negatives scored higher than item 32: 29, 30, 31 -> rank 3
    assert out["users"] == U
    assert out["hr@10"] == 1.0 and out["recall@10"] == 1.0
    assert out["ndcg@10"] == pytest.approx(disc(3))
    assert out["precision@10"] == pytest.approx(0.1)
    assert out["mrr"] == pytest.approx(0.25)


def test_sampled_constant_scores_rank_last():
    out = sampled_ranking(
        lambda u, i: torch.zeros(i.shape),
        torch.arange(2),
        Ragged.from_lists([[32], [32]]),
        Ragged.from_lists([EXCL_EXACT] * 2),
        num_items=N_EXACT,
        num_negatives=100,
        ks=(10, 100, 101),
        generator=torch.Generator().manual_seed(0),
    )
    assert out["hr@10"] == 0.0 and out["hr@100"] == 0.0 and out["hr@101"] == 1.0
    assert out["mrr"] == pytest.approx(1 / 101)


@pytest.mark.parametrize("method", ["rejection", "dense", "auto"])
def test_sampler_exact_pool(method):
    B = 3
    rows = torch.arange(B).repeat_interleave(len(EXCL_EXACT) + 1)
    items = torch.tensor(([32] + EXCL_EXACT) * B)
    g = torch.Generator().manual_seed(1)
    neg = _sample_negatives(rows, items, B, N_EXACT, 100, g, method=method)
    for row in neg.tolist():
        assert sorted(row) == POOL_EXACT


@pytest.mark.parametrize("method", ["rejection", "dense"])
def test_sampler_valid_distinct_and_uniform(method):
    # 3000 identical rows; 10 forbidden items out of 50 -> pool of 40, 5 per row
    N, n, B = 50, 5, 3000
    forbidden = list(range(0, 50, 5))
    rows = torch.arange(B).repeat_interleave(len(forbidden))
    items = torch.tensor(forbidden * B)
    neg = _sample_negatives(rows, items, B, N, n, torch.Generator().manual_seed(2), method=method)
    assert neg.shape == (B, n)
    assert not torch.isin(neg, torch.tensor(forbidden)).any()
    assert (torch.sort(neg, 1).values.diff(dim=1) > 0).all()  # distinct within a row
    counts = torch.bincount(neg.flatten(), minlength=N).double()
    allowed = counts[[i for i in range(N) if i not in forbidden]]
    expected = B * n / 40  # 375
    assert ((allowed - expected).abs() < 0.25 * expected).all()


def _sampled_run(seed, record):
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    U, N = 20, 400
    gen = torch.Generator().manual_seed(5)
    exclude = [torch.randperm(N, generator=gen)[:30].tolist() for _ in range(U)]
    targets = [[next(i for i in range(N) if i not in ex)] for ex in exclude]
    scores = torch.randn(N, generator=gen)
    out = sampled_ranking(
        _pair_scorer(scores, record),
        torch.arange(U),
        Ragged.from_lists(targets),
        Ragged.from_lists(exclude),
        num_items=N,
        num_negatives=50,
        generator=g,
        chunk_size=6,
    )
    items = torch.cat(record)
    for u in range(U):
        assert items[u, 0] == targets[u][0]
        negs = items[u, 1:].tolist()
        assert len(set(negs)) == 50 and not (set(negs) & (set(exclude[u]) | set(targets[u])))
    return out, items


def test_sampled_deterministic_under_generator():
    a, items_a = _sampled_run(7, [])
    b, items_b = _sampled_run(7, [])
    c, items_c = _sampled_run(8, [])
    assert a == b and torch.equal(items_a, items_b)
    assert not torch.equal(items_a, items_c)


def test_sampled_errors():
    users = torch.arange(2)
    zeros = lambda u, i: torch.zeros(i.shape)  # noqa: E731
    with pytest.raises(ValueError, match="leave-one-out only.*row 1"):
        sampled_ranking(zeros, users, Ragged.from_lists([[1], [2, 3]]), num_items=200)
    with pytest.raises(ValueError, match=r"row 1 \(user 1\): target item 2"):
        sampled_ranking(
            zeros,
            users,
            Ragged.from_lists([[1], [2]]),
            Ragged.from_lists([[0], [2]]),
            num_items=200,
        )
    with pytest.raises(ValueError, match="user 0 has only 9 items"):
        sampled_ranking(zeros, users[:1], Ragged.from_lists([[0]]), num_items=10)


def test_sampled_skips_users_without_target():
    out = sampled_ranking(
        lambda u, i: -i.double(),
        torch.arange(3),
        Ragged.from_lists([[0], [], [0]]),
        num_items=300,
        num_negatives=100,
        generator=torch.Generator().manual_seed(0),
    )
    assert out["users"] == 2 and out["hr@10"] == 1.0 and out["mrr"] == 1.0


def test_the_callers_scores_are_left_as_they_were():
    """full_ranking masks a contiguous score tensor in place and restores it: a score_fn
    returning its own cached table sees the table unchanged, even after an error."""
    scores, targets, exclude = _random_case(3)
    table = scores.clone()
    expected, _ = _reference(scores, targets, exclude, (1, 5))
    out = full_ranking(lambda u: table if u.numel() == table.size(0) else table[u], torch.arange(table.size(0)),
                       Ragged.from_lists(targets), Ragged.from_lists(exclude), num_items=table.size(1), ks=(1, 5),
                       chunk_size=1000)
    assert torch.equal(table, scores)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key
    table[4, 0] = float("nan")
    tg = [t if t else [1] for t in targets]
    with pytest.raises(ValueError, match="NaN"):
        full_ranking(lambda u: table, torch.arange(table.size(0)), Ragged.from_lists(tg),
                     Ragged.from_lists([[] for _ in tg]), num_items=table.size(1), chunk_size=1000)
    assert torch.equal(table[:, 1:], scores[:, 1:])


def test_an_expanded_score_row_is_masked_per_user():
    """One popularity row expanded to every user shares its memory across rows; masking
    it in place would mask one user's items for all of them."""
    pop = torch.arange(12, 0, -1).float()
    targets, exclude = [[3], [5], [0]], [[0, 1], [2], [1]]
    out = full_ranking(lambda u: pop.expand(u.numel(), -1), torch.arange(3), Ragged.from_lists(targets),
                       Ragged.from_lists(exclude), num_items=12, ks=(1, 3))
    dense = pop.expand(3, -1).clone()
    expected, _ = _reference(dense, targets, exclude, (1, 3))
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key
    assert torch.equal(pop, torch.arange(12, 0, -1).float())
