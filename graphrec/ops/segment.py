"""Segment reductions and segment softmax over CSR pointers.

A segment is the slice :obj:`x[ptr[s]:ptr[s + 1]]` along dim 0 (e.g. the
neighbourhood of a node, or the items of a user's sequence stored as CSR).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphrec.ops.adjacency import validate_ptr
from graphrec.ops.dispatch import resolve_backend, should_validate
from graphrec.ops.reference import ptr_to_index, segment_reduce_reference, segment_softmax_reference
from graphrec.typing import WITH_TORCH_SCATTER, torch_scatter

REDUCTIONS = ("sum", "mean", "max")


def _counts(ptr: Tensor) -> Tensor:
    return (ptr[1:] - ptr[:-1]).long()


def _first_argmax(x: Tensor, out: Tensor, ptr: Tensor) -> Tensor:
    # Position of the first maximum of every segment and column (x.size(0) if empty).
    seg = ptr_to_index(ptr, x.size(0))
    hit = x == out.index_select(0, seg)
    pos = torch.arange(x.size(0), device=x.device).view(-1, *([1] * (x.dim() - 1)))
    pos = torch.where(hit, pos, x.size(0)).expand_as(x)
    arg = torch.full(out.shape, x.size(0), dtype=torch.long, device=x.device)
    return arg.scatter_reduce_(0, seg.view(-1, *([1] * (x.dim() - 1))).expand_as(x), pos,
                               reduce="amin", include_self=True)


def _segment_torch(x: Tensor, ptr: Tensor, reduce: str) -> Tensor:
    # torch.segment_reduce: single pass over sorted segments, no atomics.
    if x.size(0) == 0:
        return x.new_zeros((ptr.numel() - 1,) + tuple(x.shape[1:]))
    out = torch.segment_reduce(x, "sum" if reduce == "mean" else reduce, offsets=ptr.long(),
                               axis=0, unsafe=True)
    if reduce == "mean":
        out = out / _counts(ptr).clamp(min=1).view(-1, *([1] * (x.dim() - 1))).to(out.dtype)
    elif reduce == "max":
        empty = (_counts(ptr) == 0).view(-1, *([1] * (x.dim() - 1)))
        out = out.masked_fill(empty, 0.0)
    return out


def _segment_impl(x: Tensor, ptr: Tensor, reduce: str, backend: str) -> Tensor:
    if backend == "torch":
        return _segment_torch(x, ptr, reduce)
    if backend == "reference":
        return segment_reduce_reference(x, ptr, reduce)
    if backend == "scatter":
        return torch_scatter.segment_csr(x, ptr.long(), reduce=reduce)
    if backend == "triton":
        from graphrec.ops.triton.segment import segment_reduce_triton

        return segment_reduce_triton(x, ptr, reduce)
    raise ValueError(f"unknown backend {backend!r}")


@torch.library.custom_op("graphrec::segment_reduce", mutates_args=())
def segment_reduce_op(x: Tensor, ptr: Tensor, reduce: str, backend: str) -> tuple[Tensor, Tensor]:
    r"""Low-level op: returns the reduction and, for ``'max'``, the position
    of each segment's (first) maximum, used by the backward pass."""
    out = _segment_impl(x, ptr, reduce, backend)
    if reduce == "max":
        arg = _first_argmax(x, out, ptr)
    else:
        arg = torch.empty(0, dtype=torch.long, device=x.device)
    return out, arg


@segment_reduce_op.register_fake
def _(x, ptr, reduce, backend):
    out = x.new_empty((ptr.shape[0] - 1,) + tuple(x.shape[1:]))
    arg = (out.new_empty(out.shape, dtype=torch.long) if reduce == "max"
           else x.new_empty(0, dtype=torch.long))
    return out, arg


def _segment_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    x, ptr, reduce, backend = inputs
    ctx.reduce, ctx.num = reduce, x.size(0)
    ctx.save_for_backward(ptr, output[1])


