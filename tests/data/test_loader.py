import pytest
import torch

from graphrec.data.loader import BPRLoader, NegativeSampler, SearchSessionLoader, SequenceLoader, negative_weights
from graphrec.data.ragged import Ragged


def test_negative_sampler_never_returns_a_positive():
    # user 0 owns all items but one: its negatives must all be item 7
    pos = Ragged.from_lists([[0, 1, 2, 3, 4, 5, 6], [0], []])
    s = NegativeSampler(pos, 8)
    g = torch.Generator().manual_seed(0)
    neg = s.sample(torch.tensor([0, 1, 2] * 200), 3, g)
    assert neg.shape == (600, 3)
    assert (neg[0::3] == 7).all()
    assert not (neg[1::3] == 0).any()
    assert not s.is_positive(torch.tensor([0, 1, 2] * 200).repeat_interleave(3), neg.flatten()).any()


def test_negative_sampler_counts_impossible_users():
    s = NegativeSampler(Ragged.from_lists([[0, 1]]), 2, max_rounds=3)
    s.sample(torch.tensor([0, 0]))
    assert s.accepted_collisions == 2


def test_weighted_negative_sampler_draws_in_proportion_and_avoids_positives():
    # item 1 is user 0's positive; items 0 and 4 have weight 0; items 2 and 3 weigh 1 : 3
    weights = torch.tensor([0.0, 5.0, 1.0, 3.0, 0.0])
    s = NegativeSampler(Ragged.from_lists([[1], []]), 5, weights=weights)
    neg = s.sample(torch.tensor([0] * 4000), 1, torch.Generator().manual_seed(0))
    counts = torch.bincount(neg, minlength=5)
    assert counts[[0, 1, 4]].tolist() == [0, 0, 0]
    assert abs(counts[3].item() / counts[2].item() - 3.0) < 0.3
    # user 1 has no positives: item 1 is drawn 5/9 of the time
    free = torch.bincount(s.sample(torch.tensor([1] * 4000), 1, torch.Generator().manual_seed(1)), minlength=5)
    assert abs(free[1].item() / 4000 - 5 / 9) < 0.03


@pytest.mark.parametrize("weights", [torch.zeros(5), torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0]), torch.ones(4)])
def test_negative_sampler_refuses_meaningless_weights(weights):
    with pytest.raises(ValueError, match="weights must be"):
        NegativeSampler(Ragged.from_lists([[1]]), 5, weights=weights)


def test_popularity_negatives_follow_the_training_clicks():
    clicks = Ragged.from_lists([[0, 0, 2], [2]])  # item 0 twice, item 2 twice, 1 and 3 never
    assert negative_weights("popularity", clicks, 4).tolist() == [2, 0, 2, 0]
    assert negative_weights("uniform", clicks, 4) is None
    with pytest.raises(ValueError, match="negatives must be one of"):
        negative_weights("pop", clicks, 4)


def test_bpr_loader_covers_every_edge_once_per_epoch():
    ei = torch.tensor([[0, 0, 1, 2, 2, 2], [1, 2, 0, 3, 4, 5]])
    loader = BPRLoader(ei, 6, batch_size=4, generator=torch.Generator().manual_seed(0), num_users=3)
    seen = []
    for b in loader:
        seen += list(zip(b["user"].tolist(), b["pos"].tolist()))
        assert not loader.sampler.is_positive(b["user"], b["neg"]).any()
    assert sorted(seen) == sorted(zip(ei[0].tolist(), ei[1].tolist()))
    assert len(loader) == 2


def test_sequence_loader_shifts_and_left_pads():
    hist = Ragged.from_lists([[3, 1, 2], [0], [4, 5]])
    loader = SequenceLoader(hist, 6, max_len=4, batch_size=8, shuffle=False)
    b = next(iter(loader))
    assert b["user"].tolist() == [0, 2]  # user 1 has a single item: no training pair
    assert b["input"].tolist() == [[0, 0, 4, 2], [0, 0, 0, 5]]
    assert b["target"].tolist() == [[0, 0, 2, 3], [0, 0, 0, 6]]
    assert ((b["neg"] == 0) == (b["target"] == 0)).all()
    for r, u in enumerate(b["user"].tolist()):
        negs = b["neg"][r][b["neg"][r] > 0] - 1
        assert not set(negs.tolist()) & set(hist[u].tolist())


def test_search_session_loader_pads_query_tokens():
    tokens = Ragged.from_lists([[0, 1], [2]])
    loader = SearchSessionLoader(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([3, 4]),
                                 torch.tensor([1.0, 2.0]), tokens, batch_size=2, max_tokens=3,
                                 shuffle=False)
    b = next(iter(loader))
    assert b["tokens"].tolist() == [[3, 0, 0], [1, 2, 0]]


def test_sequence_loader_length_buckets_trim_common_padding():
    lengths = [2, 9, 3, 8, 4, 2, 7, 5]
    hist = Ragged.from_lists([list(range(n)) for n in lengths])
    plain = SequenceLoader(hist, 12, max_len=8, batch_size=3, shuffle=False)
    bucketed = SequenceLoader(hist, 12, max_len=8, batch_size=3, length_buckets=2,
                              generator=torch.Generator().manual_seed(0))
    users = []
    for b in bucketed:
        w = b["input"].size(1)
        assert torch.any(b["input"][:, 0] > 0)
        rows = b["user"]
        assert torch.equal(b["input"], plain.input[rows][:, -w:])
        assert torch.equal(b["target"], plain.target[rows][:, -w:])
        assert b["neg"].shape == b["target"].shape and torch.all((b["neg"] > 0) == (b["target"] > 0))
        users += rows.tolist()
    assert sorted(users) == list(range(len(lengths)))
