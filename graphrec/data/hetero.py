"""Behaviour logs + a split -> one :class:`torch_geometric.data.HeteroData`.

Node types: ``user``, ``item``, and where the logs have them ``query`` and
``attr`` (``code`` is added by methods that quantise users). Edge types (every
edge store holds **training edges only**; message passing never sees a held-out
pair):

=================================  ===============================================
``('user', 'clicks', 'item')``     training recommendation interactions; ``time``
``('user', 'searches', 'query')``  training-visible search interactions; ``time``,
                                   ``item`` (the clicked item of each search)
``('query', 'leads_to', 'item')``  the same search rows as query -> clicked item
``('item', 'has', 'attr')``        item side information
=================================  ===============================================

Reverse edges follow PyG's convention: the graph is stored **directed** (forward
types only, as PyG's own datasets are) and ``T.ToUndirected()`` adds
``(dst, 'rev_<relation>', src)`` for each type, copying its per-edge attributes;
:func:`add_reverse_edges` does the same but is idempotent (it never reverses a
``rev_*`` type). ``build_hetero_data(..., with_reverse=True)`` stores them at build
time (do not apply ``ToUndirected`` on top: it reverses every bipartite type it
finds, ``rev_*`` ones included). Either way the reverse of ``('user', 'clicks',
'item')`` is ``('item', 'rev_clicks', 'user')`` and no ``rev_rev_*`` type appears.

Held-out pairs are **link-prediction labels** at graph level, in the layout of
PyG's ``RandomLinkSplit`` / ``LinkNeighborLoader`` (all labels are positives):

=================================  ===============================================
``data.edge_label_type``           ``('user', 'clicks', 'item')``, the labelled type
``data.valid_edge_label_index``    ``(2, V)`` validation ``(user, item)`` pairs
``data.valid_edge_label_time``     ``(V,)`` their times (chronological per user)
``data.test_edge_label_index``     ``(2, T)`` test pairs
``data.test_edge_label_time``      ``(T,)`` their times
=================================  ===============================================

Read them with :func:`heldout` (``(edge_label_index, edge_label_time)``) and
:func:`has_heldout`; e.g. ``LinkNeighborLoader(data, num_neighbors=[10],
edge_label_index=(data.edge_label_type, data.valid_edge_label_index),
edge_label_time=data.valid_edge_label_time, ...)``.

Node features ``x`` (float, ``(num_nodes, F)``) exist only where the dataset has
node features (see each dataset's docstring: the synthetic users' covariates,
KuaiSAR's one-hot user codes); other node types have none.
Attributes carry their field: ``data['attr'].field[a]`` indexes
``data.attr_fields`` (e.g. ``['category', 'brand']``), so ``(item, has, attr)``
edges can be split per field (:func:`attr_field_edges`).

Per-user training histories are CSR, never padded copies:
``data['user'].hist_ptr`` / ``hist_item`` (chronological recommendation items) and
``search_ptr`` / ``search_query`` / ``search_item`` (chronological searches).
Both surfaces merged into one timeline per user (:mod:`graphrec.data.timeline`,
on every graph, recommendation-only where there is no search):

=================================  ===============================================
``data['user'].event_ptr``         ``(|U| + 1,)`` CSR offsets of each user's events
``event_time``                     ``(|E|,)`` float64, sorted within a user; ties:
                                   recommendation first, then stored order
``event_surface``                  ``(|E|,)`` int8, ``REC = 0`` / ``SEARCH = 1``
``event_item``                     ``(|E|,)`` clicked item (both surfaces)
``event_query``                    ``(|E|,)`` query of a search, ``-1`` for a click
=================================  ===============================================

Query words are ``data['query'].token_ptr`` / ``token`` over ``data.num_words``;
where the log keeps their text, ``data.query_words[w]`` is word ``w``.

Item text, where the dataset has it, is stored as graph-level python lists with one
entry per item (index = item node index): ``data.item_title`` (``""`` = none),
``data.item_category`` (list of category paths, each a list of names from the root
down), ``data.item_brand`` (``""`` = unknown) and ``data.item_keywords`` (``""`` =
none). They are graph-level rather than ``data['item'].title`` because PyG's
``subgraph`` and neighbour loaders index every per-node attribute as a tensor and
fail on lists; a sampled batch maps back through ``batch['item'].n_id``.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.logs import BehaviourLogs
from graphrec.data.ragged import Ragged
from graphrec.data.split import Split
from graphrec.typing import EdgeType

CLICKS: EdgeType = ("user", "clicks", "item")
SEARCHES: EdgeType = ("user", "searches", "query")
LEADS_TO: EdgeType = ("query", "leads_to", "item")
HAS_ATTR: EdgeType = ("item", "has", "attr")

SplitName = Literal["train", "valid", "test"]


def reverse(edge_type: EdgeType) -> EdgeType:
    """``(dst, 'rev_<relation>', src)``: the name PyG's ``ToUndirected`` gives the reverse."""
    src, rel, dst = edge_type
    return (dst, f"rev_{rel}", src)


