"""One LightGCN propagation (d=64) side by side: PyG's LGConv on edge_index,
PyG's LGConv on a torch sparse CSR tensor, plain torch.sparse.mm, graphrec.

Run:  pytest benchmarks/test_bench_propagation.py --benchmark-only
          --benchmark-json=benchmarks/results/propagation.json
On a GPU add ``--bench-device cuda``: graphrec then runs its Triton kernels and
``torch.sparse.mm`` cuSPARSE, and ``test_copy_bandwidth`` measures the device's copy
bandwidth, from which the SpMM floor (``extra_info["spmm_bytes"]`` / bandwidth) follows.
"""
from __future__ import annotations

import pytest
import torch
from conftest import allocator_info, synchronize
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_torch_csr_tensor

from graphrec.nn.conv import LightGCNConv
from graphrec.ops import CSRAdjacency

DIM = 64
IMPLS = ["pyg_lgconv_edge_index", "pyg_lgconv_sparse_csr", "torch_sparse_mm",
         "graphrec_square", "graphrec_bipartite"]
ROUNDS = {"pyg_lgconv_edge_index": 3}


@pytest.fixture(scope="module")
def setup(graph, device):
    shape, ui, edge_index = graph
    n = shape.num_users + shape.num_items
    ei, w = gcn_norm(edge_index, None, n, add_self_loops=False)
    csr = to_torch_csr_tensor(ei, w, size=(n, n))
    return {
        "n": n,
        "shape": shape,
        "device": device,
        "edge_index": edge_index.to(device),
        "csr": csr.to(device),
        "adj_square": CSRAdjacency.from_edge_index(edge_index, size=(n, n)).to(device),
        "adj_ui": CSRAdjacency.from_edge_index(ui, size=(shape.num_users, shape.num_items)).to(device),
    }


def spmm_bytes(num_rows: int, nnz: int, dim: int, index_bytes: int = 4) -> int:
    """Bytes one CSR SpMM ``A @ X`` must move at least: the row pointer, the column
    indices and the values once, one ``dim``-row of ``X`` per edge (the gathers; a cache
    can only lower this for repeated columns) and the output once, in float32."""
    return (num_rows + 1) * index_bytes + nnz * (index_bytes + 4) + nnz * dim * 4 + num_rows * dim * 4


def make_fn(impl, s):
    nu = s["shape"].num_users
    if impl == "pyg_lgconv_edge_index":
        conv, ei = LGConv(), s["edge_index"]
        return lambda x: conv(x, ei)
    if impl == "pyg_lgconv_sparse_csr":
        conv, csr = LGConv(normalize=False), s["csr"]  # weights pre-normalised once
        return lambda x: conv(x, csr)
    if impl == "torch_sparse_mm":
        csr = s["csr"]
        return lambda x: torch.sparse.mm(csr, x)
    if impl == "graphrec_square":
        conv, adj = LightGCNConv(), s["adj_square"]
        return lambda x: conv(x, adj)
    if impl == "graphrec_bipartite":
        conv, ui = LightGCNConv(), s["adj_ui"]
        iu = ui.t()
        return lambda x: torch.cat([conv(x[nu:], iu), conv(x[:nu], ui)])
    raise ValueError(impl)


@pytest.mark.parametrize("mode", ["forward", "forward_backward"])
@pytest.mark.parametrize("impl", IMPLS)
def test_propagation(benchmark, setup, graph_name, impl, mode):
    torch.manual_seed(0)
    device = setup["device"]
    fn = make_fn(impl, setup)
    x = torch.randn(setup["n"], DIM, device=device)
    grad = torch.randn(setup["n"], DIM, device=device)
    nnz = setup["edge_index"].size(1)
    benchmark.group = f"propagation {graph_name} {mode}" + (f" {device.type}" if device.type != "cpu" else "")
    benchmark.extra_info.update(impl=impl, graph=graph_name, mode=mode, dim=DIM, device=str(device),
                                num_nodes=setup["n"], num_directed_edges=nnz,
                                spmm_bytes=spmm_bytes(setup["n"], nnz, DIM),
                                threads=torch.get_num_threads(), **allocator_info())
    if mode == "forward":
        def run():
            with torch.no_grad():
                fn(x)
            synchronize(device)
    else:
        xr = x.clone().requires_grad_()

        def run():
            fn(xr).backward(grad)
            xr.grad = None
            synchronize(device)

    benchmark.pedantic(run, rounds=ROUNDS.get(impl, 10), iterations=1, warmup_rounds=1)


def test_copy_bandwidth(benchmark, device):
    """The device's copy bandwidth (bytes read + written per second over a 1 GiB copy on
    a GPU, 256 MiB on a CPU): the yardstick of the SpMM floor, spmm_bytes / bandwidth."""
    n = (2**30 if device.type == "cuda" else 2**28) // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)

    def run():
        dst.copy_(src)
        synchronize(device)

    benchmark.group = f"copy bandwidth {device.type}"
    benchmark.extra_info.update(impl="copy", device=str(device), bytes_moved=2 * 4 * n)
    benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=2)
    benchmark.extra_info["bandwidth_gb_s"] = 2 * 4 * n / benchmark.stats.stats.min / 1e9


def test_outputs_agree(setup):
    """The compared implementations compute the same propagation."""
    x = torch.randn(setup["n"], 8, device=setup["device"])
    ref = make_fn("torch_sparse_mm", setup)(x)
    for impl in IMPLS:
        torch.testing.assert_close(make_fn(impl, setup)(x), ref, atol=1e-4, rtol=1e-4)
