"""KuaiSAR: unified search and recommendation logs from Kuaishou.

Sun et al., "KuaiSAR: A Unified Search And Recommendation Dataset", CIKM'23,
`arXiv:2306.07705 <https://arxiv.org/abs/2306.07705>`_. License CC BY-NC-SA 4.0.

Two readers:

* :class:`KuaiSARRec` -- the recommendation-side subset "KuaiSAR-R" shipped by
  the AAAI'25 MRFF repository (``root/kuaisar_rec_mrff/``: ``df.csv``,
  ``user_features.csv``, ``video_features.csv``, each may be ``.gz``). There are
  **no search logs** in it, and its remapped ids cannot be joined with the full
  release.
* :class:`KuaiSAR` -- the full release from Zenodo (``root/kuaisar/``:
  ``rec_inter.csv``, ``src_inter.csv``, optionally ``item_features.csv`` and
  ``user_features.csv``).

Schema of the full release, as documented on the KuaiSAR project page
(Ethan00Si/KuaiSAR, "Data Descriptions"):

* ``rec_inter.csv``: ``user_id, item_id, playing_time, duration_ms, time``
  (human-readable), ``timestamp`` (Unix ms, float), ``click, forward, like, follow,
  search, search_item_related``.
* ``src_inter.csv``: ``user_id, search_session_id, search_session_time,
  search_session_timestamp`` (Unix ms), ``keyword`` (anonymised token-id list
  such as ``[20, 34, 3]``), ``search_source, item_id`` (item shown),
  ``click_cnt`` (clicks on the shown item), ``item_type``.
* ``user_features.csv``: ``user_id, search_active_level, rec_active_level,
  onehot_feat1, onehot_feat2``.
* ``item_features.csv``: ``item_id, caption`` (token-id list), ``author_id,
  item_type, upload_time, upload_type, {first,second,third,fourth}_level_category_id``
  (+ ``_name``, ``_name_en``).
"""
from __future__ import annotations

import logging
import os.path as osp
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from graphrec.data.covariates import one_hot_features
from graphrec.data.datasets.base import RecDataset, find_raw
from graphrec.data.io import (
    TIME_UNITS,
    encode_ids,
    item_info_from_table,
    parse_tokens,
    raw_name,
    read_table,
    rec_log_from_table,
    search_log_from_table,
)
from graphrec.data.logs import BehaviourLogs, IdMap, ImpressionLog, LogError
from graphrec.data.split import SPLITTERS, Split

log = logging.getLogger("graphrec.data")

SplitName = Literal["leave_one_out", "temporal", "ratio"]

#: the MRFF subset's video columns that are category codes (used as attributes)
MRFF_CATEGORY_COLUMNS = ("first_level_category_name", "second_level_category_name",
                         "third_level_category_name", "fourth_level_category_name")
#: all code columns of the MRFF subset's video table (kept as ``item.features``)
MRFF_VIDEO_COLUMNS = ("item_type", "upload_type") + MRFF_CATEGORY_COLUMNS
#: category id columns of the full release's item table
CATEGORY_ID_COLUMNS = ("first_level_category_id", "second_level_category_id",
                       "third_level_category_id", "fourth_level_category_id")


def user_feature_matrix(path: str, user_map: IdMap,
                        columns: Sequence[str] | None = None) -> tuple[Tensor, list[str]]:
    """A ``(num_users, F)`` int64 matrix of integer user features (``-1`` for users
    without a row); ``columns`` defaults to every column except ``user_id``."""
    table = read_table(path)
    if "user_id" not in table:
        raise LogError(f"column not found; available columns: {list(table)}", path, 0, "user_id")
    cols = [c for c in (columns or table) if c != "user_id"]
    for c in cols:
        if c not in table:
            raise LogError(f"column not found; available columns: {list(table)}", path, 0, c)
        if table[c].dtype.kind not in "iu":
            bad = next(r for r, v in enumerate(table[c].tolist()) if not isinstance(v, int))
            raise LogError("user feature must be an integer code", path, bad + 1, c,
                           table[c][bad])
    codes = encode_ids(table["user_id"], user_map, path, "user_id", unknown="drop")
    known = codes >= 0
    if not known.all():
        log.info("%s: ignored %d row(s) of users outside the logs", path, int((~known).sum()))
    out = torch.full((len(user_map), len(cols)), -1, dtype=torch.long)
    if cols:
        mat = np.stack([table[c][known] for c in cols], axis=1).astype(np.int64)
        out[torch.from_numpy(codes[known])] = torch.from_numpy(mat)
    missing = len(user_map) - len(np.unique(codes[known]))
    if missing:
        log.info("%s: %d user(s) have no feature row (filled with -1)", path, missing)
    return out, cols


