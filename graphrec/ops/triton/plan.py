"""Host-side launch planning for the Triton kernels: hub-row splitting,
index validation (the interpreter does no bounds checking) and tile sizes."""
from __future__ import annotations

import os
import weakref
from collections import OrderedDict

import torch
from torch import Tensor

# Elements per chunk: a segment longer than this is split, so one hub row
# does not serialise a whole tile on a GPU.
DEFAULT_CHUNK = 256
_PLANS: OrderedDict[tuple, tuple] = OrderedDict()
_MAX_PLANS = 32


def interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def should_validate(t: Tensor) -> bool:
    # Always on CPU tensors (the interpreter segfaults on a bad index); on CUDA
    # only when asked for, since validation synchronises.
    return t.device.type == "cpu" or os.environ.get("GRAPHREC_VALIDATE", "0") == "1"


def validate_csr(ptr: Tensor, num_elements: int, col: Tensor | None = None,
                 num_cols: int | None = None) -> None:
    if ptr.dim() != 1 or ptr.numel() < 1:
        raise ValueError(f"ptr must be 1-D with at least one entry, got {tuple(ptr.shape)}")
    if int(ptr[0]) != 0 or int(ptr[-1]) != num_elements:
        raise ValueError(
            f"ptr must run from 0 to {num_elements}, got {int(ptr[0])}..{int(ptr[-1])}")
    if ptr.numel() > 1 and bool((ptr[1:] < ptr[:-1]).any()):
        raise ValueError("ptr must be non-decreasing")
    if col is not None and col.numel():
        lo, hi = int(col.min()), int(col.max())
        if lo < 0 or hi >= num_cols:
            bad = lo if lo < 0 else hi
            raise ValueError(f"column index {bad} out of range; valid indices are "
                             f"0..{num_cols - 1} (x has {num_cols} rows)")


def tile_sizes(num_feat: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_F): larger row tiles under the interpreter, whose cost
    grows with programs x loop iterations."""
    block_f = max(16, min(64, 1 << max(num_feat - 1, 0).bit_length()))
    block_r = 64 if interpret() else 16
    return block_r, block_f


def chunk_plan(ptr: Tensor, chunk: int) -> tuple[Tensor, Tensor, Tensor] | None:
    r"""Splits segments longer than :obj:`chunk` elements. Returns
    :obj:`None` if no segment needs splitting, else :obj:`(start, end,
    chunk_ptr)`: the element range of every chunk and, per segment, its
    range of chunks. Cached per pointer tensor."""
    key = (ptr.data_ptr(), ptr.numel(), ptr._version, chunk, str(ptr.device))
    hit = _PLANS.get(key)
    if hit is not None and hit[0]() is ptr:
        _PLANS.move_to_end(key)
        return hit[1]
    p = ptr.long()
    counts = p[1:] - p[:-1]
    nchunks = ((counts + chunk - 1) // chunk).clamp_(min=1)
    plan: tuple[Tensor, Tensor, Tensor] | None = None
    if counts.numel() and int(nchunks.max()) > 1:
        chunk_ptr = torch.zeros(counts.numel() + 1, dtype=torch.long, device=ptr.device)
        torch.cumsum(nchunks, 0, out=chunk_ptr[1:])
        total = int(chunk_ptr[-1])
        seg = torch.repeat_interleave(torch.arange(counts.numel(), device=ptr.device), nchunks,
                                      output_size=total)
        k = torch.arange(total, device=ptr.device) - chunk_ptr[seg]
        start = p[seg] + k * chunk
        end = torch.minimum(start + chunk, p[seg + 1])
        plan = (start, end, chunk_ptr)
    try:
        _PLANS[key] = (weakref.ref(ptr), plan)
        if len(_PLANS) > _MAX_PLANS:
            _PLANS.popitem(last=False)
    except TypeError:  # pragma: no cover - tensors that cannot be weak-referenced
        pass
    return plan


def tile_lengths(start: Tensor, end: Tensor, block_r: int) -> Tensor:
    r"""Longest segment of every tile of :obj:`block_r` consecutive segments
    (the loop bound of one program), :obj:`int32`."""
    length = (end - start).to(torch.int32)
    num_tiles = (length.numel() + block_r - 1) // block_r
    pad = num_tiles * block_r - length.numel()
    if pad:
        length = torch.cat([length, length.new_zeros(pad)])
    return length.view(num_tiles, block_r).amax(dim=1)
