"""Triton CSR x dense product (row-parallel, hub rows split, no atomics)."""
from __future__ import annotations

import torch
from torch import Tensor

from graphrec.ops.triton.kernels import segment_tile_kernel
from graphrec.ops.triton.plan import (
    DEFAULT_CHUNK,
    chunk_plan,
    should_validate,
    tile_lengths,
    tile_sizes,
    validate_csr,
)


def launch_segments(start: Tensor, end: Tensor, col: Tensor | None, value: Tensor | None,
                    x: Tensor, out: Tensor, is_max: bool = False) -> None:
    """One launch of :func:`segment_tile_kernel` over the segments
    :obj:`[start[s], end[s])` of :obj:`x` (:obj:`[*, F]`, row-contiguous),
    writing :obj:`out[s]`."""
    num_seg, num_feat = out.size(0), out.size(1)
    if num_seg == 0 or num_feat == 0:
        return
    block_r, block_f = tile_sizes(num_feat)
    grid = ((num_seg + block_r - 1) // block_r, (num_feat + block_f - 1) // block_f)
    segment_tile_kernel[grid](
        start, end, tile_lengths(start, end, block_r),
        col if col is not None else start, value if value is not None else x,
        x, out, num_seg, num_feat, x.stride(0), out.stride(0),
        HAS_COL=col is not None, HAS_VALUE=value is not None, IS_MAX=is_max,
        BLOCK_R=block_r, BLOCK_F=block_f,
    )


def segment_launch(ptr: Tensor, col: Tensor | None, value: Tensor | None, x: Tensor,
                   num_feat: int, out_dtype: torch.dtype, is_max: bool = False,
                   chunk: int | None = None) -> Tensor:
    """Reduces the segments of :obj:`ptr`, splitting hub segments into chunks
    whose partial results (float32) a second launch reduces per segment."""
    num_seg = ptr.numel() - 1
    out = torch.empty(num_seg, num_feat, dtype=out_dtype, device=x.device)
    plan = chunk_plan(ptr, chunk or DEFAULT_CHUNK)
    if plan is None:
        launch_segments(ptr[:-1], ptr[1:], col, value, x, out, is_max)
        return out
    start, end, chunk_ptr = plan
    partial = torch.empty(start.numel(), num_feat, dtype=torch.float32, device=x.device)
    launch_segments(start, end, col, value, x, partial, is_max)
    launch_segments(chunk_ptr[:-1], chunk_ptr[1:], None, None, partial, out, is_max)
    return out


def spmm_csr_triton(rowptr: Tensor, col: Tensor, value: Tensor, x: Tensor,
                    chunk: int | None = None) -> Tensor:
    r""":math:`\mathbf{A}\mathbf{X}` for the CSR matrix :obj:`(rowptr, col,
    value)` (int32 or int64 indices), float32 accumulation, output in
    :obj:`x.dtype` (float32, float64 is computed in float32, bfloat16)."""
    if should_validate(x):
        validate_csr(rowptr, col.numel(), col, x.size(0))
    x = x.contiguous()
    if x.size(0) == 0 or col.numel() == 0:
        return x.new_zeros(rowptr.numel() - 1, x.size(1))
    return segment_launch(rowptr, col, value.contiguous(), x, x.size(1), x.dtype, chunk=chunk)


__all__ = ["spmm_csr_triton", "segment_launch"]
