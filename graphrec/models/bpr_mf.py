"""Matrix factorisation trained with BPR."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.ragged import Ragged
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.nn.losses import bpr_loss, l2_reg
from graphrec.resolver import register_model


@dataclass
class BPRMFConfig(ModelConfig):
    """Args:
        dim: embedding size (64, as in the LightGCN paper's MF baseline).
        reg_weight: weight of the L2 penalty on the batch's embeddings (1e-4).
    """

    dim: int = 64
    reg_weight: float = 1e-4

    def validate(self) -> None:
        super().validate()
        self.require_positive("dim")
        self.require_non_negative("reg_weight")


@register_model("bpr_mf")
class BPRMF(RecModel):
    r"""BPR-MF (`Rendle et al., UAI 2009 <https://arxiv.org/abs/1205.2618>`_):

    .. math::
        \hat y_{u,i} = \mathbf{e}_u^\top \mathbf{e}_i, \qquad
        \mathcal{L} = -\log\sigma(\hat y_{u,i} - \hat y_{u,j})
        + \lambda \frac{1}{2B}(\lVert e_u\rVert^2 + \lVert e_i\rVert^2 + \lVert e_j\rVert^2)
    """

    Config = BPRMFConfig
    train_defaults = {"batch_size": 2048, "lr": 1e-3}

    def __init__(self, num_users: int, num_items: int, config: BPRMFConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items, self.reg_weight = num_users, num_items, cfg.reg_weight
        self.user_emb = nn.Embedding(num_users, cfg.dim)
        self.item_emb = nn.Embedding(num_items, cfg.dim)
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> BPRMF:
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes, config=cfg)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        u = self.user_emb(batch["user"])
        i, j = self.item_emb(batch["pos"]), self.item_emb(batch["neg"])
        rec = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        reg = self.reg_weight * l2_reg(u, i, j, batch_size=u.size(0))
        return {"loss": rec + reg, "bpr": rec.detach(), "reg": reg.detach()}

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        return self.user_emb(users) @ self.item_emb.weight.t()

    def score(self, users: Tensor, items: Tensor, history: Ragged) -> Tensor:
        return (self.user_emb(users).unsqueeze(1) * self.item_emb(items)).sum(-1)
