"""Generic readers for behaviour logs, with validation.

:func:`read_table` reads CSV, TSV, JSONL (optionally gzip-compressed) and Parquet
into a ``dict`` of numpy columns; :func:`read_rec_log`, :func:`read_search_log`
and :func:`read_item_info` turn tables into the validated
:mod:`graphrec.data.logs` tables, remapping raw ids through
:class:`~graphrec.data.logs.IdMap`.

Every problem with the input raises :class:`~graphrec.data.logs.LogError`, whose
message names the file, the row and the field. **Rows are 1-based data rows**:
row 1 is the first record after the header line (for a CSV file without
multi-line quoted fields, row ``r`` sits on line ``r + 1``); row 0 means the header
itself. Anything dropped on purpose (filters, ``unknown="drop"``) is counted and
reported through the ``graphrec.data`` logger; nothing disappears silently.

CSV and TSV are parsed by ``pyarrow.csv`` (a required dependency; the old
pure-Python parser is kept to locate the row of a parse error). Every cell is read
as text and typed by graphrec itself, so that **ids stay exact**: integers are
parsed only when the text is the canonical decimal form (``"7"``, not ``"007"``
or ``"+7"``), a 20-digit id that does not fit int64 stays text, and an integer
column is never turned into floats past 2**53. Columns named in ``ids=`` (the
user/item columns of the log readers) are never floats at all. JSON lines are
read with the standard library; Parquet with ``pyarrow.parquet``. Input must be
UTF-8; a truncated or non-gzip ``.gz`` file, a non-UTF-8 byte or a corrupt
Parquet file is a :class:`~graphrec.data.logs.LogError` naming the file (and,
for bad bytes, the line and byte offset). pandas is not used.

Example:
    >>> rec, users, items = read_rec_log(
    ...     "clicks.csv", columns={"user": "user_id", "item": "item_id", "time": "ts"})
    >>> search = read_search_log(
    ...     "search.jsonl", columns={"user": "uid", "query": "q", "item": "iid", "time": "ts"},
    ...     user_map=users, item_map=items)
"""
from __future__ import annotations

import collections
import csv
import gzip
import io
import json
import logging
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np
import torch
from torch import Tensor

from graphrec.data.logs import IdMap, ItemInfo, LogError, RecLog, SearchLog
from graphrec.data.ragged import Ragged

log = logging.getLogger("graphrec.data")

PathLike = Union[str, "os.PathLike[str]"]  # noqa: UP007 (string forward reference)
Table = dict[str, np.ndarray]
RowFilter = Union[Callable[[Table], np.ndarray], Mapping[str, Any]]  # noqa: UP007
Unknown = Literal["raise", "drop"]

#: formats :func:`read_table` understands, by file extension (after an optional ``.gz``)
FORMATS: dict[str, str] = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
#: string values treated as missing in required fields
MISSING_STRINGS = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "null", "NULL", "None"})
#: seconds per unit accepted by ``time_unit``
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
#: integers above this are not exact in float64: such a column is never made float
FLOAT_EXACT_INT = 2 ** 53
#: an integer in canonical decimal form (after stripping whitespace): no sign, no
#: leading zeros, no ``-0``; only these are parsed as integers
_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")
_INT_LIKE = re.compile(r"[+-]?[0-9]+")
#: control characters never allowed in an id; queries may hold tab/newline/CR
_CONTROL_ID = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


# ---- low-level table reading ----------------------------------------------------------

def _name(path: PathLike) -> str:
    return os.fspath(path)


def infer_format(path: PathLike) -> str:
    """The table format of ``path`` from its extension (``.gz`` is looked through)."""
    p = _name(path).lower()
    if p.endswith(".gz"):
        p = p[:-3]
    ext = os.path.splitext(p)[1]
    if ext not in FORMATS:
        raise ValueError(f"cannot infer the table format of '{_name(path)}' from its extension; "
                         f"pass format= one of {sorted(set(FORMATS.values()))}")
    return FORMATS[ext]


def read_bytes(path: PathLike) -> bytes:
    """The bytes of a file, gunzipped when its name ends in ``.gz``.

    Raises:
        LogError: a ``.gz`` file that is not gzip data, is truncated or is corrupt
            (naming the file).
    """
    file = _name(path)
    with open(path, "rb") as fh:
        data = fh.read()
    if not file.endswith(".gz"):
        return data
    if data[:2] != b"\x1f\x8b":
        raise LogError(f"not a valid gzip file (it starts with {data[:8]!r}, not the gzip magic "
                       f"bytes 1f 8b); decompress it or drop the .gz suffix", file)
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise LogError(f"truncated gzip stream ({exc}); the file is incomplete, download or "
                       f"copy it again", file) from exc
    except (OSError, zlib.error) as exc:  # BadGzipFile is an OSError (CRC, bad header)
        raise LogError(f"corrupt gzip stream: {exc}", file) from exc


def decode_text(data: bytes, file: str, header_lines: int = 0) -> str:
    """``data`` as UTF-8 text without a byte-order mark.

    Raises:
        LogError: bytes that are not UTF-8 (latin-1, cp1252, ...), naming the line,
            the byte offset and the byte; ``row`` is the line minus
            ``header_lines`` (the 1-based data row of a file with that many header
            lines).
    """
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    try:
        return data[start:].decode("utf-8") if start else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        off = exc.start + start
        line = data.count(b"\n", 0, off) + 1
        col = off - (data.rfind(b"\n", 0, off) + 1)
        where = " of the decompressed data" if file.endswith(".gz") else ""
        raise LogError(
            f"invalid UTF-8 byte 0x{data[off]:02x} at line {line}, column {col + 1} (byte offset "
            f"{off}{where}); graphrec reads UTF-8 text only: re-encode the file to UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8 IN > OUT` for latin-1",
            file, max(line - header_lines, 0)) from None


def read_text(path: PathLike, header_lines: int = 0) -> str:
    """The whole file as text: :func:`read_bytes` then :func:`decode_text`."""
    return decode_text(read_bytes(path), _name(path), header_lines)


def open_text(path: PathLike) -> io.TextIOBase:
    """A text file object over ``path`` (gunzipped when ``*.gz``, UTF-8, BOM-tolerant,
    newlines untranslated). The file is read and checked whole, so a bad gzip stream
    or a non-UTF-8 byte raises :class:`LogError` here, naming the file and line."""
    return io.StringIO(read_text(path), newline="")


def raw_name(raw_dir: str, name: str) -> str:
    """``name`` or its gzip copy ``name + ".gz"``, whichever exists in ``raw_dir``
    (``name`` when neither does), for datasets' ``raw_file_names``."""
    for cand in (name, name + ".gz"):
        if os.path.exists(os.path.join(raw_dir, cand)):
            return cand
    return name


