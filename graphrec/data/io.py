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

Only the standard library and numpy are needed for CSV, TSV and JSONL; Parquet
needs ``pyarrow`` (``pip install graphrec[parquet]``). pandas is not used.

Example:
    >>> rec, users, items = read_rec_log(
    ...     "clicks.csv", columns={"user": "user_id", "item": "item_id", "time": "ts"})
    >>> search = read_search_log(
    ...     "search.jsonl", columns={"user": "uid", "query": "q", "item": "iid", "time": "ts"},
    ...     user_map=users, item_map=items)
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np
import torch

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


def open_text(path: PathLike) -> io.TextIOBase:
    """Open a text file for reading, transparently gunzipping ``*.gz`` (BOM-tolerant)."""
    if _name(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")  # type: ignore[return-value]
    return open(path, encoding="utf-8-sig", newline="")


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


def _infer_column(values: Sequence[Any]) -> np.ndarray:
    """Typed column: int64 if every value is an integer, float64 if every value is a
    number or missing, otherwise an object array of the original values."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    if len(arr) == 0:
        return arr
    types = {type(v) for v in arr.tolist()}
    if types - {str}:  # native JSON values: decide by type, never truncate floats
        if types <= {int}:
            return arr.astype(np.int64)
        if types <= {int, float, type(None)} and types & {int, float}:
            return np.array([np.nan if v is None else v for v in arr.tolist()], dtype=np.float64)
        return arr
    if any("_" in v for v in arr.tolist()):  # Python's int()/float() accept "1_000"
        return arr
    try:
        return arr.astype(np.int64)
    except (ValueError, TypeError, OverflowError):
        pass
    try:
        missing = _is_missing(arr)
        filled = arr.copy()
        filled[missing] = "nan"
        out = filled.astype(np.float64)
        if not missing.all():
            return out
    except (ValueError, TypeError, OverflowError):
        pass
    return arr


def _read_delimited(path: PathLike, sep: str, quoting: int) -> Table:
    file = _name(path)
    limit = sys.maxsize
    while True:  # raise the csv field limit (long list fields) portably
        try:
            csv.field_size_limit(limit)
            break
        except OverflowError:
            limit //= 10
    with open_text(path) as fh:
        text = fh.read()
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
    header = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for pos, h in enumerate(header):
        if h in seen:
            raise LogError(f"duplicate column name in the header (columns {seen[h] + 1} and "
                           f"{pos + 1})", file, 0, h)
        seen[h] = pos
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
    if not rows:
        return {h: np.empty(0, dtype=object) for h in header}
    cols = list(zip(*rows))
    return {h: _infer_column(c) for h, c in zip(header, cols)}


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


def _read_jsonl(path: PathLike) -> Table:
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
    return {k: _infer_column([rec[k] for rec in records]) for k in keys}


def _read_parquet(path: PathLike, columns: Sequence[str] | None) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading Parquet files needs 'pyarrow'; install it with "
                          "`pip install graphrec[parquet]`") from exc
    file = _name(path)
    schema = pq.read_schema(path)
    names = list(schema.names)
    seen: set[str] = set()
    for h in names:
        if h in seen:
            raise LogError("duplicate column name in the schema", file, 0, h)
        seen.add(h)
    if columns is not None:
        _check_columns(names, columns, file)
    table = pq.read_table(path, columns=list(columns) if columns is not None else None)
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
               columns: Sequence[str] | None = None, sep: str | None = None) -> Table:
    """Read a table into ``{column: numpy array}``.

    Columns are typed by inference: int64 when every value is an integer,
    float64 when every value is a number or missing (missing -> NaN), otherwise an
    object array (strings, lists from JSONL/Parquet).

    Args:
        path: the file; ``*.gz`` CSV/TSV/JSONL are decompressed on the fly.
        format: ``"csv"``, ``"tsv"``, ``"jsonl"`` or ``"parquet"``; inferred from
            the extension when ``None`` (default: ``None``).
        columns: keep only these columns, in this order; a missing one raises
            :class:`LogError` listing the available columns (default: all).
        sep: field separator for delimited text, overriding the format's
            (``","`` for CSV, tab for TSV) (default: ``None``).

    Raises:
        LogError: empty file, duplicate header names, a row with the wrong number
            of fields, malformed JSON, a missing column. Row numbers are 1-based
            data rows (0 = the header).
    """
    file = _name(path)
    if not os.path.exists(file):
        raise FileNotFoundError(f"'{file}' does not exist")
    fmt = (format or infer_format(path)).lower()
    if fmt == "parquet":
        return _read_parquet(path, columns)
    if fmt in ("csv", "tsv"):
        delim = sep if sep is not None else ("," if fmt == "csv" else "\t")
        # TSV (IANA text/tab-separated-values) has no quoting; CSV follows RFC 4180.
        table = _read_delimited(path, delim, csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE)
    elif fmt == "jsonl":
        table = _read_jsonl(path)
    else:
        raise ValueError(f"unknown table format {format!r}; expected one of "
                         f"{sorted(set(FORMATS.values()))}")
    if columns is not None:
        _check_columns(list(table), columns, file)
        table = {c: table[c] for c in columns}
    return table


def read_int_lines(path: PathLike, head_field: str = "user",
                   value_field: str = "item") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a whitespace-separated integer file of lines ``head v1 v2 ...``.

    The layout of the Amazon sequence files and LightGCN's ``train.txt``.
    Parsing is vectorised (one numpy conversion for the whole file). Blank lines
    are skipped; a line with only a head has no values.

    Returns:
        ``(heads, ptr, values)``: the first number of every non-blank line, and
        the rest as CSR (``values[ptr[r]:ptr[r + 1]]`` belongs to line ``r``).

    Raises:
        LogError: a token that is not an integer (row = 1-based line number).
    """
    file = _name(path)
    with open_text(path) as fh:
        text = fh.read()
    lines = text.splitlines()
    counts = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    if counts.sum() == 0:
        raise LogError("the file is empty", file, 0)
    tokens = text.split()
    try:
        flat = np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        for r, line in enumerate(lines, start=1):
            for k, tok in enumerate(line.split()):
                try:
                    int(tok)
                except ValueError:
                    raise LogError(f"token {k + 1} is not an integer", file, r,
                                   head_field if k == 0 else value_field, tok) from None
        raise
    counts = counts[counts > 0]
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    heads = flat[starts]
    mask = np.ones(len(flat), dtype=bool)
    mask[starts] = False
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts - 1, out=ptr[1:])
    return heads, ptr, flat[mask]


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
    if values.dtype.kind in "iuf":
        out = values.astype(np.float64)
    else:
        out = np.empty(len(values), dtype=np.float64)
        for r, v in enumerate(values.tolist()):
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


