"""Triton kernels (imported only when the Triton backend is used).

One generic row-parallel kernel serves spmm and the segment reductions: a
program owns a tile of ``BLOCK_R`` segments x ``BLOCK_F`` feature columns and
keeps the tile's output in registers while it walks the segments' elements
(gathered through ``col`` for spmm, contiguous for segment reductions), so
there are no atomics and the result is deterministic. Accumulation is in
float32 whatever the input dtype (bfloat16 rows are accepted). Segments
longer than a chunk (hub rows: item degrees are Zipf-distributed) are split
into chunks by the host-side plan and their partial results are reduced by a
second launch of the same kernel over the chunk pointer.

The kernels call only Triton builtins, no ``@triton.jit`` helpers of
``triton.language.standard`` such as ``tl.max`` or ``tl.zeros``: those are
decorated when triton is imported, so with ``TRITON_INTERPRET=1`` set after
that import (graphrec.typing imports triton; the tests' conftest sets the
variable later) they would refuse to run. The loop bound of a tile, its
longest segment, comes from the host plan instead.
"""
import triton
import triton.language as tl


@triton.jit
def segment_tile_kernel(
    start_ptr, end_ptr, tile_len_ptr, col_ptr, value_ptr, x_ptr, out_ptr,
    num_seg, num_feat, stride_x, stride_out,
    HAS_COL: tl.constexpr, HAS_VALUE: tl.constexpr, IS_MAX: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_F: tl.constexpr,
):
    pid_r = tl.program_id(0)
    pid_f = tl.program_id(1)
    offs_r = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    mask_r = offs_r < num_seg
    start = tl.load(start_ptr + offs_r, mask=mask_r, other=0).to(tl.int64)
    end = tl.load(end_ptr + offs_r, mask=mask_r, other=0).to(tl.int64)
    offs_f = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    mask_f = offs_f < num_feat
    if IS_MAX:
        acc = tl.full((BLOCK_R, BLOCK_F), float("-inf"), tl.float32)
    else:
        acc = tl.full((BLOCK_R, BLOCK_F), 0.0, tl.float32)
    length = end - start
    max_len = tl.load(tile_len_ptr + pid_r)  # longest segment of this tile (host plan)
    for k in range(0, max_len):
        idx = start + k
        m = k < length
        if HAS_COL:
            src = tl.load(col_ptr + idx, mask=m, other=0).to(tl.int64)
        else:
            src = idx
        mask2 = m[:, None] & mask_f[None, :]
        xv = tl.load(x_ptr + src[:, None] * stride_x + offs_f[None, :], mask=mask2,
                     other=0.0).to(tl.float32)
        if HAS_VALUE:
            v = tl.load(value_ptr + idx, mask=m, other=0.0).to(tl.float32)
            xv = xv * v[:, None]
        if IS_MAX:
            acc = tl.where(mask2, tl.maximum(acc, xv), acc)
        else:
            acc += xv
    if IS_MAX:
        acc = tl.where((length > 0)[:, None], acc, 0.0)
    out_offs = offs_r.to(tl.int64)[:, None] * stride_out + offs_f[None, :]
    tl.store(out_ptr + out_offs, acc.to(out_ptr.dtype.element_ty),
             mask=mask_r[:, None] & mask_f[None, :])


@triton.jit
def segment_softmax_kernel(
    ptr_ptr, tile_len_ptr, s_ptr, out_ptr, num_seg, num_heads,
    BLOCK_R: tl.constexpr, BLOCK_H: tl.constexpr,
):
    # Three passes over each segment tile: max, sum of exp, normalise.
    pid_r = tl.program_id(0)
    pid_h = tl.program_id(1)
    offs_r = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    mask_r = offs_r < num_seg
    start = tl.load(ptr_ptr + offs_r, mask=mask_r, other=0).to(tl.int64)
    end = tl.load(ptr_ptr + offs_r + 1, mask=mask_r, other=0).to(tl.int64)
    offs_h = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    mask_h = offs_h < num_heads
    length = end - start
    max_len = tl.load(tile_len_ptr + pid_r)
    m = tl.full((BLOCK_R, BLOCK_H), float("-inf"), tl.float32)
    for k in range(0, max_len):
        mk = (k < length)[:, None] & mask_h[None, :]
        s = tl.load(s_ptr + (start + k)[:, None] * num_heads + offs_h[None, :], mask=mk,
                    other=float("-inf")).to(tl.float32)
        m = tl.maximum(m, s)
    m = tl.where(m == float("-inf"), 0.0, m)
    z = tl.full((BLOCK_R, BLOCK_H), 0.0, tl.float32)
    for k in range(0, max_len):
        mk = (k < length)[:, None] & mask_h[None, :]
        s = tl.load(s_ptr + (start + k)[:, None] * num_heads + offs_h[None, :], mask=mk,
                    other=float("-inf")).to(tl.float32)
        z += tl.where(mk, tl.exp(s - m), 0.0)
    z = tl.where(z == 0.0, 1.0, z)
    for k in range(0, max_len):
        mk = (k < length)[:, None] & mask_h[None, :]
        offs = (start + k)[:, None] * num_heads + offs_h[None, :]
        s = tl.load(s_ptr + offs, mask=mk, other=0.0).to(tl.float32)
        tl.store(out_ptr + offs, (tl.exp(s - m) / z).to(out_ptr.dtype.element_ty), mask=mk)
