"""Train / validation / test splits of behaviour logs, without leakage.

A :class:`Split` holds row indices into ``logs.rec``. Every splitter also decides
which *search* rows training may see: a search interaction at or after a user's
first held-out recommendation time is hidden from training (it could reveal the
held-out item), so search logs never leak the future into the model.

Protocols:

* :func:`leave_one_out` -- per user, last interaction = test, second-to-last =
  validation (SASRec, ICLRec, IDCLRec).
* :func:`temporal_split` -- one global cut in time: the last ``test_frac`` of all
  interactions (by time) are test, the ``valid_frac`` before them validation.
* :func:`ratio_split` -- per user, a random ``ratios`` share of interactions goes
  to train/valid/test (LightGCN's data).
* :func:`given_split` -- labels supplied by the dataset's own files (Gowalla).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from graphrec.data.logs import BehaviourLogs

log = logging.getLogger("graphrec.data")

TRAIN, VALID, TEST = 0, 1, 2


@dataclass
class Split:
    """Row indices of each part of ``logs.rec`` plus the visible search rows.

    Args:
        train, valid, test: int64 row indices into ``logs.rec``.
        search_train: int64 row indices into ``logs.search`` that training may see
            (``None`` when there is no search log).
        protocol: the splitter's name, copied into every result.
    """

    train: Tensor
    valid: Tensor
    test: Tensor
    search_train: Tensor | None
    protocol: str

    def labels(self, n: int) -> Tensor:
        """A ``(n,)`` tensor of TRAIN/VALID/TEST codes (-1 for unused rows)."""
        out = torch.full((n,), -1, dtype=torch.long)
        out[self.train], out[self.valid], out[self.test] = TRAIN, VALID, TEST
        return out


def _visible_search(logs: BehaviourLogs, cutoff: Tensor) -> Tensor | None:
    """Search rows strictly before each user's cutoff time (``inf`` = no cutoff)."""
    if logs.search is None:
        return None
    s = logs.search
    return torch.nonzero(s.time < cutoff[s.user]).flatten()


def _first_heldout_time(logs: BehaviourLogs, heldout: Tensor) -> Tensor:
    rec = logs.rec
    cutoff = torch.full((rec.num_users,), float("inf"), dtype=torch.float64)
    if heldout.numel():
        cutoff = cutoff.scatter_reduce(0, rec.user[heldout], rec.time[heldout], "amin")
    return cutoff


def leave_one_out(logs: BehaviourLogs, min_train: int = 1) -> Split:
    """Last interaction of each user -> test, the one before -> validation.

    Users with fewer than ``min_train + 2`` interactions keep everything in
    training (they are still scored as nobody's held-out users). Order is by
    time; ties keep file order, so for ordinal-time sources (Amazon sequence
    files) this is exactly the file's last two items.
    """
    rec = logs.rec
    order = rec.chronological_order()
    counts = torch.bincount(rec.user, minlength=rec.num_users)
    ptr = torch.zeros(rec.num_users + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    eligible = counts >= min_train + 2
    if not bool(eligible.any()):  # legal for building graphs; graphrec.train.run refuses to train on it
        most = int(counts.max()) if counts.numel() else 0
        log.warning("leave-one-out split of %s: no user has the %d interactions it needs (one to train, one to "
                    "validate, one to test); the most any of the %d users has is %d, so nothing is held out",
                    rec.source or "the log", min_train + 2, rec.num_users, most)
    skipped = int((~eligible & (counts > 0)).sum())
    if skipped:
        log.info("leave-one-out: %d of %d users have fewer than %d interactions; they train only",
                 skipped, int((counts > 0).sum()), min_train + 2)
    last = ptr[1:] - 1
    test = order[last[eligible]]
    valid = order[last[eligible] - 1]
    mask = torch.ones(len(rec), dtype=torch.bool)
    mask[test] = False
    mask[valid] = False
    train = torch.nonzero(mask).flatten()
    cutoff = _first_heldout_time(logs, torch.cat([valid, test]))
    return Split(train, valid, test, _visible_search(logs, cutoff), "leave_one_out")


def temporal_split(logs: BehaviourLogs, valid_frac: float = 0.1, test_frac: float = 0.1) -> Split:
    """Global time cut: the latest ``test_frac`` of rows are test, the
    ``valid_frac`` before them validation. Search rows at or after the
    validation cut are hidden from training for everyone."""
    if not 0 <= valid_frac < 1 or not 0 < test_frac < 1 or valid_frac + test_frac >= 1:
        raise ValueError(f"bad fractions valid_frac={valid_frac}, test_frac={test_frac}")
    rec = logs.rec
    order = torch.argsort(rec.time, stable=True)
    n = len(rec)
    n_test = int(round(n * test_frac))
    n_valid = int(round(n * valid_frac))
    train = order[: n - n_test - n_valid]
    valid = order[n - n_test - n_valid : n - n_test]
    test = order[n - n_test :]
    cut = rec.time[order[n - n_test - n_valid]] if n_valid + n_test else float("inf")
    cutoff = torch.full((rec.num_users,), float(cut), dtype=torch.float64)
    return Split(train.sort().values, valid.sort().values, test.sort().values,
                 _visible_search(logs, cutoff), "temporal")


def ratio_split(logs: BehaviourLogs, ratios: Sequence[float] = (0.8, 0.1, 0.1),
                seed: int = 0) -> Split:
    """Per user, a random ``ratios`` share of rows to train/valid/test.

    Each user with at least three rows keeps at least one training row. Search
    rows after the user's earliest held-out time are hidden from training.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) < 0:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    rec = logs.rec
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(len(rec), generator=g, dtype=torch.float64)
    order = torch.argsort(noise)
    order = order[torch.argsort(rec.user[order], stable=True)]  # grouped by user, random within
    counts = torch.bincount(rec.user, minlength=rec.num_users)
    ptr = torch.zeros(rec.num_users + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    rank = torch.arange(len(rec)) - ptr[:-1].repeat_interleave(counts)  # position within user
    cnt = counts.repeat_interleave(counts).double()
    n_train = torch.clamp(torch.floor(cnt * ratios[0]), min=1)
    n_valid = torch.floor(cnt * ratios[1])
    label = torch.full((len(rec),), TEST, dtype=torch.long)
    label[rank < n_train + n_valid] = VALID
    label[rank < n_train] = TRAIN
    lab = torch.empty_like(label)
    lab[order] = label
    return given_split(logs, lab, protocol="ratio")


def given_split(logs: BehaviourLogs, labels: Tensor, protocol: str = "given") -> Split:
    """A split from per-row labels (0 train, 1 valid, 2 test, -1 unused)."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.numel() != len(logs.rec):
        raise ValueError(f"{labels.numel()} labels for {len(logs.rec)} rows")
    bad = ~((labels >= -1) & (labels <= 2))
    if bool(bad.any()):
        r = int(bad.nonzero()[0])
        raise ValueError(f"split label at row {r + 1} is {int(labels[r])}, expected -1, 0, 1 or 2")
    train = torch.nonzero(labels == TRAIN).flatten()
    valid = torch.nonzero(labels == VALID).flatten()
    test = torch.nonzero(labels == TEST).flatten()
    cutoff = _first_heldout_time(logs, torch.cat([valid, test]))
    return Split(train, valid, test, _visible_search(logs, cutoff), protocol)


SPLITTERS = {"leave_one_out": leave_one_out, "temporal": temporal_split, "ratio": ratio_split}

__all__ = ["Split", "leave_one_out", "temporal_split", "ratio_split", "given_split",
           "TRAIN", "VALID", "TEST", "SPLITTERS"]
