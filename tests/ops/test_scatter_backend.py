"""The optional torch-scatter backend: clear error when absent, routing through
``segment_csr`` when present (checked with a stand-in module everywhere, and
against the real package when it is installed)."""
import importlib
import types

import pytest
import torch

from graphrec.ops import CSRAdjacency, reference, segment_reduce, spmm
from graphrec.typing import WITH_TORCH_SCATTER

# the package re-exports functions named like these modules, so import the modules by path
dispatch = importlib.import_module("graphrec.ops.dispatch")
spmm_mod = importlib.import_module("graphrec.ops.spmm")
segment_mod = importlib.import_module("graphrec.ops.segment")


def graph():
    ei = torch.tensor([[0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 2, 2]])
    return CSRAdjacency.from_edge_index(ei, size=(3, 4))


@pytest.mark.skipif(WITH_TORCH_SCATTER, reason="torch-scatter is installed")
def test_missing_torch_scatter_is_a_clear_error():
    with pytest.raises(ImportError, match=r"graphrec\[scatter\]"):
        spmm(graph(), torch.randn(3, 4), backend="scatter")


def test_scatter_backend_routes_through_segment_csr(monkeypatch):
    calls = []

    def segment_csr(src, indptr, reduce="sum"):
        calls.append(reduce)
        return reference.segment_reduce_reference(src, indptr, reduce)

    fake = types.SimpleNamespace(segment_csr=segment_csr)
    monkeypatch.setattr(dispatch, "WITH_TORCH_SCATTER", True)
    monkeypatch.setattr(spmm_mod, "torch_scatter", fake)
    monkeypatch.setattr(segment_mod, "torch_scatter", fake)
    adj, x = graph(), torch.randn(3, 5, dtype=torch.float64)
    assert torch.allclose(spmm(adj, x, backend="scatter"), spmm(adj, x, backend="reference"))
    ptr = torch.tensor([0, 2, 2, 5])
    v = torch.randn(5, 3)
    for reduce in ("sum", "mean", "max"):
        out = segment_reduce(v, ptr, reduce, backend="scatter")
        assert torch.allclose(out, reference.segment_reduce_reference(v, ptr, reduce))
    assert calls  # the stand-in was used


@pytest.mark.skipif(not WITH_TORCH_SCATTER, reason="torch-scatter not installed (optional extra "
                    "graphrec[scatter]; built from source, kept out of CI)")
def test_real_torch_scatter_matches_reference():
    adj, x = graph(), torch.randn(3, 5, dtype=torch.float64)
    assert torch.allclose(spmm(adj, x, backend="scatter"), spmm(adj, x, backend="reference"))
    ptr = torch.tensor([0, 2, 2, 5])
    v = torch.randn(5, 3, dtype=torch.float64)
    for reduce in ("sum", "mean", "max"):
        assert torch.allclose(segment_reduce(v, ptr, reduce, backend="scatter"),
                              reference.segment_reduce_reference(v, ptr, reduce))
