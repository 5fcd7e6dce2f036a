"""Amazon Beauty / Sports_and_Outdoors / Toys_and_Games, 5-core sequential.

The S3-Rec preprocessing of the Amazon review data (McAuley et al., SIGIR'15;
Zhou et al., CIKM'20 `arXiv:2008.07873 <https://arxiv.org/abs/2008.07873>`_), reused
by ICLRec, DuoRec, CoSeRec and IDCLRec.

Raw files in ``root/amazon_seq/``:

* ``<Name>.txt`` (or ``.txt.gz``): one user per line, ``user item item ...``,
  1-based contiguous ids, items in chronological order, **no timestamps**.
* ``<Name>_item2attributes.json``: ``{"item_id": [attr_id, ...]}``, 1-based
  attribute ids (the item's category strings and brand; names not shipped).

Optional item text in ``root/amazon_text/`` (``beauty_items.jsonl.gz``,
``toys_items.jsonl.gz``, ``sports_items.jsonl.gz``; see :func:`read_amazon_text`),
keyed by the same 1-based item ids: titles, category paths and brands (Beauty,
Toys) or title keywords (Sports). When present it lands on ``logs.items``
(``title``, ``category``, ``brand``, ``keywords``) and on the graph, one entry
per item node (``data.item_title`` ...); when absent the dataset loads without text.

Times are the ordinal position within the user's line (``meta["time_unit"] ==
"ordinal"``), so leave-one-out holds out exactly the file's last two items.
Indices are 0-based: index ``i`` is raw id ``i + 1`` for users, items and
attributes; the id maps keep the raw ids.
"""
from __future__ import annotations

import dataclasses
import html
import json
import logging
import os.path as osp
import re
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from graphrec.data.datasets.base import RecDataset, find_raw
from graphrec.data.io import iter_json_objects, open_text, raw_name, read_int_lines
from graphrec.data.logs import BehaviourLogs, IdMap, ItemInfo, LogError, RecLog
from graphrec.data.ragged import Ragged
from graphrec.data.split import Split, leave_one_out

log = logging.getLogger("graphrec.data")

#: CLI name -> file stem
AMAZON_FILES: dict[str, str] = {
    "beauty": "Beauty",
    "sports": "Sports_and_Outdoors",
    "toys": "Toys_and_Games",
}

#: folder under the data root holding the item text
TEXT_FOLDER = "amazon_text"

#: file stem -> (text file in ``root/amazon_text/`` (or its ``.gz``), fields every line must have)
AMAZON_TEXT_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Beauty": ("beauty_items.jsonl", ("title", "categories")),
    "Sports_and_Outdoors": ("sports_items.jsonl", ("keywords",)),
    "Toys_and_Games": ("toys_items.jsonl", ("title", "categories")),
}

_PLACEHOLDER_TITLE = re.compile(r"title_\d+")
_PLACEHOLDER_BRAND = re.compile(r"brand_\d+|unknown", re.IGNORECASE)


def _stem(name: str) -> str:
    key = name.lower().replace("-", "_")
    if key in AMAZON_FILES:
        return AMAZON_FILES[key]
    for stem in AMAZON_FILES.values():
        if stem.lower() == key:
            return stem
    raise ValueError(f"unknown Amazon dataset {name!r}; expected one of {sorted(AMAZON_FILES)}")


def _cli_name(stem: str) -> str:
    return next(k for k, v in AMAZON_FILES.items() if v == stem)


