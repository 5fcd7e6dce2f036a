"""Validated behaviour-log tables.

Three tables describe everything graphrec learns from:

* :class:`RecLog` -- recommendation interactions ``(user, item, time)``: what the
  platform showed and the user engaged with.
* :class:`SearchLog` -- search interactions ``(user, query, item, time)``: what the
  user asked for and clicked.
* :class:`ItemInfo` -- item side information (attribute ids, titles).

:class:`BehaviourLogs` bundles them with shared id maps. Raw ids are remapped to
contiguous ``0..n-1`` indices; :class:`IdMap` keeps both directions. Errors raised
while building a table are :class:`LogError` and name the file, row and field.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphrec.data.ragged import Ragged

log = logging.getLogger("graphrec.data")


class LogError(ValueError):
    """Bad input in a behaviour log. The message names file, row and field.

    Args:
        message: what is wrong.
        file: the file (or table name) at fault.
        row: 1-based data row (header not counted), or ``None`` for the whole file.
        field: the column at fault.
        value: the offending value.
    """

    def __init__(
        self,
        message: str,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        value: Any = None,
    ) -> None:
        self.file, self.row, self.field, self.value = file, row, field, value
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        detail = f" (value: {value!r})" if value is not None else ""
        super().__init__(f"{prefix}: {message}{detail}" if prefix else f"{message}{detail}")


_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")


def id_key(value: Any) -> Any:
    """The key under which :class:`IdMap` compares a raw id.

    Ids are compared as exact values, never through floating point: an integer id
    equals the canonical decimal text of that integer (``7 == "7"``, also with
    surrounding whitespace, ``" 7"``), so the same id read as a number from one file
    and as text from another is one id. Any other text is compared exactly:
    ``"007"``, ``"+7"`` and ``"7.0"`` are ids distinct from ``7``, and a 20-digit id
    is its own id whatever its size. numpy scalars compare as their Python values.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        s = value.strip()
        if _CANONICAL_INT.fullmatch(s):
            return int(s)
    return value


class IdMap:
    """Bidirectional map between raw ids (any hashable) and contiguous indices.

    ``raw[i]`` is the raw id of index ``i``; :meth:`lookup` maps raw ids to indices.
    Raw ids are compared by :func:`id_key`: exactly, except that an integer and its
    canonical decimal text are the same id (``7`` and ``"7"``; not ``"007"``).
    """

    def __init__(self, raw: Sequence[Any] | np.ndarray) -> None:
        self.raw = np.asarray(raw)
        values = self.raw.tolist()
        if self.raw.dtype.kind in "iub":
            self._index = dict(zip(values, range(len(values))))
        else:
            self._index = {id_key(v): i for i, v in enumerate(values)}
        if len(self._index) != len(self.raw):
            raise ValueError("IdMap raw ids must be unique (an integer and its decimal text "
                             "are the same id)")

    @classmethod
    def build(cls, values: Sequence[Any] | np.ndarray) -> tuple[IdMap, np.ndarray]:
        """Map ids in order of first appearance; returns the map and the codes.

        Numeric columns are deduplicated by value; text/object columns by
        :func:`id_key` (the first spelling seen is kept in ``raw``), so a column
        mixing integers and text never fails to sort and never merges ``"007"``
        with ``7``."""
        arr = np.asarray(values)
        if arr.dtype.kind in "OUS":
            index: dict[Any, int] = {}
            firsts: list[Any] = []
            codes_list = []
            for v in arr.reshape(-1).tolist():
                k = id_key(v)
                i = index.get(k)
                if i is None:
                    i = index[k] = len(firsts)
                    firsts.append(v)
                codes_list.append(i)
            raw = np.empty(len(firsts), dtype=object)
            raw[:] = firsts
            if arr.dtype.kind in "US":
                raw = raw.astype(arr.dtype)
            return cls(raw), np.asarray(codes_list, dtype=np.int64)
        uniq, first, codes = np.unique(arr, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # first-appearance order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return cls(uniq[order]), rank[codes.reshape(-1)].astype(np.int64)

    @classmethod
    def identity(cls, n: int) -> IdMap:
        return cls(np.arange(n))

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, key: Any) -> bool:
        return id_key(key) in self._index

    def get(self, key: Any, default: int = -1) -> int:
        """Index of one raw id, ``default`` when unknown."""
        return self._index.get(id_key(key), default)

    def lookup(self, values: Iterable[Any], *, file: str | None = None,
               field: str | None = None, row_offset: int = 1) -> np.ndarray:
        """Indices of ``values``; an unknown id raises :class:`LogError` naming its row."""
        out = []
        for r, v in enumerate(values):
            i = self._index.get(id_key(v))
            if i is None:
                raise LogError("unknown id, not in the id map", file, r + row_offset, field, v)
            out.append(i)
        return np.asarray(out, dtype=np.int64)

    def __repr__(self) -> str:
        return f"IdMap(size={len(self)})"


