r"""User-code graphs: discrete codes as ``code`` nodes that connect similar users.

GSERec (`Shi et al., CIKM 2025 <https://arxiv.org/abs/2508.04145>`_) quantises two
text summaries of each user -- one of their recommendation history, one of their
searches -- into :math:`L` discrete codes each (an RQ-VAE, :mod:`graphrec.nn.quantize`).
Users that share a code are two hops apart through it, so message passing over the
bipartite user-code graph lets users with rich search behaviour lend signal to users
with little of it.

Codes are **level- and domain-specific tokens**: code :math:`k` of level :math:`l`
of domain :math:`s` (0 = recommendation, 1 = search) is node

.. math::
    \mathrm{id}(s, l, k) = s \cdot L N + l \cdot N + k,

so there are :math:`2 L N` ``code`` nodes (2,048 for the paper's 4 levels of 256
codes), a recommendation code never equals a search code, and level 1's code 5 is
not level 2's code 5. :func:`add_user_codes` stores:

=======================================  ============================================
``data['code'].num_nodes``               :math:`2 L N`
``data['code'].domain / level / index``  ``(2LN,)`` the :math:`(s, l, k)` of each node
``('user', 'has_rec_code', 'code')``     one edge per user and level: the user's
                                         recommendation codes
``('user', 'has_search_code', 'code')``  the same for the search codes
``('code', 'rev_has_rec_code', 'user')`` reverses (PyG's ``ToUndirected`` names)
``('code', 'rev_has_search_code', ...)``
``data['user'].codes``                   ``(|U|, 2, L)`` the code indices :math:`k`
=======================================  ============================================

Every user has degree :math:`L` in each graph; a code's degree is the number of
users holding it; codes of the other domain are isolated in each graph (message
passing leaves them at zero). Nothing here builds a user-user or a dense matrix.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS, HAS_ATTR, add_edge_type
from graphrec.typing import EdgeType

HAS_REC_CODE: EdgeType = ("user", "has_rec_code", "code")
HAS_SEARCH_CODE: EdgeType = ("user", "has_search_code", "code")
#: the user-code edge type of each domain (0 = recommendation, 1 = search)
CODE_EDGE_TYPES: tuple[EdgeType, EdgeType] = (HAS_REC_CODE, HAS_SEARCH_CODE)
DOMAINS = ("rec", "search")


def code_node_ids(codes: Tensor, num_codes: int) -> Tensor:
    r"""Node ids :math:`s L N + l N + k` of ``codes (|U|, 2, L)`` (entries :math:`k`)."""
    _, num_domains, num_levels = codes.shape
    domain = torch.arange(num_domains).view(1, -1, 1) * (num_levels * num_codes)
    level = torch.arange(num_levels).view(1, 1, -1) * num_codes
    return codes.long() + domain + level


def check_codes(codes: Tensor, num_users: int, num_codes: int) -> Tensor:
    """``codes`` as a ``(num_users, 2, L)`` int64 tensor with entries in ``[0, num_codes)``,
    or a ValueError that names the problem."""
    if not isinstance(codes, Tensor) or codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f"codes must be an integer tensor of shape (num_users, 2, levels), got "
                         f"{type(codes).__name__ if not isinstance(codes, Tensor) else codes.dtype}")
    if codes.dim() != 3 or codes.size(0) != num_users or codes.size(1) != 2 or codes.size(2) < 1:
        raise ValueError(f"codes must have shape ({num_users}, 2, levels) (users x rec/search x levels), "
                         f"got {tuple(codes.shape)}")
    if num_codes < 1:
        raise ValueError(f"num_codes must be >= 1, got {num_codes}")
    bad = (codes < 0) | (codes >= num_codes)
    if bool(bad.any()):
        u, s, lv = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"codes[{u}, {s}, {lv}] = {int(codes[u, s, lv])} (user {u}, {DOMAINS[s]} level {lv}) "
                         f"is outside [0, {num_codes})")
    return codes.long()


def add_user_codes(data: HeteroData, codes: Tensor, num_codes: int) -> HeteroData:
    r"""Add ``code`` nodes and the two user-code graphs of ``codes`` to ``data`` (in
    place; see the module docstring for what is stored).

    Args:
        data (HeteroData): a graph with a ``user`` node type.
        codes (torch.Tensor): ``(|U|, 2, L)`` code index per user, domain
            (0 = recommendation, 1 = search) and level, in ``[0, num_codes)``.
        num_codes (int): codes per level :math:`N`.

    Returns:
        ``data``, for chaining.

    Example:
        >>> data = HeteroData()
        >>> data['user'].num_nodes = 2
        >>> codes = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [1, 0]]])  # 2 users, 2 levels
        >>> data = add_user_codes(data, codes, num_codes=2)
        >>> data['code'].num_nodes  # 2 domains x 2 levels x 2 codes
        8
        >>> data['user', 'has_rec_code', 'code'].edge_index.tolist()
        [[0, 0, 1, 1], [0, 3, 0, 2]]
    """
    num_users = data["user"].num_nodes
    codes = check_codes(codes, num_users, num_codes)
    num_levels = codes.size(2)
    total = 2 * num_levels * num_codes
    ids = code_node_ids(codes, num_codes)
    data["code"].num_nodes = total
    node = torch.arange(total)
    data["code"].domain = node // (num_levels * num_codes)
    data["code"].level = (node // num_codes) % num_levels
    data["code"].index = node % num_codes
    data["user"].codes = codes
    users = torch.arange(num_users).repeat_interleave(num_levels)
    for domain, edge_type in enumerate(CODE_EDGE_TYPES):
        add_edge_type(data, edge_type, torch.stack([users, ids[:, domain].reshape(-1)]), with_reverse=True)
    return data


def code_degrees(data: HeteroData, domain: int) -> Tensor:
    """``(num_code_nodes,)`` number of users holding each code node in ``domain``'s graph."""
    return torch.bincount(data[CODE_EDGE_TYPES[domain]].edge_index[1], minlength=data["code"].num_nodes)