def read_amazon_seq(raw_dir: str, name: str = "beauty",
                    with_attributes: bool = True, text_dir: str | None = None) -> BehaviourLogs:
    """Parse an S3-Rec Amazon sequence file (+ its attribute file and item text) into logs.

    Args:
        raw_dir: folder holding ``<Name>.txt[.gz]`` and ``<Name>_item2attributes.json``.
        name: ``"beauty"``, ``"sports"``, ``"toys"`` (or the file stem) (default:
            ``"beauty"``).
        with_attributes: read the attribute file into ``logs.items``; when ``True``
            and the file is missing, raises :class:`FileNotFoundError` (default:
            ``True``).
        text_dir: folder holding the item text (``root/amazon_text``, see
            :func:`read_amazon_text`); ``None`` = no text. A missing folder or file
            is not an error: the text is absent and a log line says so.
            (default: ``None``)

    Returns:
        :class:`BehaviourLogs` with ``rec`` (ordinal times), ``items`` (0-based
        attribute ids, ``num_attrs`` = largest raw attribute id, and the text fields
        found), and id maps of the raw (1-based) ids. ``meta["item_text"]`` lists the
        text fields read (absent without text).
    """
    stem = _stem(name)
    seq_path = find_raw(raw_dir, f"{stem}.txt")
    users_raw, ptr, items_raw = read_int_lines(seq_path, "user", "item")
    if len(np.unique(users_raw)) != len(users_raw):
        u, c = np.unique(users_raw, return_counts=True)
        dup = int(u[c > 1][0])
        row = int(np.nonzero(users_raw == dup)[0][1]) + 1
        raise LogError("user appears on more than one line", seq_path, row, "user", dup)
    lengths = np.diff(ptr)
    # index order follows raw id order: with contiguous 1..N ids, index = id - 1
    user_map = IdMap(np.sort(users_raw))
    item_map = IdMap(np.unique(items_raw))
    user_idx = np.searchsorted(user_map.raw, users_raw)
    item_idx = np.searchsorted(item_map.raw, items_raw)
    row_user = np.repeat(user_idx, lengths)
    position = np.arange(len(items_raw)) - np.repeat(ptr[:-1], lengths)
    rec = RecLog(torch.from_numpy(row_user), torch.from_numpy(item_idx),
                 torch.from_numpy(position.astype(np.float64)), len(user_map), len(item_map),
                 source=seq_path)

    items: ItemInfo | None = None
    meta: dict[str, Any] = {"time_unit": "ordinal", "source": "S3-Rec amazon_seq",
                            "dataset": stem}
    if with_attributes:
        attr_path = find_raw(raw_dir, f"{stem}_item2attributes.json")
        items = _read_attributes(attr_path, item_map)
        meta["attr_id_offset"] = 1  # raw attribute id = index + 1
    text = _read_text_dir(text_dir, stem, item_map) if text_dir is not None else {}
    if text:
        items = dataclasses.replace(items, **text) if items is not None else ItemInfo(
            len(item_map), **text)
        meta["item_text"] = ",".join(text)
    return BehaviourLogs(rec, items=items, user_map=user_map, item_map=item_map,
                         name=f"amazon-{_cli_name(stem)}", meta=meta)


def _read_attributes(path: str, item_map: IdMap) -> ItemInfo:
    with open_text(path) as fh:
        try:
            table = json.load(fh)
        except json.JSONDecodeError as exc:
            raise LogError(f"invalid JSON: {exc.msg}", path, exc.lineno) from exc
    if not isinstance(table, dict):
        raise LogError("expected a JSON object {item_id: [attr_id, ...]}", path)
    it: list[int] = []
    at: list[int] = []
    unknown = 0
    for key, attrs in table.items():
        try:
            raw = int(key)
        except ValueError:
            raise LogError("item id is not an integer", path, None, "item", key) from None
        if raw not in item_map:
            unknown += 1
            continue
        i = int(item_map.lookup([raw])[0])
        for a in attrs:
            if not isinstance(a, int) or a < 1:
                raise LogError("attribute id must be a positive integer (1-based)", path, None,
                               f"item {key}", a)
            it.append(i)
            at.append(a - 1)
    if unknown:
        log.info(
            "%s: ignored attributes of %d item(s) absent from the sequences", path, unknown)
    values = torch.tensor(at, dtype=torch.long)
    num_attrs = int(values.max()) + 1 if values.numel() else 0
    attrs = Ragged.from_coo(torch.tensor(it, dtype=torch.long), values, len(item_map))
    return ItemInfo(len(item_map), attrs, num_attrs)