def encode_ids(values: np.ndarray, id_map: IdMap, file: str, field: str,
               rows: np.ndarray | None = None, unknown: Unknown = "raise") -> np.ndarray:
    """Indices of raw ids under ``id_map`` (vectorised), ``-1`` for unknown ids when
    ``unknown="drop"``; with ``"raise"`` an unknown id raises :class:`LogError`
    naming its row (1-based, or ``rows[r]`` when given)."""
    rows = np.arange(1, len(values) + 1) if rows is None else rows
    raw = id_map.raw
    codes: np.ndarray
    try:
        if len(raw) == 0:
            codes = np.full(len(values), -1, dtype=np.int64)
        else:
            order = np.argsort(raw, kind="stable")
            sorted_raw = raw[order]
            pos = np.searchsorted(sorted_raw, values)
            pos_c = np.clip(pos, 0, len(raw) - 1)
            found = sorted_raw[pos_c] == values
            codes = np.where(found, order[pos_c], -1).astype(np.int64)
    except TypeError:  # incomparable raw id types: look up one by one
        codes = np.fromiter(
            (int(id_map.lookup([v])[0]) if v in id_map else -1 for v in values.tolist()),
            dtype=np.int64, count=len(values))
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
    if id_map is None:
        return IdMap.build(values)
    return id_map, encode_ids(values, id_map, file, field, rows, unknown)


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
    table = read_table(path, format=format, sep=sep)
    return rec_log_from_table(table, _name(path), cols, user_map, item_map, filter,
                              time_unit, unknown)


# ---- search log ----------------------------------------------------------------------

DEFAULT_SEARCH_COLUMNS: dict[str, str] = {"user": "user_id", "query": "query", "item": "item_id",
                                          "time": "timestamp"}


def parse_tokens(value: Any, token_sep: str | None = " ") -> list[str]:
    """Tokens of one list-valued cell: a list/array, a ``"[1, 2, 3]"`` string, or a
    ``token_sep``-joined string (``None``: any whitespace). Tokens are strings;
    integral floats are written as integers (``3.0`` -> ``"3"``)."""
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
    if len(s) >= 2 and s[0] == "[" and s[-1] == "]":
        return [t.strip().strip("'\"") for t in s[1:-1].split(",") if t.strip().strip("'\"")]
    return [t for t in (s.split(token_sep) if token_sep else s.split()) if t]


def encode_queries(values: np.ndarray, query_format: Literal["text", "tokens"] = "text",
                   token_sep: str | None = " ") -> tuple[np.ndarray, Ragged, list[str], IdMap]:
    """Deduplicate raw queries and tokenise them.

    ``"text"`` queries are lower-cased and split on whitespace; ``"tokens"``
    queries are token-id lists (see :func:`parse_tokens`). Queries with the same
    token sequence share one id.

    Returns:
        ``(query_of_row, query_tokens, query_text, word_map)``: the query id of every
        row (``-1`` for an empty query), each distinct query's word ids, its
        normalised text (tokens joined by a space), and the word vocabulary.
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
                toks = parse_tokens(v, token_sep)
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
    queries, tokens, texts, _ = encode_queries(cols["query"], query_format, token_sep)
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
    table = read_table(path, format=format, sep=sep)
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
            for i, v in zip(codes[known].tolist(), values.tolist()):
                if v is None or (isinstance(v, float) and v != v):
                    continue
                for t in parse_tokens(v, attr_sep):
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
    table = read_table(path, format=format, sep=sep)
    return item_info_from_table(table, _name(path), item_map, columns, attr_sep, skip_values,
                                unknown)


__all__ = [
    "FORMATS", "TIME_UNITS", "infer_format", "open_text", "raw_name", "read_table",
    "read_int_lines",
    "encode_ids", "parse_tokens", "encode_queries",
    "read_rec_log", "rec_log_from_table", "read_search_log", "search_log_from_table",
    "read_item_info", "item_info_from_table",
]
