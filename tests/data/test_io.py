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


# ---- ids stay exact (issue 12, item 5) ------------------------------------------------

def test_twenty_digit_ids_stay_distinct(tmp_path: Path) -> None:
    # before: the column overflowed int64, became float64 and both users were one
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n12345678901234567890,1,1\n"
                                    "12345678901234567891,1,2\n")
    t = read_table(p)
    assert t["user_id"].tolist() == ["12345678901234567890", "12345678901234567891"]
    rec, users, _ = read_rec_log(p, REC_COLS)
    assert rec.num_users == 2 and rec.user.tolist() == [0, 1]
    assert users.raw.tolist() == ["12345678901234567890", "12345678901234567891"]


def test_ids_above_2_53_with_missing_values_do_not_collide(tmp_path: Path) -> None:
    # before: a missing cell made the column float64: 2**53 and 2**53 + 1 became one id,
    # and every id a float (1.0)
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts,click\n9007199254740992,1,1,1\n"
                                    "9007199254740993,1,2,1\n,1,3,0\n")
    t = read_table(p)
    assert t["user_id"].dtype == object  # never floats: the exact text
    rec, users, items = read_rec_log(p, REC_COLS, filter={"click": 1})
    assert rec.num_users == 2 and users.raw.tolist() == [2 ** 53, 2 ** 53 + 1]
    assert users.raw.dtype == np.int64
    q = write(tmp_path / "small.csv", "user_id,item_id,ts,click\n5,1,1,1\n6,2,2,1\n,3,3,0\n")
    rec, users, items = read_rec_log(q, REC_COLS, filter={"click": 1})
    assert users.raw.tolist() == [5, 6] and users.raw.dtype == np.int64
    assert items.raw.dtype == np.int64
    # without ids=, a column with a missing value may be float64, but only when exact;
    # the log readers turn such a column back into int64 ids
    assert read_table(q)["user_id"].dtype == np.float64
    from graphrec.data.io import rec_log_from_table
    _, users, _ = rec_log_from_table(read_table(q), str(q), REC_COLS, filter={"click": 1})
    assert users.raw.tolist() == [5, 6] and users.raw.dtype == np.int64


def test_leading_zero_ids_are_distinct(tmp_path: Path) -> None:
    # before: "007" was parsed as the integer 7 and merged with "7"
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\n1,007,1\n1,7,2\n1,+7,3\n")
    assert read_table(p)["item_id"].tolist() == ["007", "7", "+7"]
    rec, _, items = read_rec_log(p, REC_COLS)
    assert rec.num_items == 3 and items.raw.tolist() == ["007", "7", "+7"]
    # an id read as a number in one file and as text in another is the same id
    src = write(tmp_path / "src.csv", "user_id,query,item_id,ts\n1,a,7,5\n1,b,007,6\n")
    s = read_search_log(src, SRC_COLS, IdMap([1]), items)
    assert s.item.tolist() == [1, 0]


def test_id_map_compares_exact_ids() -> None:
    m = IdMap(["007", "7", "x"])
    assert 7 in m and "7" in m and " 7" in m and "007" in m and 70 not in m
    assert m.lookup([7, "007", np.int64(7)]).tolist() == [1, 0, 1]
    ints = IdMap(np.array([5, 9]))
    assert "9" in ints and "09" not in ints and ints.get("5") == 0
    with pytest.raises(ValueError, match="unique"):
        IdMap(np.array([7, "7"], dtype=object))
    mixed, codes = IdMap.build(np.array(["a", 7, "7", "007", "a"], dtype=object))
    assert mixed.raw.tolist() == ["a", 7, "007"] and codes.tolist() == [0, 1, 1, 2, 0]


def test_jsonl_boolean_timestamp_is_an_error(tmp_path: Path) -> None:
    # before: true/false were read as the timestamps 1.0/0.0
    p = write(tmp_path / "rec.jsonl", '{"user_id": 1, "item_id": 2, "ts": 5}\n'
                                      '{"user_id": 1, "item_id": 3, "ts": true}\n')
    with pytest.raises(LogError, match="boolean") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 2, "ts")
    q = write(tmp_path / "rec2.jsonl", '{"user_id": 1, "item_id": 2, "ts": false}\n')
    with pytest.raises(LogError, match="boolean") as e:
        read_rec_log(q, REC_COLS)
    assert_names(e.value, q, 1, "ts")


