"""A synthetic search-and-recommendation world with known ground truth.

graphrec's embedded default dataset (CLI name ``synthetic``): it needs no files,
generates in about a second and is small enough to train any model on two CPU
cores, yet it has everything the search-enhanced and causal methods read:

* **items** -- ``K`` latent topics. Item :math:`i` has a primary topic
  :math:`c_i`, a topic mixture :math:`\\theta_i \\in \\Delta^{K-1}` (its ground-truth
  embedding), a Zipf popularity :math:`\\pi_i`, attributes tied to its topics
  (a category of the primary topic, a category of a strong secondary topic, a
  brand whose home topic is the primary topic) and a title of pseudo-words drawn
  from the topic's word distribution.
* **users** -- observed auxiliary covariates :math:`u_p, u_f` (their first
  coordinates are the recommendation and search activity levels) and two latent
  blocks drawn from conditionally factorial Gaussian priors, as in iVAE
  (Khemakhem et al., 2020):

  .. math::
      z_p \\mid u_p \\sim \\mathcal{N}(M_p u_p,\\, \\operatorname{diag} e^{L_p u_p}),\\qquad
      z_f \\mid u_f \\sim \\mathcal{N}(s M_f u_f,\\, \\operatorname{diag} s^2 e^{L_f u_f}).

  :math:`z_f \\in \\mathbb{R}^K` is the **preference latent** (topic
  affinities); :math:`z_p \\in \\mathbb{R}^4` the **platform latent**: how the
  exposure policy treats the user, with coordinates (0) popularity weight,
  (1) promotion weight, (2) personalisation weight, (3) exposure intensity
  (volume of recommendation interactions). :math:`z_p` acts on the
  recommendation surface only, :math:`z_f` on both.
* **time** -- each user's line is a chain of session intents: consecutive
  interactions keep the intent topic with probability ``intent_stay``; a new
  intent is drawn from :math:`\\operatorname{softmax}(z_f + \\tau\\,\\delta_u)`,
  where :math:`\\tau \\in [0, 1]` is the position in the user's line and
  :math:`\\delta_u` a per-user drift. A new intent opens a new session (a gap of
  hours to days); events inside a session are minutes apart. Users start at
  different times, so the logs interleave over ``time_span_days``.
* **recommendation surface** -- the platform shows a slate of ``slate_size``
  items, each slot filled from popularity, from the promoted categories or from
  its (noisy) estimate of the user's taste (half of the time the topic of the
  user's last interaction) with probabilities :math:`\\operatorname{softmax}(b + z_{p,0:3})`,
  plus ``explore_slots`` uniformly random items. The user engages with the
  unseen slate item maximising
  :math:`\\beta_f z_f(\\tau)^\\top\\theta_i + \\beta_c \\theta_{i,c} + \\text{Gumbel}`
  (:math:`c` the session intent).
* **search surface** -- the user picks a target item from its intent and taste,
  writes a query of 1--``query_max_words`` words (title words of the target, its
  attribute names, words of the intent topic, noise words) and clicks the item
  maximising ``search_relevance`` x (idf-weighted lexical + topical match) +
  :math:`\\beta_f z_f^\\top\\theta_i` + :math:`0.25\\log\\pi_i` + Gumbel. Per-user search
  propensity is logit-normal (heavy-tailed: most users search rarely, a few
  mostly search).

* **impressions** -- every slate shown is kept (:class:`Impressions`): before each
  engagement the user may scroll past slates of the same policy, each engaged with
  its logit probability against an outside option ``skip_utility``, so the click
  rate is a real engagement outcome that the exposure policy moves.

Ground truth is kept apart from what models read: :func:`simulate_world` returns the
logs, the impressions and a :class:`WorldTruth` (latents, policy, per-event intents and
sources, the generative graph); the dataset exposes it as
:attr:`SyntheticSearchRec.truth` and never puts it into the graph. It lets causal
methods be scored (MCC, :math:`R^2`) and shows that a personalised model must beat
popularity: the ground-truth preference score :math:`z_f^\\top\\theta_i` ranks held-out
items far better than popularity does. **Policy shifts**: :func:`resimulate_world`
redraws the recommendation surface of the same users under another exposure policy
(:data:`POLICY_FIELDS`, e.g. ``platform_bias``) with everything else held, so a
policy-shift test has a known answer.

Node features in the graph: ``data['user'].x`` is the observed covariates
:math:`[u_p, u_f]` (float, ``aux_platform_dim + aux_pref_dim`` columns, the same
values as ``u_platform`` / ``u_pref``); items, queries and attributes have no
``x`` (their observed side information is the attribute graph and the titles).
Attributes carry fields ``data.attr_fields == ['category', 'brand']``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import logsumexp

from graphrec.data.datasets.base import RecDataset
from graphrec.data.datasets.world_truth import Impressions, WorldTruth
from graphrec.data.logs import BehaviourLogs, IdMap, ImpressionLog, ItemInfo, RecLog, SearchLog
from graphrec.data.ragged import Ragged

#: version of the simulator, part of the processed cache key: bumped whenever the same
#: config would generate different logs or graph attributes (2: the taste-vector fix,
#: the truth kept out of the graph, meta_platform_covariates; 3: the impressions in the graph)
WORLD_VERSION = 3
#: meaning of the platform latent's coordinates
PLATFORM_FACTORS = ("popularity", "promotion", "personalisation", "intensity")
#: exposure sources recorded per recommendation interaction
EXPOSURE_SOURCES = ("popularity", "promoted", "personalised", "explore")
#: attribute fields: ids ``0..num_categories-1`` are categories, the rest brands
ATTR_FIELDS = ("category", "brand")
#: the fields of :class:`SyntheticConfig` that make up the platform's exposure policy:
#: what :func:`resimulate_world` may change while every user stays who it is
POLICY_FIELDS = ("platform_bias", "recent_weight", "platform_pop_power", "slate_size", "explore_slots",
                 "skip_utility")

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic world (all hashed into the dataset's cache key).

    The defaults give 2,000 users, 1,000 items, about 41 interactions per user
    (69,670 recommendation + 12,806 search rows for seed 0: a 16% search share,
    per-user median 7%), 240 attributes and 580 words; generation takes about a
    second on one CPU core (the logs; a few seconds with every impression). Leave-one-out
    test HR@10 (seed 0): popularity 0.026, ground-truth ``z_pref . theta`` 0.323,
    item-kNN 0.282.

    Args:
        seed: seed of the single ``numpy.random.Generator`` used. (default: ``0``)
        num_users: number of users. (default: ``2000``)
        num_items: number of items. (default: ``1000``)
        num_topics: latent topics ``K`` (= dimension of ``z_pref`` and of the item
            embedding). (default: ``20``)
        categories_per_topic: category attributes per topic. (default: ``4``)
        num_brands: brand attributes, each with a home topic; at least
            ``num_topics``. (default: ``160``)
        words_per_topic: topic-specific title/query words per topic. (default: ``15``)
        num_generic_words: words shared by all topics. (default: ``40``)
        item_mix: weight of the Dirichlet part of each item's topic mixture
            (``0`` = pure single-topic items). (default: ``0.35``)
        item_mix_concentration: concentration of that Dirichlet. (default: ``0.2``)
        popularity_exponent: Zipf exponent of item popularity. (default: ``0.4``; with
            ``pref_scale=5`` the true preference ranks held-out items ~12x better than
            popularity, so personalised models have clear room to win)
        title_min_words, title_max_words: topic words per title (a brand word and,
            half of the time, a category word are added). (default: ``2``, ``4``)
        aux_platform_dim: dimension of the observed platform covariates ``u_p``;
            ``u_p[:, 0]`` is the recommendation activity level. (default: ``3``)
        aux_pref_dim: dimension of the observed preference covariates ``u_f``;
            ``u_f[:, 0]`` is the search activity level. (default: ``3``)
        pref_scale: scale ``s`` of ``z_pref``. (default: ``5.0``)
        pref_drift: standard deviation of the per-user drift ``delta_u`` of topic
            affinities over the user's line. (default: ``0.5``)
        platform_estimate_noise: noise of the platform's estimate of ``z_pref``.
            (default: ``1.0``)
        mean_rec_interactions: mean recommendation interactions per user.
            (default: ``35.0``)
        min_rec_interactions: minimum recommendation interactions per user (so
            leave-one-out keeps a training history). (default: ``5``)
        max_interactions: cap on a user's interactions (both surfaces).
            (default: ``400``)
        search_logit_mean, search_logit_std: per-user search propensity
            ``rho = sigmoid(mean + 0.8 u_f[0] + std * eps)``, capped at
            ``max_search_share``; the user's number of searches is
            ``Poisson(n_rec * rho / (1 - rho))``. (default: ``-2.6``, ``1.2``)
        max_search_share: cap on ``rho``. (default: ``0.9``)
        slate_size: policy slots per recommendation slate. (default: ``10``)
        explore_slots: uniformly random extra slots per slate. (default: ``2``)
        num_promoted_categories: categories the platform promotes. (default: ``6``)
        platform_bias: base logits of the (popularity, promotion, personalisation)
            slot sources, added to ``z_platform[:, :3]``. (default: ``(-0.5, -1.5, 1.0)``)
        platform_pop_power: personalised slots (and search targets' candidates)
            draw items of a topic with probability proportional to
            ``popularity ** platform_pop_power``. (default: ``0.3``)
        recent_weight: share of personalised slots that use the topic of the
            user's last interaction instead of the long-term estimate.
            (default: ``0.5``)
        intent_stay: probability that the next interaction keeps the session
            intent. (default: ``0.75``)
        beta_pref: engagement sensitivity to ``z_pref . theta_i``. (default: ``3.0``)
        beta_intent: engagement sensitivity to the session intent. (default: ``3.0``)
        query_max_words: longest query. (default: ``5``)
        query_extra_words: mean number of words beyond the first
            (Poisson). (default: ``1.2``)
        query_word_mix: probabilities that a query word is a title word of the
            target item, one of its attribute names, a word of the intent topic,
            or a uniformly random noise word. (default: ``(0.4, 0.25, 0.25, 0.1)``)
        search_relevance: click sensitivity to the query match. (default: ``2.0``)
        target_candidates: items of the intent topic (drawn by
            ``popularity ** platform_pop_power``) among which a search target is chosen by taste.
            (default: ``20``)
        search_offtaste: share of searches made for a need outside the user's taste (a
            gift, a chore): their topic is drawn uniformly and taste plays no part in their
            target or click, so these clicks say nothing about what the user likes --
            the search-specific intent that naive transfer to recommendation carries over
            (negative transfer, ClardRec's problem). ``0`` draws nothing extra: every
            world is the same as before the option existed. The truth marks each such
            search (``search_offtaste``). (default: ``0.0``)
        time_span_days: simulated span; users start in its first 30%.
            (default: ``90.0``)
        within_session_gap_s: mean gap inside a session, seconds (plus 30 s).
            (default: ``240.0``)
        platform_dim: size ``k_p`` of the platform latent. With ``4`` its coordinates are
            the policy controls of :data:`PLATFORM_FACTORS`; otherwise the controls are
            ``A z_p`` for a fixed random ``(4, k_p)`` map with unit rows (identifiable from
            behaviour for ``k_p <= 4`` only). The preference latent's size is ``num_topics``.
            (default: ``4``)
        skip_utility: utility :math:`v_0` of not engaging with a slate: a slate is
            engaged with probability :math:`\\sum_i e^{v_i} / (\\sum_i e^{v_i} + e^{v_0})`;
            slates skipped before each engagement are kept in the impressions. ``15`` gives
            a mean click rate of 0.74 (std 0.31 across users) at the defaults, 0.62 under a
            popularity-first policy. (default: ``15.0``)
        max_skipped_slates: most slates skipped before one engagement. (default: ``10``)
    """

    seed: int = 0
    num_users: int = 2000
    num_items: int = 1000
    num_topics: int = 20
    categories_per_topic: int = 4
    num_brands: int = 160
    words_per_topic: int = 15
    num_generic_words: int = 40
    item_mix: float = 0.35
    item_mix_concentration: float = 0.2
    popularity_exponent: float = 0.4
    title_min_words: int = 2
    title_max_words: int = 4
    aux_platform_dim: int = 3
    aux_pref_dim: int = 3
    pref_scale: float = 5.0
    pref_drift: float = 0.5
    platform_estimate_noise: float = 1.0
    mean_rec_interactions: float = 35.0
    min_rec_interactions: int = 5
    max_interactions: int = 400
    search_logit_mean: float = -2.6
    search_logit_std: float = 1.2
    max_search_share: float = 0.9
    slate_size: int = 10
    explore_slots: int = 2
    num_promoted_categories: int = 6
    platform_bias: tuple[float, float, float] = (-0.5, -1.5, 1.0)
    recent_weight: float = 0.5
    platform_pop_power: float = 0.3
    intent_stay: float = 0.75
    beta_pref: float = 3.0
    beta_intent: float = 3.0
    query_max_words: int = 5
    query_extra_words: float = 1.2
    query_word_mix: tuple[float, float, float, float] = (0.4, 0.25, 0.25, 0.1)
    search_relevance: float = 2.0
    target_candidates: int = 20
    search_offtaste: float = 0.0
    time_span_days: float = 90.0
    within_session_gap_s: float = 240.0
    platform_dim: int = 4
    skip_utility: float = 15.0
    max_skipped_slates: int = 10

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"SyntheticConfig: {msg}")

        need(self.num_users >= 1 and self.num_items >= 1, "num_users and num_items must be >= 1")
        need(self.num_topics >= 1, "num_topics must be >= 1")
        need(self.num_items >= self.num_topics, "num_items must be >= num_topics")
        need(self.categories_per_topic >= 1, "categories_per_topic must be >= 1")
        need(self.num_brands >= self.num_topics, "num_brands must be >= num_topics")
        need(self.words_per_topic >= 1 and self.num_generic_words >= 0, "bad word counts")
        need(0.0 <= self.item_mix <= 1.0, "item_mix must be in [0, 1]")
        need(1 <= self.title_min_words <= self.title_max_words,
             "need 1 <= title_min_words <= title_max_words")
        need(self.aux_platform_dim >= 1 and self.aux_pref_dim >= 1, "aux dims must be >= 1")
        need(self.min_rec_interactions >= 1, "min_rec_interactions must be >= 1")
        need(self.max_interactions >= self.min_rec_interactions,
             "max_interactions < min_rec_interactions")
        need(self.mean_rec_interactions >= self.min_rec_interactions,
             "mean_rec_interactions must be >= min_rec_interactions")
        need(0.0 <= self.max_search_share < 1.0, "max_search_share must be in [0, 1)")
        need(self.slate_size >= 1 and self.explore_slots >= 0, "bad slate sizes")
        need(self.num_promoted_categories >= 1, "num_promoted_categories must be >= 1")
        need(len(self.platform_bias) == 3, "platform_bias needs 3 values")
        need(self.platform_dim >= 1, "platform_dim must be >= 1")
        need(self.max_skipped_slates >= 0, "max_skipped_slates must be >= 0")
        need(0.0 <= self.recent_weight <= 1.0 and 0.0 <= self.intent_stay <= 1.0,
             "recent_weight and intent_stay must be probabilities")
        need(self.query_max_words >= 1, "query_max_words must be >= 1")
        need(self.target_candidates >= 1, "target_candidates must be >= 1")
        need(0.0 <= self.search_offtaste <= 1.0, f"search_offtaste must be in [0, 1], got {self.search_offtaste}")
        need(len(self.query_word_mix) == 4 and min(self.query_word_mix) >= 0
             and sum(self.query_word_mix) > 0, "query_word_mix needs 4 non-negative weights")
        need(self.time_span_days > 0, "time_span_days must be > 0")

    @property
    def num_categories(self) -> int:
        return self.num_topics * self.categories_per_topic

    @property
    def num_attrs(self) -> int:
        return self.num_categories + self.num_brands

    @property
    def num_words(self) -> int:
        return self.num_topics * self.words_per_topic + self.num_generic_words + self.num_attrs