def is_reverse(edge_type: EdgeType) -> bool:
    """Whether ``edge_type`` is a reverse (``rev_*``) type."""
    return edge_type[1].startswith("rev_")


def add_edge_type(data: HeteroData, edge_type: EdgeType, edge_index: Tensor,
                  with_reverse: bool = False, **attrs: Tensor) -> None:
    """Add a (user-defined) edge type, checked against the node counts; with
    ``with_reverse`` also its reverse :func:`reverse` (``T.ToUndirected()`` adds it later)."""
    src, _, dst = edge_type
    edge_index = torch.as_tensor(edge_index, dtype=torch.long)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index of {edge_type} must have shape (2, E), got {tuple(edge_index.shape)}")
    for row, node_type in ((0, src), (1, dst)):
        if node_type not in data.node_types:
            raise ValueError(f"node type '{node_type}' of {edge_type} is not in the graph; "
                             f"add data['{node_type}'].num_nodes first")
        n = data[node_type].num_nodes
        if edge_index.numel() and (int(edge_index[row].min()) < 0 or int(edge_index[row].max()) >= n):
            bad = edge_index[row][(edge_index[row] < 0) | (edge_index[row] >= n)][0]
            raise ValueError(f"{edge_type}: index {int(bad)} out of range [0, {n}) for '{node_type}'")
    store = data[edge_type]
    store.edge_index = edge_index
    for k, v in attrs.items():
        store[k] = v
    if with_reverse:
        rev = data[reverse(edge_type)]
        rev.edge_index = edge_index.flip(0)
        for k, v in attrs.items():
            rev[k] = v


def build_hetero_data(logs: BehaviourLogs, split: Split, with_reverse: bool = False,
                      extra_edges: dict[EdgeType, Tensor] | None = None) -> HeteroData:
    """Build the training graph of ``logs`` under ``split``.

    Only training rows become message-passing edges; held-out rows are graph-level
    link labels ``data.valid_edge_label_index`` / ``test_edge_label_index`` (+
    ``*_edge_label_time``) of ``data.edge_label_type`` (read them with :func:`heldout`).
    Search rows hidden by the split (at or after a user's held-out time) are left out
    entirely.

    Args:
        logs: the validated tables.
        split: the split; its ``protocol`` is recorded as ``data.protocol``.
        with_reverse: also store each edge type's reverse ``rev_<relation>`` (default:
            ``False``: the graph is directed; ``T.ToUndirected()`` or
            :func:`add_reverse_edges` add the same reverses later).
        extra_edges: user-defined edge types to add (node types must exist).
    """
    rec = logs.rec
    data = HeteroData()
    data.name = logs.name
    data.protocol = split.protocol
    data["user"].num_nodes = rec.num_users
    data["item"].num_nodes = rec.num_items

    tr = rec.subset(split.train)
    order = tr.chronological_order()
    add_edge_type(data, CLICKS, torch.stack([tr.user[order], tr.item[order]]), with_reverse,
                  time=tr.time[order])
    data.edge_label_type = CLICKS
    for part, idx in (("valid", split.valid), ("test", split.test)):
        sub = rec.subset(idx)
        o = sub.chronological_order()
        data[f"{part}_edge_label_index"] = torch.stack([sub.user[o], sub.item[o]])
        data[f"{part}_edge_label_time"] = sub.time[o]
    hist = Ragged.from_coo(tr.user, tr.item, rec.num_users, order=tr.time)
    data["user"].hist_ptr, data["user"].hist_item = hist.ptr, hist.values

    if logs.search is not None:
        s = logs.search.subset(split.search_train) if split.search_train is not None else logs.search
        o = torch.argsort(s.time, stable=True)
        o = o[torch.argsort(s.user[o], stable=True)]
        data["query"].num_nodes = s.num_queries
        data["query"].token_ptr = s.query_tokens.ptr
        data["query"].token = s.query_tokens.values
        data.num_words = s.num_words
        if s.words is not None:
            data.query_words = list(s.words)
        add_edge_type(data, SEARCHES, torch.stack([s.user[o], s.query[o]]), with_reverse,
                      time=s.time[o], item=s.item[o])
        add_edge_type(data, LEADS_TO, torch.stack([s.query[o], s.item[o]]), with_reverse,
                      time=s.time[o])
        counts = torch.bincount(s.user, minlength=rec.num_users)
        ptr = torch.zeros(rec.num_users + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=ptr[1:])
        data["user"].search_ptr = ptr
        data["user"].search_query = s.query[o]
        data["user"].search_item = s.item[o]

    if logs.impressions is not None:
        _add_visible_impressions(data, logs, split)

    if logs.items is not None and logs.items.attrs is not None:
        attrs = logs.items.attrs
        data["attr"].num_nodes = logs.items.num_attrs
        field, fields = logs.items.fields()
        data["attr"].field = field
        data.attr_fields = fields
        add_edge_type(data, HAS_ATTR, torch.stack([attrs.row_index(), attrs.values]), with_reverse)
    if logs.items is not None:
        for name, values in logs.items.text_fields().items():
            # graph-level, not on data['item']: PyG's subgraph and neighbour loaders index
            # every per-node attribute as a tensor and fail on python lists
            data[f"item_{name}"] = list(values)

    for key, value in logs.extras.items():
        # 'user.z_pref' -> data['user'].z_pref ; plain keys are graph-level.
        if "." in key:
            node_type, attr = key.split(".", 1)
            data[node_type][attr] = value
        else:
            data[key] = value
    for k, v in logs.meta.items():
        if isinstance(v, (str, int, float, bool)):
            data[f"meta_{k}"] = v
    for edge_type, edge_index in (extra_edges or {}).items():
        add_edge_type(data, edge_type, edge_index, with_reverse)
    # every graph gets a joint timeline (rec-only without search), so sequence models
    # can use one loader everywhere; imported here because timeline.py reads this module
    from graphrec.data.timeline import add_joint_timeline
    add_joint_timeline(data)
    data.validate(raise_on_error=True)
    return data


