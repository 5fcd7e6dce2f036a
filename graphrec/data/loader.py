"""Mini-batches for training: BPR triples, padded sequence windows, search sessions.

Negative sampling is vectorised: candidates for the whole batch are drawn at
once and only the rejected ones (a user's positives) are redrawn, so there is
no Python loop per sample.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from graphrec.data.ragged import Ragged
from graphrec.data.timeline import REC, JointTimeline


class NegativeSampler:
    r"""Negatives that avoid each user's positive items: uniform over the items, or in
    proportion to ``weights``.

    Args:
        positives: each user's positive items (row = user).
        num_items: size of the item space.
        max_rounds: redraw rounds before giving up on a user whose positives cover
            almost every item (the rare leftover is accepted and counted in
            :attr:`accepted_collisions`).
        weights: ``(num_items,)`` non-negative: item :math:`i` is drawn with probability
            :math:`w_i / \sum_j w_j` (e.g. its training popularity; an item of weight 0 is
            never drawn). ``None``: uniform.
    """

    def __init__(self, positives: Ragged, num_items: int, max_rounds: int = 100,
                 weights: Tensor | None = None) -> None:
        self.num_items = num_items
        self.max_rounds = max_rounds
        users = positives.row_index()
        self._keys = torch.unique(users * num_items + positives.values)  # sorted
        self.accepted_collisions = 0
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float64)
            if weights.shape != (num_items,) or bool((weights < 0).any()) or not bool(weights.sum() > 0):
                raise ValueError(f"NegativeSampler: weights must be ({num_items},), non-negative and not all "
                                 f"zero, got shape {tuple(weights.shape)}")
        self.weights = weights

    def _draw(self, n: int, generator: torch.Generator | None) -> Tensor:
        if self.weights is None:
            return torch.randint(self.num_items, (n,), generator=generator)
        return torch.multinomial(self.weights, n, replacement=True, generator=generator) if n else \
            torch.zeros(0, dtype=torch.long)

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        keys = users * self.num_items + items
        if self._keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        pos = torch.searchsorted(self._keys, keys).clamp_(max=self._keys.numel() - 1)
        return self._keys[pos] == keys

    def sample(self, users: Tensor, num: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``(len(users), num)`` negatives; ``num=1`` returns shape ``(len(users),)``."""
        u = users.reshape(-1, 1).expand(-1, num).reshape(-1)
        neg = self._draw(u.numel(), generator)
        bad = self.is_positive(u, neg)
        rounds = 0
        while bool(bad.any()) and rounds < self.max_rounds:
            idx = bad.nonzero().flatten()
            neg[idx] = self._draw(idx.numel(), generator)
            bad[idx] = self.is_positive(u[idx], neg[idx])
            rounds += 1
        self.accepted_collisions += int(bad.sum())
        out = neg.view(-1, num)
        return out.squeeze(1) if num == 1 else out


NEGATIVES = ("uniform", "popularity")


def negative_weights(kind: str, clicks: Ragged, num_items: int) -> Tensor | None:
    """The :class:`NegativeSampler` weights of a negatives ``kind``: ``None`` for
    ``"uniform"``, each item's count in ``clicks`` for ``"popularity"``."""
    if kind not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {kind!r}")
    return torch.bincount(clicks.values, minlength=num_items) if kind == "popularity" else None


