import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.utils import softmax as pyg_softmax

from graphrec.ops import gather_csr, scatter, segment_reduce, segment_softmax
from graphrec.ops.reference import (
    ptr_to_index,
    scatter_reference,
    segment_reduce_reference,
    segment_softmax_reference,
)

# name -> segment lengths
SEGMENTS = {
    "no_segments": [],
    "all_empty": [0, 0, 0],
    "empty_rows": [2, 0, 3, 0],
    "hub": [1, 90, 2, 0, 7],
    "single": [1],
    "one_long": [40],
}


def make_ptr(lengths):
    return torch.tensor([0] + list(torch.tensor(lengths, dtype=torch.long).cumsum(0).tolist()),
                        dtype=torch.long)


@pytest.mark.parametrize("name", sorted(SEGMENTS))
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
@pytest.mark.parametrize("shape", [(), (4,)])
def test_segment_reduce_cases(name, reduce, shape):
    ptr = make_ptr(SEGMENTS[name])
    x = torch.randn((int(ptr[-1]),) + shape, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out = segment_reduce(x, ptr, reduce, backend="torch")
    expected = segment_reduce_reference(x_ref, ptr, reduce)
    torch.testing.assert_close(out, expected)
    if x.numel():
        g = torch.randn_like(out)
        out.backward(g)
        expected.backward(g)
        torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_segment_reduce_gradcheck(reduce):
    ptr = make_ptr([3, 0, 5, 1])
    x = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: segment_reduce(x, ptr, reduce), (x,))


def test_segment_reduce_int32_ptr_and_errors():
    x = torch.randn(5, 2)
    ptr = torch.tensor([0, 2, 5], dtype=torch.int32)
    torch.testing.assert_close(segment_reduce(x, ptr), segment_reduce_reference(x, ptr))
    with pytest.raises(ValueError, match="end at x.size"):
        segment_reduce(x, torch.tensor([0, 2, 4]))
    with pytest.raises(ValueError, match="non-decreasing"):
        segment_reduce(x, torch.tensor([0, 3, 2, 5]))
    with pytest.raises(ValueError, match="reduce must be"):
        segment_reduce(x, ptr, "prod")


@pytest.mark.parametrize("name", sorted(SEGMENTS))
@pytest.mark.parametrize("heads", [None, 3])
def test_segment_softmax_cases(name, heads):
    ptr = make_ptr(SEGMENTS[name])
    n = int(ptr[-1])
    shape = (n,) if heads is None else (n, heads)
    s = (10 * torch.randn(shape, dtype=torch.float64)).requires_grad_()
    s_ref = s.detach().clone().requires_grad_()
    out = segment_softmax(s, ptr)
    expected = segment_softmax_reference(s_ref, ptr)
    torch.testing.assert_close(out, expected)
    if n:
        torch.testing.assert_close(out, pyg_softmax(s.detach(), ptr=ptr))
        g = torch.randn_like(out)
        out.backward(g)
        # reference gradient through autograd of torch.softmax per segment
        (expected * g).sum().backward()
        torch.testing.assert_close(s.grad, s_ref.grad)


def test_segment_softmax_stable_and_gradcheck():
    ptr = make_ptr([2, 3])
    s = torch.tensor([1000.0, 1001.0, -1000.0, 0.0, 5.0], dtype=torch.float64)
    out = segment_softmax(s, ptr)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:2].sum(), torch.tensor(1.0, dtype=torch.float64))
    s = torch.randn(9, 2, dtype=torch.float64, requires_grad=True)
    ptr = make_ptr([4, 0, 1, 4])
    assert torch.autograd.gradcheck(lambda s: segment_softmax(s, ptr), (s,))


def test_segment_softmax_bfloat16():
    ptr = make_ptr([5, 7])
    s = torch.randn(12, 2)
    torch.testing.assert_close(segment_softmax(s.bfloat16(), ptr).float(),
                               segment_softmax(s, ptr), atol=1e-2, rtol=1e-2)


def test_gather_scatter_helpers():
    ptr = make_ptr([2, 0, 3])
    src = torch.randn(3, 4)
    torch.testing.assert_close(gather_csr(src, ptr), src[ptr_to_index(ptr)])
    index = torch.tensor([2, 0, 2, 2, 4])
    x = torch.randn(5, 3)
    for reduce in ["sum", "mean", "max"]:
        expected = scatter_reference(x, index, 6, reduce)
        torch.testing.assert_close(scatter(x, index, 6, reduce), expected)


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(0, 12), max_size=12), f=st.integers(1, 5),
       reduce=st.sampled_from(["sum", "mean", "max"]), seed=st.integers(0, 1000))
def test_random_segments(lengths, f, reduce, seed):
    torch.manual_seed(seed)
    ptr = make_ptr(lengths)
    x = torch.randn(int(ptr[-1]), f, dtype=torch.float64)
    expected = segment_reduce_reference(x, ptr, reduce)
    torch.testing.assert_close(segment_reduce(x, ptr, reduce), expected)
    torch.testing.assert_close(segment_softmax(x, ptr), segment_softmax_reference(x, ptr))
