"""JDsearch: personalized product search with real queries and full interactions.

Liu et al., "JDsearch: A Personalized Product Search Dataset with Real Queries and
Full Interactions", SIGIR'23 (`rucliujn/JDsearch <https://github.com/rucliujn/JDsearch>`_).
License CC BY-NC-SA 4.0. The official *sample* (3 users) reads as a format fixture;
the full data (JD Cloud Disk) has the same format.

Raw files in ``root/jdsearch_sample/`` (tab-separated, header line):

* ``user_behavior_data_sample.txt``: one row per user with ``query,
  candidate_wid_list, candidate_label_list, history_qry_list, history_wid_list,
  history_type_list, history_time_list``. Lists are joined by ``_``; a query is
  term ids joined by the byte ``\\x18``; ``-1`` in ``history_qry_list`` marks a
  query-less (recommendation) interaction; ``history_time_list`` holds gaps to the
  previous behaviour (first 0) and has one more entry, the test query's.
* ``product_meta_data_sample.txt``: ``wid, name, brand_id, brand_name,
  cate_id_1, cate_name_1, ..., cate_id_4, cate_name_4, shop_id``; names are
  ``\\x18``-joined term ids.

Mapping: query-less history -> :class:`RecLog`; history with a query, plus the
test query's clicked candidates (label >= 1, at the test time) -> :class:`SearchLog`
with term-id tokens; product meta -> :class:`ItemInfo` (``brand_id`` and
``cate_id_1..4`` as ``(column, value)`` attributes, the name's term ids as title).
Times are the cumulative gaps (seconds, relative to each user's first behaviour).
The raw user id is the user's 0-based row in the behaviour file. The test
candidates are kept as graph-level tensors ``candidate_ptr`` / ``candidate_item`` /
``candidate_label`` and ``test_query`` (one per user).
"""
from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import torch

from graphrec.data.datasets.base import RecDataset, find_raw
from graphrec.data.io import item_info_from_table, raw_name, read_table, search_log_from_table
from graphrec.data.logs import BehaviourLogs, IdMap, LogError, RecLog
from graphrec.data.split import Split, leave_one_out

log = logging.getLogger("graphrec.data")

BEHAVIOUR_COLUMNS = ("query", "candidate_wid_list", "candidate_label_list", "history_qry_list",
                     "history_wid_list", "history_type_list", "history_time_list")
META_ATTR_COLUMNS = ("brand_id", "cate_id_1", "cate_id_2", "cate_id_3", "cate_id_4")
QUERY_SEP, LIST_SEP, NO_QUERY = "\x18", "_", "-1"


def _split(value: Any) -> list[str]:
    s = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return [t for t in s.split(LIST_SEP) if t != ""] if s else []


