"""The tables of issue 14's sequential grid: one per dataset, every model's test HR / NDCG at 5, 10 and
20 as mean ± std over its seeds, the epochs it trained and whether early stopping ended it, beside the
published figures, and the best validation NDCG@20 (what model selection saw, and all there is of
an unfinished run). ``--at-epochs`` adds, per dataset, every run's validation NDCG@20 at those epochs (mean
± std over its seeds): the comparison at equal training that unfinished runs allow.

    python docs/_scripts/seq_tables.py GRID_DIR [--published docs/results/sequential_published.json] [--json OUT.json]
        [--curves OUT.png] [--at-epochs 10,20,40 [--runs NAME,...]]

GRID_DIR is the ``--output`` of ``docs/_scripts/seq_grid.py`` (``DATASET/RUN/MODEL/seed-S/results.json``).
A run with no ``results.json`` (stopped before its end) is listed from its log: the epochs it reached
and its best validation NDCG@20 so far, never as a test result.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
from collections import defaultdict

METRICS = ["hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20"]
# which published row a run is compared with (the model family, without the per-dataset suffix)
FAMILY = {"iclrec-sports": "iclrec", "iclrec-toys": "iclrec", "icsrec-toys": "icsrec", "icsrec-paired": "icsrec",
          "duorec-fair": "duorec", "duorec-fair-paired": "duorec", "iclrec-exact": "iclrec",
          "iclrec-exact-sports": "iclrec", "iclrec-exact-toys": "iclrec", "cl4srec-exact": "cl4srec"}
# a run of length-bucketed batches (seq_grid.py --length-buckets N) is named NAME-lbN
BUCKETED = re.compile(r"-lb\d+$")
EPOCH_LINE = re.compile(r"Epoch: (\d+),.*?ndcg@20: ([0-9.]+)")


def finished_runs(grid: str) -> dict[tuple[str, str], list[dict]]:
    """``{(dataset, run name without -sSEED): [results.json, ...]}``."""
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(grid, "*", "*", "*", "seed-*", "results.json"))):
        parts = path.split(os.sep)
        dataset, run = parts[-5], parts[-4]
        with open(path) as f:
            out[(dataset, re.sub(r"-s\d+$", "", run))].append(json.load(f))
    return out


def log_curve(log: str) -> list[tuple[int, float]]:
    """``[(epoch, valid NDCG@20), ...]`` as a run's log printed them. ``seq_grid.py`` appends
    to a run's log, so an epoch at or before the last one seen starts the run's history over
    from there: a resume from a checkpoint continues it, a restart from scratch replaces it."""
    with open(log) as f:
        curve: list[tuple[int, float]] = []
        for e, v in EPOCH_LINE.findall(f.read()):
            while curve and curve[-1][0] >= int(e):
                curve.pop()
            curve.append((int(e), float(v)))
        return curve


def unfinished_runs(grid: str) -> dict[tuple[str, str], list[dict]]:
    """Runs with a log and no results: epochs reached and the best validation NDCG@20 so far."""
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for log in sorted(glob.glob(os.path.join(grid, "logs", "*.log"))):
        dataset, run = os.path.basename(log)[:-4].split("_", 1)
        if glob.glob(os.path.join(grid, dataset, run, "*", "seed-*", "results.json")):
            continue
        curve = log_curve(log)
        if curve:
            best = max(curve, key=lambda c: c[1])
            out[(dataset, re.sub(r"-s\d+$", "", run))].append(
                {"epochs": curve[-1][0], "best_epoch": best[0], "best_valid_ndcg@20": best[1]})
    return out


def curves(grid: str) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """``{(dataset, run folder): [(epoch, valid NDCG@20), ...]}``: a finished run's from its history,
    an unfinished one's from its log."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(grid, "*", "*", "*", "seed-*", "results.json"))):
        parts = path.split(os.sep)
        with open(path) as f:
            history = json.load(f).get("history", [])
        out[(parts[-5], parts[-4])] = [(h["epoch"], h["valid"]["ndcg@20"]) for h in history if "valid" in h]
    for log in sorted(glob.glob(os.path.join(grid, "logs", "*.log"))):
        key = tuple(os.path.basename(log)[:-4].split("_", 1))
        if key not in out:
            out[key] = log_curve(log)
    return {k: v for k, v in out.items() if v}


