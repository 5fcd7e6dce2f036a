"""Semi-synthetic search-and-recommendation logs on the Amazon sequence data.

The Amazon 5-core files (Beauty, Sports_and_Outdoors, Toys_and_Games) hold one
behaviour stream per user and no search. Following the product-search protocol
of Ai et al. (SIGIR 2017, `arXiv:1708.03219 <https://arxiv.org/abs/1708.03219>`_),
reused by JSR, SESRec and UniSAR, some interactions are re-labelled as search
clicks whose query is built from the clicked item's category strings. The
shared files ship the item's category/brand *ids* but not their text, so the
query words are attribute ids (text ``"a12 a7 a301"``, ``a<raw attribute id>``).

:func:`make_search_logs` splits each user's chronological line:

* a per-user search share :math:`s_u \\sim \\operatorname{Beta}(\\alpha, \\beta)` --
  with the defaults (0.6, 3.5) the median is about 0.09, the mean 0.15 and about
  4% of users have :math:`s_u > 0.5` (a long tail of heavy searchers);
* each of the user's interactions except the **last two** (validation and test
  under leave-one-out) moves to the search surface with probability :math:`s_u`;
  items without attributes cannot be queried and stay on the recommendation
  surface; at least ``min_rec_history`` earlier interactions stay on the
  recommendation surface (the latest draws are returned when needed), so every
  user keeps a leave-one-out training history;
* the query of a search interaction is the clicked item's attribute ids, each
  kept with probability ``p_keep`` (at least one kept), plus, with probability
  ``p_noise``, one noise word (a uniformly random attribute id or one of
  ``num_noise_words`` extra ids). Words are sorted; identical word sets are one
  query.

Every row keeps its original ordinal time, so the recommendation and search
logs together are exactly the original interactions, and the split's leakage
rule (no search row at or after a user's held-out time) applies unchanged.
Results on these datasets are marked ``meta_semi_synthetic``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from graphrec.data.datasets.amazon import AmazonSeq, read_amazon_seq
from graphrec.data.logs import BehaviourLogs, IdMap, SearchLog
from graphrec.data.ragged import Ragged

SEARCH_PROTOCOL = "attribute-id queries (Ai et al. 2017)"


@dataclass(frozen=True)
class AmazonSearchConfig:
    """How interactions move to the search surface and how queries are written.

    Args:
        seed: seed of the ``numpy.random.Generator`` used. (default: ``0``)
        share_alpha: first shape of the per-user search-share Beta distribution;
            small values give most users a near-zero share. (default: ``0.6``)
        share_beta: second shape of that Beta distribution; the mean share is
            ``alpha / (alpha + beta)``. (default: ``3.5``)
        p_keep: probability that each attribute of the clicked item becomes a
            query word (at least one is always kept). (default: ``0.7``)
        p_noise: probability that a query gets one noise word. (default: ``0.1``)
        num_noise_words: extra word ids (``n0``, ``n1``, ...) beyond the attribute
            vocabulary that may serve as noise words; ``0`` = noise words are
            random attribute ids only. (default: ``0``)
        min_rec_history: earlier (training) interactions that always stay on the
            recommendation surface, when the user has them. (default: ``1``)
    """

    seed: int = 0
    share_alpha: float = 0.6
    share_beta: float = 3.5
    p_keep: float = 0.7
    p_noise: float = 0.1
    num_noise_words: int = 0
    min_rec_history: int = 1

    def __post_init__(self) -> None:
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
        logs: recommendation-only logs with item attributes (e.g. from
            :func:`~graphrec.data.datasets.amazon.read_amazon_seq`).
        config: the protocol's parameters (default: ``AmazonSearchConfig()``).

    Returns:
        New :class:`BehaviourLogs` named ``<logs.name>-search``: ``rec`` keeps the
        remaining rows, ``search`` the moved ones (original times), with
        ``num_words = num_attrs + num_noise_words``. ``meta`` adds
        ``semi_synthetic=True``, ``search_protocol`` and the config; ``extras``
        adds ``user.search_share_target`` (the drawn :math:`s_u`) and
        ``search_noise_word`` (per search row: its noise word id, or ``-1``).
    """
    cfg = config or AmazonSearchConfig()
    if logs.search is not None and len(logs.search):
        raise ValueError(f"make_search_logs: '{logs.name}' already has a search log")
    if logs.items is None or logs.items.attrs is None:
        raise ValueError(f"make_search_logs: '{logs.name}' has no item attributes to build "
                         "queries from")
    rng = np.random.default_rng(cfg.seed)
    rec = logs.rec
    U, N = rec.num_users, len(rec)
    attrs = logs.items.attrs
    A = logs.items.num_attrs
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

    # queries: kept attributes (at least one) + an optional noise word
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
    for r in range(S):
        ws = set(kept_words[kept_ptr[r]:kept_ptr[r + 1]].tolist())
        if noise_word[r] >= 0:
            ws.add(int(noise_word[r]))
        query[r] = q_of.setdefault(tuple(sorted(ws)), len(q_of))
    q_rows = list(q_of.keys())
    offset = int(logs.meta.get("attr_id_offset", 0))
    q_text = [" ".join(f"a{w + offset}" if w < A else f"n{w - A}" for w in q) for q in q_rows]

    t = torch.from_numpy
    search = SearchLog(t(user[s_rows]), t(query), t(item[s_rows]), rec.time[t(s_rows)], U,
                       rec.num_items, Ragged.from_lists(q_rows), V, q_text,
                       source=f"{rec.source or logs.name} (semi-synthetic search)")
    meta: dict[str, Any] = {
        **logs.meta,
        "semi_synthetic": True,
        "search_protocol": SEARCH_PROTOCOL,
        "base_dataset": logs.name,
        **{f"search_{k}": v for k, v in dataclasses.asdict(cfg).items()},
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

    Reads the same raw files as :class:`AmazonSeq` (``root/amazon_seq/``).

    Args:
        root: folder holding ``amazon_seq/`` (``GRAPHREC_DATA`` when ``None``).
        name: ``"beauty"``, ``"sports"``, ``"toys"``, or the same with a
            ``-search`` suffix. (default: ``"beauty"``)
        config: the protocol's parameters (default: ``AmazonSearchConfig()``).
        cache_dir, force_reload, transform: see :class:`RecDataset`.
        **overrides: fields of :class:`AmazonSearchConfig` replacing those of
            ``config`` (e.g. ``seed=1, p_keep=0.5``).

    Example:
        >>> ds = AmazonSearch("/data", name="beauty-search")
        >>> data = ds[0]   # user/item/query/attr nodes; data.meta_semi_synthetic is True
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
        return make_search_logs(read_amazon_seq(self.raw_dir, self.name), self.config)


__all__ = ["AmazonSearchConfig", "make_search_logs", "AmazonSearch", "SEARCH_PROTOCOL"]
