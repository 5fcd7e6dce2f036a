r"""Top-k ranking metrics, streamed over users in chunks.

Three protocols, always labelled (see :func:`protocol_label`) so that numbers
from one are never read as numbers from another:

* :func:`full_ranking` ranks every target against **all** items the user has
  not interacted with (``"full"``), the protocol of LightGCN and of most recent
  work.
* :func:`sampled_ranking` ranks one held-out item against ``num_negatives``
  items sampled uniformly from those the user never interacted with
  (``"sampled-100"``), the protocol of the SASRec paper. Sampled metrics are
  systematically higher than full-ranking ones and do not preserve the order
  of models in general (Krichene and Rendle, KDD 2020).
* :func:`sampled_ranking` with ``popularity`` (item weights :math:`w`, e.g. the
  training interaction counts) draws the negatives without replacement with
  probability proportional to :math:`w` among the items the user never
  interacted with (``"sampled-pop-99"``): the first negative is item :math:`i`
  with probability :math:`w_i / \sum_{j \in P_u} w_j` over the pool
  :math:`P_u = \{ j \notin E_u \cup T_u : w_j > 0 \}`, the next one likewise
  among the items left (successive sampling; items of weight 0 are never drawn).
  GSERec evaluates this way: each target against 99 negatives sampled by item
  frequency in the training recommendation interactions (1 + 99 candidates).

The sampled protocols score only the target and its negatives (a pair scorer);
nothing of size ``num_items`` per user is scored. Any protocol can be broken
down by user groups (``groups=``, e.g. by search activity, see
:mod:`graphrec.data.groups`): the overall numbers are unchanged, and each
group's means weighted by its number of evaluated users add up to them.

**Rank of a target** (0-based, pessimistic in ties). For user :math:`u` with
targets :math:`T_u` and excluded items :math:`E_u`, the competitors are
:math:`C_u = \mathcal{I} \setminus (E_u \cup T_u)` (all items in the full
protocol, the sampled negatives in the sampled one) and

.. math::
    r_t = \bigl|\{ i \in C_u : s_{u,i} > s_{u,t} \}\bigr|
        + \bigl|\{ i \in C_u : s_{u,i} = s_{u,t} \}\bigr|
        = \bigl|\{ i \in C_u : s_{u,i} \ge s_{u,t} \}\bigr| .

Every tie is resolved against the target, so a model cannot gain anything by
emitting equal scores: a constant scorer ranks each target last
(:math:`r_t = |C_u|`), and gets :math:`\mathrm{HR@}k = 0` whenever
:math:`|C_u| \ge k`. The rule does not depend on item ids or on the order of
the candidates, so it is deterministic.

**Several targets.** Targets do not compete with each other. Sort the ranks
:math:`r_{(0)} \le r_{(1)} \le \dots \le r_{(|T_u|-1)}`; the :math:`j`-th target
in that order has the :math:`j` better-ranked targets ahead of it, so its
position in the recommendation list is

.. math::
    p_{(j)} = r_{(j)} + j ,

which is strictly increasing in :math:`j`. With
:math:`H_u^k = \{ j : p_{(j)} < k \}` the metrics of one user are

.. math::
    \mathrm{HR@}k = \mathbb{1}[p_{(0)} < k], \qquad
    \mathrm{Recall@}k = \frac{|H_u^k|}{|T_u|}, \qquad
    \mathrm{Precision@}k = \frac{|H_u^k|}{k},

    \mathrm{NDCG@}k = \frac{\sum_{j \in H_u^k} 1 / \log_2(p_{(j)} + 2)}
                           {\sum_{i=0}^{\min(|T_u|, k) - 1} 1 / \log_2(i + 2)},
    \qquad
    \mathrm{MRR} = \frac{1}{1 + p_{(0)}} ,

and every reported number is the mean over the evaluated users (users with no
target are skipped). With one target all five reduce to the usual
leave-one-out definitions (Recall@k = HR@k, Precision@k = HR@k / k). MRR is
computed over the full list, not truncated at any k.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from graphrec.data.ragged import Ragged

__all__ = [
    "full_ranking",
    "auto_chunk_size",
    "default_memory_budget",
    "EVAL_MEMORY_BUDGET",
    "sampled_ranking",
    "ranking_metrics",
    "protocol_label",
    "parse_protocol",
    "Protocol",
]

ScoreFn = Callable[[Tensor], Tensor]
PairScoreFn = Callable[[Tensor, Tensor], Tensor]
#: combines the metric sums of the processes of a data-parallel evaluation (see ``reduce=``)
ReduceFn = Callable[[Tensor], Tensor]


#: bytes :func:`full_ranking`'s chunk buffers may take when ``chunk_size`` is not
#: given. On a CPU the chunk should stay in the last-level cache: Gowalla's test set
#: (29,858 users x 40,981 items, d=64, one thread) took 4.3-4.4 s at 64-128 users per
#: chunk, 5.8 s at 192 and 7.4 s at 1,024 (the plain matmul + top-k loop: 3.2, 5.2 and
#: 5.3 s). A GPU wants large chunks.
EVAL_MEMORY_BUDGET = {"cpu": 32 * 2**20, "cuda": 1024 * 2**20}
#: bytes per (user, item) entry of a chunk: the scores and their masked copy in float32,
#: and one bool of the comparison pass for MRR
_BYTES_PER_ENTRY = 4 + 4 + 1


def default_memory_budget(device: torch.device | str | None = None) -> int:
    """:data:`EVAL_MEMORY_BUDGET` of ``device``'s type (CPU when ``None``; an accelerator
    other than CUDA gets CUDA's)."""
    kind = torch.device(device).type if device is not None else "cpu"
    return EVAL_MEMORY_BUDGET.get(kind, EVAL_MEMORY_BUDGET["cuda"])


