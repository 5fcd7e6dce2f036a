"""Gowalla: LightGCN's three files and both protocols."""
from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.data.datasets.gowalla import Gowalla, read_gowalla
from graphrec.data.hetero import CLICKS, has_heldout, heldout
from graphrec.data.logs import LogError


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


def test_negative_id_is_reported_on_its_own_line(tmp_path: Path) -> None:
    # before: the row was the position in train+valid+test concatenated and the
    # "file" the folder
    raw = tmp_path / "gowalla"
    raw.mkdir()
    (raw / "train.txt").write_text("0 0 1 2\n1 1 3\n")
    (raw / "valid.txt").write_text("0 3\n\n1 2 -4\n")
    (raw / "test.txt").write_text("0 4\n")
    with pytest.raises(LogError, match="non-negative") as e:
        read_gowalla(str(raw))
    assert e.value.file == str(raw / "valid.txt") and e.value.row == 3
    assert e.value.field == "item" and e.value.value == -4
    assert f"{raw / 'valid.txt'}, row 3, field 'item'" in str(e.value)


def test_huge_id_is_refused_before_allocating(tmp_path: Path) -> None:
    # before: an id of 2**40 asked IdMap.identity for 2**40 int64 (8 TiB)
    raw = tmp_path / "gowalla"
    raw.mkdir()
    (raw / "train.txt").write_text("0 0 1\n1 1\n")
    (raw / "valid.txt").write_text("0 1\n")
    (raw / "test.txt").write_text(f"1 0\n{2 ** 40} 1\n")
    with pytest.raises(LogError, match="too large") as e:
        read_gowalla(str(raw))
    assert e.value.file == str(raw / "test.txt") and e.value.row == 2
    assert e.value.field == "user" and e.value.value == 2 ** 40
    (raw / "test.txt").write_text("1 0\n")
    (raw / "train.txt").write_text(f"0 0 {2 ** 40}\n1 1\n")
    with pytest.raises(LogError, match="item id 1099511627776 is too large") as e:
        read_gowalla(str(raw))
    assert (e.value.file, e.value.row, e.value.field) == (str(raw / "train.txt"), 1, "item")
    # sparse but small ids are fine (under the 2**20 floor)
    (raw / "train.txt").write_text("0 0 5000\n1 1\n")
    logs, _ = read_gowalla(str(raw))
    assert logs.num_items == 5001
