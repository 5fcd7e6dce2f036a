"""The registered ops pass torch.library's opcheck and compile without graph breaks."""
import pytest
import torch
from graphs import random_graph

from graphrec.ops import CSRAdjacency, segment_reduce, segment_softmax, spmm
from graphrec.ops.segment import segment_reduce_op, segment_softmax_op
from graphrec.ops.spmm import spmm_csr


def _adj():
    edge_index, size = random_graph(12, 9, 60, seed=11, zipf=True)
    return CSRAdjacency.from_edge_index(edge_index, size=size)


def test_opcheck_spmm():
    adj = _adj()
    t = adj.t()
    x = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)
    args = (adj.rowptr, adj.col, adj.values(torch.float64), t.rowptr, t.col,
            adj.t_values(torch.float64), x, "torch")
    torch.library.opcheck(spmm_csr, args)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_opcheck_segment(reduce):
    ptr = torch.tensor([0, 3, 3, 7, 10])
    x = torch.randn(10, 2, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(segment_reduce_op, (x, ptr, reduce, "torch"))
    torch.library.opcheck(segment_softmax_op, (x, ptr, "torch"))


def _count_breaks(fn, *args):
    import torch._dynamo

    torch._dynamo.reset()
    return torch._dynamo.explain(fn)(*args).graph_break_count


def test_compile_ops_fullgraph():
    adj = _adj()
    ptr = torch.tensor([0, 3, 3, 7, 9])

    def f(x, s):
        h = spmm(adj, x, reduce="mean")
        h = spmm(adj.t(), h)
        a = segment_softmax(s, ptr)
        return h.sum() + segment_reduce(h[:9] * a[:, :1], ptr, "max").sum()

    x = torch.randn(12, 4, requires_grad=True)
    s = torch.randn(9, 2, requires_grad=True)
    assert _count_breaks(f, x, s) == 0
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = compiled(x, s)
    torch.testing.assert_close(out, f(x, s))
    g = torch.autograd.grad(out, (x, s))
    g_ref = torch.autograd.grad(f(x, s), (x, s))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)


@pytest.mark.slow  # ~40 s of C++ compilation on 2 cores
def test_compile_inductor():
    pytest.importorskip("torch._inductor")
    adj = _adj()
    x = torch.randn(12, 4, requires_grad=True)

    def f(x):
        return (spmm(adj.t(), spmm(adj, x)) * 2).square().sum()

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True)
    out = compiled(x)
    torch.testing.assert_close(out, f(x))
    torch.testing.assert_close(torch.autograd.grad(out, x)[0], torch.autograd.grad(f(x), x)[0])
