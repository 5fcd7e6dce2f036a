"""The training loop: the model's declared inputs, one optimiser (Adam or AdamW, with
parameter groups, gradient clipping and an LR schedule), early stopping on a
validation ranking metric or a validation loss, atomic checkpoints, resume, seeds,
evaluation under any protocol, optionally by user group.

The trainer uses only the model contract of :mod:`graphrec.models.base`.

Under ``torchrun`` (a process group initialised by
:func:`graphrec.train.distributed.init_from_env`) the same trainer runs data-parallel:
each rank takes its share of every batch and steps a ``DistributedDataParallel``
wrapper of the model's ``loss``; evaluation shards the users and sums the metrics
over ranks; rank 0 alone writes the checkpoint. ``docs/distributed.md`` gives the
semantics; a single process runs exactly the code it always ran.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import logging
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from graphrec.config import check_field_types
from graphrec.data.groups import user_groups
from graphrec.data.hetero import CLICKS, eval_targets, has_heldout, history
from graphrec.data.inputs import SampledPairwiseInputs, TrainInputs
from graphrec.metrics import parse_protocol, ranking_metrics
from graphrec.metrics.ranking import default_memory_budget
from graphrec.models.base import RecModel
from graphrec.nn.encoders import SequenceTransformer
from graphrec.train import distributed
from graphrec.train.checkpoint import load_checkpoint, load_weights, require_keys, save_checkpoint

log = logging.getLogger("graphrec.train")

OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "linear", "plateau")


@dataclass
class TrainConfig:
    """Args:
        epochs: maximum epochs.
        batch_size: training batch size (models may set their own default).
        lr: learning rate (of every parameter group that sets none).
        weight_decay: L2 weight decay of Adam, decoupled weight decay of AdamW.
        optimizer: ``"adam"`` or ``"adamw"``.
        grad_clip: clip the global gradient norm to this value before each step (0: off).
        lr_schedule: ``"constant"``, ``"cosine"`` (to 0 at the last epoch) or ``"linear"``
            (to 0), applied per epoch after ``warmup_epochs`` of linear warm-up; or
            ``"plateau"``: PyTorch's ``ReduceLROnPlateau`` on the validation criterion
            (``metric``), each LR multiplied by ``lr_decay`` once ``lr_patience``
            evaluations in a row have not improved it, never below ``min_lr``, and early
            stopping counts only evaluations at that floor (``patience`` of them without a
            new best stop the run): the schedule of SESRec's released trainer. It needs a
            validation split, a ``min_lr`` above 0 and no warm-up.
        lr_decay: ``"plateau"``: the factor of each cut (PyTorch's default, 0.1).
        lr_patience: ``"plateau"``: evaluations without improvement tolerated; the next one
            cuts the LR (PyTorch's ``patience``).
        min_lr: ``"plateau"``: the LR floor (> 0: early stopping waits for it).
        warmup_epochs: epochs of linear LR warm-up from ``lr / (warmup_epochs + 1)``.
        eval_every: evaluate on validation every this many epochs.
        patience: stop after this many evaluations without improvement.
        metric: validation criterion for model selection and early stopping: a ranking
            metric such as ``"ndcg@10"`` (higher is better), or ``"loss"`` /
            ``"loss.<part>"`` -- the model's loss (or one of its named parts, e.g. an
            ELBO) averaged over validation batches (lower is better), for models that
            are not rankers.
        ks: cut-offs reported.
        eval_chunk: users scored at once during evaluation; ``None`` picks it so one
            chunk's buffers fit in ``eval_memory_mb``.
        eval_memory_mb: memory for one evaluation chunk when ``eval_chunk`` is ``None``;
            ``None``: :data:`graphrec.metrics.ranking.EVAL_MEMORY_BUDGET` of the device
            (32 MiB on a CPU, which keeps a chunk in cache: ~90 users at Gowalla's
            40,981 items, 1.7x faster than 1,024; 1 GiB on a GPU).
        protocol: ``"full"`` ranking over all items, ``"sampled-<n>"`` (each target
            against ``n`` uniformly sampled negatives, the SASRec paper's protocol) or
            ``"sampled-pop-<n>"`` (negatives drawn in proportion to training
            popularity, GSERec's protocol). Sampled protocols score only the sampled
            pairs (``model.score``) and are labelled as such in every result.
        groups: name of a user grouping (e.g. ``"search_activity"``: ``no_search``,
            ``sparse``, ``rich``) under which validation and test metrics are also
            reported per group; ``None``: no breakdown.
        stage_cache: folder of the stages' cache (default ``$GRAPHREC_CACHE/stages``).
        seed: seeds Python, NumPy and torch, and the loaders' generator.
        device: ``"cpu"``, ``"cuda"``, ...
        progress: show a progress bar.
        track_test: also record test metrics at each evaluation (for curves; never
            used for model selection). Used where a protocol has no validation set.
        max_batches: cap on batches per epoch (smoke tests).
        length_buckets: group sequence batches by length in chunks of this many batches
            and cut their common padding (0: off, random batches of full width). An exact
            saving per batch; it changes only which rows share a batch.
        encoder_length_groups: every :class:`~graphrec.nn.encoders.SequenceTransformer` of
            the model encodes each batch in this many groups of similar length, each cut to
            its longest row (1: off). The same values with less work on padding, and unlike
            ``length_buckets`` the batches keep their rows (in-batch negatives unchanged);
            a CPU saving, slower on a GPU.
        num_threads: intra-op CPU threads (``None``: torch's default). On a shared
            or small machine ``1`` avoids thread oversubscription, which made SASRec
            steps ~6x slower with 2 threads on a loaded 2-core box.
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    grad_clip: float = 0.0
    lr_schedule: str = "constant"
    lr_decay: float = 0.1
    lr_patience: int = 5
    min_lr: float = 0.0
    warmup_epochs: int = 0
    eval_every: int = 1
    patience: int = 5
    metric: str = "ndcg@10"
    ks: tuple[int, ...] = (5, 10, 20)
    eval_chunk: int | None = None
    eval_memory_mb: int | None = None
    protocol: str = "full"
    groups: str | None = None
    stage_cache: str | None = None
    seed: int = 2024
    device: str = "cpu"
    progress: bool = True
    track_test: bool = False
    max_batches: int | None = None
    length_buckets: int = 0
    encoder_length_groups: int = 1
    num_threads: int | None = None

    def __post_init__(self) -> None:
        self.ks = tuple(self.ks)
        check_field_types(self, prefix="train.")
        if self.eval_chunk is not None and self.eval_chunk < 1:
            raise ValueError(f"train.eval_chunk must be >= 1 or None, got {self.eval_chunk!r}")
        if self.eval_memory_mb is not None and self.eval_memory_mb < 1:
            raise ValueError(f"train.eval_memory_mb must be >= 1 or None, got {self.eval_memory_mb!r}")
        for name in ("epochs", "batch_size", "eval_every", "encoder_length_groups"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("patience", "warmup_epochs", "length_buckets", "lr_patience"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)!r}")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise ValueError(f"train.lr must be a finite number >= 0, got {self.lr!r}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("train.weight_decay and train.grad_clip must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"train.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"train.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 < self.lr_decay < 1:
            raise ValueError(f"train.lr_decay must be in (0, 1), got {self.lr_decay!r}")
        if not (self.min_lr >= 0 and math.isfinite(self.min_lr)):
            raise ValueError(f"train.min_lr must be a finite number >= 0, got {self.min_lr!r}")
        if self.lr_schedule != "plateau":
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            changed = [n for n in ("lr_decay", "lr_patience", "min_lr") if getattr(self, n) != defaults[n]]
            if changed:
                raise ValueError(f"train.{changed[0]}={getattr(self, changed[0])!r} only applies to "
                                 f"train.lr_schedule='plateau', not {self.lr_schedule!r}")
        if self.lr_schedule == "plateau" and not self.min_lr > 0:
            raise ValueError("train.lr_schedule='plateau' needs train.min_lr > 0: early stopping waits for the "
                             "LR to reach it (SESRec's authors use 1e-5)")
        if self.lr_schedule == "plateau" and self.warmup_epochs:
            raise ValueError(f"train.warmup_epochs={self.warmup_epochs} with train.lr_schedule='plateau': the "
                             "plateau schedule has no warm-up; set one of them to its default")
        if not self.ks or any(int(k) < 1 for k in self.ks):
            raise ValueError(f"train.ks must be positive cut-offs, got {self.ks!r}")
        parse_protocol(self.protocol)  # raises on an unknown label
        check_device(self.device)
        if self.max_batches is not None and self.max_batches < 1:
            raise ValueError(f"train.max_batches must be >= 1 or None, got {self.max_batches!r}")
        if not self.minimize_metric:
            ranking = {"hr", "ndcg", "recall", "precision"}
            name, _, k = self.metric.partition("@")
            if not (self.metric == "mrr" or (name in ranking and k.isdigit() and int(k) in self.ks)):
                raise ValueError(f"train.metric={self.metric!r}: use mrr, hr/ndcg/recall/precision@k with k in "
                                 f"train.ks={list(self.ks)}, or loss / loss.<part>")

    @property
    def minimize_metric(self) -> bool:
        """Whether the validation criterion is a loss (lower is better)."""
        return self.metric == "loss" or self.metric.startswith("loss.")

    @property
    def metric_key(self) -> str:
        """The criterion's key in its record: the ranking metric's name, or the loss
        entry (``"loss"`` or the part after ``"loss."``)."""
        return self.metric.removeprefix("loss.") if self.minimize_metric else self.metric

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_device(device: str) -> None:
    """Raise a ValueError naming ``train.device`` when ``device`` is not a torch
    device string or names an accelerator this machine does not have (checked
    before anything is built, not at the first tensor moved)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"train.device={device!r} is not a device ({exc})") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "meta": False,
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(dev.type, True):
        raise ValueError(f"train.device={device!r}: this machine has no {dev.type} device "
                         f"(torch {torch.__version__}); use train.device=cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"train.device={device!r}: only {torch.cuda.device_count()} CUDA device(s) here")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def numpy_rng_state() -> dict[str, Any]:
    """NumPy's global RNG state as plain values (a checkpoint must load with
    ``weights_only=True``, which refuses NumPy arrays)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def set_numpy_rng_state(state: dict[str, Any]) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"],
                         state["has_gauss"], state["cached_gaussian"]))


@dataclass
class TrainState:
    epoch: int = 0
    best_epoch: int = 0
    #: best validation criterion so far (a loss when the metric is one)
    best_score: float | None = None
    bad_rounds: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


_DDP_ARGS = frozenset(inspect.signature(DistributedDataParallel.__init__).parameters)


class _LossForward(nn.Module):
    """``forward(batch) = model.loss(batch)``: DistributedDataParallel hooks the
    gradient all-reduce into ``forward``, and the model contract's training entry
    point is ``loss``."""

    def __init__(self, model: RecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return self.model.loss(batch)


class Trainer:
    """Train ``model`` on ``data`` and evaluate it.

    Args:
        model: a :class:`~graphrec.models.base.RecModel`.
        data: the split HeteroData of a dataset.
        config: training settings.
        output_dir: where ``checkpoint.pt`` (latest + best weights) goes; ``None``
            keeps everything in memory.
        groups: user groups for the evaluation breakdown, ``(group id per user
            (num_users,), group names)``; overrides ``config.groups``.
    """

    def __init__(self, model: RecModel, data: HeteroData, config: TrainConfig | None = None,
                 output_dir: str | None = None, groups: tuple[Tensor, list[str]] | None = None) -> None:
        self.config = config or TrainConfig()
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        self.device = torch.device(self.config.device)
        self.world_size, self.rank = distributed.get_world_size(), distributed.get_rank()
        if self.world_size > 1 and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # the local rank's GPU
        self.model = model.to(self.device)
        if self.config.encoder_length_groups > 1:
            for module in model.modules():
                if isinstance(module, SequenceTransformer):
                    module.length_groups = self.config.encoder_length_groups
        #: the DistributedDataParallel wrapper of the model's loss (built by ``fit`` under torchrun)
        self.ddp: DistributedDataParallel | None = None
        self.data = data
        self.output_dir = output_dir
        self.generator = seed_everything(self.config.seed)
        self.inputs = model.train_inputs()
        if self.inputs is not None and not isinstance(self.inputs, TrainInputs):
            raise TypeError(f"{type(model).__name__}.train_inputs() must return a TrainInputs or None, "
                            f"got {type(self.inputs).__name__}")
        if self.world_size > 1 and isinstance(self.inputs, SampledPairwiseInputs):
            # each rank would need its own subgraph per share of the triples; not built yet
            raise ValueError(f"{type(model).__name__}: training on sampled subgraphs (num_neighbors) is "
                             "single-process for now; under torchrun train full-batch")
        if groups is None and self.config.groups:
            groups = user_groups(self.config.groups, data)
        self.groups = groups
        self.optimizer = self._make_optimizer() if self.inputs is not None else None
        self.state = TrainState()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.has_valid = has_heldout(data, "valid")
        self.scheduler = self._make_scheduler() if self.optimizer is not None else None
        if self.config.minimize_metric and self.inputs is None:
            raise ValueError(f"train.metric={self.config.metric!r} is a validation loss, but "
                             f"{type(model).__name__} trains on nothing")

    # ---- optimisation ---------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer | None:
        cfg, model = self.config, self.model
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            return None
        groups = model.param_groups()
        if groups is None:
            groups = [{"params": trainable}]
        seen: dict[int, int] = {}
        for g, group in enumerate(groups):
            group["params"] = list(group["params"])
            for p in group["params"]:
                if id(p) in seen:
                    raise ValueError(f"{type(model).__name__}.param_groups(): a parameter is in groups "
                                     f"{seen[id(p)]} and {g}")
                seen[id(p)] = g
        missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
        if missing:
            raise ValueError(f"{type(model).__name__}.param_groups() leaves out trainable parameters {missing[:5]}")
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        return opt_cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    @property
    def on_plateau(self) -> bool:
        return self.config.lr_schedule == "plateau"

    def _make_scheduler(self) -> Any:
        cfg = self.config
        if not self.on_plateau:
            return torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        if not self.has_valid:
            raise ValueError("train.lr_schedule='plateau' follows the validation criterion, and this split "
                             "has no validation set; use another lr_schedule")
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min" if cfg.minimize_metric else "max", factor=cfg.lr_decay,
            patience=cfg.lr_patience, min_lr=cfg.min_lr)

    def _at_lr_floor(self) -> bool:
        """Whether every parameter group's LR is at ``min_lr`` (a group started below it
        counts as there: the schedule never raises an LR)."""
        return all(g["lr"] <= self.config.min_lr * (1 + 1e-9) for g in self.optimizer.param_groups)

    def _lr_factor(self, epoch: int) -> float:
        """LR multiplier for the epoch after ``epoch`` completed epochs."""
        cfg = self.config
        if epoch < cfg.warmup_epochs:
            return (epoch + 1) / (cfg.warmup_epochs + 1)
        if cfg.lr_schedule == "constant":
            return 1.0
        span = max(cfg.epochs - cfg.warmup_epochs, 1)
        progress = min((epoch - cfg.warmup_epochs) / span, 1.0)
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    # ---- batches --------------------------------------------------------------------
    def make_loader(self, split: str = "train"):  # noqa: ANN201
        """The model's declared batches for ``split`` (``None`` when it trains on nothing)."""
        if self.inputs is None:
            return None
        gen = self.generator if split == "train" else torch.Generator().manual_seed(self.config.seed)
        return self.inputs.loader(self.data, split, batch_size=self.config.batch_size, generator=gen,
                                  length_buckets=self.config.length_buckets if split == "train" else 0)

    def eval_history(self, split: str) -> Any:
        """What the model's scorers get for ``split`` (see ``TrainInputs.eval_history``)."""
        if self.inputs is None:
            return history(self.data, split)
        return self.inputs.eval_history(self.data, split)

    # ---- evaluation -----------------------------------------------------------------
    def _eval_memory_budget(self) -> int:
        if self.config.eval_memory_mb is not None:
            return self.config.eval_memory_mb * 2**20
        return default_memory_budget(self.device)

    @torch.no_grad()
    def evaluate(self, split: str = "valid", progress: bool = False) -> dict[str, Any]:
        """Ranking metrics on ``split`` under ``config.protocol`` (training -- and for
        test, validation -- items masked); with groups, also ``"groups": {name:
        {metric: value, "users": n}}``."""
        self.model.eval()
        users, targets, exclude = eval_targets(self.data, split)
        if users.numel() == 0:
            return {}
        hist = self.eval_history(split).select(users)
        # the ranking functions hand out chunks of `users`; map them back to rows of `hist`
        lookup = torch.full((self.data["user"].num_nodes,), -1, dtype=torch.long)
        lookup[users] = torch.arange(users.numel())
        num_items = self.data["item"].num_nodes
        group_kw: dict[str, Any] = {}
        if self.groups is not None:
            ids, names = self.groups
            group_kw = {"groups": ids[users], "group_names": list(names)}

        def score_fn(chunk: Tensor) -> Tensor:
            return self.model.full_scores(chunk.to(self.device), hist.select(lookup[chunk])).float().cpu()

        def pair_fn(chunk: Tensor, items: Tensor) -> Tensor:
            return self.model.score(chunk.to(self.device), items.to(self.device),
                                    hist.select(lookup[chunk])).float().cpu()

        protocol = parse_protocol(self.config.protocol)
        popularity = None
        if protocol.sampler == "popularity":  # training interactions per item
            popularity = torch.bincount(self.data[CLICKS].edge_index[1], minlength=num_items).double()
        shard_kw: dict[str, Any] = {}
        if self.world_size > 1:  # each rank scores its share of the users; the sums add up over ranks
            shard_kw = {"shard": (self.rank, self.world_size), "reduce": distributed.all_reduce_sum}
            progress = progress and self.rank == 0
        return ranking_metrics(protocol, users, targets, exclude, num_items=num_items, score_fn=score_fn,
                               score_fn_pairs=pair_fn, popularity=popularity, ks=self.config.ks,
                               generator=torch.Generator().manual_seed(self.config.seed),
                               chunk_size=self.config.eval_chunk, memory_budget=self._eval_memory_budget(),
                               progress=progress, **group_kw, **shard_kw)

    @torch.no_grad()
    def validation_loss(self) -> dict[str, float]:
        """The model's loss and its parts, averaged over the validation batches of its
        declared inputs (the same negatives at every call), in eval mode."""
        self.model.eval()
        loader = self.make_loader("valid")
        sums: dict[str, float] = {}
        n = 0
        for batch in loader:
            share = 1.0
            if self.world_size > 1:  # as in training: every rank draws every batch and takes its rows
                batch, share = distributed.shard_batch(batch, self.rank, self.world_size)
            out = self.model.loss(_to_device(batch, self.device))
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) * share
            n += 1
        if self.world_size > 1:
            sums = self._sum_over_ranks(sums)
        return {k: v / max(n, 1) for k, v in sums.items()}

    @staticmethod
    def _sum_over_ranks(sums: dict[str, float]) -> dict[str, float]:
        """``sums`` (the same keys on every rank: every rank saw every batch) summed over ranks."""
        keys = sorted(sums)
        total = distributed.all_reduce_sum(torch.tensor([sums[k] for k in keys], dtype=torch.float64))
        return dict(zip(keys, total.tolist()))

    def _criterion(self, record: dict[str, Any]) -> float:
        cfg = self.config
        if cfg.minimize_metric:
            key = cfg.metric_key
            losses = record["valid_loss"]
            if key not in losses:
                raise ValueError(f"train.metric={cfg.metric!r}: the model's loss has no part '{key}'; "
                                 f"parts: {sorted(losses)}")
            return losses[key]
        return record["valid"].get(cfg.metric, float("nan"))

    def _improved(self, score: float) -> bool:
        best = self.state.best_score
        if math.isnan(score):
            return False
        if best is None:
            return True
        return score < best if self.config.minimize_metric else score > best

    # ---- training -------------------------------------------------------------------
    def _checkpoint_path(self) -> str | None:
        return os.path.join(self.output_dir, "checkpoint.pt") if self.output_dir else None

    def _save(self, extra: dict[str, Any] | None = None) -> None:
        path = self._checkpoint_path()
        if path is None or self.rank != 0:  # ranks hold the same state; rank 0 writes it
            return
        state = {
            "model": self.model.state_dict(),
            "best_model": self.best_state,
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "train_state": dataclasses.asdict(self.state),
            "train_config": self.config.to_dict(),
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state(),
                    "numpy": numpy_rng_state(), "python": random.getstate()},
        }
        state.update(extra or {})
        save_checkpoint(path, state)

    def resume(self, path: str | None = None, expect: dict[str, Any] | None = None,
               defaults: dict[str, dict[str, Any]] | None = None) -> bool:
        """Restore weights, optimiser, LR schedule, RNG and progress from a checkpoint.

        ``expect``: entries the checkpoint must hold with these values (e.g. the
        model's name and config): continuing a run under other model settings is an
        error naming the first difference, not a silently mixed run. ``defaults``: for
        a dict entry, the value of a field the checkpoint lacks -- a field added to a
        config after the checkpoint was written, whose default keeps the old behaviour
        (the rule for adding a field), so the run resumes."""
        path = path or self._checkpoint_path()
        if self.world_size > 1:
            ckpt = self._broadcast_checkpoint(path)
            if ckpt is None:
                return False
        else:
            if path is None or not os.path.exists(path):
                return False
            ckpt = load_checkpoint(path, map_location=self.device)
        require_keys(ckpt, ("model", "train_state"), path)
        for key, want in (expect or {}).items():
            have = ckpt.get(key)
            if isinstance(have, dict) and key in (defaults or {}):
                have = {**{k: v for k, v in defaults[key].items() if k in want}, **have}
            if have != want:
                diff = ([f"{k}: {have.get(k)!r} there, {want.get(k)!r} now" for k in sorted({*have, *want})
                         if have.get(k) != want.get(k)] if isinstance(have, dict) and isinstance(want, dict)
                        else [f"{have!r} there, {want!r} now"])
                raise ValueError(f"--resume: checkpoint '{path}' was written with another {key} ({'; '.join(diff)}); "
                                 "resume with the same settings or write to another --output")
        # the schedule's state only means something to a scheduler of its own kind (other
        # train settings, such as more epochs, may change on resume)
        written = (ckpt.get("train_config") or {}).get("lr_schedule", "constant")
        if self.scheduler is not None and ckpt.get("scheduler") and written != self.config.lr_schedule:
            raise ValueError(f"--resume: checkpoint '{path}' was trained with train.lr_schedule={written!r}, "
                             f"not {self.config.lr_schedule!r}; resume with the same schedule or write to "
                             "another --output")
        load_weights(self.model, ckpt["model"], path)
        self.best_state = ckpt.get("best_model")
        if self.optimizer is not None and ckpt.get("optimizer"):
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler"):
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.state = TrainState(**ckpt["train_state"])
        rng = ckpt.get("rng") or {}
        if rng:
            torch.set_rng_state(rng["torch"])
            self.generator.set_state(rng["generator"])
            set_numpy_rng_state(rng["numpy"])
            random.setstate(rng["python"])
        log.info("resumed from %s at epoch %d", path, self.state.epoch)
        return True

    def _broadcast_checkpoint(self, path: str | None) -> dict[str, Any] | None:
        """Rank 0's checkpoint at ``path`` (``None`` when it has none) on every rank.

        Rank 0 reads it (on the CPU: a CUDA tensor would arrive on rank 0's GPU) and
        sends it, so the other ranks need no copy of the file (another machine); an
        error reading it is raised on every rank, not only on rank 0."""
        reply: tuple[str, Any] = ("none", None)
        if self.rank == 0 and path is not None and os.path.exists(path):
            try:
                reply = ("ok", load_checkpoint(path, map_location="cpu"))
            except (ValueError, OSError) as exc:
                reply = ("error", str(exc))
        kind, value = distributed.broadcast_value(reply)
        if kind == "error":
            raise ValueError(value)
        return value

    def _train_epoch(self, loader: Any) -> tuple[float, dict[str, float]]:
        cfg = self.config
        self.model.train()
        total, own, n = 0.0, 0.0, 0
        parts: dict[str, float] = {}
        bar = tqdm(loader, desc=f"epoch {self.state.epoch:03d}", leave=False,
                   disable=None if cfg.progress and self.rank == 0 else True, total=len(loader))
        for b, batch in enumerate(bar):
            if cfg.max_batches is not None and b >= cfg.max_batches:
                break
            if self.ddp is None:
                share = 1.0
                out = self.model.loss(_to_device(batch, self.device))
            else:
                # every rank draws the same global batch (same generator) and takes its rows
                batch, share = distributed.shard_batch(batch, self.rank, self.world_size)
                out = self.ddp(_to_device(batch, self.device))
            if "loss" not in out:
                raise KeyError(f"{type(self.model).__name__}.loss() must return a dict with a 'loss' entry, "
                               f"got keys {sorted(out)}")
            self.optimizer.zero_grad(set_to_none=True)
            if self.ddp is None:
                out["loss"].backward()
            else:
                # DDP averages the ranks' gradients; weighting each rank's mean loss by its
                # share of the rows makes that average the gradient of the global batch's mean
                (out["loss"] * (share * self.world_size)).backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            # a rank's share of the batch mean; the shares add up to it over ranks (x 1.0: exact)
            total += float(out["loss"].detach()) * share
            for key, value in out.items():
                if key != "loss":
                    parts[key] = parts.get(key, 0.0) + float(value.detach()) * share
            own += float(out["loss"].detach())
            n += 1
            bar.set_postfix(loss=f"{own / n:.4f}")  # this rank's rows (all of them in one process)
        if self.ddp is not None:
            parts = self._sum_over_ranks(parts)
            total = self._sum_over_ranks({"loss": total})["loss"]
        n = max(n, 1)
        return total / n, {k: v / n for k, v in parts.items()}

    def _wrap_ddp(self) -> None:
        """Wrap the model's loss in DistributedDataParallel (under torchrun only).

        ``find_unused_parameters``: a model's loss need not touch every parameter
        (e.g. a scorer used only at evaluation); torch warns once when none is unused.
        No buffer sync at every step: every rank builds the same buffers (graph
        tables, ICLRec's centroids from the same weights and RNG state), so sending
        rank 0's again before each forward pass would only cost time."""
        if self.world_size == 1 or self.ddp is not None:
            return
        ids = [self.device.index] if self.device.type == "cuda" else None
        # newer torch calls the flag forward_sync_buffers (and warns on the old name); neither
        # changes the one sync of parameters and buffers from rank 0 when DDP is built
        no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in _DDP_ARGS
                   else {"broadcast_buffers": False})
        self.ddp = DistributedDataParallel(_LossForward(self.model), device_ids=ids, find_unused_parameters=True,
                                           **no_sync)

    @contextlib.contextmanager
    def _rank_rng(self) -> Iterator[None]:
        """The RNG scope of one training epoch: nothing for one process; under torchrun,
        a stream of this rank's own (:func:`distributed.rank_seed`), so ranks do not
        share dropout masks, while the global RNG -- which ``on_epoch_start``,
        evaluation and the checkpoint see -- stays the same on every rank."""
        if self.ddp is None:
            yield
            return
        devices = [self.device.index] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(distributed.rank_seed(self.config.seed, self.state.epoch, self.rank))
            yield

    def fit(self, extra_checkpoint: dict[str, Any] | None = None) -> TrainState:
        cfg, st = self.config, self.state
        loader = self.make_loader()
        if loader is None or self.optimizer is None:  # nothing to learn (popularity)
            return st
        if cfg.minimize_metric and not self.has_valid:
            raise ValueError(f"train.metric={cfg.metric!r} needs a validation split; this split has none")
        self._wrap_ddp()
        while st.epoch < cfg.epochs:
            st.epoch += 1
            self.model.on_epoch_start(self.data)  # e.g. ICLRec's k-means E-step
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            with self._rank_rng():
                loss, parts = self._train_epoch(loader)
            if not self.on_plateau:
                self.scheduler.step()
            secs = time.perf_counter() - t0
            st.train_seconds += secs
            record: dict[str, Any] = {"epoch": st.epoch, "loss": loss, "seconds": secs, "lr": lr}
            if parts:
                record["loss_parts"] = parts
            if st.epoch % cfg.eval_every == 0 or st.epoch == cfg.epochs:
                t_eval = time.perf_counter()
                if self.has_valid:
                    if cfg.minimize_metric:
                        record["valid_loss"] = self.validation_loss()
                    else:
                        record["valid"] = self.evaluate("valid")
                    score = self._criterion(record)
                    # the ranks' metrics are the same all-reduced numbers; rank 0's verdict
                    # is still sent, so no float subtlety can make ranks keep other weights
                    if distributed.broadcast_value(self._improved(score)):
                        st.best_score, st.best_epoch, st.bad_rounds = score, st.epoch, 0
                        self.best_state = copy.deepcopy(self.model.state_dict())
                    elif not self.on_plateau or self._at_lr_floor():
                        st.bad_rounds += 1
                    if self.on_plateau:  # after the count: an epoch is judged at the LR it trained with
                        self.scheduler.step(score)
                if cfg.track_test:
                    record["test"] = self.evaluate("test")
                # wall time of the evaluation, so a curve can be drawn against the run's
                # wall clock (the sum of seconds + eval_seconds over the history)
                record["eval_seconds"] = time.perf_counter() - t_eval
                shown = record.get("valid_loss") if cfg.minimize_metric else record.get("valid", record.get("test"))
                log.info("Epoch: %03d, Loss: %.4f, %s: %s, %.1fs", st.epoch, loss, cfg.metric,
                         f"{(shown or {}).get(cfg.metric_key, float('nan')):.4f}", secs)
            st.history.append(record)
            self._save(extra_checkpoint)
            if self.has_valid and st.bad_rounds >= cfg.patience:
                log.info("early stop at epoch %d (best %d)", st.epoch, st.best_epoch)
                break
        if self.best_state is None:  # no validation set: the last epoch is the model
            st.best_epoch = st.epoch
        # the checkpoint keeps the *last* weights, optimiser and RNG (so --resume with more
        # epochs continues the uninterrupted run) beside the best weights, which only the
        # in-memory model takes from here on
        self._save(extra_checkpoint)
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return st


__all__ = ["Trainer", "TrainConfig", "TrainState", "seed_everything", "numpy_rng_state", "set_numpy_rng_state",
           "OPTIMIZERS", "LR_SCHEDULES"]
