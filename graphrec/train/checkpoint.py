"""Atomic checkpoints: write to a temporary file in the same folder, fsync, rename
(:func:`graphrec.utils.io.atomic_path`).

A crash mid-write leaves the previous checkpoint intact, never a truncated one.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import torch

from graphrec.utils.io import atomic_path


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``: tensors, numbers,
    strings and containers of them, nothing that can run code. A file holding other
    objects (a crafted one, or one written by graphrec before checkpoints were made
    weights-only) is refused with a clear error, never unpickled."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch reports damaged files and refused objects alike under weights_only
        raise ValueError(
            f"checkpoint '{path}' cannot be read safely: it is damaged, not a checkpoint, or holds "
            "objects other than tensors, numbers and strings, which graphrec will not unpickle (that "
            "could run code from the file). Checkpoints written by this graphrec never hold them; one "
            "from an older graphrec must be retrained. "
            f"(torch: {str(exc).splitlines()[-1][:200]})") from None
    except Exception as exc:  # truncated or foreign file
        raise ValueError(f"checkpoint '{path}' cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"checkpoint '{path}' is not a graphrec checkpoint (no 'model' entry)")
    return state


def require_keys(ckpt: dict[str, Any], keys: tuple[str, ...], path: str, written_by: str = "graphrec train") -> None:
    """Raise a ValueError naming ``path`` and the first of ``keys`` it lacks."""
    missing = [k for k in keys if k not in ckpt]
    if missing:
        raise ValueError(f"checkpoint '{path}' lacks {missing}; it was not written by {written_by} "
                         f"(it has {sorted(ckpt)})")


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: str, entry: str = "model") -> None:
    """``model.load_state_dict(state)`` after checking that every tensor's name and shape
    match, so a checkpoint from other settings fails with the file, the entry, the
    parameter and both shapes named (not torch's list of every mismatch)."""
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint '{path}': entry '{entry}' is not a state dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise ValueError(f"checkpoint '{path}': its '{entry}' weights do not belong to this "
                         f"{type(model).__name__} (missing {missing[:5]}, unexpected {extra[:5]}); was it written "
                         "by another model or version?")
    for name, value in own.items():
        theirs = state[name]
        if not isinstance(theirs, torch.Tensor) or theirs.shape != value.shape:
            shape = tuple(theirs.shape) if isinstance(theirs, torch.Tensor) else type(theirs).__name__
            raise ValueError(f"checkpoint '{path}': '{entry}' parameter '{name}' has shape {shape} but the "
                             f"{type(model).__name__} built from these settings and data has {tuple(value.shape)}; "
                             "the checkpoint was written with other model settings (e.g. model.dim) or another "
                             "dataset")
    model.load_state_dict(state)


__all__ = ["save_checkpoint", "load_checkpoint", "load_weights", "require_keys"]
