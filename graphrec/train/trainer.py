"""The training loop: epochs, validation early stopping, atomic checkpoints,
resume, seeds, and a results document (JSON + markdown)."""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from graphrec.data.hetero import CLICKS, eval_targets, history, train_history
from graphrec.data.loader import BPRLoader, SequenceLoader, SubsequenceLoader
from graphrec.metrics import full_ranking, parse_protocol, sampled_ranking
from graphrec.models.base import RecModel
from graphrec.train.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger("graphrec.train")


@dataclass
class TrainConfig:
    """Args:
        epochs: maximum epochs.
        batch_size: training batch size (models may set their own default).
        lr, weight_decay: Adam settings.
        eval_every: evaluate on validation every this many epochs.
        patience: stop after this many evaluations without improvement.
        metric: validation metric for model selection and early stopping.
        ks: cut-offs reported.
        eval_chunk: users scored at once during evaluation (bounds memory).
        seed: seeds Python, NumPy and torch, and the loaders' generator.
        device: ``"cpu"``, ``"cuda"``, ...
        progress: show a progress bar.
        protocol: ``"full"`` ranking over all items, or ``"sampled-<n>"`` (each target
            against ``n`` sampled negatives, the SASRec paper's protocol; labelled as
            such in every result).
        track_test: also record test metrics at each evaluation (for curves; never
            used for model selection). Used where a protocol has no validation set.
        max_batches: cap on batches per epoch (smoke tests).
        length_buckets: group sequence batches by length in chunks of this many batches
            and cut their common padding (0: off, random batches of full width). An exact
            saving per batch; it changes only which rows share a batch.
        num_threads: intra-op CPU threads (``None``: torch's default). On a shared
            or small machine ``1`` avoids thread oversubscription, which made SASRec
            steps ~6x slower with 2 threads on a loaded 2-core box.
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    eval_every: int = 1
    patience: int = 5
    metric: str = "ndcg@10"
    ks: tuple[int, ...] = (5, 10, 20)
    eval_chunk: int = 2048
    protocol: str = "full"
    seed: int = 2024
    device: str = "cpu"
    progress: bool = True
    track_test: bool = False
    max_batches: int | None = None
    length_buckets: int = 0
    num_threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class TrainState:
    epoch: int = 0
    best_epoch: int = 0
    best_score: float = float("-inf")
    bad_rounds: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0


class Trainer:
    """Train ``model`` on ``data`` and evaluate it with full ranking.

    Args:
        model: a :class:`~graphrec.models.base.RecModel`.
        data: the split HeteroData of a dataset.
        config: training settings.
        output_dir: where ``checkpoint.pt`` (latest + best weights) goes; ``None``
            keeps everything in memory.
    """

    def __init__(self, model: RecModel, data: HeteroData, config: TrainConfig | None = None,
                 output_dir: str | None = None) -> None:
        self.config = config or TrainConfig()
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        self.device = torch.device(self.config.device)
        self.model = model.to(self.device)
        self.data = data
        self.output_dir = output_dir
        self.generator = seed_everything(self.config.seed)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = (torch.optim.Adam(params, lr=self.config.lr, weight_decay=self.config.weight_decay)
                          if params else None)
        self.state = TrainState()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.has_valid = data[CLICKS].valid_edge_index.size(1) > 0

    # ---- batches --------------------------------------------------------------------
    def make_loader(self):  # noqa: ANN201
        cfg, data, m = self.config, self.data, self.model
        if m.input_type == "pairwise":
            return BPRLoader(data[CLICKS].edge_index, data["item"].num_nodes, cfg.batch_size,
                             generator=self.generator, num_users=data["user"].num_nodes)
        if m.input_type == "sequence":
            return SequenceLoader(train_history(data), data["item"].num_nodes,
                                  max_len=getattr(m, "max_len", 50), batch_size=cfg.batch_size,
                                  negatives=getattr(m, "loss_type", "bce") == "bce",
                                  generator=self.generator, length_buckets=cfg.length_buckets)
        if m.input_type == "subsequence":
            return SubsequenceLoader(train_history(data), data["item"].num_nodes,
                                     max_len=getattr(m, "max_len", 50), batch_size=cfg.batch_size,
                                     min_len=getattr(m, "min_input_len", 2), generator=self.generator,
                                     length_buckets=cfg.length_buckets)
        return None

    # ---- evaluation -----------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str = "valid", progress: bool = False) -> dict[str, float]:
        """Full-ranking metrics on ``split`` (training -- and for test, validation --
        items masked)."""
        self.model.eval()
        users, targets, exclude = eval_targets(self.data, split)
        if users.numel() == 0:
            return {}
        hist = history(self.data, split).select(users)
        # full_ranking hands out chunks of `users`; map them back to rows of `hist`
        lookup = torch.full((self.data["user"].num_nodes,), -1, dtype=torch.long)
        lookup[users] = torch.arange(users.numel())

        def score_fn(chunk: torch.Tensor) -> torch.Tensor:
            rows = lookup[chunk]
            return self.model.full_scores(chunk.to(self.device), hist.select(rows)).float().cpu()

        num_items = self.data["item"].num_nodes
        mode, n_neg = parse_protocol(self.config.protocol)
        if mode == "sampled":
            def pair_fn(chunk: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
                return score_fn(chunk).gather(1, items.cpu())

            gen = torch.Generator().manual_seed(self.config.seed)
            return sampled_ranking(pair_fn, users, targets, exclude, num_items=num_items,
                                   num_negatives=n_neg or 100, ks=self.config.ks, generator=gen,
                                   chunk_size=self.config.eval_chunk, progress=progress)
        return full_ranking(score_fn, users, targets, exclude, num_items=num_items,
                            ks=self.config.ks, chunk_size=self.config.eval_chunk, progress=progress)

    # ---- training -------------------------------------------------------------------
    def _checkpoint_path(self) -> str | None:
        return os.path.join(self.output_dir, "checkpoint.pt") if self.output_dir else None

    def _save(self, extra: dict[str, Any] | None = None) -> None:
        path = self._checkpoint_path()
        if path is None:
            return
        state = {
            "model": self.model.state_dict(),
            "best_model": self.best_state,
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "train_state": dataclasses.asdict(self.state),
            "train_config": self.config.to_dict(),
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state(),
                    "numpy": np.random.get_state(), "python": random.getstate()},
        }
        state.update(extra or {})
        save_checkpoint(path, state)

    def resume(self, path: str | None = None) -> bool:
        """Restore weights, optimiser, RNG and progress from a checkpoint."""
        path = path or self._checkpoint_path()
        if path is None or not os.path.exists(path):
            return False
        ckpt = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(ckpt["model"])
        self.best_state = ckpt.get("best_model")
        if self.optimizer is not None and ckpt.get("optimizer"):
            self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state = TrainState(**ckpt["train_state"])
        rng = ckpt.get("rng") or {}
        if rng:
            torch.set_rng_state(rng["torch"])
            self.generator.set_state(rng["generator"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])
        log.info("resumed from %s at epoch %d", path, self.state.epoch)
        return True

    def fit(self, extra_checkpoint: dict[str, Any] | None = None) -> TrainState:
        cfg, st = self.config, self.state
        loader = self.make_loader()
        if loader is None or self.optimizer is None:  # nothing to learn (popularity)
            return st
        while st.epoch < cfg.epochs:
            st.epoch += 1
            self.model.on_epoch_start(self.data)  # e.g. ICLRec's k-means E-step
            self.model.train()
            t0 = time.perf_counter()
            total, n = 0.0, 0
            bar = tqdm(loader, desc=f"epoch {st.epoch:03d}", leave=False,
                       disable=None if cfg.progress else True, total=len(loader))
            for b, batch in enumerate(bar):
                if cfg.max_batches is not None and b >= cfg.max_batches:
                    break
                batch = {k: v.to(self.device) for k, v in batch.items()}
                out = self.model.loss(batch)
                self.optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                self.optimizer.step()
                total += float(out["loss"].detach())
                n += 1
                bar.set_postfix(loss=f"{total / n:.4f}")
            secs = time.perf_counter() - t0
            st.train_seconds += secs
            record: dict[str, Any] = {"epoch": st.epoch, "loss": total / max(n, 1), "seconds": secs}
            if st.epoch % cfg.eval_every == 0 or st.epoch == cfg.epochs:
                if self.has_valid:
                    valid = self.evaluate("valid")
                    record["valid"] = valid
                    score = valid.get(cfg.metric, float("nan"))
                    if score > st.best_score:
                        st.best_score, st.best_epoch, st.bad_rounds = score, st.epoch, 0
                        self.best_state = copy.deepcopy(self.model.state_dict())
                    else:
                        st.bad_rounds += 1
                if cfg.track_test:
                    record["test"] = self.evaluate("test")
                shown = record.get("valid", record.get("test", {}))
                log.info("Epoch: %03d, Loss: %.4f, %s: %s, %.1fs", st.epoch, record["loss"],
                         cfg.metric, f"{shown.get(cfg.metric, float('nan')):.4f}", secs)
            st.history.append(record)
            self._save(extra_checkpoint)
            if self.has_valid and st.bad_rounds >= cfg.patience:
                log.info("early stop at epoch %d (best %d)", st.epoch, st.best_epoch)
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        else:  # no validation set: the last epoch is the model
            st.best_epoch = st.epoch
        self._save(extra_checkpoint)
        return st


__all__ = ["Trainer", "TrainConfig", "TrainState", "seed_everything"]
