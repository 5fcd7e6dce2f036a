"""Behaviour logs + a split -> one :class:`torch_geometric.data.HeteroData`.

Node types: ``user``, ``item``, and where the logs have them ``query`` and
``attr`` (``code`` is added by methods that quantise users). Edge types, each
with its reverse (``rev_<relation>``, the name ``ToUndirected`` would give):

=================================  ===============================================
``('user', 'clicks', 'item')``     training recommendation interactions; ``time``;
                                   held-out pairs in ``valid_edge_index`` /
                                   ``test_edge_index`` (+ ``valid_time``, ``test_time``)
``('user', 'searches', 'query')``  training-visible search interactions; ``time``,
                                   ``item`` (the clicked item of each search)
``('query', 'leads_to', 'item')``  the same search rows as query -> clicked item
``('item', 'has', 'attr')``        item side information
=================================  ===============================================

Per-user training histories are CSR, never padded copies:
``data['user'].hist_ptr`` / ``hist_item`` (chronological recommendation items) and
``search_ptr`` / ``search_query`` / ``search_item`` (chronological searches).
Query words are ``data['query'].token_ptr`` / ``token`` over ``data.num_words``.
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
    src, rel, dst = edge_type
    return (dst, f"rev_{rel}", src)


def add_edge_type(data: HeteroData, edge_type: EdgeType, edge_index: Tensor,
                  with_reverse: bool = True, **attrs: Tensor) -> None:
    """Add a (user-defined) edge type, checked against the node counts, with its reverse."""
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


def build_hetero_data(logs: BehaviourLogs, split: Split, with_reverse: bool = True,
                      extra_edges: dict[EdgeType, Tensor] | None = None) -> HeteroData:
    """Build the training graph of ``logs`` under ``split``.

    Only training rows become message-passing edges; held-out rows are stored
    as ``valid_edge_index`` / ``test_edge_index`` on the clicks store. Search rows
    hidden by the split (at or after a user's held-out time) are left out entirely.

    Args:
        logs: the validated tables.
        split: the split; its ``protocol`` is recorded as ``data.protocol``.
        with_reverse: also store each edge type's reverse.
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
    clicks = data[CLICKS]
    for part, idx in (("valid", split.valid), ("test", split.test)):
        sub = rec.subset(idx)
        o = sub.chronological_order()
        clicks[f"{part}_edge_index"] = torch.stack([sub.user[o], sub.item[o]])
        clicks[f"{part}_time"] = sub.time[o]
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

    if logs.items is not None and logs.items.attrs is not None:
        attrs = logs.items.attrs
        data["attr"].num_nodes = logs.items.num_attrs
        add_edge_type(data, HAS_ATTR, torch.stack([attrs.row_index(), attrs.values]), with_reverse)

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
    data.validate(raise_on_error=True)
    return data


# ---- views used by samplers, models and evaluation ----------------------------------

def train_history(data: HeteroData) -> Ragged:
    """Each user's training items, chronological."""
    return Ragged(data["user"].hist_ptr, data["user"].hist_item)


def _heldout(data: HeteroData, split: str) -> tuple[Tensor, Tensor]:
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    store = data[CLICKS]
    return store[f"{split}_edge_index"], store[f"{split}_time"]


def history(data: HeteroData, split: SplitName) -> Ragged:
    """The input history a model sees when predicting ``split``: training items
    for ``train``/``valid``, training + validation items (chronological) for ``test``."""
    if split in ("train", "valid"):
        return train_history(data)
    tr = data[CLICKS]
    va_idx, va_time = _heldout(data, "valid")
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
    idx, _ = _heldout(data, split)
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


__all__ = ["CLICKS", "SEARCHES", "LEADS_TO", "HAS_ATTR", "reverse", "add_edge_type",
           "build_hetero_data", "train_history", "history", "eval_targets"]
