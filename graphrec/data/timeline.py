r"""Joint timelines: each user's recommendation clicks and searches as one sequence.

A user's *joint timeline* is every training-visible event of both surfaces, in
time order, stored as CSR on the ``user`` node store (no padded copies):

========================  ========================================================
``event_ptr``             ``(|U| + 1,)`` int64 offsets; user ``u``'s events are
                          ``event_ptr[u]:event_ptr[u + 1]``
``event_time``            ``(|E|,)`` float64 time of each event
``event_surface``         ``(|E|,)`` int8: :data:`REC` (0) a recommendation click,
                          :data:`SEARCH` (1) a search
``event_item``            ``(|E|,)`` int64 clicked item (both surfaces)
``event_query``           ``(|E|,)`` int64 query id of a search, ``-1`` for a click;
                          the query's words are ``data['query'].token_ptr/token``
========================  ========================================================

It is built from the training clicks ``data['user', 'clicks', 'item']`` and the
training-visible searches ``data['user', 'searches', 'query']`` (``time``,
``item``), so it inherits the split's guarantee that no search at or after a
user's held-out time is present.

**Order.** Within a user, events are sorted by time. Ties at equal time are
broken by surface, recommendation before search, and then by the order in which
the graph stores the rows (for clicks, the training file order, exactly as
``hist_item``; for searches, the search log's order). The rule is deterministic
and never looks at ids, so a timeline's recommendation events are always
``hist_item`` in the same order.

Graphs without search get a recommendation-only timeline (every event
:data:`REC`, every ``event_query`` ``-1``), so a model can use one loader on
every dataset.

**Cuts.** Training targets and evaluation both read the history *strictly before*
a time :math:`t`: for a target click at :math:`t`, its inputs are

.. math::
    \mathcal{R}_{<t} = \{(v, \tau) \in \text{rec}(u) : \tau < t\}, \qquad
    \mathcal{S}_{<t} = \{(q, v, \tau) \in \text{search}(u) : \tau < t\},

each cut to its most recent ``max_rec_len`` / ``max_search_len`` events and
left-padded. Events tied with :math:`t` (including other clicks at the same
time) are never inputs. See :class:`graphrec.data.loader.JointTimelineLoader` and
:func:`eval_timeline`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS, SEARCHES, first_heldout, heldout

REC: int = 0
"""Surface flag of a recommendation click."""
SEARCH: int = 1
"""Surface flag of a search."""

SURFACE_DTYPE = torch.int8
_KEYS = ("event_ptr", "event_time", "event_surface", "event_item", "event_query")


def _exclusive_cumsum(counts: Tensor) -> Tensor:
    """``out[i] = counts[:i].sum()`` (a bool mask counts its true entries); shape ``(len(counts) + 1,)``."""
    out = torch.zeros(counts.numel() + 1, dtype=torch.long, device=counts.device)
    torch.cumsum(counts.long(), 0, out=out[1:])
    return out


@dataclass
class JointTimeline:
    r"""Per-user joint timelines of both surfaces in CSR form (see the module docstring).

    Row :math:`u` holds events ``ptr[u]:ptr[u + 1]``, sorted by time (ties:
    recommendation before search, then stored order).

    Args:
        ptr (torch.Tensor): ``(num_rows + 1,)`` int64 offsets.
        time (torch.Tensor): ``(|E|,)`` float64 event times.
        surface (torch.Tensor): ``(|E|,)`` :data:`REC` / :data:`SEARCH` flags.
        item (torch.Tensor): ``(|E|,)`` clicked item of each event.
        query (torch.Tensor): ``(|E|,)`` query id of each search, ``-1`` for clicks.

    Example:
        >>> tl = JointTimeline.from_events(torch.tensor([0, 0, 1]), torch.tensor([2.0, 1.0, 1.0]),
        ...                                torch.tensor([REC, SEARCH, REC]), torch.tensor([5, 6, 7]),
        ...                                torch.tensor([-1, 3, -1]), num_users=2)
        >>> tl.item.tolist(), tl.surface.tolist()
        ([6, 5, 7], [1, 0, 0])
    """

    ptr: Tensor
    time: Tensor
    surface: Tensor
    item: Tensor
    query: Tensor
    # derived once: flat positions of each surface's events and, per flat position,
    # how many events of that surface precede it (so windows are plain index maths)
    _pos: dict[int, Tensor] = field(init=False, repr=False)
    _before: dict[int, Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = self.time.numel()
        if self.ptr.dim() != 1 or self.ptr.numel() < 1 or int(self.ptr[0]) != 0 or int(self.ptr[-1]) != n:
            raise ValueError(f"JointTimeline.ptr must run from 0 to the number of events ({n})")
        for name in ("surface", "item", "query"):
            if getattr(self, name).numel() != n:
                raise ValueError(f"JointTimeline.{name} has {getattr(self, name).numel()} entries, expected {n}")
        self._pos, self._before = {}, {}
        for s in (REC, SEARCH):
            mask = self.surface == s
            self._pos[s] = torch.nonzero(mask).flatten()
            self._before[s] = _exclusive_cumsum(mask)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_events(cls, user: Tensor, time: Tensor, surface: Tensor, item: Tensor, query: Tensor,
                    num_users: int) -> JointTimeline:
        """Group events by user and sort them by ``(time, surface)``; rows equal in
        both keep their input order (stable sorts, so the result is deterministic)."""
        user = torch.as_tensor(user, dtype=torch.long)
        if user.numel() and (int(user.min()) < 0 or int(user.max()) >= num_users):
            raise ValueError(f"user index out of range [0, {num_users})")
        surface = torch.as_tensor(surface).to(SURFACE_DTYPE)
        time = torch.as_tensor(time, dtype=torch.float64)
        perm = torch.argsort(surface, stable=True)
        perm = perm[torch.argsort(time[perm], stable=True)]
        perm = perm[torch.argsort(user[perm], stable=True)]
        ptr = _exclusive_cumsum(torch.bincount(user, minlength=num_users))
        return cls(ptr, time[perm], surface[perm], torch.as_tensor(item, dtype=torch.long)[perm],
                   torch.as_tensor(query, dtype=torch.long)[perm])

    @classmethod
    def from_graph(cls, data: HeteroData) -> JointTimeline:
        """Build the timeline from a graph's training clicks and visible searches."""
        num_users = data["user"].num_nodes
        clicks = data[CLICKS]
        parts = [(clicks.edge_index[0], clicks.time, REC, clicks.edge_index[1],
                  torch.full_like(clicks.edge_index[0], -1))]
        if SEARCHES in data.edge_types:
            s = data[SEARCHES]
            parts.append((s.edge_index[0], s.time, SEARCH, s.item, s.edge_index[1]))
        user, time, surface, item, query = (
            torch.cat([p[0] for p in parts]),
            torch.cat([p[1].to(torch.float64) for p in parts]),
            torch.cat([torch.full((p[0].numel(),), p[2], dtype=SURFACE_DTYPE) for p in parts]),
            torch.cat([p[3] for p in parts]),
            torch.cat([p[4] for p in parts]),
        )
        return cls.from_events(user, time, surface, item, query, num_users)

    @classmethod
    def from_data(cls, data: HeteroData) -> JointTimeline:
        """The timeline stored on ``data['user']`` (built on the fly for a graph that
        lacks it, e.g. one assembled by hand rather than by ``build_hetero_data``)."""
        store = data["user"]
        if "event_ptr" not in store:
            return cls.from_graph(data)
        return cls(store.event_ptr, store.event_time, store.event_surface, store.event_item, store.event_query)

    # ---- access -------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return self.ptr.numel() - 1

    @property
    def num_events(self) -> int:
        return self.time.numel()

    def __len__(self) -> int:
        return self.num_rows

    def lengths(self) -> Tensor:
        return self.ptr[1:] - self.ptr[:-1]

    def row_index(self) -> Tensor:
        """The row (user) of every event."""
        return torch.repeat_interleave(torch.arange(self.num_rows, device=self.ptr.device), self.lengths())

    def surface_positions(self, surface: int) -> Tensor:
        """Flat positions of the events of one surface, in timeline order."""
        return self._pos[surface]

    def count_before(self, surface: int, end: Tensor) -> Tensor:
        """Number of events of ``surface`` at flat positions ``< end`` (over all rows)."""
        return self._before[surface][end]

    def select(self, rows: Tensor) -> JointTimeline:
        """The sub-timeline of the given rows, in that order (vectorised)."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.ptr.device)
        lengths = self.lengths()[rows]
        ptr = _exclusive_cumsum(lengths)
        offsets = torch.arange(int(ptr[-1]), device=ptr.device) - torch.repeat_interleave(ptr[:-1], lengths)
        idx = torch.repeat_interleave(self.ptr[rows], lengths) + offsets
        return JointTimeline(ptr, self.time[idx], self.surface[idx], self.item[idx], self.query[idx])

    def write(self, data: HeteroData) -> None:
        """Store the timeline on ``data['user']`` under the ``event_*`` names."""
        store = data["user"]
        for key, value in zip(_KEYS, (self.ptr, self.time, self.surface, self.item, self.query)):
            store[key] = value

    # ---- cuts ---------------------------------------------------------------------
    def cut_before(self, rows: Tensor, time: Tensor) -> Tensor:
        """For each ``(rows[i], time[i])``, the flat position one past the row's last
        event strictly before ``time[i]`` (``inf`` = the whole row). Vectorised: the
        rows are sorted by time, so this is one ``searchsorted`` over ``(row, time)``
        keys made comparable by ranking all times together."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        time = torch.as_tensor(time, dtype=torch.float64)
        if rows.numel() == 0:
            return rows.clone()
        uniq, inv = torch.unique(torch.cat([self.time, time]), return_inverse=True)
        width = uniq.numel() + 1
        key = self.row_index() * width + inv[: self.num_events]
        query = rows * width + inv[self.num_events:]
        return torch.searchsorted(key, query, side="left")

    def _window(self, surface: int, rows: Tensor, end: Tensor, length: int) -> tuple[Tensor, Tensor]:
        """Flat positions ``(B, length)`` of the last ``length`` events of ``surface``
        in ``[ptr[row], end)``, left-padded, and the mask of real slots."""
        pos = self._pos[surface]
        hi = self._before[surface][end]
        lo = self._before[surface][self.ptr[rows]]
        idx = hi.unsqueeze(1) - length + torch.arange(length, device=hi.device)
        ok = idx >= lo.unsqueeze(1)
        if pos.numel() == 0:
            return torch.zeros_like(idx), torch.zeros_like(ok)
        return pos[idx.clamp(0, pos.numel() - 1)], ok

    def history_lengths(self, rows: Tensor, end: Tensor) -> tuple[Tensor, Tensor]:
        """Numbers of recommendation and search events in ``[ptr[rows], end)`` (uncut)."""
        start = self.ptr[rows]
        return (self._before[REC][end] - self._before[REC][start],
                self._before[SEARCH][end] - self._before[SEARCH][start])

    def windows(self, rows: Tensor, end: Tensor, max_rec_len: int, max_search_len: int) -> dict[str, Tensor]:
        """Left-padded history windows of events ``[ptr[rows], end)``, most recent kept.

        Ids are shifted by one (0 = padding); padded time slots are 0 (tell them
        apart by the id). Returns ``rec_item``, ``rec_time`` ``(B, max_rec_len)`` and
        ``search_query``, ``search_item``, ``search_time`` ``(B, max_search_len)``.
        """
        rows = torch.as_tensor(rows, dtype=torch.long)
        pos, ok = self._window(REC, rows, end, max_rec_len)
        zero_t = torch.zeros((), dtype=self.time.dtype, device=self.time.device)
        out = {"rec_item": torch.where(ok, self.item[pos] + 1, 0),
               "rec_time": torch.where(ok, self.time[pos], zero_t)}
        pos, ok = self._window(SEARCH, rows, end, max_search_len)
        out["search_query"] = torch.where(ok, self.query[pos] + 1, 0)
        out["search_item"] = torch.where(ok, self.item[pos] + 1, 0)
        out["search_time"] = torch.where(ok, self.time[pos], zero_t)
        return out

    def to(self, device: torch.device | str) -> JointTimeline:
        return JointTimeline(self.ptr.to(device), self.time.to(device), self.surface.to(device),
                             self.item.to(device), self.query.to(device))

    def __repr__(self) -> str:
        n_search = self._pos[SEARCH].numel()
        return f"JointTimeline(users={self.num_rows}, rec={self.num_events - n_search}, search={n_search})"


