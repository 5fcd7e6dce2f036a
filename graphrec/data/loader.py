"""Mini-batches for training: BPR triples, padded sequence windows, search sessions.

Negative sampling is vectorised: candidates for the whole batch are drawn at
once and only the rejected ones (a user's positives) are redrawn, so there is
no Python loop per sample.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from graphrec.data.ragged import Ragged


class NegativeSampler:
    """Uniform negatives that avoid each user's positive items.

    Args:
        positives: each user's positive items (row = user).
        num_items: size of the item space.
        max_rounds: redraw rounds before giving up on a user whose positives cover
            almost every item (the rare leftover is accepted and counted in
            :attr:`accepted_collisions`).
    """

    def __init__(self, positives: Ragged, num_items: int, max_rounds: int = 100) -> None:
        self.num_items = num_items
        self.max_rounds = max_rounds
        users = positives.row_index()
        self._keys = torch.unique(users * num_items + positives.values)  # sorted
        self.accepted_collisions = 0

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        keys = users * self.num_items + items
        if self._keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        pos = torch.searchsorted(self._keys, keys).clamp_(max=self._keys.numel() - 1)
        return self._keys[pos] == keys

    def sample(self, users: Tensor, num: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``(len(users), num)`` negatives; ``num=1`` returns shape ``(len(users),)``."""
        u = users.reshape(-1, 1).expand(-1, num).reshape(-1)
        neg = torch.randint(self.num_items, u.shape, generator=generator)
        bad = self.is_positive(u, neg)
        rounds = 0
        while bool(bad.any()) and rounds < self.max_rounds:
            idx = bad.nonzero().flatten()
            neg[idx] = torch.randint(self.num_items, idx.shape, generator=generator)
            bad[idx] = self.is_positive(u[idx], neg[idx])
            rounds += 1
        self.accepted_collisions += int(bad.sum())
        out = neg.view(-1, num)
        return out.squeeze(1) if num == 1 else out


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


class SequenceLoader:
    """Left-padded next-item windows (SASRec): for each user with at least two
    training items, ``input = s[-L-1:-1]`` and ``target = s[-L:]``.

    Item ids are shifted by one so that 0 is padding. Batches hold
    ``user (B,)``, ``input (B, L)``, ``target (B, L)`` and, when ``negatives`` is
    set, ``neg (B, L)`` sampled outside the user's training items.
    """

    def __init__(self, history: Ragged, num_items: int, max_len: int = 50,
                 batch_size: int = 256, shuffle: bool = True, negatives: bool = True,
                 generator: torch.Generator | None = None) -> None:
        self.max_len = max_len
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.users = torch.nonzero(history.lengths() >= 2).flatten()
        hist = history.select(self.users)
        shifted = Ragged(hist.ptr, hist.values + 1)
        full = shifted.pad(max_len + 1, pad_value=0, left=True)
        self.input = full[:, :-1].contiguous()
        # the first item of a sequence is never a target: it has no input before it
        self.target = full[:, 1:].masked_fill(self.input == 0, 0)
        self.sampler = NegativeSampler(history, num_items) if negatives else None

    def __len__(self) -> int:
        return (self.users.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        n = self.users.numel()
        perm = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = perm[start:start + self.batch_size]
            batch = {"user": self.users[idx], "input": self.input[idx], "target": self.target[idx]}
            if self.sampler is not None:
                u = batch["user"]
                neg = self.sampler.sample(u, self.max_len, self.generator) + 1
                batch["neg"] = neg.masked_fill(batch["target"] == 0, 0)
            yield batch


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


__all__ = ["NegativeSampler", "BPRLoader", "SequenceLoader", "SearchSessionLoader"]
