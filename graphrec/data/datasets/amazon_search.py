"""Semi-synthetic search-and-recommendation logs on the Amazon sequence data.

The Amazon 5-core files (Beauty, Sports_and_Outdoors, Toys_and_Games) hold one
behaviour stream per user and no search. Following the product-search protocol
of Ai et al. (SIGIR 2017, `arXiv:1708.03219 <https://arxiv.org/abs/1708.03219>`_),
reused by JSR, SESRec and UniSAR, some interactions are re-labelled as search
clicks whose query is built from the clicked item's category strings.

Where the words come from is :attr:`AmazonSearchConfig.query_source`:

* ``"category"`` (default): **category-path words** from ``root/amazon_text/``
  (:func:`category_words`): the lower-cased alphanumeric tokens of the category
  names below the root (``Beauty > Makeup > Nails > Nail Polish`` gives
  ``makeup nails nail polish``), stop-words and one-letter tokens removed,
  deduplicated in path order. Sports ships no category paths, only a few
  keywords per item derived from its title: its queries use those keyword words
  (:func:`text_words` with :data:`KEYWORD_STOP_WORDS`) and
  ``meta["search_protocol"]`` / ``meta["search_query_source"] == "keywords"`` say so. Without the text
  folder the attribute ids below are used, with a warning.
* ``"attribute"``: the S3-Rec attribute ids of the item (its category strings and
  brand, names not shipped) used as words; text ``"a12 a7 a301"``
  (``a<raw attribute id>``).

The word vocabulary is kept: ``logs.search.words[w]`` (and
``data.query_words[w]``) is the text of word ``w``.

:func:`make_search_logs` splits each user's chronological line:

* a per-user search share :math:`s_u \\sim \\operatorname{Beta}(\\alpha, \\beta)` --
  with the defaults (0.6, 3.5) the median is about 0.09, the mean 0.15 and about
  4% of users have :math:`s_u > 0.5` (a long tail of heavy searchers);
* each of the user's interactions except the **last two** (validation and test
  under leave-one-out) moves to the search surface with probability :math:`s_u`;
  items without query words cannot be queried and stay on the recommendation
  surface; at least ``min_rec_history`` earlier interactions stay on the
  recommendation surface (the latest draws are returned when needed), so every
  user keeps a leave-one-out training history;
* the query of a search interaction is the clicked item's words, each kept with
  probability ``p_keep`` (at least one kept), plus, with probability
  ``p_noise``, one noise word (a uniformly random vocabulary word or one of
  ``num_noise_words`` extra words ``n0``, ``n1``, ...). Category words keep their
  path order (a noise word goes last); attribute ids are sorted. Identical word
  sequences are one query.

Every row keeps its original ordinal time, so the recommendation and search
logs together are exactly the original interactions, and the split's leakage
rule (no search row at or after a user's held-out time) applies unchanged.
Results on these datasets are marked ``meta_semi_synthetic``.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from graphrec.data.datasets.amazon import AmazonSeq, read_amazon_seq
from graphrec.data.logs import BehaviourLogs, IdMap, SearchLog
from graphrec.data.ragged import Ragged

log = logging.getLogger("graphrec.data")

#: the query sources :class:`AmazonSearchConfig` accepts
QUERY_SOURCES = ("category", "attribute")

#: ``meta["search_protocol"]`` of each query source actually used
SEARCH_PROTOCOLS: dict[str, str] = {
    "category": "category-word queries (Ai et al. 2017)",
    "keywords": "keyword-word queries (Ai et al. 2017 protocol; no category paths in the data, "
                "words of the item's title keywords)",
    "attribute": "attribute-id queries (Ai et al. 2017)",
}

#: words dropped from category and keyword text
STOP_WORDS = frozenset(
    "a an and are as at be by for from in into is it of on or the to with without".split())

#: words also dropped from keyword text: the Sports keyword source writes the literal word
#: ``categories`` into about 1,000 items' keywords, a left-over of its generation, not a word of the item
KEYWORD_STOP_WORDS = STOP_WORDS | {"categories"}

_TOKEN = re.compile(r"[a-z0-9]+")


def text_words(text: str, stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """Query words of a piece of text: lower-cased alphanumeric tokens, stop-words
    and one-letter tokens removed, deduplicated in order.

    Args:
        text: the text.
        stop_words: words to drop. (default: :data:`STOP_WORDS`)

    Example:
        >>> text_words("Creams & Moisturizers for Men's Skin")
        ['creams', 'moisturizers', 'men', 'skin']
    """
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if len(tok) > 1 and tok not in stop_words and tok not in out:
            out.append(tok)
    return out


def category_words(paths: list[list[str]]) -> list[str]:
    """Query words of an item's category paths: :func:`text_words` of the names
    below the root of every path (the root, e.g. ``Beauty``, is shared by nearly
    all items and says nothing), deduplicated in path order.

    Example:
        >>> category_words([["Beauty", "Makeup", "Nails", "Nail Polish"]])
        ['makeup', 'nails', 'nail', 'polish']
    """
    out: list[str] = []
    for path in paths:
        for name in path[1:]:
            out.extend(w for w in text_words(name) if w not in out)
    return out


def _word_table(per_item: list[list[str]]) -> tuple[Ragged, list[str]]:
    """Item -> word ids (in the item's order) over a sorted vocabulary."""
    vocab = sorted({w for ws in per_item for w in ws})
    index = {w: i for i, w in enumerate(vocab)}
    return Ragged.from_lists([[index[w] for w in ws] for ws in per_item]), vocab


def _query_material(logs: BehaviourLogs, cfg: AmazonSearchConfig) -> tuple[str, Ragged, list[str]]:
    """``(source used, item -> word ids, text of each word id)`` for ``cfg.query_source``."""
    items = logs.items
    if cfg.query_source == "category" and items is not None:
        if items.category is not None and any(items.category):
            return ("category", *_word_table([category_words(p) for p in items.category]))
        if items.keywords is not None and any(items.keywords):
            return ("keywords", *_word_table([text_words(k, KEYWORD_STOP_WORDS) for k in items.keywords]))
    if items is None or items.attrs is None:
        raise ValueError(f"make_search_logs: '{logs.name}' has no item attributes or category text "
                         "to build queries from")
    if cfg.query_source == "category":
        log.warning("%s: no category paths or keywords (is '<root>/amazon_text/' missing?); "
                    "queries fall back to attribute ids", logs.name)
    offset = int(logs.meta.get("attr_id_offset", 0))
    return "attribute", items.attrs, [f"a{w + offset}" for w in range(items.num_attrs)]


@dataclass(frozen=True)
class AmazonSearchConfig:
    """How interactions move to the search surface and how queries are written.

    Args:
        seed: seed of the ``numpy.random.Generator`` used. (default: ``0``)
        share_alpha: first shape of the per-user search-share Beta distribution;
            small values give most users a near-zero share. (default: ``0.6``)
        share_beta: second shape of that Beta distribution; the mean share is
            ``alpha / (alpha + beta)``. (default: ``3.5``)
        p_keep: probability that each word of the clicked item becomes a
            query word (at least one is always kept). (default: ``0.7``)
        p_noise: probability that a query gets one noise word. (default: ``0.1``)
        num_noise_words: extra word ids (``n0``, ``n1``, ...) beyond the item word
            vocabulary that may serve as noise words; ``0`` = noise words are
            random vocabulary words only. (default: ``0``)
        min_rec_history: earlier (training) interactions that always stay on the
            recommendation surface, when the user has them. (default: ``1``)
        query_source: ``"category"`` = words of the item's category paths (keyword
            words where the data has no paths, as Sports), ``"attribute"`` = the
            S3-Rec attribute ids as words. From the CLI:
            ``--set data.query_source=attribute``. (default: ``"category"``)
    """

    seed: int = 0
    share_alpha: float = 0.6
    share_beta: float = 3.5
    p_keep: float = 0.7
    p_noise: float = 0.1
    num_noise_words: int = 0
    min_rec_history: int = 1
    query_source: str = "category"

    def __post_init__(self) -> None:
        if self.query_source not in QUERY_SOURCES:
            raise ValueError(f"AmazonSearchConfig: query_source must be one of {QUERY_SOURCES}, "
                             f"got {self.query_source!r}")
        if self.share_alpha <= 0 or self.share_beta <= 0:
            raise ValueError("AmazonSearchConfig: share_alpha and share_beta must be > 0")
        if not (0.0 < self.p_keep <= 1.0):
            raise ValueError("AmazonSearchConfig: p_keep must be in (0, 1]")
        if not (0.0 <= self.p_noise <= 1.0):
            raise ValueError("AmazonSearchConfig: p_noise must be in [0, 1]")
        if self.num_noise_words < 0 or self.min_rec_history < 0:
            raise ValueError("AmazonSearchConfig: num_noise_words and min_rec_history must be >= 0")


def make_search_logs(logs: BehaviourLogs,
                     config: AmazonSearchConfig | None = None) -> BehaviourLogs:
    """Move part of each user's interactions to a semi-synthetic search surface.

    Args:
        logs: recommendation-only logs with item category paths, keywords or
            attributes (e.g. from :func:`~graphrec.data.datasets.amazon.read_amazon_seq`).
        config: the protocol's parameters (default: ``AmazonSearchConfig()``).

    Returns:
        New :class:`BehaviourLogs` named ``<logs.name>-search``: ``rec`` keeps the
        remaining rows, ``search`` the moved ones (original times), with
        ``num_words`` = the item word vocabulary (category words, keyword words or
        attribute ids) + ``num_noise_words``, and ``words`` the text of each word id.
        ``meta`` adds ``semi_synthetic=True``, ``search_protocol``
        (:data:`SEARCH_PROTOCOLS`), the config, ``search_query_source`` (the source
        used: ``category``, ``keywords`` or ``attribute``) and
        ``search_queryable_items`` (items with at least one word); ``extras``
        adds ``user.search_share_target`` (the drawn :math:`s_u`) and
        ``search_noise_word`` (per search row: its noise word id, or ``-1``).
    """
    cfg = config or AmazonSearchConfig()
    if logs.search is not None and len(logs.search):
        raise ValueError(f"make_search_logs: '{logs.name}' already has a search log")
    source, attrs, vocab = _query_material(logs, cfg)  # item -> word ids, word texts
    rng = np.random.default_rng(cfg.seed)
    rec = logs.rec
    U, N = rec.num_users, len(rec)
    A = len(vocab)
    V = A + cfg.num_noise_words

    # position of every row in its user's chronological line, counted from the end
    order = rec.chronological_order().numpy()
    user = rec.user.numpy()
    item = rec.item.numpy()
    counts = np.bincount(user, minlength=U)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    pos = np.empty(N, dtype=np.int64)
    pos[order] = np.arange(N) - ptr[user[order]]
    from_end = counts[user] - 1 - pos
    n_attr = attrs.lengths().numpy()

    share = rng.beta(cfg.share_alpha, cfg.share_beta, size=U)
    eligible = (from_end >= 2) & (n_attr[item] > 0)
    to_search = eligible & (rng.random(N) < share[user])

    # keep at least min_rec_history earlier rows on the rec surface: return the latest draws
    n_train = np.maximum(counts - 2, 0)
    rec_train = np.bincount(user, weights=(from_end >= 2) & ~to_search, minlength=U)
    deficit = np.maximum(np.minimum(cfg.min_rec_history, n_train) - rec_train, 0).astype(np.int64)
    if deficit.any():
        rows = np.flatnonzero(to_search)
        o = np.lexsort((-pos[rows], user[rows]))  # per user, latest first
        rows = rows[o]
        first = np.searchsorted(user[rows], user[rows], side="left")
        rank = np.arange(rows.size) - first
        to_search[rows[rank < deficit[user[rows]]]] = False

    s_rows = np.flatnonzero(to_search)
    r_rows = np.flatnonzero(~to_search)
    S = s_rows.size

    # queries: kept item words (at least one) + an optional noise word
    sel = attrs.select(torch.from_numpy(item[s_rows]))
    lens = sel.lengths().numpy()
    words = sel.values.numpy()
    owner = np.repeat(np.arange(S), lens)
    keep = rng.random(words.size) < cfg.p_keep
    kept = np.bincount(owner, weights=keep, minlength=S)
    forced = rng.integers(0, np.maximum(lens, 1))
    starts = sel.ptr[:-1].numpy()
    none = np.flatnonzero(kept == 0)
    keep[starts[none] + forced[none]] = True
    has_noise = rng.random(S) < cfg.p_noise
    noise_word = np.where(has_noise, rng.integers(0, max(V, 1), size=S), -1)

    q_of: dict[tuple[int, ...], int] = {}
    query = np.empty(S, dtype=np.int64)
    kept_words = words[keep]
    kept_ptr = np.concatenate([[0], np.cumsum(np.bincount(owner[keep], minlength=S))])
    ordered = source != "attribute"  # text words keep their path order, ids are sorted
    for r in range(S):
        ws = kept_words[kept_ptr[r]:kept_ptr[r + 1]].tolist()
        if noise_word[r] >= 0 and int(noise_word[r]) not in ws:
            ws.append(int(noise_word[r]))
        query[r] = q_of.setdefault(tuple(ws if ordered else sorted(ws)), len(q_of))
    q_rows = list(q_of.keys())
    words = [*vocab, *(f"n{k}" for k in range(cfg.num_noise_words))]
    q_text = [" ".join(words[w] for w in q) for q in q_rows]

    t = torch.from_numpy
    search = SearchLog(t(user[s_rows]), t(query), t(item[s_rows]), rec.time[t(s_rows)], U,
                       rec.num_items, Ragged.from_lists(q_rows), V, q_text,
                       source=f"{rec.source or logs.name} (semi-synthetic search)", words=words)
    meta: dict[str, Any] = {
        **logs.meta,
        "semi_synthetic": True,
        "search_protocol": SEARCH_PROTOCOLS[source],
        "base_dataset": logs.name,
        **{f"search_{k}": v for k, v in dataclasses.asdict(cfg).items()},
        "search_query_source": source,  # the source used ("keywords" for Sports)
        "search_queryable_items": int((n_attr > 0).sum()),
    }
    extras = {
        **logs.extras,
        "user.search_share_target": torch.as_tensor(share, dtype=torch.float32),
        "search_noise_word": t(noise_word.astype(np.int64)),
    }
    return BehaviourLogs(rec.subset(t(r_rows)), search, logs.items, logs.user_map, logs.item_map,
                         IdMap(np.array(q_text, dtype=object)), name=f"{logs.name}-search",
                         meta=meta, extras=extras)


class AmazonSearch(AmazonSeq):
    """Amazon Beauty / Sports / Toys with semi-synthetic search logs
    (:func:`make_search_logs`), split leave-one-out.

    Reads the same raw files as :class:`AmazonSeq` (``root/amazon_seq/``) and the
    optional item text (``root/amazon_text/``) whose category paths make the
    queries. Query words are ``data.query_words`` (word id -> text); the item text
    is on the graph (``data.item_title``, ``data.item_category``, ...) as for :class:`AmazonSeq`.

    Args:
        root: folder holding ``amazon_seq/`` (``GRAPHREC_DATA`` when ``None``) and,
            optionally, ``amazon_text/``.
        name: ``"beauty"``, ``"sports"``, ``"toys"``, or the same with a
            ``-search`` suffix. (default: ``"beauty"``)
        config: the protocol's parameters (default: ``AmazonSearchConfig()``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.
        **overrides: fields of :class:`AmazonSearchConfig` replacing those of
            ``config`` (e.g. ``seed=1, p_keep=0.5``).

    Example:
        >>> ds = AmazonSearch("/data", name="beauty-search")
        >>> data = ds[0]   # user/item/query/attr nodes; data.meta_semi_synthetic is True
        >>> data.query_words[int(data['query'].token[0])]   # a category word, e.g. 'makeup'
        >>> ids = AmazonSearch("/data", name="beauty-search", query_source="attribute")
    """

    names: ClassVar[tuple[str, ...]] = ("beauty-search", "sports-search", "toys-search")

    def __init__(self, root: str | None = None, name: str = "beauty", *,
                 config: AmazonSearchConfig | None = None, cache_dir: str | None = None,
                 force_reload: bool = False, transform: Callable | None = None,
                 **overrides: Any) -> None:
        base = name
        for suffix in ("-search", "_search"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
        config = config or AmazonSearchConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        super().__init__(root, base, cache_dir=cache_dir, force_reload=force_reload,
                         transform=transform)

    def params(self) -> dict[str, Any]:
        return {"name": f"{self.name}-search", **dataclasses.asdict(self.config)}

    def load_logs(self) -> BehaviourLogs:
        return make_search_logs(read_amazon_seq(self.raw_dir, self.name, text_dir=self.text_dir),
                                self.config)


__all__ = ["AmazonSearchConfig", "make_search_logs", "AmazonSearch", "SEARCH_PROTOCOLS",
           "QUERY_SOURCES", "STOP_WORDS", "KEYWORD_STOP_WORDS", "text_words", "category_words"]