def _check_index(t: Tensor, n: int, name: str, source: str | None) -> None:
    if t.numel() == 0:
        return
    bad = (t < 0) | (t >= n)
    if bool(bad.any()):
        r = int(bad.nonzero()[0])
        raise LogError(f"index out of range [0, {n})", source, r + 1, name, int(t[r]))


def _check_time(t: Tensor, source: str | None) -> None:
    if t.numel() and t.is_floating_point():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            r = int(bad.nonzero()[0])
            raise LogError("timestamp is NaN or infinite", source, r + 1, "time", float(t[r]))


@dataclass
class RecLog:
    """Recommendation interactions ``(user, item, time)``, one row each.

    Args:
        user: ``(N,)`` int64 user indices in ``[0, num_users)``.
        item: ``(N,)`` int64 item indices in ``[0, num_items)``.
        time: ``(N,)`` timestamps (float64 seconds, or an ordinal position when the
            source has no clock, as the Amazon sequence files).
        num_users, num_items: sizes of the index spaces.
        source: where the rows came from (used in error messages).
    """

    user: Tensor
    item: Tensor
    time: Tensor
    num_users: int
    num_items: int
    source: str | None = None

    def __post_init__(self) -> None:
        self.user = torch.as_tensor(self.user, dtype=torch.long)
        self.item = torch.as_tensor(self.item, dtype=torch.long)
        self.time = torch.as_tensor(self.time, dtype=torch.float64)
        self.validate()

    def validate(self) -> None:
        n = self.user.numel()
        if self.item.numel() != n or self.time.numel() != n:
            raise LogError(
                f"columns differ in length: user={n}, item={self.item.numel()}, "
                f"time={self.time.numel()}", self.source)
        _check_index(self.user, self.num_users, "user", self.source)
        _check_index(self.item, self.num_items, "item", self.source)
        _check_time(self.time, self.source)

    def __len__(self) -> int:
        return self.user.numel()

    def subset(self, index: Tensor) -> RecLog:
        return RecLog(self.user[index], self.item[index], self.time[index],
                      self.num_users, self.num_items, self.source)

    def chronological_order(self) -> Tensor:
        """Permutation sorting rows by (user, time); ties keep file order."""
        perm = torch.argsort(self.time, stable=True)
        return perm[torch.argsort(self.user[perm], stable=True)]

    def sequences(self) -> Ragged:
        """Each user's items in chronological order."""
        return Ragged.from_coo(self.user, self.item, self.num_users, order=self.time)