def add_joint_timeline(data: HeteroData) -> JointTimeline:
    """Build the joint timeline of ``data`` and store it as ``data['user'].event_*``
    (see the module docstring); returns it. Rec-only graphs get a rec-only timeline."""
    tl = JointTimeline.from_graph(data)
    tl.write(data)
    return tl


def eval_timeline(data: HeteroData, split: str, users: Tensor | None = None, max_rec_len: int = 50,
                  max_search_len: int = 50, with_target: bool = False) -> dict[str, Tensor]:
    r"""History windows at evaluation time, cut exactly as training targets are.

    For each evaluated user, the held-out time :math:`t_u` is the earliest time of
    the user's held-out pairs in ``split`` (read through
    :func:`graphrec.data.hetero.heldout`); users without one get :math:`t_u = \infty`.
    The recommendation history is the user's :func:`~graphrec.data.hetero.history`
    items for ``split`` (training items; at ``test`` also the validation items)
    *strictly before* :math:`t_u`; the search history is the visible searches
    strictly before :math:`t_u`. On leave-one-out splits without time ties this is
    all of ``history(data, split)``; where training clicks share or follow the
    held-out time (ties, ratio splits) they are left out, as for a training target.

    Args:
        data: a graph from :func:`~graphrec.data.hetero.build_hetero_data`.
        split: ``'valid'`` or ``'test'``.
        users: the users to cut (default: those with a held-out pair in ``split``,
            ascending, as :func:`~graphrec.data.hetero.eval_targets` orders them).
        max_rec_len: recommendation window length. (default: ``50``)
        max_search_len: search window length. (default: ``50``)
        with_target: also return ``target (B,)``, the shifted item of each user's
            earliest held-out pair (first stored among ties; 0 without one), for
            validation batches with the keys of a training batch (early stopping on a
            loss). Never for ranking evaluation. (default: ``False``)

    Returns:
        ``user (B,)``, ``target_time (B,)`` (float64 :math:`t_u`), and the windows
        of :meth:`JointTimeline.windows`: ``rec_item``, ``rec_time`` ``(B, max_rec_len)``,
        ``search_query``, ``search_item``, ``search_time`` ``(B, max_search_len)``;
        ids shifted by one, 0 = padding. Held-out items are in the batch only as
        ``target`` with ``with_target=True``.
    """
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    num_users = data["user"].num_nodes
    tl = JointTimeline.from_data(data)
    if split == "test":
        va_idx, va_time = heldout(data, "valid")
        if va_idx.size(1):
            row = tl.row_index()
            tl = JointTimeline.from_events(
                torch.cat([row, va_idx[0]]), torch.cat([tl.time, va_time.to(torch.float64)]),
                torch.cat([tl.surface, torch.full((va_idx.size(1),), REC, dtype=SURFACE_DTYPE, device=va_idx.device)]),
                torch.cat([tl.item, va_idx[1]]), torch.cat([tl.query, torch.full_like(va_idx[1], -1)]),
                num_users)
    first_users, first_items, first_times = first_heldout(data, split)
    first = torch.full((num_users,), float("inf"), dtype=torch.float64, device=tl.ptr.device)
    first[first_users] = first_times.to(torch.float64)
    if users is None:
        users = first_users  # ascending, as eval_targets orders them
    users = torch.as_tensor(users, dtype=torch.long, device=tl.ptr.device)
    target_time = first[users]
    end = tl.cut_before(users, target_time)
    out = {"user": users, "target_time": target_time, **tl.windows(users, end, max_rec_len, max_search_len)}
    if with_target:
        item = torch.zeros(num_users, dtype=torch.long, device=users.device)
        item[first_users] = first_items + 1
        out["target"] = item[users]
    return out


__all__ = ["REC", "SEARCH", "JointTimeline", "add_joint_timeline", "eval_timeline"]
