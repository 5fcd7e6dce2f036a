"""AmazonSeq: S3-Rec sequence files, on hand-made files and on the real data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphrec.data.datasets.amazon import AmazonSeq, read_amazon_seq
from graphrec.data.hetero import CLICKS

# README table: users, items, interactions, attribute vocabulary
STATS = {
    "beauty": (22363, 12101, 198502, 637),
    "sports": (35598, 18357, 296337, 2277),
    "toys": (19412, 11924, 167597, 1027),
}


def test_read_small_files(tmp_path: Path) -> None:
    raw = tmp_path / "amazon_seq"
    raw.mkdir()
    (raw / "Beauty.txt").write_text("1 1 2 3\n2 2 3\n3 3 1 2 4\n")
    (raw / "Beauty_item2attributes.json").write_text(json.dumps({"1": [1, 2], "3": [3], "4": []}))
    logs = read_amazon_seq(str(raw), "beauty")
    assert logs.num_users == 3 and logs.num_items == 4
    assert logs.user_map.raw.tolist() == [1, 2, 3] and logs.item_map.raw.tolist() == [1, 2, 3, 4]
    assert logs.rec.sequences().tolist() == [[0, 1, 2], [1, 2], [2, 0, 1, 3]]
    assert logs.rec.time.tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]  # ordinal positions
    assert logs.meta["time_unit"] == "ordinal"
    assert logs.items.attrs.tolist() == [[0, 1], [], [2], []] and logs.items.num_attrs == 3


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="beauty"):
        read_amazon_seq(".", "movies")


def test_missing_files_message(tmp_path: Path, tmp_cache: Path) -> None:
    with pytest.raises(FileNotFoundError) as e:
        AmazonSeq(str(tmp_path), name="toys")
    msg = str(e.value)
    assert "Toys_and_Games.txt" in msg and "Toys_and_Games_item2attributes.json" in msg
    assert str(tmp_path / "amazon_seq") in msg


@pytest.mark.parametrize("name", ["beauty", "sports", "toys"])
def test_real_statistics(shared_data: Path, name: str) -> None:
    logs = read_amazon_seq(str(shared_data / "amazon_seq"), name)
    users, items, inter, attrs = STATS[name]
    stats = logs.statistics()
    assert (stats["users"], stats["items"], stats["rec_interactions"]) == (users, items, inter)
    assert logs.items.num_attrs == attrs
    lengths = torch.bincount(logs.rec.user)
    assert int(lengths.min()) == 5
    # 1-based contiguous ids: index i is raw id i + 1
    assert logs.user_map.raw[0] == 1 and logs.item_map.raw[-1] == items


def test_real_beauty_dataset(shared_data: Path, tmp_cache: Path) -> None:
    ds = AmazonSeq(str(shared_data), name="beauty")
    data = ds[0]
    clicks = data[CLICKS]
    assert clicks.valid_edge_index.size(1) == 22363 and clicks.test_edge_index.size(1) == 22363
    assert clicks.edge_index.size(1) == 198502 - 2 * 22363
    assert data["attr"].num_nodes == 637
    assert data.protocol == "leave_one_out"
    # the cache lives under tmp_cache, never in the read-only raw folder
    assert Path(ds.processed_paths[0]).is_relative_to(tmp_cache)
    # the test item is each user's last item in the file
    seq = ds.logs.rec.sequences()
    last = torch.stack([row[-1] for row in seq])
    order = torch.argsort(clicks.test_edge_index[0])
    assert torch.equal(clicks.test_edge_index[1][order], last)
