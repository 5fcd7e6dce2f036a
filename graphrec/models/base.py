"""What every graphrec model provides: the contract between models and the rest.

A model is an ``nn.Module`` built from a graph by :meth:`RecModel.from_data` with a
typed hyperparameter dataclass (``Config``). The trainer, the CLI and evaluation use
**only** what is listed here, so any model that provides it trains through
``graphrec train`` / ``compare`` / ``evaluate`` unchanged:

=============================================  ===========================================
``Config``                                     hyperparameter dataclass (``graphrec models
                                               show NAME`` prints it)
``train_defaults``                             trainer settings the model's paper uses
``from_data(data, config[, stages=...])``      build from the split graph (and the outputs
                                               of its stages, when it declares any)
``graph_requirements(config)``                 the node and edge types ``from_data`` reads
                                               (checked before anything runs)
``stages(config) -> list[Stage]``              cached steps before the fit (text embedding,
                                               RQ-VAE, k-means ...); see
                                               :mod:`graphrec.models.stage`
``load_stage(name, outputs)``                  receives a ``needs_model`` stage's outputs
``train_inputs() -> TrainInputs | None``       **what it trains on**: pairwise, sequence,
                                               subsequence, joint timeline, user-level, or
                                               a :class:`~graphrec.data.inputs.TrainInputs`
                                               subclass of its own; ``None`` = nothing to
                                               train (e.g. popularity)
``param_groups() -> list[dict] | None``        optimiser parameter groups (own ``lr`` /
                                               ``weight_decay`` per group), ``None`` = one
``on_epoch_start(data)``                       hook before every epoch (e.g. ICLRec's
                                               k-means E-step)
``loss(batch) -> dict``                        ``"loss"`` (the objective) plus its parts
``full_scores(users, history) -> (B, I)``      scores of every item (full ranking)
``score(users, items, history) -> (B, C)``     scores of given items (sampled protocols;
                                               never all items)
``recommend(users, history, k)``               top-k with seen items masked
=============================================  ===========================================

``history`` is whatever the model's :class:`~graphrec.data.inputs.TrainInputs`
gives at evaluation (:meth:`~graphrec.data.inputs.TrainInputs.eval_history`): by
default a :class:`~graphrec.data.ragged.Ragged` of each user's items before the
held-out one; a joint-timeline model gets its rec and search histories cut at the
held-out time. Models know no trainer.

Hyperparameters and constructors: ``Config`` is the single source of every
hyperparameter and its default -- a dataclass whose docstring documents each field
(``name: text`` entries, read by ``graphrec models show``), inheriting its backbone's
config (``CL4SRecConfig(SASRecConfig)``) so that a default is written once. A
constructor takes the graph-derived inputs explicitly (``num_users``, ``num_items``,
an adjacency ...) and the hyperparameters as ``config=`` and/or keywords checked
against ``Config``; it declares no hyperparameter or default of its own::

    def __init__(self, num_users, num_items, adj=None, config=None, **kwargs):
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)

so ``SASRec(num_users, num_items, dim=32)``, ``SASRec(num_users, num_items,
config=SASRecConfig(dim=32))`` and ``SASRec.from_data(data, cfg)`` are the same model
and ``model.config`` holds the result. A subclass resolves its (larger) config first
and hands it up by keyword: ``super().__init__(num_users=num_users,
num_items=num_items, adj=adj, config=cfg)``. ``tests/test_config.py`` checks this for
every registered model.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.config import ModelConfig, build_config, coerce, resolve_config
from graphrec.data.hetero import CLICKS
from graphrec.data.inputs import PairwiseInputs, TrainInputs
from graphrec.data.ragged import Ragged
from graphrec.models.stage import Stage, StageOutputs
from graphrec.typing import EdgeType


class RecModel(nn.Module):
    """Base class of graphrec's models (see the module docstring for the contract)."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: trainer settings this model's paper uses (the trainer's own defaults otherwise)
    train_defaults: ClassVar[dict[str, Any]] = {}
    registry_name: ClassVar[str] = ""

    num_users: int
    num_items: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "input_type" in cls.__dict__:  # the former contract; silently ignoring it would train wrongly
            raise TypeError(f"{cls.__name__}: 'input_type' was replaced by train_inputs(); return e.g. "
                            "SequenceInputs(max_len=...) or None (nothing to train) from it")

    @classmethod
    def from_data(cls, data: HeteroData, config: ModelConfig | None = None, *,
                  stages: Mapping[str, StageOutputs] | None = None) -> RecModel:
        """Build the model for the split graph ``data``; ``stages`` holds the outputs
        of the model's (non-``needs_model``) stages by name."""
        raise NotImplementedError

    @classmethod
    def graph_requirements(cls, config: ModelConfig) -> tuple[tuple[str, ...], tuple[EdgeType, ...]]:
        """``(node types, edge types)`` that :meth:`from_data` reads, checked by the run
        before any stage or training (:func:`~graphrec.data.schema.require_types`): a
        graph without one is refused with a message naming it. Default: users, items
        and their clicks."""
        return ("user", "item"), (CLICKS,)

    @classmethod
    def stages(cls, config: ModelConfig) -> list[Stage]:
        """Cached steps to run before the fit (none by default)."""
        return []

    def load_stage(self, name: str, outputs: StageOutputs) -> None:
        """Receive the outputs of a ``needs_model`` stage (called before the fit, and
        again when the model is rebuilt for evaluation or resume)."""
        raise NotImplementedError(f"{type(self).__name__} declares stage '{name}' but no load_stage()")

    def train_inputs(self) -> TrainInputs | None:
        """What the model trains on (BPR triples by default); ``None``: no training."""
        return PairwiseInputs()

    def param_groups(self) -> list[dict[str, Any]] | None:
        """Optimiser parameter groups (dicts with ``params`` and optionally ``lr``,
        ``weight_decay``; missing keys take the trainer's settings). Every trainable
        parameter must be in exactly one group. ``None``: all in one group."""
        return None

    def reset_parameters(self) -> None:
        pass

    def on_epoch_start(self, data: HeteroData) -> None:
        """Called by the trainer before every training epoch (e.g. ICLRec's
        k-means E-step over all users' sequence representations). No-op by default."""

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def full_scores(self, users: Tensor, history: Any) -> Tensor:
        """Scores ``(B, num_items)`` of every item for each user; ``history`` rows
        align with ``users``."""
        raise NotImplementedError

    def score(self, users: Tensor, items: Tensor, history: Any) -> Tensor:
        """Scores ``(B, C)`` of ``items (B, C)`` for ``users (B,)``.

        The sampled protocols call this and never score all items; models override
        it with a direct pair computation. This fallback gathers from
        :meth:`full_scores`, correct but as slow as full ranking."""
        return self.full_scores(users, history).gather(1, items.to(torch.long))

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


# ModelConfig, build_config and coerce live in graphrec.config; re-exported here for compatibility
__all__ = ["RecModel", "ModelConfig", "build_config", "coerce", "resolve_config"]
