"""KuaiSAR: the MRFF rec-side subset (real data) and the full release (fixtures)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from graphrec.data.datasets.kuaisar import (
    CATEGORY_ID_COLUMNS,
    MRFF_CATEGORY_COLUMNS,
    KuaiSAR,
    KuaiSARRec,
    read_kuaisar,
    read_kuaisar_rec,
)
from graphrec.data.hetero import CLICKS, SEARCHES, heldout

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_full_release_fixture(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="graphrec.data"):
        logs = read_kuaisar(str(FIXTURES / "kuaisar"))
    # rec: click == 1 rows; search: click_cnt > 0 rows minus one with an empty keyword
    assert len(logs.rec) == 15 and len(logs.search) == 7
    assert "dropped 7" in caplog.text and "empty query" in caplog.text
    assert logs.num_users == 5  # user 5 only searches
    assert 120 in logs.item_map and 121 in logs.item_map  # items seen only in search
    assert 105 not in logs.item_map  # never clicked
    assert logs.search.query_text == ["20 34 3", "7 20", "55", "9 8", "41 42"]
    assert logs.search.query_tokens.tolist()[1] == [3, 0]  # token '20' shared
    assert logs.rec.time[0].item() == pytest.approx(1684713600.0)  # ms -> s
    # item features: category ids as attributes, 0 (empty category) skipped
    i106 = int(logs.item_map.lookup([106])[0])
    assert [logs.items.attr_names[a] for a in logs.items.attrs[i106].tolist()] == [
        "first_level_category_id=2", "second_level_category_id=20",
        "third_level_category_id=201", "fourth_level_category_id=2011"]
    assert logs.items.title[i106] == "7 20 8"
    assert logs.extras["user.features"].shape == (5, 4)


def test_full_release_dataset(tmp_cache: Path) -> None:
    data = KuaiSAR(str(FIXTURES))[0]
    assert heldout(data, "test")[0].size(1) == 4  # every rec user has >= 3 clicks
    times = data[SEARCHES].time
    users = data[SEARCHES].edge_index[0]
    test_time = torch.full((data["user"].num_nodes,), float("inf"), dtype=torch.float64)
    va_index, va_time = heldout(data, "valid")
    test_time.scatter_reduce_(0, va_index[0], va_time, "amin")
    assert bool((times < test_time[users]).all())  # no search after a held-out time
    # x: one-hot of the integer user codes (one 1 per known column, none for a missing row)
    codes, x = data["user"].features, data["user"].x
    assert x.dtype == torch.float32 and x.size(0) == data["user"].num_nodes
    assert torch.equal(x.sum(1), (codes >= 0).sum(1).float())
    assert "x" not in data["item"]
    assert data.attr_fields == list(CATEGORY_ID_COLUMNS)
    field = data["attr"].field
    assert field.numel() == data["attr"].num_nodes and int(field.max()) < len(data.attr_fields)


def test_missing_files_message(tmp_path: Path, tmp_cache: Path) -> None:
    with pytest.raises(FileNotFoundError) as e:
        KuaiSAR(str(tmp_path))
    assert "rec_inter.csv" in str(e.value) and str(tmp_path / "kuaisar") in str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        KuaiSARRec(str(tmp_path))
    assert "df.csv" in str(e.value) and str(tmp_path / "kuaisar_rec_mrff") in str(e.value)


def test_real_rec_subset(shared_data: Path, tmp_cache: Path,
                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="graphrec.data"):
        logs = read_kuaisar_rec(str(shared_data / "kuaisar_rec_mrff"))
    assert "57139 non-click impressions dropped" in caplog.text
    assert (logs.num_users, logs.num_items, len(logs.rec)) == (1791, 69704, 60451)
    assert logs.search is None
    assert logs.extras["user.features"].shape == (1791, 4)
    assert logs.extras["item.features"].shape == (69704, 6)
    assert logs.extras["user.x"].shape == (1791, 22)  # one-hot of the four user code columns
    assert logs.items.attr_fields == list(MRFF_CATEGORY_COLUMNS)
    assert int(logs.extras["user.features"].min()) >= 0  # every user has a feature row
    assert int(logs.items.attrs.lengths().min()) == 4  # four category levels per video
    impressions = torch.bincount(logs.impressions.user, minlength=1791)
    days = logs.impressions.active_days()
    assert int(impressions.sum()) == 117590 and int(impressions.min()) >= 1
    clicks = torch.bincount(logs.rec.user, minlength=logs.num_users)
    assert bool((clicks <= impressions).all())
    assert 1 <= int(days.min()) and int(days.max()) <= 10  # the log spans ten days
    assert len(logs.impressions) == 117590 and int(logs.impressions.clicked.sum()) == 60451
    t = logs.rec.time
    assert 1684738000 < float(t.min()) and float(t.max()) < 1685516000  # 2023-05-22..31


def test_real_rec_dataset(shared_data: Path, tmp_cache: Path) -> None:
    ds = KuaiSARRec(str(shared_data))
    data = ds[0]
    assert data["user"].features.shape == (1791, 4)
    clicks = data[CLICKS]
    total = clicks.edge_index.size(1) + heldout(data, "valid")[0].size(1) + \
        heldout(data, "test")[0].size(1)
    assert total == 60451
    with pytest.raises(ValueError, match="leave_one_out"):
        KuaiSARRec(str(shared_data), split="weekly")
