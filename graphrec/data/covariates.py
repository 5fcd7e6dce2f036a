r"""User covariates read from the behaviour logs: the auxiliary variables of an
identifiable (iVAE-style) representation model on data that has no simulator.

HMV-CRL conditions its platform latent on *exposure* covariates :math:`u_p` and its
preference latent on *user-initiated* covariates :math:`u_f`
(``shared/methods/hmv_crl.md`` section 1). The synthetic world draws both and hands
them over as ``data['user'].x``; a real log has to be summarised instead. From the
training-visible joint timeline (so nothing of the held-out events leaks in), per user:

=====================================  ========================================================
:math:`u_p` (recommendation surface)   ``rec_per_active_day``: :math:`\log(1 + n_R / d_R)` with
                                       :math:`d_R` the distinct days with a recommendation
                                       event; ``rec_hour_<a>-<b>``: share of the recommendation
                                       events in each block of the day (UTC); ``rec_group_<g>``:
                                       share of them on items of each of the most frequent item
                                       groups (categories) -- the exposure mix
:math:`u_f` (search surface)           ``search_volume``: :math:`\log(1 + n_S)`;
                                       ``search_share``: :math:`n_S / (n_R + n_S)`;
                                       ``search_group_<g>``: share of the search clicks on items
                                       of each of the most frequent groups
=====================================  ========================================================

A column that is constant over the users (e.g. the hour of day on logs with day
resolution, or a group every item belongs to) says nothing and is dropped, so the names
returned are those of informative columns only. Recommendation logs here hold
engagements, not impressions, so the "exposure" mix is the mix of what was engaged with
under exposure: the closest the logs come to the spec's impression shares.

Dataset user features (``data['user'].features``, integer codes named by the graph's
``meta_user_features``, e.g. KuaiSAR's ``reco_active_level`` / ``search_active_level``)
join either side one-hot through :func:`named_user_features`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from graphrec.data.ragged import Ragged
from graphrec.data.timeline import REC, SEARCH, JointTimeline

SECONDS_PER_DAY = 86400.0
#: how many blocks the day is cut into for the hour-of-day histogram (the spec's 6)
HOUR_BLOCKS = 6
#: how many of the most frequent item groups get a share column per surface
MAX_GROUPS = 16


@dataclass
class UserCovariates:
    """Per-user covariates of the two channels, with a name per column."""

    platform: Tensor
    preference: Tensor
    platform_names: list[str] = field(default_factory=list)
    preference_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for side in ("platform", "preference"):
            x, names = getattr(self, side), getattr(self, f"{side}_names")
            if x.dim() != 2 or x.size(1) != len(names):
                raise ValueError(f"UserCovariates.{side}: {tuple(x.shape)} does not match its {len(names)} names")
        if self.platform.size(0) != self.preference.size(0):
            raise ValueError("UserCovariates: the two sides cover different numbers of users")

    def extend(self, platform: tuple[Tensor, list[str]] | None = None,
               preference: tuple[Tensor, list[str]] | None = None) -> UserCovariates:
        """These covariates with more columns appended to either side."""
        out = {}
        for side, extra in (("platform", platform), ("preference", preference)):
            x, names = getattr(self, side), list(getattr(self, f"{side}_names"))
            if extra is not None:
                x, names = torch.cat([x, extra[0].to(x.dtype)], 1), names + list(extra[1])
            out[side], out[f"{side}_names"] = x, names
        return UserCovariates(**out)


def _informative(x: Tensor, names: list[str]) -> tuple[Tensor, list[str]]:
    """The columns that vary over the users."""
    if x.size(0) < 2:
        return x, names
    keep = (x.max(0).values - x.min(0).values) > 1e-12
    return x[:, keep], [n for n, k in zip(names, keep.tolist()) if k]


def _shares(rows: Tensor, cols: Tensor, num_rows: int, width: int, totals: Tensor) -> Tensor:
    """``(num_rows, width)`` counts of ``(row, col)`` pairs divided by each row's total."""
    out = torch.zeros(num_rows, width, dtype=torch.float64)
    out.index_put_((rows, cols), torch.ones(rows.numel(), dtype=torch.float64), accumulate=True)
    return out / totals.clamp_min(1).unsqueeze(1)


def _group_shares(row: Tensor, item: Tensor, totals: Tensor, num_rows: int, groups: Ragged | None,
                  group_names: list[str] | None, prefix: str, max_groups: int) -> tuple[Tensor, list[str]]:
    if groups is None or item.numel() == 0:
        return torch.zeros(num_rows, 0, dtype=torch.float64), []
    picked = groups.select(item)
    event_row, group = row[picked.row_index()], picked.values
    counts = torch.bincount(group, minlength=groups.values.max().item() + 1 if groups.values.numel() else 0)
    top = torch.argsort(counts, descending=True, stable=True)[:max_groups]
    top = top[counts[top] > 0]
    local = torch.full((counts.numel(),), -1, dtype=torch.long)
    local[top] = torch.arange(top.numel())
    hit = local[group] >= 0
    x = _shares(event_row[hit], local[group[hit]], num_rows, top.numel(), totals)
    names = [f"{prefix}_group_{group_names[g] if group_names else g}" for g in top.tolist()]
    return x, names


