"""Your own logs as a dataset: a YAML file names the tables and their columns.

A spec file lists a recommendation log, optionally a search log and item side
information, and any number of extra relations that bring node types of your
own (``creator``, ``shop``, ``category`` ...)::

    name: my-shop
    recommendation:
      file: clicks.csv                      # CSV, TSV, JSONL or Parquet, relative to this file
      columns: {user: visitor, item: product, time: ts}
    search:                                 # optional
      file: searches.parquet
      columns: {user: visitor, query: text, item: product, time: ts}
    items:                                  # optional
      file: items.csv
      columns: {item: product, attrs: [category, brand], title: name}
    relations:                              # optional: your own node and edge types
      - file: item_creator.csv
        edge_type: [item, made_by, creator]
        columns: {source: product, target: creator}
    split: leave_one_out                    # or temporal

``graphrec data inspect my-shop.yaml`` prints its statistics and graph schema;
``graphrec train --dataset my-shop.yaml --model graph_cf`` trains on it. Every
table goes through graphrec's readers, so a bad row is an error naming the file,
the row and the field; a mistake in the spec itself names the spec file and key.
Users and items are defined by the recommendation log; relation endpoints of
type ``user`` or ``item`` must be among them, any other type is a new node type
whose ids are collected from every relation that mentions it. The processed
graph is cached like a bundled dataset's, keyed by the spec and the files'
contents.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Callable
from typing import Any

import numpy as np
import yaml

from graphrec.data.datasets.base import RecDataset, save_processed
from graphrec.data.hetero import add_edge_type, build_hetero_data
from graphrec.data.io import Table, read_item_info, read_rec_log, read_search_log, read_table, relation_from_table
from graphrec.data.logs import BehaviourLogs, IdMap
from graphrec.data.split import Split, leave_one_out, temporal_split

#: the keys each section of a spec accepts (file and columns are required in each)
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "recommendation": ("file", "columns", "format", "sep", "time_unit"),
    "search": ("file", "columns", "format", "sep", "time_unit"),
    "items": ("file", "columns", "format", "sep", "attr_sep"),
    "relations": ("file", "columns", "edge_type", "format", "sep"),
}
TOP_KEYS = ("name", "recommendation", "search", "items", "relations", "split")
SPLITS: dict[str, Callable[[BehaviourLogs], Split]] = {"leave_one_out": leave_one_out,
                                                      "temporal": temporal_split}
#: node types the logs define; a relation may not invent them
RESERVED_NODE_TYPES = ("query", "code", "attr")


class SpecError(ValueError):
    """A mistake in a dataset spec file; the message names the file and the key."""

    def __init__(self, path: str, key: str, message: str) -> None:
        super().__init__(f"{path}: '{key}' {message}")


def _section(path: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(path, key, f"must be a mapping with {SECTION_KEYS[key.split('[')[0]][:2]}, got {value!r}")
    allowed = SECTION_KEYS[key.split("[")[0]]
    for k in value:
        if k not in allowed:
            raise SpecError(path, f"{key}.{k}", f"is not a known key; allowed: {', '.join(allowed)}")
    for k in ("file", "columns"):
        if k not in value:
            raise SpecError(path, key, f"needs '{k}'")
    if not isinstance(value["file"], str) or not value["file"]:
        raise SpecError(path, f"{key}.file", f"must be a file name, got {value['file']!r}")
    if not isinstance(value["columns"], dict):
        raise SpecError(path, f"{key}.columns", f"must map our fields to your columns, got {value['columns']!r}")
    return value


def read_spec(path: str) -> dict[str, Any]:
    """Parse and check a dataset spec file (see the module docstring); returns the
    spec with ``relations`` a list and ``name``/``split`` filled in."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"dataset spec '{path}' not found")
    with open(path, encoding="utf-8") as f:
        try:
            spec = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise SpecError(path, "(file)", f"is not valid YAML: {err}") from None
    if not isinstance(spec, dict):
        raise SpecError(path, "(file)", "must be a YAML mapping with at least 'recommendation'")
    for k in spec:
        if k not in TOP_KEYS:
            raise SpecError(path, str(k), f"is not a known key; allowed: {', '.join(TOP_KEYS)}")
    if "recommendation" not in spec:
        raise SpecError(path, "recommendation", "is required (the user-item log)")
    for key in ("recommendation", "search", "items"):
        if spec.get(key) is not None:
            _section(path, key, spec[key])
    relations = spec.get("relations") or []
    if not isinstance(relations, list):
        raise SpecError(path, "relations", f"must be a list, got {relations!r}")
    for r, rel in enumerate(relations):
        key = f"relations[{r}]"
        _section(path, key, rel)
        et = rel.get("edge_type")
        if not (isinstance(et, list) and len(et) == 3 and all(isinstance(t, str) and t for t in et)):
            raise SpecError(path, f"{key}.edge_type", f"must be [source type, relation, target type], got {et!r}")
        for t in (et[0], et[2]):
            if t in RESERVED_NODE_TYPES:
                raise SpecError(path, f"{key}.edge_type", f"uses node type '{t}', which the logs define; "
                                f"relations connect users, items and node types of your own")
        if et[1].startswith("rev_"):
            raise SpecError(path, f"{key}.edge_type", "relation names starting with 'rev_' are reserved for "
                                                      "reverse edges")
    split = spec.get("split", "leave_one_out")
    if split not in SPLITS:
        raise SpecError(path, "split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    name = spec.get("name") or osp.splitext(osp.basename(path))[0]
    return {**spec, "name": str(name), "relations": relations, "split": split}


class LogFiles(RecDataset):
    """A dataset described by a spec file of your own logs (see the module docstring).

    Args:
        spec: path of the YAML spec; table files are relative to its folder.
        cache_dir, force_reload, transform: as in :class:`RecDataset`.
        root: ignored (the spec's folder is the root); accepted so the CLI's
            ``--root`` does not break a spec run.
    """

    def __init__(self, spec: str, *, root: str | None = None, cache_dir: str | None = None,
                 force_reload: bool = False, transform: Callable | None = None) -> None:
        self.spec_path = osp.abspath(spec)
        self.spec = read_spec(self.spec_path)
        super().__init__(osp.dirname(self.spec_path), cache_dir=cache_dir, force_reload=force_reload,
                         transform=transform)

    @property
    def name(self) -> str:
        return self.spec["name"]

    def params(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def _sections(self) -> list[dict[str, Any]]:
        return [self.spec[k] for k in ("recommendation", "search", "items") if self.spec.get(k)] + \
            list(self.spec["relations"])

    @property
    def raw_file_names(self) -> list[str]:
        return [s["file"] for s in self._sections()]

    @property
    def processed_dir(self) -> str:
        return osp.join(self._cache_dir, "processed", "logfiles", self.cache_key)

    def download(self) -> None:
        missing = [f for f in self.raw_file_names if not osp.exists(osp.join(self.raw_dir, f))]
        raise FileNotFoundError(f"{self.spec_path}: files named in the spec do not exist (paths are "
                                f"relative to the spec's folder '{self.raw_dir}'): {missing}")

    def _path(self, section: dict[str, Any]) -> str:
        return osp.join(self.raw_dir, section["file"])

    def load_logs(self) -> BehaviourLogs:
        rec_s = self.spec["recommendation"]
        rec, users, items = read_rec_log(self._path(rec_s), rec_s["columns"], format=rec_s.get("format"),
                                         sep=rec_s.get("sep"), time_unit=rec_s.get("time_unit", "s"))
        search = info = None
        if self.spec.get("search"):
            s = self.spec["search"]
            search = read_search_log(self._path(s), s["columns"], user_map=users, item_map=items,
                                     format=s.get("format"), sep=s.get("sep"), time_unit=s.get("time_unit", "s"))
        if self.spec.get("items"):
            s = self.spec["items"]
            info = read_item_info(self._path(s), s["columns"], item_map=items, format=s.get("format"),
                                  sep=s.get("sep"), attr_sep=s.get("attr_sep"))
        return BehaviourLogs(rec, search, info, user_map=users, item_map=items, name=self.name,
                             meta={"spec": self.spec_path})

    def make_split(self, logs: BehaviourLogs) -> Split:
        return SPLITS[self.spec["split"]](logs)

    def relation_tables(self) -> list[tuple[dict[str, Any], Table]]:
        """Every relation of the spec with its table, each file read once."""
        out = []
        for rel in self.spec["relations"]:
            ids = [rel["columns"].get("source"), rel["columns"].get("target")]
            out.append((rel, read_table(self._path(rel), format=rel.get("format"), sep=rel.get("sep"), ids=ids)))
        return out

    @staticmethod
    def new_node_maps(relations: list[tuple[dict[str, Any], Table]]) -> dict[str, IdMap]:
        """Id maps of the node types the relations introduce, over every relation
        table that mentions them (first appearance order across the tables)."""
        values: dict[str, list[np.ndarray]] = {}
        for rel, table in relations:
            src, _, dst = rel["edge_type"]
            for t, end in ((src, "source"), (dst, "target")):
                column = rel["columns"].get(end)
                # a missing column is reported by relation_from_table, with the file
                if t not in ("user", "item") and column in table:
                    values.setdefault(t, []).append(np.asarray(table[column]))
        return {t: IdMap.build(np.concatenate(parts) if len(parts) > 1 else parts[0])[0]
                for t, parts in values.items()}

    def process(self) -> None:
        logs = self.logs
        data = build_hetero_data(logs, self.make_split(logs))
        relations = self.relation_tables()
        new_maps = self.new_node_maps(relations)
        for t, m in new_maps.items():
            data[t].num_nodes = len(m)
        maps: dict[str, IdMap | None] = {"user": logs.user_map, "item": logs.item_map, **new_maps}
        for rel, table in relations:
            src, name, dst = rel["edge_type"]
            edge_index, _, _ = relation_from_table(table, self._path(rel), rel["columns"], source_map=maps.get(src),
                                                   target_map=maps.get(dst))
            add_edge_type(data, (src, name, dst), edge_index)
        save_processed(self.processed_paths[0], data)

    def __repr__(self) -> str:
        return f"LogFiles({self.spec_path!r})"


def is_spec_path(name: str) -> bool:
    """Whether a ``--dataset`` value names a spec file rather than a registered dataset."""
    return name.lower().endswith((".yaml", ".yml")) and osp.isfile(name)


__all__ = ["LogFiles", "SpecError", "read_spec", "is_spec_path"]
