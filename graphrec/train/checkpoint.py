"""Atomic checkpoints: write to a temporary file in the same folder, fsync, rename.

A crash mid-write leaves the previous checkpoint intact, never a truncated one.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import torch


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # truncated or foreign file
        raise ValueError(f"checkpoint '{path}' cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"checkpoint '{path}' is not a graphrec checkpoint (no 'model' entry)")
    return state


__all__ = ["save_checkpoint", "load_checkpoint"]