# ---- small vectorised samplers ------------------------------------------------------

class _RowSampler:
    """Categorical rows ``weights`` (``(R, n)``, non-negative): draw from row
    ``rows[...]`` by inverse CDF over the flattened rows (row ``r`` shifted by ``r``)."""

    def __init__(self, weights: np.ndarray) -> None:
        cdf = np.cumsum(weights, axis=1)
        cdf /= cdf[:, -1:]
        self.n = cdf.shape[1]
        self.flat = (cdf + np.arange(cdf.shape[0])[:, None]).ravel()

    @classmethod
    def from_logits(cls, logits: np.ndarray) -> _RowSampler:
        return cls(np.exp(logits - logits.max(axis=1, keepdims=True)))

    def sample(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        j = np.searchsorted(self.flat, rows + rng.random(rows.shape), side="right") - rows * self.n
        return np.clip(j, 0, self.n - 1)


def _sample_logits(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``(R, n)`` unnormalised log-probabilities
    (overwrites ``logits``)."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    np.cumsum(logits, axis=1, out=logits)
    thr = rng.random(logits.shape[0]) * logits[:, -1]
    return np.minimum((logits < thr[:, None]).sum(axis=1), logits.shape[1] - 1)


class _GroupSampler:
    """Draw a member of group ``g`` with probability proportional to its weight,
    for many ``g`` at once (one sorted cumulative sum + ``searchsorted``)."""

    def __init__(self, group: np.ndarray, weight: np.ndarray, num_groups: int) -> None:
        self.order = np.argsort(group, kind="stable")
        w = weight[self.order].astype(np.float64)
        self.cum = np.cumsum(w)
        counts = np.bincount(group, minlength=num_groups)
        if (counts == 0).any():
            raise ValueError("every group needs at least one member")
        self.ptr = np.concatenate([[0], np.cumsum(counts)])
        self.start = np.where(self.ptr[:-1] > 0, self.cum[np.maximum(self.ptr[:-1] - 1, 0)], 0.0)
        self.start[0] = 0.0
        self.total = self.cum[self.ptr[1:] - 1] - self.start

    def sample(self, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        r = self.start[g] + rng.random(g.shape) * self.total[g]
        idx = np.searchsorted(self.cum, r, side="right")
        idx = np.clip(idx, self.ptr[g], self.ptr[g + 1] - 1)
        return self.order[idx]


def _pseudo_words(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct pronounceable pseudo-words of 2-3 syllables."""
    syll = [c + v for c in _CONSONANTS for v in _VOWELS]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        k = int(rng.integers(2, 4))
        w = "".join(syll[j] for j in rng.integers(0, len(syll), size=k))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def _first_occurrence(words: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mask keeping the first occurrence of each word per row (``valid`` slots only)."""
    keep = valid.copy()
    for j in range(1, words.shape[1]):
        dup = (words[:, :j] == words[:, j : j + 1]) & valid[:, :j]
        keep[:, j] &= ~dup.any(axis=1)
    return keep


# ---- the world ------------------------------------------------------------------------

def _platform_mixing(cfg: SyntheticConfig) -> np.ndarray:
    """``(4, platform_dim)`` map from the platform latent to the four policy controls
    when ``platform_dim != 4``: unit-norm rows from a generator of its own, so the rest
    of the world draws the same numbers whatever ``platform_dim`` is. With
    ``platform_dim <= 4`` it has full column rank (the latent is identifiable from
    behaviour); beyond 4 it cannot be."""
    a = np.random.default_rng([cfg.seed, 2]).standard_normal((4, cfg.platform_dim))
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _draw_world(cfg: SyntheticConfig, rng: np.random.Generator,
                volume: tuple[float, np.random.Generator] | None = None) -> SimpleNamespace:
    """Everything drawn before the users' lines are simulated: vocabulary, items, the
    search index, users' covariates and latents, and the layout of every line (how
    many events, which are searches). ``volume = (factor, generator)`` is the
    intervention of :func:`intervene_world`: the recommendation rate multiplied by
    ``factor``, every later draw from ``generator``."""
    U, I, K = cfg.num_users, cfg.num_items, cfg.num_topics
    C, B = cfg.num_categories, cfg.num_brands
    KW, G, A = K * cfg.words_per_topic, cfg.num_generic_words, cfg.num_attrs
    V = cfg.num_words
    attr_word0 = KW + G  # word id of attribute 0

    # ---- vocabulary and topic word distributions ------------------------------------
    vocab = _pseudo_words(V, rng)
    phi = np.zeros((K, V))
    zipf_w = 1.0 / np.arange(1, cfg.words_per_topic + 1)
    zipf_w /= zipf_w.sum()
    for k in range(K):
        own = slice(k * cfg.words_per_topic, (k + 1) * cfg.words_per_topic)
        phi[k, own] = 0.80 * rng.permutation(zipf_w)
        if G:
            phi[k, KW : KW + G] += 0.12 / G
        phi[k, :KW] += 0.05 / KW
        cats = attr_word0 + k * cfg.categories_per_topic + np.arange(cfg.categories_per_topic)
        phi[k, cats] += 0.03 / cfg.categories_per_topic
    phi /= phi.sum(axis=1, keepdims=True)

    # ---- items ---------------------------------------------------------------------
    topic_share = rng.dirichlet(np.full(K, 4.0))
    topic = np.concatenate([rng.permutation(K), rng.choice(K, size=I - K, p=topic_share)])
    topic = topic[rng.permutation(I)]
    mix = rng.dirichlet(np.full(K, cfg.item_mix_concentration), size=I)
    theta = cfg.item_mix * mix
    theta[np.arange(I), topic] += 1.0 - cfg.item_mix
    pop = np.arange(1, I + 1, dtype=np.float64) ** -cfg.popularity_exponent
    pop = rng.permutation(pop / pop.sum())
    log_pop = np.log(pop)

    cat1 = topic * cfg.categories_per_topic + rng.integers(0, cfg.categories_per_topic, size=I)
    masked = theta.copy()
    masked[np.arange(I), topic] = -1.0
    sec_topic = masked.argmax(axis=1)
    has_sec = masked.max(axis=1) > 0.12
    cat2 = sec_topic * cfg.categories_per_topic + rng.integers(0, cfg.categories_per_topic, size=I)
    brand_topic = rng.permutation(np.arange(B) % K)
    brand_w = rng.permutation(1.0 / np.arange(1, B + 1))
    brand = C + _GroupSampler(brand_topic, brand_w, K).sample(topic, rng)
    attr_rows = [[int(cat1[i])] + ([int(cat2[i])] if has_sec[i] else []) + [int(brand[i])]
                 for i in range(I)]
    attr_mat = np.full((I, 3), -1, dtype=np.int64)
    attr_len = np.array([len(r) for r in attr_rows])
    for i, r in enumerate(attr_rows):
        attr_mat[i, : len(r)] = r
    attr_names = vocab[attr_word0:]

    # titles: brand word, topic words (from the secondary topic with prob item_mix),
    # a category word half of the time
    n_tw = rng.integers(cfg.title_min_words, cfg.title_max_words + 1, size=I)
    Tm = cfg.title_max_words
    src_topic = np.where(rng.random((I, Tm)) < cfg.item_mix, sec_topic[:, None], topic[:, None])
    phi_rows = _RowSampler(phi)
    tw = phi_rows.sample(src_topic, rng)  # (I, Tm)
    add_cat = rng.random(I) < 0.5
    title_rows: list[list[int]] = []
    for i in range(I):
        row = [attr_word0 + int(brand[i])]
        for w in tw[i, : n_tw[i]].tolist():
            if w not in row:
                row.append(w)
        if add_cat[i] and attr_word0 + int(cat1[i]) not in row:
            row.append(attr_word0 + int(cat1[i]))
        title_rows.append(row)
    title_len = np.array([len(r) for r in title_rows])
    title_mat = np.zeros((I, int(title_len.max())), dtype=np.int64)
    for i, r in enumerate(title_rows):
        title_mat[i, : len(r)] = r
    titles = [" ".join(vocab[w] for w in r) for r in title_rows]

    # search engine index: idf-weighted lexical match + topical match
    lex = np.zeros((I, V))
    lex[np.repeat(np.arange(I), title_len), np.concatenate(title_rows)] = 1.0
    lex[np.repeat(np.arange(I), attr_len), attr_word0 + attr_mat[attr_mat >= 0]] = 1.0
    sem = theta @ phi
    sem /= np.maximum(sem.max(axis=0, keepdims=True), 1e-12)
    idf = np.log((I + 1.0) / (1.0 + lex.sum(axis=0)))
    match = np.ascontiguousarray((cfg.search_relevance * (lex + 0.5 * sem) * idf).T,
                                 dtype=np.float32)  # (V, I)
    theta_click = np.ascontiguousarray(cfg.beta_pref * theta.T, dtype=np.float32)  # (K, I)
    pop_click = (0.25 * log_pop).astype(np.float32)

    promoted_cats = rng.choice(np.unique(cat1), size=min(cfg.num_promoted_categories,
                                                          np.unique(cat1).size), replace=False)
    promoted = np.isin(cat1, promoted_cats)

    # ---- users ---------------------------------------------------------------------
    u_p = rng.standard_normal((U, cfg.aux_platform_dim))
    u_f = rng.standard_normal((U, cfg.aux_pref_dim))
    kp = cfg.platform_dim
    M_p = rng.normal(0.0, 0.7, size=(kp, cfg.aux_platform_dim))
    if kp >= 4:
        M_p[3, 0] = 0.8  # exposure intensity follows the rec activity level
    L_p = rng.normal(0.0, 0.3, size=(kp, cfg.aux_platform_dim))
    z_p = u_p @ M_p.T + np.exp(0.5 * (u_p @ L_p.T)) * rng.standard_normal((U, kp))
    controls = z_p if kp == 4 else z_p @ _platform_mixing(cfg).T  # (U, 4): what the policy reads
    M_f = rng.normal(0.0, 0.5, size=(K, cfg.aux_pref_dim))
    L_f = rng.normal(0.0, 0.3, size=(K, cfg.aux_pref_dim))
    norm = np.sqrt(1.0 + 0.25 * cfg.aux_pref_dim)
    z_f = cfg.pref_scale / norm * (u_f @ M_f.T + np.exp(0.5 * (u_f @ L_f.T))
                                   * rng.standard_normal((U, K)))
    drift = rng.normal(0.0, cfg.pref_drift, size=(U, K))
    z_hat = z_f + rng.normal(0.0, cfg.platform_estimate_noise, size=(U, K))

    # interaction counts: negative-binomial recommendation volume, logit-normal search share
    act = 0.35 * u_p[:, 0] + 0.35 * controls[:, 3]
    act_scale = (cfg.mean_rec_interactions - cfg.min_rec_interactions) / np.exp(act).mean()
    lam = rng.gamma(2.0, act_scale * np.exp(act) / 2.0)
    if volume is not None:  # do(rec volume): covariates and latents above are kept, what follows is drawn anew
        factor, rng = volume
        lam = lam * factor
    n_rec = np.minimum(cfg.min_rec_interactions + rng.poisson(lam), cfg.max_interactions)
    rho = 1.0 / (1.0 + np.exp(-(cfg.search_logit_mean + 0.8 * u_f[:, 0]
                                + cfg.search_logit_std * rng.standard_normal(U))))
    rho = np.minimum(rho, cfg.max_search_share)
    n_src = np.minimum(rng.poisson(n_rec * rho / (1.0 - rho)), cfg.max_interactions - n_rec)
    n_tot = n_rec + n_src
    ptr = np.concatenate([[0], np.cumsum(n_tot)])
    E = int(ptr[-1])
    ev_user = np.repeat(np.arange(U), n_tot)
    ev_pos = np.arange(E) - ptr[ev_user]
    # searches at random positions of each user's line
    key = rng.random(E)
    o = np.lexsort((key, ev_user))
    rank = np.empty(E, dtype=np.int64)
    rank[o] = np.arange(E) - ptr[ev_user[o]]
    is_search = rank < n_src[ev_user]

    return SimpleNamespace(U=U, I=I, K=K, C=C, A=A, V=V, attr_word0=attr_word0, vocab=vocab, phi=phi,
                           phi_rows=phi_rows, topic=topic, theta=theta, pop=pop, attr_rows=attr_rows,
                           attr_mat=attr_mat, attr_len=attr_len, attr_names=attr_names, title_rows=title_rows,
                           title_len=title_len, title_mat=title_mat, titles=titles, match=match,
                           theta_click=theta_click, pop_click=pop_click, promoted=promoted, u_p=u_p, u_f=u_f,
                           z_p=z_p, controls=controls, z_f=z_f, drift=drift, z_hat=z_hat, rho=rho, n_src=n_src,
                           n_tot=n_tot, ptr=ptr, E=E, ev_user=ev_user, ev_pos=ev_pos, is_search=is_search)

def _slates(w: SimpleNamespace, cfg: SyntheticConfig, policy: SimpleNamespace, ru: np.ndarray,
            prev_topic: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One slate per user of ``ru`` under ``policy``: ``(items, sources)``, both
    ``(n, slate_size + explore_slots)``."""
    n, S, X, I = ru.size, cfg.slate_size, cfg.explore_slots, w.I
    src = policy.src_rows.sample(np.repeat(ru[:, None], S, axis=1), rng)  # (n, S)
    by_pop = np.minimum(np.searchsorted(policy.pop_cum, rng.random((n, S)) * policy.pop_cum[-1]), I - 1)
    by_prom = np.searchsorted(policy.prom_cum, rng.random((n, S)) * policy.prom_cum[-1])
    by_prom = policy.prom_idx[np.minimum(by_prom, policy.prom_idx.size - 1)]
    est_topic = policy.hat_rows.sample(np.repeat(ru[:, None], S, axis=1), rng)
    pers_topic = np.where(rng.random((n, S)) < cfg.recent_weight, prev_topic[ru][:, None], est_topic)
    by_pers = policy.item_of_topic.sample(pers_topic, rng)
    slate = np.select([src == 0, src == 1], [by_pop, by_prom], by_pers)
    slate = np.concatenate([slate, rng.integers(0, I, size=(n, X))], axis=1)
    src = np.concatenate([src, np.full((n, X), 3)], axis=1)
    return slate, src


def _utility(w: SimpleNamespace, cfg: SyntheticConfig, rz: np.ndarray, intent: np.ndarray,
             slate: np.ndarray) -> np.ndarray:
    """Deterministic part of a user's utility for each slate item: taste + session intent."""
    return (cfg.beta_pref * np.einsum("nk,nsk->ns", rz, w.theta[slate])
            + cfg.beta_intent * w.theta[slate, intent[:, None]])


def _simulate_lines(w: SimpleNamespace, cfg: SyntheticConfig, rng: np.random.Generator,
                    skip_rng: np.random.Generator | None, fixed: SimpleNamespace | None = None) -> SimpleNamespace:
    """Simulate every user's line in lockstep under ``cfg``'s exposure policy.

    ``skip_rng`` draws the slates a user scrolls past before engaging (a generator of
    its own, so that recording them changes none of the logged events; ``None`` skips
    them, for callers that need only the logs). With ``fixed``
    (an earlier simulation of the same world), the session intents and the search
    events are those of ``fixed`` and only the recommendation surface is drawn again:
    the counterfactual of :func:`resimulate_world`.
    """
    U, I, K, E = w.U, w.I, w.K, w.E
    policy = SimpleNamespace(
        src_rows=_RowSampler.from_logits(np.asarray(cfg.platform_bias)[None, :] + w.controls[:, :3]),
        item_of_topic=_GroupSampler(w.topic, w.pop ** cfg.platform_pop_power, K),
        pop_cum=np.cumsum(w.pop), prom_idx=np.flatnonzero(w.promoted),
        hat_rows=_RowSampler.from_logits(w.z_hat))
    policy.prom_cum = np.cumsum(w.pop[policy.prom_idx])
    qmix = np.asarray(cfg.query_word_mix, dtype=np.float64)
    qmix /= qmix.sum()
    Lq = cfg.query_max_words
    Ct = cfg.target_candidates

    ev_item = np.full(E, -1, dtype=np.int64)
    ev_intent = np.zeros(E, dtype=np.int64)
    ev_new_session = np.zeros(E, dtype=bool)
    ev_source = np.full(E, -1, dtype=np.int64)
    ev_target = np.full(E, -1, dtype=np.int64)
    ev_qwords = np.full((E, Lq), -1, dtype=np.int64)
    ev_offtaste = np.zeros(E, dtype=bool)
    # a generator of its own, so that a world without off-taste searches draws exactly as before
    off_rng = np.random.default_rng([cfg.seed, 6]) if cfg.search_offtaste > 0 else None
    seen = np.zeros((U, I), dtype=bool)
    intent = np.zeros(U, dtype=np.int64)
    prev_topic = policy.hat_rows.sample(np.arange(U), rng)
    exposure = np.zeros((U, 4))
    repeats = 0
    # shown slates, one list entry per step: (event, items, sources, clicked slot or -1)
    shown: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    for p in range(int(w.n_tot.max())):
        users = np.flatnonzero(w.n_tot > p)
        ev = w.ptr[users] + p
        tau = p / np.maximum(w.n_tot[users] - 1, 1)
        zf_t = w.z_f[users] + tau[:, None] * w.drift[users]
        if fixed is None:
            switch = (rng.random(users.size) >= cfg.intent_stay) | (p == 0)
            # (a copy: _sample_logits overwrites its input, and zf_t is the taste used below)
            new_intent = _sample_logits(zf_t.copy(), rng)
            intent[users] = np.where(switch, new_intent, intent[users])
            ev_intent[ev], ev_new_session[ev] = intent[users], switch
        else:
            intent[users] = ev_intent[ev] = fixed.ev_intent[ev]
            ev_new_session[ev] = fixed.ev_new_session[ev]

        srch = w.is_search[ev]
        # -- recommendation: the platform's slate, the user's pick
        ru, rev, rz = users[~srch], ev[~srch], zf_t[~srch]
        n = ru.size
        if n:
            slate, src = _slates(w, cfg, policy, ru, prev_topic, rng)
            np.add.at(exposure, (np.repeat(ru, slate.shape[1]), src.ravel()), 1.0)
            base = _utility(w, cfg, rz, intent[ru], slate)
            util = base + rng.gumbel(size=base.shape)
            blocked = seen[ru[:, None], slate]
            all_blocked = blocked.all(axis=1)
            repeats += int(all_blocked.sum())
            util[blocked & ~all_blocked[:, None]] = -np.inf
            pick = np.argmax(util, axis=1)
            item = slate[np.arange(n), pick]
            ev_item[rev], ev_source[rev] = item, src[np.arange(n), pick]
            if skip_rng is not None:
                shown += _skipped_slates(w, cfg, policy, ru, rev, rz, intent, prev_topic, seen, skip_rng)
            shown.append((rev, slate, src, pick))
            seen[ru, item] = True
            prev_topic[ru] = w.topic[item]

        # -- search: target from intent + taste, a query, a click on the results
        su, sev, sz = users[srch], ev[srch], zf_t[srch]
        m = su.size
        if m and fixed is not None:
            ev_item[sev], ev_target[sev] = fixed.ev_item[sev], fixed.ev_target[sev]
            ev_qwords[sev], ev_offtaste[sev] = fixed.ev_qwords[sev], fixed.ev_offtaste[sev]
            seen[su, ev_item[sev]] = True
            prev_topic[su] = w.topic[ev_item[sev]]
        elif m:
            topic_s = intent[su]
            if off_rng is not None:  # off-taste searches: any topic, and no taste in target or click
                off = off_rng.random(m) < cfg.search_offtaste
                topic_s = np.where(off, off_rng.integers(0, K, size=m), topic_s)
                sz = np.where(off[:, None], 0.0, sz)
                ev_offtaste[sev], ev_intent[sev] = off, topic_s
            # target: the best of `target_candidates` items of the search's topic (drawn
            # by popularity ** platform_pop_power) under the user's taste
            cand = policy.item_of_topic.sample(np.repeat(topic_s[:, None], Ct, axis=1), rng)
            tgt_util = _utility(w, cfg, sz, topic_s, cand) + rng.gumbel(size=cand.shape)
            target = cand[np.arange(m), np.argmax(tgt_util, axis=1)]
            qlen = 1 + np.minimum(rng.poisson(cfg.query_extra_words, size=m), Lq - 1)
            kind = np.searchsorted(np.cumsum(qmix)[:-1], rng.random((m, Lq)), side="right")
            t_pos = (rng.random((m, Lq)) * w.title_len[target][:, None]).astype(np.int64)
            t_words = w.title_mat[target[:, None], t_pos]
            a_pos = (rng.random((m, Lq)) * w.attr_len[target][:, None]).astype(np.int64)
            a_words = w.attr_word0 + w.attr_mat[target[:, None], a_pos]
            k_words = w.phi_rows.sample(np.repeat(topic_s[:, None], Lq, axis=1), rng)
            n_words = rng.integers(0, w.V, size=(m, Lq))
            words = np.select([kind == 0, kind == 1, kind == 2], [t_words, a_words, k_words],
                              n_words)
            valid = np.arange(Lq)[None, :] < qlen[:, None]
            valid = _first_occurrence(words, valid)
            # click: over all items, query match (sparse query x dense index) + taste
            nnz = valid.sum(axis=1)
            qmat = sp.csr_matrix((np.ones(int(nnz.sum()), dtype=np.float32), words[valid],
                                  np.concatenate([[0], np.cumsum(nnz)])), shape=(m, w.V))
            click_logit = np.asarray(qmat @ w.match)
            # (einsum: no BLAS threads for these thin products, ~7x faster here)
            click_logit += np.einsum("mk,ki->mi", sz.astype(np.float32), w.theta_click)
            click_logit += w.pop_click
            item = _sample_logits(click_logit, rng)
            ev_item[sev], ev_target[sev] = item, target
            # compact each query's words to the front, in order
            order = np.argsort(~valid, axis=1, kind="stable")
            qw = np.where(np.take_along_axis(valid, order, 1),
                          np.take_along_axis(words, order, 1), -1)
            ev_qwords[sev] = qw
            seen[su, item] = True
            prev_topic[su] = w.topic[item]

    return SimpleNamespace(ev_item=ev_item, ev_intent=ev_intent, ev_new_session=ev_new_session,
                           ev_source=ev_source, ev_target=ev_target, ev_qwords=ev_qwords, ev_offtaste=ev_offtaste,
                           exposure=exposure, repeats=repeats, shown=shown)


def _skipped_slates(w: SimpleNamespace, cfg: SyntheticConfig, policy: SimpleNamespace, ru: np.ndarray,
                    rev: np.ndarray, rz: np.ndarray, intent: np.ndarray, prev_topic: np.ndarray,
                    seen: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, ...]]:
    """The slates each user of ``ru`` scrolls past before the one it engages with.

    A slate is engaged with probability :math:`\\sum_i e^{v_i} / (\\sum_i e^{v_i} + e^{v_0})`
    (the logit choice between its unseen items, utilities :math:`v_i` as for the pick,
    and the outside option :math:`v_0 =` ``skip_utility``). Candidate slates from the
    same policy are drawn until one would be engaged (at most ``max_skipped_slates``);
    the ones before it are the skipped slates. So the count is geometric with the
    user's engagement probability of a typical slate, which the policy moves.
    """
    out = []
    pending = np.arange(ru.size)
    for _ in range(cfg.max_skipped_slates):
        if pending.size == 0:
            break
        u = ru[pending]
        slate, src = _slates(w, cfg, policy, u, prev_topic, rng)
        v = _utility(w, cfg, rz[pending], intent[u], slate)
        v[seen[u[:, None], slate]] = -np.inf
        with np.errstate(divide="ignore", over="ignore"):  # a slate of seen items: never engaged
            engage = rng.random(pending.size) < 1.0 / (1.0 + np.exp(cfg.skip_utility - logsumexp(v, axis=1)))
        skip = ~engage
        if skip.any():
            out.append((rev[pending[skip]], slate[skip], src[skip], np.full(int(skip.sum()), -1)))
        pending = pending[skip]
    return out


def _timestamps(w: SimpleNamespace, cfg: SyntheticConfig, sim: SimpleNamespace,
                rng: np.random.Generator) -> np.ndarray:
    """Event times: sessions hours to days apart, events minutes apart."""
    E, U = w.E, w.U
    span = cfg.time_span_days * 86400.0
    start = rng.random(U) * 0.3 * span
    within = 30.0 + rng.exponential(cfg.within_session_gap_s, size=E)
    between = rng.exponential(1.0, size=E)
    opens = sim.ev_new_session & (w.ev_pos > 0)
    within[sim.ev_new_session | (w.ev_pos == 0)] = 0.0
    between[~opens] = 0.0
    # session gaps are exponential, rescaled so each line ends inside the span
    room = rng.uniform(0.6, 0.95, size=U) * (span - start) - np.bincount(w.ev_user, within, U)
    scale = np.maximum(room, 0.0) / np.maximum(np.bincount(w.ev_user, between, U), 1e-12)
    gap = within + between * scale[w.ev_user]
    csum = np.cumsum(gap)
    return start[w.ev_user] + csum - csum[w.ptr[:-1]][w.ev_user]


class SyntheticWorld(NamedTuple):
    """What :func:`simulate_world` returns: the observed ``logs`` (what models read),
    the observed ``impressions`` (every slate shown, with its engagement outcome) and
    the ``truth`` (what only analyses read)."""

    logs: BehaviourLogs
    impressions: Impressions
    truth: WorldTruth


def _assemble(w: SimpleNamespace, cfg: SyntheticConfig, sim: SimpleNamespace, ev_time: np.ndarray,
              skipped_drawn: bool = True) -> SyntheticWorld:
    U, I, K = w.U, w.I, w.K
    is_search = w.is_search
    # ---- queries: distinct word sequences ---------------------------------------------
    s_idx = np.flatnonzero(is_search)
    qid: dict[tuple[int, ...], int] = {}
    s_query = np.empty(s_idx.size, dtype=np.int64)
    for r, e in enumerate(s_idx.tolist()):
        row = sim.ev_qwords[e]
        s_query[r] = qid.setdefault(tuple(row[row >= 0].tolist()), len(qid))
    q_rows = list(qid.keys())
    q_text = [" ".join(w.vocab[v] for v in q) for q in q_rows]
    r_idx = np.flatnonzero(~is_search)

    t = torch.from_numpy
    rec = RecLog(t(w.ev_user[r_idx]), t(sim.ev_item[r_idx]), t(ev_time[r_idx]), U, I, source="synthetic")
    search = SearchLog(t(w.ev_user[s_idx]), t(s_query), t(sim.ev_item[s_idx]), t(ev_time[s_idx]), U, I,
                       Ragged.from_lists(q_rows), w.V, q_text, source="synthetic")
    items = ItemInfo(I, Ragged.from_lists(w.attr_rows), w.A, w.titles, list(w.attr_names),
                     attr_field=(torch.arange(w.A) >= w.C).long(), attr_fields=list(ATTR_FIELDS))
    title_rag = Ragged.from_lists(w.title_rows)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    meta: dict[str, Any] = {
        "synthetic": True,
        "seed": cfg.seed,
        "time_unit": "seconds",
        "num_topics": K,
        "rec_repeats": sim.repeats,
        "exposure_sources": ",".join(EXPOSURE_SOURCES),
        "platform_factors": ",".join(PLATFORM_FACTORS),
        # user.x = [u_platform, u_pref]: how many leading columns are platform covariates
        "platform_covariates": cfg.aux_platform_dim,
    }
    # the observed covariates are the users' dense node features; nothing else of the
    # truth goes into the logs
    logs = BehaviourLogs(rec, search, items, IdMap.identity(U), IdMap.identity(I),
                         IdMap(np.array(q_text, dtype=object)), name="synthetic", meta=meta,
                         extras={"user.x": f32(np.concatenate([w.u_p, w.u_f], axis=1))})

    # ---- impressions: the slates, in the order shown ------------------------------------
    ev_of = np.concatenate([s[0] for s in sim.shown])
    order = np.argsort(ev_of, kind="stable")  # per user, chronological; skipped before engaged
    rec_row = np.full(w.E, -1, dtype=np.int64)
    rec_row[r_idx] = np.arange(r_idx.size)
    ev_of = ev_of[order]
    impressions = Impressions(
        user=t(w.ev_user[ev_of]), rec_row=t(rec_row[ev_of]),
        items=t(np.concatenate([s[1] for s in sim.shown])[order]),
        clicked=t(np.concatenate([s[3] for s in sim.shown])[order].astype(np.int64)),
        time=t(ev_time[ev_of]))
    if skipped_drawn:  # every item shown, a row each: the exposure a model may read (clicks alone hide it)
        width = impressions.items.size(1)
        logs.impressions = ImpressionLog(
            impressions.user.repeat_interleave(width), impressions.items.flatten(),
            impressions.time.repeat_interleave(width), U, I, source="synthetic",
            clicked=(torch.arange(width)[None, :] == impressions.clicked[:, None]).flatten())
    truth = WorldTruth(cfg, {
        "user.z_pref": f32(w.z_f),
        "user.z_pref_drift": f32(w.drift),
        "user.z_platform": f32(w.z_p),
        "user.platform_controls": f32(w.controls),
        "user.policy_logits": f32(np.asarray(cfg.platform_bias)[None, :] + w.controls[:, :3]),
        "user.u_pref": f32(w.u_f),
        "user.u_platform": f32(w.u_p),
        "user.search_propensity": f32(w.rho),
        "user.exposure_share": f32(sim.exposure / np.maximum(sim.exposure.sum(1, keepdims=True), 1.0)),
        "item.topic": t(w.topic.astype(np.int64)),
        "item.embedding": f32(w.theta),
        "item.popularity": f32(w.pop),
        "item.promoted": t(w.promoted),
        "item.title_ptr": title_rag.ptr,
        "item.title_word": title_rag.values,
        "topic_word": f32(w.phi),
        "rec_exposure_source": t(sim.ev_source[r_idx]),
        "rec_intent": t(sim.ev_intent[r_idx]),
        "search_intent": t(sim.ev_intent[s_idx]),
        "search_target": t(sim.ev_target[s_idx]),
        "search_offtaste": t(sim.ev_offtaste[s_idx]),
        "impression.source": t(np.concatenate([s[2] for s in sim.shown])[order]),
    })
    return SyntheticWorld(logs, impressions, truth)


def simulate_world(config: SyntheticConfig | None = None, *, impressions: bool = True) -> SyntheticWorld:
    """Simulate the synthetic search-and-recommendation world of ``config``.

    The same config (seed included) always gives identical tables and tensors.

    Returns:
        :class:`SyntheticWorld` ``(logs, impressions, truth)``: the
        :class:`BehaviourLogs` named ``"synthetic"`` (a :class:`RecLog`, a
        :class:`SearchLog` with query text and word ids, :class:`ItemInfo` with
        attribute names and titles, identity id maps, ``meta = {"synthetic": True,
        "seed": ..., "time_unit": "seconds", ...}``, and the observed covariates as
        ``extras['user.x']``); the :class:`Impressions`; the :class:`WorldTruth`.
        With ``impressions=False`` the skipped slates are not drawn (the logs and the
        truth are the same; the impressions then hold only the engaged slates).
    """
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    w = _draw_world(cfg, rng)
    sim = _simulate_lines(w, cfg, rng, np.random.default_rng([cfg.seed, 1]) if impressions else None)
    return _assemble(w, cfg, sim, _timestamps(w, cfg, sim, rng), skipped_drawn=impressions)


def generate_world(config: SyntheticConfig | None = None) -> BehaviourLogs:
    """The observed logs of :func:`simulate_world` without the skipped slates (faster to
    draw; ``logs.impressions`` is ``None``). :class:`SyntheticSearchRec` builds its graph
    from the same logs with every impression."""
    return simulate_world(config, impressions=False).logs


def resimulate_world(config: SyntheticConfig | None = None, *, seed: int = 1, **policy: Any) -> SyntheticWorld:
    """The same world under another exposure policy: the policy-shift counterfactual.

    Every user keeps its covariates, latents, number of events, session intents,
    timestamps and search events (queries and clicks); only the recommendation surface
    is simulated again, with the fields of :data:`POLICY_FIELDS` given in ``policy``
    (e.g. ``platform_bias=(1.0, -1.5, -0.5)`` makes popularity the dominant slot
    source) and a generator seeded by ``seed``. So the known answer of a policy-shift
    test is: the preference latent does not move at all, and the policy's slot-source
    log-odds (``truth['user.policy_logits']``) move by exactly the change of
    ``platform_bias`` for every user.

    Args:
        config: the world (default: :class:`SyntheticConfig()`).
        seed: seed of the redrawn recommendation surface; ``resimulate_world(cfg,
            seed=s)`` with no policy change is a second draw of the same world's
            recommendation surface. (default: ``1``)
        **policy: fields of :data:`POLICY_FIELDS` and their new values.
    """
    cfg = config or SyntheticConfig()
    unknown = sorted(set(policy) - set(POLICY_FIELDS))
    if unknown:
        raise ValueError(f"resimulate_world: {unknown} is not part of the exposure policy; the policy fields are "
                         f"{', '.join(POLICY_FIELDS)}")
    shifted = dataclasses.replace(cfg, **policy)
    rng = np.random.default_rng(cfg.seed)
    w = _draw_world(cfg, rng)
    original = _simulate_lines(w, cfg, rng, None)  # its skipped slates would be thrown away
    ev_time = _timestamps(w, cfg, original, rng)
    sim = _simulate_lines(w, shifted, np.random.default_rng([cfg.seed, 3, seed]),
                          np.random.default_rng([cfg.seed, 4, seed]), fixed=original)
    return _assemble(w, shifted, sim, ev_time)


def intervene_world(config: SyntheticConfig | None = None, *, rec_volume: float = 1.0,
                    seed: int = 1) -> SyntheticWorld:
    """The same users under the intervention do(recommendation volume): every user's
    rate of recommendation engagements (beyond ``min_rec_interactions``) multiplied by
    ``rec_volume``, with their covariates, latents, items and the platform unchanged.

    What follows the rate in the world's structural equations is drawn anew, from a
    generator seeded by ``seed``: the search volume (it follows the rec volume), the
    lines, the slates and the click outcomes. So ``intervene_world(cfg, rec_volume=f,
    seed=s)`` against ``intervene_world(cfg, rec_volume=1, seed=s)`` measures the causal
    effect of the recommendation volume on any outcome (the click rate) with everything
    upstream held: the known answer for a mediation analysis with the volume as
    treatment. In this world the latents are *causes* of the volume (``z_platform`` sets
    the exposure intensity), never its effects: under the intervention they do not move,
    so no part of the volume's effect runs through them.

    Args:
        config: the world (default: :class:`SyntheticConfig()`).
        rec_volume: the factor (> 0); 1 is no intervention but a redraw of what follows.
        seed: seed of the draws after the rate.
    """
    if not rec_volume > 0:
        raise ValueError(f"intervene_world: rec_volume must be > 0 (a factor on the engagement rate), got "
                         f"{rec_volume}")
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng([cfg.seed, 5, seed])
    w = _draw_world(cfg, np.random.default_rng(cfg.seed), volume=(float(rec_volume), rng))
    sim = _simulate_lines(w, cfg, rng, np.random.default_rng([cfg.seed, 6, seed]))
    return _assemble(w, cfg, sim, _timestamps(w, cfg, sim, rng))


class SyntheticSearchRec(RecDataset):
    """The synthetic search-and-recommendation world as a dataset (CLI name
    ``synthetic``); see :func:`generate_world`.

    Needs no raw files. The processed graph is cached under ``cache_dir`` keyed
    by every field of the config, so two configs never share a cache entry.

    Args:
        root: ignored except as PyG's root (defaults to the cache folder).
        config: the world's parameters (default: :class:`SyntheticConfig()`).
        cache_dir, force_reload, transform: as in :class:`RecDataset`.
        **overrides: fields of :class:`SyntheticConfig` replacing those of
            ``config`` (e.g. ``num_users=500, seed=3``).

    Example:
        >>> ds = SyntheticSearchRec(cache_dir="/tmp/graphrec", seed=1)
        >>> data = ds[0]  # HeteroData, leave-one-out split, ground truth in data['user'].z_pref
    """

    names = ("synthetic",)
    generated = True

    def __init__(self, root: str | None = None, *, config: SyntheticConfig | None = None,
                 cache_dir: str | None = None, force_reload: bool = False,
                 transform: Any | None = None, **overrides: Any) -> None:
        config = config or SyntheticConfig()
        if overrides:
            fields = [f.name for f in dataclasses.fields(SyntheticConfig)]
            unknown = sorted(set(overrides) - set(fields))
            if unknown:
                raise ValueError(f"the synthetic dataset has no setting {unknown}; its settings: "
                                 f"{', '.join(fields)}, cache_dir, force_reload")
            config = dataclasses.replace(config, **overrides)
        self.config = config
        super().__init__(root, cache_dir=cache_dir, force_reload=force_reload, transform=transform)

    def params(self) -> dict[str, Any]:
        return {"name": "synthetic", "world": WORLD_VERSION, **dataclasses.asdict(self.config)}

    def load_logs(self) -> BehaviourLogs:
        # with every slate shown (logs.impressions): the same logs as generate_world's
        return self.world().logs

    def world(self) -> SyntheticWorld:
        """The whole simulated world ``(logs, impressions, truth)``, simulated again from
        the config (a few seconds; the processed graph stays cached)."""
        if getattr(self, "_world", None) is None:
            self._world = simulate_world(self.config)
        return self._world

    @property
    def truth(self) -> WorldTruth:
        """The world's ground truth (:class:`WorldTruth`), for analyses only: it is not in
        the graph, so no model can read it."""
        return self.world().truth

    @property
    def impressions(self) -> Impressions:
        """Every slate shown (:class:`Impressions`), including slates shown after a user's
        held-out time: select ``impressions.time < cutoff`` before a model reads them."""
        return self.world().impressions


__all__ = ["SyntheticConfig", "SyntheticWorld", "simulate_world", "generate_world", "resimulate_world",
           "intervene_world", "SyntheticSearchRec", "PLATFORM_FACTORS", "EXPOSURE_SOURCES", "ATTR_FIELDS",
           "POLICY_FIELDS"]
