r"""Per-user text documents: what the preference-summary prompts of GSERec read.

For every user of a split training graph, :func:`user_documents` collects the
training-visible inputs of the two summaries (GSERec §3.1), read from the joint
timeline (:class:`~graphrec.data.timeline.JointTimeline`), so nothing at or after a
user's held-out time is ever used:

* **rec**: the texts of the user's last ``max_items`` recommendation clicks, oldest
  first;
* **search**: the user's last ``max_sessions`` search sessions, each its query text
  and the text of its clicked item (graphrec's search rows carry one clicked item,
  as ``max_session_item_len = 1`` in the paper's generation script);
* **top terms**: the most frequent leaf categories and brands among those rec
  items, and the most frequent words among those queries, where the graph has them.

An item's text is its title, else its keywords (Amazon Sports), else its first
category path (``Beauty > Makeup > Nails``), else ``item <raw id>``: the first field
the dataset has, nothing invented. HTML entities are already unescaped by the
Amazon readers (:func:`graphrec.data.datasets.amazon.read_amazon_text`). A query's
text is its words (``data.query_words``) or, where the log keeps only word ids (the
synthetic world), ``w<id>`` tokens.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import HAS_ATTR
from graphrec.data.timeline import REC, SEARCH, JointTimeline


@dataclass
class UserDocuments:
    r"""The summary inputs of every user (one entry per user node, index = user index).

    Args:
        rec_items: texts of each user's last recommendation clicks, oldest first.
        search_queries: query text of each user's last search sessions, oldest first.
        search_items: clicked-item text of those sessions (aligned with ``search_queries``).
        top_categories: most frequent leaf categories among ``rec_items`` (ties: by name).
        top_brands: most frequent brands among ``rec_items`` (ties: by name).
        top_query_words: most frequent words of ``search_queries`` (ties: by word id).
        num_rec: ``(|U|,)`` number of training recommendation clicks (uncut).
        num_search: ``(|U|,)`` number of training-visible searches (uncut).
        settings: the arguments that built the documents (JSON, for cache keys).

    Example:
        >>> from graphrec.train.run import load_dataset
        >>> data = load_dataset("synthetic", None, num_users=50, num_items=40)[0]
        >>> docs = user_documents(data, max_items=5)
        >>> len(docs), max(len(r) for r in docs.rec_items) <= 5
        (50, True)
    """

    rec_items: list[list[str]]
    search_queries: list[list[str]]
    search_items: list[list[str]]
    top_categories: list[list[str]]
    top_brands: list[list[str]]
    top_query_words: list[list[str]]
    num_rec: Tensor
    num_search: Tensor
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.rec_items)
        for name in ("search_queries", "search_items", "top_categories", "top_brands", "top_query_words"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"UserDocuments.{name} has {len(getattr(self, name))} rows, expected {n}")

    @property
    def num_users(self) -> int:
        return len(self.rec_items)

    def __len__(self) -> int:
        return self.num_users

    def user(self, u: int) -> dict[str, Any]:
        """One user's documents as a plain dict (for printing and prompts)."""
        return {"rec_items": self.rec_items[u],
                "search_sessions": list(zip(self.search_queries[u], self.search_items[u])),
                "top_categories": self.top_categories[u], "top_brands": self.top_brands[u],
                "top_query_words": self.top_query_words[u]}

    def __repr__(self) -> str:
        with_search = sum(1 for s in self.search_queries if s)
        return f"UserDocuments(users={self.num_users}, with_search={with_search})"


# ---- helpers --------------------------------------------------------------------------

def _exclusive_cumsum(counts: Tensor) -> Tensor:
    out = torch.zeros(counts.numel() + 1, dtype=torch.long)
    torch.cumsum(counts.long(), 0, out=out[1:])
    return out


