import pytest
import torch

from graphrec.data import Ragged, train_history
from graphrec.data.loader import SubsequenceLoader, partner_views
from graphrec.models import IDCLRec
from graphrec.train import TrainConfig, Trainer
from tests.worlds import clustered_world

HIST = Ragged.from_lists([[10, 11, 12, 13, 14], [20, 21], [30, 31, 32], [12, 5, 13]])


def loader(**kw):
    kw.setdefault("generator", torch.Generator().manual_seed(0))
    return SubsequenceLoader(HIST, 40, max_len=3, batch_size=100, shuffle=False, **kw)


def test_every_prefix_window_with_at_least_two_inputs():
    ld = loader()
    b = next(iter(ld))
    # ids shifted by one; user 1 (two items) yields nothing; user 0's last window slides
    assert b["input"].tolist() == [[0, 11, 12], [11, 12, 13], [12, 13, 14], [0, 31, 32], [0, 13, 6]]
    assert b["target"].tolist() == [13, 14, 15, 33, 14]
    assert b["user"].tolist() == [0, 0, 0, 2, 3]
    assert ld.num_rows == 5 and len(ld) == 1
    one = next(iter(loader(min_len=1)))
    assert one["input"][0].tolist() == [0, 0, 11] and one["target"][0].tolist() == 12


def test_partners_share_the_target():
    ld = loader()
    for _ in range(5):
        b = next(iter(ld))
        p = b["partner_index"]
        assert torch.equal(ld.target[p], b["target"])
        # target 14 (item 13) has two rows, each gets the other; the rest are alone
        assert p.tolist() == [0, 4, 2, 3, 1]
        assert torch.equal(b["partner"], ld.windows(p))
    assert "partner" not in next(iter(loader(partners=False)))


def test_shuffled_epoch_covers_every_row_once():
    ld = SubsequenceLoader(HIST, 40, max_len=3, batch_size=2, generator=torch.Generator().manual_seed(1))
    rows = torch.cat([b["index"] for b in ld])
    assert sorted(rows.tolist()) == list(range(5))


def test_trainer_builds_a_subsequence_loader():
    toy_data = clustered_world(num_users=20, num_items=30, length=8)
    model = IDCLRec.from_data(toy_data, IDCLRec.Config(dim=8, max_len=7))
    ld = Trainer(model, toy_data, TrainConfig(progress=False)).make_loader()
    assert isinstance(ld, SubsequenceLoader) and ld.max_len == 7
    lengths = train_history(toy_data).lengths()
    assert ld.num_rows == int((lengths - 2).clamp(min=0).sum())


def test_length_buckets_cover_every_row_once_with_narrow_windows():
    lengths = [3, 12, 4, 30, 5, 7, 2, 25, 9, 3]
    hist = Ragged.from_lists([list(range(i, i + n)) for i, n in enumerate(lengths)])
    plain = SubsequenceLoader(hist, 60, max_len=10, batch_size=4, generator=torch.Generator().manual_seed(0))
    bucketed = SubsequenceLoader(hist, 60, max_len=10, batch_size=4, length_buckets=3,
                                 generator=torch.Generator().manual_seed(0))
    seen, cells = [], 0
    for b in bucketed:
        seen += b["index"].tolist()
        width = b["input"].size(1)
        assert width <= 10 and torch.any(b["input"][:, 0] > 0)  # no all-padding column
        # each window is the right-aligned suffix of the full-width one
        assert torch.equal(b["input"], plain.windows(b["index"])[:, -width:])
        assert torch.equal(b["partner"], plain.windows(b["partner_index"])[:, -b["partner"].size(1):])
        cells += b["input"].numel()
    assert sorted(seen) == list(range(plain.num_rows))
    assert cells < plain.num_rows * 10


# ---- pair_partners: the partners come from the batch ------------------------------------------

def paired_world():
    # targets repeat across users: item 9 ends seven prefixes, item 4 five, item 2 two, items 3, 6, 7 one
    return Ragged.from_lists([[1, 2, 9], [3, 9, 4], [5, 6, 7, 9], [8, 2, 9, 4], [1, 9, 4, 9], [2, 3, 4], [1, 9],
                              [6, 4]])