def read_jdsearch(raw_dir: str, behaviour_file: str = "user_behavior_data_sample.txt",
                  meta_file: str = "product_meta_data_sample.txt") -> BehaviourLogs:
    """Parse JDsearch's behaviour and product-meta files (see the module docs)."""
    beh_path = find_raw(raw_dir, behaviour_file)
    meta_path = find_raw(raw_dir, meta_file)
    beh = read_table(beh_path, format="tsv", columns=list(BEHAVIOUR_COLUMNS))
    n_users = len(beh["query"])
    if n_users == 0:
        raise LogError("the file has a header but no data rows", beh_path, 0)

    rec_rows: list[tuple[int, str, float]] = []
    src_rows: list[tuple[int, str, str, float]] = []
    cand_items: list[str] = []
    cand_labels: list[float] = []
    cand_count: list[int] = []
    test_queries: list[str] = []
    n_hist_search = 0
    for u in range(n_users):
        row = u + 1
        f = {c: _split(beh[c][u]) for c in BEHAVIOUR_COLUMNS if c != "query"}
        n = len(f["history_wid_list"])
        for c in ("history_qry_list", "history_type_list"):
            if len(f[c]) != n:
                raise LogError(f"list has {len(f[c])} entries, history_wid_list has {n}",
                               beh_path, row, c)
        if len(f["history_time_list"]) != n + 1:
            raise LogError(f"list has {len(f['history_time_list'])} entries, expected "
                           f"{n + 1} (one per history entry plus the test query)", beh_path,
                           row, "history_time_list")
        try:
            gaps = np.asarray([float(t) for t in f["history_time_list"]], dtype=np.float64)
        except ValueError:
            bad = next(t for t in f["history_time_list"] if not _is_number(t))
            raise LogError("time gap is not numeric", beh_path, row, "history_time_list",
                           bad) from None
        times = np.cumsum(gaps)
        for q, w, t in zip(f["history_qry_list"], f["history_wid_list"], times[:-1].tolist()):
            if q == NO_QUERY:
                rec_rows.append((u, w, t))
            else:
                src_rows.append((u, q.replace(QUERY_SEP, " "), w, t))
                n_hist_search += 1
        cands, labels = f["candidate_wid_list"], f["candidate_label_list"]
        if len(cands) != len(labels):
            raise LogError(f"list has {len(labels)} entries, candidate_wid_list has "
                           f"{len(cands)}", beh_path, row, "candidate_label_list")
        try:
            lab = [float(x) for x in labels]
        except ValueError:
            bad = next(t for t in labels if not _is_number(t))
            raise LogError("label is not numeric", beh_path, row, "candidate_label_list",
                           bad) from None
        query = str(beh["query"][u]).replace(QUERY_SEP, " ").strip()
        if not query:
            raise LogError("required value is missing (empty)", beh_path, row, "query")
        test_queries.append(query)
        for w, lb in zip(cands, lab):
            if lb >= 1:
                src_rows.append((u, query, w, float(times[-1])))
        cand_items.extend(cands)
        cand_labels.extend(lab)
        cand_count.append(len(cands))

    meta_t = read_table(meta_path, format="tsv")
    for c in ("wid", "name", *META_ATTR_COLUMNS):
        if c not in meta_t:
            raise LogError(f"column not found; available columns: {list(meta_t)}", meta_path,
                           0, c)
    meta_wids = [str(w) for w in meta_t["wid"].tolist()]
    # items: history, then candidates, then catalogue-only products (first appearance)
    all_wids = ([w for _, w, _ in rec_rows] + [w for _, _, w, _ in src_rows] + cand_items
                + meta_wids)
    item_map, _ = IdMap.build(np.asarray(all_wids, dtype=object))
    user_map = IdMap.identity(n_users)
    lookup = {w: i for i, w in enumerate(item_map.raw.tolist())}

    rec = RecLog(torch.tensor([r[0] for r in rec_rows], dtype=torch.long),
                 torch.tensor([lookup[r[1]] for r in rec_rows], dtype=torch.long),
                 torch.tensor([r[2] for r in rec_rows], dtype=torch.float64),
                 n_users, len(item_map), source=beh_path)
    src_table = {
        "user": np.asarray([r[0] for r in src_rows], dtype=np.int64),
        "query": np.asarray([r[1] for r in src_rows], dtype=object),
        "item": np.asarray([r[2] for r in src_rows], dtype=object),
        "time": np.asarray([r[3] for r in src_rows], dtype=np.float64),
    }
    search = search_log_from_table(src_table, beh_path,
                                   {"user": "user", "query": "query", "item": "item",
                                    "time": "time"},
                                   user_map, item_map, query_format="tokens", token_sep=" ")
    text_to_q = {t: q for q, t in enumerate(search.query_text or [])}

    meta_t = dict(meta_t)
    meta_t["wid"] = np.asarray(meta_wids, dtype=object)
    meta_t["name"] = np.asarray([str(v).replace(QUERY_SEP, " ") for v in meta_t["name"].tolist()],
                                dtype=object)
    items = item_info_from_table(meta_t, meta_path, item_map,
                                 {"item": "wid", "attrs": list(META_ATTR_COLUMNS),
                                  "title": "name"})

    ptr = torch.zeros(n_users + 1, dtype=torch.long)
    torch.cumsum(torch.tensor(cand_count, dtype=torch.long), 0, out=ptr[1:])
    extras = {
        "candidate_ptr": ptr,
        "candidate_item": torch.tensor([lookup[w] for w in cand_items], dtype=torch.long),
        "candidate_label": torch.tensor(cand_labels, dtype=torch.float32),
        # -1 when the test query has no clicked candidate (then it is not in the log)
        "test_query": torch.tensor([text_to_q.get(" ".join(q.split()), -1)
                                    for q in test_queries], dtype=torch.long),
    }
    meta: dict[str, Any] = {"time_unit": "s (relative: cumulative gaps per user)",
                            "source": "JDsearch", "history_search_rows": n_hist_search,
                            "test_search_rows": len(src_rows) - n_hist_search}
    return BehaviourLogs(rec, search=search, items=items, user_map=user_map, item_map=item_map,
                         name="jdsearch", meta=meta, extras=extras)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


class JDSearch(RecDataset):
    r"""JDsearch (official 3-user sample by default): query-less history as the
    recommendation log, searched history as the search log, product meta as
    item side information. Split: leave-one-out on the recommendation log (users
    with fewer than three query-less interactions keep them all in training).

    Attributes have one field per meta column (``data.attr_fields ==
    ['brand_id', 'cate_id_1', ..., 'cate_id_4']``, ``data['attr'].field``). No node
    type has ``x``: the product meta is ids and term ids only (no dense features).

    Args:
        root: folder holding ``jdsearch_sample/`` (``GRAPHREC_DATA`` when ``None``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.
    """

    raw_folder: ClassVar[str] = "jdsearch_sample"
    source_url: ClassVar[str] = ("https://github.com/rucliujn/JDsearch (user_behavior_data_sample"
                                 ".txt, product_meta_data_sample.txt)")
    names: ClassVar[tuple[str, ...]] = ("jdsearch",)

    @property
    def raw_file_names(self) -> list[str]:
        return [raw_name(self.raw_dir, f) for f in
                ("user_behavior_data_sample.txt", "product_meta_data_sample.txt")]

    def load_logs(self) -> BehaviourLogs:
        return read_jdsearch(self.raw_dir)

    def make_split(self, logs: BehaviourLogs) -> Split:
        return leave_one_out(logs)


__all__ = ["JDSearch", "read_jdsearch"]