def timeline_covariates(timeline: JointTimeline, item_groups: Ragged | None = None,
                        group_names: list[str] | None = None, *, hour_blocks: int = HOUR_BLOCKS,
                        max_groups: int = MAX_GROUPS) -> UserCovariates:
    """The covariates of the module docstring from a (training-visible) joint timeline.

    Args:
        timeline: every user's events; times in seconds.
        item_groups: per item, the groups (e.g. categories) it belongs to, as a
            :class:`~graphrec.data.ragged.Ragged` with one row per item; without it no
            group shares are made.
        group_names: a name per group id, used in the column names (default: the id).
        hour_blocks: blocks of the day of the hour-of-day histogram.
        max_groups: the most frequent groups (per surface) that get a share column.
    """
    if hour_blocks < 1 or max_groups < 0:
        raise ValueError(f"hour_blocks must be >= 1 and max_groups >= 0, got {hour_blocks} and {max_groups}")
    U = timeline.num_rows
    row = timeline.row_index()
    rec, srch = timeline.surface_positions(REC), timeline.surface_positions(SEARCH)
    n_rec = torch.bincount(row[rec], minlength=U).double()
    n_search = torch.bincount(row[srch], minlength=U).double()

    # u_p: volume per active day, time of day, group mix of the recommendation surface
    day = torch.div(timeline.time[rec], SECONDS_PER_DAY, rounding_mode="floor").long()
    active = torch.unique(torch.stack([row[rec], day - day.min() if day.numel() else day]), dim=1)
    days = torch.bincount(active[0], minlength=U).double()
    platform = [torch.log1p(n_rec / days.clamp_min(1)).unsqueeze(1)]
    p_names = ["rec_per_active_day"]
    block = ((timeline.time[rec] % SECONDS_PER_DAY) / (SECONDS_PER_DAY / hour_blocks)).long().clamp_max(
        hour_blocks - 1)
    platform.append(_shares(row[rec], block, U, hour_blocks, n_rec))
    width = 24 // hour_blocks if 24 % hour_blocks == 0 else 24 / hour_blocks
    p_names += [f"rec_hour_{b * width:g}-{(b + 1) * width:g}" for b in range(hour_blocks)]
    x, names = _group_shares(row[rec], timeline.item[rec], n_rec, U, item_groups, group_names, "rec", max_groups)
    platform.append(x)
    p_names += names

    # u_f: how much the user searches, and on what
    preference = [torch.log1p(n_search).unsqueeze(1), (n_search / (n_rec + n_search).clamp_min(1)).unsqueeze(1)]
    f_names = ["search_volume", "search_share"]
    x, names = _group_shares(row[srch], timeline.item[srch], n_search, U, item_groups, group_names, "search",
                             max_groups)
    preference.append(x)
    f_names += names

    up, p_names = _informative(torch.cat(platform, 1), p_names)
    uf, f_names = _informative(torch.cat(preference, 1), f_names)
    return UserCovariates(up.float(), uf.float(), p_names, f_names)


def one_hot_features(codes: Tensor) -> Tensor:
    """Float one-hot encoding of an int64 ``(N, F)`` code matrix, the columns' encodings
    side by side (column ``f`` takes ``max(codes[:, f]) + 1`` slots); a ``-1`` code (no
    row for that node) is all zeros."""
    blocks = []
    for col in codes.t():
        width = int(col.max()) + 1 if col.numel() else 0
        block = torch.zeros(col.numel(), max(width, 0))
        known = (col >= 0).nonzero().view(-1)
        block[known, col[known]] = 1.0
        blocks.append(block)
    return torch.cat(blocks, dim=1) if blocks else torch.zeros(codes.size(0), 0)


def named_user_features(codes: Tensor, columns: list[str], wanted: list[str]) -> tuple[Tensor, list[str]]:
    """One-hot encodings (:func:`one_hot_features`) of the integer user-feature columns
    ``wanted`` of ``codes`` (``(num_users, len(columns))``, ``-1`` = unknown), constant
    columns dropped, with a ``name=value`` per column.

    Raises:
        ValueError: naming a column that ``columns`` does not have.
    """
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise ValueError(f"user feature(s) {missing} not found; the graph's user features are {columns}")
    picked = codes[:, [columns.index(name) for name in wanted]].long() if wanted else codes[:, :0]
    names = [f"{name}={v}" for name, col in zip(wanted, picked.t()) for v in range(max(int(col.max()) + 1, 0))]
    return _informative(one_hot_features(picked), names)


__all__ = ["UserCovariates", "timeline_covariates", "one_hot_features", "named_user_features", "HOUR_BLOCKS",
           "MAX_GROUPS"]