def last_events(tl: JointTimeline, surface: int, k: int | None) -> tuple[Tensor, Tensor, Tensor]:
    """Flat timeline positions of each user's last ``k`` events of ``surface``
    (``None`` = all), in timeline order.

    Returns:
        ``(ptr (|U| + 1,), pos (E',), counts (|U|,))``: user ``u``'s kept events are
        ``pos[ptr[u]:ptr[u + 1]]``; ``counts`` are the uncut numbers of events.
    """
    pos = tl.surface_positions(surface).cpu()
    row = tl.row_index().cpu()[pos]
    counts = torch.bincount(row, minlength=tl.num_rows)
    if k is not None:
        # the timeline is grouped by user, so an event's rank within its user's
        # events of this surface is its offset from the user's first one
        rank = torch.arange(pos.numel()) - _exclusive_cumsum(counts)[row]
        pos = pos[rank >= (counts - k)[row]]
        kept = counts.clamp(max=max(k, 0))
    else:
        kept = counts
    return _exclusive_cumsum(kept), pos, counts


def _split(values: list[Any], ptr: Tensor) -> list[list[Any]]:
    p = ptr.tolist()
    return [values[p[u]:p[u + 1]] for u in range(len(p) - 1)]


def _cut_words(text: str, max_words: int | None) -> str:
    if max_words is None:
        return text
    words = text.split()
    return " ".join(words[:max_words]) if len(words) > max_words else text


def _graph_list(data: HeteroData, key: str, n: int) -> list[Any] | None:
    if key not in data:
        return None
    values = data[key]
    if len(values) != n:
        raise ValueError(f"data.{key} has {len(values)} entries, expected one per item ({n})")
    return list(values)


def item_texts(data: HeteroData, item_ids: Sequence[Any] | None = None,
               max_words: int | None = 96) -> list[str]:
    """One text per item: title, else keywords, else the first category path
    (``" > "``-joined), else ``item <raw id>``.

    Args:
        data: a graph with ``data['item']`` (text lists ``data.item_title`` ... optional).
        item_ids: raw id of each item for the last fallback (default: the item index).
        max_words: cut each text to this many words, standing in for the paper's
            128-token cut; ``None`` = no cut. (default: ``96``)
    """
    n = data["item"].num_nodes
    title = _graph_list(data, "item_title", n)
    keywords = _graph_list(data, "item_keywords", n)
    category = _graph_list(data, "item_category", n)
    if item_ids is not None and len(item_ids) != n:
        raise ValueError(f"item_ids has {len(item_ids)} entries, expected {n}")
    out = []
    for i in range(n):
        text = (title[i] if title else "") or (keywords[i] if keywords else "")
        if not text and category and category[i]:
            text = " > ".join(category[i][0])
        if not text:
            text = f"item {item_ids[i] if item_ids is not None else i}"
        out.append(_cut_words(text, max_words))
    return out


def _query_vocab(data: HeteroData) -> list[str]:
    """Word ``w``'s text: ``data.query_words[w]``, or ``w<id>`` where the log keeps only ids."""
    if "query_words" in data:
        return list(data.query_words)
    token = data["query"].token
    num_words = int(getattr(data, "num_words", 0) or (int(token.max()) + 1 if token.numel() else 0))
    return [f"w{w}" for w in range(num_words)]


def query_texts(data: HeteroData, query_ids: Tensor | None = None, max_words: int | None = 32) -> list[str]:
    """One text per query (every query node, or ``query_ids``): its words joined by
    spaces (``data.query_words``, else ``w<id>`` tokens), cut to ``max_words``; a query
    without words is the empty string.

    Example:
        >>> from graphrec.train.run import load_dataset
        >>> data = load_dataset("synthetic", None, num_users=50, num_items=40)[0]
        >>> texts = query_texts(data)
        >>> len(texts) == data["query"].num_nodes and texts[0].startswith("w")
        True
    """
    if "query" not in data.node_types or "token_ptr" not in data["query"]:
        raise ValueError("the graph has no query words (data['query'].token_ptr / token) to make query texts of")
    ids = torch.arange(data["query"].num_nodes) if query_ids is None else torch.as_tensor(query_ids).cpu()
    t_ptr, token = data["query"].token_ptr.cpu(), data["query"].token.cpu()
    vocab = _query_vocab(data)
    owner, tok = _gather_csr(t_ptr, token, ids)
    per_query = _split([vocab[t] for t in tok.tolist()], _exclusive_cumsum(torch.bincount(owner,
                                                                                      minlength=ids.numel())))
    return [_cut_words(" ".join(w), max_words) for w in per_query]