def _is_missing(values: np.ndarray) -> np.ndarray:
    """Boolean mask of missing entries (NaN, ``None`` or a missing-marker string)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    return np.fromiter(
        (v is None or (isinstance(v, str) and v.strip() in MISSING_STRINGS)
         or (isinstance(v, float) and v != v) for v in values.tolist()),
        dtype=bool, count=len(values))


def _int_or_none(s: str) -> int | None:
    """``int(s)`` when ``s`` (whitespace-stripped) is a canonical int64, else ``None``."""
    t = s.strip()
    if not _CANONICAL_INT.fullmatch(t):
        return None
    v = int(t)
    return v if _INT64_MIN <= v <= _INT64_MAX else None


def _infer_text_column(arr: np.ndarray) -> np.ndarray:
    """Type a column of strings (the text of CSV/TSV cells, JSON strings).

    * int64 when every cell is a canonical integer that fits int64;
    * float64 (missing -> NaN) when every present cell is a number, no integer
      cell is written in a non-canonical way (``"007"``, ``"+7"``) and no integer
      cell exceeds 2**53 (so distinct integers never collide as floats);
    * otherwise the exact strings (object array).
    """
    vals = arr.tolist()
    ints = [_int_or_none(v) for v in vals]
    if None not in ints:
        return np.asarray(ints, dtype=np.int64)
    if any("_" in v for v in vals):  # Python's int()/float() accept "1_000"
        return arr
    missing = _is_missing(arr)
    if missing.all():
        return arr
    out = np.full(len(vals), np.nan)
    for r, (v, m) in enumerate(zip(vals, missing.tolist())):
        if m:
            continue
        t = v.strip()
        if _INT_LIKE.fullmatch(t):
            if not _CANONICAL_INT.fullmatch(t) or abs(int(t)) > FLOAT_EXACT_INT:
                return arr  # "007" / "+7" / a huge integer: keep the exact text
        try:
            out[r] = float(t)
        except ValueError:
            return arr
    return out


def _id_column(values: Sequence[Any]) -> np.ndarray:
    """An id column as read: int64 when every value is an integer (canonical text
    or a JSON integer) that fits int64, else the values themselves (object array:
    the exact text, JSON values, ``None`` for JSON null). Never floats."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    vals = arr.tolist()
    if all(type(v) is str for v in vals):
        ints = [_int_or_none(v) for v in vals]
        return np.asarray(ints, dtype=np.int64) if None not in ints else arr
    if all(type(v) is int for v in vals):
        try:
            return arr.astype(np.int64)
        except OverflowError:
            return arr
    return arr


