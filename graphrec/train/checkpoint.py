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


__all__ = ["save_checkpoint", "load_checkpoint"]
