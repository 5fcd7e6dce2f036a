"""Popularity-sampled negatives (the ``sampled-pop-<n>`` protocol)."""
import itertools

import pytest
import torch

from graphrec.data.ragged import Ragged
from graphrec.metrics import full_ranking, parse_protocol, ranking_metrics, sampled_ranking
from graphrec.metrics.ranking import _sample_weighted


def _forbid(B, forbidden):
    rows = torch.arange(B).repeat_interleave(len(forbidden))
    items = torch.tensor(list(forbidden) * B, dtype=torch.long)
    return rows, items


def _inclusion_exact(weights, forbidden, n):
    """P(item in the sample) under successive sampling, by enumerating every order."""
    pool = [i for i, w in enumerate(weights) if w > 0 and i not in forbidden]
    prob = [0.0] * len(weights)
    for order in itertools.permutations(pool, n):
        p, left = 1.0, sum(weights[i] for i in pool)
        for i in order:
            p *= weights[i] / left
            left -= weights[i]
        for i in order:
            prob[i] += p
    return torch.tensor(prob, dtype=torch.float64)


@pytest.mark.parametrize("method", ["dense", "rejection", "auto"])
def test_single_draw_follows_the_weights(method):
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 10.0, 5.0, 0.5], dtype=torch.float64)
    forbidden = [5, 1]
    B = 40_000
    rows, items = _forbid(B, forbidden)
    neg = _sample_weighted(rows, items, B, weights, 1, torch.Generator().manual_seed(3), method=method)
    freq = torch.bincount(neg.flatten(), minlength=weights.numel()).double() / B
    expected = weights.clone()
    expected[forbidden] = 0.0
    expected /= expected.sum()
    assert freq[4] == 0 and freq[5] == 0 and freq[1] == 0  # zero weight and forbidden
    assert (freq - expected).abs().max() < 0.01  # ~4 standard errors at B = 40k


@pytest.mark.parametrize("method", ["dense", "rejection", "auto"])
def test_inclusion_probabilities_match_successive_sampling(method):
    weights = [1.0, 2.0, 3.0, 4.0, 0.0, 6.0]
    forbidden = [3]
    n, B = 3, 30_000
    rows, items = _forbid(B, forbidden)
    w = torch.tensor(weights, dtype=torch.float64)
    neg = _sample_weighted(rows, items, B, w, n, torch.Generator().manual_seed(4), method=method)
    assert neg.shape == (B, n)
    assert (torch.sort(neg, 1).values.diff(dim=1) > 0).all()  # distinct within a row
    assert not torch.isin(neg, torch.tensor([3, 4])).any()
    freq = torch.bincount(neg.flatten(), minlength=len(weights)).double() / B
    exact = _inclusion_exact(weights, set(forbidden), n)
    assert exact.sum().item() == pytest.approx(n)
    assert (freq - exact).abs().max() < 0.015


def test_rows_with_different_pools_and_heavy_exclusions():
    # row 0 excludes the heaviest items (auto -> dense), row 1 nothing (auto -> rejection)
    N, n = 300, 20
    w = torch.arange(1, N + 1, dtype=torch.float64) ** 2
    heavy = list(range(200, 300))
    rows = torch.zeros(len(heavy), dtype=torch.long)
    items = torch.tensor(heavy)
    for seed in range(3):
        neg = _sample_weighted(rows, items, 2, w, n, torch.Generator().manual_seed(seed))
        assert not torch.isin(neg[0], items).any()
        for r in range(2):
            assert neg[r].unique().numel() == n


