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

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import add_edge_type
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


__all__ = ["HAS_REC_CODE", "HAS_SEARCH_CODE", "CODE_EDGE_TYPES", "DOMAINS", "add_user_codes", "check_codes",
           "code_node_ids", "code_degrees"]
