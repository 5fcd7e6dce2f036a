r"""HMV-CRL: causal representation learning from the two surfaces of a
search-and-recommendation log into a **platform** latent :math:`z_p` (how exposure
treats the user) and a **preference** latent :math:`z_f` (what the user chooses).

Source: a project page only (`pracha.me/projects/causal-representation-learning
<https://pracha.me/projects/causal-representation-learning.html>`_); it names two
Transformer encoders fused by a product of experts and an iVAE-style conditional prior
with distinct auxiliary variables per channel. Everything else is the proposal of
``shared/methods/hmv_crl.md`` (sections 2.1--2.6), simplified to what a graphrec
:class:`~torch_geometric.data.HeteroData` holds:

==============================  ==========================================================
event tokens (2.1)              rec click: :math:`\mathbf{e}_v + \overline{\mathbf{e}}_{cat(v)}
                                + \mathbf{s}_R + \mathbf{p}_t`; search: :math:`\mathbf{q}
                                + \mathbf{e}_v + \mathbf{s}_S + \mathbf{p}_t` (query = mean of
                                its word embeddings, :class:`~graphrec.nn.encoders.QueryEncoder`)
encoders (2.2)                  one pre-LN bidirectional Transformer per surface over the
                                user's most recent ``max_rec_len`` training clicks /
                                ``max_search_len`` visible searches, masked mean pooling,
                                a linear head to :math:`(\mu_e, \log\sigma^2_e) \in \mathbb{R}^{2k}`
fusion (2.3)                    Gaussian product of experts (a missing surface drops out),
                                or an MLP over the concatenated poolings (``fusion="concat"``)
prior (2.4)                     :math:`p(z_p \mid u_p)\,p(z_f \mid u_f)`, each a diagonal
                                Gaussian from its own MLP (``prior="ivae"``); from
                                :math:`[u_p; u_f]` (``"shared"``); :math:`\mathcal{N}(0, I)`
                                (``"none"``: the plain VAE, with ``beta`` the beta-VAE)
decoders (2.5)                  per-user aggregates of the training-visible data, from the
                                full :math:`z`
==============================  ==========================================================

With experts :math:`E \subseteq \{R, S\}` present for a user, per coordinate :math:`j`,

.. math::
    T_{e,j} = \sigma_{e,j}^{-2},\qquad
    \mu_j = \frac{\sum_{e\in E} T_{e,j}\,\mu_{e,j}}{\sum_{e\in E} T_{e,j}},\qquad
    \sigma_j^2 = \Big(\sum_{e\in E} T_{e,j}\Big)^{-1},

the iVAE prior is

.. math::
    p(z \mid u) = \prod_{j \le k_p} \mathcal{N}\big(z_{p,j}; m_{p,j}(u_p), v_{p,j}(u_p)\big)
    \prod_{j \le k_f} \mathcal{N}\big(z_{f,j}; m_{f,j}(u_f), v_{f,j}(u_f)\big),

and training minimises

.. math::
    \mathcal{L} = -\mathrm{ELBO}_{\{R,S\}} + \lambda \sum_{e \in \{R, S\}} -\mathrm{ELBO}_{\{e\}},
    \qquad
    \mathrm{ELBO}_E = \mathbb{E}_{q_E}\big[\log p(x_R \mid z) + \log p(x_S \mid z)\big]
    - w\,\beta\,\mathrm{KL}\big(q_E(z \mid x) \,\|\, p(z \mid u)\big)

(:math:`\lambda` = ``subset_weight``, the single-expert terms of the multimodal VAE that
keep each encoder usable alone; :math:`w` the linear KL warm-up over
``kl_warmup_epochs``). The reconstruction terms, per user, over training-visible data:

* multinomials over the attribute categories of the rec clicks and of the search
  clicks (the items' ``category`` attributes), and over the query words (hashed to at
  most ``word_buckets`` buckets);
* Gaussians (learned mean and variance, standardised targets) of the mean log
  training-popularity of the rec clicks and of :math:`\log(1 + n)` of the rec and the
  search volumes: the exposure signal the platform latent has to explain.

A head the graph cannot feed (no attributes, no search) is left out.

The model scores no items: it trains on user-level batches
(:class:`~graphrec.data.inputs.UserInputs`) and is selected on the validation negative
ELBO (``train.metric=loss.nelbo``; under evaluation :math:`z` is the posterior mean,
so the criterion is deterministic). :meth:`HMVCRL.latents` returns the posterior
means, :meth:`HMVCRL.encode` re-encodes with a subset of the surfaces.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.covariates import UserCovariates, named_user_features, timeline_covariates
from graphrec.data.hetero import HAS_ATTR, attr_field_edges, visible_impressions
from graphrec.data.inputs import UserInputs
from graphrec.data.ragged import Ragged
from graphrec.data.timeline import REC, SEARCH, JointTimeline
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.nn.dropout import Dropout
from graphrec.nn.encoders import QueryEncoder, TransformerBlock
from graphrec.nn.encoders.history_encoder import chronological_positions
from graphrec.nn.encoders.transformer import leading_padding
from graphrec.nn.poe import gaussian_kl, product_of_experts
from graphrec.resolver import register_model

log = logging.getLogger("graphrec.models")

PRIORS = ("ivae", "shared", "none")
FUSIONS = ("poe", "concat")
SURFACES = ("both", "rec", "search")
#: the surfaces (encoders) each ``surfaces`` setting uses
SURFACE_SETS = {"both": ("rec", "search"), "rec": ("rec",), "search": ("search",)}
#: where the covariates u_p, u_f come from (see HMVCRLConfig.covariates)
COVARIATE_SOURCES = ("auto", "graph", "logs")
#: Gaussian heads: log-variance clamp (targets are standardised)
_LOGVAR_RANGE = (-4.0, 4.0)
_LOG_2PI = math.log(2 * math.pi)


@dataclass
class HMVCRLConfig(ModelConfig):
    """Args:
        k_p: size of the platform latent z_p (8).
        k_f: size of the preference latent z_f (8).
        dim: token and encoder width d (64).
        num_layers: pre-LN Transformer layers of each surface encoder (2).
        num_heads: attention heads (2).
        dropout: dropout of the encoders (0.1).
        max_rec_len: most recent training events read by the rec encoder (100).
        rec_events: what the rec encoder reads: ``clicks`` -- the training clicks
            (default) -- or ``impressions`` -- every training-visible item shown, each
            token with a learned clicked / not-clicked embedding (the specification's
            :math:`x_R`; logs that keep impressions only: the synthetic world, KuaiSAR-R).
        max_search_len: most recent visible searches read by the search encoder (30).
        prior: ``ivae`` -- p(z_p | u_p) p(z_f | u_f), each channel with its own
            covariates (default); ``shared`` -- both channels conditioned on [u_p; u_f];
            ``none`` -- N(0, I), the plain VAE (the beta-VAE with ``beta`` != 1).
        prior_hidden: hidden width of each prior MLP (64, one LeakyReLU layer).
        fusion: ``poe`` -- Gaussian product of the surfaces' experts (a missing surface
            drops out) -- or ``concat`` -- an MLP over the concatenated poolings.
        surfaces: encoders used: ``both``, ``rec`` or ``search`` (the decoders always
            reconstruct both surfaces).
        beta: weight of the KL term (1; other values only with ``prior=none``, the
            beta-VAE: the iVAE identifiability argument needs 1).
        kl_warmup_epochs: the KL weight rises linearly to ``beta`` over the first epochs
            (10; 0 = no warm-up).
        subset_weight: weight of each single-surface ELBO term added to the joint one
            (0.5; used with ``surfaces=both``).
        decoder_hidden: hidden width of each surface decoder (128).
        word_buckets: query words are hashed to at most this many buckets for the word
            decoder (2048).
        covariates: where u_p and u_f come from: ``graph`` -- ``data['user'].x`` split
            at ``platform_covariates`` (the synthetic world's drawn covariates); ``logs``
            -- summaries of the training-visible timeline
            (:func:`~graphrec.data.covariates.timeline_covariates`: volume per active day,
            time of day and category mix of the recommendation surface; search volume,
            share and category mix), plus the named user features below; ``auto``
            (default) -- ``graph`` when the graph says how to split its ``x``
            (``meta_platform_covariates``) or ``platform_covariates`` is set, else ``logs``.
        platform_covariates: how many leading columns of ``data['user'].x`` are the
            platform covariates u_p (the rest are u_f); -1 reads the graph's
            ``meta_platform_covariates``.
        platform_features: with ``logs``, comma-separated columns of the graph's user
            features (``meta_user_features``, e.g. KuaiSAR's ``reco_active_level``)
            appended one-hot to u_p ("" = none).
        preference_features: the same for u_f (e.g. ``search_active_level``).
    """

    k_p: int = 8
    k_f: int = 8
    dim: int = 64
    num_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.1
    max_rec_len: int = 100
    rec_events: str = "clicks"
    max_search_len: int = 30
    prior: str = "ivae"
    prior_hidden: int = 64
    fusion: str = "poe"
    surfaces: str = "both"
    beta: float = 1.0
    kl_warmup_epochs: int = 10
    subset_weight: float = 0.5
    decoder_hidden: int = 128
    word_buckets: int = 2048
    covariates: str = "auto"
    platform_covariates: int = -1
    platform_features: str = ""
    preference_features: str = ""

    def validate(self) -> None:
        super().validate()
        self.require_positive("k_p", "k_f", "dim", "num_layers", "num_heads", "max_rec_len", "max_search_len",
                              "prior_hidden", "decoder_hidden", "word_buckets", "beta")
        self.require_non_negative("kl_warmup_epochs", "subset_weight")
        self.require_fraction("dropout", below_one=True)
        self.require_choice("prior", PRIORS)
        self.require_choice("fusion", FUSIONS)
        self.require_choice("surfaces", SURFACES)
        self.require_choice("rec_events", ("clicks", "impressions"))
        if self.dim % self.num_heads:
            self._fail("dim", f"a multiple of num_heads={self.num_heads} (attention splits dim across heads)")
        if self.beta != 1.0 and self.prior != "none":
            self._fail("beta", f"1 with prior={self.prior!r} (the iVAE identifiability argument needs a KL "
                       "weight of 1; beta != 1 is the beta-VAE baseline, prior='none')")
        self.require_choice("covariates", COVARIATE_SOURCES)
        for name in ("platform_features", "preference_features"):
            if getattr(self, name) and self.covariates == "graph":
                self._fail(name, "empty with covariates='graph' (named user features join the covariates read "
                           "from the logs; use covariates='logs')")
        if self.platform_covariates < -1:
            self._fail("platform_covariates", ">= 0, or -1 (read the graph's meta_platform_covariates)")


def item_categories(data: HeteroData) -> tuple[Ragged | None, int]:
    """Per item, its ``category`` attributes (every attribute when the graph names no
    such field), renumbered ``0..C-1``; ``(None, 0)`` for a graph without attributes."""
    if "attr" not in data.node_types or HAS_ATTR not in data.edge_types:
        return None, 0
    fields = list(getattr(data, "attr_fields", []) or [])
    ei = attr_field_edges(data, "category") if "category" in fields else data[HAS_ATTR].edge_index
    if not ei.size(1):
        return None, 0
    cats, local = torch.unique(ei[1], return_inverse=True)
    return Ragged.from_coo(ei[0], local, data["item"].num_nodes), cats.numel()


def user_covariates(data: HeteroData, cfg: HMVCRLConfig, timeline: JointTimeline | None = None,
                    categories: tuple[Ragged | None, int] | None = None) -> UserCovariates | None:
    """The covariates u_p, u_f of ``cfg.covariates`` (see :class:`HMVCRLConfig`) for
    every user of ``data``; ``None`` when the source has none: ``graph`` without ``x``, or
    (under ``auto``, with a warning) logs that leave one side empty, e.g. no search and
    no ``preference_features``; with ``logs`` an empty side is an error. ``timeline``
    and ``categories`` (:func:`item_categories`) are read from ``data`` unless given."""
    x = data["user"].get("x")
    source = cfg.covariates
    if source == "auto":
        split_known = "meta_platform_covariates" in data or cfg.platform_covariates >= 0
        source = "graph" if x is not None and split_known else "logs"
    if source == "graph":
        if x is None:
            return None
        split = cfg.platform_covariates
        if split < 0:
            if "meta_platform_covariates" not in data:
                raise ValueError("HMVCRL: covariates='graph', but the graph does not say how many leading columns "
                                 "of data['user'].x are the platform covariates u_p (no meta_platform_covariates); "
                                 "set model.platform_covariates, or use covariates='logs'")
            split = int(data.meta_platform_covariates)
        if split > x.size(1):
            raise ValueError(f"platform_covariates={split} exceeds the {x.size(1)} columns of data['user'].x")
        return UserCovariates(x[:, :split].float(), x[:, split:].float(),
                              [f"x{i}" for i in range(split)], [f"x{i}" for i in range(split, x.size(1))])
    groups, _ = item_categories(data) if categories is None else categories
    cov = timeline_covariates(JointTimeline.from_data(data) if timeline is None else timeline, groups)
    extra = {}
    for side in ("platform", "preference"):
        wanted = [c.strip() for c in getattr(cfg, f"{side}_features").split(",") if c.strip()]
        if wanted:
            codes = data["user"].get("features")
            if codes is None:
                raise ValueError(f"model.{side}_features={wanted}, but the graph has no user features "
                                 "(data['user'].features)")
            columns = str(getattr(data, "meta_user_features", "")).split(",")
            extra[side] = named_user_features(codes, columns, wanted)
    cov = cov.extend(**extra)
    empty = [side for side in ("platform", "preference") if getattr(cov, side).size(1) == 0]
    if empty:
        hint = (f"the logs give no {' or '.join(empty)} covariate that varies over the users (e.g. no search); name "
                "user features for it (model.platform_features / model.preference_features)")
        if cfg.covariates == "logs":
            raise ValueError(f"HMVCRL: covariates='logs', but {hint}")
        log.warning("HMVCRL: %s; reading no covariates", hint)
        return None
    return cov


def _csr_gather(ptr: Tensor, values: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
    """Rows ``keys`` of the CSR ``(ptr, values)``: ``(position in keys, value)`` of every entry."""
    rows = Ragged(ptr, values).select(keys)
    return rows.row_index().to(keys.device), rows.values


def _standardise(y: Tensor, mask: Tensor) -> Tensor:
    """z-score ``y`` over the rows where ``mask`` holds (0 elsewhere)."""
    if int(mask.sum()) < 2:
        return torch.zeros_like(y)
    mean, std = y[mask].mean(), y[mask].std().clamp_min(1e-6)
    return torch.where(mask, (y - mean) / std, torch.zeros_like(y))


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.LeakyReLU(), nn.Linear(hidden, out))


def _reset(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class _SurfaceEncoder(nn.Module):
    """Pre-LN bidirectional Transformer over left-padded tokens with chronological
    positions, then a masked mean over the real slots: ``(B, L, d) -> (B, d)``."""

    def __init__(self, dim: int, max_len: int, num_layers: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.pos = nn.Embedding(max_len, dim)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(dim, num_heads, dropout, norm_first=True)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def forward(self, tokens: Tensor, valid: Tensor) -> Tensor:
        cut = min(leading_padding(valid), valid.size(1) - 1)  # columns that are padding in every row
        x, v = tokens[:, cut:], valid[:, cut:]
        x = self.drop(x + self.pos(chronological_positions(v)))
        eye = torch.eye(v.size(1), dtype=torch.bool, device=v.device)
        mask = v[:, None, :] | eye  # attend to real slots (and to itself: no empty row)
        for block in self.blocks:
            x = block(x, mask)
        w = v.unsqueeze(-1).to(x.dtype)
        return (self.norm(x) * w).sum(1) / w.sum(1).clamp_min(1.0)


@register_model("hmv_crl")
class HMVCRL(RecModel):
    r"""HMV-CRL (see the module docstring for the equations).

    Args:
        num_users (int): users :math:`|U|`.
        num_items (int): items :math:`|I|`.
        timeline (JointTimeline): each user's training clicks and visible searches
            (:mod:`graphrec.data.timeline`); the encoders' inputs and the decoders'
            targets.
        item_attrs ((Tensor, Tensor), optional): CSR ``(ptr (|I|+1,), category)`` of
            each item's category attributes in ``[0, num_attrs)``; ``None``: no
            attributes (no category tokens or decoders).
        num_attrs (int, optional): number of categories.
        query_tokens ((Tensor, Tensor), optional): ``(token_ptr, token)`` words of every
            query; ``None``: the graph has no queries.
        num_words (int, optional): query vocabulary size.
        u_platform (Tensor, optional): ``(|U|, F_p)`` platform covariates :math:`u_p`.
        u_pref (Tensor, optional): ``(|U|, F_f)`` preference covariates :math:`u_f`;
            without covariates a conditional prior reduces to a learned constant one.
        config (HMVCRLConfig, optional): hyperparameters; keywords override fields.
    """

    Config = HMVCRLConfig
    # shared/methods/hmv_crl.md section 3; early stopping on the validation negative ELBO
    train_defaults = {"batch_size": 256, "lr": 1e-3, "weight_decay": 1e-5, "epochs": 100, "patience": 10,
                      "eval_every": 1, "metric": "loss.nelbo"}

    def __init__(self, num_users: int, num_items: int, timeline: JointTimeline,
                 item_attrs: tuple[Tensor, Tensor] | None = None, num_attrs: int = 0,
                 query_tokens: tuple[Tensor, Tensor] | None = None, num_words: int = 0,
                 u_platform: Tensor | None = None, u_pref: Tensor | None = None,
                 impressions: tuple[Ragged, Tensor] | None = None,
                 config: HMVCRLConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        if cfg.rec_events == "impressions" and impressions is None:
            raise ValueError("HMVCRL: rec_events='impressions', but the graph has no impressions "
                             "(data['user'].imp_ptr: its logs keep clicks only); use rec_events='clicks'")
        self.num_users, self.num_items = num_users, num_items
        if timeline.num_rows != num_users:
            raise ValueError(f"timeline has {timeline.num_rows} rows, expected num_users={num_users}")
        d, k = cfg.dim, cfg.k_p + cfg.k_f
        self.k_p, self.k_f, self.k = cfg.k_p, cfg.k_f, k
        n_search = timeline.surface_positions(SEARCH).numel()
        if cfg.surfaces == "search" and n_search == 0:
            raise ValueError("surfaces='search' needs searches, and the graph has none; use surfaces='rec' or 'both'")
        if n_search == 0 or query_tokens is None:
            query_tokens, num_words = None, 0
        self.surfaces = SURFACE_SETS[cfg.surfaces]
        self._prepare_inputs(timeline, cfg, impressions if cfg.rec_events == "impressions" else None)
        self._prepare_targets(timeline, item_attrs, num_attrs, query_tokens, num_words, cfg)
        self._prepare_covariates(u_platform, u_pref, cfg)

        # ---- tokens and encoders -----------------------------------------------------
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.surface_emb = nn.Embedding(2, d)
        # impressions: 1 = shown and passed over, 2 = shown and clicked (0 = padding)
        self.click_emb = nn.Embedding(3, d, padding_idx=0) if cfg.rec_events == "impressions" else None
        self.cat_enc = QueryEncoder(*item_attrs, num_words=num_attrs, dim=d) if item_attrs is not None else None
        self.query_enc = QueryEncoder(*query_tokens, num_words=num_words, dim=d) if query_tokens is not None else None
        enc = {"num_layers": cfg.num_layers, "num_heads": cfg.num_heads, "dropout": cfg.dropout}
        self.encoders = nn.ModuleDict({
            s: _SurfaceEncoder(d, cfg.max_rec_len if s == "rec" else cfg.max_search_len, **enc)
            for s in self.surfaces})
        if cfg.fusion == "poe":
            self.expert_heads = nn.ModuleDict({s: nn.Linear(d, 2 * k) for s in self.surfaces})
        else:  # poolings and presence flags -> (mu, logvar)
            n = len(self.surfaces)
            self.concat_mlp = _mlp(n * (d + 1), cfg.decoder_hidden, 2 * k)

        # ---- prior ----------------------------------------------------------------------
        if cfg.prior != "none":
            if cfg.prior == "ivae":
                in_p, in_f = self.u_p.size(1), self.u_f.size(1)
            else:
                in_p = in_f = self.u_p.size(1) + self.u_f.size(1)
            self.prior_p = _mlp(in_p, cfg.prior_hidden, 2 * cfg.k_p)
            self.prior_f = _mlp(in_f, cfg.prior_hidden, 2 * cfg.k_f)

        # ---- decoders ---------------------------------------------------------------------
        h = cfg.decoder_hidden
        self.decoders = nn.ModuleDict({
            surface: nn.Sequential(nn.Linear(k, h), nn.LeakyReLU())
            for surface in ("rec", "search") if any(self._head_surface[n] == surface for n in self.head_sizes)})
        self.heads = nn.ModuleDict({name: nn.Linear(h, size) for name, size in self.head_sizes.items()})
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))  # for the KL warm-up (kept on resume)
        self.reset_parameters()

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> HMVCRL:
        """Reads the joint timeline, the items' ``category`` attributes (all attributes
        when the graph names no such field), the query words and ``data['user'].x``
        split into :math:`[u_p, u_f]` at ``platform_covariates`` (or the graph's
        ``meta_platform_covariates``)."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
        by_item, num_attrs = item_categories(data)
        item_attrs = None if by_item is None else (by_item.ptr, by_item.values)
        timeline = JointTimeline.from_data(data)
        query_tokens, num_words = None, 0
        if "query" in data.node_types and "token_ptr" in data["query"]:
            query_tokens, num_words = (data["query"].token_ptr, data["query"].token), int(data.num_words)
        cov = user_covariates(data, cfg, timeline, (by_item, num_attrs))
        if cov is None and cfg.prior != "none":
            log.warning("HMVCRL: no user covariates; the %s prior reduces to a learned constant Gaussian (no "
                        "identifiability guarantee)", cfg.prior)
        u_platform, u_pref = (None, None) if cov is None else (cov.platform, cov.preference)
        model = cls(num_users=num_users, num_items=num_items, timeline=timeline,
                    item_attrs=item_attrs, num_attrs=num_attrs, query_tokens=query_tokens, num_words=num_words,
                    u_platform=u_platform, u_pref=u_pref,
                    impressions=visible_impressions(data) if cfg.rec_events == "impressions" else None, config=cfg)
        model.covariate_names = {} if cov is None else {"platform": cov.platform_names,
                                                         "preference": cov.preference_names}
        return model

    def _prepare_inputs(self, tl: JointTimeline, cfg: HMVCRLConfig,
                        impressions: tuple[Ragged, Tensor] | None = None) -> None:
        """Every user's windows (shifted ids, 0 = padding), most recent kept; the rec
        window from the impressions (with their clicked flags) when given."""
        users = torch.arange(self.num_users)
        w = tl.windows(users, tl.ptr[1:], cfg.max_rec_len, cfg.max_search_len)
        if impressions is not None:
            shown, clicked = impressions
            w["rec_item"] = Ragged(shown.ptr, shown.values + 1).pad(cfg.max_rec_len)
            self.register_buffer("rec_clicked", Ragged(shown.ptr, clicked.long() + 1).pad(cfg.max_rec_len),
                                 persistent=False)
        for key in ("rec_item", "search_query", "search_item"):
            self.register_buffer(key, w[key], persistent=False)

    def _prepare_targets(self, tl: JointTimeline, item_attrs: tuple[Tensor, Tensor] | None, num_attrs: int,
                         query_tokens: tuple[Tensor, Tensor] | None, num_words: int, cfg: HMVCRLConfig) -> None:
        """Per-user aggregates of the training-visible data (decoder targets): CSR bags
        for the multinomial heads, standardised values and masks for the Gaussian heads."""
        U = self.num_users
        row = tl.row_index()
        rec, srch = tl.surface_positions(REC), tl.surface_positions(SEARCH)
        sizes: dict[str, int] = {}
        surface_of: dict[str, str] = {}
        self._bags: list[str] = []

        def bag(name: str, surface: str, rows: Tensor, values: Tensor, width: int) -> None:
            grouped = Ragged.from_coo(rows, values, U)
            ptr, val = grouped.ptr, grouped.values
            self.register_buffer(f"bag_{name}_ptr", ptr, persistent=False)
            self.register_buffer(f"bag_{name}", val, persistent=False)
            sizes[name], surface_of[name] = width, surface
            self._bags.append(name)

        if item_attrs is not None and num_attrs > 0:
            pos, cat = _csr_gather(item_attrs[0], item_attrs[1], tl.item[rec])
            bag("rec_category", "rec", row[rec][pos], cat, num_attrs)
            if srch.numel():
                pos, cat = _csr_gather(item_attrs[0], item_attrs[1], tl.item[srch])
                bag("search_category", "search", row[srch][pos], cat, num_attrs)
        if query_tokens is not None and num_words > 0:
            buckets = min(num_words, cfg.word_buckets)
            pos, word = _csr_gather(torch.as_tensor(query_tokens[0]), torch.as_tensor(query_tokens[1]), tl.query[srch])
            bag("query_words", "search", row[srch][pos], word % buckets, buckets)

        # Gaussian heads: exposure-shaped summaries of the rec surface, volumes of both
        n_rec = torch.bincount(row[rec], minlength=U)
        n_search = torch.bincount(row[srch], minlength=U)
        pop = torch.bincount(tl.item[rec], minlength=self.num_items).double()
        log_pop = torch.zeros(U, dtype=torch.float64).index_add_(0, row[rec], pop[tl.item[rec]].log())
        gauss = {"rec_popularity": ("rec", log_pop / n_rec.clamp_min(1), n_rec > 0),
                 "rec_volume": ("rec", torch.log1p(n_rec.double()), torch.ones(U, dtype=torch.bool))}
        if srch.numel():
            gauss["search_volume"] = ("search", torch.log1p(n_search.double()), torch.ones(U, dtype=torch.bool))
        self._gaussians = list(gauss)
        for name, (surface, _, _) in gauss.items():
            sizes[name], surface_of[name] = 2, surface  # (mean, log-variance)
        self.register_buffer("gauss_target", torch.stack([_standardise(y, m) for _, y, m in gauss.values()], 1)
                             .float(), persistent=False)
        self.register_buffer("gauss_mask", torch.stack([m for _, _, m in gauss.values()], 1), persistent=False)
        self.register_buffer("has_rec", n_rec > 0, persistent=False)
        self.register_buffer("has_search", n_search > 0, persistent=False)
        self.head_sizes, self._head_surface = sizes, surface_of

    def _prepare_covariates(self, u_platform: Tensor | None, u_pref: Tensor | None, cfg: HMVCRLConfig) -> None:
        U = self.num_users
        if (u_platform is None) != (u_pref is None):
            raise ValueError("pass both u_platform and u_pref, or neither")
        if u_platform is None:  # no covariates: a constant input, the prior is a learned constant Gaussian
            u_platform, u_pref = torch.zeros(U, 1), torch.zeros(U, 1)
        elif cfg.prior == "ivae" and (u_platform.size(1) == 0 or u_pref.size(1) == 0):
            raise ValueError(f"platform_covariates: prior='ivae' needs platform and preference covariates, got "
                             f"{u_platform.size(1)} + {u_pref.size(1)} columns; set model.platform_covariates to a "
                             "split of data['user'].x with both non-empty")
        for name, u in (("u_platform", u_platform), ("u_pref", u_pref)):
            if u.size(0) != U:
                raise ValueError(f"{name} has {u.size(0)} rows, expected num_users={U}")
        # covariates are standardised once (the prior MLPs see unit-scale inputs)
        u_platform, u_pref = u_platform.float(), u_pref.float()
        norm = [(u - u.mean(0)) / u.std(0).clamp_min(1e-6) if u.size(1) and U > 1 else u
                for u in (u_platform, u_pref)]
        self.register_buffer("u_p", norm[0], persistent=False)
        self.register_buffer("u_f", norm[1], persistent=False)

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.item_emb.weight)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        nn.init.normal_(self.surface_emb.weight, std=0.02)
        if self.click_emb is not None:
            nn.init.normal_(self.click_emb.weight, std=0.02)
            with torch.no_grad():
                self.click_emb.weight[0].zero_()
        for m in (self.cat_enc, self.query_enc, *self.encoders.values()):
            if m is not None:
                m.reset_parameters()
        for name in ("expert_heads", "concat_mlp", "prior_p", "prior_f", "decoders", "heads"):
            if hasattr(self, name):
                _reset(getattr(self, name))

    def train_inputs(self) -> UserInputs:
        return UserInputs()

    def on_epoch_start(self, data: HeteroData) -> None:
        self.epoch += 1

    def kl_weight(self) -> float:
        """``beta`` times the warm-up factor ``min(1, epoch / kl_warmup_epochs)`` in
        training; ``beta`` under evaluation (the validation criterion is the ELBO)."""
        cfg = self.config
        if not self.training or cfg.kl_warmup_epochs == 0:
            return cfg.beta
        return cfg.beta * min(1.0, max(int(self.epoch), 1) / cfg.kl_warmup_epochs)

    # ---- encoder side ------------------------------------------------------------------------
    def _tokens(self, surface: str, users: Tensor) -> tuple[Tensor, Tensor]:
        if surface == "rec":
            item = self.rec_item[users]
            x = self.item_emb(item) + self.surface_emb.weight[REC]
            if self.cat_enc is not None:
                x = x + self.cat_enc(item)
            if self.click_emb is not None:
                x = x + self.click_emb(self.rec_clicked[users])
        else:
            item, query = self.search_item[users], self.search_query[users]
            x = self.item_emb(item) + self.surface_emb.weight[SEARCH]
            if self.query_enc is not None:
                x = x + self.query_enc(query)
        return x, item > 0

    def experts(self, users: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """``{surface: (pooled (B, d), present (B,))}`` for the model's surfaces."""
        out = {}
        for s in self.surfaces:
            x, valid = self._tokens(s, users)
            out[s] = (self.encoders[s](x, valid), valid.any(1))
        return out

    def fuse(self, experts: dict[str, tuple[Tensor, Tensor]], use: tuple[str, ...]) -> tuple[Tensor, Tensor]:
        """Posterior ``(mu, logvar)`` ``(B, k)`` from the surfaces in ``use`` (the others
        are treated as missing)."""
        if self.config.fusion == "poe":
            params = [self.expert_heads[s](experts[s][0]).chunk(2, -1) for s in self.surfaces]
            mu = torch.stack([p[0] for p in params], 1)
            logvar = torch.stack([p[1] for p in params], 1).clamp(-10.0, 10.0)
            mask = torch.stack([experts[s][1] & (s in use) for s in self.surfaces], 1)
            return product_of_experts(mu, logvar, mask)
        parts = []
        for s in self.surfaces:
            pooled, present = experts[s]
            present = present & (s in use)
            parts += [pooled * present.unsqueeze(-1).to(pooled.dtype), present.unsqueeze(-1).to(pooled.dtype)]
        mu, logvar = self.concat_mlp(torch.cat(parts, -1)).chunk(2, -1)
        return mu, logvar.clamp(-10.0, 10.0)

    def encode(self, users: Tensor, surfaces: tuple[str, ...] | str | None = None) -> tuple[Tensor, Tensor]:
        """Posterior ``(mu, logvar)`` ``(B, k_p + k_f)`` of ``users`` from the given
        surfaces (``"rec"``, ``"search"`` or both; default: all of the model's), e.g.
        to re-encode with the recommendation surface alone."""
        use = self.surfaces if surfaces is None else ((surfaces,) if isinstance(surfaces, str) else tuple(surfaces))
        bad = [s for s in use if s not in self.surfaces]
        if bad:
            raise ValueError(f"surfaces {bad} are not encoded by this model (it uses {list(self.surfaces)})")
        users = users.to(self.rec_item.device)
        return self.fuse(self.experts(users), use)

    def prior(self, users: Tensor) -> tuple[Tensor, Tensor]:
        """Prior ``(mean, logvar)`` ``(B, k)`` of ``users`` (zeros for ``prior='none'``)."""
        if self.config.prior == "none":
            z = self.u_p.new_zeros(users.numel(), self.k)
            return z, z
        u_p, u_f = self.u_p[users], self.u_f[users]
        if self.config.prior == "shared":
            u_p = u_f = torch.cat([u_p, u_f], 1)
        m_p, lv_p = self.prior_p(u_p).chunk(2, -1)
        m_f, lv_f = self.prior_f(u_f).chunk(2, -1)
        return torch.cat([m_p, m_f], 1), torch.cat([lv_p, lv_f], 1).clamp(-10.0, 10.0)

    @torch.no_grad()
    def latents(self, users: Tensor | None = None, surfaces: tuple[str, ...] | str | None = None,
                batch_size: int = 1024) -> dict[str, Tensor]:
        """Posterior means under evaluation mode: ``{"platform": (B, k_p),
        "preference": (B, k_f)}`` for ``users`` (default: all), on the CPU."""
        was = self.training
        self.eval()
        try:
            users = torch.arange(self.num_users) if users is None else torch.as_tensor(users, dtype=torch.long)
            mus = [self.encode(chunk, surfaces)[0].cpu() for chunk in users.split(batch_size)]
        finally:
            self.train(was)
        mu = torch.cat(mus) if mus else torch.zeros(0, self.k)
        return {"platform": mu[:, :self.k_p], "preference": mu[:, self.k_p:]}

    # ---- decoder side ------------------------------------------------------------------------
    def _bag_counts(self, name: str, users: Tensor) -> Tensor:
        pos, val = _csr_gather(getattr(self, f"bag_{name}_ptr"), getattr(self, f"bag_{name}"), users)
        out = torch.zeros(users.numel(), self.head_sizes[name], device=users.device)
        return out.index_put_((pos, val), torch.ones_like(pos, dtype=out.dtype), accumulate=True)

    def reconstruction(self, z: Tensor, users: Tensor) -> Tensor:
        r"""Per-user :math:`\log p(x_R \mid z) + \log p(x_S \mid z)` ``(B,)`` (the
        multinomial terms without their constant coefficients)."""
        hidden = {s: dec(z) for s, dec in self.decoders.items()}
        ll = z.new_zeros(z.size(0))
        for name in self._bags:
            logits = self.heads[name](hidden[self._head_surface[name]])
            ll = ll + (self._bag_counts(name, users) * F.log_softmax(logits, -1)).sum(-1)
        y, mask = self.gauss_target[users], self.gauss_mask[users]
        for j, name in enumerate(self._gaussians):
            mean, logvar = self.heads[name](hidden[self._head_surface[name]]).unbind(-1)
            logvar = logvar.clamp(*_LOGVAR_RANGE)
            term = -0.5 * (_LOG_2PI + logvar + (y[:, j] - mean).pow(2) * torch.exp(-logvar))
            ll = ll + term * mask[:, j].to(term.dtype)
        return ll

    def _elbo(self, mu: Tensor, logvar: Tensor, users: Tensor, prior: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(reconstruction log-likelihood (B,), KL (B,))`` with one reparameterised
        sample in training and the posterior mean under evaluation."""
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        kl = gaussian_kl(mu, logvar, *prior).sum(-1)
        return self.reconstruction(z, users), kl

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users = batch["user"].to(self.rec_item.device)
        w = self.kl_weight()
        experts = self.experts(users)
        prior = self.prior(users)
        recon, kl = self._elbo(*self.fuse(experts, self.surfaces), users, prior)
        loss = (w * kl - recon).mean()
        if len(self.surfaces) > 1 and self.config.subset_weight > 0:
            for s in self.surfaces:  # single-expert ELBOs of the users who have that surface
                present = experts[s][1]
                if not bool(present.any()):
                    continue
                r_s, kl_s = self._elbo(*self.fuse(experts, (s,)), users, prior)
                keep = present.to(r_s.dtype)
                loss = loss + self.config.subset_weight * ((w * kl_s - r_s) * keep).sum() / keep.sum()
        elbo = (recon - kl).mean()
        return {"loss": loss, "elbo": elbo.detach(), "nelbo": -elbo.detach(), "recon": -recon.mean().detach(),
                "kl": kl.mean().detach()}

    def extra_repr(self) -> str:
        cfg = self.config
        return (f"num_users={self.num_users}, num_items={self.num_items}, k_p={cfg.k_p}, k_f={cfg.k_f}, "
                f"prior={cfg.prior}, fusion={cfg.fusion}, surfaces={cfg.surfaces}, heads={list(self.head_sizes)}")


__all__ = ["HMVCRL", "HMVCRLConfig"]
