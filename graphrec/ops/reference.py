"""Pure-PyTorch reference implementations: the specification of every op.

These are written for clarity, not speed; tests compare every tuned backend
(CPU, torch-scatter, Triton, compiled) against them, values and gradients.
All accumulate in float32 (or float64 for float64 inputs) and return the
dtype of the features.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def ptr_to_index(ptr: Tensor, numel: int | None = None) -> Tensor:
    r"""Expands a CSR pointer :obj:`ptr` (:obj:`S + 1`) into the segment id of
    every element (:obj:`int64`). Trusts :obj:`ptr` (an internal helper): a
    decreasing pointer here writes out of bounds, so public entry points check
    it first with :func:`graphrec.ops.adjacency.validate_ptr`."""
    counts = (ptr[1:] - ptr[:-1]).long()
    n = int(ptr[-1]) if numel is None else numel
    return torch.repeat_interleave(torch.arange(counts.numel(), device=ptr.device), counts,
                                   output_size=n)


def spmm_reference(rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor) -> Tensor:
    r""":math:`\mathbf{y}_i = \sum_{e=\mathrm{ptr}_i}^{\mathrm{ptr}_{i+1}-1}
    v_e \, \mathbf{x}_{\mathrm{col}_e}` for every row :math:`i`."""
    acc = _acc_dtype(x.dtype)
    num_rows = rowptr.numel() - 1
    row = ptr_to_index(rowptr, col.numel())
    msg = x.index_select(0, col.long()).to(acc)
    if value is not None:
        msg = msg * value.to(acc).unsqueeze(-1)
    out = torch.zeros((num_rows,) + tuple(x.shape[1:]), dtype=acc, device=x.device)
    return out.index_add_(0, row, msg).to(x.dtype)


def segment_reduce_reference(x: Tensor, ptr: Tensor, reduce: str = "sum") -> Tensor:
    r"""Reduces consecutive segments :obj:`x[ptr[s]:ptr[s+1]]` along dim 0.
    Empty segments give 0 for every reduction (including ``'max'``)."""
    num_seg = ptr.numel() - 1
    outs = []
    for s in range(num_seg):
        seg = x[int(ptr[s]):int(ptr[s + 1])].to(_acc_dtype(x.dtype))
        if seg.size(0) == 0:
            outs.append(torch.zeros(x.shape[1:], dtype=seg.dtype, device=x.device))
        elif reduce == "sum":
            outs.append(seg.sum(0))
        elif reduce == "mean":
            outs.append(seg.mean(0))
        elif reduce == "max":
            outs.append(seg.max(0).values)
        else:
            raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")
    if not outs:
        return x.new_zeros((0,) + tuple(x.shape[1:]))
    return torch.stack(outs, 0).to(x.dtype)


def segment_softmax_reference(scores: Tensor, ptr: Tensor) -> Tensor:
    r"""Softmax of :obj:`scores` (:obj:`[N]` or :obj:`[N, H]`, one column per
    head) within each segment :obj:`[ptr[s], ptr[s+1])`."""
    out = torch.empty_like(scores)
    for s in range(ptr.numel() - 1):
        a, b = int(ptr[s]), int(ptr[s + 1])
        if b > a:
            seg = scores[a:b].to(_acc_dtype(scores.dtype))
            out[a:b] = torch.softmax(seg, dim=0).to(scores.dtype)
    return out


def gather_reference(x: Tensor, index: Tensor) -> Tensor:
    r""":math:`\mathbf{y}_e = \mathbf{x}_{\mathrm{index}_e}`."""
    return x[index.long()]


def scatter_reference(src: Tensor, index: Tensor, dim_size: int, reduce: str = "sum") -> Tensor:
    r"""Reduces rows of :obj:`src` into :obj:`dim_size` buckets given by
    :obj:`index` (``'sum'``, ``'mean'`` or ``'max'``; empty buckets give 0)."""
    out = src.new_zeros((dim_size,) + tuple(src.shape[1:]))
    for i in range(dim_size):
        sel = src[index.long() == i]
        if sel.size(0) == 0:
            continue
        out[i] = {"sum": sel.sum(0), "mean": sel.mean(0), "max": sel.max(0).values}[reduce]
    return out


__all__ = [
    "ptr_to_index",
    "spmm_reference",
    "segment_reduce_reference",
    "segment_softmax_reference",
    "gather_reference",
    "scatter_reference",
]
