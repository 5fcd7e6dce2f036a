"""Gowalla: LightGCN's three files and both protocols."""
from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.data.datasets.gowalla import Gowalla, read_gowalla
from graphrec.data.hetero import CLICKS, has_heldout, heldout


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    raw = tmp_path / "gowalla"
    raw.mkdir()
    (raw / "train.txt").write_text("0 0 1 2\n1 1 3\n2 0\n")
    (raw / "valid.txt").write_text("0 3\n1 2\n2 4\n")
    (raw / "test.txt").write_text("0 4\n1 0\n2 1 2\n")
    (raw / "user_list.txt").write_text("org_id remap_id\n500 0\n70 1\n9 2\n")
    return tmp_path


def test_read_small(small_root: Path) -> None:
    logs, parts = read_gowalla(str(small_root / "gowalla"))
    assert logs.num_users == 3 and logs.num_items == 5 and len(logs.rec) == 13
    assert parts.tolist() == [0] * 6 + [1] * 3 + [2] * 4
    assert logs.user_map.raw.tolist() == [500, 70, 9]  # original ids from user_list.txt
    assert logs.item_map.raw.tolist() == [0, 1, 2, 3, 4]  # no item_list.txt: identity
    assert float(logs.rec.time.abs().sum()) == 0.0 and logs.meta["time_unit"] == "none"


def test_protocols(small_root: Path, tmp_cache: Path) -> None:
    light = Gowalla(str(small_root))[0]
    assert light[CLICKS].edge_index.size(1) == 9 and not has_heldout(light, "valid")
    assert heldout(light, "valid")[0].shape == (2, 0)
    assert heldout(light, "test")[0].size(1) == 4
    hold = Gowalla(str(small_root), protocol="holdout")[0]
    assert (hold[CLICKS].edge_index.size(1), heldout(hold, "valid")[0].size(1),
            heldout(hold, "test")[0].size(1)) == (6, 3, 4)
    with pytest.raises(ValueError, match="holdout"):
        Gowalla(str(small_root), protocol="random")


def test_missing_files_message(tmp_path: Path, tmp_cache: Path) -> None:
    with pytest.raises(FileNotFoundError) as e:
        Gowalla(str(tmp_path))
    msg = str(e.value)
    assert all(f in msg for f in ("train.txt", "valid.txt", "test.txt"))
    assert str(tmp_path / "gowalla") in msg


def test_real_counts(shared_data: Path, tmp_cache: Path) -> None:
    ds = Gowalla(str(shared_data))
    logs = ds.logs
    assert (logs.num_users, logs.num_items) == (29858, 40981)
    assert (logs.meta["train_rows"], logs.meta["valid_rows"], logs.meta["test_rows"]) == (
        719081, 91047, 217242)
    data = ds[0]
    assert data[CLICKS].edge_index.size(1) == 719081 + 91047  # official LightGCN train set
    assert heldout(data, "test")[0].size(1) == 217242
    assert not has_heldout(data, "valid")
    assert logs.user_map.raw[0] == 343  # user_list.txt: org_id of remap_id 0