def auto_chunk_size(num_items: int, memory_budget: int | None = None,
                    device: torch.device | str | None = None) -> int:
    """Users per chunk of :func:`full_ranking` so that a chunk's ``(users, num_items)``
    buffers fit in ``memory_budget`` bytes (default: :data:`EVAL_MEMORY_BUDGET` of the
    device type, CPU when ``None``); at least 1 user."""
    if memory_budget is None:
        memory_budget = default_memory_budget(device)
    if memory_budget < 1:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget}")
    return max(1, memory_budget // (max(num_items, 1) * _BYTES_PER_ENTRY))


# ---------------------------------------------------------------------------------
# protocol labels
# ---------------------------------------------------------------------------------
SAMPLERS = ("uniform", "popularity")
_SAMPLER_ALIASES = {"uniform": "uniform", "uni": "uniform", "popularity": "popularity", "pop": "popularity"}


class Protocol(NamedTuple):
    """A parsed ranking protocol (what :func:`parse_protocol` returns).

    ``Protocol("full", None, None)``, ``Protocol("sampled", 100, "uniform")`` or
    ``Protocol("sampled", 99, "popularity")``. A tuple, so
    ``protocol_label(*parse_protocol(label)) == label`` for every valid label.

    Attributes:
        mode (str): ``"full"`` or ``"sampled"``.
        num_negatives (int or None): sampled negatives per target (``None`` for full).
        sampler (str or None): ``"uniform"`` or ``"popularity"`` (``None`` for full).
    """

    mode: str
    num_negatives: int | None = None
    sampler: str | None = None

    @property
    def label(self) -> str:
        """The label of this protocol (see :func:`protocol_label`)."""
        return protocol_label(self.mode, self.num_negatives, self.sampler)

    @property
    def sampled(self) -> bool:
        """Whether targets are ranked against sampled negatives (pair scores only)."""
        return self.mode == "sampled"


def protocol_label(mode: str, num_negatives: int | None = None, sampler: str | None = None) -> str:
    """The label every result document carries: ``"full"``, ``"sampled-<n>"``
    (uniform negatives) or ``"sampled-pop-<n>"`` (popularity-sampled negatives).

    Args:
        mode (str): ``"full"`` or ``"sampled"``.
        num_negatives (int, optional): number of sampled negatives; required for
            ``"sampled"``, must be ``None`` for ``"full"``. (default: :obj:`None`)
        sampler (str, optional): ``"uniform"`` or ``"popularity"`` (alias ``"pop"``)
            for ``"sampled"``; must be ``None`` for ``"full"``. (default: :obj:`None`,
            uniform for ``"sampled"``)

    Example:
        >>> protocol_label("full"), protocol_label("sampled", 100), protocol_label("sampled", 99, "popularity")
        ('full', 'sampled-100', 'sampled-pop-99')
    """
    mode = mode.strip().lower()
    if mode == "full":
        if num_negatives is not None:
            raise ValueError("protocol 'full' ranks all items; num_negatives must be None")
        if sampler is not None:
            raise ValueError("protocol 'full' samples nothing; sampler must be None")
        return "full"
    if mode == "sampled":
        if num_negatives is None or isinstance(num_negatives, bool) or int(num_negatives) < 1:
            raise ValueError(
                f"protocol 'sampled' needs a positive num_negatives, got {num_negatives!r}"
            )
        key = "uniform" if sampler is None else str(sampler).strip().lower()
        if key not in _SAMPLER_ALIASES:
            raise ValueError(f"unknown negative sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
        infix = "pop-" if _SAMPLER_ALIASES[key] == "popularity" else ""
        return f"sampled-{infix}{int(num_negatives)}"
    raise ValueError(f"unknown ranking protocol {mode!r}; valid: 'full', 'sampled'")


def parse_protocol(label: str) -> Protocol:
    """Inverse of :func:`protocol_label`.

    ``"full" -> Protocol("full", None, None)``, ``"sampled-100" -> Protocol("sampled",
    100, "uniform")``, ``"sampled-pop-99" -> Protocol("sampled", 99, "popularity")``.
    Raises a :class:`ValueError` on anything :func:`protocol_label` cannot produce.
    """
    if label == "full":
        return Protocol("full", None, None)
    for prefix, sampler in (("sampled-pop-", "popularity"), ("sampled-", "uniform")):
        rest = label[len(prefix) :] if isinstance(label, str) and label.startswith(prefix) else ""
        if rest.isdigit():
            n = int(rest)
            if n >= 1 and protocol_label("sampled", n, sampler) == label:
                return Protocol("sampled", n, sampler)
    raise ValueError(
        f"not a ranking protocol label: {label!r} (expected 'full', 'sampled-<n>' or 'sampled-pop-<n>')"
    )


# ---------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------
def _check_ks(ks: Sequence[int]) -> list[int]:
    out: list[int] = []
    for k in ks:
        if isinstance(k, bool) or int(k) != k or int(k) < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r}")
        if int(k) not in out:
            out.append(int(k))
    if not out:
        raise ValueError("ks must contain at least one cut-off")
    return out


def _check_common(users: Tensor, ks: Sequence[int], num_items: int,
                  chunk_size: int | None) -> tuple[Tensor, list[int]]:
    """The argument checks shared by :func:`full_ranking` and :func:`sampled_ranking`."""
    if num_items < 1:
        raise ValueError(f"num_items must be positive, got {num_items}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return _check_users(users), _check_ks(ks)


def _check_ragged(name: str, r: Ragged, num_rows: int, num_items: int) -> Ragged:
    if r.num_rows != num_rows:
        raise ValueError(f"{name} must have one row per user ({num_rows}), got {r.num_rows} rows")
    # Row bookkeeping (select/row_index) runs on CPU; chunks go to the score device.
    r = r.to("cpu")
    if r.values.numel():
        lo, hi = int(r.values.min()), int(r.values.max())
        if lo < 0 or hi >= num_items:
            bad = int(torch.nonzero((r.values < 0) | (r.values >= num_items))[0, 0])
            row = int(torch.searchsorted(r.ptr, torch.tensor(bad), right=True)) - 1
            raise ValueError(
                f"{name} row {row} holds item {int(r.values[bad])}, "
                f"outside [0, num_items={num_items})"
            )
    return Ragged(r.ptr, r.values.long())


def _check_users(users: Tensor) -> Tensor:
    if users.dim() != 1:
        raise ValueError(f"users must be a 1-D index tensor, got shape {tuple(users.shape)}")
    if users.is_floating_point() or users.is_complex() or users.dtype == torch.bool:
        raise ValueError(f"users must be an integer tensor, got {users.dtype}")
    return users.to("cpu", torch.long)


def _check_score_shape(scores: Tensor, shape: tuple[int, int], what: str) -> Tensor:
    """``scores`` of ``shape``, as a floating tensor (integers become float64: exact for
    counts, and -inf needs a float type)."""
    if not isinstance(scores, Tensor) or tuple(scores.shape) != shape:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"{what} must return a tensor of shape {shape}, got {got}")
    return scores if scores.is_floating_point() else scores.to(torch.float64)


def _check_scores(
    scores: Tensor, shape: tuple[int, int], rows: Tensor, users: Tensor, what: str
) -> Tensor:
    scores = _check_score_shape(scores, shape, what)
    # One reduction first (NaN propagates through a sum; +inf + -inf also gives NaN,
    # hence the exact per-row check only when the sum is NaN).
    if not bool(torch.isnan(scores.sum())):
        return scores
    nan_rows = torch.isnan(scores).any(dim=1)
    if bool(nan_rows.any()):
        i = int(torch.nonzero(nan_rows)[0, 0])
        raise ValueError(
            f"{what} returned NaN scores for row {int(rows[i])} (user {int(users[i])}); "
            "NaN has no rank"
        )
    return scores


def _row_keys(r: Ragged, num_items: int) -> Tensor:
    """Sorted unique ``row * num_items + item`` keys of a (chunk of a) Ragged."""
    return torch.unique(r.row_index() * num_items + r.values)


def _idcg_table(max_len: int, device: torch.device) -> Tensor:
    """``table[m] = sum_{i < m} 1 / log2(i + 2)`` for ``m = 0..max_len``."""
    disc = 1.0 / torch.log2(torch.arange(max_len, dtype=torch.float64, device=device) + 2.0)
    return torch.cat([disc.new_zeros(1), torch.cumsum(disc, 0)])


def _user_metrics(
    positions: Tensor,
    valid: Tensor,
    num_targets: Tensor,
    ks: list[int],
) -> dict[str, Tensor]:
    r"""One chunk's metrics per user, ``(B,)`` float64 each.

    ``positions`` is ``(B, T)`` with the sorted list positions
    :math:`p_{(j)}` of each user's targets in its first ``num_targets`` slots.
    """
    pos = positions.to(torch.float64)
    disc = 1.0 / torch.log2(pos + 2.0)
    n_t = num_targets.to(torch.float64)
    idcg = _idcg_table(max(ks), positions.device)
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = valid & (positions < k)
        hits = hit.sum(dim=1).to(torch.float64)
        dcg = torch.where(hit, disc, torch.zeros_like(disc)).sum(dim=1)
        ideal = idcg[num_targets.clamp(max=k)]
        out[f"hr@{k}"] = (hits > 0).to(torch.float64)
        out[f"ndcg@{k}"] = dcg / ideal
        out[f"recall@{k}"] = hits / n_t
        out[f"precision@{k}"] = hits / k
    out["mrr"] = 1.0 / (pos[:, 0] + 1.0)
    return out


class _Sums:
    r"""Streaming sums of the per-user metrics, overall and (optionally) per group.

    The overall sums do not depend on the groups; group sums are accumulated with
    one ``index_add_`` per metric and chunk, so
    :math:`\sum_g n_g \bar m_g = n \bar m` up to float rounding.
    """

    def __init__(self, ks: list[int], num_groups: int | None = None) -> None:
        self.ks = ks
        self.sums: dict[str, float] = {}
        for k in ks:
            for name in ("hr", "ndcg", "recall", "precision"):
                self.sums[f"{name}@{k}"] = 0.0
        self.sums["mrr"] = 0.0
        self.num_groups = num_groups
        self.group_sums: dict[str, Tensor] = {}
        self.group_users: Tensor | None = None

    def add(self, positions: Tensor, valid: Tensor, num_targets: Tensor,
            group_ids: Tensor | None = None) -> None:
        per_user = _user_metrics(positions, valid, num_targets, self.ks)
        for key, value in per_user.items():
            self.sums[key] += float(value.sum())
        if self.num_groups is None:
            return
        assert group_ids is not None
        dev = positions.device
        g = group_ids.to(dev)
        if self.group_users is None:
            self.group_users = torch.zeros(self.num_groups, dtype=torch.long, device=dev)
            self.group_sums = {
                key: torch.zeros(self.num_groups, dtype=torch.float64, device=dev) for key in per_user
            }
        elif self.group_users.device != dev:
            self.group_users = self.group_users.to(dev)
            self.group_sums = {key: value.to(dev) for key, value in self.group_sums.items()}
        self.group_users.index_add_(0, g, torch.ones_like(g))
        for key, value in per_user.items():
            self.group_sums[key].index_add_(0, g, value)

    def finish(self, num_users: int, group_names: list[str] | None = None,
               reduce: ReduceFn | None = None) -> dict[str, Any]:
        if reduce is not None:
            num_users = self._reduce(num_users, reduce)
        out: dict[str, Any] = _means(self.sums, num_users)
        if self.num_groups is not None and group_names is not None:
            users = (
                self.group_users.cpu().tolist()
                if self.group_users is not None
                else [0] * self.num_groups
            )
            sums = {key: v.cpu().tolist() for key, v in self.group_sums.items()}
            out["groups"] = {
                name: _means({key: sums[key][g] if sums else 0.0 for key in self.sums}, users[g])
                for g, name in enumerate(group_names)
            }
        return out


    def _reduce(self, num_users: int, reduce: ReduceFn) -> int:
        """Replace every sum and count by ``reduce`` of them (all in one float64 vector:
        the overall sums, the user count, then per group the sums and the count);
        returns the reduced user count."""
        keys = list(self.sums)
        parts = [torch.tensor([self.sums[k] for k in keys] + [float(num_users)], dtype=torch.float64)]
        G = self.num_groups or 0
        if G:
            if self.group_users is None:  # no user of this share was scored
                self.group_users = torch.zeros(G, dtype=torch.long)
                self.group_sums = {k: torch.zeros(G, dtype=torch.float64) for k in keys}
            parts += [self.group_sums[k].cpu() for k in keys] + [self.group_users.cpu().double()]
        flat = torch.cat(parts)
        out = reduce(flat).to("cpu", torch.float64)
        if out.shape != flat.shape:
            raise ValueError(f"reduce must return a vector of shape {tuple(flat.shape)}, got {tuple(out.shape)}")
        self.sums = dict(zip(keys, out[: len(keys)].tolist()))
        num_users = int(round(float(out[len(keys)])))
        if G:
            blocks = out[len(keys) + 1 :].view(len(keys) + 1, G)
            self.group_sums = {k: blocks[j] for j, k in enumerate(keys)}
            self.group_users = blocks[-1].round().long()
        return num_users


def _means(sums: dict[str, float], num_users: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: (value / num_users if num_users else float("nan")) for key, value in sums.items()
    }
    out["users"] = int(num_users)
    return out


def _check_popularity(popularity: Tensor, num_items: int) -> Tensor:
    """Validate item weights for popularity sampling; returns them as CPU float64."""
    if not isinstance(popularity, Tensor):
        raise ValueError(f"popularity must be a tensor of item weights, got {type(popularity).__name__}")
    if popularity.dim() != 1 or popularity.numel() != num_items:
        raise ValueError(
            f"popularity must hold one weight per item ({num_items}), got shape {tuple(popularity.shape)}"
        )
    if popularity.is_complex() or popularity.dtype == torch.bool:
        raise ValueError(f"popularity must be a real tensor, got {popularity.dtype}")
    w = popularity.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError("popularity weights must be finite and non-negative")
    return w


def _check_groups(
    groups: Tensor | None, group_names: Sequence[str] | None, num_users: int
) -> tuple[Tensor | None, list[str] | None]:
    """Validate ``groups`` (one id per evaluated user) and ``group_names``."""
    if groups is None:
        if group_names is not None:
            raise ValueError("group_names given without groups (a group id per evaluated user)")
        return None, None
    if not isinstance(groups, Tensor):
        raise ValueError(f"groups must be a LongTensor of group ids, got {type(groups).__name__}")
    if groups.dim() != 1 or groups.numel() != num_users:
        raise ValueError(
            f"groups must hold one group id per evaluated user ({num_users}, aligned with users), "
            f"got shape {tuple(groups.shape)}"
        )
    if groups.is_floating_point() or groups.is_complex() or groups.dtype == torch.bool:
        raise ValueError(f"groups must be an integer tensor of group ids, got {groups.dtype}")
    groups = groups.to("cpu", torch.long)
    if group_names is None:
        top = int(groups.max()) + 1 if groups.numel() else 0
        names = [str(g) for g in range(top)]
    else:
        if isinstance(group_names, str):
            raise ValueError("group_names must be a sequence of names, not one string")
        names = [str(n) for n in group_names]
        if len(set(names)) != len(names):
            raise ValueError(f"group_names must be distinct, got {names}")
    if groups.numel():
        lo, hi = int(groups.min()), int(groups.max())
        if lo < 0 or hi >= len(names):
            bad = int(torch.nonzero((groups < 0) | (groups >= len(names)))[0, 0])
            raise ValueError(
                f"groups[{bad}] = {int(groups[bad])} is outside [0, {len(names)}) "
                f"(group_names: {names})"
            )
    return groups, names


def _progress(total: int, enabled: bool, desc: str):  # -> tqdm | None
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="user", desc=desc, dynamic_ncols=True)


