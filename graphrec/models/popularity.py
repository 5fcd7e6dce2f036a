"""Most-popular baseline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.hetero import CLICKS
from graphrec.data.ragged import Ragged
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.resolver import register_model


@dataclass
class PopularityConfig(ModelConfig):
    """No hyperparameters: items are ranked by their training interaction count."""


@register_model("popularity")
class Popularity(RecModel):
    r"""Scores every item by its number of training interactions,
    :math:`\hat y_{u,i} = |\{u' : (u', i) \in \mathcal{D}_{train}\}|`, the same for all users."""

    Config = PopularityConfig

    def __init__(self, num_users: int, num_items: int, train_items: Tensor, config: PopularityConfig | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items = num_users, num_items
        self.register_buffer("counts", torch.bincount(train_items, minlength=num_items).float())

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> Popularity:
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   train_items=data[CLICKS].edge_index[1], config=cfg)

    def train_inputs(self) -> None:
        return None  # nothing to learn

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        return self.counts.unsqueeze(0).expand(users.numel(), -1).clone()

    def score(self, users: Tensor, items: Tensor, history: Ragged) -> Tensor:
        return self.counts[items]
