"""Time per training epoch of one process against ``torchrun --nproc_per_node=N``
(gloo, CPU), through the command line users run:

    python -m graphrec train --model M ...
    torchrun --standalone --nproc_per_node=2 -m graphrec train --model M ...

    python benchmarks/distributed_epoch.py --models bpr_mf,lightgcn,sasrec --rounds 2 \\
        --out benchmarks/results/distributed_epoch.json

Each run trains ``--epochs`` epochs on the synthetic world (``--users`` x ``--items``),
one thread per process (``OMP_NUM_THREADS=1``, ``train.num_threads=1``), and
validation only after the last epoch; the figure is ``seconds_per_epoch`` of its
``results.json`` (median training seconds per epoch, rank 0's wall clock, start-up
and evaluation excluded). The runs of a round go one after the other, each model
once with 1 and once with N processes, so a change of the machine's load hits both;
the load average is recorded before and after every run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from graphrec.metrics import atomic_write_json, environment_info  # noqa: E402


def run(model: str, procs: int, args: argparse.Namespace, out: str, cache: str) -> dict:
    train = ["train", "--model", model, "--output", out, "-q",
             "--set", f"data.num_users={args.users}", "--set", f"data.num_items={args.items}",
             "--set", f"train.epochs={args.epochs}", "--set", f"train.eval_every={args.epochs}",
             "--set", "train.num_threads=1", "--set", f"train.seed={args.seed}"]
    launcher = ([sys.executable] if procs == 1 else
                [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"])
    cmd = [*launcher, "-m", "graphrec", *train]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", GRAPHREC_CACHE=cache)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    return {"model": model, "processes": procs, "seconds_per_epoch": doc["seconds_per_epoch"],
            "epoch_seconds": [h["seconds"] for h in doc["history"]], "loss": [h["loss"] for h in doc["history"]],
            "test_ndcg@10": doc["test"].get("ndcg@10"), "command_wall_seconds": wall,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "command": " ".join(["OMP_NUM_THREADS=1", "python" if procs == 1 else
                                 f"torchrun --standalone --nproc_per_node={procs}", "-m", "graphrec",
                                 *(a if a != out else "OUT" for a in train)])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="bpr_mf,lightgcn,sasrec")
    p.add_argument("--procs", type=int, default=2, help="processes of the torchrun runs")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--out", default=None, help="write the records as JSON here")
    args = p.parse_args()
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        for r in range(args.rounds):
            for model in args.models.split(","):
                for procs in (1, args.procs):
                    rec = run(model, procs, args, os.path.join(tmp, f"{model}-{procs}-{r}"), cache)
                    rec["round"] = r
                    records.append(rec)
                    print(f"round {r} {model:10s} {procs} process(es): {rec['seconds_per_epoch']:.3f} s/epoch "
                          f"(load {rec['loadavg_before'][0]:.1f})", flush=True)
    summary = {}
    for model in args.models.split(","):
        per = {n: sorted(x["seconds_per_epoch"] for x in records if x["model"] == model and x["processes"] == n)
               for n in (1, args.procs)}
        summary[model] = {f"{n}_processes": {"min": v[0], "median": v[len(v) // 2]} for n, v in per.items()}
        summary[model]["speedup_of_min"] = per[1][0] / per[args.procs][0]
    print(json.dumps(summary, indent=2))
    if args.out:
        atomic_write_json(args.out, {"settings": vars(args), "summary": summary, "runs": records,
                                     "cpus": os.cpu_count(), "environment": environment_info()})


if __name__ == "__main__":
    main()
