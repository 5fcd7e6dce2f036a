"""graphrec.data.io: table readers, log builders and their error messages."""
from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.data.io import (
    encode_queries,
    infer_format,
    parse_tokens,
    read_int_lines,
    read_item_info,
    read_rec_log,
    read_search_log,
    read_table,
)
from graphrec.data.logs import IdMap, LogError

REC_COLS = {"user": "user_id", "item": "item_id", "time": "ts"}
SRC_COLS = {"user": "user_id", "query": "query", "item": "item_id", "time": "ts"}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_names(err: LogError, file: Path, row: int | None, field: str | None) -> None:
    """The message names the file, the row and the field (and the attributes agree)."""
    msg = str(err)
    assert str(file) in msg
    assert err.row == row
    if row is not None:
        assert f"row {row}" in msg
    assert err.field == field
    if field is not None:
        assert f"'{field}'" in msg


# ---- read_table -----------------------------------------------------------------------

def test_read_csv_types_and_columns(tmp_path: Path) -> None:
    p = write(tmp_path / "t.csv", "a,b,c,d\n1,2.5,x,\n3,4,\"y, z\",7\n")
    t = read_table(p)
    assert list(t) == ["a", "b", "c", "d"]
    assert t["a"].dtype == np.int64 and t["a"].tolist() == [1, 3]
    assert t["b"].dtype == np.float64 and t["b"].tolist() == [2.5, 4.0]
    assert t["c"].tolist() == ["x", "y, z"]
    assert t["d"].dtype == np.float64 and np.isnan(t["d"][0]) and t["d"][1] == 7
    assert list(read_table(p, columns=["c", "a"])) == ["c", "a"]


def test_underscored_numbers_stay_strings(tmp_path: Path) -> None:
    # Python's int("1_2") == 12; list cells like JDsearch's must not be parsed as numbers
    p = write(tmp_path / "t.tsv", "a\tb\n1_2\t3\n4_5\t6\n")
    t = read_table(p)
    assert t["a"].tolist() == ["1_2", "4_5"] and t["b"].tolist() == [3, 6]


def test_read_tsv_gz_and_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "t.tsv.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write("u\ti\n1\t\"a\n2\tb\n")
    t = read_table(p)
    assert t["i"].tolist() == ['"a', "b"]  # TSV has no quoting
    q = tmp_path / "t.jsonl"
    q.write_text("\n".join(json.dumps(r) for r in [{"u": 1, "x": 0.5, "l": [1, 2]},
                                                  {"u": 2, "x": None, "l": []}]) + "\n")
    t = read_table(q)
    assert t["u"].dtype == np.int64
    assert t["x"].dtype == np.float64 and np.isnan(t["x"][1])
    assert t["l"].tolist() == [[1, 2], []]
    assert infer_format("a/b.CSV.gz") == "csv"
    with pytest.raises(ValueError, match="format="):
        infer_format("x.txt")


def test_read_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"user_id": [1, 2], "item_id": ["a", "b"], "ts": [1.0, 2.0]}), p)
    rec, users, items = read_rec_log(p, REC_COLS)
    assert rec.item.tolist() == [0, 1] and items.raw.tolist() == ["a", "b"]


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install graphrec\[parquet\]"):
        read_table(write(tmp_path / "t.parquet", "not parquet"))


def test_read_int_lines(tmp_path: Path) -> None:
    p = write(tmp_path / "seq.txt", "1 5 6 7\n\n2 6\n3\n")
    heads, ptr, values = read_int_lines(p)
    assert heads.tolist() == [1, 2, 3] and ptr.tolist() == [0, 3, 4, 4]
    assert values.tolist() == [5, 6, 7, 6]
    bad = write(tmp_path / "bad.txt", "1 5 6\n2 x\n")
    with pytest.raises(LogError) as e:
        read_int_lines(bad)
    assert_names(e.value, bad, 2, "item")


# ---- logs ---------------------------------------------------------------------------