@pytest.mark.parametrize("buckets", [0, 2])
@pytest.mark.parametrize("batch_size", [2, 3, 4, 100])
def test_paired_epoch_covers_every_row_once_with_same_target_mates(buckets, batch_size):
    hist = paired_world()
    ld = SubsequenceLoader(hist, 12, max_len=3, batch_size=batch_size, min_len=1, pair_partners=True,
                           length_buckets=buckets, generator=torch.Generator().manual_seed(4))
    count = torch.bincount(ld.target, minlength=13)  # rows per target
    assert set(count.tolist()) >= {1, 2, 5, 7}
    for _ in range(3):  # new pairs every epoch
        seen = []
        for b in ld:
            rows, slot = b["index"], b["partner_slot"]
            assert rows.numel() <= batch_size + 2
            seen += rows.tolist()
            paired = slot >= 0
            k = torch.arange(rows.numel())
            # partners are other rows of the batch with the target, each row some row's partner once
            assert torch.equal(slot[paired].sort().values, k[paired])
            assert not torch.any(rows[slot[paired]] == rows[paired])
            assert torch.equal(b["target"][slot[paired]], b["target"][paired])
            # a target's only row is its own partner (a second dropout draw)
            p = b["partner_index"]
            assert torch.equal(p, rows[~paired])
            assert torch.all(count[ld.target[p]] == 1)
            if p.numel():
                assert torch.equal(b["partner"], ld.windows(p)[:, -b["partner"].size(1):])
            assert torch.equal(b["input"], ld.windows(rows)[:, -b["input"].size(1):])
        assert sorted(seen) == list(range(ld.num_rows))
    # units: pairs, one cycle of three per odd target, a target's only row alone
    units = ld.partner_units()
    size = (units >= 0).sum(1)
    members = units[units >= 0]
    assert sorted(members.tolist()) == list(range(ld.num_rows))
    assert torch.equal(torch.bincount(ld.target[units[size == 1, 0]], minlength=13), (count == 1).long())
    assert torch.equal(torch.bincount(ld.target[units[size == 3, 0]], minlength=13),
                       ((count % 2 == 1) & (count >= 3)).long())
    for unit, n in zip(units.tolist(), size.tolist()):
        assert len({int(ld.target[r]) for r in unit[:n]}) == 1


def test_pairs_by_length_take_each_targets_rows_in_order_of_length():
    # item 9 ends prefixes of input lengths 1, 1, 2, 3, 3, 3, 3 (max_len=3); item 4 of 2, 2, 3, 3, 3
    hist = paired_world()
    by_len = SubsequenceLoader(hist, 12, max_len=3, batch_size=4, min_len=1, pair_partners=True, pair_by_length=True,
                               generator=torch.Generator().manual_seed(0))
    uniform = SubsequenceLoader(hist, 12, max_len=3, batch_size=4, min_len=1, pair_partners=True,
                                generator=torch.Generator().manual_seed(0))

    def spread(ld):  # summed length gap inside the units of many epochs
        gap = 0
        for _ in range(50):
            units = ld.partner_units()
            lengths = torch.where(units >= 0, ld.input_lengths(units.clamp(min=0)), -1)
            for row, n in zip(lengths.tolist(), (units >= 0).sum(1).tolist()):
                gap += max(row[:n]) - min(row[:n])
        return gap

    for _ in range(5):
        units = by_len.partner_units()
        assert sorted(units[units >= 0].tolist()) == list(range(by_len.num_rows))  # still every row once
        ranges: dict[int, list[tuple[int, int]]] = {}
        for unit in units.tolist():
            rows = torch.tensor([r for r in unit if r >= 0])
            assert by_len.target[rows].unique().numel() == 1
            lengths = by_len.input_lengths(rows)
            ranges.setdefault(int(by_len.target[rows[0]]), []).append((int(lengths.min()), int(lengths.max())))
        # a target's units cover disjoint runs of its rows sorted by length: no unit's range straddles another's
        for spans in ranges.values():
            spans.sort()
            assert all(hi <= lo for (_, hi), (lo, _) in zip(spans, spans[1:]))
    assert spread(by_len) < spread(uniform)
    with pytest.raises(ValueError, match="pair_by_length"):
        SubsequenceLoader(hist, 12, pair_by_length=True)


def test_pair_partners_needs_a_shuffled_loader_with_partners():
    with pytest.raises(ValueError, match="pair_partners"):
        SubsequenceLoader(HIST, 40, pair_partners=True, shuffle=False)
    with pytest.raises(ValueError, match="pair_partners"):
        SubsequenceLoader(HIST, 40, pair_partners=True, partners=False)
    with pytest.raises(ValueError, match="batch_size"):
        SubsequenceLoader(HIST, 40, pair_partners=True, batch_size=1)


def test_partner_views_reads_the_mate_and_encodes_only_the_rows_alone():
    own = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    calls = []

    def encode(windows):
        calls.append(windows.clone())
        return windows.float().sum(1, keepdim=True) * 10

    batch = {"input": torch.zeros(4, 2, dtype=torch.long), "partner_slot": torch.tensor([2, -1, 0, -1]),
             "partner": torch.tensor([[0, 5], [1, 2]])}
    assert partner_views(batch, own, encode).tolist() == [[3.0], [50.0], [1.0], [30.0]]
    assert len(calls) == 1 and calls[0].size(0) == 2
    # an unpaired batch encodes its partners (or the input again)
    assert partner_views({"input": torch.ones(2, 2, dtype=torch.long)}, own[:2], encode).tolist() == [[20.0]] * 2
