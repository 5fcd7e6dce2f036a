"""The hot path: graph adjacency, propagation and segment kernels.

Every op has a pure-PyTorch reference (:mod:`graphrec.ops.reference`), a tuned
CPU path, optional torch-scatter use and Triton kernels for CUDA, selected by
:func:`graphrec.ops.dispatch.resolve_backend` (``backend=`` overrides). The
public ops are registered with :mod:`torch.library` (``graphrec::spmm_csr``,
``graphrec::segment_reduce``, ``graphrec::segment_softmax``), so
:func:`torch.compile` traces them without graph breaks.
"""
from graphrec.ops.adjacency import CSRAdjacency, adjacency_on
from graphrec.ops.dispatch import resolve_backend
from graphrec.ops.segment import gather_csr, scatter, segment_reduce, segment_softmax
from graphrec.ops.spmm import spmm

__all__ = [
    "CSRAdjacency",
    "adjacency_on",
    "spmm",
    "segment_reduce",
    "segment_softmax",
    "gather_csr",
    "scatter",
    "resolve_backend",
]
