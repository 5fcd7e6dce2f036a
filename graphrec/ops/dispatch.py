"""Backend selection for the ops in :mod:`graphrec.ops`.

Backends:

* ``'reference'``: the pure-PyTorch spec in :mod:`graphrec.ops.reference`;
* ``'torch'``: the tuned CPU path (``torch.sparse.mm`` on CSR through MKL for
  spmm, ``torch.segment_reduce`` for segments); also correct on CUDA;
* ``'scatter'``: torch-scatter's ``segment_csr`` (if installed);
* ``'triton'``: Triton kernels; on CUDA tensors, or on CPU tensors under
  ``TRITON_INTERPRET=1`` (CI's correctness runs).

With ``backend=None`` the choice is by device: Triton on CUDA when installed,
else ``'torch'``. On CPU ``'torch'`` wins for spmm (MKL's CSR kernel was
~40x faster than gather + ``index_add_`` on the Gowalla-shaped graph, see
``docs/benchmarks.md``), so torch-scatter is only used when asked for.
"""
from __future__ import annotations

import os

import torch

from graphrec.typing import WITH_TORCH_SCATTER, WITH_TRITON

BACKENDS = ("reference", "torch", "scatter", "triton")


def triton_interpret() -> bool:
    r"""Whether Triton runs in interpreter mode (read at call time, so a test
    session may set ``TRITON_INTERPRET=1`` before the kernels are imported)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_usable(device: torch.device) -> bool:
    return WITH_TRITON and (device.type == "cuda" or (device.type == "cpu" and triton_interpret()))


def should_validate(device: torch.device) -> bool:
    r"""Whether a public op checks the *values* of its index arguments (CSR
    pointers, edge weights) on every call: always for CPU tensors (cheap, and a
    bad pointer corrupts memory there); on other devices only with
    ``GRAPHREC_VALIDATE=1``, since reading a check back synchronises the
    stream; never while :func:`torch.compile` traces. Shapes and dtypes are
    always checked, and :class:`~graphrec.ops.CSRAdjacency` validates its
    tensors once, at construction, on every device."""
    if torch.compiler.is_compiling():
        return False
    return device.type == "cpu" or os.environ.get("GRAPHREC_VALIDATE", "0") == "1"


def resolve_backend(device: torch.device, backend: str | None = None) -> str:
    r"""Returns the backend to use for tensors on :obj:`device`, validating an
    explicit :obj:`backend` request with an error that says what is missing."""
    if backend is None or backend == "auto":
        if device.type == "cuda" and WITH_TRITON:
            return "triton"
        return "torch"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends are {BACKENDS} or None")
    if backend == "scatter" and not WITH_TORCH_SCATTER:
        raise ImportError("backend='scatter' needs torch-scatter: pip install graphrec[scatter]")
    if backend == "triton":
        if not WITH_TRITON:
            raise ImportError("backend='triton' needs triton: pip install graphrec[triton]")
        if not triton_usable(device):
            raise RuntimeError(
                f"backend='triton' runs on CUDA tensors, or on CPU tensors with "
                f"TRITON_INTERPRET=1 set before the kernels are imported; got device {device}"
            )
    return backend


__all__ = ["BACKENDS", "resolve_backend", "should_validate", "triton_usable", "triton_interpret"]