def read_kuaisar_rec(raw_dir: str) -> BehaviourLogs:
    """Parse the MRFF "KuaiSAR-R" subset (recommendation side only).

    Clicked impressions (``is_click == 1``) are the interactions; the non-clicks
    are dropped (counted in the log and in ``meta``). The id space is every user
    and video of ``df.csv`` (1,791 users, 69,704 videos), ordered by raw id, so
    index = raw id for this already 0-based subset. Times are seconds (float).
    """
    df_path = find_raw(raw_dir, "df.csv")
    table = read_table(df_path, columns=["user_id", "video_id", "timestamp", "is_click"])
    user_map = IdMap(np.unique(table["user_id"]))
    item_map = IdMap(np.unique(table["video_id"]))
    rec, _, _ = rec_log_from_table(
        table, df_path, {"user": "user_id", "item": "video_id", "time": "timestamp"},
        user_map, item_map, filter={"is_click": 1}, time_unit="ms")
    n_imp = len(table["user_id"])
    log.info("%s: %d clicks kept as interactions, %d non-click impressions dropped",
             df_path, len(rec), n_imp - len(rec))

    meta: dict[str, Any] = {"time_unit": "s", "source": "MRFF KuaiSAR-R (rec side only)",
                            "impressions": n_imp, "clicks": len(rec)}
    extras: dict[str, Tensor] = {}
    vf_path = find_raw(raw_dir, "video_features.csv")
    vf = read_table(vf_path, columns=["video_id", *MRFF_VIDEO_COLUMNS])
    items = item_info_from_table(vf, vf_path, item_map,
                                 {"item": "video_id", "attrs": list(MRFF_CATEGORY_COLUMNS)})
    feats = torch.full((len(item_map), len(MRFF_VIDEO_COLUMNS)), -1, dtype=torch.long)
    codes = encode_ids(vf["video_id"], item_map, vf_path, "video_id", unknown="drop")
    ok = codes >= 0
    feats[torch.from_numpy(codes[ok])] = torch.from_numpy(
        np.stack([vf[c][ok] for c in MRFF_VIDEO_COLUMNS], axis=1).astype(np.int64))
    extras["item.features"] = feats
    meta["item_features"] = ",".join(MRFF_VIDEO_COLUMNS)

    uf_path = find_raw(raw_dir, "user_features.csv")
    extras["user.features"], ucols = user_feature_matrix(uf_path, user_map)
    extras["user.x"] = one_hot_features(extras["user.features"])
    meta["user_features"] = ",".join(ucols)
    impressions = ImpressionLog(encode_ids(table["user_id"], user_map, df_path, "user_id"),
                                encode_ids(table["video_id"], item_map, df_path, "video_id"),
                                table["timestamp"].astype(np.float64) * TIME_UNITS["ms"],
                                len(user_map), len(item_map), source=df_path, clicked=table["is_click"] == 1)
    return BehaviourLogs(rec, items=items, user_map=user_map, item_map=item_map,
                         name="kuaisar-rec", meta=meta, extras=extras, impressions=impressions)


