"""Your own model through the ``graphrec`` command: a new kind of batch and a cached stage.

This file defines a model that the trainer has never heard of:

* its **inputs** are a ``TrainInputs`` subclass written here (positive pairs only; the
  other items of the batch are the negatives of a sampled softmax);
* it declares a **stage**: a truncated SVD of the training user-item matrix whose item
  factors initialise the item embeddings, computed once and cached on disk;

and trains, evaluates and resumes through the unchanged CLI::

    graphrec --plugin examples/own_model.py train --model svd_softmax_mf --output runs/own
    graphrec --plugin examples/own_model.py evaluate runs/own/checkpoint.pt   # stage read from cache

Run as a script, it does both and prints what happened to the stage each time.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.data.hetero import CLICKS, heldout
from graphrec.data.inputs import TrainInputs
from graphrec.models.base import ModelConfig, RecModel, resolve_config
from graphrec.models.stage import Stage, StageContext
from graphrec.resolver import register_model


@dataclass
class PositivePairs(TrainInputs):
    """Shuffled ``(user, item)`` training clicks; validation: the held-out pairs."""

    def loader(self, data, split="train", *, batch_size, generator=None, length_buckets=0):  # noqa: ANN001, ANN201
        pairs = data[CLICKS].edge_index if split == "train" else heldout(data, split)[0]
        order = torch.randperm(pairs.size(1), generator=generator) if split == "train" else torch.arange(pairs.size(1))
        return [{"user": pairs[0, idx], "item": pairs[1, idx]} for idx in order.split(batch_size)]


def item_svd(ctx: StageContext) -> dict[str, Tensor]:
    r"""Item factors :math:`V_k \Sigma_k^{1/2}` of the rank-``dim`` SVD of the training
    user-item matrix (dense here: fine for a small catalogue)."""
    data = ctx.data
    users, items = data[CLICKS].edge_index
    m = torch.zeros(data["user"].num_nodes, data["item"].num_nodes)
    m[users, items] = 1.0
    _, s, v = torch.linalg.svd(m, full_matrices=False)
    k = ctx.settings["dim"]
    return {"item_factors": v[:k].t() * s[:k].sqrt()}


@dataclass
class SVDSoftmaxMFConfig(ModelConfig):
    """Args:
        dim: embedding size (32).
        temperature: softmax temperature of the in-batch loss (0.2).
    """

    dim: int = 32
    temperature: float = 0.2


@register_model("svd_softmax_mf")
class SVDSoftmaxMF(RecModel):
    r"""Matrix factorisation trained with in-batch sampled softmax,

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{b} \log
        \frac{\exp(\mathbf{e}_{u_b}^\top \mathbf{e}_{i_b} / \tau)}
             {\sum_{b'} \exp(\mathbf{e}_{u_b}^\top \mathbf{e}_{i_{b'}} / \tau)},

    with item embeddings initialised from a cached SVD stage.
    """

    Config = SVDSoftmaxMFConfig
    train_defaults = {"batch_size": 512, "lr": 5e-3}

    def __init__(self, num_users: int, num_items: int, item_init: Tensor,
                 config: SVDSoftmaxMFConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items, self.temperature = num_users, num_items, cfg.temperature
        self.user_emb = nn.Embedding(num_users, cfg.dim)
        self.item_emb = nn.Embedding(num_items, cfg.dim)
        self.register_buffer("item_init", item_init)
        self.reset_parameters()

    @classmethod
    def stages(cls, config: SVDSoftmaxMFConfig) -> list[Stage]:
        return [Stage("item_svd", item_svd, settings={"dim": config.dim})]

    @classmethod
    def from_data(cls, data, config=None, *, stages=None) -> SVDSoftmaxMF:  # noqa: ANN001
        cfg = resolve_config(cls.Config, config, owner=cls.__name__)
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   item_init=stages["item_svd"]["item_factors"], config=cfg)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_emb.weight, std=0.1)
        with torch.no_grad():
            self.item_emb.weight.copy_(self.item_init)

    def train_inputs(self) -> PositivePairs:
        return PositivePairs()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        logits = self.user_emb(batch["user"]) @ self.item_emb(batch["item"]).t() / self.temperature
        return {"loss": F.cross_entropy(logits, torch.arange(logits.size(0), device=logits.device))}

    def full_scores(self, users: Tensor, history: Any) -> Tensor:
        return self.user_emb(users) @ self.item_emb.weight.t()

    def score(self, users: Tensor, items: Tensor, history: Any) -> Tensor:
        return (self.user_emb(users).unsqueeze(1) * self.item_emb(items)).sum(-1)


if __name__ == "__main__":
    from graphrec.cli import main

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.output or tempfile.mkdtemp(prefix="graphrec-own-")
    small = ["--set", "data.num_users=600", "--set", "data.num_items=300", "--set", "train.num_threads=1", "-q"]
    for model in ("popularity", "svd_softmax_mf"):
        main(["train", "--model", model, "--output", os.path.join(out, model),
              "--set", f"train.epochs={args.epochs}", *small])
    with open(os.path.join(out, "svd_softmax_mf", "results.json")) as f:
        res = json.load(f)
    for st in res["stages"]:
        print(f"train: stage {st['name']} {'read from cache' if st['cached'] else 'computed'} "
              f"in {st['seconds']:.2f}s (key {st['key']})")
    main(["evaluate", os.path.join(out, "svd_softmax_mf", "checkpoint.pt"),
          "--output", os.path.join(out, "evaluate.json")])
    with open(os.path.join(out, "evaluate.json")) as f:
        ev = json.load(f)
    for st in ev["stages"]:
        print(f"evaluate: stage {st['name']} {'read from cache' if st['cached'] else 'recomputed'} "
              f"({st['run_seconds']:.3f}s)")
