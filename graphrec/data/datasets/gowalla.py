"""Gowalla check-ins in the NGCF/LightGCN split.

Gowalla (Cho et al., KDD'11; SNAP ``loc-gowalla``) as preprocessed for LightGCN
(He et al., SIGIR'20, `arXiv:2002.02126 <https://arxiv.org/abs/2002.02126>`_), with
the validation part carved out of LightGCN's ``train.txt`` by LightGCN++.

Raw files in ``root/gowalla/``: ``train.txt``, ``valid.txt``, ``test.txt`` (each
may be ``.gz``), one user per line ``user item item ...`` with 0-based remapped
ids and no timestamps; optionally ``user_list.txt`` / ``item_list.txt``
(``org_id remap_id`` with a header) whose original ids then become the raw ids
of the id maps (otherwise the remapped ids are the raw ids).

All times are 0 (``meta["time_unit"] == "none"``): the split comes from the
files, not from time.
"""
from __future__ import annotations

import logging
import os.path as osp
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from graphrec.data.datasets.base import RecDataset, find_raw
from graphrec.data.io import raw_name, read_int_lines, read_table
from graphrec.data.logs import BehaviourLogs, IdMap, LogError, RecLog
from graphrec.data.split import TEST, TRAIN, VALID, Split, given_split

log = logging.getLogger("graphrec.data")

Protocol = Literal["lightgcn", "holdout"]
PARTS = ("train", "valid", "test")
#: a max id of at least max(MAX_ID_FACTOR x distinct ids, MIN_ID_LIMIT) is an error
MAX_ID_FACTOR = 100
MIN_ID_LIMIT = 1 << 20


def _read_list(path: str, n: int, what: str) -> IdMap:
    """Original ids ordered by remapped id from a ``org_id remap_id`` file."""
    table = read_table(path, format="csv", sep=" ", columns=["org_id", "remap_id"])
    remap = table["remap_id"]
    if len(remap) != n or not np.array_equal(np.sort(remap), np.arange(n)):
        raise LogError(f"remap_id must be a permutation of 0..{n - 1} ({n} {what}s in the "
                       f"interaction files), found {len(remap)} rows", path, None, "remap_id")
    raw = np.empty(n, dtype=table["org_id"].dtype)
    raw[remap] = table["org_id"]
    return IdMap(raw)


def read_gowalla(raw_dir: str) -> tuple[BehaviourLogs, torch.Tensor]:
    """Parse the three LightGCN files into one log.

    Returns:
        ``(logs, part)``: the logs (rows of train, then valid, then test) and each
        row's file as ``TRAIN``/``VALID``/``TEST`` codes.
    """
    users, items, parts, paths = [], [], [], []
    for code, part in zip((TRAIN, VALID, TEST), PARTS):
        path = find_raw(raw_dir, f"{part}.txt")
        # ids are 0-based: a negative one is reported on its own line of its own file
        try:
            heads, ptr, values = read_int_lines(path, "user", "item", min_value=0)
        except LogError as exc:
            if isinstance(exc.value, int) and exc.value < 0:
                raise LogError("ids must be 0-based non-negative integers", exc.file, exc.row,
                               exc.field, exc.value) from None
            raise
        users.append(np.repeat(heads, np.diff(ptr)))
        items.append(values)
        parts.append(np.full(len(values), code, dtype=np.int64))
        paths.append(path)
    user = np.concatenate(users)
    item = np.concatenate(items)
    # the index space is dense (0..max id): refuse a max id far beyond the number of
    # distinct ids before allocating anything (an id of 2**40 would ask for 8 TiB)
    for name, ids in (("user", user), ("item", item)):
        if not ids.size:
            continue
        distinct = len(np.unique(ids))
        limit = max(MAX_ID_FACTOR * distinct, MIN_ID_LIMIT)
        if int(ids.max()) >= limit:
            bounds = {"max_head": limit - 1} if name == "user" else {"max_value": limit - 1}
            for path in paths:
                try:
                    read_int_lines(path, "user", "item", min_value=0, **bounds)
                except LogError as exc:
                    raise LogError(
                        f"{name} id {exc.value} is too large: ids index a dense 0-based table "
                        f"of max id + 1 rows, and there are only {distinct} distinct {name} "
                        f"ids (the limit is max({MAX_ID_FACTOR} x distinct, {MIN_ID_LIMIT}) - 1 "
                        f"= {limit - 1}); remap the ids to 0..n-1", exc.file, exc.row, exc.field,
                        exc.value) from None
    num_users = int(user.max()) + 1 if user.size else 0
    num_items = int(item.max()) + 1 if item.size else 0
    maps: dict[str, IdMap] = {}
    for what, n in (("user", num_users), ("item", num_items)):
        list_path = osp.join(raw_dir, f"{what}_list.txt")
        maps[what] = _read_list(list_path, n, what) if osp.exists(list_path) else IdMap.identity(n)
    rec = RecLog(torch.from_numpy(user), torch.from_numpy(item),
                 torch.zeros(len(user), dtype=torch.float64), num_users, num_items,
                 source=osp.join(raw_dir, "{train,valid,test}.txt"))
    counts = {p: int((np.concatenate(parts) == c).sum()) for c, p in enumerate(PARTS)}
    meta: dict[str, Any] = {"time_unit": "none", "source": "LightGCN/LightGCN++ gowalla",
                            **{f"{p}_rows": n for p, n in counts.items()}}
    logs = BehaviourLogs(rec, user_map=maps["user"], item_map=maps["item"], name="gowalla",
                         meta=meta)
    return logs, torch.from_numpy(np.concatenate(parts))


