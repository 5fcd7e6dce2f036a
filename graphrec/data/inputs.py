r"""What a model trains on: declared by the model, built by the trainer.

A model's :meth:`~graphrec.models.base.RecModel.train_inputs` returns one of these
*input specifications*. The trainer calls :meth:`TrainInputs.loader` to get the
training batches (and, for early stopping on a validation loss, the validation
batches), and :meth:`TrainInputs.eval_history` for what the model's
``full_scores`` / ``score`` receive at evaluation. The trainer knows nothing else
about a model's inputs, so a new kind of batch is a subclass of
:class:`TrainInputs` defined anywhere (e.g. in a user's script):

.. code-block:: python

    @dataclass
    class ClickedPairs(TrainInputs):
        batch_size: int | None = None

        def loader(self, data, split="train", *, batch_size, generator=None, length_buckets=0):
            users, items = data["user", "clicks", "item"].edge_index
            return [{"user": u, "item": i} for u, i in zip(users.split(batch_size), items.split(batch_size))]

The bundled specifications:

================================  =====================================================
:class:`PairwiseInputs`           BPR triples ``user, pos, neg`` over the training clicks
:class:`SampledPairwiseInputs`    the same, with the sampled K-hop subgraph around them
:class:`RecSearchPairsInputs`     BPR triples plus a batch of search clicks
                                  ``s_user, s_query, s_item, s_neg`` (training period)
:class:`SequenceInputs`           SASRec windows ``user, input (B, L), target (B, L)[, neg]``
:class:`MergedSequenceInputs`     the same over both surfaces' clicks (naive search transfer)
:class:`SubsequenceInputs`        every-prefix rows ``user, input (B, L), target (B,)[, partner]``
:class:`JointTimelineInputs`      per recommendation target: the rec and search histories
                                  strictly before its time, plus the time
:class:`UserInputs`               user-level batches ``user (B,)`` (representation models)
================================  =====================================================

Validation batches (``split="valid"``) have the same keys as training ones, with the
held-out validation item as the only target of each row; they feed early stopping
on a validation loss (``train.metric=loss``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sized
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS, SEARCHES, first_heldout, heldout, history, train_history
from graphrec.data.loader import (
    NEGATIVES,
    BPRLoader,
    JointTimelineLoader,
    NegativeSampler,
    RecSearchBPRLoader,
    SequenceLoader,
    SubsequenceLoader,
    batch_order,
    negative_weights,
)
from graphrec.data.ragged import Ragged
from graphrec.data.timeline import JointTimeline, eval_timeline

LoaderSplit = Literal["train", "valid"]


class Batches(Iterable[dict[str, Tensor]], Sized, Protocol):
    """An epoch of batches: iterable, with a length (for the progress bar)."""


class TrainInputs:
    """Base of the input specifications (see the module docstring).

    Subclasses are dataclasses of the settings that shape their batches and
    implement :meth:`loader`; :meth:`eval_history` defaults to the user's item
    history before the held-out item.
    """

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        """The batches of one epoch over ``split`` (``"train"`` or ``"valid"``)."""
        raise NotImplementedError

    def eval_history(self, data: HeteroData, split: str) -> Any:
        """What ``full_scores(users, history)`` / ``score(users, items, history)`` get for
        ``split``: an object with ``select(rows)`` whose rows are users (default: each
        user's chronological items before the held-out item, a :class:`Ragged`)."""
        return history(data, split)

    @property
    def name(self) -> str:
        return type(self).__name__


def _check_split(split: str, spec: TrainInputs) -> None:
    if split not in ("train", "valid"):
        raise ValueError(f"{spec.name}: split must be 'train' or 'valid', got {split!r}")


def history_with_valid_item(data: HeteroData, base: Ragged | None = None) -> tuple[Tensor, Ragged]:
    """``(users, rows)``: for every user with a validation item, the training history
    (``base``, default :func:`~graphrec.data.hetero.train_history`) followed by that item
    (so the item is each row's last element)."""
    users, items, _ = first_heldout(data, "valid")
    hist = (base if base is not None else train_history(data)).select(users)
    # rows keep their entries in input order: the history, then the appended item
    rows = torch.cat([hist.row_index(), torch.arange(users.numel())])
    return users, Ragged.from_coo(rows, torch.cat([hist.values, items]), users.numel())


@dataclass
class PairwiseInputs(TrainInputs):
    """BPR triples ``user, pos, neg`` (one uniform negative outside the user's
    training items); validation: the held-out pairs with one negative each."""

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
        train = data[CLICKS].edge_index
        if split == "train":
            return BPRLoader(train, num_items, batch_size, generator=generator, num_users=num_users)
        sampler = NegativeSampler(Ragged.from_coo(train[0], train[1], num_users), num_items)
        return BPRLoader(heldout(data, "valid")[0], num_items, batch_size, shuffle=False, generator=generator,
                         sampler=sampler, num_users=num_users)


@dataclass
class RecSearchPairsInputs(TrainInputs):
    """BPR triples over the training clicks, each batch with a batch of the graph's
    search clicks (:class:`~graphrec.data.loader.RecSearchBPRLoader`): ``s_user, s_query,
    s_item, s_neg``. The graph holds only search rows before each user's first held-out
    time (:func:`~graphrec.data.split.leave_one_out`), so no search click of the held-out
    period reaches training. A graph without search gives plain BPR batches.
    Validation: as :class:`PairwiseInputs` (rec pairs only)."""

    search_batch_size: int | None = None

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        if split == "valid" or SEARCHES not in data.edge_types:
            return PairwiseInputs().loader(data, split, batch_size=batch_size, generator=generator)
        store = data[SEARCHES]
        return RecSearchBPRLoader(data[CLICKS].edge_index, store.edge_index[0], store.edge_index[1], store.item,
                                  data["user"].num_nodes, data["item"].num_nodes, batch_size,
                                  self.search_batch_size, generator=generator)


@dataclass
class SampledPairwiseInputs(TrainInputs):
    """BPR triples with the sampled :math:`K`-hop subgraph around them
    (:class:`~graphrec.data.sampled.SampledBPRLoader`): mini-batch training of graph
    models that propagate over the batch's subgraph instead of the whole graph.
    ``num_neighbors[k]`` neighbours per node at hop ``k`` (``-1``: all). Validation:
    as :class:`PairwiseInputs` (evaluation propagates over the full graph)."""

    num_neighbors: tuple[int, ...] = (10, 10, 10)

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        if split == "valid":
            return PairwiseInputs().loader(data, split, batch_size=batch_size, generator=generator)
        from graphrec.data.sampled import SampledBPRLoader

        return SampledBPRLoader(data[CLICKS].edge_index, data["user"].num_nodes, data["item"].num_nodes,
                                self.num_neighbors, batch_size, generator=generator)


@dataclass
class SequenceInputs(TrainInputs):
    """Left-padded next-item windows of at most ``max_len`` items
    (:class:`~graphrec.data.loader.SequenceLoader`); ``negatives`` adds one sampled
    negative per position (for BCE). Validation rows end with the held-out item,
    the only target of the row."""

    max_len: int = 50
    negatives: bool = True

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        num_items = data["item"].num_nodes
        if split == "train":
            return SequenceLoader(train_history(data), num_items, max_len=self.max_len, batch_size=batch_size,
                                  negatives=self.negatives, generator=generator, length_buckets=length_buckets)
        users, rows = history_with_valid_item(data)
        return SequenceLoader(rows, num_items, max_len=self.max_len, batch_size=batch_size, shuffle=False,
                              negatives=self.negatives, generator=generator, last_only=True, row_users=users,
                              sampler_history=train_history(data))


def merged_history(data: HeteroData, split: str = "train") -> Ragged:
    """Each user's clicks of both surfaces in time order: the joint timeline's events (the
    training period: recommendation clicks and the search clicks before the first held-out
    time), followed by the validation item for ``split="test"``."""
    tl = JointTimeline.from_data(data)
    num_users = data["user"].num_nodes
    users = torch.repeat_interleave(torch.arange(num_users), tl.ptr.diff())
    items, times = tl.item, tl.time
    if split == "test":
        va_idx, va_time = heldout(data, "valid")
        users, items = torch.cat([users, va_idx[0]]), torch.cat([items, va_idx[1]])
        times = torch.cat([times.to(torch.float64), va_time.to(torch.float64)])
    return Ragged.from_coo(users, items, num_users, order=times)


@dataclass
class MergedSequenceInputs(SequenceInputs):
    """:class:`SequenceInputs` over :func:`merged_history`: search clicks become ordinary
    items of the sequence (naive search transfer in the sequential setting); negatives
    avoid the user's clicks of both surfaces. Graphs without search give plain SASRec
    windows."""

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        num_items, merged = data["item"].num_nodes, merged_history(data)
        if split == "train":
            return SequenceLoader(merged, num_items, max_len=self.max_len, batch_size=batch_size,
                                  negatives=self.negatives, generator=generator, length_buckets=length_buckets)
        users, rows = history_with_valid_item(data, merged)
        return SequenceLoader(rows, num_items, max_len=self.max_len, batch_size=batch_size, shuffle=False,
                              negatives=self.negatives, generator=generator, last_only=True, row_users=users,
                              sampler_history=merged)

    def eval_history(self, data: HeteroData, split: str) -> Ragged:
        return merged_history(data, "test" if split == "test" else "train")


@dataclass
class SubsequenceInputs(TrainInputs):
    """Every-prefix rows with at least ``min_len`` input items
    (:class:`~graphrec.data.loader.SubsequenceLoader`); ``partners`` adds a row with
    the same target per row, taken from the batch itself with ``pair_partners``.
    Validation: one row per user, target the held-out item."""

    max_len: int = 50
    min_len: int = 2
    partners: bool = True
    pair_partners: bool = False
    pair_by_length: bool = False

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        num_items = data["item"].num_nodes
        if split == "train":
            return SubsequenceLoader(train_history(data), num_items, max_len=self.max_len, batch_size=batch_size,
                                     min_len=self.min_len, partners=self.partners, generator=generator,
                                     length_buckets=length_buckets, pair_partners=self.pair_partners,
                                     pair_by_length=self.pair_by_length)
        users, rows = history_with_valid_item(data)
        return SubsequenceLoader(rows, num_items, max_len=self.max_len, batch_size=batch_size, min_len=1,
                                 shuffle=False, partners=False, generator=generator, last_only=True,
                                 row_users=users)


class TensorRows:
    """Per-user model inputs: a dict of tensors whose first dimension is the user,
    with ``select(rows)`` like :class:`~graphrec.data.ragged.Ragged` (what a
    joint-timeline model's ``full_scores`` / ``score`` receive as ``history``)."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        sizes = {v.size(0) for v in tensors.values()}
        if len(sizes) > 1:
            raise ValueError(f"TensorRows: first dimensions differ: { {k: v.size(0) for k, v in tensors.items()} }")
        self.tensors = tensors

    def select(self, rows: Tensor) -> TensorRows:
        return TensorRows({k: v[rows] for k, v in self.tensors.items()})

    def __getitem__(self, key: str) -> Tensor:
        return self.tensors[key]

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def __len__(self) -> int:
        return next(iter(self.tensors.values())).size(0) if self.tensors else 0

    def to(self, device: torch.device | str) -> TensorRows:
        return TensorRows({k: v.to(device) for k, v in self.tensors.items()})

    def __repr__(self) -> str:
        return f"TensorRows({len(self)} rows, keys={sorted(self.tensors)})"


@dataclass
class JointTimelineInputs(TrainInputs):
    """Per training recommendation target at time :math:`t`: the user's recommendation
    and search histories strictly before :math:`t` (the last ``max_rec_len`` clicks and
    ``max_search_len`` searches: query ids and clicked items, with their times), the
    target and :math:`t` (:class:`~graphrec.data.loader.JointTimelineLoader`).
    ``num_negatives`` adds sampled items outside the user's training clicks, uniform or,
    with ``negatives="popularity"``, in proportion to their training clicks. With
    ``last_only`` training has one row per user (its last training click, the windows its
    whole visible history), for models that train on every position of the windows.

    At evaluation ``history`` is a :class:`TensorRows` of the same windows cut at each
    user's held-out time (:func:`~graphrec.data.timeline.eval_timeline`); validation
    batches are those windows with the validation item as ``target``.
    """

    max_rec_len: int = 50
    max_search_len: int = 50
    min_history: int = 1
    num_negatives: int = 0
    last_only: bool = False
    negatives: str = "uniform"

    def __post_init__(self) -> None:
        if self.negatives not in NEGATIVES:
            raise ValueError(f"JointTimelineInputs: negatives must be one of {NEGATIVES}, got {self.negatives!r}")

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        num_items = data["item"].num_nodes
        if split == "train":
            return JointTimelineLoader(JointTimeline.from_data(data), num_items, max_rec_len=self.max_rec_len,
                                       max_search_len=self.max_search_len, batch_size=batch_size,
                                       min_history=self.min_history, num_negatives=self.num_negatives,
                                       generator=generator, length_buckets=length_buckets,
                                       last_only=self.last_only, negatives=self.negatives)
        rows = eval_timeline(data, "valid", max_rec_len=self.max_rec_len, max_search_len=self.max_search_len,
                             with_target=True)
        if self.num_negatives > 0:
            clicks = train_history(data)
            sampler = NegativeSampler(clicks, num_items, weights=negative_weights(self.negatives, clicks, num_items))
            neg = sampler.sample(rows["user"], self.num_negatives, generator) + 1
            rows["neg"] = neg
        return _RowBatches(rows, batch_size)

    def eval_history(self, data: HeteroData, split: str) -> TensorRows:
        users = torch.arange(data["user"].num_nodes)
        return TensorRows(eval_timeline(data, split, users, max_rec_len=self.max_rec_len,
                                        max_search_len=self.max_search_len))


class _RowBatches:
    """Consecutive batches of a dict of row-aligned tensors."""

    def __init__(self, rows: dict[str, Tensor], batch_size: int) -> None:
        self.rows, self.batch_size = rows, batch_size
        self.n = next(iter(rows.values())).size(0)

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):  # noqa: ANN204
        for start in range(0, self.n, self.batch_size):
            yield {k: v[start:start + self.batch_size] for k, v in self.rows.items()}


@dataclass
class UserInputs(TrainInputs):
    """Batches of user ids ``{"user": (B,)}`` for models whose loss is defined per user
    (representation learning, e.g. an ELBO over a user's whole behaviour). Users with
    fewer than ``min_items`` training items are left out. With ``length_buckets > 0``
    training batches group users with similar numbers of training clicks (see
    :func:`~graphrec.data.loader.batch_order`), so a sequence encoder trims more common
    padding. Validation batches hold the users with a validation item, in id order."""

    min_items: int = 1

    def loader(self, data: HeteroData, split: LoaderSplit = "train", *, batch_size: int,
               generator: torch.Generator | None = None, length_buckets: int = 0) -> Batches:
        _check_split(split, self)
        if split == "train":
            lengths = train_history(data).lengths()
            users = torch.nonzero(lengths >= self.min_items).flatten()
            return _UserBatches(users, batch_size, shuffle=True, generator=generator, lengths=lengths[users],
                                length_buckets=length_buckets)
        return _UserBatches(first_heldout(data, "valid")[0], batch_size, shuffle=False, generator=generator)


class _UserBatches:
    def __init__(self, users: Tensor, batch_size: int, shuffle: bool, generator: torch.Generator | None,
                 lengths: Tensor | None = None, length_buckets: int = 0) -> None:
        self.users, self.batch_size, self.shuffle, self.generator = users, batch_size, shuffle, generator
        self.lengths, self.length_buckets = lengths, length_buckets

    def __len__(self) -> int:
        return (self.users.numel() + self.batch_size - 1) // self.batch_size

    def __iter__(self):  # noqa: ANN204
        for idx in batch_order(self.users.numel(), self.batch_size, self.shuffle, self.generator, self.lengths,
                               self.length_buckets):
            yield {"user": self.users[idx]}


__all__ = ["TrainInputs", "PairwiseInputs", "SampledPairwiseInputs", "RecSearchPairsInputs", "SequenceInputs",
           "MergedSequenceInputs", "merged_history", "SubsequenceInputs", "JointTimelineInputs", "UserInputs",
           "TensorRows", "history_with_valid_item", "Batches"]