@dataclass
class ImpressionLog(RecLog):
    """Recommendation impressions ``(user, item, time, clicked)``: ``item`` was shown to
    ``user`` at ``time``, and engaged with when ``clicked``. The clicked rows are the
    :class:`RecLog`'s interactions; the others are the exposure the clicks leave out.

    Args:
        user, item, time, num_users, num_items, source: as :class:`RecLog`.
        clicked: ``(N,)`` bool (required; a keyword after ``source``).
    """

    clicked: Tensor | None = None

    def __post_init__(self) -> None:
        if self.clicked is None:
            raise LogError("impressions need a clicked flag per row", self.source, field="clicked")
        self.clicked = torch.as_tensor(self.clicked, dtype=torch.bool)
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        if self.clicked.numel() != self.user.numel():
            raise LogError(f"column 'clicked' has {self.clicked.numel()} rows, expected {self.user.numel()}",
                           self.source)

    def active_days(self) -> Tensor:
        """``(num_users,)`` number of distinct calendar days (time in seconds) on which
        each user was shown something."""
        day = torch.floor(self.time / 86400.0).long()
        span = int(day.max() - day.min()) + 1 if day.numel() else 1
        user_days = torch.unique(self.user * span + (day - (day.min() if day.numel() else 0)))
        return torch.bincount(torch.div(user_days, span, rounding_mode="floor"), minlength=self.num_users)

    def subset(self, index: Tensor) -> ImpressionLog:
        return ImpressionLog(self.user[index], self.item[index], self.time[index], self.num_users, self.num_items,
                             self.source, clicked=self.clicked[index])


@dataclass
class SearchLog:
    """Search interactions ``(user, query, item, time)``: user issued ``query`` and
    clicked ``item`` at ``time``.

    Args:
        user, query, item, time: ``(N,)`` columns.
        num_users, num_items: shared with the :class:`RecLog`.
        query_tokens: word ids of each distinct query (row ``q`` = query ``q``).
        num_words: size of the query-word vocabulary.
        query_text: optional raw text of each distinct query.
        source: where the rows came from.
        words: optional text of each word id (``words[w]`` is word ``w``; length
            ``num_words``), so query tokens map back to words.
    """

    user: Tensor
    query: Tensor
    item: Tensor
    time: Tensor
    num_users: int
    num_items: int
    query_tokens: Ragged
    num_words: int
    query_text: list[str] | None = None
    source: str | None = None
    words: list[str] | None = None

    def __post_init__(self) -> None:
        self.user = torch.as_tensor(self.user, dtype=torch.long)
        self.query = torch.as_tensor(self.query, dtype=torch.long)
        self.item = torch.as_tensor(self.item, dtype=torch.long)
        self.time = torch.as_tensor(self.time, dtype=torch.float64)
        self.validate()

    @property
    def num_queries(self) -> int:
        return self.query_tokens.num_rows

    def validate(self) -> None:
        n = self.user.numel()
        for name in ("query", "item", "time"):
            if getattr(self, name).numel() != n:
                raise LogError(f"column '{name}' has {getattr(self, name).numel()} rows, "
                               f"expected {n}", self.source)
        _check_index(self.user, self.num_users, "user", self.source)
        _check_index(self.query, self.num_queries, "query", self.source)
        _check_index(self.item, self.num_items, "item", self.source)
        _check_index(self.query_tokens.values, max(self.num_words, 0), "query_tokens", self.source)
        _check_time(self.time, self.source)
        if self.query_text is not None and len(self.query_text) != self.num_queries:
            raise LogError(f"query_text has {len(self.query_text)} entries, expected "
                           f"{self.num_queries}", self.source, field="query_text")
        if self.words is not None and len(self.words) != self.num_words:
            raise LogError(f"words has {len(self.words)} entries, expected num_words="
                           f"{self.num_words}", self.source, field="words")

    def __len__(self) -> int:
        return self.user.numel()

    def subset(self, index: Tensor) -> SearchLog:
        return SearchLog(self.user[index], self.query[index], self.item[index], self.time[index],
                         self.num_users, self.num_items, self.query_tokens, self.num_words,
                         self.query_text, self.source, self.words)


