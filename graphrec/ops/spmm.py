"""Sparse (CSR) x dense propagation, the hot path of LightGCN-style layers."""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from graphrec.ops.adjacency import CSRAdjacency
from graphrec.ops.dispatch import resolve_backend
from graphrec.ops.reference import ptr_to_index, spmm_reference
from graphrec.typing import WITH_MKL, torch_scatter

_LOW_PRECISION = (torch.bfloat16, torch.float16)
_USE_ADDMM_OUT = WITH_MKL


def _spmm_torch(rowptr: Tensor, col: Tensor, value: Tensor, x: Tensor) -> Tensor:
    # MKL's CSR x dense kernel (multi-threaded, int32 indices used as is).
    # ``torch.sparse.mm`` zero-fills its result and then copies MKL's output
    # into it: ``addmm(empty, A, x, beta=0, out=...)`` writes the result in
    # place and was ~2x faster on the Gowalla-shaped graph (35 -> 15 ms per
    # call, see docs/benchmarks.md). beta=0 ignores the uninitialised input
    # (NaN/inf are not propagated), as documented for torch.addmm.
    num_rows, num_cols = rowptr.numel() - 1, x.size(0)
    xc = x.float() if x.dtype in _LOW_PRECISION else x
    if col.numel() == 0 or num_cols == 0 or num_rows == 0 or xc.size(1) == 0:
        return x.new_zeros(num_rows, x.size(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        adj = torch.sparse_csr_tensor(rowptr, col, value.to(xc.dtype), (num_rows, num_cols),
                                      check_invariants=False)
    xc = xc.contiguous()
    if _USE_ADDMM_OUT and xc.device.type == "cpu":
        out = torch.empty(num_rows, xc.size(1), dtype=xc.dtype)
        torch.addmm(out, adj, xc, beta=0, alpha=1, out=out)
    else:
        out = torch.sparse.mm(adj, xc)
    return out.to(x.dtype)


def _spmm_scatter(rowptr: Tensor, col: Tensor, value: Tensor, x: Tensor) -> Tensor:
    msg = x.index_select(0, col.long()).float() * value.float().unsqueeze(-1)
    return torch_scatter.segment_csr(msg, rowptr.long(), reduce="sum").to(x.dtype)


def _spmm_impl(rowptr: Tensor, col: Tensor, value: Tensor, x: Tensor, backend: str) -> Tensor:
    if backend == "torch":
        return _spmm_torch(rowptr, col, value, x)
    if backend == "reference":
        return spmm_reference(rowptr, col, value, x)
    if backend == "scatter":
        return _spmm_scatter(rowptr, col, value, x)
    if backend == "triton":
        from graphrec.ops.triton.spmm import spmm_csr_triton

        return spmm_csr_triton(rowptr, col, value, x)
    raise ValueError(f"unknown backend {backend!r}")


@torch.library.custom_op("graphrec::spmm_csr", mutates_args=())
def spmm_csr(rowptr: Tensor, col: Tensor, value: Tensor, t_rowptr: Tensor, t_col: Tensor,
             t_value: Tensor, x: Tensor, backend: str = "torch") -> Tensor:
    r"""Low-level op: :math:`\mathbf{A}\mathbf{X}` for the CSR matrix
    :obj:`(rowptr, col, value)`; :obj:`(t_rowptr, t_col, t_value)` is its
    transpose, used by the backward pass (never recomputed per call).

    The per-call fast path: it validates nothing, so its tensors must come
    from a :class:`~graphrec.ops.CSRAdjacency`, which checks them once at
    construction (an invalid pointer or column reads out of bounds)."""
    return _spmm_impl(rowptr, col, value, x, backend)


@spmm_csr.register_fake
def _(rowptr, col, value, t_rowptr, t_col, t_value, x, backend="torch"):
    return x.new_empty((rowptr.shape[0] - 1, x.shape[1]))


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    rowptr, col, value, t_rowptr, t_col, t_value, x, backend = inputs
    ctx.backend = backend
    ctx.save_for_backward(rowptr, col, value, t_rowptr, t_col, t_value,
                          x if ctx.needs_input_grad[2] else None)


def _backward(ctx: Any, grad: Tensor):
    rowptr, col, value, t_rowptr, t_col, t_value, x = ctx.saved_tensors
    grad_x = grad_value = None
    if ctx.needs_input_grad[6]:
        # d(AX)/dX^T grad = A^T grad: one more spmm over the cached transpose.
        grad_x = spmm_csr(t_rowptr, t_col, t_value, rowptr, col, value, grad.contiguous(),
                          ctx.backend)
    if ctx.needs_input_grad[2]:
        # d/dv_e = <grad_row(e), x_col(e)> (sampled dense-dense product).
        row = ptr_to_index(rowptr, col.numel())
        grad_value = (grad.index_select(0, row) * x.index_select(0, col.long())).sum(-1)
        grad_value = grad_value.to(value.dtype)
    return None, None, grad_value, None, None, None, grad_x, None


spmm_csr.register_autograd(_backward, setup_context=_setup_context)


def spmm(adj: CSRAdjacency, x: Tensor, reduce: str = "sum",
         backend: str | None = None) -> Tensor:
    r"""Propagates source features over :obj:`adj`:

    .. math::
        \mathbf{y}_i = \bigoplus_{j \in \mathcal{N}(i)} w_{ji} \, \mathbf{x}_j

    with :math:`\bigoplus` a sum (``reduce='sum'``) or a mean
    (``reduce='mean'``) and :math:`w_{ji}` the adjacency's cached weights (1
    if it has none). The backward pass multiplies by the cached transpose.

    Args:
        adj (CSRAdjacency): the graph, :obj:`(num_src, num_dst)`.
        x (torch.Tensor): source features :obj:`[num_src, F]`, float32,
            float64 or bfloat16 (accumulated in float32).
        reduce (str, optional): ``'sum'`` or ``'mean'``. (default: ``'sum'``)
        backend (str, optional): ``'torch'``, ``'reference'``, ``'scatter'`` or
            ``'triton'``; chosen by device if :obj:`None`. (default: :obj:`None`)

    Returns:
        torch.Tensor: :obj:`[num_dst, F]`.
    """
    if reduce in ("add", "sum"):
        reduce = "sum"
    if x.dim() != 2 or x.size(0) != adj.num_src:
        raise ValueError(f"x must be [num_src={adj.num_src}, F], got {tuple(x.shape)}")
    backend = resolve_backend(x.device, backend)
    vdtype = torch.float32 if x.dtype in _LOW_PRECISION else x.dtype
    value, t_value = adj.values(vdtype, reduce), adj.t_values(vdtype, reduce)
    t = adj.t()
    return spmm_csr(adj.rowptr, adj.col, value, t.rowptr, t.col, t_value, x, backend)


__all__ = ["spmm", "spmm_csr"]
