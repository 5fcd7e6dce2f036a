r"""User groups for breaking evaluation metrics down (an evaluation concern).

A grouping is a pair ``(group_ids, names)``: ``group_ids`` is a ``LongTensor`` with
one id in ``[0, len(names))`` per user of the graph (``data['user'].num_nodes``),
``names`` the name of each id. Pass ``group_ids[users]`` and ``names`` as
``groups=`` / ``group_names=`` to :func:`graphrec.metrics.full_ranking` or
:func:`graphrec.metrics.sampled_ranking`.

Built-in groupings, by name (:func:`user_groups`; names are normalised like the
model registry's, so ``"search-activity"`` works too):

=====================  ==========================================================
``search_activity``    :func:`search_activity_groups`: ``no_search`` /
                       ``sparse`` / ``rich`` by the number of training searches
=====================  ==========================================================

Users' own groupings: register a function ``data -> (group_ids, names)`` with
:func:`register_user_groups`, or check a hand-made tensor with
:func:`check_user_groups`.

Example:
    >>> import torch
    >>> ids, names = check_user_groups(torch.tensor([0, 1, 1]), ["a", "b"], num_users=3)
    >>> ids.tolist(), names
    ([0, 1, 1], ['a', 'b'])
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import SEARCHES
from graphrec.resolver import normalize_string

__all__ = [
    "SEARCH_ACTIVITY_GROUPS",
    "search_activity_groups",
    "search_counts",
    "check_user_groups",
    "register_user_groups",
    "user_groups",
    "user_group_names",
]

GroupFn = Callable[[HeteroData], tuple[Tensor, list[str]]]

SEARCH_ACTIVITY_GROUPS = ("no_search", "sparse", "rich")


def _num_users(data: HeteroData) -> int:
    if "user" not in data.node_types or data["user"].num_nodes is None:
        raise ValueError("the graph has no 'user' nodes (data['user'].num_nodes is missing)")
    return int(data["user"].num_nodes)


def search_counts(data: HeteroData) -> Tensor:
    """Number of training search interactions of every user, ``(num_users,)``.

    Read from ``data['user', 'searches', 'query'].edge_index`` (training-visible
    searches only; the split hides search at or after a user's held-out time),
    else from ``data['user'].search_ptr``.

    Raises:
        ValueError: if the graph holds no search interactions at all.
    """
    U = _num_users(data)
    if SEARCHES in data.edge_types and "edge_index" in data[SEARCHES]:
        src = data[SEARCHES].edge_index[0].long().cpu()
        return torch.bincount(src, minlength=U)[:U]
    ptr = getattr(data["user"], "search_ptr", None)
    if ptr is not None:
        if ptr.numel() != U + 1:
            raise ValueError(f"data['user'].search_ptr must have num_users + 1 = {U + 1} entries, got {ptr.numel()}")
        return ptr.long().cpu().diff()
    raise ValueError(
        "the graph has no search interactions (no ('user', 'searches', 'query') edges and no "
        "data['user'].search_ptr); search-activity groups need a dataset with a search log"
    )


def search_activity_groups(data: HeteroData) -> tuple[Tensor, list[str]]:
    r"""Users grouped by how much they searched in training.

    With :math:`c_u` the number of training search interactions of user :math:`u`
    and :math:`m` the median of :math:`c_u` over the users with :math:`c_u > 0`
    (the mean of the two middle values when their number is even):

    * ``no_search`` (id 0): :math:`c_u = 0`;
    * ``sparse`` (id 1): :math:`0 < c_u < \theta`;
    * ``rich`` (id 2): :math:`c_u \ge \theta`,

    with the cut :math:`\theta = m` ("below the median" / "at or above it"). Counts
    are integers and often tie at the median: on ``beauty-search`` half of the
    searchers searched exactly once, so :math:`m = 1` and ``sparse`` would be empty.
    Where the users tied at :math:`m` sit is then a choice, and it is made to halve
    the searchers: the cut is whichever of :math:`m` and :math:`\lfloor m \rfloor + 1`
    gives the two groups the closer sizes (:math:`m` on a tie). ``sparse`` is empty
    only when every searching user has the same count.

    Args:
        data (HeteroData): a graph of :func:`~graphrec.data.build_hetero_data`.

    Returns:
        ``(group_ids, names)``: a ``(num_users,)`` ``LongTensor`` and
        ``["no_search", "sparse", "rich"]``.

    Raises:
        ValueError: if the graph has no search interactions at all (a dataset without
            a search log cannot be grouped by search activity; every user would be
            ``no_search``).
    """
    counts = search_counts(data)
    searching = counts[counts > 0]
    if searching.numel() == 0:
        raise ValueError(
            "no user has a training search interaction; search-activity groups need a dataset "
            "with search in the training split"
        )
    median = float(torch.quantile(searching.double(), 0.5))  # interpolated: mean of the middle two

    def imbalance(cut: float) -> int:
        below = int((searching.double() < cut).sum())
        return abs(2 * below - searching.numel())

    cut = min((median, float(int(median) + 1)), key=imbalance)  # stable: the median wins a tie
    ids = torch.zeros(counts.numel(), dtype=torch.long)
    ids[counts > 0] = 1
    ids[counts.double() >= cut] = 2  # cut > 0, so never a no_search user
    return ids, list(SEARCH_ACTIVITY_GROUPS)


def check_user_groups(
    group_ids: Tensor, names: Sequence[str], num_users: int | None = None
) -> tuple[Tensor, list[str]]:
    """Validate a user grouping and return it as ``(LongTensor on CPU, list[str])``.

    Args:
        group_ids (torch.Tensor): ``(num_users,)`` integer group id per user.
        names (Sequence[str]): distinct group names, one per id.
        num_users (int, optional): the number of users of the graph; checked
            against the length of ``group_ids``. (default: :obj:`None`)

    Raises:
        ValueError: if ``group_ids`` is not a 1-D integer tensor, has the wrong
            length, or holds an id outside ``[0, len(names))``, or if ``names`` is
            not a sequence of distinct strings.
    """
    if not isinstance(group_ids, Tensor):
        raise ValueError(f"group ids must be a tensor, got {type(group_ids).__name__}")
    if group_ids.dim() != 1:
        raise ValueError(f"group ids must be 1-D (one id per user), got shape {tuple(group_ids.shape)}")
    if group_ids.is_floating_point() or group_ids.is_complex() or group_ids.dtype == torch.bool:
        raise ValueError(f"group ids must be an integer tensor, got {group_ids.dtype}")
    if num_users is not None and group_ids.numel() != num_users:
        raise ValueError(f"group ids must have one entry per user ({num_users}), got {group_ids.numel()}")
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"group names must be a sequence of strings, got {names!r}")
    names = [str(n) for n in names]
    if not names:
        raise ValueError("a grouping needs at least one group name")
    if len(set(names)) != len(names):
        raise ValueError(f"group names must be distinct, got {names}")
    ids = group_ids.to("cpu", torch.long)
    bad = (ids < 0) | (ids >= len(names))
    if bool(bad.any()):
        u = int(torch.nonzero(bad)[0, 0])
        raise ValueError(f"user {u} has group id {int(ids[u])}, outside [0, {len(names)}) (names: {names})")
    return ids, names


_GROUPINGS: dict[str, GroupFn] = {}
_GROUPING_NAMES: dict[str, str] = {}


def register_user_groups(name: str, fn: GroupFn) -> None:
    """Register a named grouping ``fn(data) -> (group_ids, names)`` for :func:`user_groups`
    (e.g. to be selected with ``--set train.groups=<name>``)."""
    if not callable(fn):
        raise ValueError(f"grouping {name!r} must be callable, got {type(fn).__name__}")
    _GROUPINGS[normalize_string(name)] = fn
    _GROUPING_NAMES[normalize_string(name)] = name


def user_group_names() -> list[str]:
    """The names :func:`user_groups` accepts, sorted."""
    return sorted(_GROUPING_NAMES.values())


def user_groups(name: str, data: HeteroData) -> tuple[Tensor, list[str]]:
    """The named grouping of ``data``'s users: ``(group_ids over all users, names)``.

    Args:
        name (str): a registered grouping, e.g. ``"search_activity"``.
        data (HeteroData): the graph.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones), or what
            the grouping raises (e.g. no search in the data).
    """
    fn = _GROUPINGS.get(normalize_string(str(name)))
    if fn is None:
        raise ValueError(f"unknown user grouping {name!r}; valid: {', '.join(user_group_names())}")
    ids, names = fn(data)
    return check_user_groups(ids, names, _num_users(data))


register_user_groups("search_activity", search_activity_groups)
