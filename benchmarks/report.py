"""Writes docs/benchmarks.md from the JSON the benchmarks produced.

    python benchmarks/report.py --bench benchmarks/results/bench_default.json \
        [--bench more.json ...] [--epoch benchmarks/results/epoch_*.json] \
        [--interleaved benchmarks/results/interleaved_gowalla.json ...] \
        [--allocator benchmarks/results/allocator.json] --out docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

from graphrec.utils.io import atomic_write_text

BASELINES = ("pyg_lgconv_edge_index", "torch_sparse_mm", "pyg_softmax_index")
#: graphrec's implementation in each benchmark group (keyed by the group's first word)
GRAPHREC = {"propagation": "graphrec_square", "segment_softmax": "graphrec_segment_softmax",
            "read_table:": "pyarrow", "read_rec_log:": "pyarrow", "full-ranking": "graphrec"}


def _env(info: dict) -> str:
    a = info.get("allocator", {})
    parts = [a.get("allocator", "?")]
    if a.get("OMP_WAIT_POLICY"):
        parts.append(f"OMP_WAIT_POLICY={a['OMP_WAIT_POLICY']}")
    return ", ".join(parts)


def _fmt_load(load) -> str:
    return "?" if not load else "/".join(f"{v:.1f}" for v in load)


def _impl(bench: dict) -> str:
    info = bench["extra_info"]
    return info.get("impl") or info.get("parser") or bench["name"]


def bench_section(path: str) -> list[str]:
    with open(path) as f:
        data = json.load(f)
    mi = data.get("machine_info", {})
    command = data.get("command", "?")
    if "pytest/__main__.py" in command:
        command = "python -m pytest" + command.split("pytest/__main__.py", 1)[1]
    start, end = mi.get("loadavg_at_start"), data.get("loadavg_at_end")
    load = (f"load average {_fmt_load(start)} at start, {_fmt_load(end)} at end" if start != end
            else f"load average {_fmt_load(end)} when saved")
    lines = [
        f"### `{os.path.basename(path)}`",
        "",
        f"Command: `{command}`  ",
        f"Machine: {mi.get('cpu', {}).get('brand_raw', '?')}, {mi.get('torch_num_threads')} torch "
        f"threads, torch {mi.get('torch')}, PyG {mi.get('torch_geometric')}; allocator: "
        f"{_env(mi)}; {load} (the 2 cores were shared with other jobs).",
        "",
    ]
    groups: dict[str, list] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"]].append(b)
    for group, items in groups.items():
        kind = group.split()[0]
        ours = next((b for b in items if _impl(b) == GRAPHREC.get(kind)), None)
        lines += [f"**{group}** (ms)", "",
                  "| implementation | min | median | mean | rounds | median / graphrec "
                  "| min / graphrec |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for b in sorted(items, key=lambda b: b["stats"]["median"]):
            s = b["stats"]
            r_med = s["median"] / ours["stats"]["median"] if ours else float("nan")
            r_min = s["min"] / ours["stats"]["min"] if ours else float("nan")
            lines.append(f"| {_impl(b)} | {1e3 * s['min']:.1f} | "
                         f"{1e3 * s['median']:.1f} | {1e3 * s['mean']:.1f} | {s['rounds']} | "
                         f"{r_med:.2f}x | {r_min:.2f}x |")
        lines.append("")
    return lines


def epoch_section(paths: list[str]) -> list[str]:
    lines = ["## One LightGCN training epoch (Gowalla-shaped, batch 2048, d=64, 3 layers)", "",
             "| propagation | s / batch | epoch (s) | batches timed | minor faults / batch | "
             "sys CPU | first loss | allocator | command |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    rows = []
    for p in paths:
        with open(p) as f:
            rows.append(json.load(f))
    for r in rows:
        ext = " (extrapolated)" if r["epoch_extrapolated"] else ""
        share = r["sys_cpu_s"] / max(r["user_cpu_s"] + r["sys_cpu_s"], 1e-9)
        lines.append(f"| {r['impl']} | {r['s_per_batch']:.3f} | {r['epoch_s']:.0f}{ext} | "
                     f"{r['batches_timed']}/{r['batches_per_epoch']} | "
                     f"{r['minor_page_faults'] / r['batches_timed']:.0f} | {100 * share:.1f}% | "
                     f"{r['first_loss']:.6f} | {_env({'allocator': r['allocator']})} | "
                     f"`{r['command']}` |")
    by = {r["impl"]: r for r in rows}
    if "pyg" in by and "graphrec" in by:
        lines += ["", f"graphrec / PyG epoch speed-up: "
                  f"**{by['pyg']['s_per_batch'] / by['graphrec']['s_per_batch']:.1f}x** "
                  f"(same first-batch loss: {by['pyg']['first_loss']:.6f} vs "
                  f"{by['graphrec']['first_loss']:.6f})."]
    return lines + [""]


def interleaved_section(paths: list[str]) -> list[str]:
    lines = ["## Propagation, implementations interleaved round by round", "",
             "Each round times every implementation once, in turn (`benchmarks/interleaved.py`),"
             " so load drift on the shared cores hits all alike; the ratio is the median of "
             "per-round ratios.", ""]
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        lines += [f"**{r['graph']} {r['mode']}**, d={r['dim']}, {r['rounds']} rounds, "
                  f"{r['threads']} threads, {_env({'allocator': r['allocator']})}, load "
                  f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f}; command: "
                  f"`{r['command']}`", "",
                  "| implementation | min (ms) | median (ms) "
                  "| per-round time / graphrec (median) |",
                  "|---|---:|---:|---:|"]
        for impl, v in sorted(r["impls"].items(), key=lambda kv: kv[1]["median_ms"]):
            lines.append(f"| {impl} | {v['min_ms']:.1f} | {v['median_ms']:.1f} | "
                         f"{v['median_ratio_vs_graphrec']:.2f}x |")
        lines.append("")
    return lines


def allocator_section(path: str) -> list[str]:
    with open(path) as f:
        data = json.load(f)
    lines = ["## Allocation churn (glibc default vs `MALLOC_MMAP_MAX_=0 "
             "MALLOC_TRIM_THRESHOLD_=100000000000`)", "", f"Command: `{data['command']}`", "",
             "| propagation | malloc | OMP_WAIT_POLICY | s / batch | minor faults / batch | "
             "sys share of CPU | load |", "|---|---|---|---:|---:|---:|---:|"]
    for r in data["runs"]:
        lines.append(f"| {r['impl']} | {r['malloc']} | {r['omp_wait_policy']} | "
                     f"{r['s_per_batch']:.3f} | {r['faults_per_batch']:.0f} | "
                     f"{100 * r['sys_share']:.1f}% | {r['loadavg'][0]:.1f} |")
    return lines + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="append", default=[])
    ap.add_argument("--epoch", action="append", default=[])
    ap.add_argument("--allocator", default=None)
    ap.add_argument("--readers", action="append", default=[], help="pytest-benchmark JSON of test_bench_readers.py")
    ap.add_argument("--evaluation", action="append", default=[],
                    help="pytest-benchmark JSON of test_bench_evaluation.py")
    ap.add_argument("--interleaved", action="append", default=[])
    ap.add_argument("--notes", default=None, help="markdown file inserted after the title")
    ap.add_argument("--out", default="docs/benchmarks.md")
    args = ap.parse_args()
    lines = ["# Benchmarks: graphrec's propagation and segment kernels", "",
             "Generated by `benchmarks/report.py` from the JSON files named below; "
             "graphs are synthetic Zipf-degree bipartite graphs of the stated shapes "
             "(`benchmarks/synthetic.py`, seed 0).", ""]
    if args.notes:
        with open(args.notes) as f:
            lines += [f.read().rstrip(), ""]
    if args.bench:
        lines += ["## Propagation and segment softmax (pytest-benchmark)", ""]
        for p in args.bench:
            lines += bench_section(p)
    if args.interleaved:
        lines += interleaved_section(args.interleaved)
    if args.epoch:
        lines += epoch_section(args.epoch)
    if args.allocator:
        lines += allocator_section(args.allocator)
    if args.evaluation:
        lines += ["## Full-ranking evaluation against its floor", "",
                  "`floor` is the plain loop of chunked `u @ I^T`, seen items set to -inf and "
                  "`torch.topk(k=20)`, at its fastest chunk; `recbole_style` and `pyg_style` are "
                  "evaluation loops written the way RecBole and PyG's LightGCN example write them. "
                  "graphrec's `full_ranking` also gives the exact, untruncated MRR with pessimistic ties.", ""]
        for p in args.evaluation:
            lines += bench_section(p)
    if args.readers:
        lines += ["## Reading raw logs: the pyarrow reader against graphrec 0.1's hand parser", "",
                  "Both parse KuaiSAR's `df.csv.gz` into the same table (the benchmark asserts it); "
                  "graphrec's validation runs on top of either.", ""]
        for p in args.readers:
            lines += bench_section(p)
    atomic_write_text(args.out, "\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    main()