class Gowalla(RecDataset):
    r"""Gowalla check-ins with LightGCN's split (29,858 users, 40,981 items;
    train 719,081 / valid 91,047 / test 217,242 interactions).

    Args:
        root: folder holding ``gowalla/`` (``GRAPHREC_DATA`` when ``None``).
        protocol: ``"lightgcn"``: the official LightGCN protocol, train =
            ``train.txt`` :math:`\cup` ``valid.txt``, test = ``test.txt``, and **no
            validation rows** -- train a fixed number of epochs with early
            stopping off, as the paper does. ``"holdout"``: train = ``train.txt``,
            valid = ``valid.txt``, test = ``test.txt`` (for tuning and early
            stopping; not comparable to published LightGCN numbers)
            (default: ``"lightgcn"``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.
    """

    raw_folder: ClassVar[str] = "gowalla"
    source_url: ClassVar[str] = ("https://github.com/geon0325/LightGCNpp (data/gowalla/"
                                 "{train,valid,test}.txt) and https://github.com/kuandeng/LightGCN "
                                 "(Data/gowalla/{user_list,item_list}.txt)")
    names: ClassVar[tuple[str, ...]] = ("gowalla",)

    def __init__(self, root: str | None = None, protocol: Protocol = "lightgcn", *,
                 cache_dir: str | None = None, force_reload: bool = False,
                 transform: Callable | None = None) -> None:
        if protocol not in ("lightgcn", "holdout"):
            raise ValueError(f"protocol must be 'lightgcn' or 'holdout', got {protocol!r}")
        self.protocol = protocol
        self._parts: torch.Tensor | None = None
        super().__init__(root, cache_dir=cache_dir, force_reload=force_reload,
                         transform=transform)

    def params(self) -> dict[str, Any]:
        return {"protocol": self.protocol}

    @property
    def raw_file_names(self) -> list[str]:
        return [raw_name(self.raw_dir, f"{p}.txt") for p in PARTS]

    def load_logs(self) -> BehaviourLogs:
        logs, self._parts = read_gowalla(self.raw_dir)
        logs.meta["protocol"] = self.protocol
        return logs

    @property
    def parts(self) -> torch.Tensor:
        """Each row's source file (``TRAIN``/``VALID``/``TEST`` codes)."""
        if self._parts is None:
            self._logs = self.load_logs()
        assert self._parts is not None
        return self._parts

    def make_split(self, logs: BehaviourLogs) -> Split:
        labels = self.parts.clone()
        if self.protocol == "lightgcn":
            labels[labels == VALID] = TRAIN
        return given_split(logs, labels, protocol=f"given:{self.protocol}")


__all__ = ["Gowalla", "read_gowalla"]
