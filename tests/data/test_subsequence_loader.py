import torch

from graphrec.data import Ragged, train_history
from graphrec.data.loader import SubsequenceLoader
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