def _add_visible_impressions(data: HeteroData, logs: BehaviourLogs, split: Split) -> None:
    """Each user's impressions strictly before the user's first held-out interaction
    (what training may see, as for search), chronological, as ``data['user'].imp_ptr``,
    ``imp_item`` and ``imp_clicked``."""
    rec, imp = logs.rec, logs.impressions
    held = torch.cat([split.valid, split.test])
    cutoff = torch.full((rec.num_users,), float("inf"), dtype=torch.float64).scatter_reduce(
        0, rec.user[held], rec.time[held], "amin")
    seen = imp.subset(torch.nonzero(imp.time < cutoff[imp.user]).flatten())
    rows = Ragged.from_coo(seen.user, torch.arange(len(seen)), rec.num_users, order=seen.time)  # one sort for both
    data["user"].imp_ptr = rows.ptr
    data["user"].imp_item = seen.item[rows.values]
    data["user"].imp_clicked = seen.clicked[rows.values]


def visible_impressions(data: HeteroData) -> tuple[Ragged, Tensor] | None:
    """Each user's training-visible impressions, chronological: ``(items per user,
    clicked flag of every value)``; ``None`` when the logs have none."""
    if "imp_ptr" not in data["user"]:
        return None
    return Ragged(data["user"].imp_ptr, data["user"].imp_item), data["user"].imp_clicked


# ---- views used by samplers, models and evaluation ----------------------------------

def train_history(data: HeteroData) -> Ragged:
    """Each user's training items, chronological."""
    return Ragged(data["user"].hist_ptr, data["user"].hist_item)


def heldout(data: HeteroData, split: str) -> tuple[Tensor, Tensor]:
    """``(edge_label_index (2, E), edge_label_time (E,))`` of the held-out ``split``
    pairs (``"valid"`` or ``"test"``) of ``data.edge_label_type``, chronological per
    user. The one accessor every reader uses."""
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    key = f"{split}_edge_label_index"
    if key not in data:
        raise KeyError(f"the graph has no '{key}' (held-out {split} pairs); build it with "
                       "build_hetero_data (older graphs kept them on the clicks store as "
                       f"'{split}_edge_index': re-process them with force_reload=True)")
    return data[key], data[f"{split}_edge_label_time"]