def plot_curves(runs: dict[tuple[str, str], list[tuple[int, float]]], path: str) -> None:
    """One panel per dataset: validation NDCG@20 by epoch, the best epoch of each run marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({d for d, _ in runs})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for (d, run), curve in sorted(runs.items()):
            if d != dataset:
                continue
            epochs, values = zip(*curve)
            line, = ax.plot(epochs, values, label=run, linewidth=1)
            best = max(range(len(values)), key=values.__getitem__)
            ax.plot(epochs[best], values[best], "o", color=line.get_color())
        ax.set(title=dataset, xlabel="epoch", ylabel="valid NDCG@20 (full ranking)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=120)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def at_epochs(runs: dict[tuple[str, str], list[tuple[int, float]]], dataset: str, epochs: list[int],
              names: list[str] | None = None) -> str:
    """Validation NDCG@20 of each run (seeds pooled: mean ± std) at the given epochs; a cell is
    empty where a seed had not reached the epoch, and ``names`` (runs without ``-sSEED``)
    picks and orders the rows."""
    pooled: dict[str, list[dict[int, float]]] = defaultdict(list)
    for (d, run), curve in sorted(runs.items()):
        if d == dataset:
            pooled[re.sub(r"-s\d+$", "", run)].append(dict(curve))
    order = names if names is not None else sorted(pooled)
    head = "| run | seeds | " + " | ".join(f"epoch {e}" for e in epochs) + " |"
    lines = [f"### {dataset}: validation NDCG@20 at equal epochs", "", head, "|" + "---|" * (head.count("|") - 1)]
    for name in order:
        seeds = pooled.get(name, [])
        if not seeds:
            continue
        cells = []
        for e in epochs:
            vals = [c[e] for c in seeds if e in c]
            if len(vals) < len(seeds):  # a seed has not reached the epoch: no mean of the others
                cells.append("")
                continue
            spread = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(mean_std({"mean": statistics.fmean(vals), "std": spread}, len(vals)))
        lines.append(f"| {name} | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarise(runs: list[dict]) -> dict:
    row: dict = {"seeds": [r["seed"] for r in runs], "epochs": [r["epochs"] for r in runs],
                 "best_epoch": [r["best_epoch"] for r in runs],
                 "max_epochs": [r["config"]["train"]["epochs"] for r in runs],
                 "patience": runs[0]["config"]["train"]["patience"]}
    for m in METRICS:
        vals = [r["test"][m] for r in runs]
        row[m] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    valid = [r["valid"]["ndcg@20"] for r in runs if "valid" in r]
    row["valid_ndcg@20"] = ({"mean": statistics.fmean(valid), "std": statistics.stdev(valid) if len(valid) > 1 else 0.0}
                            if len(valid) == len(runs) else None)
    row["seconds_per_epoch"] = statistics.fmean(r["seconds_per_epoch"] for r in runs)
    return row


def published_rows(path: str | None) -> dict[tuple[str, str], tuple[str, dict]]:
    """``{(dataset, model): (source, figures)}``: the authors' own release where there is one
    (ICSRec's and ICLRec's READMEs), else ICSRec's table of baselines."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        figures = json.load(f)["figures"]
    rank = {"icsrec_readme": 0, "iclrec_readme": 0, "icsrec_table": 1}
    out: dict[tuple[str, str], tuple[str, dict]] = {}
    for fig in sorted(figures, key=lambda f: rank.get(f["source"], 9), reverse=True):
        out[(fig["dataset"], fig["model"])] = (fig["source"], fig)
    return out


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def mean_std(stat: dict | None, seeds: int) -> str:
    """``mean ± std``; one seed has no spread to show (a "± 0.0000" would read as a measured one)."""
    if stat is None:
        return "–"
    return f"{stat['mean']:.4f}" + (f" ± {stat['std']:.4f}" if seeds > 1 else "")