def _infer_column(values: Sequence[Any]) -> np.ndarray:
    """Typed column: int64 if every value is an integer, float64 if every value is a
    number or missing, otherwise an object array of the original values (text is
    typed by :func:`_infer_text_column`; native JSON values by their type)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    if len(arr) == 0:
        return arr
    types = {type(v) for v in arr.tolist()}
    if types - {str}:  # native JSON values: decide by type, never truncate floats
        if types <= {int}:
            try:
                return arr.astype(np.int64)
            except OverflowError:  # beyond int64: keep the exact Python ints
                return arr
        if types <= {int, float, type(None)} and types & {int, float}:
            if int in types and any(type(v) is int and abs(v) > FLOAT_EXACT_INT
                                    for v in arr.tolist()):
                return arr  # floats would merge distinct integers
            return np.array([np.nan if v is None else v for v in arr.tolist()], dtype=np.float64)
        return arr
    return _infer_text_column(arr)


def _infer_arrow_column(col: Any, is_id: bool = False) -> np.ndarray:
    """:func:`_infer_text_column` (:func:`_id_column` when ``is_id``) for a pyarrow
    string column, vectorised for the common cases (all-integer and all-number
    columns); anything unusual falls back to the Python rules, so both give the
    same result."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(col) == 0:
        return np.empty(0, dtype=object)
    trimmed = pc.utf8_trim_whitespace(col)
    canon = pc.match_substring_regex(trimmed, r"^(0|-?[1-9][0-9]*)$")
    if pc.all(canon).as_py():
        try:
            return pc.cast(trimmed, pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # overflows int64: the Python rules keep the text
            pass
    elif is_id:
        pass
    elif not pc.any(pc.match_substring(col, "_")).as_py():
        missing = pc.is_in(trimmed, value_set=pa.array(sorted(MISSING_STRINGS)))
        intlike = pc.match_substring_regex(trimmed, r"^[+-]?[0-9]+$")
        if not pc.all(missing).as_py() and not pc.any(pc.and_(intlike, pc.invert(canon))).as_py():
            try:
                f = pc.cast(pc.if_else(missing, "nan", trimmed), pa.float64())
            except pa.ArrowInvalid:
                f = None
            if f is not None:
                # >= : 2**53 + 1 reads as 2**53; the Python rules decide those
                huge = pc.and_(intlike, pc.greater_equal(pc.abs(f), float(FLOAT_EXACT_INT)))
                if not pc.any(huge).as_py():
                    return f.to_numpy()
    arr = col.to_numpy(zero_copy_only=False).astype(object, copy=False)
    return _id_column(arr) if is_id else _infer_text_column(arr)


def _csv_field_limit() -> None:
    limit = sys.maxsize
    while True:  # raise the csv field limit (long list fields) portably
        try:
            csv.field_size_limit(limit)
            break
        except OverflowError:
            limit //= 10


def _check_header(header: list[str], file: str) -> list[str]:
    header = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for pos, h in enumerate(header):
        if h in seen:
            raise LogError(f"duplicate column name in the header (columns {seen[h] + 1} and "
                           f"{pos + 1})", file, 0, h)
        seen[h] = pos
    return header


def _split_delimited(text: str, sep: str, quoting: int,
                     file: str) -> tuple[list[str], list[list[str]]]:
    """The pure-Python parser: ``(header, rows)`` with the header checked and every
    row's field count checked (a wrong count is a :class:`LogError` naming the row)."""
    _csv_field_limit()
    if quoting == csv.QUOTE_NONE or '"' not in text:
        # fast path (no quoting possible): plain splits, 5-10x faster than the csv module
        lines = text.split("\n")
        records = [(line[:-1] if line.endswith("\r") else line) for line in lines]
        all_rows = [line.split(sep) if line else [] for line in records]
        while all_rows and not all_rows[0]:  # leading blank lines
            all_rows.pop(0)
        if not all_rows:
            raise LogError("the file is empty (no header line)", file, 0)
        header, rows = all_rows[0], all_rows[1:]
    else:
        reader = csv.reader(io.StringIO(text), delimiter=sep, quoting=quoting, strict=True)
        try:
            header = next(reader, None)
            while header is not None and len(header) == 0:  # leading blank lines
                header = next(reader, None)
            if header is None:
                raise LogError("the file is empty (no header line)", file, 0)
            rows = list(reader)
        except csv.Error as exc:
            raise LogError(f"malformed CSV record: {exc}", file, reader.line_num - 1) from exc
    header = _check_header(header, file)
    n = len(header)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    blank = lengths == 0
    bad = np.nonzero((lengths != n) & ~blank)[0]
    if bad.size:
        r = int(bad[0])
        field = header[lengths[r]] if lengths[r] < n else None
        raise LogError(f"row has {int(lengths[r])} fields, the header has {n} "
                       f"({', '.join(header)})", file, r + 1,
                       field if field is not None else "<extra field>")
    if blank.any():
        rows = [r for r in rows if r]
        log.info("%s: skipped %d blank line(s)", file, int(blank.sum()))
    return header, rows


def _read_delimited_python(path: PathLike, sep: str, quoting: int,
                           ids: Sequence[str] = ()) -> Table:
    """The pure-Python CSV/TSV reader of graphrec 0.1 (hand splitting, per-cell
    typing): kept to locate the row of a parse error pyarrow reports without one,
    and as the baseline of ``benchmarks/test_bench_readers.py``."""
    file = _name(path)
    header, rows = _split_delimited(read_text(path, header_lines=1), sep, quoting, file)
    if not rows:
        return {h: np.empty(0, dtype=object) for h in header}
    cols = list(zip(*rows))
    return {h: (_id_column if h in ids else _infer_column)(c) for h, c in zip(header, cols)}


def _read_delimited(path: PathLike, sep: str, quoting: int, ids: Sequence[str] = ()) -> Table:
    """CSV/TSV through ``pyarrow.csv``: every cell read as text (no pyarrow type
    inference, no null conversion), then typed by :func:`_infer_arrow_column`;
    the same tables as :func:`_read_delimited_python`, 10-20x faster."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(sep) != 1 or sep in "\r\n\"":  # pyarrow takes one delimiter character
        return _read_delimited_python(path, sep, quoting, ids)
    file = _name(path)
    data = read_bytes(path)
    text = decode_text(data, file, header_lines=1)  # checks UTF-8, naming the line
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    # the header is the first non-blank line, parsed and checked here; pyarrow
    # then reads only the bytes after it
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        line = data[pos:] if end < 0 else data[pos:end]
        if line.strip(b"\r"):
            break
        if end < 0:
            raise LogError("the file is empty (no header line)", file, 0)
        pos = end + 1
    head = line.decode("utf-8").rstrip("\r")
    quoted = quoting != csv.QUOTE_NONE and b'"' in data
    if quoted:
        header = next(csv.reader([head], delimiter=sep, quoting=quoting), [])
        _csv_field_limit()
        try:  # pyarrow reads '"a"b' as 'ab'; the csv module (strict) refuses it
            collections.deque(csv.reader(io.StringIO(text), delimiter=sep, quoting=quoting,
                                         strict=True), maxlen=0)
        except csv.Error:
            _split_delimited(text, sep, quoting, file)  # raises, naming the row
            raise
    else:
        header = head.split(sep)
    header = _check_header(header, file)
    body = data[len(data) if end < 0 else end + 1:]
    if not body.strip(b"\r\n"):
        return {h: np.empty(0, dtype=object) for h in header}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=header),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char='"' if quoted else False,
                                             double_quote=True, newlines_in_values=quoted,
                                             ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        # wrong field count or bad quoting: pyarrow names no row, the Python parser does
        _split_delimited(text, sep, quoting, file)
        raise LogError(f"malformed delimited data: {exc}", file) from exc
    n_blank = (len(re.findall(rb"\n\r?(?=\n)", body)) + body.startswith((b"\n", b"\r\n"))
               if b"\n\n" in body or b"\n\r\n" in body or body[:1] in b"\r\n" else 0)
    if n_blank:
        log.info("%s: skipped %d blank line(s)", file, n_blank)
    return {h: _infer_arrow_column(table.column(i), h in ids) for i, h in enumerate(header)}


def iter_json_objects(path: PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(1-based line number, object)`` of every non-blank line of a JSON-lines file
    (gzip accepted); a line that is not a JSON object is a :class:`LogError` naming
    the file and line. An empty file is an error too."""
    file = _name(path)
    with open_text(path) as fh:
        saw_any = False
        for r, line in enumerate(fh, start=1):
            saw_any = True
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LogError(f"invalid JSON: {exc.msg}", file, r) from exc
            if not isinstance(obj, dict):
                raise LogError(f"expected a JSON object per line, got {type(obj).__name__}", file, r)
            yield r, obj
    if not saw_any:
        raise LogError("the file is empty", file, 0)


def _read_jsonl(path: PathLike, ids: Sequence[str] = ()) -> Table:
    file = _name(path)
    records: list[dict[str, Any]] = []
    keys: dict[str, None] = {}
    for r, obj in iter_json_objects(path):
        if not records:
            keys = dict.fromkeys(obj)
        elif len(obj) != len(keys) or any(k not in keys for k in obj):
            missing = [k for k in keys if k not in obj]
            extra = [k for k in obj if k not in keys]
            raise LogError(f"row has fields {list(obj)}, the first row has {list(keys)} "
                           f"(missing {missing}, extra {extra})", file, r, (missing or extra)[0])
        records.append(obj)
    if not records:
        return {}
    return {k: (_id_column if k in ids else _infer_column)([rec[k] for rec in records])
            for k in keys}


def _read_parquet(path: PathLike, columns: Sequence[str] | None) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading Parquet files needs 'pyarrow'; install it with "
                          "`pip install graphrec[parquet]`") from exc
    import pyarrow as pa

    file = _name(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"not a readable Parquet file (truncated or corrupt?): {exc}", file) from exc
    names = list(schema.names)
    seen: set[str] = set()
    for h in names:
        if h in seen:
            raise LogError("duplicate column name in the schema", file, 0, h)
        seen.add(h)
    if columns is not None:
        _check_columns(names, columns, file)
    try:
        table = pq.read_table(path, columns=list(columns) if columns is not None else None)
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"not a readable Parquet file (truncated or corrupt?): {exc}", file) from exc
    out: Table = {}
    for name, col in zip(table.column_names, table.columns):
        arr = col.to_numpy(zero_copy_only=False)
        if arr.dtype.kind in "OUS":
            arr = arr.astype(object)
        out[name] = arr
    return out


def _check_columns(available: Sequence[str], wanted: Sequence[str], file: str) -> None:
    for c in wanted:
        if c not in available:
            raise LogError(f"column not found; available columns: {list(available)}",
                           file, 0, c)


def read_table(path: PathLike, format: str | None = None,
               columns: Sequence[str] | None = None, sep: str | None = None,
               ids: Sequence[str | None] = ()) -> Table:
    """Read a table into ``{column: numpy array}``.

    Columns are typed by inference: int64 when every value is a canonical
    integer (``"7"``; ``"007"`` and ``"+7"`` are not) that fits int64, float64 when
    every value is a number or missing (missing -> NaN) and no integer in it is
    above 2**53 or written non-canonically, otherwise an object array (the exact
    strings; lists from JSONL/Parquet). Text is never typed through floats when
    that could merge two distinct values.

    Args:
        path: the file; ``*.gz`` CSV/TSV/JSONL are decompressed on the fly.
        format: ``"csv"``, ``"tsv"``, ``"jsonl"`` or ``"parquet"``; inferred from
            the extension when ``None`` (default: ``None``).
        columns: keep only these columns, in this order; a missing one raises
            :class:`LogError` listing the available columns (default: all).
        sep: field separator for delimited text, overriding the format's
            (``","`` for CSV, tab for TSV) (default: ``None``).
        ids: columns holding ids: never floats. They are int64 when every
            value is a canonical int64 integer, else the exact text (JSON: the
            values, missing ones ``None``) (default: none).

    Raises:
        LogError: empty file, duplicate header names, a row with the wrong number
            of fields, malformed JSON, a missing column, a bad ``.gz`` file,
            non-UTF-8 bytes, a corrupt Parquet file. Row numbers are 1-based data
            rows (0 = the header).
    """
    file = _name(path)
    if not os.path.exists(file):
        raise FileNotFoundError(f"'{file}' does not exist")
    id_cols: list[str] = [c for c in ids if c]
    fmt = (format or infer_format(path)).lower()
    if fmt == "parquet":
        return _read_parquet(path, columns)
    if fmt in ("csv", "tsv"):
        delim = sep if sep is not None else ("," if fmt == "csv" else "\t")
        # TSV (IANA text/tab-separated-values) has no quoting; CSV follows RFC 4180.
        table = _read_delimited(path, delim, csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
                                id_cols)
    elif fmt == "jsonl":
        table = _read_jsonl(path, id_cols)
    else:
        raise ValueError(f"unknown table format {format!r}; expected one of "
                         f"{sorted(set(FORMATS.values()))}")
    if columns is not None:
        _check_columns(list(table), columns, file)
        table = {c: table[c] for c in columns}
    return table