_heldout = heldout  # older name


def first_heldout(data: HeteroData, split: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(users, items, times)``: each user's earliest held-out pair of ``split`` (the
    first stored among pairs with the same time), users ascending."""
    idx, time = heldout(data, split)
    order = torch.argsort(time, stable=True)
    order = order[torch.argsort(idx[0][order], stable=True)]
    users = idx[0][order]
    first = torch.ones_like(users, dtype=torch.bool)
    first[1:] = users[1:] != users[:-1]
    keep = order[first]
    return idx[0][keep], idx[1][keep], time[keep]


def has_heldout(data: HeteroData, split: str) -> bool:
    """Whether ``split`` has at least one held-out pair."""
    return heldout(data, split)[0].size(1) > 0


def add_reverse_edges(data: HeteroData) -> HeteroData:
    """Add ``(dst, 'rev_<relation>', src)`` for every forward edge type that lacks it,
    copying its per-edge attributes, as ``T.ToUndirected()`` does for bipartite types.
    Unlike the transform it is idempotent: ``rev_*`` types are never reversed again.
    Returns ``data`` (changed in place)."""
    for edge_type in list(data.edge_types):
        if is_reverse(edge_type) or reverse(edge_type) in data.edge_types:
            continue
        store = data[edge_type]
        if "edge_index" not in store:
            continue
        n = store.edge_index.size(1)
        rev = data[reverse(edge_type)]
        rev.edge_index = store.edge_index.flip(0)
        for k, v in store.items():
            if k != "edge_index" and isinstance(v, Tensor) and v.dim() and v.size(0) == n:
                rev[k] = v
    return data


def attr_field_edges(data: HeteroData, field: str | int) -> Tensor:
    """The ``(item, attr)`` edges of ``('item', 'has', 'attr')`` whose attribute
    belongs to ``field`` (a name in ``data.attr_fields`` or its index)."""
    fields = list(data.attr_fields)
    if isinstance(field, str):
        if field not in fields:
            raise ValueError(f"unknown attribute field {field!r}; the graph has {fields}")
        field = fields.index(field)
    ei = data[HAS_ATTR].edge_index
    return ei[:, data["attr"].field[ei[1]] == field]


def history(data: HeteroData, split: SplitName) -> Ragged:
    """The input history a model sees when predicting ``split``: training items
    for ``train``/``valid``, training + validation items (chronological) for ``test``."""
    if split in ("train", "valid"):
        return train_history(data)
    tr = data[CLICKS]
    va_idx, va_time = heldout(data, "valid")
    users = torch.cat([tr.edge_index[0], va_idx[0]])
    items = torch.cat([tr.edge_index[1], va_idx[1]])
    times = torch.cat([tr.time, va_time])
    return Ragged.from_coo(users, items, data["user"].num_nodes, order=times)


def eval_targets(data: HeteroData, split: SplitName) -> tuple[Tensor, Ragged, Ragged]:
    """``(users, targets, exclude)`` for ranking evaluation on ``split``.

    ``users`` are those with at least one held-out item; ``targets[r]`` their
    held-out items; ``exclude[r]`` the items to mask -- everything in the user's
    history for that split, *minus* the targets themselves, so a re-consumed item
    stays rankable.
    """
    idx, _ = heldout(data, split)
    num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
    users = torch.unique(idx[0])
    remap = torch.full((num_users,), -1, dtype=torch.long)
    remap[users] = torch.arange(users.numel())
    # de-duplicate (user, item) target pairs
    key = torch.unique(idx[0] * num_items + idx[1])
    t_user, t_item = key // num_items, key % num_items
    targets = Ragged.from_coo(remap[t_user], t_item, users.numel())
    hist = history(data, split)
    h_user = hist.row_index()
    keep = remap[h_user] >= 0
    h_user, h_item = h_user[keep], hist.values[keep]
    h_key = torch.unique(h_user * num_items + h_item)
    h_key = h_key[~torch.isin(h_key, key)]
    exclude = Ragged.from_coo(remap[h_key // num_items], h_key % num_items, users.numel())
    return users, targets, exclude


__all__ = ["CLICKS", "SEARCHES", "LEADS_TO", "HAS_ATTR", "reverse", "is_reverse", "add_edge_type",
           "add_reverse_edges", "attr_field_edges", "build_hetero_data", "train_history", "heldout",
           "first_heldout", "has_heldout", "history", "eval_targets", "visible_impressions"]
