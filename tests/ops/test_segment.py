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


# name -> (ptr, number of rows of x / scores, error pattern); ptr is validated
# against x.size(0) by the reductions and softmax.
BAD_PTRS = {
    "decreasing": ([0, 3, 2, 5], 5, r"ptr must be non-decreasing; ptr\[1\]=3 > ptr\[2\]=2"),
    "huge_then_small": ([0, 100000, 2], 2,
                        r"ptr must be non-decreasing; ptr\[1\]=100000 > ptr\[2\]=2"),
    "not_starting_at_0": ([1, 2, 5], 5, r"ptr must start at 0, got ptr\[0\]=1"),
    "negative_start": ([-2, 2, 5], 5, r"ptr must start at 0, got ptr\[0\]=-2"),
    "short_end": ([0, 2, 4], 5, r"ptr must end at \w+\.size\(0\)=5, got ptr\[-1\]=4"),
    "long_end": ([0, 2, 9], 5, r"ptr must end at \w+\.size\(0\)=5, got ptr\[-1\]=9"),
    "empty": ([], 0, r"ptr must have at least one entry"),
}


@pytest.mark.parametrize("name", sorted(BAD_PTRS))
@pytest.mark.parametrize("fn", ["segment_reduce", "segment_softmax"])
def test_bad_ptr_raises(name, fn):
    ptr, n, msg = BAD_PTRS[name]
    op = {"segment_reduce": segment_reduce, "segment_softmax": segment_softmax}[fn]
    with pytest.raises(ValueError, match=f"^{fn}: {msg}"):
        op(torch.randn(n, 2), torch.tensor(ptr, dtype=torch.long))


@pytest.mark.parametrize("ptr,msg", [
    (torch.tensor([0.0, 1.0, 2.0]), r"ptr must be an int32 or int64 tensor, got torch.float32"),
    (torch.tensor([[0, 1, 2]]), r"ptr must be 1-D, got shape \(1, 3\)"),
    (torch.tensor([True, True]), r"ptr must be an int32 or int64 tensor, got torch.bool"),
])
def test_bad_ptr_dtype_and_shape(ptr, msg):
    x = torch.randn(2, 3)
    for fn, op in [("segment_reduce", segment_reduce), ("segment_softmax", segment_softmax),
                   ("gather_csr", gather_csr)]:
        with pytest.raises(ValueError, match=f"^{fn}: {msg}"):
            op(x, ptr)


# name -> (ptr, number of segments (rows of src), error pattern)
BAD_GATHER_PTRS = {
    "issue_12": ([0, 100000, 2], 2, r"ptr must be non-decreasing; ptr\[1\]=100000 > ptr\[2\]=2"),
    "negative_count": ([0, 4, 1, 6], 3, r"ptr must be non-decreasing; ptr\[1\]=4 > ptr\[2\]=1"),
    "not_starting_at_0": ([2, 3, 4], 2, r"ptr must start at 0, got ptr\[0\]=2"),
    "too_many_segments": ([0, 1, 2, 3], 2, r"ptr must have src.size\(0\) \+ 1 = 3 entries, got 4"),
    "too_few_segments": ([0, 1], 2, r"ptr must have src.size\(0\) \+ 1 = 3 entries, got 2"),
}


@pytest.mark.parametrize("name", sorted(BAD_GATHER_PTRS))
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_gather_csr_bad_ptr_raises(name, dtype):
    ptr, num_segments, msg = BAD_GATHER_PTRS[name]
    with pytest.raises(ValueError, match=f"^gather_csr: {msg}"):
        gather_csr(torch.ones(num_segments, 3), torch.tensor(ptr, dtype=dtype))


def test_gather_csr_issue_12_does_not_crash_the_interpreter():
    # Issue 12: this corrupted the heap (malloc abort / segfault). Run it in a
    # fresh interpreter so a regression cannot take the test session down.
    import subprocess
    import sys

    code = ("import torch\n"
            "from graphrec.ops import gather_csr\n"
            "try:\n"
            "    gather_csr(torch.ones(2, 3), torch.tensor([0, 100000, 2]))\n"
            "except ValueError as e:\n"
            "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "gather_csr: ptr must be non-decreasing; ptr[1]=100000 > ptr[2]=2"


@pytest.mark.parametrize("name", sorted(SEGMENTS))
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_gather_csr_valid_cases(name, dtype):
    ptr = make_ptr(SEGMENTS[name]).to(dtype)
    src = torch.randn(ptr.numel() - 1, 4, dtype=torch.float64, requires_grad=True)
    out = gather_csr(src, ptr)
    assert out.shape == (int(ptr[-1]), 4)
    torch.testing.assert_close(out, src[ptr_to_index(ptr)])
    if out.numel():
        out.backward(torch.ones_like(out))
        torch.testing.assert_close(src.grad[:, 0], (ptr[1:] - ptr[:-1]).to(src.dtype))


def test_should_validate_by_device(monkeypatch):
    from graphrec.ops.dispatch import should_validate

    monkeypatch.delenv("GRAPHREC_VALIDATE", raising=False)
    assert should_validate(torch.device("cpu"))
    assert not should_validate(torch.device("cuda"))  # a check would synchronise
    monkeypatch.setenv("GRAPHREC_VALIDATE", "1")
    assert should_validate(torch.device("cuda"))