@dataclass
class ItemInfo:
    """Item side information.

    Args:
        num_items: number of items.
        attrs: attribute ids of each item (categories, brand, ...); row ``i`` = item ``i``.
        num_attrs: size of the attribute vocabulary.
        title: optional title text per item (``""`` = no title).
        attr_names: optional name of each attribute id.
        category: optional category paths per item: ``category[i]`` is a list of
            paths, each a list of names from the root down (``[]`` = none), e.g.
            ``[["Beauty", "Makeup", "Nails", "Nail Polish"]]``.
        brand: optional brand per item (``""`` = unknown).
        keywords: optional keyword string per item (``""`` = none), for sources
            that ship a few title words instead of a full title.
        attr_field: optional ``(num_attrs,)`` int64 field of each attribute id, an
            index into ``attr_fields`` (e.g. ``0`` = category, ``1`` = brand).
        attr_fields: names of the attribute fields (required with ``attr_field``).
    """

    num_items: int
    attrs: Ragged | None = None
    num_attrs: int = 0
    title: list[str] | None = None
    attr_names: list[str] | None = None
    category: list[list[list[str]]] | None = None
    brand: list[str] | None = None
    keywords: list[str] | None = None
    attr_field: Tensor | None = None
    attr_fields: list[str] | None = None

    #: the optional per-item text fields, exposed on the graph as ``data.item_<field>``
    TEXT_FIELDS = ("title", "category", "brand", "keywords")

    def __post_init__(self) -> None:
        if self.attrs is not None:
            if self.attrs.num_rows != self.num_items:
                raise LogError(f"attribute table has {self.attrs.num_rows} rows, expected "
                               f"{self.num_items} items", field="attrs")
            _check_index(self.attrs.values, self.num_attrs, "attrs", None)
        if self.attr_field is not None:
            self.attr_field = torch.as_tensor(self.attr_field, dtype=torch.long)
            if self.attr_fields is None:
                raise LogError("attr_field given without attr_fields (the field names)",
                               field="attr_fields")
            if self.attr_field.numel() != self.num_attrs:
                raise LogError(f"attr_field has {self.attr_field.numel()} entries, expected "
                               f"num_attrs={self.num_attrs}", field="attr_field")
            _check_index(self.attr_field, len(self.attr_fields), "attr_field", None)
        for name in self.TEXT_FIELDS:
            values = getattr(self, name)
            if values is not None and len(values) != self.num_items:
                raise LogError(f"{name} list has {len(values)} entries, expected {self.num_items}",
                               field=name)

    def text_fields(self) -> dict[str, list[Any]]:
        """The per-item text fields that are present, by name (``title``, ``category``,
        ``brand``, ``keywords``)."""
        return {k: getattr(self, k) for k in self.TEXT_FIELDS if getattr(self, k) is not None}

    def fields(self) -> tuple[Tensor, list[str]]:
        """``(field of each attribute id, field names)``; one field ``"attr"`` when the
        source does not say which field an attribute belongs to."""
        if self.attr_field is not None and self.attr_fields is not None:
            return self.attr_field, list(self.attr_fields)
        return torch.zeros(self.num_attrs, dtype=torch.long), ["attr"]


