"""Type aliases and optional-dependency capability flags.

Every optional package is probed once, here, at import. A missing package
becomes a placeholder object that raises a clear :class:`ImportError` when it
is *used*, never when graphrec is imported (the idiom of
``torch_geometric.typing``).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Optional, Union

import torch
from torch import Tensor

NodeType = str
RelationType = str
EdgeType = tuple[str, str, str]
OptTensor = Optional[Tensor]
PairTensor = tuple[Tensor, Tensor]
Adj = Union[Tensor, Any]  # edge_index (2, E), a torch sparse tensor, or a CSRAdjacency

WITH_CUDA: bool = torch.cuda.is_available()
# MKL's sparse CSR kernels back graphrec's CPU spmm path (graphrec.ops.spmm).
WITH_MKL: bool = torch.backends.mkl.is_available()


class _Missing:
    """Stands in for an optional package that is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self._package = package
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        raise ImportError(
            f"'{self._package}' is required for this feature but is not installed; "
            f"install it with `pip install graphrec[{self._extra}]`"
        )

    def __bool__(self) -> bool:
        return False


try:
    import torch_scatter  # noqa: F401

    WITH_TORCH_SCATTER = True
except Exception:  # ImportError, or a binary built against another torch
    torch_scatter = _Missing("torch-scatter", "scatter")  # type: ignore[assignment]
    WITH_TORCH_SCATTER = False

try:
    import triton  # noqa: F401

    WITH_TRITON = True
except Exception:
    triton = _Missing("triton", "triton")  # type: ignore[assignment]
    WITH_TRITON = False

# PyG's neighbour samplers (NeighborLoader, LinkNeighborLoader) run on pyg-lib or
# torch-sparse; graphrec's mini-batch training on sampled subgraphs needs one of them
# (extra [sampling]; neither has a wheel for every torch, both build from source).
try:
    import torch_geometric.typing as _pyg_typing

    WITH_NEIGHBOR_SAMPLING: bool = bool(_pyg_typing.WITH_PYG_LIB or _pyg_typing.WITH_TORCH_SPARSE)
except Exception:  # pragma: no cover
    WITH_NEIGHBOR_SAMPLING = False

# Triton kernels can run on CPU tensors through the interpreter (used in CI).
TRITON_INTERPRET: bool = os.environ.get("TRITON_INTERPRET", "0") == "1"

if WITH_TORCH_SCATTER and not hasattr(torch_scatter, "scatter"):  # pragma: no cover
    warnings.warn("torch-scatter is installed but unusable; ignoring it", stacklevel=1)
    WITH_TORCH_SCATTER = False

__all__ = [
    "NodeType",
    "RelationType",
    "EdgeType",
    "OptTensor",
    "PairTensor",
    "Adj",
    "WITH_CUDA",
    "WITH_MKL",
    "WITH_TORCH_SCATTER",
    "WITH_TRITON",
    "WITH_NEIGHBOR_SAMPLING",
    "TRITON_INTERPRET",
]