def _gather_csr(ptr: Tensor, values: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """``(owner, values)`` of the concatenated CSR rows ``rows`` (vectorised)."""
    lengths = ptr[rows + 1] - ptr[rows]
    starts = _exclusive_cumsum(lengths)
    owner = torch.repeat_interleave(torch.arange(rows.numel()), lengths)
    idx = torch.repeat_interleave(ptr[rows], lengths) + torch.arange(int(starts[-1])) - starts[:-1][owner]
    return owner, values[idx]


def _top_terms(user: Tensor, term: Tensor, vocab: Sequence[str], num_users: int, k: int) -> list[list[str]]:
    """Each user's ``k`` most frequent terms, ties broken by term id (vocabularies are
    built in name order where names exist, so ties break alphabetically)."""
    out: list[list[str]] = [[] for _ in range(num_users)]
    if term.numel() == 0 or k <= 0:
        return out
    v = len(vocab)
    uniq, cnt = torch.unique(user * v + term, return_counts=True)  # sorted by (user, term)
    order = torch.argsort(-cnt, stable=True)
    order = order[torch.argsort(uniq[order] // v, stable=True)]
    uniq = uniq[order]
    u = uniq // v
    ptr = _exclusive_cumsum(torch.bincount(u, minlength=num_users))
    keep = (torch.arange(u.numel()) - ptr[u]) < k
    for uu, tt in zip(u[keep].tolist(), (uniq[keep] % v).tolist()):
        out[uu].append(vocab[tt])
    return out


def _item_terms(data: HeteroData, kind: str) -> tuple[Tensor, Tensor, list[str]] | None:
    """``(ptr, term, vocab)``: the leaf categories (``kind='category'``) or brand
    (``'brand'``) of each item as CSR over a name-sorted vocabulary; from the text
    lists, else from the attribute graph where its fields say which attributes are
    categories / brands (named ``a<id>``: the synthetic world ships no names)."""
    n = data["item"].num_nodes
    rows: list[list[str]] | None = None
    if kind == "category" and "item_category" in data:
        rows = [sorted({p[-1] for p in paths if p}) for paths in _graph_list(data, "item_category", n) or []]
    elif kind == "brand" and "item_brand" in data:
        rows = [[b] if b else [] for b in _graph_list(data, "item_brand", n) or []]
    if rows is not None:
        vocab = sorted({t for r in rows for t in r})
        index = {t: i for i, t in enumerate(vocab)}
        ptr = _exclusive_cumsum(torch.tensor([len(r) for r in rows], dtype=torch.long))
        term = torch.tensor([index[t] for r in rows for t in r], dtype=torch.long)
        return ptr, term, vocab
    fields = list(getattr(data, "attr_fields", None) or [])
    if HAS_ATTR not in data.edge_types or kind not in fields or "field" not in data["attr"]:
        return None
    item, attr = data[HAS_ATTR].edge_index.cpu()
    keep = data["attr"].field.cpu()[attr] == fields.index(kind)
    item, attr = item[keep], attr[keep]
    order = torch.argsort(item, stable=True)
    ptr = _exclusive_cumsum(torch.bincount(item, minlength=n))
    return ptr, attr[order], [f"a{a}" for a in range(data["attr"].num_nodes)]


def user_documents(data: HeteroData, max_items: int = 20, max_sessions: int = 20, top_k: int = 3,
                   max_item_words: int | None = 96, max_query_words: int | None = 32,
                   item_ids: Sequence[Any] | None = None) -> UserDocuments:
    r"""Build every user's summary inputs from a split training graph.

    Vectorised over users except for the final per-user list slicing: about a
    second on Amazon Beauty (22,363 users).

    Args:
        data: a training graph from :func:`~graphrec.data.hetero.build_hetero_data`
            (any graphrec dataset; graphs without search get empty search documents).
        max_items: recommendation clicks kept per user, most recent. (default: ``20``)
        max_sessions: search sessions kept per user, most recent. (default: ``20``)
        top_k: top categories / brands / query words kept per user. (default: ``3``)
        max_item_words: cut of each item text in words. (default: ``96``)
        max_query_words: cut of each query text in words. (default: ``32``)
        item_ids: raw item ids for the ``item <raw id>`` fallback (e.g.
            ``dataset.logs.item_map.raw``; default: the item index).

    Returns:
        :class:`UserDocuments`.

    Example:
        >>> from graphrec.train.run import load_dataset
        >>> docs = user_documents(load_dataset("beauty-search")[0])  # doctest: +SKIP
        >>> docs.rec_items[0][-1]                                    # doctest: +SKIP
        'OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce'
    """
    if max_items < 0 or max_sessions < 0 or top_k < 0:
        raise ValueError("max_items, max_sessions and top_k must be >= 0")
    num_users = data["user"].num_nodes
    tl = JointTimeline.from_data(data).to("cpu")
    texts = item_texts(data, item_ids, max_item_words)

    # ---- recommendation clicks -------------------------------------------------------
    r_ptr, r_pos, n_rec = last_events(tl, REC, max_items)
    r_item = tl.item[r_pos]
    rec_items = _split([texts[i] for i in r_item.tolist()], r_ptr)
    r_user = torch.repeat_interleave(torch.arange(num_users), r_ptr[1:] - r_ptr[:-1])
    tops: dict[str, list[list[str]]] = {}
    for kind in ("category", "brand"):
        terms = _item_terms(data, kind)
        if terms is None:
            tops[kind] = [[] for _ in range(num_users)]
            continue
        ptr, term, vocab = terms
        owner, values = _gather_csr(ptr, term, r_item)
        tops[kind] = _top_terms(r_user[owner], values, vocab, num_users, top_k)

    # ---- search sessions --------------------------------------------------------------
    s_ptr, s_pos, n_search = last_events(tl, SEARCH, max_sessions)
    s_query = tl.query[s_pos]
    s_user = torch.repeat_interleave(torch.arange(num_users), s_ptr[1:] - s_ptr[:-1])
    top_words: list[list[str]] = [[] for _ in range(num_users)]
    query_text: dict[int, str] = {}
    if s_pos.numel() and "token_ptr" in data["query"]:
        uq = torch.unique(s_query)
        query_text = dict(zip(uq.tolist(), query_texts(data, uq, max_query_words)))
        owner, tok = _gather_csr(data["query"].token_ptr.cpu(), data["query"].token.cpu(), s_query)
        top_words = _top_terms(s_user[owner], tok, _query_vocab(data), num_users, top_k)
    queries = [query_text.get(q, f"query {q}") for q in s_query.tolist()]
    clicked = [texts[i] for i in tl.item[s_pos].tolist()]

    settings = {"max_items": max_items, "max_sessions": max_sessions, "top_k": top_k,
                "max_item_words": max_item_words, "max_query_words": max_query_words}
    return UserDocuments(rec_items, _split(queries, s_ptr), _split(clicked, s_ptr), tops["category"],
                         tops["brand"], top_words, n_rec, n_search, settings)


__all__ = ["UserDocuments", "user_documents", "item_texts", "query_texts", "last_events"]
