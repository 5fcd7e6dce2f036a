r"""Counterfactual recommendation histories for logs without a simulator: the policy
shift of ``shared/methods/hmv_crl.md`` section 4.3 on real data.

A policy-shift test re-encodes users after their recommendation surface has been
produced by another exposure policy and asks which latent channel moves. The synthetic
world simulates that surface again
(:func:`~graphrec.data.datasets.synthetic.resimulate_world`); real logs can only be
rewritten. :func:`rewrite_rec_history` replaces the item of every *training*
recommendation row (held-out rows, search and timestamps stay) with a draw from a
policy, and the item of every impression where the logs keep them (clicked flags stay):

=====================  =================================================================
``"popular"``          popularity-boosted: an item drawn with probability proportional to
                       its number of training recommendation rows (every user sees the
                       same head, whatever their taste)
``"search"``           popularity-debiased (the specification's default): an item drawn
                       uniformly from a category drawn from the user's own training
                       search clicks' categories (from every user's search clicks when the
                       user has none)
``"own"``              the reference: an item drawn from the user's own training
                       recommendation rows (with replacement), i.e. the same exposure
                       redrawn, whose movement is the noise floor of re-encoding
=====================  =================================================================

Nothing here knows a model: the caller builds the graph of the rewritten logs and
re-encodes it with trained weights.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from graphrec.data.logs import BehaviourLogs
from graphrec.data.ragged import Ragged
from graphrec.data.split import Split

#: the policies of :func:`rewrite_rec_history`
REWRITE_POLICIES = ("popular", "search", "own")


def rewrite_rec_history(logs: BehaviourLogs, split: Split, policy: str, seed: int = 0,
                        categories: Ragged | None = None) -> BehaviourLogs:
    """``logs`` with the item of every training recommendation row drawn from ``policy``
    (see the module docstring); a copy, the input is not changed.

    Args:
        logs: the logs the run was trained on.
        split: its split (only ``split.train`` rows are rewritten; search rows count
            when ``split.search_train`` shows them to training).
        policy: one of :data:`REWRITE_POLICIES`.
        seed: seed of the draws.
        categories: per item its category ids (``"search"`` only; e.g.
            :func:`graphrec.models.hmv_crl.item_categories` of the run's graph).
    """
    if policy not in REWRITE_POLICIES:
        raise ValueError(f"rewrite_rec_history: unknown policy {policy!r}; the policies are "
                         f"{', '.join(REWRITE_POLICIES)}")
    draw = _policy_sampler(logs, split, policy, categories)
    gen = torch.Generator().manual_seed(seed)
    rec, rows = logs.rec, split.train
    item = rec.item.clone()
    item[rows] = draw(rec.user[rows], gen)
    out = dataclasses.replace(logs, rec=dataclasses.replace(rec, item=item))
    if logs.impressions is not None:  # what an impressions-reading model sees, drawn from the same policy
        out.impressions = dataclasses.replace(logs.impressions, item=draw(logs.impressions.user, gen))
    return out


def _policy_sampler(logs: BehaviourLogs, split: Split, policy: str,
                    categories: Ragged | None) -> Callable[[Tensor, torch.Generator], Tensor]:
    """``draw(users, gen)``: an item per entry of ``users`` under ``policy``; what every
    draw shares (popularity, the users' search categories) is computed once here."""
    rec, rows = logs.rec, split.train
    if policy == "popular":
        weights = torch.bincount(rec.item[rows], minlength=rec.num_items).double()
        return lambda users, gen: torch.multinomial(weights, users.numel(), replacement=True, generator=gen)
    if policy == "own":
        return lambda users, gen: _draw_from_groups(users, rec.user[rows], rec.item[rows], rec.num_users, gen)
    return _search_sampler(logs, split, categories)


def _draw_from_groups(users: Tensor, group: Tensor, values: Tensor, num_users: int, gen: torch.Generator) -> Tensor:
    """Per entry of ``users``, one of ``values`` drawn uniformly among those whose
    ``group`` is that user (among all of them for a user with none)."""
    grouped = values[torch.argsort(group, stable=True)]
    counts = torch.bincount(group, minlength=num_users)
    start = torch.cumsum(counts, 0) - counts
    n = counts[users]
    u = torch.rand(users.numel(), generator=gen, dtype=torch.float64)
    own = (start[users] + (u * n).long()).clamp_max(values.numel() - 1)
    anyone = (u * values.numel()).long()
    return torch.where(n == 0, values[anyone], grouped[own])


def _search_sampler(logs: BehaviourLogs, split: Split,
                    categories: Ragged | None) -> Callable[[Tensor, torch.Generator], Tensor]:
    """Per user, a category drawn from the user's training search clicks' categories
    (everyone's when the user has none), then an item of that category uniformly."""
    if logs.search is None or categories is None or categories.values.numel() == 0:
        raise ValueError("rewrite_rec_history(policy='search') needs search logs and item categories; "
                         f"{logs.name} has {'no search' if logs.search is None else 'no item categories'}")
    search = logs.search if split.search_train is None else logs.search.subset(split.search_train)
    # every (search click, category of its item) pair: a uniform pair of the user is a
    # category drawn in proportion to the user's search clicks in it
    pair_user = search.user[torch.repeat_interleave(categories.lengths()[search.item])]
    click_cats = categories.values[_gather_rows(categories, search.item)]
    if click_cats.numel() == 0:
        raise ValueError(f"rewrite_rec_history(policy='search'): no training search click of {logs.name} has a "
                         "category")
    num_cats = int(categories.values.max()) + 1
    cat_items = Ragged.from_coo(categories.values, categories.row_index(), num_cats)  # category -> its items

    def draw(users: Tensor, gen: torch.Generator) -> Tensor:
        cat = _draw_from_groups(users, pair_user, click_cats, logs.num_users, gen)
        offset = (torch.rand(cat.numel(), generator=gen, dtype=torch.float64) * cat_items.lengths()[cat]).long()
        return cat_items.values[cat_items.ptr[cat] + offset]

    return draw


def _gather_rows(r: Ragged, rows: Tensor) -> Tensor:
    """Positions in ``r.values`` of every entry of ``rows``, row after row."""
    lengths = r.lengths()[rows]
    starts = r.ptr[rows]
    base = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
    return base + torch.arange(int(lengths.sum()))


__all__ = ["rewrite_rec_history", "REWRITE_POLICIES"]