class BPRLoader:
    """Shuffled ``(user, pos_item, neg_item)`` triples over the training edges.

    One epoch visits every training interaction once (the LightGCN reference's
    sampler draws users at random instead; both are common, this one gives a
    well-defined epoch).
    """

    def __init__(self, edge_index: Tensor, num_items: int, batch_size: int = 2048,
                 shuffle: bool = True, generator: torch.Generator | None = None,
                 sampler: NegativeSampler | None = None, num_users: int | None = None) -> None:
        self.user, self.item = edge_index[0], edge_index[1]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        n_users = num_users if num_users is not None else int(self.user.max()) + 1 if self.user.numel() else 0
        self.sampler = sampler or NegativeSampler(
            Ragged.from_coo(self.user, self.item, n_users), num_items)

    def __len__(self) -> int:
        return (self.user.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        n = self.user.numel()
        perm = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = perm[start:start + self.batch_size]
            u = self.user[idx]
            yield {"user": u, "pos": self.item[idx],
                   "neg": self.sampler.sample(u, 1, self.generator)}


class RecSearchBPRLoader:
    r"""BPR triples over the training recommendation clicks, each batch joined by a batch
    of search clicks (ClardRec's "one rec batch and one search batch per step").

    Rec keys ``user, pos, neg`` as :class:`BPRLoader`; search keys ``s_user, s_query,
    s_item, s_neg``: a search row ``(u, q, i)`` and one negative item outside ``u``'s
    recommendation *and* search positives. The search rows are far fewer than the rec
    clicks (about a sixth on beauty-search), so they are cycled, reshuffled at each
    pass; every rec click is visited once per epoch. The epoch has the rec batches'
    length; each search batch has ``search_batch_size`` rows (default: the rec batch size).
    """

    def __init__(self, rec_edge_index: Tensor, search_user: Tensor, search_query: Tensor, search_item: Tensor,
                 num_users: int, num_items: int, batch_size: int = 2048, search_batch_size: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.rec = BPRLoader(rec_edge_index, num_items, batch_size, generator=generator, num_users=num_users)
        self.s_user, self.s_query, self.s_item = search_user, search_query, search_item
        self.search_batch_size = search_batch_size or batch_size
        self.generator = generator
        both = Ragged.from_coo(torch.cat([rec_edge_index[0], search_user]), torch.cat([rec_edge_index[1], search_item]),
                               num_users)
        self.search_sampler = NegativeSampler(both, num_items)

    def __len__(self) -> int:
        return len(self.rec)

    def _search_rows(self) -> Iterator[Tensor]:
        """Endless full batches of search row ids: shuffled passes joined end to end, so
        every row is drawn once per pass and no batch is cut short at a pass's end."""
        n, size = self.s_user.numel(), self.search_batch_size
        stream = torch.empty(0, dtype=torch.long)
        while True:
            while stream.numel() < size:
                stream = torch.cat([stream, torch.randperm(n, generator=self.generator)])
            yield stream[:size]
            stream = stream[size:]

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        rows = self._search_rows() if self.s_user.numel() else None
        for batch in self.rec:
            if rows is not None:
                idx = next(rows)
                u = self.s_user[idx]
                batch.update(s_user=u, s_query=self.s_query[idx], s_item=self.s_item[idx],
                             s_neg=self.search_sampler.sample(u, 1, self.generator))
            yield batch


def batch_order(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
                lengths: Tensor | None = None, length_buckets: int = 0) -> list[Tensor]:
    """Row ids of each batch of an epoch over ``n`` rows.

    With ``length_buckets = k > 0`` (and ``shuffle``), rows are shuffled, cut into
    chunks of ``k`` batches, sorted by ``lengths`` inside each chunk, batched, and the
    batches shuffled: batches then hold sequences of similar length, so trimming
    their common left padding saves most of the work on short sequences, while every
    row is still seen once per epoch in random order of batches."""
    perm = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if not shuffle or length_buckets <= 0 or lengths is None:
        return list(perm.split(batch_size))
    batches: list[Tensor] = []
    for chunk in perm.split(batch_size * length_buckets):
        batches.extend(chunk[torch.argsort(lengths[chunk], stable=True)].split(batch_size))
    order = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in order.tolist()]


def item_windows(history: Ragged, max_len: int) -> Tensor:
    """``(num_rows, max_len)`` windows of each row's last ``max_len`` items, ids shifted
    by one and left-padded with 0: the input convention of the sequence loaders, for
    encoding histories at evaluation."""
    return Ragged(history.ptr, history.values + 1).pad(max_len, pad_value=0, left=True)


class SequenceLoader:
    """Left-padded next-item windows (SASRec): for each user with at least two
    training items, ``input = s[-L-1:-1]`` and ``target = s[-L:]``.

    Item ids are shifted by one so that 0 is padding. Batches hold
    ``user (B,)``, ``input (B, L)``, ``target (B, L)`` and, when ``negatives`` is
    set, ``neg (B, L)`` sampled outside the user's training items. With
    ``length_buckets > 0`` (see :func:`batch_order`) batches group similar lengths
    and drop the columns that are padding in every row (``L <= max_len``).
    """

    def __init__(self, history: Ragged, num_items: int, max_len: int = 50,
                 batch_size: int = 256, shuffle: bool = True, negatives: bool = True,
                 generator: torch.Generator | None = None, length_buckets: int = 0,
                 last_only: bool = False, row_users: Tensor | None = None,
                 sampler_history: Ragged | None = None) -> None:
        self.max_len = max_len
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.length_buckets = length_buckets
        rows = torch.nonzero(history.lengths() >= 2).flatten()
        # rows are users unless `row_users` names the user of each row (validation rows)
        self.users = rows if row_users is None else row_users[rows]
        hist = history.select(rows)
        shifted = Ragged(hist.ptr, hist.values + 1)
        full = shifted.pad(max_len + 1, pad_value=0, left=True)
        self.input = full[:, :-1].contiguous()
        # the first item of a sequence is never a target: it has no input before it
        self.target = full[:, 1:].masked_fill(self.input == 0, 0)
        if last_only:  # only the last item of each row is a target (validation batches)
            self.target[:, :-1] = 0
        if negatives:
            positives = sampler_history if sampler_history is not None else history
            if sampler_history is None and row_users is not None:
                raise ValueError("SequenceLoader: row_users needs sampler_history (each user's items)")
            self.sampler = NegativeSampler(positives, num_items)
        else:
            self.sampler = None

    def __len__(self) -> int:
        return (self.users.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        lengths = (self.input != 0).sum(1) if self.length_buckets > 0 else None
        for idx in batch_order(self.users.numel(), self.batch_size, self.shuffle, self.generator,
                               lengths, self.length_buckets):
            inp, target = self.input[idx], self.target[idx]
            if self.length_buckets > 0:
                width = int(lengths[idx].max().clamp(min=1))
                inp, target = inp[:, -width:], target[:, -width:]
            batch = {"user": self.users[idx], "input": inp, "target": target}
            if self.sampler is not None:
                u = batch["user"]
                neg = self.sampler.sample(u, inp.size(1), self.generator) + 1
                batch["neg"] = neg.masked_fill(target == 0, 0)
            yield batch


class SubsequenceLoader:
    """Every-prefix ("dynamic segmentation") training rows for ICSRec/IDCLRec-style
    training.

    From each training sequence ``(v_1, ..., v_n)`` one row per target position
    ``t + 1`` with ``t >= min_len`` (at least ``min_len`` input items): input
    ``(v_s, ..., v_t)`` with ``s = max(1, t - L + 1)`` (windows longer than
    ``max_len`` slide), target ``v_{t+1}``. Rows are kept as two integers (the
    flat position of the target and of the user's first item) and cut into padded
    windows per batch, so building the index is a few vectorised ops.

    Batches hold ``user (B,)``, ``input (B, L)`` (shifted ids, 0 = left padding),
    ``target (B,)`` (shifted id), ``index (B,)`` (row ids), and when ``partners`` is
    set ``partner (B, L)``, ``partner_index (B,)``: another row with the same target,
    drawn uniformly from the ``target -> rows`` index built once (the row itself
    when it is the only one with that target). With ``length_buckets > 0`` (see
    :func:`batch_order`) batches group similar input lengths and windows are only as
    wide as the longest input of the batch.

    With ``pair_partners`` the partners come from the batch itself, so a model encodes
    no second view: each epoch the rows of every target are shuffled and taken in pairs
    (the last three of an odd number as a cycle), each unit in one batch, each row's
    partner another row of its unit. Batches then hold ``partner_slot (B,)``, the
    position of each row's partner in the batch, or -1 for a target's only row; for
    those rows, ``partner (S, L)`` and ``partner_index (S,)`` hold the row itself (as
    above: a second dropout draw is its only other view), in the order of the rows with
    slot -1 (see :func:`partner_views`). Every row is still an input once per epoch and
    its partner is uniform among the other rows with its target; a row's two roles share
    one encoding (one dropout draw), and a batch may hold up to two rows more than
    ``batch_size`` so that no unit is split.

    With ``pair_by_length`` as well, the rows of each target are taken in pairs in order of
    input length (equal lengths in random order) instead of in random order: a row's
    partner is then the row of its target nearest in length, so a unit's shorter row
    carries little padding in a length-bucketed batch (on Amazon Beauty, 16 buckets, the
    padded cells of an epoch drop from 1.47x to 1.18x those of unpaired bucketed
    batches). The price is the partner's spread: no longer uniform over the target's rows.
    """

    def __init__(self, history: Ragged, num_items: int, max_len: int = 50, batch_size: int = 256,
                 min_len: int = 2, shuffle: bool = True, partners: bool = True,
                 generator: torch.Generator | None = None, length_buckets: int = 0,
                 last_only: bool = False, row_users: Tensor | None = None, pair_partners: bool = False,
                 pair_by_length: bool = False) -> None:
        if min_len < 1:
            raise ValueError(f"min_len must be >= 1, got {min_len}")
        if pair_partners and not (partners and shuffle):
            raise ValueError("pair_partners needs partners=True and shuffle=True (it pairs the rows of a "
                             "shuffled epoch)")
        if pair_partners and batch_size < 2:
            raise ValueError(f"pair_partners needs batch_size >= 2 (a pair fills a batch), got {batch_size}")
        if pair_by_length and not pair_partners:
            raise ValueError("pair_by_length needs pair_partners=True (it orders the rows that are paired)")
        self.pair_partners, self.pair_by_length = pair_partners, pair_by_length
        self.max_len, self.batch_size, self.min_len = max_len, batch_size, min_len
        self.shuffle, self.partners, self.generator = shuffle, partners, generator
        self.num_items, self.length_buckets = num_items, length_buckets
        self.values = history.values + 1
        row = history.row_index()
        first = history.ptr[:-1]
        pos_in_row = torch.arange(history.values.numel()) - first[row]
        keep = pos_in_row >= min_len  # target positions
        if last_only:  # one row per sequence: its last item (validation batches)
            keep &= pos_in_row == (history.ptr[1:] - first)[row] - 1
        self.pos = torch.nonzero(keep).flatten()  # flat index of the target
        seq_row = row[self.pos]
        self.start = first[seq_row]  # flat index of the sequence's first item
        # rows of `history` are users unless `row_users` names each row's user
        self.user = seq_row if row_users is None else row_users[seq_row]
        self.target = self.values[self.pos]
        # target -> rows (CSR over shifted target ids) and each row's rank in it
        self.order = torch.argsort(self.target, stable=True)
        counts = torch.bincount(self.target, minlength=num_items + 1)
        self.target_ptr = torch.zeros(num_items + 2, dtype=torch.long)
        torch.cumsum(counts, 0, out=self.target_ptr[1:])
        self.rank = torch.empty_like(self.order)
        self.rank[self.order] = torch.arange(self.order.numel())

    @property
    def num_rows(self) -> int:
        return self.pos.numel()

    def __len__(self) -> int:
        return (self.num_rows + self.batch_size - 1) // self.batch_size

    def input_lengths(self, rows: Tensor | None = None) -> Tensor:
        """Number of input items of each row (at most ``max_len``)."""
        rows = slice(None) if rows is None else rows
        return (self.pos[rows] - self.start[rows]).clamp(max=self.max_len)

    def windows(self, rows: Tensor, width: int | None = None) -> Tensor:
        """Left-padded ``(len(rows), width)`` input windows (shifted ids) of ``rows``;
        ``width`` defaults to ``max_len``."""
        L = self.max_len if width is None else width
        idx = self.pos[rows, None] - L + torch.arange(L)
        ok = idx >= self.start[rows, None]
        return torch.where(ok, self.values[idx.clamp(min=0)], torch.zeros((), dtype=self.values.dtype))

    def sample_partners(self, rows: Tensor) -> Tensor:
        """For each row, another row with the same target (itself when alone)."""
        t = self.target[rows]
        lo = self.target_ptr[t]
        count = self.target_ptr[t + 1] - lo
        others = (count - 1).clamp(min=0)
        k = (torch.rand(rows.shape, generator=self.generator) * others).long().clamp(max=(others - 1).clamp(min=0))
        self_k = self.rank[rows] - lo
        k = k + (k >= self_k).long()  # skip the row itself
        partner = self.order[(lo + k).clamp(max=self.order.numel() - 1)]
        return torch.where(others > 0, partner, rows)

    def partner_units(self) -> Tensor:
        """``(U, 3)`` units of one epoch for ``pair_partners``, padded with -1: the rows of
        each target in random order, taken two at a time, the last three of a target with
        an odd number of rows together (each member's partner is the next one, cyclically),
        and a target's only row alone. With ``pair_by_length`` each target's rows are in order
        of input length, ties in random order."""
        perm = torch.randperm(self.num_rows, generator=self.generator)
        if self.pair_by_length:  # a stable sort keeps the random order among equal lengths
            perm = perm[torch.argsort(self.input_lengths(perm), stable=True)]
        grouped = perm[torch.argsort(self.target[perm], stable=True)]  # by target, random within
        t = self.target[grouped]
        lo = self.target_ptr[t]
        rank = torch.arange(grouped.numel()) - lo  # position inside the target's rows
        count = self.target_ptr[t + 1] - lo
        has_triple = (count % 2 == 1) & (count >= 3)
        # a unit starts at every even rank, except that an odd target's last row joins the unit before it
        triple = has_triple & (rank == count - 3)
        starts = ((rank % 2 == 0) & ~(has_triple & (rank == count - 1))).nonzero().flatten()
        size = torch.where(triple[starts], 3, torch.where(count[starts] == 1, 1, 2))
        units = torch.full((starts.numel(), 3), -1, dtype=torch.long)
        for k in range(3):
            has = size > k
            units[has, k] = grouped[starts[has] + k]
        return units

    def paired_batches(self) -> list[tuple[Tensor, Tensor]]:
        """``(rows, partner_slot)`` of each batch of a ``pair_partners`` epoch: the units of
        :meth:`partner_units` shuffled (sorted by their longest row inside chunks of
        ``length_buckets`` batches, as :func:`batch_order`), filled into batches of
        ``batch_size`` rows (up to two more where a unit would be split)."""
        units = self.partner_units()
        units = units[torch.randperm(units.size(0), generator=self.generator)]
        size = (units >= 0).sum(1)
        if self.length_buckets > 0:
            longest = torch.where(units >= 0, self.input_lengths(units.clamp(min=0)), 0).amax(1)
            chunk = (torch.cumsum(size, 0) - size) // (self.batch_size * self.length_buckets)
            order = torch.argsort(chunk * (self.max_len + 1) + longest, stable=True)
            units, size = units[order], size[order]
        batch_of = (torch.cumsum(size, 0) - size) // self.batch_size  # a unit starting at B-1 stays whole
        nxt = (torch.arange(3)[None, :] + 1) % size[:, None]  # each member's partner: the next, cyclically
        counts = torch.unique_consecutive(batch_of, return_counts=True)[1].tolist()  # a unit of 3 may skip an index
        out = []
        for members, after, n in zip(units.split(counts), nxt.split(counts), size.split(counts)):
            keep = members >= 0
            pos = (torch.cumsum(keep.flatten().long(), 0) - 1).view(-1, 3)  # a row's place in the batch
            slot = torch.where(n[:, None] > 1, pos.gather(1, after), -1)
            out.append((members[keep], slot[keep]))
        if self.length_buckets > 0:  # batches in random order, as batch_order
            order = torch.randperm(len(out), generator=self.generator)
            out = [out[i] for i in order.tolist()]
        return out

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        bucketed = self.length_buckets > 0
        lengths = self.input_lengths() if bucketed else None

        def width(r: Tensor) -> int | None:
            return int(self.input_lengths(r).max()) if bucketed else None

        if self.pair_partners:
            for rows, slot in self.paired_batches():
                p = rows[slot < 0]  # a target's only row: the row itself, as sample_partners gives
                yield {"user": self.user[rows], "input": self.windows(rows, width(rows)), "target": self.target[rows],
                       "index": rows, "partner_slot": slot,
                       "partner": self.windows(p, width(p) if p.numel() else 1), "partner_index": p}
            return
        for rows in batch_order(self.num_rows, self.batch_size, self.shuffle, self.generator, lengths,
                                self.length_buckets):
            batch = {"user": self.user[rows], "input": self.windows(rows, width(rows)), "target": self.target[rows],
                     "index": rows}
            if self.partners:
                p = self.sample_partners(rows)
                batch["partner"] = self.windows(p, width(p))
                batch["partner_index"] = p
            yield batch


def partner_views(batch: dict[str, Tensor], own: Tensor, encode: Callable[[Tensor], Tensor]) -> Tensor:
    """``(B, ...)``: the representation of each row's partner, the second view of a
    same-target contrast (ICSRec, DuoRec, IDCLRec).

    ``own`` is the batch's own representation (``(B, ...)``, with its gradient) and
    ``encode`` maps left-padded windows to the same kind of representation. Batches of a
    :class:`SubsequenceLoader` with ``pair_partners`` take a paired row's partner from
    ``own`` and encode only the windows of the rows left without a mate; other batches
    encode ``batch["partner"]`` (or the input again, a second dropout draw, when there
    is none)."""
    slot = batch.get("partner_slot")
    if slot is None:
        return encode(batch.get("partner", batch["input"]))
    other = own[slot.clamp(min=0)]
    solo = (slot < 0).nonzero().flatten()
    if solo.numel():
        other = other.index_put((solo,), encode(batch["partner"]).to(other.dtype))
    return other


class SearchSessionLoader:
    """Batches of search interactions: ``user``, ``query`` ids, padded query
    ``tokens (B, T)`` (word id + 1, 0 = padding), clicked ``item`` and ``time``."""

    def __init__(self, user: Tensor, query: Tensor, item: Tensor, time: Tensor,
                 query_tokens: Ragged, batch_size: int = 256, max_tokens: int = 16,
                 shuffle: bool = True, generator: torch.Generator | None = None) -> None:
        self.user, self.query, self.item, self.time = user, query, item, time
        shifted = Ragged(query_tokens.ptr, query_tokens.values + 1)
        self.tokens = shifted.pad(max_tokens, pad_value=0, left=False, keep="first")
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator

    @classmethod
    def from_hetero(cls, data, **kwargs) -> SearchSessionLoader:  # noqa: ANN001
        store = data["user", "searches", "query"]
        tokens = Ragged(data["query"].token_ptr, data["query"].token)
        return cls(store.edge_index[0], store.edge_index[1], store.item, store.time, tokens, **kwargs)

    def __len__(self) -> int:
        return (self.user.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        n = self.user.numel()
        perm = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = perm[start:start + self.batch_size]
            yield {"user": self.user[idx], "query": self.query[idx],
                   "tokens": self.tokens[self.query[idx]], "item": self.item[idx],
                   "time": self.time[idx]}


class JointTimelineLoader:
    r"""Training targets over joint timelines: every training recommendation click
    with the recommendation and search histories strictly before its time.

    A target is a click :math:`(u, v, t)` on the recommendation surface of
    :class:`~graphrec.data.timeline.JointTimeline`; its inputs are the user's clicks
    and searches with time :math:`< t` (events tied with :math:`t`, other clicks
    included, are never inputs), the most recent ``max_rec_len`` / ``max_search_len``
    of each kept and left-padded. Rows are kept as three integers (target position,
    user, end of the visible history) and cut into windows per batch, so building the
    index is a few vectorised ops and each batch a handful of gathers.

    Batches hold (ids shifted by one, 0 = padding; padded time slots are 0):

    * ``user (B,)``, ``index (B,)`` (row ids of the loader),
    * ``target (B,)`` the clicked item, ``target_time (B,)`` (float64),
    * ``rec_item (B, L_r)``, ``rec_time (B, L_r)``: the click history,
    * ``search_query (B, L_s)``, ``search_item (B, L_s)``, ``search_time (B, L_s)``:
      the search history (query ids and clicked items),
    * ``neg (B,)`` or ``(B, num_negatives)`` when ``num_negatives > 0``: items outside
      the user's training clicks.

    :math:`L_r = ` ``max_rec_len`` and :math:`L_s = ` ``max_search_len``; with
    ``length_buckets > 0`` (see :func:`batch_order`, bucketed by the click-history
    length) each is only as wide as the longest history of its kind in the batch
    (at least 1). :func:`graphrec.data.timeline.eval_timeline` gives the same windows
    at validation and test.

    Args:
        timeline: the users' joint timelines (:meth:`JointTimeline.from_data`).
        num_items: size of the item space (for negatives).
        max_rec_len: click-history window. (default: ``50``)
        max_search_len: search-history window. (default: ``50``)
        batch_size: targets per batch. (default: ``256``)
        min_history: keep targets with at least this many earlier clicks; ``0`` also
            keeps targets whose only context is search (or nothing). (default: ``1``)
        num_negatives: sampled negatives per target, ``0`` for none. (default: ``0``)
        negatives: ``"uniform"`` over the items, or ``"popularity"``: each item in
            proportion to its training recommendation clicks (as SESRec's authors draw
            them). (default: ``"uniform"``)
        shuffle: shuffle the targets each epoch. (default: ``True``)
        generator: random source of shuffling and negatives. (default: ``None``)
        length_buckets: batches of similar click-history length. (default: ``0``)
        last_only: one row per user, its last training click: the windows then hold the
            user's whole visible history, for models that train on every position of
            them (SASRec's regime) rather than once per target. (default: ``False``)
    """

    def __init__(self, timeline: JointTimeline, num_items: int, max_rec_len: int = 50,
                 max_search_len: int = 50, batch_size: int = 256, min_history: int = 1,
                 num_negatives: int = 0, shuffle: bool = True, generator: torch.Generator | None = None,
                 length_buckets: int = 0, last_only: bool = False, negatives: str = "uniform") -> None:
        if min(max_rec_len, max_search_len) < 1:
            raise ValueError(f"window lengths must be >= 1, got {max_rec_len}, {max_search_len}")
        self.timeline, self.num_items = timeline, num_items
        self.max_rec_len, self.max_search_len = max_rec_len, max_search_len
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.num_negatives, self.length_buckets = num_negatives, length_buckets
        pos = timeline.surface_positions(REC)
        user = timeline.row_index()[pos]
        end = timeline.cut_before(user, timeline.time[pos])
        n_rec, n_search = timeline.history_lengths(user, end)
        keep = n_rec >= min_history
        if last_only:  # positions run user by user in time order: a user's last is where the next row's user differs
            keep &= torch.cat([user[1:] != user[:-1], torch.ones(min(user.numel(), 1), dtype=torch.bool)])
        self.pos, self.user, self.end = pos[keep], user[keep], end[keep]
        self.rec_len = n_rec[keep].clamp(max=max_rec_len)
        self.search_len = n_search[keep].clamp(max=max_search_len)
        self.sampler = None
        if num_negatives > 0:
            clicks = Ragged.from_coo(user, timeline.item[pos], timeline.num_rows)
            self.sampler = NegativeSampler(clicks, num_items, weights=negative_weights(negatives, clicks, num_items))

    @classmethod
    def from_hetero(cls, data, **kwargs) -> JointTimelineLoader:  # noqa: ANN001
        """A loader over ``data``'s stored timeline."""
        return cls(JointTimeline.from_data(data), data["item"].num_nodes, **kwargs)

    @property
    def num_rows(self) -> int:
        return self.pos.numel()

    def __len__(self) -> int:
        return (self.num_rows + self.batch_size - 1) // self.batch_size

    def batch(self, rows: Tensor, trim: bool = False) -> dict[str, Tensor]:
        """The batch of the given target rows (``trim``: windows only as wide as needed)."""
        tl = self.timeline
        lr = int(self.rec_len[rows].max().clamp(min=1)) if trim and rows.numel() else self.max_rec_len
        ls = int(self.search_len[rows].max().clamp(min=1)) if trim and rows.numel() else self.max_search_len
        user, p = self.user[rows], self.pos[rows]
        out = {"user": user, "index": rows, "target": tl.item[p] + 1, "target_time": tl.time[p],
               **tl.windows(user, self.end[rows], lr, ls)}
        if self.sampler is not None:
            out["neg"] = self.sampler.sample(user, self.num_negatives, self.generator) + 1
        return out

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        bucketed = self.length_buckets > 0
        for rows in batch_order(self.num_rows, self.batch_size, self.shuffle, self.generator,
                                self.rec_len if bucketed else None, self.length_buckets):
            yield self.batch(rows, trim=bucketed)


__all__ = ["NegativeSampler", "BPRLoader", "RecSearchBPRLoader", "item_windows", "SequenceLoader", "SubsequenceLoader",
           "partner_views", "SearchSessionLoader", "JointTimelineLoader", "NEGATIVES", "negative_weights"]