def test_deterministic_under_seed():
    w = torch.rand(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows, items = _forbid(64, range(0, 500, 7))
    a = _sample_weighted(rows, items, 64, w, 30, torch.Generator().manual_seed(1))
    b = _sample_weighted(rows, items, 64, w, 30, torch.Generator().manual_seed(1))
    c = _sample_weighted(rows, items, 64, w, 30, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_too_few_positive_items_is_an_error():
    w = torch.zeros(200, dtype=torch.float64)
    w[:50] = 1.0
    rows, items = _forbid(2, [0, 1])
    with pytest.raises(ValueError, match="user 7 has only 48 items of positive popularity"):
        _sample_weighted(rows, items, 2, w, 49, row_ids=torch.tensor([7, 8]))
    out = _sample_weighted(rows, items, 2, w, 48)
    for r in range(2):
        assert sorted(out[r].tolist()) == list(range(2, 50))


# Same exact pool as test_ranking's hand case: N = 200, exclude 0..28, target 32, and
# items 130..199 have weight 0, so the 100 negatives are exactly {29..129} \ {32}.
N_EXACT = 200
EXCL_EXACT = list(range(29))
POOL_EXACT = sorted(set(range(29, 130)) - {32})


def test_sampled_ranking_popularity_hand_case():
    pop = torch.arange(N_EXACT, dtype=torch.float64) + 1.0
    pop[130:] = 0.0
    seen = []

    def pairs(users, items):
        seen.append(items.clone())
        return -items.double()

    U = 3
    out = sampled_ranking(
        pairs,
        torch.arange(U),
        Ragged.from_lists([[32]] * U),
        Ragged.from_lists([EXCL_EXACT] * U),
        num_items=N_EXACT,
        num_negatives=100,
        ks=(1, 10),
        generator=torch.Generator().manual_seed(0),
        popularity=pop,
    )
    items = torch.cat(seen)
    assert items.shape == (U, 101) and (items[:, 0] == 32).all()
    for row in items[:, 1:].tolist():
        assert sorted(row) == POOL_EXACT
    # 29, 30, 31 score higher than 32 -> rank 3
    assert out["users"] == U and out["hr@1"] == 0.0 and out["hr@10"] == 1.0
    assert out["mrr"] == pytest.approx(0.25)

    with pytest.raises(ValueError, match="positive popularity"):
        sampled_ranking(
            pairs, torch.arange(1), Ragged.from_lists([[32]]), Ragged.from_lists([EXCL_EXACT]),
            num_items=N_EXACT, num_negatives=101, popularity=pop,
        )


def test_popularity_negatives_are_harder_for_a_popularity_scorer():
    # A scorer that ranks by popularity: uniform negatives are mostly unpopular (easy),
    # popularity-sampled ones are popular (hard), so its HR@10 drops.
    N, U = 2000, 400
    g = torch.Generator().manual_seed(0)
    pop = (1.0 / torch.arange(1, N + 1, dtype=torch.float64)) * 1000  # Zipf
    targets = torch.multinomial(pop, U, replacement=True, generator=g)
    kw = dict(num_items=N, num_negatives=99, ks=(10,))
    score = lambda u, i: pop[i]  # noqa: E731
    uni = sampled_ranking(score, torch.arange(U), Ragged.from_lists([[t] for t in targets.tolist()]),
                          generator=torch.Generator().manual_seed(1), **kw)
    popd = sampled_ranking(score, torch.arange(U), Ragged.from_lists([[t] for t in targets.tolist()]),
                           generator=torch.Generator().manual_seed(1), popularity=pop, **kw)
    assert uni["hr@10"] > popd["hr@10"] + 0.2


def test_sampled_ranking_popularity_deterministic_and_chunk_sized():
    N, U = 500, 37
    g = torch.Generator().manual_seed(2)
    pop = torch.randint(0, 20, (N,), generator=g)  # integer counts, some zero
    scores = torch.randn(N, generator=g)
    exclude = [torch.randperm(N, generator=g)[:40].tolist() for _ in range(U)]
    targets = [[next(i for i in range(N) if i not in ex)] for ex in exclude]

    def run(seed, chunk):
        return sampled_ranking(
            lambda u, i: scores[i], torch.arange(U), Ragged.from_lists(targets), Ragged.from_lists(exclude),
            num_items=N, num_negatives=50, generator=torch.Generator().manual_seed(seed),
            chunk_size=chunk, popularity=pop,
        )

    assert run(3, 8) == run(3, 8)
    assert run(3, 8) != run(4, 8)


@pytest.mark.parametrize(
    "pop,match",
    [
        (torch.ones(9), "one weight per item"),
        (torch.ones(10, 1), "one weight per item"),
        (-torch.ones(10), "non-negative"),
        (torch.full((10,), float("nan")), "finite"),
        (torch.ones(10, dtype=torch.bool), "real"),
        ([1.0] * 10, "tensor"),
    ],
)
def test_popularity_validation(pop, match):
    with pytest.raises(ValueError, match=match):
        sampled_ranking(lambda u, i: torch.zeros(i.shape), torch.arange(1), Ragged.from_lists([[0]]),
                        num_items=10, num_negatives=3, popularity=pop)


def test_ranking_metrics_dispatches_by_label_and_never_scores_all_items_when_sampled():
    N, U = 300, 12
    g = torch.Generator().manual_seed(0)
    table = torch.randn(U, N, generator=g)
    targets = Ragged.from_lists([[u] for u in range(U)])
    pop = torch.arange(N, dtype=torch.float64) + 1

    def full_fn(u):
        raise AssertionError("a sampled protocol must not score all items")

    pairs = lambda u, i: table[u.unsqueeze(1), i]  # noqa: E731
    for label, kw in (("sampled-50", {}), ("sampled-pop-50", {"popularity": pop})):
        out = ranking_metrics(label, torch.arange(U), targets, num_items=N, score_fn=full_fn,
                              score_fn_pairs=pairs, generator=torch.Generator().manual_seed(1), **kw)
        ref = sampled_ranking(pairs, torch.arange(U), targets, num_items=N, num_negatives=50,
                              generator=torch.Generator().manual_seed(1), **kw)
        assert out == ref
    full = ranking_metrics(parse_protocol("full"), torch.arange(U), targets, num_items=N,
                           score_fn=lambda u: table[u], score_fn_pairs=pairs)
    assert full == full_ranking(lambda u: table[u], torch.arange(U), targets, num_items=N)
    with pytest.raises(ValueError, match="needs score_fn_pairs"):
        ranking_metrics("sampled-50", torch.arange(U), targets, num_items=N, score_fn=full_fn)
    with pytest.raises(ValueError, match="needs popularity"):
        ranking_metrics("sampled-pop-50", torch.arange(U), targets, num_items=N, score_fn_pairs=pairs)
    with pytest.raises(ValueError, match="needs score_fn"):
        ranking_metrics("full", torch.arange(U), targets, num_items=N, score_fn_pairs=pairs)
    with pytest.raises(ValueError, match="not a ranking protocol"):
        ranking_metrics("sampled-pop", torch.arange(U), targets, num_items=N, score_fn_pairs=pairs)