def read_kuaisar(raw_dir: str) -> BehaviourLogs:
    """Parse the full KuaiSAR release (search and recommendation).

    Recommendation interactions are ``rec_inter`` rows with ``click == 1``
    (time: ``timestamp``, ms); search interactions are ``src_inter`` rows with
    ``click_cnt > 0`` (query: ``keyword`` token ids; time:
    ``search_session_timestamp``, ms). Users and items are those of either kind of
    interaction, in order of first appearance (recommendation first). Search rows
    with an empty keyword list are dropped and counted.
    """
    rec_path = find_raw(raw_dir, "rec_inter.csv")
    src_path = find_raw(raw_dir, "src_inter.csv")
    rec_t = read_table(rec_path, ids=("user_id", "item_id"))
    src_t = read_table(src_path, ids=("user_id", "item_id"))
    for path, t, cols in ((rec_path, rec_t, ("user_id", "item_id", "timestamp", "click")),
                          (src_path, src_t, ("user_id", "item_id", "keyword", "click_cnt",
                                             "search_session_timestamp"))):
        for c in cols:
            if c not in t:
                raise LogError(f"column not found; available columns: {list(t)}", path, 0, c)
    rec_keep = rec_t["click"] == 1
    src_keep = _positive(src_t["click_cnt"], src_path)
    user_map, _ = IdMap.build(np.concatenate([rec_t["user_id"][rec_keep],
                                              src_t["user_id"][src_keep]]))
    item_map, _ = IdMap.build(np.concatenate([rec_t["item_id"][rec_keep],
                                              src_t["item_id"][src_keep]]))
    rec, _, _ = rec_log_from_table(rec_t, rec_path,
                                   {"user": "user_id", "item": "item_id", "time": "timestamp"},
                                   user_map, item_map, filter=lambda t: rec_keep, time_unit="ms")
    search = search_log_from_table(
        src_t, src_path, {"user": "user_id", "query": "keyword", "item": "item_id",
                          "time": "search_session_timestamp"},
        user_map, item_map, query_format="tokens", token_sep=",",
        filter=lambda t: src_keep, time_unit="ms", empty_query="drop")
    meta: dict[str, Any] = {"time_unit": "s", "source": "KuaiSAR (Zenodo 8181109)",
                            "rec_impressions": len(rec_keep), "search_impressions": len(src_keep)}
    extras: dict[str, Tensor] = {}
    items = None
    item_path = osp.join(raw_dir, raw_name(raw_dir, "item_features.csv"))
    if osp.exists(item_path):
        it = read_table(item_path)
        attr_cols = [c for c in CATEGORY_ID_COLUMNS if c in it]
        columns: dict[str, Any] = {"item": "item_id", "attrs": attr_cols}
        if "caption" in it:
            captions = []
            for r, v in enumerate(it["caption"].tolist(), start=1):
                try:
                    captions.append(" ".join(parse_tokens(v, ",")))
                except ValueError as exc:  # a malformed "[...]" token list
                    raise LogError(str(exc), item_path, r, "caption", v) from None
            it["caption"] = np.asarray(captions, dtype=object)
            columns["title"] = "caption"
        # category id 0 is the "empty" category (name "空") in the release
        items = item_info_from_table(it, item_path, item_map, columns, skip_values=(0,))
    user_path = osp.join(raw_dir, raw_name(raw_dir, "user_features.csv"))
    if osp.exists(user_path):
        extras["user.features"], ucols = user_feature_matrix(user_path, user_map)
        extras["user.x"] = one_hot_features(extras["user.features"])
        meta["user_features"] = ",".join(ucols)
    return BehaviourLogs(rec, search=search, items=items, user_map=user_map, item_map=item_map,
                         name="kuaisar", meta=meta, extras=extras)


def _positive(values: np.ndarray, path: str) -> np.ndarray:
    if values.dtype.kind not in "iuf":
        bad = next(r for r, v in enumerate(values.tolist())
                   if not isinstance(v, (int, float)))
        raise LogError("click count is not numeric", path, bad + 1, "click_cnt", values[bad])
    return np.nan_to_num(values.astype(np.float64), nan=0.0) > 0