def test_read_rec_log_maps_filter_and_units(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    p = write(tmp_path / "rec.csv",
              "user_id,item_id,ts,click\nu1,i9,1000,1\nu2,i9,2000,0\nu1,i3,3000,1\n")
    with caplog.at_level(logging.INFO, logger="graphrec.data"):
        rec, users, items = read_rec_log(p, REC_COLS, filter={"click": 1}, time_unit="ms")
    assert "dropped 1" in caplog.text
    assert users.raw.tolist() == ["u1"] and items.raw.tolist() == ["i9", "i3"]
    assert rec.time.tolist() == [1.0, 3.0] and rec.item.tolist() == [0, 1]
    # no time column -> file order is the ordinal time
    rec2, _, _ = read_rec_log(p, {"user": "user_id", "item": "item_id"})
    assert rec2.time.tolist() == [0.0, 1.0, 2.0]
    # given maps keep their indices
    rec3, u3, _ = read_rec_log(p, REC_COLS, user_map=IdMap(["u2", "u1"]))
    assert rec3.user.tolist() == [1, 0, 1] and rec3.num_users == 2


def test_read_search_log_text(tmp_path: Path) -> None:
    rec = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,10,1\n2,11,2\n2,12,3\n")
    _, users, items = read_rec_log(rec, REC_COLS)
    src = write(tmp_path / "src.csv",
                "user_id,query,item_id,ts\n1,Red  Shoes,10,5\n2,red shoes,12,6\n2,blue,11,7\n")
    s = read_search_log(src, SRC_COLS, users, items)
    assert s.query.tolist() == [0, 0, 1]
    assert s.query_text == ["red shoes", "blue"]
    assert s.query_tokens.tolist() == [[0, 1], [2]] and s.num_words == 3
    assert s.item.tolist() == [0, 2, 1] and s.num_items == 3


def test_read_search_log_tokens_and_drop(tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    users, items = IdMap([1, 2]), IdMap([10, 11])
    src = write(tmp_path / "src.csv", 'user_id,query,item_id,ts\n1,"[20, 3]",10,1\n'
                                      '2,"[20, 3]",11,2\n2,[7],99,3\n2,[],10,4\n')
    with caplog.at_level(logging.WARNING, logger="graphrec.data"):
        s = read_search_log(src, SRC_COLS, users, items, query_format="tokens",
                            unknown="drop", empty_query="drop")
    assert len(s) == 2 and s.query.tolist() == [0, 0]
    assert "dropped 1 row(s) whose item id" in caplog.text
    assert "dropped 1 row(s) with an empty query" in caplog.text


def test_parse_and_encode_tokens() -> None:
    assert parse_tokens("[1, 2, 3]") == ["1", "2", "3"]
    assert parse_tokens("4 5") == ["4", "5"]
    assert parse_tokens([6.0, 7]) == ["6", "7"]
    assert parse_tokens("8_9", "_") == ["8", "9"]
    q, tok, text, words = encode_queries(np.asarray(["a b", "A  B", "c", ""], dtype=object))
    assert q.tolist() == [0, 0, 1, -1] and text == ["a b", "c"] and len(words) == 3


def test_read_item_info(tmp_path: Path) -> None:
    items = IdMap(["a", "b", "c"])
    p = write(tmp_path / "items.csv",
              "item_id,cats,brand,title\nb,x y,B1,Shoe\na,y,,Hat\nz,x,B2,Unknown\n")
    info = read_item_info(p, {"item": "item_id", "attrs": "cats", "title": "title"}, items)
    assert info.attrs.tolist() == [[1], [0, 1], []] and info.attr_names == ["x", "y"]
    assert info.title == ["Hat", "Shoe", ""]
    multi = read_item_info(p, {"item": "item_id", "attrs": ["cats", "brand"]}, items)
    assert multi.attr_names == ["cats=x y", "cats=y", "brand=B1"]
    assert multi.attrs.tolist() == [[1], [0, 2], []]


# ---- one test per fault: the message names file, row and field ----------------------

def test_error_missing_column(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item,ts\n1,2,3\n")
    with pytest.raises(LogError) as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 0, "item_id")
    assert "available columns: ['user_id', 'item', 'ts']" in str(e.value)


def test_error_non_numeric_timestamp(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,2,3\n1,3,yesterday\n")
    with pytest.raises(LogError, match="not numeric") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 2, "ts")
    assert "yesterday" in str(e.value)


def test_error_empty_file(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "")
    with pytest.raises(LogError, match="empty") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 0, None)
    header_only = write(tmp_path / "h.csv", "user_id,item_id,ts\n")
    with pytest.raises(LogError, match="no data rows") as e:
        read_rec_log(header_only, REC_COLS)
    assert_names(e.value, header_only, 0, None)
    jl = write(tmp_path / "e.jsonl", "")
    with pytest.raises(LogError, match="empty"):
        read_table(jl)


def test_error_duplicate_header(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item_id,user_id\n1,2,3\n")
    with pytest.raises(LogError, match="duplicate column") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 0, "user_id")


def test_error_nan_and_empty_required_value(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,2,3\n2,NaN,4\n")
    with pytest.raises(LogError, match="missing") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 2, "item_id")
    q = write(tmp_path / "rec2.csv", "user_id,item_id,ts\n1,2,3\n,4,5\n")
    with pytest.raises(LogError, match="missing") as e:
        read_rec_log(q, REC_COLS)
    assert_names(e.value, q, 2, "user_id")
    r = write(tmp_path / "rec3.csv", "user_id,item_id,ts\n1,2,3\n1,4,nan\n")
    with pytest.raises(LogError, match="missing") as e:
        read_rec_log(r, REC_COLS)
    assert_names(e.value, r, 2, "ts")


def test_error_unknown_item_in_search_log(tmp_path: Path) -> None:
    users, items = IdMap([1, 2]), IdMap([10, 11])
    p = write(tmp_path / "src.csv", "user_id,query,item_id,ts\n1,a,10,1\n2,b,11,2\n2,c,77,3\n")
    with pytest.raises(LogError, match="unknown item") as e:
        read_search_log(p, SRC_COLS, users, items)
    assert_names(e.value, p, 3, "item_id")
    assert e.value.value == 77 and "77" in str(e.value)
    q = write(tmp_path / "src2.csv", "user_id,query,item_id,ts\n5,a,10,1\n")
    with pytest.raises(LogError, match="unknown user") as e:
        read_search_log(q, SRC_COLS, users, items)
    assert_names(e.value, q, 1, "user_id")


def test_error_wrong_field_count(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,2,3\n1,2\n")
    with pytest.raises(LogError, match="2 fields, the header has 3") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 2, "ts")
    q = write(tmp_path / "rec2.tsv", "user_id\titem_id\tts\n1\t2\t3\t4\n")
    with pytest.raises(LogError, match="4 fields") as e:
        read_table(q)
    assert_names(e.value, q, 1, "<extra field>")
    j = write(tmp_path / "rec.jsonl", '{"user_id": 1, "item_id": 2}\n{"user_id": 1}\n')
    with pytest.raises(LogError) as e:
        read_table(j)
    assert_names(e.value, j, 2, "item_id")


def test_error_unknown_id_in_rec_log_with_maps(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,2,3\n9,2,4\n")
    with pytest.raises(LogError, match="unknown user") as e:
        read_rec_log(p, REC_COLS, user_map=IdMap([1]))
    assert_names(e.value, p, 2, "user_id")


def test_rows_count_after_filter(tmp_path: Path) -> None:
    # errors after a filter still name the file's own row number
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts,click\n1,2,3,0\n1,2,x,1\n")
    with pytest.raises(LogError) as e:
        read_rec_log(p, REC_COLS, filter={"click": 1})
    assert_names(e.value, p, 2, "ts")


def test_rec_log_tensors(tmp_path: Path) -> None:
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,2,3\n")
    rec, _, _ = read_rec_log(p, REC_COLS)
    assert rec.user.dtype == torch.long and rec.time.dtype == torch.float64
    assert rec.source == str(p)
