"""The one input conversion of :mod:`graphrec.causal`: NumPy or torch in, float64 NumPy out."""
from __future__ import annotations

from typing import Any

import numpy as np


def as_array(x: Any, name: str, ndim: tuple[int, ...] = (1, 2), finite: bool = True) -> np.ndarray:
    """``x`` (NumPy array, torch tensor or nested sequence) as a float64 NumPy array.

    Duck-typed on ``.detach()`` so that this module needs no torch import; ``.double()``
    first because NumPy has no bfloat16. Raises a ValueError naming ``name`` for a wrong
    number of dimensions or (with ``finite``) for NaN / inf, with the first bad position.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array or tensor, got {type(x).__name__}: {err}") from None
    if arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {want}, got shape {tuple(arr.shape)}")
    if finite and not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        where = f"row {bad[0]}, column {bad[1]}" if arr.ndim == 2 else f"position {bad}"
        raise ValueError(f"{name} contains NaN or inf (first at {where})")
    return arr