def _user_code_matrix(data: HeteroData, domain: int, levels: Sequence[int] | None = None) -> sp.csr_matrix:
    """Binary ``(|U|, |codes|)`` matrix of the user-code edges of ``domain`` (optionally
    only those of the given levels)."""
    src, dst = data[CODE_EDGE_TYPES[domain]].edge_index
    if levels is not None:
        keep = torch.isin(data["code"].level[dst], torch.as_tensor(list(levels)))
        src, dst = src[keep], dst[keep]
    shape = (data["user"].num_nodes, data["code"].num_nodes)
    return sp.csr_matrix((np.ones(src.numel(), dtype=np.float32), (src.numpy(), dst.numpy())), shape=shape)


def connectivity_audit(data: HeteroData, group_ids: Tensor, group_names: Sequence[str],
                       source: str = "sparse", target: str = "rich") -> dict[str, Any]:
    r"""How many ``target``-group users (e.g. rich searchers) each ``source``-group user
    (e.g. a sparse searcher) reaches in two hops, user -> shared code -> user, in each
    user-code graph: GSERec's premise is that such paths let the rich lend signal to
    the sparse.

    For each graph (``rec``, ``search``) and for all levels together and each level
    alone, over the source users: the share that reaches at least one target user, and
    the mean and median number of distinct target users reached.

    Args:
        data (HeteroData): a graph with codes (:func:`add_user_codes`).
        group_ids (torch.Tensor): ``(|U|,)`` group id of every user.
        group_names (list[str]): the name of each group id.
        source (str, optional): the group whose reach is counted. (default: ``"sparse"``)
        target (str, optional): the group reached. (default: ``"rich"``)
    """
    names = list(group_names)
    for g in (source, target):
        if g not in names:
            raise ValueError(f"group {g!r} is not one of {names}")
    src_users = (group_ids == names.index(source)).nonzero().flatten().numpy()
    dst_users = (group_ids == names.index(target)).nonzero().flatten().numpy()
    num_levels = int(data["user"].codes.size(2))
    out: dict[str, Any] = {"source": source, "target": target, "source_users": int(src_users.size),
                           "target_users": int(dst_users.size)}
    for domain, dom_name in enumerate(DOMAINS):
        per: dict[str, Any] = {}
        for label, levels in [("all", None)] + [(f"level_{lv + 1}", [lv]) for lv in range(num_levels)]:
            a = _user_code_matrix(data, domain, levels)
            reach = (a[src_users] @ a[dst_users].T).tocsr()
            if source == target:  # a user does not reach itself
                reach.setdiag(0)
                reach.eliminate_zeros()
            counts = np.diff(reach.indptr)
            per[label] = {"share_reaching": float((counts > 0).mean()) if counts.size else 0.0,
                          "mean_reached": float(counts.mean()) if counts.size else 0.0,
                          "median_reached": float(np.median(counts)) if counts.size else 0.0}
        out[dom_name] = per
    return out


