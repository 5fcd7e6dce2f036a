"""Triton kernels for CUDA (and for CPU tensors under ``TRITON_INTERPRET=1``).

Importing this package imports :mod:`triton`; graphrec does so lazily, only
when the ``'triton'`` backend is selected.
"""
from graphrec.ops.triton.segment import segment_reduce_triton, segment_softmax_triton
from graphrec.ops.triton.spmm import spmm_csr_triton

__all__ = ["spmm_csr_triton", "segment_reduce_triton", "segment_softmax_triton"]
