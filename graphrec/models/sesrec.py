r"""SESRec (Si et al., SIGIR 2023): disentangled search representations for recommendation,
the published search-enhanced sequential baseline ClardRec is measured against.

Built from the authors' released code (``Ethan00Si/SESREC-SIGIR-2023`` @ de9c0ae: read, not
copied; the paper's body could not be read): its model settings are this config's defaults,
``sesrec`` in ``graphrec/configs/clardrec.yaml`` adds the authors' training schedule and
``sesrec-popneg`` their training negatives, by popularity (``docs/methods/clardrec.md`` says
why the comparison draws them uniformly, and where graphrec differs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS, SEARCHES
from graphrec.data.inputs import JointTimelineInputs, TrainInputs
from graphrec.data.loader import NEGATIVES
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.nn.encoders import QueryEncoder, TargetAttention
from graphrec.nn.losses import BilinearSimilarity
from graphrec.resolver import register_model


@dataclass
class SESRecConfig(ModelConfig):
    """Args:
        dim: embedding size d (32, the authors' Amazon setting).
        query_id_dim: size of the query-id embedding concatenated with the word mean (16).
        word_dim: size of the word embeddings (16).
        max_rec_len: recommendation history kept (15).
        max_search_len: searches kept (15).
        num_layers: blocks of each history encoder (1).
        num_heads: attention heads (4).
        dropout: dropout of the encoders and the MLP (0.1).
        mlp_dims: hidden sizes of the prediction MLP ((200, 80)).
        num_negatives: sampled negatives per training target for BCE (4).
        negatives: how they are drawn, outside the user's training clicks: ``"uniform"``
            or ``"popularity"`` (in proportion to each item's training recommendation
            clicks, as the authors' sampler draws from the training records; the YAML's
            ``sesrec-popneg``). Uniform matches the uniformly drawn test negatives of the
            sampled protocols, and keeps runs written before the switch resuming as they started.
        align_weight: weight of the query-item alignment InfoNCE (0.1).
        align_negatives: random items and random queries per step in the alignment (1024 each).
        align_temperature: initial learnable temperature of the alignment (0.1).
        triplet_weight: weight of the interest-disentangling triplet loss (0.001).
        triplet_margin: its margin (0.1).
        full_rank_block: items scored at once in full ranking (memory bound).
    """

    dim: int = 32
    query_id_dim: int = 16
    word_dim: int = 16
    max_rec_len: int = 15
    max_search_len: int = 15
    num_layers: int = 1
    num_heads: int = 4
    dropout: float = 0.1
    mlp_dims: tuple[int, ...] = (200, 80)
    num_negatives: int = 4
    negatives: str = "uniform"
    align_weight: float = 0.1
    align_negatives: int = 1024
    align_temperature: float = 0.1
    triplet_weight: float = 0.001
    triplet_margin: float = 0.1
    full_rank_block: int = 1024

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim", "query_id_dim", "word_dim", "max_rec_len", "max_search_len", "num_layers",
                              "num_heads", "num_negatives", "align_negatives", "align_temperature",
                              "full_rank_block")
        self.require_non_negative("align_weight", "triplet_weight", "triplet_margin")
        self.require_fraction("dropout", below_one=True)
        self.require_choice("negatives", NEGATIVES)
        if self.dim % self.num_heads:
            self._fail("dim", f"a multiple of num_heads={self.num_heads}")
        if not self.mlp_dims or any(int(h) < 1 for h in self.mlp_dims):
            self._fail("mlp_dims", "one or more sizes >= 1")


class HistoryBlock(nn.Module):
    r"""SESRec's encoder block: bidirectional multi-head self-attention over the real
    entries, then a position-wise :math:`d \to d` LeakyReLU feed-forward, each followed by
    dropout, a residual and LayerNorm (post-LN)."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.LeakyReLU(), nn.Linear(dim, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-8), nn.LayerNorm(dim, eps=1e-8)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        h = self.attn(x, x, x, key_padding_mask=~valid, need_weights=False)[0]
        x = self.norm1(x + self.drop(h))
        return self.norm2(x + self.drop(self.ffn(x)))


def co_attention_split(a: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    r"""SESRec's split of a history by its co-attention weights :math:`a` ``(B, L)``:
    entry :math:`k` is *similar* when :math:`a_k \ge 1/n` (``n`` real entries), else
    *dissimilar*; an empty side falls back to every real entry."""
    n = valid.sum(1, keepdim=True).clamp(min=1)
    similar = valid & (a >= 1.0 / n)
    dissimilar = valid & ~similar
    similar = torch.where(similar.any(1, keepdim=True), similar, valid)
    dissimilar = torch.where(dissimilar.any(1, keepdim=True), dissimilar, valid)
    return similar, dissimilar


def _masked_mean(h: Tensor, mask: Tensor) -> Tensor:
    w = mask.to(h.dtype).unsqueeze(-1)
    return (h * w).sum(1) / w.sum(1).clamp(min=1)


@register_model("sesrec")
class SESRec(RecModel):
    r"""SESRec (`Si et al., SIGIR 2023 <https://arxiv.org/abs/2305.10822>`_).

    A search entry is its query, :math:`\mathbf{W}[\mathbf{e}_{qid}; \frac{1}{|q|}\sum_w
    \mathbf{e}_w]`, plus a source bias plus its clicked item; recommendation and search
    histories each go through a bidirectional transformer (:class:`HistoryBlock`).

    * **Alignment**: every (query, clicked item) of the batch's search histories against
      random items and random queries, :math:`s = \tanh(\mathbf{q}^\top\mathbf{W}\mathbf{i})/\tau`
      with a learnable :math:`\tau`, InfoNCE in both directions.
    * **Disentangling**: co-attention between the two encoded histories,
      :math:`\mathbf{L} = \tanh(\mathbf{H}_r\mathbf{W}_1\mathbf{H}_s^\top)`,
      :math:`\mathbf{a}_s = \mathrm{softmax}(\mathbf{w}_q\mathbf{H}_r^\top\mathbf{L})`,
      :math:`\mathbf{a}_r = \mathrm{softmax}(\mathbf{w}_d\mathbf{H}_s^\top\mathbf{L}^\top)`,
      splits each history into similar and dissimilar entries (:func:`co_attention_split`);
      a triplet loss pulls the co-attention-pooled vector to the similar mean and away from
      the dissimilar one.
    * **Prediction**: per history, target attention over all, similar and dissimilar
      entries (:class:`~graphrec.nn.encoders.TargetAttention`), concatenated with the user
      and the candidate, an MLP, BCE with sampled negatives.

    .. math::
        \mathcal{L} = \mathcal{L}_{BCE} + 0.1\,\mathcal{L}_{align} + 0.001\,\mathcal{L}_{triplet}
    """

    Config = SESRecConfig
    train_defaults = {"batch_size": 256, "lr": 1e-3, "weight_decay": 1e-5}

    def __init__(self, num_users: int, num_items: int, query_tokens: tuple[Tensor, Tensor] | None = None,
                 num_words: int = 0, config: SESRecConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items, d = num_users, num_items, cfg.dim
        if query_tokens is None:  # no search log: every search history is empty
            query_tokens, num_words = (torch.zeros(1, dtype=torch.long), torch.zeros(0, dtype=torch.long)), 0
        self.num_queries = query_tokens[0].numel() - 1
        self.user_emb = nn.Embedding(num_users, d)
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.item_trans = nn.Linear(d, d)
        self.query_id_emb = nn.Embedding(self.num_queries + 1, cfg.query_id_dim, padding_idx=0)
        self.word_enc = QueryEncoder(*query_tokens, num_words=num_words, dim=cfg.word_dim)
        self.query_trans = nn.Linear(cfg.query_id_dim + cfg.word_dim, d)
        self.source = nn.Parameter(torch.empty(d))
        self.rec_pos = nn.Embedding(cfg.max_rec_len, d)
        self.search_pos = nn.Embedding(cfg.max_search_len, d)
        self.rec_blocks = nn.ModuleList(HistoryBlock(d, cfg.num_heads, cfg.dropout) for _ in range(cfg.num_layers))
        self.search_blocks = nn.ModuleList(HistoryBlock(d, cfg.num_heads, cfg.dropout)
                                           for _ in range(cfg.num_layers))
        self.align = BilinearSimilarity(d, temperature=cfg.align_temperature)
        self.co_w1 = nn.Parameter(torch.empty(d, d))
        self.co_wq, self.co_wd = nn.Linear(d, 1, bias=False), nn.Linear(d, 1, bias=False)
        self.rec_attention, self.search_attention = TargetAttention(d), TargetAttention(d)
        widths = (8 * d, *cfg.mlp_dims)
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], 1)
        self.drop = nn.Dropout(cfg.dropout)
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> SESRec:
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        query_tokens, num_words = None, 0
        if "query" in data.node_types and "token_ptr" in data["query"]:
            query_tokens, num_words = (data["query"].token_ptr, data["query"].token), int(data.num_words)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes, query_tokens=query_tokens,
                   num_words=num_words, config=cfg)

    @classmethod
    def graph_requirements(cls, config: ModelConfig) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        return ("user", "item", "query"), (CLICKS, SEARCHES)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.xavier_normal_(m.weight)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.MultiheadAttention):  # its out_proj is a Linear (above)
                nn.init.xavier_normal_(m.in_proj_weight)
                nn.init.zeros_(m.in_proj_bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
            self.query_id_emb.weight[0].zero_()
        nn.init.zeros_(self.source)
        nn.init.xavier_normal_(self.co_w1)
        self.align.reset_parameters()
        for att in (self.rec_attention, self.search_attention):
            att.reset_parameters()

    def train_inputs(self) -> TrainInputs:
        return JointTimelineInputs(max_rec_len=self.config.max_rec_len, max_search_len=self.config.max_search_len,
                                   num_negatives=self.config.num_negatives, negatives=self.config.negatives)

    # ---- representations ---------------------------------------------------------------
    def items(self, ids: Tensor) -> Tensor:
        """Item vectors of shifted ids (0 = padding -> the bias of ``item_trans``)."""
        return self.item_trans(self.item_emb(ids))

    def queries(self, ids: Tensor) -> Tensor:
        """Query vectors of shifted ids: ``W[e_qid; mean of its word embeddings]``."""
        return self.query_trans(torch.cat([self.query_id_emb(ids), self.word_enc(ids)], -1))

    def _encode(self, x: Tensor, valid: Tensor, pos: nn.Embedding, blocks: nn.ModuleList) -> Tensor:
        x = x + pos.weight[pos.num_embeddings - x.size(1):]
        # a row with no entry attends to its last slot (its output is masked out below): keeps softmax finite
        attend = valid.clone()
        attend[:, -1] |= ~valid.any(1)
        for block in blocks:
            x = block(x, attend)
        return x * valid.unsqueeze(-1).to(x.dtype)

    def encode_histories(self, hist: Any) -> dict[str, Tensor]:
        """Encoded histories, their co-attention weights and similar / dissimilar masks."""
        dev = self.item_emb.weight.device
        rec = hist["rec_item"][:, -self.config.max_rec_len:].to(dev)
        query = hist["search_query"][:, -self.config.max_search_len:].to(dev)
        s_item = hist["search_item"][:, -self.config.max_search_len:].to(dev)
        rec_valid, search_valid = rec > 0, query > 0
        h_r = self._encode(self.items(rec), rec_valid, self.rec_pos, self.rec_blocks)
        h_s = self._encode(self.queries(query) + self.source + self.items(s_item), search_valid, self.search_pos,
                           self.search_blocks)
        L = torch.tanh(h_r @ self.co_w1 @ h_s.transpose(1, 2))  # (B, Lr, Ls)
        a_s = (self.co_wq(h_r).transpose(1, 2) @ L).squeeze(1)  # (B, Ls)
        a_r = (self.co_wd(h_s).transpose(1, 2) @ L.transpose(1, 2)).squeeze(1)  # (B, Lr)
        a_r = torch.nan_to_num(torch.softmax(a_r.masked_fill(~rec_valid, float("-inf")), -1), nan=0.0)
        a_s = torch.nan_to_num(torch.softmax(a_s.masked_fill(~search_valid, float("-inf")), -1), nan=0.0)
        sim_r, dis_r = co_attention_split(a_r, rec_valid)
        sim_s, dis_s = co_attention_split(a_s, search_valid)
        return {"h_r": h_r, "h_s": h_s, "a_r": a_r, "a_s": a_s, "rec_valid": rec_valid, "search_valid": search_valid,
                "sim_r": sim_r, "dis_r": dis_r, "sim_s": sim_s, "dis_s": dis_s, "query": query, "s_item": s_item}

    def logits(self, users: Tensor, ctx: dict[str, Tensor], cand: Tensor) -> Tensor:
        """Logits ``(B, C)`` of candidate vectors ``cand (B, C, d)``."""
        pooled = []
        for att, h, masks in ((self.rec_attention, ctx["h_r"], ("rec_valid", "sim_r", "dis_r")),
                              (self.search_attention, ctx["h_s"], ("search_valid", "sim_s", "dis_s"))):
            pooled += [att.weights(h, ctx[m], cand) @ h for m in masks]  # (B, C, d) each
        user = self.user_emb(users.to(cand.device)).unsqueeze(1).expand(-1, cand.size(1), -1)
        z = torch.cat([*pooled, user, cand], -1)
        for lin in self.mlp:
            z = self.drop(F.relu(lin(z)))
        return self.out(z).squeeze(-1)

    # ---- training ------------------------------------------------------------------------
    def alignment_loss(self, query: Tensor, item: Tensor) -> Tensor:
        r"""InfoNCE of every (query, clicked item) pair (shifted ids ``(N,)``) against
        ``align_negatives`` random items and random queries, in both directions."""
        cfg, dev = self.config, query.device
        q, i = self.queries(query), self.items(item)
        neg_i = self.items(torch.randint(1, self.num_items + 1, (cfg.align_negatives,), device=dev))
        neg_q = self.queries(torch.randint(1, max(self.num_queries, 1) + 1, (cfg.align_negatives,), device=dev))
        tau = self.align.tau()
        pos = torch.tanh((q @ self.align.weight * i).sum(-1, keepdim=True))
        q2i = torch.cat([pos, self.align(q, neg_i)], 1) / tau
        i2q = torch.cat([pos, self.align(neg_q, i).t()], 1) / tau
        zero = torch.zeros(q.size(0), dtype=torch.long, device=dev)
        return 0.5 * (F.cross_entropy(q2i, zero) + F.cross_entropy(i2q, zero))

    def triplet_loss(self, ctx: dict[str, Tensor]) -> Tensor:
        """Co-attention-pooled history as anchor, its similar entries' mean as positive and
        its dissimilar entries' mean as negative, per history with entries, summed."""
        total = ctx["h_r"].new_zeros(())
        for h, a, valid, sim, dis in ((ctx["h_r"], ctx["a_r"], ctx["rec_valid"], ctx["sim_r"], ctx["dis_r"]),
                                      (ctx["h_s"], ctx["a_s"], ctx["search_valid"], ctx["sim_s"], ctx["dis_s"])):
            rows = valid.any(1)
            if bool(rows.any()):
                anchor = (a.unsqueeze(-1) * h).sum(1)
                total = total + F.triplet_margin_loss(anchor[rows], _masked_mean(h, sim)[rows],
                                                      _masked_mean(h, dis)[rows], margin=self.config.triplet_margin)
        return total

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.config
        users = batch["user"]
        ctx = self.encode_histories(batch)
        cand = torch.cat([batch["target"].unsqueeze(1), batch["neg"].view(users.numel(), -1)], 1)
        logits = self.logits(users, ctx, self.items(cand))
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        parts = {"bce": F.binary_cross_entropy_with_logits(logits, labels)}
        total = parts["bce"]
        pairs = ctx["search_valid"] & (ctx["s_item"] > 0)
        if cfg.align_weight > 0 and bool(pairs.any()):
            parts["align"] = self.alignment_loss(ctx["query"][pairs], ctx["s_item"][pairs])
            total = total + cfg.align_weight * parts["align"]
        if cfg.triplet_weight > 0:
            parts["triplet"] = self.triplet_loss(ctx)
            total = total + cfg.triplet_weight * parts["triplet"]
        return {"loss": total, **{k: v.detach() for k, v in parts.items()}}

    # ---- scoring -------------------------------------------------------------------------
    def score(self, users: Tensor, items: Tensor, history: Any) -> Tensor:
        ctx = self.encode_histories(history)
        return self.logits(users, ctx, self.items(items.to(self.item_emb.weight.device) + 1))

    def full_scores(self, users: Tensor, history: Any) -> Tensor:
        ctx = self.encode_histories(history)
        ids = torch.arange(1, self.num_items + 1, device=self.item_emb.weight.device)
        b = users.numel()
        return torch.cat([self.logits(users, ctx, self.items(block).unsqueeze(0).expand(b, -1, -1))
                          for block in ids.split(self.config.full_rank_block)], 1)


__all__ = ["SESRec", "SESRecConfig", "HistoryBlock", "co_attention_split"]