def user_categories(data: HeteroData, depth: int = 2) -> list[set[str]]:
    """The category names at ``depth`` below the root of every item each user clicked in
    training (``data.item_category``); where the data has no category text, the item's
    attribute ids (``('item', 'has', 'attr')``, e.g. the synthetic world's topics) as
    ``"attr:<id>"``; else empty sets."""
    cats = getattr(data, "item_category", None)
    num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
    if cats is not None:
        item_cat = [{p[depth] for p in paths if len(p) > depth} for paths in cats]
    elif HAS_ATTR in data.edge_types:
        item_cat = [set() for _ in range(num_items)]
        for i, a in zip(*data[HAS_ATTR].edge_index.tolist()):
            item_cat[i].add(f"attr:{a}")
    else:
        return [set() for _ in range(num_users)]
    users, items = data[CLICKS].edge_index.tolist()
    out: list[set[str]] = [set() for _ in range(num_users)]
    for u, i in zip(users, items):
        out[u] |= item_cat[i]
    return out


def code_neighbour_agreement(codes: Tensor, categories: Sequence[set[str]],
                             pairs: int = 20000, generator: torch.Generator | None = None) -> dict[str, Any]:
    r"""Whether users that share codes share interests: the mean Jaccard similarity of
    the category sets of two users who share the first :math:`d` codes of a domain,
    against two users drawn at random, for :math:`d = 1 .. L`.

    Pairs are drawn uniformly among the users that share a prefix with someone (one
    anchor, then a partner with the same prefix); users with no categories are left out.

    Args:
        codes (torch.Tensor): ``(|U|, 2, L)`` codes.
        categories (list[set[str]]): each user's categories (:func:`user_categories`).
        pairs (int, optional): pairs drawn per figure. (default: ``20000``)
        generator (torch.Generator, optional): randomness. (default: seed 0)

    Returns:
        ``{"random": J, "rec": {"prefix_1": J, ...}, "search": {...}}`` with the number
        of pairs behind each figure.
    """
    g = generator or torch.Generator().manual_seed(0)
    keep = torch.tensor([bool(c) for c in categories])
    users = keep.nonzero().flatten()

    def jaccard(a: Tensor, b: Tensor) -> float:
        vals = [len(categories[i] & categories[j]) / len(categories[i] | categories[j])
                for i, j in zip(a.tolist(), b.tolist())]
        return float(np.mean(vals)) if vals else float("nan")

    n = users.numel()
    if n < 2:
        raise ValueError(f"code_neighbour_agreement needs at least 2 users with categories, got {n}")
    i = users[torch.randint(n, (pairs,), generator=g)]
    j = users[torch.randint(n, (pairs,), generator=g)]
    distinct = i != j
    out: dict[str, Any] = {"random": {"jaccard": jaccard(i[distinct], j[distinct]), "pairs": int(distinct.sum())}}
    for domain, name in enumerate(DOMAINS):
        per = {}
        for depth in range(1, codes.size(2) + 1):
            _, group = torch.unique(codes[users, domain, :depth], dim=0, return_inverse=True)
            order = torch.argsort(group, stable=True)  # members of group k: order[start[k]:start[k] + counts[k]]
            counts = torch.bincount(group)
            start = torch.cumsum(counts, 0) - counts
            shared = counts[group] > 1  # anchors with at least one partner
            anchors = shared.nonzero().flatten()
            if anchors.numel() == 0:
                per[f"prefix_{depth}"] = {"jaccard": float("nan"), "pairs": 0}
                continue
            a = anchors[torch.randint(anchors.numel(), (pairs,), generator=g)]
            ga = group[a]
            # a partner uniform among the other members: an offset in [0, count - 2], and the
            # anchor's own slot stands for the last member (never the anchor then)
            off = torch.floor(torch.rand(pairs, generator=g) * (counts[ga] - 1).double()).long()
            member = order[start[ga] + off]
            member = torch.where(member == a, order[start[ga] + counts[ga] - 1], member)
            per[f"prefix_{depth}"] = {"jaccard": jaccard(users[a], users[member]), "pairs": pairs}
        out[name] = per
    return out


__all__ = ["HAS_REC_CODE", "HAS_SEARCH_CODE", "CODE_EDGE_TYPES", "DOMAINS", "add_user_codes", "check_codes",
           "code_node_ids", "code_degrees", "connectivity_audit", "user_categories", "code_neighbour_agreement"]
