"""AmazonSeq: S3-Rec sequence files, on hand-made files and on the real data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphrec.data.datasets.amazon import AmazonSeq, read_amazon_seq
from graphrec.data.hetero import CLICKS, heldout

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
    test_index, _ = heldout(data, "test")
    assert heldout(data, "valid")[0].size(1) == 22363 and test_index.size(1) == 22363
    assert clicks.edge_index.size(1) == 198502 - 2 * 22363
    assert data["attr"].num_nodes == 637
    assert data.protocol == "leave_one_out"
    # the cache lives under tmp_cache, never in the read-only raw folder
    assert Path(ds.processed_paths[0]).is_relative_to(tmp_cache)
    # the test item is each user's last item in the file
    seq = ds.logs.rec.sequences()
    last = torch.stack([row[-1] for row in seq])
    order = torch.argsort(test_index[0])
    assert torch.equal(test_index[1][order], last)


# ---- item text (root/amazon_text) --------------------------------------------------------

TEXT_LINES = [
    {"item_id": 1, "asin": "B1", "title": "Nail Lacquer, Red &amp; Gold",
     "categories": [["Beauty", "Makeup", "Nails", "Nail Polish"]], "brand": "OPI"},
    {"item_id": 2, "asin": "B2", "title": "title_2", "categories": [["Beauty", "Skin Care"]],
     "brand": "Unknown"},
    {"item_id": 3, "asin": "B3", "title": "Hair &quot;Pro&quot; Dryer",
     "categories": [["Beauty", "Hair Care"], ["Beauty", "Tools & Accessories"]], "brand": "brand_12"},
    {"item_id": 99, "asin": "B99", "title": "not in the sequences", "categories": [], "brand": None},
]  # item 4 has no line


def write_amazon(root: Path, text_lines: list[dict] | None = TEXT_LINES) -> Path:
    """Hand-made ``root/amazon_seq`` (Beauty) and, unless ``None``, ``root/amazon_text``."""
    import gzip

    raw = root / "amazon_seq"
    raw.mkdir(parents=True)
    (raw / "Beauty.txt").write_text("1 1 2 3\n2 2 3\n3 3 1 2 4\n")
    (raw / "Beauty_item2attributes.json").write_text(json.dumps({"1": [1, 2], "3": [3], "4": []}))
    if text_lines is not None:
        (root / "amazon_text").mkdir()
        with gzip.open(root / "amazon_text" / "beauty_items.jsonl.gz", "wt") as fh:
            fh.writelines(json.dumps(obj) + "\n" for obj in text_lines)
    return root


def test_read_text_unescapes_and_drops_placeholders(tmp_path: Path) -> None:
    root = write_amazon(tmp_path)
    logs = read_amazon_seq(str(root / "amazon_seq"), "beauty", text_dir=str(root / "amazon_text"))
    items = logs.items
    assert items.title == ["Nail Lacquer, Red & Gold", "", 'Hair "Pro" Dryer', ""]
    assert items.category == [[["Beauty", "Makeup", "Nails", "Nail Polish"]], [["Beauty", "Skin Care"]],
                              [["Beauty", "Hair Care"], ["Beauty", "Tools & Accessories"]], []]
    assert items.brand == ["OPI", "", "", ""]  # 'Unknown' and 'brand_<N>' are placeholders
    assert items.keywords is None
    assert items.attrs.tolist() == [[0, 1], [], [2], []]  # attributes untouched
    assert logs.meta["item_text"] == "title,category,brand"
    stats = logs.statistics()
    assert (stats["items_with_title"], stats["items_with_category"], stats["items_with_brand"]) == (2, 3, 1)


@pytest.mark.parametrize("line, row, field, match", [
    ('{"item_id": 1, "title": "x", "categories": []}\n{"item_id": 2, "title": "y"', 2, None, "invalid JSON"),
    ('[1, 2]', 1, None, "JSON object"),
    ('{"item_id": 1, "categories": [["Beauty"]]}', 1, "title", "missing field"),
    ('{"title": "x", "categories": []}', 1, "item_id", "missing field"),
    ('{"item_id": "1", "title": "x", "categories": []}', 1, "item_id", "positive integer"),
    ('{"item_id": 0, "title": "x", "categories": []}', 1, "item_id", "positive integer"),
    ('{"item_id": 1, "title": 5, "categories": []}', 1, "title", "string"),
    ('{"item_id": 1, "title": "x", "categories": ["Beauty"]}', 1, "categories", "category paths"),
    ('{"item_id": 1, "title": "x", "categories": []}\n\n{"item_id": 1, "title": "y", "categories": []}',
     3, "item_id", "duplicate"),
])
def test_text_reader_errors_name_file_line_field(tmp_path: Path, line: str, row: int, field: str | None,
                                                 match: str) -> None:
    from graphrec.data.datasets.amazon import read_amazon_text
    from graphrec.data.logs import IdMap, LogError

    path = tmp_path / "beauty_items.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(LogError, match=match) as e:
        read_amazon_text(str(path), IdMap([1, 2]), required=("title", "categories"))
    assert e.value.file == str(path) and e.value.row == row and e.value.field == field
    assert f"row {row}" in str(e.value) and str(path) in str(e.value)


def test_item_text_on_the_graph_and_cache_round_trip(tmp_path: Path, tmp_cache: Path) -> None:
    root = write_amazon(tmp_path / "data")
    ds = AmazonSeq(str(root), name="beauty")
    data = ds[0]
    assert data.item_title == ["Nail Lacquer, Red & Gold", "", 'Hair "Pro" Dryer', ""]
    assert data.item_category[0] == [["Beauty", "Makeup", "Nails", "Nail Polish"]]
    assert data.item_brand == ["OPI", "", "", ""]
    assert ds.logs.items.title == data.item_title  # the same text for later use
    # graph-level, so PyG's per-node indexing (subgraph, neighbour loaders) never meets a list
    assert "title" not in data["item"]
    sub = data.subgraph({"item": torch.tensor([0, 2])})
    assert sub["item"].num_nodes == 2 and sub.item_title == data.item_title
    # a second instance reads the processed cache, lists included
    again = AmazonSeq(str(root), name="beauty")
    assert again.processed_paths == ds.processed_paths and again._logs is None
    assert again[0].item_title == data.item_title
    assert again[0].item_category == data.item_category


def test_loads_without_amazon_text(tmp_path: Path, tmp_cache: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    root = write_amazon(tmp_path / "data", text_lines=None)
    with caplog.at_level("INFO", logger="graphrec.data"):
        ds = AmazonSeq(str(root), name="beauty")
        data = ds[0]
    assert "item_title" not in data and "item_category" not in data
    assert ds.logs.items.title is None and "item_text" not in ds.logs.meta
    assert any("no item text" in r.getMessage() and "amazon_text" in r.getMessage() for r in caplog.records)
    # adding the text later changes the cache key: the text is not hidden by a stale cache
    key = ds.cache_key
    write_amazon(tmp_path / "other", TEXT_LINES)
    (root / "amazon_text").mkdir()
    (root / "amazon_text" / "beauty_items.jsonl.gz").write_bytes(
        (tmp_path / "other" / "amazon_text" / "beauty_items.jsonl.gz").read_bytes())
    with_text = AmazonSeq(str(root), name="beauty")
    assert with_text.cache_key != key and with_text[0].item_title[0] == "Nail Lacquer, Red & Gold"


# README of amazon_text: real titles, categories, keywords per dataset
TEXT_COVERAGE = {"beauty": {"title": 12094, "category": 12101}, "toys": {"title": 11865, "category": 11924},
                 "sports": {"keywords": 18357}}


@pytest.mark.parametrize("name", ["beauty", "sports", "toys"])
def test_real_text(shared_data: Path, name: str) -> None:
    if not (shared_data / "amazon_text").is_dir():
        pytest.skip(f"'{shared_data}/amazon_text' is missing: the real item text is needed")
    logs = read_amazon_seq(str(shared_data / "amazon_seq"), name, text_dir=str(shared_data / "amazon_text"))
    text = logs.items.text_fields()
    for field, count in TEXT_COVERAGE[name].items():
        assert sum(1 for v in text[field] if v) == count
    for field in ("title", "keywords"):
        if field in text:
            assert not any("&amp;" in t or "&quot;" in t for t in text[field])
    if name == "beauty":
        assert text["title"][0] == "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce"
        assert text["category"][0] == [["Beauty", "Makeup", "Nails", "Nail Polish"]]
