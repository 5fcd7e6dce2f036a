"""Run a model's stages with an on-disk cache (see :mod:`graphrec.models.stage`).

Each stage's outputs go to ``<cache_dir>/<stage name>/<key>.safetensors``: tensors as
safetensors entries, JSON values in the file's metadata, written atomically. A file
that cannot be read is recomputed, never trusted; nothing in it can run code.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.data.datasets.base import default_cache
from graphrec.models.stage import Stage, StageContext, StageOutputs, check_outputs
from graphrec.utils.io import atomic_write_bytes

log = logging.getLogger("graphrec.train")

#: metadata keys of a stage file
_JSON_KEY, _SECONDS_KEY, _STAGE_KEY = "graphrec.json", "graphrec.seconds", "graphrec.stage"


@dataclass
class StageRecord:
    """What ``results.json`` records of a stage: its cache ``key``, whether it was
    read from the cache, the seconds it took when computed (``seconds``) and in this
    run (``run_seconds``: the load time on a cache hit), and the file."""

    name: str
    key: str
    cached: bool
    seconds: float
    run_seconds: float
    path: str
    #: the stage's scalar JSON outputs (e.g. which embedder made its vectors)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_stage(record: dict[str, Any]) -> str:
    """One line for logs and tables from a :meth:`StageRecord.to_dict` record."""
    info = record.get("info") or {}
    extra = (" [" + ", ".join(f"{k}={v}" for k, v in info.items()) + "]") if info else ""
    if record["cached"]:
        return (f"stage {record['name']}: read from cache ({record['run_seconds']:.2f}s; "
                f"computed in {record['seconds']:.2f}s){extra}")
    return f"stage {record['name']}: computed in {record['seconds']:.2f}s{extra}"


def _update(h: Any, value: Any) -> None:
    if isinstance(value, Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        for k in sorted(value, key=repr):
            h.update(repr(k).encode())
            _update(h, value[k])
    elif isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        for v in value:
            _update(h, v)
    else:
        h.update(json.dumps(value, sort_keys=True, default=repr).encode())


def graph_fingerprint(data: HeteroData) -> str:
    """SHA-1 of every attribute of every store of ``data`` (tensors by dtype, shape
    and bytes; other values by their JSON/repr form)."""
    h = hashlib.sha1()
    _update(h, data.to_dict())
    return h.hexdigest()


def stage_key(stage: Stage, fingerprint: str, seed: int, earlier: Sequence[str],
              model_fingerprint: str | None = None) -> str:
    blob = json.dumps({"name": stage.name, "version": stage.version, "settings": stage.settings,
                       "graph": fingerprint, "seed": seed, "earlier": list(earlier),
                       "model": model_fingerprint}, sort_keys=True, default=repr)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def model_fingerprint(model: nn.Module) -> str:
    """SHA-1 of a model's state (its initial weights, for ``needs_model`` stages)."""
    h = hashlib.sha1()
    _update(h, dict(model.state_dict()))
    return h.hexdigest()


def save_stage_outputs(path: str, name: str, outputs: StageOutputs, seconds: float) -> None:
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in outputs.items() if isinstance(v, Tensor)}
    others = {k: v for k, v in outputs.items() if not isinstance(v, Tensor)}
    meta = {_JSON_KEY: json.dumps(others), _SECONDS_KEY: repr(float(seconds)), _STAGE_KEY: name}
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata=meta))


def load_stage_outputs(path: str) -> tuple[StageOutputs, float]:
    """``(outputs, seconds it took to compute)`` from a stage file."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        out: StageOutputs = {k: f.get_tensor(k) for k in f.keys()}
    out.update(json.loads(meta.get(_JSON_KEY, "{}")))
    return out, float(meta.get(_SECONDS_KEY, "nan"))


def run_stages(stages: Sequence[Stage], data: HeteroData, *, seed: int, cache_dir: str | None = None,
               device: torch.device | str = "cpu", model: nn.Module | None = None,
               outputs: dict[str, StageOutputs] | None = None, keys: Sequence[str] = (),
               progress: bool = True, fingerprint: str | None = None,
               ) -> tuple[dict[str, StageOutputs], list[StageRecord]]:
    """Run (or read from the cache) ``stages`` in order.

    Args:
        stages: the stages; all ``needs_model`` or none (the caller runs the two groups
            separately, building the model in between).
        data: the training graph.
        seed: the run's seed (part of every key; a stage with a ``seed`` of its own
            uses that instead).
        cache_dir: where stage files go (default ``$GRAPHREC_CACHE/stages``).
        device: handed to the stages.
        model: the built model, for ``needs_model`` stages.
        outputs: outputs of stages that already ran (earlier group).
        keys: their cache keys, in order (part of later keys).
        progress: handed to the stages.
        fingerprint: :func:`graph_fingerprint` of ``data`` when already known.

    Returns:
        ``(outputs by stage name, one record per stage)``.
    """
    names = [s.name for s in stages] + list(outputs or {})
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"stage names must be unique, repeated: {sorted(dup)}")
    cache_dir = cache_dir or os.path.join(default_cache(), "stages")
    outputs = dict(outputs or {})
    keys = list(keys)
    records: list[StageRecord] = []
    if not stages:
        return outputs, records
    fingerprint = fingerprint or graph_fingerprint(data)
    model_fp = model_fingerprint(model) if model is not None else None
    for stage in stages:
        if stage.needs_model and model is None:
            raise ValueError(f"stage '{stage.name}' needs the model; run it after the model is built")
        stage_seed = seed if stage.seed is None else stage.seed
        key = stage_key(stage, fingerprint, stage_seed, keys, model_fp if stage.needs_model else None)
        path = os.path.join(cache_dir, stage.name, f"{key}.safetensors")
        t0 = time.perf_counter()
        result: StageOutputs | None = None
        if os.path.exists(path):
            try:
                result, seconds = load_stage_outputs(path)
                log.info("stage %s: cached (key %s, computed in %.1fs), read %s", stage.name, key, seconds, path)
            except Exception as exc:  # truncated or foreign file: recompute, never trust it
                log.warning("stage %s: cache file %s unreadable (%s); recomputing", stage.name, path, exc)
                result = None
        cached = result is not None
        if result is None:
            log.info("stage %s: running (key %s)", stage.name, key)
            gen = torch.Generator().manual_seed(int(hashlib.sha1(f"{stage_seed}:{stage.name}".encode())
                                                    .hexdigest()[:8], 16))
            ctx = StageContext(data=data, settings=dict(stage.settings), outputs=dict(outputs), seed=stage_seed,
                               generator=gen, device=torch.device(device), model=model, progress=progress)
            result = check_outputs(stage.name, stage.fn(ctx))
            seconds = time.perf_counter() - t0
            save_stage_outputs(path, stage.name, result, seconds)
            log.info("stage %s: done in %.1fs, cached at %s", stage.name, seconds, path)
        outputs[stage.name] = result
        keys.append(key)
        info = {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool))}
        records.append(StageRecord(stage.name, key, cached, float(seconds), time.perf_counter() - t0, path, info))
    return outputs, records


__all__ = ["run_stages", "StageRecord", "describe_stage", "graph_fingerprint", "stage_key", "model_fingerprint",
           "save_stage_outputs", "load_stage_outputs"]
