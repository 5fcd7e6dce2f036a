"""ICLRec: intent contrastive learning for sequential recommendation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import train_history
from graphrec.data.loader import item_windows
from graphrec.data.ragged import Ragged
from graphrec.models.base import resolve_config
from graphrec.models.cl4srec import CL4SRec, CL4SRecConfig
from graphrec.nn.cluster import intent_centroids, nearest_centroid
from graphrec.nn.losses import info_nce
from graphrec.ops import CSRAdjacency
from graphrec.resolver import register_model


@dataclass
class ICLRecConfig(CL4SRecConfig):
    """CL4SRec's arguments (``cl_weight`` = ICLRec's ``cf_weight`` 0.1, ``cl_pooling``
    ``"concat"`` = its instance-CL representation) plus the following.

    Args:
        num_intents: K of k-means (256, ICLRec default).
        intent_weight: weight of the intent contrastive loss (0.3, the argparse default of
            ICLRec's ``intent_cf_weight``; its released scripts use 0.1).
        kmeans_iters: Lloyd iterations per E-step (20, as ICLRec sets faiss').
        kmeans_restarts: k-means fits per E-step, the lowest inertia kept (1; ICLRec's faiss
            ``nredo=5``).
        kmeans_split_empty: re-seed an empty cluster by splitting the largest, as faiss
            does (``False``: it keeps its old centroid).
        kmeans_seed: seed of the k-means draws at every E-step (-1: the global generator;
            ICLRec seeds faiss with its run seed every epoch).
        normalize_centroids: contrast the views with L2-normalised centroids (assignment
            still uses the raw ones), as ICLRec's code does (``False``).
        mask_same_intent: drop in-batch views with the same intent from the denominator
            (ICLRec's ``intent_cf_user_overlap``-style false-negative mitigation; off by default).
        warm_up_epochs: epochs before the intent loss starts (0).
    """

    cl_pooling: str = "concat"
    num_intents: int = 256
    intent_weight: float = 0.3
    kmeans_iters: int = 20
    kmeans_restarts: int = 1
    kmeans_split_empty: bool = False
    kmeans_seed: int = -1
    normalize_centroids: bool = False
    mask_same_intent: bool = False
    warm_up_epochs: int = 0

    # the intent mean pools over padding with pool_padding, whatever cl_pooling is
    pools_beyond_contrast: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        self.require_positive("num_intents", "kmeans_iters", "kmeans_restarts")
        self.require_non_negative("intent_weight", "warm_up_epochs")
        if self.kmeans_seed < -1:
            self._fail("kmeans_seed", ">= 0, or -1 (the global generator)")


@register_model("iclrec")
class ICLRec(CL4SRec):
    r"""ICLRec (`Chen et al., WWW 2022 <https://arxiv.org/abs/2202.02519>`_): EM-style
    intent learning on top of SASRec + CL4SRec.

    *E-step* (:meth:`on_epoch_start`, every epoch): encode every user's training
    sequence, mean-pool over its real positions, and cluster with k-means into
    :math:`K` intents :math:`\{\mathbf{c}_k\}`. *M-step* (:meth:`loss`): each
    sequence's intent is its nearest centroid :math:`\mathbf{c}(s)`; both augmented
    views are pulled toward it with in-batch InfoNCE:

    .. math::
        \mathcal{L} = \mathcal{L}_{rec} + \lambda\,\mathcal{L}_{SeqCL}
        + \beta\,\tfrac12\big[\mathcal{L}_{ICL}(\tilde{\mathbf{h}}_1, \mathbf{c}(s))
        + \mathcal{L}_{ICL}(\tilde{\mathbf{h}}_2, \mathbf{c}(s))\big]

    The mean pooling ignores padding positions unless ``pool_padding`` (the reference
    code's mean runs over all ``max_len`` positions).
    """

    Config = ICLRecConfig

    def __init__(self, num_users: int, num_items: int, adj: CSRAdjacency | None = None,
                 config: ICLRecConfig | None = None, **kwargs: Any) -> None:
        cfg = resolve_config(self.Config, config, kwargs, type(self).__name__)
        super().__init__(num_users=num_users, num_items=num_items, adj=adj, config=cfg)
        self.num_intents, self.intent_weight, self.kmeans_iters = cfg.num_intents, cfg.intent_weight, cfg.kmeans_iters
        self.mask_same_intent, self.warm_up_epochs = cfg.mask_same_intent, cfg.warm_up_epochs
        self.kmeans_restarts, self.kmeans_seed = cfg.kmeans_restarts, cfg.kmeans_seed
        self.kmeans_split_empty = cfg.kmeans_split_empty
        self.normalize_centroids = cfg.normalize_centroids
        self.epochs_seen = 0
        # refitted every epoch, so not part of the checkpoint
        self.register_buffer("centroids", torch.empty(0, self.item_emb.embedding_dim), persistent=False)

    @torch.no_grad()
    def sequence_representations(self, history: Ragged, chunk: int = 2048) -> Tensor:
        """Mean-pooled encodings ``(num_rows, d)`` of the given histories."""
        dev = self.item_emb.weight.device
        seq = item_windows(history, self.max_len).to(dev)
        out = [self.pooled(self.encode(s), s, "mean") for s in seq.split(chunk)]
        return torch.cat(out) if out else torch.empty(0, self.item_emb.embedding_dim, device=dev)

    def on_epoch_start(self, data: HeteroData) -> None:
        self.epochs_seen += 1
        if self.intent_weight <= 0 or self.epochs_seen <= self.warm_up_epochs:
            return
        was = self.training
        self.eval()
        hist = train_history(data)
        x = self.sequence_representations(hist.select(torch.nonzero(hist.lengths() > 0).flatten()))
        if x.size(0):
            self.centroids = intent_centroids(x, self.num_intents, self.kmeans_iters, self.kmeans_restarts,
                                              self.kmeans_split_empty, self.kmeans_seed)
        self.train(was)

    def intents(self, z: Tensor) -> Tensor:
        """Nearest centroid of each row of ``z``."""
        return nearest_centroid(z, self.centroids)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        batch = self.full_width(batch)
        seq = batch["input"]
        h = self.encode(seq)
        rec = self.rec_loss(h, batch)
        cl, (v1, h1), (v2, h2) = self.cl_loss(seq)
        total = rec + self.cl_weight * cl
        out = {"rec": rec.detach(), "cl": cl.detach()}
        if self.intent_weight > 0 and self.centroids.numel():
            ids = self.intents(self.pooled(h, seq, "mean").detach())
            c = self.centroids[ids]
            if self.normalize_centroids:
                c = F.normalize(c, dim=-1)
            labels = ids if self.mask_same_intent else None
            z1, z2 = self.pooled(h1, v1, "mean"), self.pooled(h2, v2, "mean")
            icl = 0.5 * (info_nce(z1, c, self.temperature, self.similarity, labels)
                         + info_nce(z2, c, self.temperature, self.similarity, labels))
            total = total + self.intent_weight * icl
            out["icl"] = icl.detach()
        return {"loss": total, **out}


__all__ = ["ICLRec", "ICLRecConfig"]