def test_jsonl_ids_mixing_ints_and_strings_is_an_error(tmp_path: Path) -> None:
    # before: np.unique raised a bare TypeError (no file, row or field)
    p = write(tmp_path / "rec.jsonl", '{"user_id": 1, "item_id": 2, "ts": 1}\n'
                                      '{"user_id": "1", "item_id": 2, "ts": 2}\n')
    with pytest.raises(LogError, match="mixes integers and strings") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 2, "user_id")
    assert "row 1 holds the integer 1" in str(e.value)
    ok = write(tmp_path / "ok.jsonl", '{"user_id": "a", "item_id": 20000000000000000000, "ts": 1}\n'
                                      '{"user_id": "b", "item_id": 20000000000000000001, "ts": 2}\n')
    rec, users, items = read_rec_log(ok, REC_COLS)
    assert rec.num_items == 2 and items.raw.tolist() == [20000000000000000000, 20000000000000000001]


def test_control_characters_in_ids_and_queries(tmp_path: Path) -> None:
    # before: the NUL byte was kept inside the id
    p = write(tmp_path / "rec.csv", "user_id,item_id,ts\nu1,i1,1\nu\x002,i1,2\n")
    with pytest.raises(LogError, match="control character") as e:
        read_rec_log(p, REC_COLS)
    assert_names(e.value, p, 2, "user_id")
    src = write(tmp_path / "src.tsv", "user_id\tquery\titem_id\tts\n1\tred\x00shoes\t10\t1\n")
    with pytest.raises(LogError, match="control character") as e:
        read_search_log(src, SRC_COLS, IdMap([1]), IdMap([10]))
    assert_names(e.value, src, 1, "query")


def test_malformed_token_lists(tmp_path: Path) -> None:
    # before: "[1, 2" was accepted as the tokens "[1" and "2"
    for bad in ("[1, 2", "1, 2]", "[1, [2]]", "[1,,2]", "['a, 'b']"):
        with pytest.raises(ValueError, match="malformed token list"):
            parse_tokens(bad, ",")
    assert parse_tokens("[]") == [] and parse_tokens("['a', \"b\"]") == ["a", "b"]
    src = write(tmp_path / "src.csv", 'user_id,query,item_id,ts\n1,"[1, 2]",10,1\n1,"[1, 2",10,2\n')
    with pytest.raises(LogError, match="no closing") as e:
        read_search_log(src, SRC_COLS, IdMap([1]), IdMap([10]), query_format="tokens")
    assert_names(e.value, src, 2, "query")
    items = write(tmp_path / "items.csv", 'item_id,attrs\n10,"[1, 2]"\n11,"[3"\n')
    with pytest.raises(LogError, match="malformed token list") as e:
        read_item_info(items, item_map=IdMap([10, 11]))
    assert_names(e.value, items, 2, "attrs")


# ---- errors that name their fault (issue 12, item 6) ---------------------------------

def test_bad_gzip_files(tmp_path: Path) -> None:
    # before: gzip.BadGzipFile / EOFError without the file name
    not_gz = write(tmp_path / "rec.csv.gz", "user_id,item_id,ts\n1,2,3\n")
    with pytest.raises(LogError, match="not a valid gzip file") as e:
        read_table(not_gz)
    assert_names(e.value, not_gz, None, None)
    full = gzip.compress(b"user_id,item_id,ts\n" + b"1,2,3\n" * 1000)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(LogError, match="truncated gzip stream") as e:
        read_table(cut)
    assert_names(e.value, cut, None, None)
    seq = tmp_path / "seq.txt.gz"
    seq.write_bytes(gzip.compress(b"1 2 3\n" * 100)[:-10])
    with pytest.raises(LogError, match="gzip") as e:
        read_int_lines(seq)
    assert str(seq) in str(e.value)


def test_truncated_parquet(tmp_path: Path) -> None:
    # before: pyarrow.ArrowInvalid ("Parquet magic bytes not found") without the file
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"user_id": list(range(100)), "item_id": list(range(100))}), p)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(LogError, match="Parquet") as e:
        read_table(cut)
    assert_names(e.value, cut, None, None)


def test_non_utf8_bytes(tmp_path: Path) -> None:
    # before: UnicodeDecodeError naming neither the file nor the line
    p = tmp_path / "rec.csv"
    p.write_bytes("user_id,item_id,ts\n1,caf\u00e9,1\n2,na\u00efve,2\n".encode("utf-8")
                  + "3,cr\u00e8me,3\n".encode("latin-1"))
    with pytest.raises(LogError, match="invalid UTF-8 byte 0xe8 at line 4") as e:
        read_table(p)
    assert_names(e.value, p, 3, None)
    off = p.read_bytes().index(b"\xe8")
    assert f"byte offset {off}" in str(e.value) and "re-encode" in str(e.value)
    j = tmp_path / "rec.jsonl"
    j.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(LogError, match="line 2") as e:
        read_table(j)
    assert e.value.row == 2
    s = tmp_path / "seq.txt"
    s.write_bytes(b"1 2\n3 4\xa0\n")
    with pytest.raises(LogError, match="line 2") as e:
        read_int_lines(s)


