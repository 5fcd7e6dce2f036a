"""DuoRec: contrastive learning against representation degeneration."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.models.base import ModelConfig
from graphrec.models.sasrec import SASRec
from graphrec.nn.losses import info_nce
from graphrec.resolver import register_model


@dataclass
class DuoRecConfig(ModelConfig):
    """Args:
        dim, max_len, num_layers, num_heads, dropout, norm_first: SASRec backbone (64, 50, 2,
            2, 0.5, post-LN).
        cl_weight: lambda of the contrastive regulariser (0.1, DuoRec paper).
        temperature: InfoNCE temperature (1.0).
        similarity: ``"dot"`` (DuoRec default) or ``"cos"``.
        mask_false_negatives: drop in-batch views with the same target from the denominator
            (not in DuoRec; ICSRec's later fix). Off by default.
        min_input_len: shortest training prefix (1: every prefix, as RecBole's sequential data).
    """

    dim: int = 64
    max_len: int = 50
    num_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.5
    norm_first: bool = False
    cl_weight: float = 0.1
    temperature: float = 1.0
    similarity: str = "dot"
    mask_false_negatives: bool = False
    min_input_len: int = 1


@register_model("duorec")
class DuoRec(SASRec):
    r"""DuoRec (`Qiu et al., WSDM 2022 <https://arxiv.org/abs/2110.05730>`_): SASRec with
    full-softmax cross-entropy on prefix subsequences, regularised by contrasting the
    dropout-augmented representation :math:`\mathbf{h}'` of a sequence with that of a
    *semantic positive* :math:`\mathbf{h}'_s`, another training subsequence with the same
    target item (supervised + unsupervised augmentation, the paper's ``us_x`` mode):

    .. math::
        \mathcal{L} = \mathcal{L}_{rec} + \lambda\, \mathrm{InfoNCE}(\mathbf{h}', \mathbf{h}'_s)

    with in-batch negatives. Trains on :class:`~graphrec.data.loader.SubsequenceLoader`
    batches; a subsequence whose target occurs nowhere else is its own partner, so the
    two dropout masks are its only difference.
    """

    input_type = "subsequence"
    Config = DuoRecConfig

    def __init__(self, num_users: int, num_items: int, dim: int = 64, max_len: int = 50, num_layers: int = 2,
                 num_heads: int = 2, dropout: float = 0.5, norm_first: bool = False, cl_weight: float = 0.1,
                 temperature: float = 1.0, similarity: str = "dot", mask_false_negatives: bool = False,
                 min_input_len: int = 1) -> None:
        super().__init__(num_users, num_items, dim, max_len, num_layers, num_heads, dropout, "ce", norm_first)
        if similarity not in ("dot", "cos"):
            raise ValueError(f"similarity must be 'dot' or 'cos', got {similarity!r}")
        self.cl_weight, self.temperature, self.similarity = cl_weight, temperature, similarity
        self.mask_false_negatives, self.min_input_len = mask_false_negatives, min_input_len

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> DuoRec:
        cfg = config or DuoRecConfig()
        return cls(data["user"].num_nodes, data["item"].num_nodes, **cfg.to_dict())

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        seq, target = batch["input"], batch["target"]
        h = self.encode(seq)[:, -1]
        rec = F.cross_entropy(h @ self.item_emb.table()[1:].t(), target - 1)
        if self.cl_weight <= 0:
            return {"loss": rec, "rec": rec.detach()}
        h_s = self.encode(batch.get("partner", seq))[:, -1]
        labels = target if self.mask_false_negatives else None
        cl = info_nce(h, h_s, self.temperature, self.similarity, labels)
        return {"loss": rec + self.cl_weight * cl, "rec": rec.detach(), "cl": cl.detach()}


__all__ = ["DuoRec", "DuoRecConfig"]
