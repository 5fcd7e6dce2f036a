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