class _KuaiSARBase(RecDataset):
    def __init__(self, root: str | None = None, split: SplitName = "leave_one_out", *,
                 cache_dir: str | None = None, force_reload: bool = False,
                 transform: Callable | None = None) -> None:
        if split not in SPLITTERS:
            raise ValueError(f"split must be one of {sorted(SPLITTERS)}, got {split!r}")
        self.split = split
        super().__init__(root, cache_dir=cache_dir, force_reload=force_reload,
                         transform=transform)

    def params(self) -> dict[str, Any]:
        return {"split": self.split}

    def make_split(self, logs: BehaviourLogs) -> Split:
        return SPLITTERS[self.split](logs)


class KuaiSARRec(_KuaiSARBase):
    r"""KuaiSAR's recommendation side, the MRFF "KuaiSAR-R" subset: 1,791 users,
    69,704 videos, 117,590 impressions of which 60,451 clicks (the interactions).

    Items carry the four category-code columns as attributes (vocabulary over
    ``(column, value)`` pairs, one attribute field per column:
    ``data.attr_fields`` are the column names, ``data['attr'].field`` each
    attribute's column); ``data['item'].features`` holds all six video code
    columns and ``data['user'].features`` the four user feature columns.

    Node features: ``data['user'].x`` is the one-hot encoding (float) of the four
    user code columns side by side. Every KuaiSAR feature is a categorical code,
    so items get no ``x`` (their codes are the attribute nodes and
    ``data['item'].features``); queries and attributes have none either.

    Exposure: ``logs.impressions`` holds every recommendation impression (clicked or not),
    for the causal analyses (exposure per active day, click rate), and the graph each
    user's training-visible ones (:func:`~graphrec.data.hetero.visible_impressions`).

    Args:
        root: folder holding ``kuaisar_rec_mrff/`` (``GRAPHREC_DATA`` when ``None``).
        split: ``"leave_one_out"``, ``"temporal"`` or ``"ratio"`` (default:
            ``"leave_one_out"``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.
    """

    raw_folder: ClassVar[str] = "kuaisar_rec_mrff"
    source_url: ClassVar[str] = ("https://github.com/Zhangcx19/AAAI-25-MRFF (dataset/KuaiSAR-R/"
                                 "{df,user_features,video_features}.csv)")
    names: ClassVar[tuple[str, ...]] = ("kuaisar-rec",)

    @property
    def raw_file_names(self) -> list[str]:
        return [raw_name(self.raw_dir, f) for f in
                ("df.csv", "user_features.csv", "video_features.csv")]

    def load_logs(self) -> BehaviourLogs:
        return read_kuaisar_rec(self.raw_dir)


class KuaiSAR(_KuaiSARBase):
    r"""The full KuaiSAR release (search + recommendation), for users who hold it.

    Recommendation interactions: ``rec_inter.csv`` rows with ``click == 1``.
    Search interactions: ``src_inter.csv`` rows with ``click_cnt > 0`` (the
    shown item was clicked), the query being the anonymised ``keyword`` token
    list. Optional ``item_features.csv`` gives category-id attributes (id 0, the
    empty category, skipped; one attribute field per category level) and captions
    as title text; optional ``user_features.csv`` gives ``data['user'].features``
    (integer codes) and ``data['user'].x``, their one-hot encoding (float). No
    other node type has ``x``: the release has no dense features.

    Args:
        root: folder holding ``kuaisar/`` (``GRAPHREC_DATA`` when ``None``).
        split: ``"leave_one_out"``, ``"temporal"`` or ``"ratio"`` (default:
            ``"leave_one_out"``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.
    """

    raw_folder: ClassVar[str] = "kuaisar"
    source_url: ClassVar[str] = ("https://zenodo.org/record/8181109 (KuaiSAR_v2.zip: "
                                 "rec_inter.csv, src_inter.csv, item_features.csv, "
                                 "user_features.csv)")
    names: ClassVar[tuple[str, ...]] = ("kuaisar",)

    @property
    def raw_file_names(self) -> list[str]:
        return [raw_name(self.raw_dir, f) for f in ("rec_inter.csv", "src_inter.csv")]

    def load_logs(self) -> BehaviourLogs:
        return read_kuaisar(self.raw_dir)


__all__ = ["KuaiSARRec", "KuaiSAR", "read_kuaisar_rec", "read_kuaisar", "user_feature_matrix",
           "one_hot_features"]
