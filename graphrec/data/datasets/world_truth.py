"""What the synthetic world knows and no model may see, and the impressions it showed.

:func:`~graphrec.data.datasets.synthetic.simulate_world` returns three things: the
observed logs (what every model reads, as a ``HeteroData``), the observed
:class:`Impressions` (every recommendation slate shown, with its engagement outcome),
and a :class:`WorldTruth`: the latents, the policy and the causal structure that made
them. Only analyses read the truth (MCC, :math:`R^2`, policy-shift and mediation
checks, ``graphrec.causal``); it never enters the graph, so no model can read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch
from torch import Tensor


@dataclass
class Impressions:
    """Every recommendation slate shown, one row per slate, in the order shown.

    A user engages with at most one item of a slate: the logged recommendation
    interaction. Before it, the user may scroll past slates without engaging
    (``clicked == -1``); how many depends on how well the platform's slates match the
    user's taste, so the click rate (engaged slates / slates shown) is a real
    engagement outcome that the exposure policy moves.

    Args:
        user: ``(N,)`` user of each slate.
        rec_row: ``(N,)`` row of ``logs.rec`` of the engagement the slate was (or
            preceded); a skipped slate is shown at that engagement's time.
        items: ``(N, W)`` the slate's items (``W = slate_size + explore_slots``).
        clicked: ``(N,)`` slot of the engaged item, ``-1`` if the slate was skipped.
        time: ``(N,)`` when the slate was shown (float64, the logs' unit).
    """

    user: Tensor
    rec_row: Tensor
    items: Tensor
    clicked: Tensor
    time: Tensor

    def __len__(self) -> int:
        return int(self.user.numel())

    def select(self, mask: Tensor) -> Impressions:
        """The slates where ``mask`` (bool, ``(N,)``) holds, e.g. ``imp.time < cutoff[imp.user]``
        to keep what a model may see before a user's held-out time."""
        return Impressions(self.user[mask], self.rec_row[mask], self.items[mask], self.clicked[mask],
                           self.time[mask])

    def click_rate(self, num_users: int) -> Tensor:
        """``(num_users,)`` share of each user's slates with an engagement (NaN for a user
        shown none)."""
        shown = torch.bincount(self.user, minlength=num_users).double()
        engaged = torch.bincount(self.user[self.clicked >= 0], minlength=num_users).double()
        return engaged / shown.where(shown > 0, torch.full_like(shown, float("nan")))


@dataclass
class WorldTruth:
    """The ground truth of a synthetic world (``U`` users, ``I`` items, ``K`` topics,
    ``k_p`` platform dimensions, ``N`` slates).

    ``tensors`` holds:

    =============================  ==================================================
    ``user.z_pref``                ``(U, K)`` preference latent :math:`z_f` (its size is
                                   ``num_topics``)
    ``user.z_pref_drift``          ``(U, K)`` drift; affinities at the end of a user's
                                   line are ``z_pref + z_pref_drift``
    ``user.z_platform``            ``(U, k_p)`` platform latent :math:`z_p`
                                   (``platform_dim``)
    ``user.platform_controls``     ``(U, 4)`` what the policy reads from :math:`z_p`:
                                   :math:`A z_p` for the factors of
                                   :data:`~graphrec.data.datasets.synthetic.PLATFORM_FACTORS`
                                   (:math:`A = I` when ``platform_dim == 4``)
    ``user.policy_logits``         ``(U, 3)`` log-odds of the popularity / promotion /
                                   personalisation slot sources: ``platform_bias +
                                   controls[:, :3]``; a policy shift moves exactly these
    ``user.u_pref``                ``(U, aux_pref_dim)`` covariates of :math:`z_f`
                                   (observed: also in ``data['user'].x``)
    ``user.u_platform``            ``(U, aux_platform_dim)`` covariates of :math:`z_p`
                                   (observed, idem)
    ``user.search_propensity``     ``(U,)`` the drawn search propensity :math:`\\rho`
    ``user.exposure_share``        ``(U, 4)`` share of the user's logged slates' slots
                                   per :data:`~graphrec.data.datasets.synthetic.EXPOSURE_SOURCES`
    ``item.topic``                 ``(I,)`` primary topic
    ``item.embedding``             ``(I, K)`` topic mixture :math:`\\theta`
    ``item.popularity``            ``(I,)`` Zipf popularity (sums to 1)
    ``item.promoted``              ``(I,)`` bool, in a promoted category
    ``item.title_ptr/title_word``  titles as CSR word ids
    ``topic_word``                 ``(K, W)`` topic word distributions
    ``rec_exposure_source``        ``(N_rec,)`` slot source of each engaged item, aligned
                                   with ``logs.rec`` rows
    ``rec_intent``                 ``(N_rec,)`` session intent topic, same rows
    ``search_intent``              ``(N_search,)`` intent, aligned with ``logs.search``
    ``search_target``              ``(N_search,)`` item the query was written for
    ``impression.source``          ``(N, W)`` slot source of every shown slate item
    =============================  ==================================================

    Per-row tensors follow the row order of the tables (per user, chronological), not
    the edge order of a built ``HeteroData``.

    Args:
        config: the world's :class:`~graphrec.data.datasets.synthetic.SyntheticConfig`.
        tensors: the table above.
    """

    config: Any
    tensors: dict[str, Tensor] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Tensor:
        try:
            return self.tensors[key]
        except KeyError:
            raise KeyError(f"the world's truth has no {key!r}; it has {', '.join(sorted(self.tensors))}") from None

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def keys(self) -> list[str]:
        return sorted(self.tensors)

    def causal_graph(self) -> nx.DiGraph:
        """The world's generative structure at the level of user blocks, as a
        ``networkx.DiGraph`` (edges point from cause to effect; each edge's ``how``
        says which line of the simulator draws it). Node names: ``u_platform``,
        ``u_pref``, ``z_platform``, ``z_pref``, ``search_propensity``, ``rec_volume``,
        ``search_volume``, ``exposure`` (the slot sources of the user's slates),
        ``rec_clicks`` (which items the user engages with), ``click_rate`` (engaged
        slates / slates shown), ``search_clicks``."""
        g = nx.DiGraph()
        edges = [
            ("u_platform", "z_platform", "z_p | u_p ~ N(M_p u_p, diag exp(L_p u_p))"),
            ("u_pref", "z_pref", "z_f | u_f ~ N(s M_f u_f, diag s^2 exp(L_f u_f))"),
            ("u_platform", "rec_volume", "activity 0.35 u_p[0] in the negative-binomial volume"),
            ("z_platform", "rec_volume", "activity 0.35 (A z_p)[3] (exposure intensity)"),
            ("u_pref", "search_propensity", "rho = sigmoid(mean + 0.8 u_f[0] + noise)"),
            ("search_propensity", "search_volume", "n_search ~ Poisson(n_rec rho / (1 - rho))"),
            ("rec_volume", "search_volume", "idem"),
            ("z_platform", "exposure", "slot sources ~ softmax(platform_bias + (A z_p)[:3])"),
            ("z_pref", "exposure", "personalised slots follow the platform's noisy estimate of z_f"),
            ("exposure", "rec_clicks", "the user picks within the slate"),
            ("z_pref", "rec_clicks", "utility beta_f z_f . theta_i + beta_c theta_ic + Gumbel"),
            ("exposure", "click_rate", "a slate is engaged with its logit probability against the outside option"),
            ("z_pref", "click_rate", "idem"),
            ("rec_volume", "rec_clicks", "items engaged with before are blocked in later slates"),
            ("rec_volume", "click_rate", "idem: more of a slate is blocked, so fewer slates are engaged with"),
            ("z_pref", "search_clicks", "target by taste, click by query match + taste"),
        ]
        for src, dst, how in edges:
            g.add_edge(src, dst, how=how)
        return g
