"""Triton segment reductions and segment softmax."""
from __future__ import annotations

import torch
from torch import Tensor

from graphrec.ops.triton.kernels import segment_softmax_kernel
from graphrec.ops.triton.plan import interpret, should_validate, tile_lengths, validate_csr
from graphrec.ops.triton.spmm import segment_launch


def segment_reduce_triton(x: Tensor, ptr: Tensor, reduce: str = "sum",
                          chunk: int | None = None) -> Tensor:
    if should_validate(x):
        validate_csr(ptr, x.size(0))
    rest = tuple(x.shape[1:])
    num_seg = ptr.numel() - 1
    x2 = x.reshape(x.size(0), -1).contiguous()
    if x.size(0) == 0:
        return x.new_zeros((num_seg,) + rest)
    out = segment_launch(ptr, None, None, x2, x2.size(1), x.dtype, is_max=reduce == "max",
                         chunk=chunk)
    if reduce == "mean":
        cnt = (ptr[1:] - ptr[:-1]).clamp(min=1).to(out.dtype).unsqueeze(-1)
        out = out / cnt
    return out.view((num_seg,) + rest)


def segment_softmax_triton(scores: Tensor, ptr: Tensor) -> Tensor:
    """Segment softmax, one tile of segments x heads per program (segments
    are not split: each program walks its segments three times)."""
    if should_validate(scores):
        validate_csr(ptr, scores.size(0))
    s2 = scores.reshape(scores.size(0), -1).contiguous()
    out = torch.empty_like(s2)
    num_seg, heads = ptr.numel() - 1, s2.size(1)
    if num_seg == 0 or s2.numel() == 0:
        return out.view_as(scores)
    block_r = 64 if interpret() else 16
    block_h = max(1, min(32, 1 << max(heads - 1, 0).bit_length()))
    grid = ((num_seg + block_r - 1) // block_r, (heads + block_h - 1) // block_h)
    tiles = tile_lengths(ptr[:-1], ptr[1:], block_r)
    segment_softmax_kernel[grid](ptr, tiles, s2, out, num_seg, heads,
                                 BLOCK_R=block_r, BLOCK_H=block_h)
    return out.view_as(scores)


__all__ = ["segment_reduce_triton", "segment_softmax_triton"]
