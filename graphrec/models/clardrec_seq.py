r"""ClardRec in the sequential setting (``model.backbone=sasrec``): SASRec over the
recommendation history and over the search-click history, the same gate, losses and
fusion as the CF setting (:mod:`graphrec.models.clardrec`)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.inputs import JointTimelineInputs, TrainInputs
from graphrec.models.base import RecModel, resolve_config
from graphrec.models.clardrec import (
    ClardRecConfig,
    confidence_weight,
    query_encoder,
    search_losses,
    search_weights,
)
from graphrec.nn.disentangle import DisentanglingGate, GatedFusion
from graphrec.nn.encoders import QueryEncoder, SequenceTransformer, trim_left_padding
from graphrec.nn.losses import sampled_bce


class ClardRecSequential(RecModel):
    r"""ClardRec's sequential setting; built by :class:`~graphrec.models.clardrec.ClardRec`
    ``.from_data`` when ``backbone="sasrec"``.

    Items have one shared table :math:`\mathbf{E}_I` and both views are the table itself,
    :math:`\mathbf{h}^R_i = \mathbf{h}^S_i = \mathbf{e}_i` (``domain_mlp="none"``);
    ``"search"`` maps the search view, :math:`\mathbf{h}^S_i = \mathbf{W}_S \mathbf{e}_i`, and
    ``"both"`` the recommendation view too, :math:`\mathbf{W}_R \mathbf{e}_i` (identity-started).
    The gate splits :math:`\mathbf{h}^S_i` into :math:`\mathbf{h}^{qr}_i, \mathbf{h}^{qi}_i`
    and the fusion gives
    :math:`\hat{\mathbf{h}}^R_i = \beta_i \mathbf{h}^R_i + (1 - \beta_i) \mathbf{h}^{qi}_i`,
    used both for the history's items and for the scored items (the spec's proposal).

    * :math:`f_R`: SASRec over the fused items of the recommendation clicks;
      :math:`\mathbf{h}^R_u` is its state after the clicks before the target,
      :math:`y^R_{u,i} = \langle \mathbf{h}^R_u, \hat{\mathbf{h}}^R_i \rangle`,
      :math:`\mathcal{L}_R` BCE with one sampled negative per target. With
      ``seq_targets="all"`` (default) a row is a user's window and every position is a
      target (SASRec's regime, one encoder pass for all of them); with ``"last"`` a row is
      one training click with the histories strictly before it.
    * :math:`f_S`: SASRec over the search clicks before the target, item plus query vector
      per position, :math:`\mathbf{h}^S_i + \mathbf{q}`. Each search click ``(q_p, i_p)``
      of the window that has an earlier one is a search example with the user state
      :math:`\mathbf{h}^S_u = f_S(\cdot)_{p-1}` (the searches before it) and a uniform
      negative item: :math:`\mathcal{L}_S`, :math:`\mathcal{L}_{cd}`, :math:`\mathcal{L}_{con}`
      are the CF setting's over these examples.
    * :math:`\mathcal{L}_{da}`: every such search click is an extra recommendation target,
      weighted by :math:`c = \mathrm{sg}(\sigma(\langle \mathbf{h}^S_u,
      \mathbf{h}^{qi}_i\rangle))` and scored with a recommendation state: with
      ``seq_targets="all"`` the state after the clicks before the search click (the spec's
      "insert at its timestamp"; a click with no earlier one in the window is left out of
      L_da), with ``"last"`` the row's state at its target time (later than the search
      click: an approximation).
    """

    def __init__(self, num_users: int, num_items: int, query_tokens: tuple[Tensor, Tensor] | None = None,
                 num_words: int = 0, item_attrs: tuple[Tensor, Tensor] | None = None, num_attrs: int = 0,
                 query_text: Tensor | None = None, config: ClardRecConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(ClardRecConfig, config, kwargs, type(self).__name__)
        self.num_users, self.num_items, d = num_users, num_items, cfg.dim
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.rec_proj = nn.Linear(d, d, bias=False) if cfg.domain_mlp == "both" else nn.Identity()
        self.search_proj = nn.Linear(d, d, bias=False) if cfg.domain_mlp in ("search", "both") else nn.Identity()
        self.query_enc = query_encoder(cfg, query_tokens, num_words, query_text, shift=1)  # batch ids: shifted
        self.w_q = nn.Linear(d, d, bias=False)
        self.attr_enc = (QueryEncoder(*item_attrs, num_words=num_attrs, dim=d, shift=0)
                         if cfg.use_attributes and item_attrs is not None and num_attrs > 0 else None)
        self.gate = DisentanglingGate(d, d if self.attr_enc is not None else 0, cfg.complementary_gate)
        self.fusion = GatedFusion(d, cfg.vector_fusion) if cfg.feature_aug else None
        enc = {"num_layers": cfg.seq_layers, "num_heads": cfg.num_heads, "dropout": cfg.dropout}
        self.rec_encoder = SequenceTransformer(d, cfg.max_len, **enc)
        self.search_encoder = SequenceTransformer(d, cfg.max_len, **enc)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        for module in (self.query_enc, self.w_q, self.attr_enc, self.gate, self.fusion, self.rec_encoder,
                       self.search_encoder):
            if module is not None and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        # the domain maps start as the identity: both views begin as the shared table and part as training
        # needs. Linear's default start (and a bias) hid the 0.02-scale items under one shared vector, and
        # the model learned several times slower than SASRec on the same items
        for proj in (self.rec_proj, self.search_proj):
            if isinstance(proj, nn.Linear):
                nn.init.eye_(proj.weight)

    # ---- items -----------------------------------------------------------------------
    def item_views(self, ids: Tensor) -> dict[str, Tensor]:
        """Every view of items ``ids`` (shifted by one, 0 = padding, any shape): ``rec``,
        ``search``, ``qr``, ``qi``, ``g``, ``fused``; padding maps to zero vectors."""
        e = self.item_emb(ids)
        h_r, h_s = self.rec_proj(e), self.search_proj(e)
        attrs = self.attr_enc((ids - 1).clamp(min=0)) if self.attr_enc is not None else None
        qr, qi, g = self.gate(h_s, attrs)
        fused = self.fusion(h_r, qi)[0] if self.fusion is not None else h_r
        pad = (ids > 0).unsqueeze(-1).to(e.dtype)
        return {"rec": h_r * pad, "search": h_s * pad, "qr": qr * pad, "qi": qi * pad, "g": g, "fused": fused * pad}

    def all_items(self) -> Tensor:
        """Fused representations ``(num_items, d)`` of every item (the scored side)."""
        return self.item_views(torch.arange(1, self.num_items + 1, device=self.item_emb.weight.device))["fused"]

    # ---- users -----------------------------------------------------------------------
    def rec_state(self, rec_item: Tensor) -> Tensor:
        r""":math:`\mathbf{h}^R_u` ``(B, d)``: the last position of :math:`f_R` over the
        fused items of left-padded windows ``rec_item (B, L)``."""
        return self.rec_states(trim_left_padding(rec_item)[0])[:, -1]

    def rec_states(self, rec_item: Tensor) -> Tensor:
        r""":math:`f_R` at every position ``(B, L, d)`` of left-padded windows ``rec_item (B, L)``
        (position ``p``: the state after the clicks up to ``p``)."""
        return self.rec_encoder(self.item_views(rec_item)["fused"], rec_item > 0)

    @property
    def all_positions(self) -> bool:
        return self.config.seq_targets == "all"

    def train_inputs(self) -> TrainInputs:
        # every position of a user's window is a target: one negative per position
        return JointTimelineInputs(max_rec_len=self.config.max_len, max_search_len=self.config.max_len,
                                   num_negatives=self.config.max_len if self.all_positions else 1,
                                   last_only=self.all_positions)

    def full_scores(self, users: Tensor, history: Any) -> Tensor:
        hu = self.rec_state(history["rec_item"].to(self.item_emb.weight.device))
        return hu @ self.all_items().t()

    def score(self, users: Tensor, items: Tensor, history: Any) -> Tensor:
        hu = self.rec_state(history["rec_item"].to(self.item_emb.weight.device))
        return (hu.unsqueeze(1) * self.item_views(items + 1)["fused"]).sum(-1)

    @torch.no_grad()
    def disentangled_items(self) -> dict[str, Tensor]:
        """``qr, qi, g`` of every item (``(num_items, d)``), for analysis."""
        views = self.item_views(torch.arange(1, self.num_items + 1, device=self.item_emb.weight.device))
        return {"qr": views["qr"], "qi": views["qi"], "g": views["g"]}

    @torch.no_grad()
    def search_confidence(self, data: HeteroData, batch_size: int = 1024) -> Tensor:
        r""":math:`c_{ui}` of every search example of the training rows (the L_da weights;
        a click appears once per later recommendation target whose window holds it)."""
        out = []
        loader = self.train_inputs().loader(data, batch_size=batch_size, generator=torch.Generator().manual_seed(0))
        dev = self.item_emb.weight.device
        gen = torch.Generator().manual_seed(0)  # the negatives of "relative", the same every call
        neg = []
        for batch in loader:
            ex = self.search_examples(batch["search_query"].to(dev), batch["search_item"].to(dev))
            if ex is not None:
                out.append((ex["user"] * ex["qi"]).sum(-1))
                j = torch.randint(1, self.num_items + 1, ex["item"].shape, generator=gen).to(dev)
                neg.append((ex["user"] * self.item_views(j)["qi"]).sum(-1))
        pref = torch.cat(out) if out else torch.zeros(0, device=dev)
        pref_neg = torch.cat(neg) if neg else torch.zeros(0, device=dev)
        return confidence_weight(pref, self.config.confidence, self.config.confidence_threshold, pref_neg)

    # ---- training --------------------------------------------------------------------
    def search_examples(self, query: Tensor, item: Tensor, time: Tensor | None = None) -> dict[str, Tensor] | None:
        """Search examples of left-padded windows ``query, item (B, Ls)``: every click with
        an earlier one in its window, with the user state before it (and its ``time``
        when given). ``None`` if none."""
        if time is None:
            query, item = trim_left_padding(query, item)
        else:
            query, item, time = trim_left_padding(query, item, time)
        valid = query > 0
        if query.size(1) < 2 or not bool((valid[:, 1:] & valid[:, :-1]).any()):
            return None
        views = self.item_views(item)
        q = self.query_enc(query)
        H = self.search_encoder(views["search"] + q, valid)
        take = valid[:, 1:] & valid[:, :-1]  # position p (>= 1) with a click at p - 1
        row = take.nonzero()[:, 0]
        out = {"row": row, "user": H[:, :-1][take], "query": self.w_q(q[:, 1:][take]), "item": item[:, 1:][take]}
        if time is not None:
            out["time"] = time[:, 1:][take]
        return out | {k: views[k][:, 1:][take] for k in ("search", "qr", "qi", "g", "fused")}

    def _rec_loss_all_positions(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """L_R over every position of the rows' windows; also the states ``(B, L, d)``, the
        click times and the valid mask, for the search clicks' L_da."""
        rec_item = batch["rec_item"]
        seq = torch.cat([rec_item, batch["target"].unsqueeze(1)], 1)  # inputs seq[:, :-1], targets seq[:, 1:]
        # the negatives were drawn for the widest window: the last L line up with the positions
        neg = batch["neg"].view(seq.size(0), -1)[:, -rec_item.size(1):]
        x, rec_time, neg, seq = trim_left_padding(rec_item, batch["rec_time"], neg, seq)
        valid = x > 0
        fused = self.item_views(seq)["fused"]  # once for the inputs and the targets they share
        H = self.rec_encoder(fused[:, :-1], valid)
        rec = sampled_bce((H * fused[:, 1:]).sum(-1), (H * self.item_views(neg)["fused"]).sum(-1), valid)
        return rec, H, rec_time, valid

    @staticmethod
    def _state_before(H: Tensor, rec_time: Tensor, valid: Tensor, row: Tensor, time: Tensor) -> tuple[Tensor, Tensor]:
        """The recommendation state of row ``row`` after its clicks strictly before ``time``
        (one per search example) and whether there is one."""
        before = ((rec_time[row] < time.unsqueeze(1)) & valid[row]).sum(1)  # clicks before the search click
        n = valid[row].sum(1)
        idx = (H.size(1) - n + before - 1).clamp(min=0)  # left-padded: the c-th click sits at L - n + c - 1
        return H[row, idx], before > 0

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.config
        if self.all_positions:
            rec, H, rec_time, valid = self._rec_loss_all_positions(batch)
        else:
            hu = self.rec_state(batch["rec_item"])
            target = self.item_views(batch["target"])["fused"]
            neg = self.item_views(batch["neg"].view(-1))["fused"]
            pos_logit, neg_logit = (hu * target).sum(-1), (hu * neg).sum(-1)
            rec = (F.softplus(-pos_logit) + F.softplus(neg_logit)).mean()
        parts = {"rec": rec}
        total = parts["rec"]
        ex = None
        if "search_query" in batch:
            ex = self.search_examples(batch["search_query"], batch["search_item"],
                                      batch["search_time"] if self.all_positions else None)
        if ex is not None:
            # one uniform negative item per search example (a rare hit on a positive is kept)
            j = torch.randint(1, self.num_items + 1, ex["item"].shape, device=rec.device)
            weights = search_weights(cfg)
            if self.all_positions:
                rec_user, da_mask = self._state_before(H, rec_time, valid, ex["row"], ex["time"])
            else:
                rec_user, da_mask = hu[ex["row"]], None
            search = search_losses(cfg, ex["user"], ex["query"], ex, self.item_views(j), rec_user, da_mask)
            for key, value in search.items():
                parts[key] = value
                total = total + weights[key] * value
        return {"loss": total, **{k: v.detach() for k, v in parts.items()}}


__all__ = ["ClardRecSequential"]
