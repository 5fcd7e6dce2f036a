"""segment_softmax over every destination's neighbourhood (attention over
variable-length neighbourhoods) against PyG's torch_geometric.utils.softmax,
with an index (PyG's usual call) and with a CSR pointer.

Run:  pytest benchmarks/test_bench_segment_softmax.py --benchmark-only
"""
from __future__ import annotations

import pytest
import torch
from conftest import allocator_info, synchronize
from torch_geometric.utils import softmax as pyg_softmax

from graphrec.ops import CSRAdjacency, segment_softmax

IMPLS = ["pyg_softmax_index", "pyg_softmax_ptr", "graphrec_segment_softmax"]


@pytest.fixture(scope="module")
def segments(graph, device):
    shape, ui, _ = graph
    adj = CSRAdjacency.from_edge_index(ui, size=(shape.num_users, shape.num_items))
    return adj.rowptr.long().to(device), adj.row.long().to(device), shape.num_items


@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("mode", ["forward", "forward_backward"])
@pytest.mark.parametrize("impl", IMPLS)
def test_segment_softmax(benchmark, segments, graph_name, impl, mode, heads):
    ptr, index, num_seg = segments
    device = ptr.device
    torch.manual_seed(0)
    scores = torch.randn(index.numel(), heads, device=device)
    grad = torch.randn_like(scores)
    fn = {
        "pyg_softmax_index": lambda s: pyg_softmax(s, index, num_nodes=num_seg),
        "pyg_softmax_ptr": lambda s: pyg_softmax(s, ptr=ptr),
        "graphrec_segment_softmax": lambda s: segment_softmax(s, ptr),
    }[impl]
    benchmark.group = f"segment_softmax {graph_name} heads={heads} {mode}" + (
        f" {device.type}" if device.type != "cpu" else "")
    benchmark.extra_info.update(impl=impl, graph=graph_name, mode=mode, heads=heads, device=str(device),
                                num_elements=index.numel(), **allocator_info())
    if mode == "forward":
        def run():
            with torch.no_grad():
                fn(scores)
            synchronize(device)
    else:
        sr = scores.clone().requires_grad_()

        def run():
            fn(sr).backward(grad)
            sr.grad = None
            synchronize(device)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