def test_read_int_lines_canonical_and_bounds(tmp_path: Path) -> None:
    p = write(tmp_path / "seq.txt", "1 5 6\n\n2 007\n")
    with pytest.raises(LogError, match="canonical") as e:
        read_int_lines(p)
    assert_names(e.value, p, 3, "item")
    big = write(tmp_path / "big.txt", "1 2\n99999999999999999999 3\n")
    with pytest.raises(LogError, match="int64") as e:
        read_int_lines(big)
    assert_names(e.value, big, 2, "user")
    neg = write(tmp_path / "neg.txt", "1 2\n\n\n2 3 -4\n")
    heads, _, _ = read_int_lines(neg)
    assert heads.tolist() == [1, 2]
    with pytest.raises(LogError, match="out of the allowed range") as e:
        read_int_lines(neg, min_value=0)
    assert_names(e.value, neg, 4, "item")  # the file's own line, blank lines counted
    assert e.value.value == -4
    with pytest.raises(LogError) as e:
        read_int_lines(neg, max_head=1)
    assert_names(e.value, neg, 4, "user")


# ---- the pyarrow parser and the Python one agree (issue 12, item 8) ------------------

@pytest.mark.parametrize("text,fmt", [
    ("a,b,c,d\n1,2.5,x,\n3,4,\"y, z\",7\n", "csv"),
    ("a,b\n\n1,2\n\n3,4\n\n", "csv"),
    ("\ufeffa,b\r\n-1,1e5\r\n0,inf\r\n", "csv"),
    ("a,b,c\n007,1.5,\" 2\"\n7,NaN,3\n", "csv"),
    ("a\tb\tc\n1_2\t 3 \tq\"\n4\t5\tNA\n", "tsv"),
    ("a,b\n12345678901234567890,9007199254740993\n1,\n", "csv"),
    ("a,b\n\"multi\nline\",1\nx,2\n", "csv"),
    ("a,b\n1,2\n", "csv"),
    ("a,b\n", "csv"),
])
def test_pyarrow_and_python_parsers_agree(tmp_path: Path, text: str, fmt: str) -> None:
    import csv as csv_mod

    from graphrec.data.io import _read_delimited, _read_delimited_python

    p = write(tmp_path / f"t.{fmt}", text)
    sep = "," if fmt == "csv" else "\t"
    quoting = csv_mod.QUOTE_MINIMAL if fmt == "csv" else csv_mod.QUOTE_NONE
    for ids in ((), ("a",)):
        fast, slow = _read_delimited(p, sep, quoting, ids), _read_delimited_python(p, sep, quoting, ids)
        assert list(fast) == list(slow)
        for k in fast:
            assert fast[k].dtype == slow[k].dtype, k
            assert repr(fast[k].tolist()) == repr(slow[k].tolist()), k


def test_parse_errors_name_the_row(tmp_path: Path) -> None:
    bad_quote = write(tmp_path / "q.csv", 'a,b\n1,2\n3,"x"y\n')
    with pytest.raises(LogError, match="malformed CSV record") as e:
        read_table(bad_quote)
    assert_names(e.value, bad_quote, 2, None)
    unterminated = write(tmp_path / "u.csv", 'a,b\n1,2\n3,"x\n4,5\n')
    with pytest.raises(LogError) as e:
        read_table(unterminated)
    assert str(unterminated) in str(e.value) and e.value.row is not None
    short = write(tmp_path / "s.csv", "a,b,c\n" + "1,2,3\n" * 5000 + "1,2\n")
    with pytest.raises(LogError, match="2 fields, the header has 3") as e:
        read_table(short)
    assert_names(e.value, short, 5001, "c")


def test_multi_character_separator(tmp_path: Path) -> None:
    # pyarrow takes a single delimiter character: "::" (MovieLens) uses the Python parser
    p = write(tmp_path / "ratings.csv", "user_id::item_id::ts\n1::007::5\n2::7::6\n")
    t = read_table(p, sep="::")
    assert t["user_id"].tolist() == [1, 2] and t["item_id"].tolist() == ["007", "7"]