def table(dataset: str, rows: dict[str, dict], unfinished: dict[str, list[dict]],
          published: dict[tuple[str, str], tuple[str, dict]]) -> str:
    head = ("| model | seeds | epochs (best) | valid ndcg@20 | " + " | ".join(METRICS)
            + " | published HR@20 / NDCG@20 | gap |")
    lines = [f"### {dataset}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for name, row in sorted(rows.items(), key=lambda kv: -kv[1]["ndcg@20"]["mean"]):
        stopped = ["*" if e < mx else "" for e, mx in zip(row["epochs"], row["max_epochs"])]
        epochs = ", ".join(f"{e}{s} ({b})" for e, s, b in zip(row["epochs"], stopped, row["best_epoch"]))
        cells = [mean_std(row.get("valid_ndcg@20"), len(row["seeds"]))]
        cells += [mean_std(row[m], len(row["seeds"])) for m in METRICS]
        family = BUCKETED.sub("", name)
        src, pub = published.get((dataset, FAMILY.get(family, family)), (None, None))
        if pub:
            gap = (f"{100 * (row['hr@20']['mean'] / pub['hr@20'] - 1):+.1f}% / "
                   f"{100 * (row['ndcg@20']['mean'] / pub['ndcg@20'] - 1):+.1f}%")
            pubcell = f"{fmt(pub['hr@20'])} / {fmt(pub['ndcg@20'])} ({src})"
        else:
            gap, pubcell = "", ""
        lines.append(f"| {name} | {len(row['seeds'])} | {epochs} | " + " | ".join(cells) + f" | {pubcell} | {gap} |")
    for name, runs in sorted(unfinished.items()):
        reached = ", ".join(f"{r['epochs']} ({r['best_epoch']})" for r in runs)
        valid = ", ".join(f"{r['best_valid_ndcg@20']:.4f}" for r in runs)
        lines.append(f"| {name} (unfinished) | {len(runs)} | {reached} | {valid} |" + " |" * len(METRICS) + " | |")
    lines += ["", "epochs: epochs trained (best validation epoch); `*` = ended by early stopping; valid ndcg@20: "
              "at the best epoch (of an unfinished run: so far, no test figures); "
              "`-lbN`: trained on batches bucketed by length (`train.length_buckets=N`)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("grid")
    p.add_argument("--published", default="docs/results/sequential_published.json")
    p.add_argument("--json", help="write the summaries here")
    p.add_argument("--curves", help="plot every run's validation NDCG@20 by epoch here (PNG)")
    p.add_argument("--at-epochs", help="comma-separated epochs: every run's validation NDCG@20 there")
    p.add_argument("--runs", help="with --at-epochs: these runs (names without -sSEED), in this order")
    args = p.parse_args(argv)
    try:
        epochs = [int(e) for e in args.at_epochs.split(",")] if args.at_epochs else []
    except ValueError:
        p.error(f"--at-epochs wants comma-separated epochs, got {args.at_epochs!r}")
    if any(e < 1 for e in epochs):
        p.error(f"--at-epochs: epochs count from 1, got {args.at_epochs!r}")
    if args.runs and not epochs:
        p.error("--runs only picks the rows of --at-epochs")
    done, todo, published = finished_runs(args.grid), unfinished_runs(args.grid), published_rows(args.published)
    summary: dict[str, dict] = defaultdict(dict)
    for (dataset, name), runs in done.items():
        summary[dataset][name] = summarise(runs)
    for dataset in sorted(set(summary) | {d for d, _ in todo}):
        print(table(dataset, summary.get(dataset, {}), {n: r for (d, n), r in todo.items() if d == dataset},
                    published), end="\n\n")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"finished": summary, "unfinished": {f"{d}/{n}": r for (d, n), r in todo.items()}},
                      f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    if epochs:
        runs = curves(args.grid)
        for dataset in sorted({d for d, _ in runs}):
            print(at_epochs(runs, dataset, epochs, args.runs.split(",") if args.runs else None), end="\n\n")
    if args.curves:
        plot_curves(curves(args.grid), args.curves)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