def read_int_lines(path: PathLike, head_field: str = "user", value_field: str = "item", *,
                   min_value: int | None = None, max_head: int | None = None,
                   max_value: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a whitespace-separated integer file of lines ``head v1 v2 ...``.

    The layout of the Amazon sequence files and LightGCN's ``train.txt``.
    Parsing is vectorised (one numpy conversion for the whole file). Blank lines
    are skipped; a line with only a head has no values. Integers must be written
    canonically: ``"007"``, ``"+7"`` and ``"-0"`` are refused, since the same id
    written two ways would silently become one.

    Args:
        path: the file (``.gz`` accepted).
        head_field, value_field: names of the first and the other numbers of a
            line in error messages.
        min_value: the smallest allowed number (heads and values), e.g. ``0``
            for 0-based ids (default: no bound).
        max_head, max_value: the largest allowed head / value (default: no bound).

    Returns:
        ``(heads, ptr, values)``: the first number of every non-blank line, and
        the rest as CSR (``values[ptr[r]:ptr[r + 1]]`` belongs to line ``r``).

    Raises:
        LogError: a token that is not a canonical int64 integer, or a number
            outside the bounds (row = the 1-based line number in the file).
    """
    file = _name(path)
    text = read_text(path)
    lines = text.splitlines()
    counts = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    if counts.sum() == 0:
        raise LogError("the file is empty", file, 0)
    tokens = text.split()

    def first_bad(check: Callable[[str], str | None]) -> None:
        for r, line in enumerate(lines, start=1):
            for k, tok in enumerate(line.split()):
                problem = check(tok)
                if problem:
                    raise LogError(f"token {k + 1} {problem}", file, r,
                                   head_field if k == 0 else value_field, tok)

    def parse_problem(tok: str) -> str | None:
        try:
            v = int(tok)
        except ValueError:
            return "is not an integer"
        if not _CANONICAL_INT.fullmatch(tok):
            return ("is not a canonical integer (no sign, leading zeros or '_'; ids written "
                    "two ways would merge)")
        if not _INT64_MIN <= v <= _INT64_MAX:
            return "is out of the int64 range"
        return None

    try:
        flat = np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        first_bad(parse_problem)
        raise
    # canonical form check, vectorised: a canonical token has exactly as many
    # characters as the digits (and sign) of its value
    p10 = 10 ** np.arange(1, 19, dtype=np.int64)
    digits = np.searchsorted(p10, np.abs(flat), side="right") + 1 + (flat < 0)
    if int(digits.sum()) != sum(map(len, tokens)):
        first_bad(parse_problem)
    line_no = np.nonzero(counts > 0)[0] + 1  # file line of each non-blank line
    counts = counts[counts > 0]
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    is_head = np.zeros(len(flat), dtype=bool)
    is_head[starts] = True
    bad = np.zeros(len(flat), dtype=bool)
    if min_value is not None:
        bad |= flat < min_value
    if max_head is not None:
        bad |= is_head & (flat > max_head)
    if max_value is not None:
        bad |= ~is_head & (flat > max_value)
    if bad.any():
        k = int(np.argmax(bad))
        r = int(np.searchsorted(starts, k, side="right")) - 1
        head = bool(is_head[k])
        hi = max_head if head else max_value
        lo = "-inf" if min_value is None else min_value
        raise LogError(f"token {k - int(starts[r]) + 1} is out of the allowed range "
                       f"[{lo}, {'inf' if hi is None else hi}]", file, int(line_no[r]),
                       head_field if head else value_field, int(flat[k]))
    heads = flat[starts]
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts - 1, out=ptr[1:])
    return heads, ptr, flat[~is_head]


# ---- column helpers ------------------------------------------------------------------

def _column(table: Table, field: str, columns: Mapping[str, str], file: str) -> np.ndarray:
    name = columns[field]
    if name not in table:
        raise LogError(f"column '{name}' (for {field}) not found; available columns: "
                       f"{list(table)}", file, 0, name)
    return table[name]


def _require_present(values: np.ndarray, file: str, field: str, rows: np.ndarray) -> None:
    miss = _is_missing(values)
    if miss.any():
        r = int(np.nonzero(miss)[0][0])
        raise LogError("required value is missing (empty or NaN)", file, int(rows[r]), field,
                       values[r])


def _to_time(values: np.ndarray, file: str, field: str, rows: np.ndarray,
             unit: str) -> np.ndarray:
    if unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {unit!r}")
    _require_present(values, file, field, rows)
    if values.dtype.kind == "b":
        raise LogError("timestamp is a boolean (true/false), not a number", file, int(rows[0]),
                       field, bool(values[0]))
    if values.dtype.kind in "iuf":
        out = values.astype(np.float64)
    else:
        out = np.empty(len(values), dtype=np.float64)
        for r, v in enumerate(values.tolist()):
            if isinstance(v, bool):  # float(True) == 1.0: a JSON true is no timestamp
                raise LogError("timestamp is a boolean (true/false), not a number", file,
                               int(rows[r]), field, v)
            try:
                out[r] = float(v)
            except (TypeError, ValueError):
                raise LogError("timestamp is not numeric", file, int(rows[r]), field, v) from None
    bad = ~np.isfinite(out)
    if bad.any():
        r = int(np.nonzero(bad)[0][0])
        raise LogError("timestamp is not finite", file, int(rows[r]), field, values[r])
    return out * TIME_UNITS[unit]


def _apply_filter(table: Table, flt: RowFilter | None, file: str) -> np.ndarray:
    """Boolean keep-mask of a filter (callable or ``{column: value(s)}``)."""
    n = len(next(iter(table.values()))) if table else 0
    if flt is None:
        return np.ones(n, dtype=bool)
    if callable(flt):
        mask = np.asarray(flt(table), dtype=bool)
        if mask.shape != (n,):
            raise ValueError(f"filter returned shape {mask.shape}, expected ({n},)")
        return mask
    mask = np.ones(n, dtype=bool)
    for col, want in flt.items():
        if col not in table:
            raise LogError(f"filter column not found; available columns: {list(table)}",
                           file, 0, col)
        wanted = list(want) if isinstance(want, (list, tuple, set, frozenset)) else [want]
        values = table[col]
        if values.dtype.kind == "O":
            wanted = wanted + [str(w) for w in wanted]
        mask &= np.isin(values, np.asarray(wanted, dtype=values.dtype if values.dtype.kind != "O"
                                           else object))
    return mask


def exact_ids(values: np.ndarray, file: str, field: str,
              rows: np.ndarray | None = None) -> np.ndarray:
    """An id column in a form where equal ids are equal values, checked.

    Integers stay integers; floats (a column typed before its missing rows were
    filtered out, Parquet) become int64 when they are integers up to 2**53, where
    floats are exact. Text stays exact text.

    Raises:
        LogError: naming the row: a boolean id, a fractional or huge float id, a
            column mixing integers and strings (``1`` and ``"1"``: one id or two?),
            a value that is neither, or a control character (NUL, ...) in a text id.
    """
    rows = np.arange(1, len(values) + 1) if rows is None else rows
    kind = values.dtype.kind
    if kind in "iu" or len(values) == 0:
        return values
    if kind == "b":
        raise LogError("id is a boolean (true/false)", file, int(rows[0]), field, bool(values[0]))
    if kind == "f":
        bad = ~np.isfinite(values) | (np.floor(values) != values) | (np.abs(values) > FLOAT_EXACT_INT)
        if bad.any():
            r = int(np.argmax(bad))
            raise LogError("id is a floating-point number that is not an exact integer (ids "
                           "above 2**53 collide as floats; read ids as text: ids=[...])", file,
                           int(rows[r]), field, float(values[r]))
        return values.astype(np.int64)
    vals = values.tolist()
    if kind == "O":
        first: str | None = None
        first_row = 0
        for r, v in enumerate(vals):
            if isinstance(v, bool):
                raise LogError("id is a boolean (true/false)", file, int(rows[r]), field, v)
            if isinstance(v, float) and v.is_integer() and abs(v) <= FLOAT_EXACT_INT:
                v = vals[r] = int(v)
            t = "integer" if isinstance(v, int) else "string" if isinstance(v, str) else None
            if t is None:
                raise LogError(f"id must be an integer or a string, got {type(v).__name__}", file,
                               int(rows[r]), field, v)
            if first is None:
                first, first_row = t, r
            elif t != first:
                raise LogError(f"id column mixes integers and strings (row {int(rows[first_row])} "
                               f"holds the {first} {vals[first_row]!r}): make the ids all one "
                               f"type", file, int(rows[r]), field, v)
        if first == "integer":
            try:
                return np.asarray(vals, dtype=np.int64)
            except OverflowError:
                out = np.empty(len(vals), dtype=object)
                out[:] = vals
                return out
    if kind in "OU":  # text: canonical integers (a column read with missing cells) -> int64
        ints = [_int_or_none(v) for v in vals]
        if None not in ints:
            return np.asarray(ints, dtype=np.int64)
    if _CONTROL_ID.search("".join(str(v) for v in vals)):
        for r, v in enumerate(vals):
            m = _CONTROL_ID.search(str(v))
            if m:
                raise LogError(f"id holds the control character {m.group()!r} (NUL bytes and "
                               f"other control characters are not allowed in ids)", file,
                               int(rows[r]), field, v)
    return values


def encode_ids(values: np.ndarray, id_map: IdMap, file: str, field: str,
               rows: np.ndarray | None = None, unknown: Unknown = "raise") -> np.ndarray:
    """Indices of raw ids under ``id_map``, ``-1`` for unknown ids when
    ``unknown="drop"``; with ``"raise"`` an unknown id raises :class:`LogError`
    naming its row (1-based, or ``rows[r]`` when given). Ids compare as in
    :class:`IdMap` (an integer equals its canonical text, ``"007"`` does not);
    vectorised when both sides are numbers or both text."""
    rows = np.arange(1, len(values) + 1) if rows is None else rows
    raw = id_map.raw
    codes: np.ndarray
    kinds = raw.dtype.kind + values.dtype.kind
    if len(raw) == 0:
        codes = np.full(len(values), -1, dtype=np.int64)
    elif all(k in "iuf" for k in kinds) or kinds == "UU":
        order = np.argsort(raw, kind="stable")
        sorted_raw = raw[order]
        pos = np.searchsorted(sorted_raw, values)
        pos_c = np.clip(pos, 0, len(raw) - 1)
        found = sorted_raw[pos_c] == values
        codes = np.where(found, order[pos_c], -1).astype(np.int64)
    else:  # text, mixed or object ids: the map's own (exact) comparison
        codes = np.fromiter((id_map.get(v) for v in values.tolist()), dtype=np.int64,
                            count=len(values))
    unknown_mask = codes < 0
    if unknown_mask.any():
        if unknown == "raise":
            r = int(np.nonzero(unknown_mask)[0][0])
            raise LogError(f"unknown {field} id, not in the given {field} id map "
                           f"({len(id_map)} ids)", file, int(rows[r]), field, values[r])
        if unknown != "drop":
            raise ValueError(f"unknown must be 'raise' or 'drop', got {unknown!r}")
    return codes


def _ids(values: np.ndarray, id_map: IdMap | None, file: str, field: str,
         rows: np.ndarray, unknown: Unknown) -> tuple[IdMap, np.ndarray]:
    _require_present(values, file, field, rows)
    values = exact_ids(values, file, field, rows)
    if id_map is None:
        return IdMap.build(values)
    return id_map, encode_ids(values, id_map, file, field, rows, unknown)


def _check_text(values: np.ndarray, file: str, field: str, rows: np.ndarray) -> None:
    """No control characters (NUL, ESC, ...; tab and newlines are fine) in a text column."""
    if values.dtype.kind not in "OU":
        return
    strs = [v for v in values.tolist() if isinstance(v, str)]
    if not _CONTROL_TEXT.search("".join(strs)):
        return
    for r, v in enumerate(values.tolist()):
        m = _CONTROL_TEXT.search(v) if isinstance(v, str) else None
        if m:
            raise LogError(f"text holds the control character {m.group()!r} (a NUL byte or "
                           f"other binary data)", file, int(rows[r]), field, v)


def _drop_unknown(codes: dict[str, np.ndarray], file: str) -> np.ndarray:
    keep = np.ones(len(next(iter(codes.values()))), dtype=bool)
    for field, c in codes.items():
        bad = c < 0
        if bad.any():
            log.warning("%s: dropped %d row(s) whose %s id is not in the id map",
                        file, int(bad.sum()), field)
            keep &= ~bad
    return keep


def _select_rows(table: Table, columns: Mapping[str, str], required: tuple[str, ...], file: str,
                 filter: RowFilter | None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    """The required columns (and the optional time column) of the rows kept by
    ``filter``, with their 1-based data-row numbers for error messages."""
    for key in required:
        if key not in columns:
            raise ValueError(f"columns must map '{key}' to a column name, got {dict(columns)}")
    n = len(next(iter(table.values()))) if table else 0
    cols = {k: _column(table, k, columns, file) for k in required}
    time_col = _column(table, "time", columns, file) if columns.get("time") else None
    if n == 0:
        raise LogError("the file has a header but no data rows", file, 0)
    rows = np.arange(1, n + 1)
    keep = _apply_filter(table, filter, file)
    if not keep.all():
        log.info("%s: filter kept %d of %d row(s), dropped %d", file, int(keep.sum()), n,
                 int((~keep).sum()))
        rows = rows[keep]
        cols = {k: v[keep] for k, v in cols.items()}
        time_col = time_col[keep] if time_col is not None else None
    return rows, cols, time_col


# ---- recommendation log --------------------------------------------------------------

DEFAULT_REC_COLUMNS: dict[str, str] = {"user": "user_id", "item": "item_id", "time": "timestamp"}


def rec_log_from_table(table: Table, file: str, columns: Mapping[str, str] | None = None,
                       user_map: IdMap | None = None, item_map: IdMap | None = None,
                       filter: RowFilter | None = None, time_unit: str = "s",
                       unknown: Unknown = "raise") -> tuple[RecLog, IdMap, IdMap]:
    """:func:`read_rec_log` on an already-read table (``file`` names it in errors)."""
    columns = dict(DEFAULT_REC_COLUMNS if columns is None else columns)
    rows, cols, time_col = _select_rows(table, columns, ("user", "item"), file, filter)
    user_col, item_col = cols["user"], cols["item"]
    if time_col is not None:
        time = _to_time(time_col, file, columns["time"], rows, time_unit)
    else:
        time = (rows - 1).astype(np.float64)  # file order as ordinal time
    user_map, users = _ids(user_col, user_map, file, columns["user"], rows, unknown)
    item_map, items = _ids(item_col, item_map, file, columns["item"], rows, unknown)
    ok = _drop_unknown({"user": users, "item": items}, file)
    rec = RecLog(torch.from_numpy(users[ok]), torch.from_numpy(items[ok]),
                 torch.from_numpy(time[ok]), len(user_map), len(item_map), source=file)
    return rec, user_map, item_map


def read_rec_log(path: PathLike, columns: Mapping[str, str] | None = None,
                 format: str | None = None, user_map: IdMap | None = None,
                 item_map: IdMap | None = None, filter: RowFilter | None = None,
                 sep: str | None = None, time_unit: str = "s",
                 unknown: Unknown = "raise") -> tuple[RecLog, IdMap, IdMap]:
    """Read a recommendation log ``(user, item[, time])``.

    Args:
        path: the file (any :func:`read_table` format).
        columns: our field names -> the file's column names, keys ``"user"``,
            ``"item"`` and optionally ``"time"``; without ``"time"`` the file order
            is the (ordinal) time (default: ``{"user": "user_id", "item": "item_id",
            "time": "timestamp"}``).
        format: table format, inferred from the extension when ``None``.
        user_map, item_map: existing id maps; ids outside them raise
            :class:`LogError` (or are dropped and counted with
            ``unknown="drop"``). Built from the file (first appearance order) when
            ``None`` (default: ``None``).
        filter: keep only some rows: a callable ``table -> bool mask`` or a mapping
            ``{column: value or list of values}``, e.g. ``{"is_click": 1}``; the
            number of dropped rows is logged (default: ``None``).
        sep: field separator override for delimited text.
        time_unit: unit of the time column, converted to seconds: ``"s"``,
            ``"ms"``, ``"us"`` or ``"ns"`` (default: ``"s"``).
        unknown: ``"raise"`` or ``"drop"`` for ids outside given maps
            (default: ``"raise"``).

    Returns:
        ``(rec_log, user_map, item_map)``.

    Raises:
        LogError: missing column, empty file, no data rows, missing (empty/NaN)
            user/item/time, non-numeric time, unknown id; messages name the file,
            the 1-based data row and the field.
    """
    cols = dict(DEFAULT_REC_COLUMNS if columns is None else columns)
    table = read_table(path, format=format, sep=sep, ids=[cols.get("user"), cols.get("item")])
    return rec_log_from_table(table, _name(path), cols, user_map, item_map, filter,
                              time_unit, unknown)


# ---- search log ----------------------------------------------------------------------

DEFAULT_SEARCH_COLUMNS: dict[str, str] = {"user": "user_id", "query": "query", "item": "item_id",
                                          "time": "timestamp"}


def parse_tokens(value: Any, token_sep: str | None = " ") -> list[str]:
    """Tokens of one list-valued cell: a list/array, a ``"[1, 2, 3]"`` string, or a
    ``token_sep``-joined string (``None``: any whitespace). Tokens are strings;
    integral floats are written as integers (``3.0`` -> ``"3"``).

    Raises:
        ValueError: a malformed ``"[...]"`` list: ``"[1, 2"`` (no closing bracket),
            ``"1, 2]"``, a nested list, an empty element (``"[1,,2]"``) or an
            unbalanced quote (``"['a]"``). Readers turn it into a
            :class:`LogError` naming the row and field.
    """
    def norm(t: Any) -> str:
        if isinstance(t, (float, np.floating)) and float(t).is_integer():
            return str(int(t))
        return str(t).strip()

    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [norm(t) for t in value]
    if isinstance(value, (int, np.integer, float, np.floating)):
        return [] if isinstance(value, (float, np.floating)) and value != value else [norm(value)]
    s = str(value).strip()
    if s.startswith("[") or s.endswith("]"):
        if not (len(s) >= 2 and s[0] == "[" and s[-1] == "]"):
            raise ValueError(f"malformed token list {s!r}: "
                             + ("no closing ']'" if s[0] == "[" else "no opening '['"))
        inner = s[1:-1]
        if "[" in inner or "]" in inner:
            raise ValueError(f"malformed token list {s!r}: nested brackets")
        if not inner.strip():
            return []
        out = []
        for t in inner.split(","):
            t = t.strip()
            if t[:1] in ("'", '"') or t[-1:] in ("'", '"'):
                if len(t) < 2 or t[0] != t[-1]:
                    raise ValueError(f"malformed token list {s!r}: unbalanced quote in {t!r}")
                t = t[1:-1].strip()
            if not t:
                raise ValueError(f"malformed token list {s!r}: empty element")
            out.append(t)
        return out
    return [t for t in (s.split(token_sep) if token_sep else s.split()) if t]


def encode_queries(values: np.ndarray, query_format: Literal["text", "tokens"] = "text",
                   token_sep: str | None = " ", file: str | None = None,
                   field: str | None = None,
                   rows: np.ndarray | None = None) -> tuple[np.ndarray, Ragged, list[str], IdMap]:
    """Deduplicate raw queries and tokenise them.

    ``"text"`` queries are lower-cased and split on whitespace; ``"tokens"``
    queries are token-id lists (see :func:`parse_tokens`). Queries with the same
    token sequence share one id.

    Returns:
        ``(query_of_row, query_tokens, query_text, word_map)``: the query id of every
        row (``-1`` for an empty query), each distinct query's word ids, its
        normalised text (tokens joined by a space), and the word vocabulary.

    Raises:
        LogError: a malformed token list (see :func:`parse_tokens`), naming
            ``file``, the row (``rows[r]``, default ``r + 1``) and ``field``.
    """
    raw_to_q: dict[Any, int] = {}
    text_to_q: dict[str, int] = {}
    words: dict[str, int] = {}
    q_rows: list[list[int]] = []
    texts: list[str] = []
    out = np.empty(len(values), dtype=np.int64)
    for r, v in enumerate(values.tolist()):
        key = tuple(v) if isinstance(v, list) else v
        try:
            q = raw_to_q.get(key)
        except TypeError:  # unhashable (nested) cell
            key, q = None, None
        if q is None:
            if query_format == "text":
                toks = str(v).lower().split() if v is not None and v == v else []
            elif query_format == "tokens":
                try:
                    toks = parse_tokens(v, token_sep)
                except ValueError as exc:
                    raise LogError(str(exc), file, int(rows[r]) if rows is not None else r + 1,
                                   field, v) from None
            else:
                raise ValueError(f"query_format must be 'text' or 'tokens', got {query_format!r}")
            if not toks:
                q = -1
            else:
                text = " ".join(toks)
                q = text_to_q.get(text)
                if q is None:
                    q = text_to_q[text] = len(texts)
                    texts.append(text)
                    q_rows.append([words.setdefault(t, len(words)) for t in toks])
            if key is not None:
                raw_to_q[key] = q
        out[r] = q
    return out, Ragged.from_lists(q_rows), texts, IdMap(np.asarray(list(words), dtype=object))


def search_log_from_table(table: Table, file: str, columns: Mapping[str, str] | None = None,
                          user_map: IdMap | None = None, item_map: IdMap | None = None,
                          query_format: Literal["text", "tokens"] = "text",
                          token_sep: str | None = " ", filter: RowFilter | None = None,
                          time_unit: str = "s", unknown: Unknown = "raise",
                          empty_query: Unknown = "raise") -> SearchLog:
    """:func:`read_search_log` on an already-read table (``file`` names it in errors)."""
    columns = dict(DEFAULT_SEARCH_COLUMNS if columns is None else columns)
    rows, cols, time_col = _select_rows(table, columns, ("user", "query", "item"), file, filter)
    if time_col is not None:
        time = _to_time(time_col, file, columns["time"], rows, time_unit)
    else:
        time = (rows - 1).astype(np.float64)
    user_map, users = _ids(cols["user"], user_map, file, columns["user"], rows, unknown)
    item_map, items = _ids(cols["item"], item_map, file, columns["item"], rows, unknown)
    _require_present(cols["query"], file, columns["query"], rows)
    _check_text(cols["query"], file, columns["query"], rows)
    queries, tokens, texts, _ = encode_queries(cols["query"], query_format, token_sep, file,
                                               columns["query"], rows)
    empty = queries < 0
    if empty.any():
        if empty_query == "raise":
            r = int(np.nonzero(empty)[0][0])
            raise LogError("query has no tokens", file, int(rows[r]), columns["query"],
                           cols["query"][r])
        log.warning("%s: dropped %d row(s) with an empty query", file, int(empty.sum()))
    ok = _drop_unknown({"user": users, "item": items}, file) & ~empty
    num_words = int(tokens.values.max()) + 1 if tokens.values.numel() else 0
    return SearchLog(torch.from_numpy(users[ok]), torch.from_numpy(queries[ok]),
                     torch.from_numpy(items[ok]), torch.from_numpy(time[ok]),
                     len(user_map), len(item_map), tokens, num_words, query_text=texts,
                     source=file)


def read_search_log(path: PathLike, columns: Mapping[str, str] | None = None,
                    user_map: IdMap | None = None, item_map: IdMap | None = None,
                    query_format: Literal["text", "tokens"] = "text",
                    token_sep: str | None = " ", format: str | None = None,
                    sep: str | None = None, filter: RowFilter | None = None,
                    time_unit: str = "s", unknown: Unknown = "raise",
                    empty_query: Unknown = "raise") -> SearchLog:
    """Read a search log ``(user, query, clicked item[, time])``.

    Distinct queries (same token sequence) share a query id, in order of first
    appearance; ``SearchLog.query_text[q]`` is query ``q``'s normalised text and its
    word ids are ``SearchLog.query_tokens[q]`` over a vocabulary built in order of
    first appearance.

    Args:
        path: the file (any :func:`read_table` format).
        columns: our field names -> the file's column names, keys ``"user"``,
            ``"query"``, ``"item"`` and optionally ``"time"`` (default:
            ``{"user": "user_id", "query": "query", "item": "item_id",
            "time": "timestamp"}``).
        user_map, item_map: the recommendation log's id maps. A user or item
            outside them raises :class:`LogError` naming file, row, field and value,
            or with ``unknown="drop"`` is dropped and the count logged. Built from
            this file when ``None`` (standalone use) (default: ``None``).
        query_format: ``"text"`` (lower-cased, whitespace-tokenised) or
            ``"tokens"`` (token-id lists: list cells, ``"[1, 2]"`` strings or
            ``token_sep``-joined strings) (default: ``"text"``).
        token_sep: separator of ``"tokens"`` strings (``None``: any whitespace)
            (default: ``" "``).
        format, sep, filter, time_unit: as in :func:`read_rec_log`.
        unknown: ``"raise"`` or ``"drop"`` (default: ``"raise"``).
        empty_query: a query without tokens: ``"raise"`` or ``"drop"`` (counted)
            (default: ``"raise"``).

    Raises:
        LogError: as :func:`read_rec_log`, plus unknown items/users and empty queries.
    """
    cols = dict(DEFAULT_SEARCH_COLUMNS if columns is None else columns)
    table = read_table(path, format=format, sep=sep, ids=[cols.get("user"), cols.get("item")])
    return search_log_from_table(table, _name(path), columns, user_map, item_map, query_format,
                                 token_sep, filter, time_unit, unknown, empty_query)


# ---- item side information -----------------------------------------------------------

DEFAULT_ITEM_COLUMNS: dict[str, Any] = {"item": "item_id", "attrs": "attrs"}


def item_info_from_table(table: Table, file: str, item_map: IdMap,
                         columns: Mapping[str, Any] | None = None,
                         attr_sep: str | None = None, skip_values: Sequence[Any] = (),
                         unknown: Unknown = "drop") -> ItemInfo:
    """:func:`read_item_info` on an already-read table (``file`` names it in errors)."""
    columns = dict(DEFAULT_ITEM_COLUMNS if columns is None else columns)
    if "item" not in columns:
        raise ValueError(f"columns must map 'item' to a column name, got {columns}")
    n_items = len(item_map)
    item_col = _column(table, "item", columns, file)
    rows = np.arange(1, len(item_col) + 1)
    _require_present(item_col, file, columns["item"], rows)
    item_col = exact_ids(item_col, file, columns["item"], rows)
    codes = encode_ids(item_col, item_map, file, columns["item"], rows, unknown)
    known = codes >= 0
    if not known.all():
        log.info("%s: ignored %d row(s) for items outside the logs' item map",
                 file, int((~known).sum()))
    uniq, counts = np.unique(codes[known], return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        r = int(np.nonzero(codes == dup)[0][1])
        raise LogError("duplicate item row", file, int(rows[r]), columns["item"], item_col[r])
    n_missing = n_items - len(uniq)
    if n_missing:
        log.info("%s: %d of %d item(s) have no row (no side information)", file, n_missing,
                 n_items)
    skip = {str(s) for s in skip_values}

    attrs: Ragged | None = None
    names: list[str] | None = None
    field: list[int] = []  # field (= attribute column) of each attribute id
    attr_cols: list[str] = []
    attr_spec = columns.get("attrs")
    if attr_spec:
        attr_cols = [attr_spec] if isinstance(attr_spec, str) else list(attr_spec)
        item_idx: list[np.ndarray] = []
        attr_idx: list[np.ndarray] = []
        names = []
        if len(attr_cols) == 1:  # one list-valued column
            name = attr_cols[0]
            values = _column(table, "attrs", {"attrs": name}, file)[known]
            vocab: dict[str, int] = {}
            it: list[int] = []
            at: list[int] = []
            for i, v, row in zip(codes[known].tolist(), values.tolist(), rows[known].tolist()):
                if v is None or (isinstance(v, float) and v != v):
                    continue
                try:
                    toks = parse_tokens(v, attr_sep)
                except ValueError as exc:
                    raise LogError(str(exc), file, row, name, v) from None
                for t in toks:
                    if t in skip:
                        continue
                    it.append(i)
                    at.append(vocab.setdefault(t, len(vocab)))
            item_idx.append(np.asarray(it, dtype=np.int64))
            attr_idx.append(np.asarray(at, dtype=np.int64))
            names = list(vocab)
            field = [0] * len(names)
        else:  # one attribute per column: vocabulary over (column, value) pairs
            for name in attr_cols:
                values = _column(table, "attrs", {"attrs": name}, file)[known]
                ok = ~_is_missing(values)
                if skip:
                    ok &= ~np.isin(np.asarray([str(v) for v in values.tolist()], dtype=object),
                                   np.asarray(sorted(skip), dtype=object))
                if ok.any():
                    vmap, local = IdMap.build(values[ok])
                else:
                    vmap, local = IdMap([]), np.empty(0, np.int64)
                item_idx.append(codes[known][ok])
                attr_idx.append(local + len(names))
                names.extend(f"{name}={v}" for v in vmap.raw.tolist())
                field.extend([len(item_idx) - 1] * len(vmap))
        it_all = torch.from_numpy(np.concatenate(item_idx).astype(np.int64))
        at_all = torch.from_numpy(np.concatenate(attr_idx).astype(np.int64))
        attrs = Ragged.from_coo(it_all, at_all, n_items)

    title: list[str] | None = None
    if columns.get("title"):
        tvals = _column(table, "title", columns, file)[known]
        title = [""] * n_items
        miss = _is_missing(tvals)
        for i, t, m in zip(codes[known].tolist(), tvals.tolist(), miss.tolist()):
            if not m:
                title[i] = " ".join(t) if isinstance(t, (list, tuple)) else str(t)
    has_attrs = attrs is not None
    return ItemInfo(n_items, attrs, len(names) if names is not None else 0, title=title,
                    attr_names=names,
                    attr_field=torch.tensor(field, dtype=torch.long) if has_attrs else None,
                    attr_fields=attr_cols if has_attrs else None)


def read_item_info(path: PathLike, columns: Mapping[str, Any] | None = None,
                   item_map: IdMap | None = None, format: str | None = None,
                   sep: str | None = None, attr_sep: str | None = None,
                   skip_values: Sequence[Any] = (), unknown: Unknown = "drop") -> ItemInfo:
    """Read item side information (attributes and titles) for the items of ``item_map``.

    Args:
        path: the file (any :func:`read_table` format).
        columns: ``{"item": column, "attrs": column or list of columns,
            "title": column}``; ``attrs``/``title`` are optional. One ``attrs``
            column holds a list per item (list cell, ``"[a, b]"`` or
            ``attr_sep``-joined string; vocabulary over the values); several
            ``attrs`` columns hold one attribute each (vocabulary over
            ``(column, value)`` pairs, named ``"column=value"``) (default:
            ``{"item": "item_id", "attrs": "attrs"}``).
        item_map: the logs' item map (required): row ``i`` of the result is item ``i``.
        format, sep: as in :func:`read_table`.
        attr_sep: separator of string attribute lists (``None``: whitespace).
        skip_values: attribute values meaning "none" (e.g. ``0`` padding),
            skipped (default: none).
        unknown: rows for items outside ``item_map``: ``"drop"`` (counted in the
            log; catalogues usually list more items than the logs touch) or
            ``"raise"`` (default: ``"drop"``).

    Items without a row get no attributes and an empty title (counted in the log).

    Raises:
        LogError: missing column, empty file, missing item id, duplicate item row.
    """
    if item_map is None:
        raise ValueError("read_item_info needs the logs' item_map")
    item_col = (DEFAULT_ITEM_COLUMNS if columns is None else columns).get("item")
    table = read_table(path, format=format, sep=sep, ids=[item_col])
    return item_info_from_table(table, _name(path), item_map, columns, attr_sep, skip_values,
                                unknown)


# ---- extra relations (your own node types) ---------------------------------------------

def read_relation(path: PathLike, columns: Mapping[str, str], source_map: IdMap | None = None,
                  target_map: IdMap | None = None, format: str | None = None, sep: str | None = None,
                  unknown: Unknown = "raise") -> tuple[Tensor, IdMap, IdMap]:
    """Read the edges of one relation ``(source id, target id)``, e.g. item -> creator.

    Args:
        path: the file (any :func:`read_table` format).
        columns: ``{"source": column, "target": column}``.
        source_map, target_map: id maps of node types the logs already define (users,
            items); an id outside them raises :class:`LogError` naming file, row and
            field (or is dropped with ``unknown="drop"``). ``None``: the node type is
            new and its map is built from this file (first appearance order).
        format, sep: as in :func:`read_table`.
        unknown: ``"raise"`` or ``"drop"`` for ids outside given maps.

    Returns:
        ``(edge_index (2, E) int64, source_map, target_map)``; duplicate rows are kept
        (a relation may be a multigraph; PyG's ``coalesce`` removes them).
    """
    table = read_table(path, format=format, sep=sep, ids=[columns.get("source"), columns.get("target")])
    return relation_from_table(table, _name(path), columns, source_map, target_map, unknown)


def relation_from_table(table: Table, file: str, columns: Mapping[str, str], source_map: IdMap | None = None,
                        target_map: IdMap | None = None, unknown: Unknown = "raise") -> tuple[Tensor, IdMap, IdMap]:
    """:func:`read_relation` on a table already read (``file`` names it in errors)."""
    missing = [k for k in ("source", "target") if k not in columns]
    if missing:
        raise ValueError(f"read_relation({file!r}): columns must name {missing} "
                         f"(our fields -> the file's columns), got {dict(columns)}")
    codes: dict[str, np.ndarray] = {}
    maps: dict[str, IdMap] = {}
    for end, id_map in (("source", source_map), ("target", target_map)):
        values = _column(table, end, columns, file)
        maps[end], codes[end] = _ids(values, id_map, file, columns[end], np.arange(1, len(values) + 1), unknown)
    keep = (codes["source"] >= 0) & (codes["target"] >= 0)
    if not keep.all():
        log.info("%s: dropped %d rows with ids outside the logs", file, int((~keep).sum()))
    edge_index = torch.from_numpy(np.stack([codes["source"][keep], codes["target"][keep]]).astype(np.int64))
    return edge_index, maps["source"], maps["target"]


__all__ = [
    "read_relation", "relation_from_table", "FORMATS", "TIME_UNITS", "infer_format", "open_text", "read_bytes",
    "read_text",
    "decode_text", "raw_name", "read_table", "read_int_lines",
    "exact_ids", "encode_ids", "parse_tokens", "encode_queries",
    "read_rec_log", "rec_log_from_table", "read_search_log", "search_log_from_table",
    "read_item_info", "item_info_from_table",
]
