"""Training-epoch time of IDCLRec's variants against its backbone on Amazon Beauty, the models
interleaved: each round runs the next ``--chunk`` batches of every model in turn, so the load of a
shared machine drifts over all of them alike (as ``interleaved.py`` does for propagation).

Every model trains on its own epoch of length-bucketed batches (``--length-buckets``, 16 as the grid's
CPU runs) from the same seed; the epoch estimate is the mean step times the model's batches per epoch,
and the padded cells of the epoch's input windows (rows x width, summed over its batches) say how much
of the difference is padding.

    OMP_NUM_THREADS=1 python benchmarks/sequential_epoch.py --out benchmarks/results/sequential_epoch_paired.json
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import allocator_info  # noqa: E402
from test_bench_sequential import MODELS, SHARED  # noqa: E402

from graphrec.data import train_history  # noqa: E402
from graphrec.data.loader import SubsequenceLoader  # noqa: E402
from graphrec.datasets import AmazonSeq  # noqa: E402
from graphrec.metrics import atomic_write_json  # noqa: E402

DEFAULT_MODELS = ("idclrec_backbone", "idclrec_paired", "idclrec_paired_by_length")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="names of test_bench_sequential.MODELS; "
                    "the first is the reference")
    ap.add_argument("--length-buckets", type=int, default=16)
    ap.add_argument("--batches", type=int, default=0, help="batches of each epoch to time (0: all)")
    ap.add_argument("--chunk", type=int, default=10, help="batches of one model per turn")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    names = args.models.split(",")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {sorted(MODELS)}")
    if args.chunk < 1 or args.batches < 0 or args.length_buckets < 0:
        ap.error("--chunk must be >= 1, --batches and --length-buckets >= 0")
    if not (Path(SHARED) / "amazon_seq").is_dir():
        ap.error(f"Amazon Beauty not found under {SHARED} (set GRAPHREC_SHARED_DATA)")
    torch.set_num_threads(args.threads)
    data = AmazonSeq(str(SHARED), name="beauty")[0]
    hist, num_items = train_history(data), data["item"].num_nodes
    runs = {}
    for name in names:
        torch.manual_seed(0)
        model = MODELS[name](data).train()
        inputs = model.train_inputs()
        loader = SubsequenceLoader(hist, num_items, 50, 256, generator=torch.Generator().manual_seed(0),
                                   length_buckets=args.length_buckets, pair_partners=inputs.pair_partners,
                                   pair_by_length=inputs.pair_by_length)
        batches = list(loader)
        runs[name] = {"model": model, "opt": torch.optim.Adam(model.parameters(), lr=1e-3),
                      "batches": iter(batches[:args.batches or None]), "per_epoch": len(batches),
                      "cells": sum(b["input"].numel() for b in batches),
                      "steps": [], "rounds": []}
    active = True
    while active:
        active = False
        for r in runs.values():
            spent = 0.0
            for batch in itertools.islice(r["batches"], args.chunk):
                start = time.perf_counter()
                r["opt"].zero_grad()
                r["model"].loss(batch)["loss"].backward()
                r["opt"].step()
                r["steps"].append(time.perf_counter() - start)
                spent += r["steps"][-1]
            if spent:
                r["rounds"].append(spent)
                active = True
    ref = runs[names[0]]
    epoch_ref = statistics.fmean(ref["steps"]) * ref["per_epoch"]
    out = {"dataset": "beauty", "length_buckets": args.length_buckets, "batch_size": 256, "chunk": args.chunk,
           "threads": torch.get_num_threads(), "reference": names[0], **allocator_info(), "models": {}}
    for name, r in runs.items():
        epoch = statistics.fmean(r["steps"]) * r["per_epoch"]
        rounds = min(len(r["rounds"]), len(ref["rounds"]))
        out["models"][name] = {
            "batches_timed": len(r["steps"]), "batches_per_epoch": r["per_epoch"], "padded_cells": r["cells"],
            "cells_ratio": r["cells"] / ref["cells"], "mean_step_ms": 1000 * statistics.fmean(r["steps"]),
            "epoch_s": epoch, "epoch_ratio": epoch / epoch_ref,
            # per round: this model's chunk against the reference's chunk of the same round
            "median_round_ratio": statistics.median(r["rounds"][i] / ref["rounds"][i] for i in range(rounds))}
        m = out["models"][name]
        print(f"{name:28s} cells {m['cells_ratio']:.3f}x  step {m['mean_step_ms']:7.1f} ms  epoch {epoch:6.1f} s "
              f"({m['epoch_ratio']:.2f}x; median round {m['median_round_ratio']:.2f}x)")
    if args.out:
        atomic_write_json(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