def _segment_backward(ctx: Any, grad: Tensor, _grad_arg: Tensor | None):
    ptr, arg = ctx.saved_tensors
    if ctx.reduce == "max":
        # The gradient flows to the first maximum of every segment (0 if empty).
        grad_x = grad.new_zeros((ctx.num + 1,) + tuple(grad.shape[1:]))
        grad_x.scatter_add_(0, arg, grad)
        return grad_x[:-1], None, None, None
    seg = ptr_to_index(ptr, ctx.num)
    g = grad
    if ctx.reduce == "mean":
        g = g / _counts(ptr).clamp(min=1).view(-1, *([1] * (g.dim() - 1))).to(g.dtype)
    return g.index_select(0, seg), None, None, None


segment_reduce_op.register_autograd(_segment_backward, setup_context=_segment_setup)


def _check_ptr(fn: str, x: Tensor, ptr: Tensor, name: str = "x") -> None:
    # Shape and dtype always; values (start 0, non-decreasing, end at
    # x.size(0)) on CPU, or everywhere with GRAPHREC_VALIDATE=1 (see
    # graphrec.ops.dispatch.should_validate): a bad pointer would make the
    # kernels read and write out of bounds.
    if not isinstance(x, Tensor) or x.dim() < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{fn}: {name} must be a tensor with at least one dimension, got {shape}")
    validate_ptr(ptr, fn, numel=x.size(0), numel_of=f"{name}.size(0)",
                 check_values=should_validate(ptr.device) if isinstance(ptr, Tensor) else True)


def segment_reduce(x: Tensor, ptr: Tensor, reduce: str = "sum",
                   backend: str | None = None) -> Tensor:
    r"""Reduces every segment :math:`s` of :obj:`x` along dim 0:

    .. math::
        \mathbf{y}_s = \bigoplus_{e=\mathrm{ptr}_s}^{\mathrm{ptr}_{s+1}-1} \mathbf{x}_e

    with :math:`\bigoplus` one of sum, mean or max. Empty segments give 0;
    the gradient of ``'max'`` goes to the first maximum of each segment.

    Args:
        x (torch.Tensor): values :obj:`[N, *]`.
        ptr (torch.Tensor): segment pointer :obj:`[S + 1]`, from 0 to :obj:`N`.
        reduce (str, optional): ``'sum'``, ``'mean'`` or ``'max'``.
            (default: ``'sum'``)
        backend (str, optional): see :mod:`graphrec.ops.dispatch`.
            (default: :obj:`None`)

    Returns:
        torch.Tensor: :obj:`[S, *]`.
    """
    if reduce == "add":
        reduce = "sum"
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    _check_ptr("segment_reduce", x, ptr)
    backend = resolve_backend(x.device, backend)
    return segment_reduce_op(x, ptr, reduce, backend)[0]


def _softmax_torch(scores: Tensor, ptr: Tensor) -> Tensor:
    # Five passes, two of them in place; empty segments own no element, so
    # torch.segment_reduce's -inf for them is never read.
    seg = ptr_to_index(ptr, scores.size(0))
    offsets = ptr.long()
    acc = scores.float() if scores.dtype in (torch.bfloat16, torch.float16) else scores
    m = torch.segment_reduce(acc, "max", offsets=offsets, axis=0, unsafe=True)
    e = acc - m.index_select(0, seg)
    e.exp_()
    z = torch.segment_reduce(e, "sum", offsets=offsets, axis=0, unsafe=True)
    e.div_(z.index_select(0, seg))
    return e.to(scores.dtype)


def _softmax_impl(scores: Tensor, ptr: Tensor, backend: str) -> Tensor:
    if scores.size(0) == 0:
        return scores.clone()
    if backend in ("torch", "scatter"):
        return _softmax_torch(scores, ptr)
    if backend == "reference":
        return segment_softmax_reference(scores, ptr)
    if backend == "triton":
        from graphrec.ops.triton.segment import segment_softmax_triton

        return segment_softmax_triton(scores, ptr)
    raise ValueError(f"unknown backend {backend!r}")