# ---------------------------------------------------------------------------------
# full ranking
# ---------------------------------------------------------------------------------
def _ranks_from_top_candidates(masked: Tensor, padded: Tensor, valid: Tensor, num_masked: Tensor,
                               K: int, rows: Tensor, users: Tensor) -> tuple[Tensor, Tensor]:
    r"""Pessimistic ranks of the targets from the :math:`K` best candidates only.

    Let :math:`c_1 \ge \dots \ge c_K` be the :math:`K` highest candidate scores of a row
    (``masked`` holds :math:`-\infty` at every non-candidate). For a target of score
    :math:`s`, :math:`n = |\{m : c_m \ge s\}|` is its exact rank
    :math:`r = |\{i \in C_u : s_i \ge s\}|` whenever :math:`n < K` (a candidate
    :math:`\ge s` outside the top :math:`K` would put all :math:`K` of them
    :math:`\ge s`); when :math:`n = K`, :math:`r \ge K` and the target can be at no
    position below :math:`K \ge k` for any cut-off, so :math:`K` stands in for it.
    The one rank every metric needs exactly beyond :math:`K` -- the best target's, for
    MRR -- is counted over the whole row, for the rows where it is :math:`\ge K`
    (the best target has the highest score, hence the lowest rank). A target scored
    :math:`-\infty` ties with every candidate: :math:`r = |C_u|`.

    This replaces a full pass per target (or a search of every score among the
    targets) by one ``topk`` -- the work of the plain top-k evaluation loop.

    Returns:
        ``(ranks, best)``: ``(B, T)`` ranks, exact below ``K`` and ``K`` otherwise
        (padding slots arbitrary), and ``(B,)`` the exact rank of each row's best target.

    Raises:
        ValueError: NaN among the ranked (candidate or target) scores.
    """
    B, N = masked.shape
    T = padded.size(1)
    top = torch.topk(masked, K, dim=1, sorted=False).values  # NaN sorts above everything
    nan_rows = torch.isnan(top).any(dim=1) | (torch.isnan(padded) & valid).any(dim=1)
    if bool(nan_rows.any()):
        i = int(torch.nonzero(nan_rows)[0, 0])
        raise ValueError(f"score_fn returned NaN scores for row {int(rows[i])} (user {int(users[i])}); "
                         "NaN has no rank")
    ranks = (top.unsqueeze(1) >= padded.unsqueeze(2)).sum(dim=2)
    num_candidates = (N - num_masked).unsqueeze(1).expand(B, T)
    ranks = torch.where(torch.isneginf(padded), num_candidates, ranks)
    best_score = padded.masked_fill(~valid, float("-inf")).max(dim=1).values
    best = torch.where(valid, ranks, torch.full_like(ranks, N + 1)).min(dim=1).values
    beyond = torch.nonzero((best >= K) & ~torch.isneginf(best_score)).flatten()
    if beyond.numel():
        best[beyond] = _count_at_least(masked, best_score, beyond)
    return ranks, best


