"""Propagation comparison with the implementations interleaved round by round.

The pytest-benchmark suites time one implementation after another; on a
machine whose cores are shared with other jobs the load drifts between them.
Here every round times each implementation once, in turn, so drift hits all
of them alike; ratios are taken per round and summarised by their median.

    python benchmarks/interleaved.py --graph gowalla --rounds 15 \
        --out benchmarks/results/interleaved_gowalla.json
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conftest import allocator_info  # noqa: E402
from synthetic import load, square_edge_index  # noqa: E402
from test_bench_propagation import DIM, IMPLS, make_fn  # noqa: E402
from torch_geometric.nn.conv.gcn_conv import gcn_norm  # noqa: E402
from torch_geometric.utils import to_torch_csr_tensor  # noqa: E402

from graphrec.metrics import atomic_write_json
from graphrec.ops import CSRAdjacency  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", default="gowalla")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mode", default="forward_backward", choices=["forward", "forward_backward"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape, ui = load(args.graph)
    ei = square_edge_index(ui, shape.num_users)
    n = shape.num_users + shape.num_items
    e, w = gcn_norm(ei, None, n, add_self_loops=False)
    setup = {"n": n, "shape": shape, "edge_index": ei,
             "csr": to_torch_csr_tensor(e, w, size=(n, n)),
             "adj_square": CSRAdjacency.from_edge_index(ei, size=(n, n)),
             "adj_ui": CSRAdjacency.from_edge_index(ui, size=(shape.num_users, shape.num_items))}
    torch.manual_seed(0)
    x = torch.randn(n, DIM)
    grad = torch.randn(n, DIM)
    runs = {}
    for impl in IMPLS:
        fn = make_fn(impl, setup)
        if args.mode == "forward":
            def run(fn=fn):
                with torch.no_grad():
                    fn(x)
        else:
            xr = x.clone().requires_grad_()

            def run(fn=fn, xr=xr):
                fn(xr).backward(grad)
                xr.grad = None
        run()  # warm-up
        runs[impl] = run
    times = {impl: [] for impl in IMPLS}
    load0 = os.getloadavg()
    for _ in range(args.rounds):
        for impl in IMPLS:
            t = time.perf_counter()
            runs[impl]()
            times[impl].append(time.perf_counter() - t)
    ours = "graphrec_square"
    result = {
        "graph": args.graph, "mode": args.mode, "dim": DIM, "rounds": args.rounds,
        "threads": torch.get_num_threads(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
        "allocator": allocator_info(), "torch": torch.__version__,
        "command": " ".join(["python"] + sys.argv),
        "impls": {impl: {"min_ms": 1e3 * min(ts), "median_ms": 1e3 * statistics.median(ts),
                         "median_ratio_vs_graphrec": statistics.median(
                             [a / b for a, b in zip(ts, times[ours])]),
                         "times_ms": [1e3 * t for t in ts]} for impl, ts in times.items()},
    }
    for impl, r in result["impls"].items():
        print(f"{impl:24s} min {r['min_ms']:8.1f} ms  median {r['median_ms']:8.1f} ms  "
              f"per-round ratio / graphrec {r['median_ratio_vs_graphrec']:6.2f}x")
    if args.out:
        atomic_write_json(args.out, result, indent=1)


if __name__ == "__main__":
    main()