def _text(value: Any, path: str, line: int, field: str) -> str:
    """A string field (``null`` -> ``""``), HTML entities unescaped, stripped."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LogError("expected a string or null", path, line, field, value)
    return html.unescape(value).strip()


def read_amazon_text(path: str, item_map: IdMap,
                     required: tuple[str, ...] = ()) -> dict[str, list[Any]]:
    r"""Read an ``amazon_text`` JSONL file (one JSON object per line, optionally gzip).

    Each line holds ``item_id`` (the 1-based id of ``amazon_seq``) and any of
    ``title`` (string or ``null``), ``categories`` (a list of category paths, each a
    list of strings from the root down), ``brand`` (string or ``null``) and
    ``keywords`` (a string or a list of strings); other fields (``asin``) are ignored.
    HTML entities (``&amp;``) are unescaped in every string. Placeholder titles
    ``title_<N>`` count as missing, and so do the brands ``brand_<N>`` and ``Unknown``.

    Args:
        path: the file.
        item_map: the dataset's item map; lines of items absent from it are skipped
            (and counted in a log line).
        required: fields every line must have (``item_id`` always is).

    Returns:
        ``{field: list}`` with one entry per item of ``item_map`` for each field that
        occurs in the file (or is required), named as on
        :class:`~graphrec.data.logs.ItemInfo`: ``title``, ``category``, ``brand``,
        ``keywords``. Items without a line get ``""`` (``[]`` for ``category``).

    Raises:
        LogError: naming the file, the 1-based line (``row``) and the field, for a
            line that is not a JSON object, a missing required field, a value of the
            wrong type, a non-positive or duplicate ``item_id``.
    """
    n = len(item_map)
    fields = {"title": "title", "categories": "category", "brand": "brand", "keywords": "keywords"}
    out: dict[str, list[Any]] = {}
    seen: set[int] = set()
    unknown = placeholders = 0
    for line_no, obj in iter_json_objects(path):
        for name in ("item_id", *required):
            if name not in obj:
                raise LogError(f"missing field (line has: {sorted(obj)})", path, line_no, name)
        raw = obj["item_id"]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise LogError("item_id must be a positive integer (1-based)", path, line_no,
                           "item_id", raw)
        if raw in seen:
            raise LogError("duplicate item_id", path, line_no, "item_id", raw)
        seen.add(raw)
        if raw not in item_map:
            unknown += 1
            continue
        i = int(item_map.lookup([raw])[0])
        for key, name in fields.items():
            if key not in obj:
                continue
            if name not in out:
                out[name] = [[] if name == "category" else "" for _ in range(n)]
            column = out[name]
            value = obj[key]
            if key == "categories":
                value = [] if value is None else value
                if not isinstance(value, list) or not all(
                        isinstance(p, list) and all(isinstance(c, str) for c in p) for p in value):
                    raise LogError("expected a list of category paths (lists of strings)", path,
                                   line_no, key, value)
                column[i] = [[html.unescape(c).strip() for c in p] for p in value if p]
            elif key == "keywords" and isinstance(value, list):
                column[i] = " ".join(_text(v, path, line_no, key) for v in value).strip()
            else:
                text = _text(value, path, line_no, key)
                if key == "title" and _PLACEHOLDER_TITLE.fullmatch(text):
                    placeholders += 1
                    text = ""
                elif key == "brand" and _PLACEHOLDER_BRAND.fullmatch(text):
                    text = ""
                column[i] = text
    for key in required:
        out.setdefault(fields.get(key, key), [[] if key == "categories" else "" for _ in range(n)])
    if unknown:
        log.info("%s: ignored text of %d item(s) absent from the sequences", path, unknown)
    log.info("%s: item text for %d of %d items (%s); %d placeholder title(s) counted as missing",
             path, len(seen) - unknown, n,
             ", ".join(f"{k} {sum(1 for v in vs if v)}" for k, vs in out.items()), placeholders)
    return out


def _read_text_dir(text_dir: str, stem: str, item_map: IdMap) -> dict[str, list[Any]]:
    """The item text of ``stem`` from ``text_dir``, or ``{}`` (with a log line) when the
    folder or the file is absent."""
    file, required = AMAZON_TEXT_FILES[stem]
    if not osp.isdir(text_dir):
        log.info("no item text for %s: folder '%s' not found (titles and categories absent)",
                 stem, text_dir)
        return {}
    try:
        path = find_raw(text_dir, file)
    except FileNotFoundError:
        log.info("no item text for %s: '%s' (or .gz) not found in '%s'", stem, file, text_dir)
        return {}
    return read_amazon_text(path, item_map, required)


class AmazonSeq(RecDataset):
    r"""Amazon Beauty, Sports_and_Outdoors or Toys_and_Games (S3-Rec 5-core
    sequences with item attributes), split leave-one-out.

    Statistics: Beauty 22,363 users / 12,101 items / 198,502 interactions;
    Sports 35,598 / 18,357 / 296,337; Toys 19,412 / 11,924 / 167,597.

    Item text is read from ``root/amazon_text/`` when that folder exists (see
    :func:`read_amazon_text`) and exposed as graph-level python lists with one entry
    per item node: ``data.item_title`` (``""`` = none), ``data.item_category``
    (category paths) and ``data.item_brand`` (``""`` = unknown) for Beauty and Toys
    (Toys has no brand), ``data.item_keywords`` for Sports; the same lists are on
    ``dataset.logs.items`` (``title``, ``category``, ``brand``, ``keywords``).

    No node type has ``x`` (the files hold ids and text, no dense features). The
    attribute file mixes category and brand ids without saying which is which, so
    the attributes form one field (``data.attr_fields == ['attr']``).

    Args:
        root: folder holding ``amazon_seq/`` (``GRAPHREC_DATA`` when ``None``) and,
            optionally, ``amazon_text/``.
        name: ``"beauty"``, ``"sports"`` or ``"toys"`` (default: ``"beauty"``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.

    Example:
        >>> ds = AmazonSeq("/data", name="beauty")
        >>> data = ds[0]   # HeteroData with user/item/attr nodes
        >>> data.item_title[0]
        'OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce'
    """

    raw_folder: ClassVar[str] = "amazon_seq"
    source_url: ClassVar[str] = ("https://github.com/aHuiWang/CIKM2020-S3Rec (data/<Name>.txt, "
                                 "data/<Name>_item2attributes.json)")
    names: ClassVar[tuple[str, ...]] = ("beauty", "sports", "toys")

    def __init__(self, root: str | None = None, name: str = "beauty", *,
                 cache_dir: str | None = None, force_reload: bool = False,
                 transform: Callable | None = None) -> None:
        self.stem = _stem(name)
        self.name = _cli_name(self.stem)
        super().__init__(root, cache_dir=cache_dir, force_reload=force_reload,
                         transform=transform)

    def params(self) -> dict[str, Any]:
        return {"name": self.name}

    @property
    def raw_file_names(self) -> list[str]:
        return [raw_name(self.raw_dir, f"{self.stem}.txt"),
                f"{self.stem}_item2attributes.json"]

    @property
    def text_dir(self) -> str:
        """Where the optional item text is read from: ``root/amazon_text``."""
        return osp.join(self.root, TEXT_FOLDER)

    def optional_raw_paths(self) -> list[str]:
        file = AMAZON_TEXT_FILES[self.stem][0]
        return [osp.join(self.text_dir, file), osp.join(self.text_dir, file + ".gz")]

    def load_logs(self) -> BehaviourLogs:
        return read_amazon_seq(self.raw_dir, self.name, text_dir=self.text_dir)

    def make_split(self, logs: BehaviourLogs) -> Split:
        return leave_one_out(logs)


__all__ = ["AmazonSeq", "read_amazon_seq", "read_amazon_text", "AMAZON_FILES", "AMAZON_TEXT_FILES", "TEXT_FOLDER"]
