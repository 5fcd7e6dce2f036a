"""JDsearch sample: format parsing (3 users)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graphrec.data.datasets.jdsearch import JDSearch, read_jdsearch
from graphrec.data.hetero import heldout
from graphrec.data.logs import LogError

HEADER = ("query\tcandidate_wid_list\tcandidate_label_list\thistory_qry_list\t"
          "history_wid_list\thistory_type_list\thistory_time_list\n")
META = ("wid\tname\tbrand_id\tbrand_name\tcate_id_1\tcate_name_1\tcate_id_2\tcate_name_2\t"
        "cate_id_3\tcate_name_3\tcate_id_4\tcate_name_4\tshop_id\n")


def small(tmp_path: Path, history_time: str = "0_10_5_7") -> Path:
    raw = tmp_path / "jdsearch_sample"
    raw.mkdir()
    (raw / "user_behavior_data_sample.txt").write_text(
        HEADER + f"1\x182\t100_101_102\t1.0_0.0_2.0\t-1_3\x184_-1\t100_200_300\tCLICK_ORD_CART\t"
        f"{history_time}\n")
    (raw / "product_meta_data_sample.txt").write_text(
        META + "100\t5\x186\t7\tb\t1\tc1\t2\tc2\t3\tc3\t4\tc4\t9\n")
    return tmp_path


def test_small_format(tmp_path: Path) -> None:
    logs = read_jdsearch(str(small(tmp_path) / "jdsearch_sample"))
    # raw item ids are the file's strings; indices in order of first appearance
    assert [logs.item_map.raw[i] for i in logs.rec.item.tolist()] == ["100", "300"]
    assert logs.rec.time.tolist() == [0.0, 15.0]
    s = logs.search
    assert s.query_text == ["3 4", "1 2"]
    # history search at t=10, then the test query's clicked candidates (labels >= 1) at t=22
    assert s.time.tolist() == [10.0, 22.0, 22.0]
    assert [logs.item_map.raw[i] for i in s.item.tolist()] == ["200", "100", "102"]
    assert logs.items.title[0] == "5 6" and logs.items.attrs.lengths().tolist()[:2] == [5, 0]
    assert logs.extras["test_query"].tolist() == [1]
    assert logs.extras["candidate_label"].tolist() == [1.0, 0.0, 2.0]


def test_bad_time_list(tmp_path: Path) -> None:
    with pytest.raises(LogError) as e:
        read_jdsearch(str(small(tmp_path, "0_10_5") / "jdsearch_sample"))
    assert e.value.row == 1 and e.value.field == "history_time_list"


def test_missing_files_message(tmp_path: Path, tmp_cache: Path) -> None:
    with pytest.raises(FileNotFoundError) as e:
        JDSearch(str(tmp_path))
    assert "user_behavior_data_sample.txt" in str(e.value)
    assert str(tmp_path / "jdsearch_sample") in str(e.value)


def test_real_sample(shared_data: Path, tmp_cache: Path) -> None:
    logs = read_jdsearch(str(shared_data / "jdsearch_sample"))
    assert logs.num_users == 3
    assert torch.bincount(logs.rec.user).tolist() == [94, 33, 2]
    assert logs.meta["history_search_rows"] == 230 - 129
    assert logs.extras["candidate_ptr"].diff().tolist() == [90, 89, 83]
    # 409 catalogue products plus 12 history items without a product-meta row
    assert logs.num_items == 421
    assert int((logs.items.attrs.lengths() == 0).sum()) == 12
    data = JDSearch(str(shared_data))[0]
    # the third user has only 2 query-less interactions: nothing held out for them
    assert heldout(data, "test")[0].size(1) == 2
    assert data["query"].num_nodes == logs.search.num_queries
