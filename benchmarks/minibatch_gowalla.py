"""LightGCN on Gowalla trained full-batch (every step propagates over the whole graph,
as the paper) or on sampled subgraphs (PyG's LinkNeighborLoader around each batch's
triples, ``model.num_neighbors``), at equal epochs: test Recall@20 / NDCG@20 after
training, and the peak resident memory of training (measured before the evaluation,
each mode in a fresh process so one does not inherit the other's peak).

    python benchmarks/minibatch_gowalla.py --root ../shared/data --epochs 5 \\
        --modes full,10-10-10 --out benchmarks/results/minibatch_gowalla.json

Needs ``graphrec[sampling]`` (torch-sparse or pyg-lib) for the sampled modes.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from graphrec.metrics import atomic_write_json, markdown_table  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_mode(root: str, mode: str, epochs: int, batch_size: int, lr: float, seed: int) -> dict:
    from graphrec.data.datasets import Gowalla
    from graphrec.models import LightGCN, LightGCNConfig
    from graphrec.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    data = Gowalla(root)[0]
    before = rss_mb()
    fan = "" if mode == "full" else mode.replace("-", ",")
    torch.manual_seed(seed)
    model = LightGCN.from_data(data, LightGCNConfig(num_layers=3, num_neighbors=fan))
    # no validation split in this protocol: train for exactly `epochs`, evaluate once after
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, eval_every=epochs + 1, ks=(20,),
                      metric="recall@20", seed=seed, progress=False, num_threads=1)
    trainer = Trainer(model, data, cfg)
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    peak = rss_mb()
    test = trainer.evaluate("test")
    return {"mode": mode, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "recall@20": test["recall@20"], "ndcg@20": test["ndcg@20"], "train_seconds": seconds,
            "s/epoch": seconds / epochs, "peak_rss_mb_training": peak, "rss_mb_after_loading": before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--modes", default="full,10-10-10",
                        help="'full' and/or neighbours per hop joined by '-' (e.g. 10-10-10, -1 = all)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", default="benchmarks/results/minibatch_gowalla.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one mode, print its JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_mode(args.root, args.one, args.epochs, args.batch_size, args.lr, args.seed)))
        return
    rows = {}
    for mode in args.modes.split(","):
        cmd = [sys.executable, __file__, "--root", args.root, "--one", mode, "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--seed", str(args.seed)]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if out.returncode != 0:
            sys.exit(f"mode {mode} failed:\n{out.stderr[-3000:]}")
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(mode, rows[mode], flush=True)
    doc = {"benchmark": "LightGCN on Gowalla, full-batch vs sampled subgraphs at equal epochs",
           "command": " ".join(sys.argv), "runs": rows}
    atomic_write_json(args.out, doc)
    print(markdown_table(rows, ["recall@20", "ndcg@20", "s/epoch", "peak_rss_mb_training"],
                         title=f"LightGCN on Gowalla after {args.epochs} epochs", index_name="mode"))


if __name__ == "__main__":
    main()
