"""Base class of graphrec's datasets, in PyG's ``InMemoryDataset`` style.

Raw files live under ``root`` laid out as in the project's shared data folder
(``root/amazon_seq/Beauty.txt.gz``, ``root/gowalla/train.txt.gz``, ...); ``root``
defaults to the ``GRAPHREC_DATA`` environment variable. Raw folders may be
read-only, so processed files go to a separate cache
(``GRAPHREC_CACHE``, default ``~/.cache/graphrec``), keyed by the dataset's
parameters and its raw files' contents, so two configurations, or two versions of a
raw file, never share a cache entry.

Subclasses implement :meth:`load_logs` (parse raw files into
:class:`~graphrec.data.logs.BehaviourLogs`) and may override :meth:`make_split`
(default: leave-one-out). ``dataset[0]`` is the split
:class:`~torch_geometric.data.HeteroData`; ``dataset.logs`` the parsed tables.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import os.path as osp
import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch_geometric.data import HeteroData, InMemoryDataset

from graphrec.data.hetero import build_hetero_data
from graphrec.data.logs import BehaviourLogs
from graphrec.data.split import Split, leave_one_out
from graphrec.utils.digest import file_digest
from graphrec.utils.io import atomic_path

#: 2: item text (title, category, brand, keywords) and query words on the HeteroData
#: 3: held-out pairs as graph-level link labels, forward-only edge types, node ``x``, attr fields
#: 4: graphrec-heterodata-v1 files, loaded with weights_only=True
#: 5: keyed by the raw files' content digests; 6, 7: KuaiSAR-R's impression counts, the impressions in the graph;
#: 8: the counts derived from the impressions, no longer stored
CACHE_VERSION = 8

log = logging.getLogger("graphrec.data")


def default_root() -> str | None:
    return os.environ.get("GRAPHREC_DATA")


def default_cache() -> str:
    return os.environ.get("GRAPHREC_CACHE", osp.join(osp.expanduser("~"), ".cache", "graphrec"))


class RecDataset(InMemoryDataset):
    """A recommendation dataset read from raw files, processed into one HeteroData.

    Args:
        root: folder holding the raw folders (``GRAPHREC_DATA`` when ``None``).
        cache_dir: where processed files go (``GRAPHREC_CACHE`` or ``~/.cache/graphrec``).
        force_reload: re-process even if a cached copy exists.
        transform: applied to the HeteroData on access.
    """

    #: folder under ``root`` with this dataset's raw files
    raw_folder: ClassVar[str] = ""
    #: where the original files can be obtained (shown when they are missing)
    source_url: ClassVar[str] = ""
    #: CLI name(s)
    names: ClassVar[tuple[str, ...]] = ()
    #: needs no raw files (generated datasets)
    generated: ClassVar[bool] = False

    def __init__(self, root: str | None = None, *, cache_dir: str | None = None,
                 force_reload: bool = False, transform: Callable | None = None) -> None:
        root = root if root is not None else default_root()
        if root is None and not self.generated:
            raise FileNotFoundError(
                f"{type(self).__name__}: no data root given; pass root=... (or --root) or set "
                f"GRAPHREC_DATA to the folder that holds '{self.raw_folder}/'")
        self._cache_dir = cache_dir or default_cache()
        self._logs: BehaviourLogs | None = None
        self._cache_key: str | None = None
        super().__init__(root or self._cache_dir, transform, force_reload=force_reload)
        self._load_processed()

    def _load_processed(self) -> None:
        """Load the processed graph with ``torch.load(weights_only=True)`` (tensors and
        plain values only: a cache file cannot run code). A file that does not load
        that way -- written by an older graphrec, truncated, or tampered with -- is
        rebuilt from the raw files, never unpickled."""
        path = self.processed_paths[0]
        try:
            data = load_processed(path)
        except (pickle.UnpicklingError, ValueError, RuntimeError, EOFError, OSError) as exc:
            log.warning("%s: processed cache '%s' cannot be loaded safely (%s: %s); rebuilding it",
                        type(self).__name__, path, type(exc).__name__, str(exc).splitlines()[0][:200])
            self.process()
            data = load_processed(path)
        self.data, self.slices = data, None

    # ---- parameters that define a distinct processed file ---------------------------
    def params(self) -> dict[str, Any]:
        """Parameters that change the processed output (hashed into the cache key)."""
        return {}

    def optional_raw_paths(self) -> list[str]:
        """Files read when present (e.g. item text); their presence and content are
        part of the cache key, so adding or replacing one re-processes."""
        return []

    @property
    def cache_key(self) -> str:
        """Hash of the parameters, the raw folder and its files' *contents*
        (:func:`~graphrec.utils.digest.file_digest`): two roots, or a raw file replaced
        by another -- even one of the same size and modification time -- never share
        a processed cache entry. Computed once per dataset object."""
        if self._cache_key is None:
            key: dict[str, Any] = {"v": CACHE_VERSION, **self.params()}
            if not self.generated:
                memo = osp.join(self._cache_dir, "raw-digests.json")
                key["raw_dir"] = osp.abspath(self.raw_dir)
                key["raw_files"] = [(f, file_digest(p, memo))
                                    for f, p in zip(self.raw_file_names, self.raw_paths) if osp.exists(p)]
                key["optional_files"] = [(osp.abspath(p), file_digest(p, memo) if osp.exists(p) else None)
                                         for p in self.optional_raw_paths()]
            blob = json.dumps(key, sort_keys=True, default=str)
            self._cache_key = hashlib.sha1(blob.encode()).hexdigest()[:12]
        return self._cache_key

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.raw_folder) if self.raw_folder else self.root

    @property
    def processed_dir(self) -> str:
        return osp.join(self._cache_dir, "processed", type(self).__name__.lower(), self.cache_key)

    @property
    def processed_file_names(self) -> list[str]:
        return ["data.pt"]

    @property
    def raw_file_names(self) -> list[str]:
        return []

    def _download(self) -> None:
        # PyG's version creates raw_dir before calling download(); raw folders may be
        # read-only or someone else's, so only check and explain.
        if all(osp.exists(p) for p in self.raw_paths):
            return
        self.download()

    def _process(self) -> None:
        # PyG's version compares pre_transform.pt / pre_filter.pt in the processed
        # folder by fully unpickling them (not weights-only): a file planted there
        # would run code. graphrec datasets take no pre_transform or pre_filter, so neither
        # file is read or written; the cache key already names everything that shapes
        # the processed graph.
        if not self.force_reload and all(osp.exists(p) for p in self.processed_paths):
            return
        os.makedirs(self.processed_dir, exist_ok=True)
        self.process()

    def download(self) -> None:
        missing = [f for f in self.raw_file_names if not osp.exists(osp.join(self.raw_dir, f))]
        raise FileNotFoundError(
            f"{type(self).__name__}: raw files missing in '{self.raw_dir}': {missing}. "
            f"graphrec never downloads at run time; obtain them from {self.source_url} and place "
            f"them there (gzip-compressed '<name>.gz' copies are accepted where noted).")

    # ---- processing -------------------------------------------------------------------
    def load_logs(self) -> BehaviourLogs:
        raise NotImplementedError

    def make_split(self, logs: BehaviourLogs) -> Split:
        return leave_one_out(logs)

    @property
    def logs(self) -> BehaviourLogs:
        """The parsed raw tables (parsed on first access, not cached on disk)."""
        if self._logs is None:
            self._logs = self.load_logs()
        return self._logs

    def process(self) -> None:
        logs = self.logs
        data = build_hetero_data(logs, self.make_split(logs))
        # written under a temporary name and renamed, so an interrupted run never
        # leaves a truncated cache file
        save_processed(self.processed_paths[0], data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params() or ''})"


#: marks graphrec's processed-graph files (a dict of plain values, loadable with weights_only=True)
PROCESSED_FORMAT = "graphrec-heterodata-v1"


def save_processed(path: str, data: HeteroData) -> None:
    """Write ``data`` as ``{"format", "data": data.to_dict()}`` -- tensors, numbers,
    strings and lists only -- atomically (an interrupted run never leaves a truncated
    file)."""
    with atomic_path(path) as tmp:
        torch.save({"format": PROCESSED_FORMAT, "data": data.to_dict()}, tmp)


def load_processed(path: str) -> HeteroData:
    """Inverse of :func:`save_processed`, with ``weights_only=True``."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != PROCESSED_FORMAT:
        raise ValueError(f"'{path}' is not a {PROCESSED_FORMAT} file")
    return HeteroData.from_dict(blob["data"])


def find_raw(raw_dir: str, name: str) -> str:
    """Path of ``name`` or its gzip copy ``name.gz`` in ``raw_dir``."""
    for cand in (name, name + ".gz"):
        path = osp.join(raw_dir, cand)
        if osp.exists(path):
            return path
    raise FileNotFoundError(f"'{name}' (or '{name}.gz') not found in '{raw_dir}'")


__all__ = ["RecDataset", "find_raw", "save_processed", "load_processed", "PROCESSED_FORMAT", "default_root",
           "default_cache"]
