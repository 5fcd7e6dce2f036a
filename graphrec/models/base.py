"""What every graphrec model provides.

A model is an ``nn.Module`` built from a graph by :meth:`RecModel.from_data` with a
typed hyperparameter dataclass (``Config``). It exposes

* ``input_type``: which batches it trains on -- ``"pairwise"`` (BPR triples),
  ``"sequence"`` (padded windows) or ``"none"`` (no training, e.g. popularity);
* :meth:`loss` ``(batch) -> dict`` with a ``"loss"`` entry (plus its parts);
* :meth:`full_scores` ``(users, history) -> (B, num_items)`` scores for ranking;
* :meth:`recommend` top-k with seen items masked.

Models know no trainer: the trainer builds loaders from ``input_type`` and calls
these methods.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.ragged import Ragged


@dataclasses.dataclass
class ModelConfig:
    """Base of the per-model hyperparameter dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RecModel(nn.Module):
    input_type: ClassVar[str] = "pairwise"
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: trainer settings this model's paper uses (the trainer's own defaults otherwise)
    train_defaults: ClassVar[dict[str, Any]] = {}
    registry_name: ClassVar[str] = ""

    num_users: int
    num_items: int

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None) -> RecModel:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        pass

    def on_epoch_start(self, data: HeteroData) -> None:
        """Called by the trainer before every training epoch (e.g. ICLRec's
        k-means E-step over all users' sequence representations). No-op by default."""

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        """Scores of every item for each user; ``history`` rows align with ``users``."""
        raise NotImplementedError

    @torch.no_grad()
    def recommend(self, users: Tensor, history: Ragged, k: int = 10,
                  exclude: Ragged | None = None) -> Tensor:
        """Top-``k`` item indices per user; items in ``exclude`` (default: the
        history) are never recommended."""
        scores = self.full_scores(users, history).float()
        mask = exclude if exclude is not None else history
        rows = mask.row_index().to(scores.device)
        scores[rows, mask.values.to(scores.device)] = float("-inf")
        return scores.topk(min(k, scores.size(1)), dim=1).indices

    def extra_repr(self) -> str:
        return f"num_users={getattr(self, 'num_users', '?')}, num_items={getattr(self, 'num_items', '?')}"


def build_config(cls: type[ModelConfig], overrides: dict[str, Any] | None = None,
                 prefix: str = "") -> ModelConfig:
    """``cls(**overrides)`` with a clear error for unknown keys and type coercion
    of strings coming from the command line. ``prefix`` (e.g. ``"train."``) is put
    before key names in error messages."""
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {[prefix + k for k in unknown]} for {cls.__name__}; "
                         f"valid: {sorted(fields)}")
    defaults = cls()
    for key, value in overrides.items():
        overrides[key] = coerce(value, getattr(defaults, key), prefix + key)
    return cls(**overrides)


def coerce(value: Any, like: Any, key: str) -> Any:
    """Convert ``value`` (often a CLI string) to the type of the default ``like``."""
    if isinstance(value, str) and like is None:  # Optional field: read a YAML scalar
        import yaml

        return yaml.safe_load(value)
    if not isinstance(value, str) or isinstance(like, str):
        if isinstance(like, tuple) and isinstance(value, list):
            return tuple(value)
        return value
    try:
        if isinstance(like, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
        if isinstance(like, tuple):
            return tuple(type(like[0])(v) if like else v for v in value.split(","))
    except ValueError:
        raise ValueError(f"cannot parse {key}={value!r} as {type(like).__name__}") from None
    return value


__all__ = ["RecModel", "ModelConfig", "build_config", "coerce"]
