"""Does graphrec's training loop suffer from glibc allocation churn?

Runs ``lightgcn_epoch.py`` (a slice of a Gowalla epoch) in fresh processes
with glibc's default allocator and with ``MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=100000000000``, for graphrec's path and PyG's default
path, and records wall time, user/system CPU and page faults per batch.

    python benchmarks/allocator.py --out benchmarks/results/allocator.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from graphrec.metrics import atomic_write_json

HERE = os.path.dirname(os.path.abspath(__file__))
TUNED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def run(impl: str, batches: int, malloc: str, omp: str, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in TUNED and k != "OMP_WAIT_POLICY"}
    if malloc == "tuned":
        env.update(TUNED)
    if omp != "default":
        env["OMP_WAIT_POLICY"] = omp
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, os.path.join(HERE, "lightgcn_epoch.py"), "--impl", impl,
           "--batches", str(batches), "--out", out]
    if threads:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    res.update(malloc=malloc, omp_wait_policy=omp,
               faults_per_batch=res["minor_page_faults"] / res["batches_timed"],
               sys_share=res["sys_cpu_s"] / max(res["user_cpu_s"] + res["sys_cpu_s"], 1e-9))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--pyg-batches", type=int, default=2)
    ap.add_argument("--omp", default="default,PASSIVE")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "allocator.json"))
    args = ap.parse_args()
    rows = []
    for omp in args.omp.split(","):
        for impl, n in (("graphrec", args.batches), ("pyg", args.pyg_batches)):
            for malloc in ("default", "tuned"):
                r = run(impl, n, malloc, omp, args.threads)
                print(f"{impl:9s} malloc={malloc:7s} omp={omp:8s} {r['s_per_batch']:.3f} s/batch "
                      f"faults/batch={r['faults_per_batch']:.0f} sys={100 * r['sys_share']:.1f}% "
                      f"load={r['loadavg'][0]:.1f}", flush=True)
                rows.append(r)
    atomic_write_json(args.out, {"command": " ".join(["python"] + sys.argv), "runs": rows}, indent=1)


if __name__ == "__main__":
    main()
