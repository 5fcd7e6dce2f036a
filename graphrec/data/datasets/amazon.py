"""Amazon Beauty / Sports_and_Outdoors / Toys_and_Games, 5-core sequential.

The S3-Rec preprocessing of the Amazon review data (McAuley et al., SIGIR'15;
Zhou et al., CIKM'20 `arXiv:2008.07873 <https://arxiv.org/abs/2008.07873>`_), reused
by ICLRec, DuoRec, CoSeRec and IDCLRec.

Raw files in ``root/amazon_seq/``:

* ``<Name>.txt`` (or ``.txt.gz``): one user per line, ``user item item ...``,
  1-based contiguous ids, items in chronological order, **no timestamps**.
* ``<Name>_item2attributes.json``: ``{"item_id": [attr_id, ...]}``, 1-based
  attribute ids (the item's category strings and brand; names not shipped).

Times are the ordinal position within the user's line (``meta["time_unit"] ==
"ordinal"``), so leave-one-out holds out exactly the file's last two items.
Indices are 0-based: index ``i`` is raw id ``i + 1`` for users, items and
attributes; the id maps keep the raw ids.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from graphrec.data.datasets.base import RecDataset, find_raw
from graphrec.data.io import open_text, raw_name, read_int_lines
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
                    with_attributes: bool = True) -> BehaviourLogs:
    """Parse an S3-Rec Amazon sequence file (+ its attribute file) into logs.

    Args:
        raw_dir: folder holding ``<Name>.txt[.gz]`` and ``<Name>_item2attributes.json``.
        name: ``"beauty"``, ``"sports"``, ``"toys"`` (or the file stem) (default:
            ``"beauty"``).
        with_attributes: read the attribute file into ``logs.items``; when ``True``
            and the file is missing, raises :class:`FileNotFoundError` (default:
            ``True``).

    Returns:
        :class:`BehaviourLogs` with ``rec`` (ordinal times), ``items`` (0-based
        attribute ids, ``num_attrs`` = largest raw attribute id), and id maps of
        the raw (1-based) ids.
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


class AmazonSeq(RecDataset):
    r"""Amazon Beauty, Sports_and_Outdoors or Toys_and_Games (S3-Rec 5-core
    sequences with item attributes), split leave-one-out.

    Statistics: Beauty 22,363 users / 12,101 items / 198,502 interactions;
    Sports 35,598 / 18,357 / 296,337; Toys 19,412 / 11,924 / 167,597.

    Args:
        root: folder holding ``amazon_seq/`` (``GRAPHREC_DATA`` when ``None``).
        name: ``"beauty"``, ``"sports"`` or ``"toys"`` (default: ``"beauty"``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.

    Example:
        >>> ds = AmazonSeq("/data", name="beauty")
        >>> data = ds[0]   # HeteroData with user/item/attr nodes
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

    def load_logs(self) -> BehaviourLogs:
        return read_amazon_seq(self.raw_dir, self.name)

    def make_split(self, logs: BehaviourLogs) -> Split:
        return leave_one_out(logs)


__all__ = ["AmazonSeq", "read_amazon_seq", "AMAZON_FILES"]
