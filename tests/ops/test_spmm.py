import pytest
import torch
from graphs import CASES, random_graph
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrec.ops import CSRAdjacency, spmm
from graphrec.ops.reference import spmm_reference

CPU_BACKENDS = ["torch", "reference"]


def ref(adj, x, reduce="sum"):
    return spmm_reference(adj.rowptr, adj.col, adj.values(torch.float64, reduce), x)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_cases_values_and_grads(name, backend, reduce):
    edge_index, size = CASES[name]
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    x = torch.randn(size[0], 5, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out = spmm(adj, x, reduce=reduce, backend=backend)
    expected = ref(adj, x_ref, reduce)
    assert out.shape == (size[1], 5)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    out.backward(g)
    expected.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize("name", [
    "hub_row", "duplicate_edges", "rows_without_edges", "single_node"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_gradcheck(name, reduce):
    edge_index, size = CASES[name]
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    x = torch.randn(size[0], 3, dtype=torch.float64, requires_grad=True)

    def f(x):
        return spmm(adj, x, reduce=reduce, backend="torch")

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_gradcheck_edge_weight():
    edge_index, size = random_graph(6, 4, 25, seed=3)
    w = torch.rand(25, dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)

    def f(w, x):
        adj = CSRAdjacency.from_edge_index(edge_index, size=size, edge_weight=w, normalize=False)
        return spmm(adj, x)

    assert torch.autograd.gradcheck(f, (w, x))


def test_transpose_is_reverse_direction():
    edge_index, size = random_graph(9, 7, 50, seed=4)
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    rev = CSRAdjacency.from_edge_index(edge_index.flip(0), size=(size[1], size[0]))
    y = torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(spmm(adj.t(), y), spmm(rev, y))


def test_bfloat16_accumulates_in_float32():
    edge_index, size = random_graph(50, 10, 400, seed=5, zipf=True)
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    x = torch.randn(50, 16)
    out = spmm(adj, x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), spmm(adj, x.bfloat16().float()), atol=2e-2, rtol=2e-2)


def test_shape_errors():
    adj = CSRAdjacency.from_edge_index(torch.tensor([[0, 1], [0, 0]]), size=(2, 1))
    with pytest.raises(ValueError, match="num_src=2"):
        spmm(adj, torch.randn(3, 4))
    with pytest.raises(ValueError, match="unknown backend"):
        spmm(adj, torch.randn(2, 4), backend="cuda-magic")


@settings(max_examples=30, deadline=None)
@given(num_src=st.integers(0, 40), num_dst=st.integers(0, 40), num_edges=st.integers(0, 200),
       d=st.integers(1, 9), seed=st.integers(0, 2**16), zipf=st.booleans(),
       reduce=st.sampled_from(["sum", "mean"]))
def test_random_graphs(num_src, num_dst, num_edges, d, seed, zipf, reduce):
    if num_src == 0 or num_dst == 0:
        num_edges = 0
    edge_index, size = random_graph(num_src, num_dst, num_edges, seed=seed, zipf=zipf)
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    x = torch.randn(num_src, d, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out = spmm(adj, x, reduce=reduce, backend="torch")
    expected = ref(adj, x_ref, reduce)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    out.backward(g)
    expected.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_addmm_beta_zero_ignores_uninitialised_output():
    # The CPU path writes into torch.empty with beta=0; garbage must not leak.
    edge_index, size = random_graph(30, 20, 150, seed=9)
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    x = torch.randn(30, 8)
    out = torch.full((20, 8), float("nan"))
    torch.addmm(out, adj.to_torch_sparse_csr(), x, beta=0, out=out)
    torch.testing.assert_close(out, spmm(adj, x, backend="reference"))