@dataclass
class BehaviourLogs:
    """Everything a dataset provides: the tables plus the raw-id maps.

    ``meta`` carries provenance, e.g. ``{"semi_synthetic": True, "time_unit": "ordinal"}``;
    result writers copy it into every report. ``extras`` carries dataset-specific
    tensors (the synthetic world's ground-truth latents, user features, ...).
    ``impressions``, where the source logs them, is every recommendation shown, clicked
    or not.
    """

    rec: RecLog
    search: SearchLog | None = None
    items: ItemInfo | None = None
    user_map: IdMap | None = None
    item_map: IdMap | None = None
    query_map: IdMap | None = None
    name: str = "logs"
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Tensor] = field(default_factory=dict)
    impressions: ImpressionLog | None = None

    def __post_init__(self) -> None:
        if self.search is not None:
            if self.search.num_users != self.rec.num_users or self.search.num_items != self.rec.num_items:
                raise LogError("search log and recommendation log disagree on the number of users "
                               f"or items ({self.search.num_users}x{self.search.num_items} vs "
                               f"{self.rec.num_users}x{self.rec.num_items})", self.search.source)
        if self.impressions is not None and (self.impressions.num_users, self.impressions.num_items) != (
                self.rec.num_users, self.rec.num_items):
            raise LogError("impressions and recommendation log disagree on the number of users or items "
                           f"({self.impressions.num_users}x{self.impressions.num_items} vs "
                           f"{self.rec.num_users}x{self.rec.num_items})", self.impressions.source)
        if self.items is not None and self.items.num_items != self.rec.num_items:
            raise LogError(f"item info covers {self.items.num_items} items, the logs "
                           f"{self.rec.num_items}", field="items")

    @property
    def num_users(self) -> int:
        return self.rec.num_users

    @property
    def num_items(self) -> int:
        return self.rec.num_items

    def statistics(self) -> dict[str, Any]:
        """Counts for ``graphrec data inspect``."""
        n_rec = len(self.rec)
        n_src = len(self.search) if self.search is not None else 0
        users, items = self.num_users, self.num_items
        stats: dict[str, Any] = {
            "name": self.name,
            "users": users,
            "items": items,
            "queries": self.search.num_queries if self.search is not None else 0,
            "rec_interactions": n_rec,
            "search_interactions": n_src,
            "interactions": n_rec + n_src,
            "density": (n_rec + n_src) / max(users * items, 1),
            "search_share": n_src / max(n_rec + n_src, 1),
            "avg_history": n_rec / max(users, 1),
        }
        if self.search is not None and n_src:
            searching = torch.unique(self.search.user).numel()
            stats["searching_users"] = searching
        if self.items is not None and self.items.attrs is not None:
            stats["attributes"] = self.items.num_attrs
        if self.items is not None:
            for name, values in self.items.text_fields().items():
                stats[f"items_with_{name}"] = sum(1 for v in values if v)
        stats.update({k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool))})
        return stats


def sample_queries(logs: BehaviourLogs, k: int = 5, seed: int = 0) -> list[tuple[str, str]]:
    """A few search rows as ``(clicked item's text, query text)`` pairs, for a reader to see
    what the queries look like (``graphrec data inspect``).

    The item text is its title, else its keywords, else ``item <raw id>``; the query
    text is ``query_text`` when the log has it, else its words (``words``), else its
    word ids. Rows are drawn uniformly without replacement.

    Args:
        logs: logs with a search log.
        k: number of rows (fewer when the log is smaller). (default: ``5``)
        seed: seed of the draw. (default: ``0``)

    Returns:
        A list of ``(item_text, query_text)``; empty when there is no search log.
    """
    s = logs.search
    if s is None or len(s) == 0 or k <= 0:
        return []
    rows = np.sort(np.random.default_rng(seed).choice(len(s), size=min(k, len(s)), replace=False))
    text = logs.items.text_fields() if logs.items is not None else {}
    out = []
    for r in rows.tolist():
        i, q = int(s.item[r]), int(s.query[r])
        item_text = next((text[f][i] for f in ("title", "keywords") if f in text and text[f][i]), "")
        if not item_text:
            raw = logs.item_map.raw[i] if logs.item_map is not None else i
            item_text = f"item {raw}"
        if s.query_text is not None:
            query_text = s.query_text[q]
        else:
            tokens = s.query_tokens[q].tolist()
            query_text = " ".join(s.words[w] if s.words is not None else str(w) for w in tokens)
        out.append((item_text, query_text))
    return out


__all__ = ["LogError", "IdMap", "id_key", "RecLog", "SearchLog", "ImpressionLog", "ItemInfo", "BehaviourLogs",
           "sample_queries"]