@torch.library.custom_op("graphrec::segment_softmax", mutates_args=())
def segment_softmax_op(scores: Tensor, ptr: Tensor, backend: str) -> Tensor:
    r"""Low-level op behind :func:`segment_softmax`."""
    return _softmax_impl(scores, ptr, backend)


@segment_softmax_op.register_fake
def _(scores, ptr, backend):
    return torch.empty_like(scores)


def _softmax_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    _, ptr, backend = inputs
    ctx.backend = backend
    ctx.save_for_backward(ptr, output)


def _softmax_backward(ctx: Any, grad: Tensor):
    # d softmax: y * (g - sum_seg(g * y))
    ptr, y = ctx.saved_tensors
    gy = grad * y
    s = _segment_impl(gy, ptr, "sum", ctx.backend)
    s = s.index_select(0, ptr_to_index(ptr, y.size(0)))
    return gy.addcmul_(y, s, value=-1), None, None


segment_softmax_op.register_autograd(_softmax_backward, setup_context=_softmax_setup)


def segment_softmax(scores: Tensor, ptr: Tensor, backend: str | None = None) -> Tensor:
    r"""Numerically stable softmax within every segment, independently per
    head (column):

    .. math::
        \alpha_{e,h} = \frac{\exp(s_{e,h} - m_{s,h})}
        {\sum_{e' \in s} \exp(s_{e',h} - m_{s,h})}, \qquad
        m_{s,h} = \max_{e' \in s} s_{e',h}

    Equivalent to :func:`torch_geometric.utils.softmax` with :obj:`ptr`.

    Args:
        scores (torch.Tensor): attention scores :obj:`[N]` or :obj:`[N, H]`.
        ptr (torch.Tensor): segment pointer :obj:`[S + 1]`.
        backend (str, optional): see :mod:`graphrec.ops.dispatch`.
            (default: :obj:`None`)

    Returns:
        torch.Tensor: same shape as :obj:`scores`.
    """
    _check_ptr("segment_softmax", scores, ptr, "scores")
    backend = resolve_backend(scores.device, backend)
    return segment_softmax_op(scores, ptr, backend)


def gather_csr(src: Tensor, ptr: Tensor) -> Tensor:
    r"""Broadcasts per-segment values :obj:`src` :obj:`[S, *]` to every element
    of its segment: :math:`\mathbf{y}_e = \mathbf{src}_{s(e)}`, :obj:`[N, *]`.

    :obj:`ptr` (:obj:`[S + 1]`) is validated on every device (start 0,
    non-decreasing): the output size :obj:`ptr[-1]` has to be read back
    anyway, and the checks share that single read."""
    if not isinstance(src, Tensor) or src.dim() < 1:
        shape = tuple(src.shape) if isinstance(src, Tensor) else type(src).__name__
        raise ValueError(f"gather_csr: src must be a tensor with at least one dimension, "
                         f"got {shape}")
    numel = validate_ptr(ptr, "gather_csr", num_segments=src.size(0), segments_of="src.size(0)",
                         check_values=not torch.compiler.is_compiling())
    return src.index_select(0, ptr_to_index(ptr, numel))


def scatter(src: Tensor, index: Tensor, dim_size: int | None = None,
            reduce: str = "sum") -> Tensor:
    r"""Reduces rows of :obj:`src` into buckets :obj:`index` (unsorted),
    ``'sum'``, ``'mean'`` or ``'max'``; empty buckets give 0. Uses
    torch-scatter when installed, else :meth:`torch.Tensor.scatter_reduce_`."""
    if reduce == "add":
        reduce = "sum"
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    index = index.long()
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    if WITH_TORCH_SCATTER and src.device.type == "cuda":
        return torch_scatter.scatter(src, index, 0, dim_size=dim_size, reduce=reduce)
    shape = (dim_size,) + tuple(src.shape[1:])
    idx = index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    torch_reduce = {"sum": "sum", "mean": "mean", "max": "amax"}[reduce]
    return src.new_zeros(shape).scatter_reduce_(0, idx, src, torch_reduce, include_self=False)


__all__ = ["segment_reduce", "segment_softmax", "gather_csr", "scatter"]