#: rows per block of :func:`_count_at_least`: the block's bools stay in cache
_COUNT_BLOCK = 16


def _count_at_least(x: Tensor, threshold: Tensor, rows: Tensor) -> Tensor:
    r"""``(x[rows] >= threshold[rows, None]).sum(1)`` without a ``(len(rows), N)`` copy.

    On the CPU, NumPy's comparison and ``count_nonzero`` (SIMD) run ~8x faster than
    torch's ``ge(...).sum(1)``, which widens every bool to int64 (Gowalla's 29,858 x
    40,981 test matrix, one thread: 0.8 s against 6.5 s); rows go in blocks of
    :data:`_COUNT_BLOCK` so the comparison's bools stay in cache."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return torch.ge(x[rows], threshold[rows].unsqueeze(1)).sum(dim=1)
    xn, tn, rn = x.numpy(), threshold.numpy(), rows.numpy()
    buf = np.empty((_COUNT_BLOCK, xn.shape[1]), dtype=bool)
    out = np.empty(rn.size, dtype=np.int64)
    for start in range(0, rn.size, _COUNT_BLOCK):
        idx = rn[start:start + _COUNT_BLOCK]
        m = idx.size
        if m == _COUNT_BLOCK and idx[-1] - idx[0] == m - 1:  # contiguous rows: a view, no copy
            block = xn[idx[0]:idx[0] + m]
        else:
            block = xn[idx]
        np.greater_equal(block, tn[idx, None], out=buf[:m])
        out[start:start + m] = np.count_nonzero(buf[:m], axis=1)
    return torch.from_numpy(out)


def full_ranking(
    score_fn: ScoreFn,
    users: Tensor,
    targets: Ragged,
    exclude: Ragged | None = None,
    *,
    num_items: int,
    ks: Sequence[int] = (10, 20),
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    groups: Tensor | None = None,
    group_names: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    reduce: ReduceFn | None = None,
) -> dict[str, Any]:
    r"""HR / Recall / NDCG / Precision @k and MRR over the full item set.

    Every target is ranked against all items that are neither excluded nor
    targets of the same user, with the pessimistic tie rule and the multi-target
    positions :math:`p_{(j)} = r_{(j)} + j` defined in :mod:`graphrec.metrics.ranking`.

    Users are processed ``chunk_size`` at a time and only users with targets are
    scored. A contiguous score tensor is masked in place and its masked entries are
    put back afterwards (so a ``score_fn`` may return its own cached table); any
    other is copied into one ``(chunk_size, num_items)`` buffer reused across
    chunks. With the comparison pass for MRR this is at most ~9 bytes per entry of
    a chunk, never anything of size ``(U, num_items)``; by default the chunk is
    picked from ``memory_budget``. Everything inside a chunk is vectorised; masks
    are applied sparsely.

    Args:
        score_fn (callable): ``score_fn(user_chunk) -> (len(user_chunk), num_items)``
            scores for a ``LongTensor`` of user ids (a closure around the model;
            put the model in ``eval()`` mode yourself). Called under
            :func:`torch.no_grad`. Scores must not be NaN; :math:`\pm\infty` is allowed.
        users (torch.Tensor): ``(U,)`` user ids to evaluate.
        targets (Ragged): ``U`` rows; row ``r`` holds the held-out items of
            ``users[r]`` (one for leave-one-out, many for Gowalla-style test sets).
            Repeated items in a row count once. Rows with no item are skipped.
        exclude (Ragged, optional): ``U`` rows aligned with ``targets``; items never
            ranked (training items, and validation items at test time).
            (default: :obj:`None`)
        num_items (int): number of items (columns of the score matrix).
        ks (Sequence[int]): cut-offs. (default: :obj:`(10, 20)`)
        chunk_size (int, optional): users scored at once; :obj:`None` picks it from
            ``memory_budget`` (:func:`auto_chunk_size`). (default: :obj:`None`)
        memory_budget (int, optional): bytes a chunk's buffers may take when
            ``chunk_size`` is :obj:`None`. (default: :data:`EVAL_MEMORY_BUDGET` of
            ``device``'s type: 32 MiB on a CPU, cache-sized, 1 GiB on a GPU)
        device (torch.device or str, optional): where each user chunk is sent before
            ``score_fn``; the metrics are computed on the device of the returned
            scores. (default: :obj:`None`, leave on CPU)
        progress (bool): show a tqdm bar. (default: :obj:`False`)
        groups (torch.Tensor, optional): ``(U,)`` integer group id of each user,
            aligned with ``users`` (e.g. ``group_ids[users]`` for ids over all users
            from :func:`graphrec.data.groups.user_groups`); ids in
            ``[0, len(group_names))``. (default: :obj:`None`, no breakdown)
        group_names (Sequence[str], optional): the name of each group id; defaults
            to ``"0", "1", ...`` when ``groups`` is given. (default: :obj:`None`)
        shard (tuple[int, int], optional): ``(index, count)``: this call is process
            ``index`` of ``count`` sharing one evaluation (data-parallel), and scores
            only its share of the users with targets: the ``index``-th of ``count``
            contiguous, near-equal parts (``torch.tensor_split``).
            The means are over that share unless ``reduce`` combines the shares.
            (default: :obj:`None`, every user)
        reduce (callable, optional): ``reduce(sums) -> sums``, applied to one float64
            vector holding every metric's sum over users and the number of users
            (then the same per group) before the means are taken; a sum over the
            processes of ``shard`` (an all-reduce) makes the result that of one
            process evaluating every user, up to the order of float additions. The
            returned vector must have the input's shape. (default: :obj:`None`)

    Returns:
        ``dict``: ``"hr@k"``, ``"ndcg@k"``, ``"recall@k"``, ``"precision@k"`` for every
        ``k``, ``"mrr"`` (means over evaluated users, ``nan`` if there is none) and
        ``"users"`` (int, the number of evaluated users).
        With ``groups``, also ``"groups"``: ``{name: {metric: mean, ..., "users":
        int}}`` for every name of ``group_names`` in order (a group without evaluated
        users has ``"users": 0`` and ``nan`` metrics). The overall numbers do not
        depend on the grouping, and
        ``sum(g[m] * g["users"]) == out[m] * out["users"]`` (up to rounding).

    Raises:
        ValueError: if a target of row ``r`` is also in ``exclude`` row ``r`` (a
            leak or a split bug: masking it would silently hide the target), if
            an item id is outside ``[0, num_items)``, if the rows do not align
            with ``users``, or if ``score_fn`` returns a wrong shape or NaN.

    Example:
        >>> emb_u, emb_i = torch.randn(5, 8), torch.randn(30, 8)
        >>> full_ranking(lambda u: emb_u[u] @ emb_i.T, torch.arange(5),
        ...              Ragged.from_lists([[1], [2], [3], [4], [5]]),
        ...              num_items=30, ks=(10,))["users"]
        5
    """
    users, ks = _check_common(users, ks, num_items, chunk_size)
    U = users.numel()
    targets = _check_ragged("targets", targets, U, num_items)
    if exclude is not None:
        exclude = _check_ragged("exclude", exclude, U, num_items)
    groups, names = _check_groups(groups, group_names, U)

    rows = torch.nonzero(targets.lengths() > 0).flatten()
    if shard is not None:
        index, count = _check_shard(shard)
        rows = rows.tensor_split(count)[index]
    sums = _Sums(ks, None if names is None else len(names))
    K = min(max(ks), num_items)
    if chunk_size is None:
        chunk_size = auto_chunk_size(num_items, memory_budget, device)
    work: Tensor | None = None
    bar = _progress(rows.numel(), progress, "full ranking")
    try:
        for start in range(0, rows.numel(), chunk_size):
            r = rows[start : start + chunk_size]
            u = users[r]
            with torch.no_grad():
                scores = score_fn(u.to(device) if device is not None else u)
            B = r.numel()
            # NaN is checked among the ranked scores only (_ranks_from_top_candidates)
            scores = _check_score_shape(scores, (B, num_items), "score_fn")
            dev = scores.device

            # Targets and exclusions as sorted unique keys row * N + item (sparse:
            # no (B, N) mask is built); repeated targets collapse here.
            t_keys = _row_keys(targets.select(r), num_items)
            m_keys = t_keys
            if exclude is not None:
                e_keys = _row_keys(exclude.select(r), num_items)
                clash = torch.isin(t_keys, e_keys)
                if bool(clash.any()):
                    key = int(t_keys[clash][0])
                    i, item = divmod(key, num_items)
                    raise ValueError(
                        f"row {int(r[i])} (user {int(u[i])}): target item {item} is also "
                        "in exclude; a target must never be masked (check the split)"
                    )
                m_keys = torch.cat([t_keys, e_keys])
            t_row, t_col = (t_keys // num_items).to(dev), (t_keys % num_items).to(dev)
            num_targets = torch.bincount(t_row, minlength=B)
            num_masked = torch.bincount(m_keys // num_items, minlength=B).to(dev)

            # Score the targets, then mask them with the excluded items: the ranks need
            # only the K = max(ks) best candidates (below).
            T = int(num_targets.max())
            ptr = torch.cumsum(num_targets, 0) - num_targets
            slot = torch.arange(t_row.numel(), device=dev) - ptr[t_row]
            padded = scores.new_full((B, T), float("inf"))
            padded[t_row, slot] = scores[t_row, t_col]
            valid = torch.arange(T, device=dev).unsqueeze(0) < num_targets.unsqueeze(1)
            m_row, m_col = (m_keys // num_items).to(dev), (m_keys % num_items).to(dev)
            if scores.is_contiguous():
                # one memory slot per entry: mask in place and put the few masked
                # values back afterwards (the scores may be the caller's own table)
                masked, saved = scores, scores[m_row, m_col]
            else:  # e.g. an expanded row, where one slot serves every user: mask a copy
                if work is None or work.dtype != scores.dtype or work.device != dev:
                    work = torch.empty((min(chunk_size, rows.numel()), num_items), dtype=scores.dtype, device=dev)
                masked, saved = work[:B], None
                masked.copy_(scores)
            masked[m_row, m_col] = float("-inf")
            try:
                ranks, best_rank = _ranks_from_top_candidates(masked, padded, valid, num_masked, K, r, u)
            finally:
                if saved is not None:
                    scores[m_row, m_col] = saved
            del scores, masked
            ranks = ranks.masked_fill(~valid, num_items + T)  # padding sorts last
            positions = torch.sort(ranks, dim=1).values + torch.arange(T, device=dev)
            positions[:, 0] = best_rank  # exact even beyond K, for MRR
            sums.add(positions, valid, num_targets, None if groups is None else groups[r])
            if bar is not None:
                bar.update(B)
    finally:
        if bar is not None:
            bar.close()
    return sums.finish(int(rows.numel()), names, reduce)


def _check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """``(index, count)`` of a ``shard=`` argument, checked."""
    try:
        index, count = (int(x) for x in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be a pair (index, count), got {shard!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard (index, count) needs 0 <= index < count, got {shard!r}")
    return index, count


# ---------------------------------------------------------------------------------
# sampled ranking
# ---------------------------------------------------------------------------------
def _isin_sorted(values: Tensor, sorted_keys: Tensor) -> Tensor:
    """``torch.isin(values, sorted_keys)`` for sorted ``sorted_keys``, by binary search
    (7x faster than :func:`torch.isin` for 600k values against 50k keys on CPU)."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(values, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, values).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == values


def _first_occurrence(keys: Tensor) -> Tensor:
    """``True`` where ``keys`` (any shape) holds a value for the first time in
    row-major order."""
    flat = keys.flatten()
    perm = torch.argsort(flat, stable=True)
    sorted_keys = flat[perm]
    first_sorted = torch.ones_like(sorted_keys, dtype=torch.bool)
    first_sorted[1:] = sorted_keys[1:] != sorted_keys[:-1]
    first = torch.empty_like(first_sorted)
    first[perm] = first_sorted
    return first.view_as(keys)


def _check_pool(pool: Tensor, n: int, row_ids: Tensor | None, what: str) -> None:
    """Raise, naming the user (or row), when a row has fewer than ``n`` candidates."""
    if bool((pool < n).any()):
        i = int(torch.nonzero(pool < n)[0, 0])
        name = f"user {int(row_ids[i])}" if row_ids is not None else f"row {i}"
        raise ValueError(f"{name} has only {max(int(pool[i]), 0)} {what} it never interacted with, "
                         f"fewer than num_negatives={n}")


def _sample_negatives(
    forbid_row: Tensor,
    forbid_item: Tensor,
    num_rows: int,
    num_items: int,
    num_negatives: int,
    generator: torch.Generator | None = None,
    method: str = "auto",
    row_ids: Tensor | None = None,
) -> Tensor:
    r"""``(num_rows, num_negatives)`` distinct items per row, uniform without
    replacement over the items not forbidden for that row.

    ``method="rejection"`` draws i.i.d. uniform items in rounds (vectorised over
    rows and draws) and keeps, per row, the first ``num_negatives`` distinct
    allowed ones: the first :math:`n` distinct values of an i.i.d. uniform
    sequence on a pool are a uniform :math:`n`-subset of it. ``method="dense"``
    draws one uniform key per (row, item), sets forbidden keys to 2 and keeps the
    ``num_negatives`` smallest, which is exact too but costs ``O(num_items)`` per
    row. ``"auto"`` uses rejection where the pool :math:`P_u` is large
    (:math:`P_u \ge 2n` and :math:`P_u \ge N/2`, so a round of
    :math:`O(n)` draws almost always suffices) and the dense draw elsewhere.
    All randomness comes from ``generator`` (CPU), so results are reproducible.
    """
    B, N, n = num_rows, num_items, num_negatives
    keys = torch.unique(forbid_row.long() * N + forbid_item.long())
    pool = N - torch.bincount(keys // N, minlength=B)
    _check_pool(pool, n, row_ids, "items")
    out = torch.empty((B, n), dtype=torch.long)
    if method == "auto":
        use_dense = (pool < 2 * n) | (2 * pool < N)
    elif method in ("dense", "rejection"):
        use_dense = torch.full((B,), method == "dense", dtype=torch.bool)
    else:  # pragma: no cover - internal
        raise ValueError(f"unknown sampling method {method!r}")

    def dense(rows: Tensor) -> None:
        if rows.numel() == 0:
            return
        local = torch.full((B,), -1, dtype=torch.long)
        local[rows] = torch.arange(rows.numel())
        u = torch.rand((rows.numel(), N), generator=generator)
        k_row, k_item = local[keys // N], keys % N
        keep = k_row >= 0
        u[k_row[keep], k_item[keep]] = 2.0
        out[rows] = torch.topk(u, n, dim=1, largest=False).indices

    def draw(rows: Tensor) -> Tensor:
        p = int(pool[rows].min())
        m = int(math.ceil(1.5 * n * (N / p) * (p / (p - n + 1)))) + 16
        return torch.randint(N, (rows.numel(), m), generator=generator)

    dense(torch.nonzero(use_dense).flatten())
    _fill_by_rejection(out, torch.nonzero(~use_dense).flatten(), keys, N, draw, dense)
    return out


def _fill_by_rejection(out: Tensor, rows: Tensor, keys: Tensor, num_items: int,
                       draw: Callable[[Tensor], Tensor], fallback: Callable[[Tensor], None]) -> None:
    """Fill ``out[rows]`` (``n`` columns) with each row's first ``n`` distinct allowed
    items of i.i.d. candidate rounds ``draw(rows) -> (len(rows), m)``; ``keys`` are the
    sorted forbidden ``row * num_items + item`` keys. Rows still short after 64 rounds
    (practically never) go to ``fallback``."""
    n, N = out.size(1), num_items
    buf = torch.empty((rows.numel(), 0), dtype=torch.long)
    for _ in range(64):
        if rows.numel() == 0:
            break
        buf = torch.cat([buf, draw(rows)], dim=1)
        cand = rows.unsqueeze(1) * N + buf
        ok = ~_isin_sorted(cand, keys) & _first_occurrence(cand)
        done = ok.sum(dim=1) >= n
        if bool(done.any()):
            ok_d = ok[done]
            take = ok_d & (torch.cumsum(ok_d, dim=1) <= n)
            out[rows[done]] = buf[done][take].view(-1, n)
        rows, buf = rows[~done], buf[~done]
    fallback(rows)


# Rows of the exponential-key draw handled at once: at most this many (row, item) keys.
_DENSE_BLOCK = 1 << 22
# torch.multinomial accepts at most 2**24 categories.
_MULTINOMIAL_MAX = 1 << 24


def _sample_weighted(
    forbid_row: Tensor,
    forbid_item: Tensor,
    num_rows: int,
    weights: Tensor,
    num_negatives: int,
    generator: torch.Generator | None = None,
    method: str = "auto",
    row_ids: Tensor | None = None,
) -> Tensor:
    r"""``(num_rows, num_negatives)`` distinct items per row, drawn without
    replacement with probability proportional to ``weights`` over the items not
    forbidden for that row (items of weight 0 are never drawn).

    This is successive sampling (Plackett-Luce): the first negative is item
    :math:`i` with probability :math:`w_i / \sum_{j \in P_u} w_j`, the next one
    likewise among the items left, and so on, over the pool
    :math:`P_u = \{i \notin F_u : w_i > 0\}`. Two exact ways to draw it:

    * ``method="dense"``: one key :math:`e_{u,i} / w_i` per (row, item) with
      :math:`e_{u,i} \sim \mathrm{Exp}(1)` i.i.d. (forbidden and zero-weight keys
      :math:`+\infty`) and keep the :math:`n` smallest keys (the exponential form of
      the Gumbel-top-k trick); ``O(num_items)`` per row, processed in row blocks.
    * ``method="rejection"``: i.i.d. draws from the categorical distribution
      :math:`w / \sum w` over all items (vectorised over rows and draws), keeping
      per row the first :math:`n` distinct allowed items. Conditioned on the items
      kept so far, the next kept one is proportional to :math:`w` over what is left
      of :math:`P_u`, which is successive sampling again.

    ``"auto"`` uses rejection where the pool keeps at least a quarter of the total
    weight after removing the row's forbidden items and the :math:`n` heaviest
    items (so a round of :math:`O(n)` draws almost always suffices), the dense draw
    elsewhere. All randomness comes from ``generator`` (CPU).
    """
    B, n = num_rows, num_negatives
    w = weights
    N = w.numel()
    keys = torch.unique(forbid_row.long() * N + forbid_item.long())
    k_row, k_item = keys // N, keys % N
    positive = w > 0
    pool = int(positive.sum()) - torch.bincount(k_row[positive[k_item]], minlength=B)
    _check_pool(pool, n, row_ids, "items of positive popularity")
    out = torch.empty((B, n), dtype=torch.long)
    total = float(w.sum())
    spare = torch.full((B,), 0.25, dtype=torch.float64)
    if method == "auto":
        forbidden_mass = torch.bincount(k_row, weights=w[k_item], minlength=B)
        heavy = float(torch.topk(w, min(n, N)).values.sum())
        spare = (total - forbidden_mass - heavy) / total
        use_dense = (spare < 0.25) | (pool < 2 * n)
        if N > _MULTINOMIAL_MAX:
            use_dense[:] = True
    elif method in ("dense", "rejection"):
        use_dense = torch.full((B,), method == "dense", dtype=torch.bool)
    else:  # pragma: no cover - internal
        raise ValueError(f"unknown sampling method {method!r}")

    inv_w = torch.where(positive, 1.0 / w, torch.full_like(w, float("inf")))

    def dense(rows: Tensor) -> None:
        step = max(1, _DENSE_BLOCK // N)
        for s in range(0, rows.numel(), step):
            blk = rows[s : s + step]
            local = torch.full((B,), -1, dtype=torch.long)
            local[blk] = torch.arange(blk.numel())
            u = torch.rand((blk.numel(), N), dtype=torch.float64, generator=generator)
            key = torch.log1p(-u).neg_().mul_(inv_w)  # Exp(1) / w in [0, inf]; 1/0 -> inf
            key.masked_fill_(~positive.unsqueeze(0), float("inf"))  # 0 * inf = nan otherwise
            kr = local[k_row]
            keep = kr >= 0
            key[kr[keep], k_item[keep]] = float("inf")
            out[blk] = torch.topk(key, n, dim=1, largest=False).indices

    def draw(rows: Tensor) -> Tensor:
        # each draw is kept with probability >= spare (see above): 1.5x the expected need
        m = int(math.ceil(1.5 * n / max(float(spare[rows].min()), 0.25))) + 16
        return torch.multinomial(w, rows.numel() * m, replacement=True, generator=generator).view(rows.numel(), m)

    dense(torch.nonzero(use_dense).flatten())
    _fill_by_rejection(out, torch.nonzero(~use_dense).flatten(), keys, N, draw, dense)
    return out


def sampled_ranking(
    score_fn_pairs: PairScoreFn,
    users: Tensor,
    targets: Ragged,
    exclude: Ragged | None = None,
    *,
    num_items: int,
    num_negatives: int = 100,
    ks: Sequence[int] = (10, 20),
    generator: torch.Generator | None = None,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
    progress: bool = False,
    popularity: Tensor | None = None,
    groups: Tensor | None = None,
    group_names: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    reduce: ReduceFn | None = None,
) -> dict[str, Any]:
    r"""Leave-one-out metrics against ``num_negatives`` sampled negatives.

    The protocol of SASRec (Kang and McAuley, ICDM 2018): for user :math:`u` with
    the single held-out item :math:`t`, draw :math:`n` distinct negatives
    uniformly from :math:`\mathcal{I} \setminus (E_u \cup \{t\})` and rank
    :math:`t` among them with the pessimistic rule
    :math:`r_t = |\{ i \in \text{negatives} : s_{u,i} \ge s_{u,t} \}|`. Negatives
    are drawn without replacement (SASRec's original code draws with replacement;
    the two agree when the pool is much larger than :math:`n`). Report the numbers
    under ``protocol_label("sampled", num_negatives)``: they are not comparable
    with :func:`full_ranking`.

    With ``popularity`` (item weights :math:`w`, e.g. training interaction counts)
    the negatives are drawn without replacement with probability proportional to
    :math:`w` over the same pool (successive sampling; items of weight 0 are never
    drawn): the protocol of GSERec (1 target + 99 negatives drawn by item
    frequency), labelled ``protocol_label("sampled", n, "popularity")``
    (``"sampled-pop-<n>"``). Popular negatives are harder, so these numbers are
    lower than uniform-sampled ones and comparable with neither.

    Only the target and its ``num_negatives`` negatives are ever scored, through
    ``score_fn_pairs``; no score of all items is computed (give the model's pair
    scorer, not a slice of its full scores, to get the saving).

    Args:
        score_fn_pairs (callable): ``score_fn_pairs(user_chunk, items) -> (B, C)``
            scores of ``items`` (``(B, C)`` LongTensor, column 0 the target, the
            others the negatives) for the users ``user_chunk`` (``(B,)``).
            Called under :func:`torch.no_grad`.
        users (torch.Tensor): ``(U,)`` user ids.
        targets (Ragged): ``U`` rows of at most one item (rows with none are
            skipped).
        exclude (Ragged, optional): ``U`` rows of items never used as negatives
            (everything the user interacted with). (default: :obj:`None`)
        num_items (int): number of items.
        num_negatives (int): negatives per user. (default: :obj:`100`)
        ks (Sequence[int]): cut-offs. (default: :obj:`(10, 20)`)
        generator (torch.Generator, optional): CPU generator for the negatives; pass
            a seeded one for reproducible numbers. (default: :obj:`None`, the global
            RNG)
        chunk_size (int): users scored at once. (default: :obj:`1024`)
        device (torch.device or str, optional): where the user and item chunks are
            sent before ``score_fn_pairs``. (default: :obj:`None`)
        progress (bool): show a tqdm bar. (default: :obj:`False`)
        popularity (torch.Tensor, optional): ``(num_items,)`` non-negative finite item
            weights; negatives are drawn proportionally to them instead of
            uniformly. (default: :obj:`None`, uniform)
        groups (torch.Tensor, optional): ``(U,)`` group id of each user, aligned
            with ``users``; see :func:`full_ranking`. (default: :obj:`None`)
        group_names (Sequence[str], optional): the name of each group id.
            (default: :obj:`None`)
        shard (tuple[int, int], optional): ``(index, count)``: this call is process
            ``index`` of ``count`` sharing one evaluation (data-parallel), and scores
            only its share of the users with targets: the ``index``-th of ``count``
            contiguous parts of every chunk. Every process still draws the negatives
            of every chunk, so that each user meets the same negatives as in one
            process (the draws of a chunk depend on those before it).
            The means are over that share unless ``reduce`` combines the shares.
            (default: :obj:`None`, every user)
        reduce (callable, optional): combines the metric sums of the processes of
            ``shard``; see :func:`full_ranking`. (default: :obj:`None`)

    Returns:
        ``dict`` with the same keys as :func:`full_ranking` (``"groups"`` included
        when ``groups`` is given).

    Raises:
        ValueError: if a row has more than one target (use :func:`full_ranking`),
            if the target is in ``exclude``, if a user has fewer than
            ``num_negatives`` items left to sample from (with ``popularity``: items
            of positive weight), or if ``popularity`` or ``groups`` is malformed.
    """
    users, ks = _check_common(users, ks, num_items, chunk_size)
    if isinstance(num_negatives, bool) or int(num_negatives) < 1:
        raise ValueError(f"num_negatives must be a positive integer, got {num_negatives!r}")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError("sampled_ranking draws negatives on CPU; pass a CPU torch.Generator")
    n = int(num_negatives)
    U = users.numel()
    targets = _check_ragged("targets", targets, U, num_items)
    if exclude is not None:
        exclude = _check_ragged("exclude", exclude, U, num_items)
    groups, names = _check_groups(groups, group_names, U)
    weights = None if popularity is None else _check_popularity(popularity, num_items)
    lengths = targets.lengths()
    if bool((lengths > 1).any()):
        i = int(torch.nonzero(lengths > 1)[0, 0])
        raise ValueError(
            f"sampled_ranking is leave-one-out only, but targets row {i} (user "
            f"{int(users[i])}) has {int(lengths[i])} items; use full_ranking"
        )

    rows = torch.nonzero(lengths == 1).flatten()
    index, count = _check_shard(shard) if shard is not None else (0, 1)
    sums = _Sums(ks, None if names is None else len(names))
    kind = "popularity-sampled" if weights is not None else "sampled"
    bar = _progress(rows.numel(), progress, f"{kind} ranking ({n} negatives)")
    scored = 0
    try:
        for start in range(0, rows.numel(), chunk_size):
            r = rows[start : start + chunk_size]
            u = users[r]
            B = r.numel()
            t = targets.values[targets.ptr[r]]
            f_row, f_item = torch.arange(B), t
            if exclude is not None:
                ex = exclude.select(r)
                ex_row = ex.row_index()
                clash = ex.values == t[ex_row]
                if bool(clash.any()):
                    i = int(ex_row[torch.nonzero(clash)[0, 0]])
                    raise ValueError(
                        f"row {int(r[i])} (user {int(u[i])}): target item {int(t[i])} is "
                        "also in exclude; a target must never be masked (check the split)"
                    )
                f_row, f_item = torch.cat([f_row, ex_row]), torch.cat([f_item, ex.values])
            if weights is None:
                neg = _sample_negatives(f_row, f_item, B, num_items, n, generator, row_ids=u)
            else:
                neg = _sample_weighted(f_row, f_item, B, weights, n, generator, row_ids=u)
            items = torch.cat([t.unsqueeze(1), neg], dim=1)
            if count > 1:  # this process's part of the chunk, drawn as in one process
                part = torch.arange(B).tensor_split(count)[index]
                r, u, items, B = r[part], u[part], items[part], part.numel()
                if B == 0:
                    if bar is not None:
                        bar.update(int(neg.size(0)))
                    continue
            with torch.no_grad():
                if device is not None:
                    scores = score_fn_pairs(u.to(device), items.to(device))
                else:
                    scores = score_fn_pairs(u, items)
            scores = _check_scores(scores, (B, n + 1), r, u, "score_fn_pairs")
            ranks = (scores[:, 1:] >= scores[:, :1]).sum(dim=1, keepdim=True)
            ones = torch.ones(B, dtype=torch.long, device=scores.device)
            sums.add(ranks, torch.ones_like(ranks, dtype=torch.bool), ones,
                     None if groups is None else groups[r])
            scored += B
            if bar is not None:
                bar.update(int(neg.size(0)))
    finally:
        if bar is not None:
            bar.close()
    return sums.finish(scored, names, reduce)


# ---------------------------------------------------------------------------------
# one entry point per protocol label
# ---------------------------------------------------------------------------------
def ranking_metrics(
    protocol: str | Protocol,
    users: Tensor,
    targets: Ragged,
    exclude: Ragged | None = None,
    *,
    num_items: int,
    score_fn: ScoreFn | None = None,
    score_fn_pairs: PairScoreFn | None = None,
    popularity: Tensor | None = None,
    ks: Sequence[int] = (10, 20),
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    groups: Tensor | None = None,
    group_names: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    reduce: ReduceFn | None = None,
) -> dict[str, Any]:
    """The metrics of ``protocol`` (a label or a :class:`Protocol`), dispatched to
    :func:`full_ranking` or :func:`sampled_ranking`.

    ``"full"`` needs ``score_fn`` (all items of a user chunk); ``"sampled-<n>"``
    and ``"sampled-pop-<n>"`` need ``score_fn_pairs`` and never call ``score_fn``
    (pass both and let the protocol choose); ``"sampled-pop-<n>"`` also needs
    ``popularity`` (item weights, e.g. training interaction counts), which the
    other protocols ignore. Every other argument is passed on unchanged (``chunk_size``
    ``None``: from ``memory_budget`` for full ranking, 1024 users for sampled); see
    those functions for their meaning and for the returned ``dict``.

    Raises:
        ValueError: for an invalid label or a missing scorer / popularity.
    """
    p = protocol if isinstance(protocol, Protocol) else parse_protocol(str(protocol))
    p = parse_protocol(p.label)  # validates a hand-made Protocol too
    common = dict(ks=ks, device=device, progress=progress, groups=groups, group_names=group_names,
                  shard=shard, reduce=reduce)
    if not p.sampled:
        if score_fn is None:
            raise ValueError("protocol 'full' needs score_fn (scores of all items for a user chunk)")
        return full_ranking(score_fn, users, targets, exclude, num_items=num_items, chunk_size=chunk_size,
                            memory_budget=memory_budget, **common)
    common["chunk_size"] = 1024 if chunk_size is None else chunk_size  # a sampled chunk is tiny
    if score_fn_pairs is None:
        raise ValueError(
            f"protocol {p.label!r} needs score_fn_pairs (scores of given user-item pairs); "
            "sampled protocols never score all items"
        )
    if p.sampler == "popularity" and popularity is None:
        raise ValueError(f"protocol {p.label!r} needs popularity (one weight per item)")
    return sampled_ranking(
        score_fn_pairs, users, targets, exclude, num_items=num_items, num_negatives=p.num_negatives,
        generator=generator, popularity=popularity if p.sampler == "popularity" else None, **common,
    )
