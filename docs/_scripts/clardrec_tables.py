"""The result tables of docs/methods/clardrec.md, printed from the runs' JSON.

    python docs/_scripts/clardrec_tables.py results/clardrec/beauty [--sensitivity results/clardrec/beauty-sens] \\
        [--full-folder results/clardrec/beauty-full] [--json docs/results/clardrec_beauty.json]

Reads every ``MODEL/seed-N/results.json`` under the folder (the 1 + 99 protocol the runs
selected on) and, where there, ``full.json`` beside it (the same checkpoint under full
ranking: ``graphrec evaluate CHECKPOINT --protocol full``), and prints mean ± std over the
seeds found, the seeds and epochs behind every row, test NDCG@5 by search-activity
group, and ClardRec's parts and confidences from each run's ``analysis.json``. A run still
training (a checkpoint, no results) is listed as such, never as a result. ``--json`` also
writes the numbers the tables show.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
from typing import Any

METRICS = ("hr@1", "hr@5", "ndcg@5", "mrr")
#: the row order and names of the page; models not named here follow in alphabetical order
NAMES = {
    "popularity": "Popularity",
    "lightgcn": "LightGCN (no search)", "search_transfer": "naive transfer", "clardrec": "**ClardRec**",
    "clardrec-no-cd": "w/o $\\mathcal{L}_{cd}$", "clardrec-no-con": "w/o $\\mathcal{L}_{con}$",
    "clardrec-no-fa": "w/o feature augmentation", "clardrec-no-da": "w/o data augmentation",
    "clardrec-no-attr": "gate without attributes", "clardrec-c1": "$c_{ui} = 1$",
    "clardrec-relative": "relative $c_{ui}$", "clardrec-threshold": "$c_{ui}$ thresholded ($\\tau = 0.98$)",
    "clardrec-text-queries": "queries with their text's sentence vector",
    "clardrec-no-transfer": "w/o feature and data augmentation (diagnostic)",
    "clardrec-union-graph": "$f_R$ over recommendation + search clicks (diagnostic)",
    "sasrec-seq": "SASRec (no search)", "search_transfer-seq": "naive transfer (merged history)",
    "sesrec": "SESRec", "sesrec-popneg": "SESRec, negatives by popularity",
    "clardrec-seq": "**ClardRec (sequential)**",
    "clardrec-seq-no-search": "sequential, every search part off",
    "clardrec-seq-no-task": "sequential, w/o $\\mathcal{L}_S$",
    "clardrec-seq-no-cd": "sequential, w/o $\\mathcal{L}_{cd}$",
    "clardrec-seq-no-fa": "sequential, w/o feature augmentation",
    "clardrec-seq-no-da": "sequential, w/o data augmentation",
    "clardrec-seq-da-only": "sequential, search clicks as plain extra targets only",
}


def _read(path: str) -> dict[str, Any] | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def collect(folder: str, full_folder: str | None = None) -> dict[str, dict[int, dict[str, Any]]]:
    """``{model: {seed: {"sampled": ..., "full": ..., "groups": ..., "epochs": ...}}}``; a
    run without results is kept as ``{"training": True}``. A model with nothing to evaluate
    again (Popularity keeps no checkpoint) takes its full ranking from ``full_folder``'s run
    of the same model and seed under ``train.protocol=full``."""
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for seed_dir in sorted(glob.glob(os.path.join(folder, "*", "seed-*"))):
        model, seed = os.path.basename(os.path.dirname(seed_dir)), int(seed_dir.rsplit("-", 1)[1])
        res = _read(os.path.join(seed_dir, "results.json"))
        if res is None:
            runs.setdefault(model, {})[seed] = {"training": True}
            continue
        full = _read(os.path.join(seed_dir, "full.json"))
        if full is None and full_folder:
            full = _read(os.path.join(full_folder, model, f"seed-{seed}", "results.json"))
            full = full if full and full.get("protocol") == "full" else None
        runs.setdefault(model, {})[seed] = {
            "sampled": res["test"], "full": full["test"] if full else None,
            "groups": res.get("test_groups") or {}, "epochs": res.get("epochs"), "best_epoch": res.get("best_epoch")}
    return runs


def _order(models: list[str]) -> list[str]:
    known = [m for m in NAMES if m in models]
    return known + sorted(m for m in models if m not in NAMES)


def _pm(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def summarise(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """Mean and std over the finished seeds of every model, per protocol and group."""
    out: dict[str, Any] = {}
    for model in _order(list(runs)):
        done = {s: r for s, r in runs[model].items() if not r.get("training")}
        if not done:
            out[model] = {"training_seeds": sorted(runs[model])}
            continue
        row: dict[str, Any] = {"seeds": sorted(done), "epochs": [done[s]["epochs"] for s in sorted(done)],
                               "best_epochs": [done[s]["best_epoch"] for s in sorted(done)]}
        for proto in ("sampled", "full"):  # a run's full ranking may lag its training: the seeds that have it
            have = [s for s in sorted(done) if done[s][proto]]
            if have:
                row[proto] = {m: [done[s][proto][m] for s in have]
                              for m in METRICS + (("ndcg@10",) if proto == "full" else ())}
                row[f"{proto}_seeds"] = have
        groups = sorted({g for r in done.values() for g in r["groups"]})
        row["groups"] = {g: [r["groups"][g]["ndcg@5"] for r in done.values() if g in r["groups"]] for g in groups}
        row["group_users"] = {g: next(r["groups"][g]["users"] for r in done.values() if g in r["groups"])
                              for g in groups}
        out[model] = row
    return out


def table(summary: dict[str, Any], proto: str, title: str) -> str:
    cols = METRICS + (("ndcg@10",) if proto == "full" else ())
    lines = [f"**{title}**", "", "| model | " + " | ".join(c.upper() for c in cols)
             + " | seeds | epochs (best) |", "|---|" + "---:|" * (len(cols) + 2)]
    for model, row in summary.items():
        name = NAMES.get(model, f"`{model}`")
        if "training_seeds" in row:
            lines.append(f"| {name} | " + " | ".join("training" for _ in cols) + " | | |")
            continue
        if proto not in row:
            continue
        have = row[f"{proto}_seeds"]
        epochs = ", ".join(f"{e} ({b})" if e else "" for s, e, b in zip(row["seeds"], row["epochs"], row["best_epochs"])
                           if s in have)
        lines.append(f"| {name} | " + " | ".join(_pm(row[proto][c]) for c in cols)
                     + f" | {len(have)} | {epochs if any(row['epochs']) else ''} |")
    return "\n".join(lines)


def group_table(summary: dict[str, Any]) -> str:
    groups = sorted({g for row in summary.values() for g in row.get("groups", {})},
                    key=["no_search", "sparse", "rich"].index)
    if not groups:
        return ""
    first = next(row for row in summary.values() if "group_users" in row)
    lines = ["**Test NDCG@5 (1 + 99) by search activity**", "",
             "| model | " + " | ".join(f"{g} ({first['group_users'][g]:,} users)" for g in groups) + " |",
             "|---|" + "---:|" * len(groups)]
    for model, row in summary.items():
        if row.get("groups"):
            lines.append(f"| {NAMES.get(model, model)} | " + " | ".join(_pm(row["groups"][g]) for g in groups) + " |")
    return "\n".join(lines)


def sensitivity(folder: str) -> tuple[str, dict[str, Any]]:
    """One row per ``KEY=VALUE`` run folder and ClardRec variant in it (one setting changed)."""
    rows, out = [], {}
    for path in sorted(glob.glob(os.path.join(folder, "*", "clardrec*", "seed-*", "results.json"))):
        model_dir = os.path.dirname(os.path.dirname(path))
        setting, model = os.path.basename(os.path.dirname(model_dir)), os.path.basename(model_dir)
        res = _read(path)
        valid = res["valid"].get("ndcg@5")  # what a setting is chosen on
        key = setting if model == "clardrec" else f"{setting} {model}"
        out[key] = {m: res["test"][m] for m in METRICS} | {"valid_ndcg@5": valid, "epochs": res["epochs"],
                                                           "best_epoch": res["best_epoch"]}
        test = " | ".join(f"{res['test'][m]:.4f}" for m in METRICS)
        epochs = f"{res['epochs']} ({res['best_epoch']})"
        rows.append(f"| {setting} | {NAMES.get(model, model)} | {valid:.4f} | {test} | {epochs} |")
    head = ["**Sensitivity (one setting changed, seed 0, 1 + 99)**", "",
            "| setting | model | valid NDCG@5 | " + " | ".join(f"test {m.upper()}" for m in METRICS)
            + " | epochs (best) |",
            "|---|---|" + "---:|" * 6]
    return "\n".join(head + rows) if rows else "", out


#: what ``examples/clardrec.py --analyse`` writes that the page reads (the last three need the world's truth)
ANALYSIS = (("gate_mean", "gate mean (query-related share)"), ("gate_q50", "gate median"),
            ("cos_qr_qi", "mean $\\lvert\\cos(qr, qi)\\rvert$"),  # no | inside a table cell
            ("confidence_mean", "mean $c_{ui}$"), ("confidence_mean_on_taste", "mean $c_{ui}$, on-taste clicks"),
            ("confidence_mean_offtaste", "mean $c_{ui}$, off-taste clicks"),
            ("confidence_auc_on_vs_offtaste", "AUC on- vs off-taste"))


def analyses(folder: str) -> tuple[str, dict[str, Any]]:
    """ClardRec's parts, gate and confidences (``analysis.json`` beside each run), mean ± std
    over the seeds that have one; a quantity a run did not measure is left blank, and one
    no run measured is left out."""
    found: dict[str, dict[str, list[float]]] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*", "seed-*", "analysis.json"))):
        model = os.path.basename(os.path.dirname(os.path.dirname(path)))
        a = _read(path) or {}
        a["gate_q50"] = (a.get("gate_quantiles") or [None, None])[1]
        for key, _ in ANALYSIS:
            if a.get(key) is not None:
                found.setdefault(model, {}).setdefault(key, []).append(float(a[key]))
    if not found:
        return "", {}
    models = _order(list(found))
    cols = [(k, name) for k, name in ANALYSIS if any(k in found[m] for m in models)]  # no truth: no on/off-taste
    lines = ["**ClardRec's parts and confidences (the searched items and the training search clicks)**", "",
             "| model | " + " | ".join(name for _, name in cols) + " | seeds |",
             "|---|" + "---:|" * (len(cols) + 1)]
    for model in models:
        row = found[model]
        cells = [_pm(row[k]) if k in row else "" for k, _ in cols]
        lines.append(f"| {NAMES.get(model, model)} | " + " | ".join(cells) + f" | {max(map(len, row.values()))} |")
    return "\n".join(lines), {m: found[m] for m in models}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--sensitivity", help="folder of KEY=VALUE runs")
    p.add_argument("--full-folder", help="runs under train.protocol=full, for models without a checkpoint")
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)
    summary = summarise(collect(args.folder, args.full_folder))
    print(table(summary, "sampled", "Test, 1 positive + 99 sampled negatives (the protocol the runs selected on)"))
    print()
    print(table(summary, "full", "Test, full ranking (the same checkpoints)"))
    print()
    print(group_table(summary))
    text, parts = analyses(args.folder)
    if text:
        print()
        print(text)
    sens: dict[str, Any] = {}
    if args.sensitivity:
        text, sens = sensitivity(args.sensitivity)
        print()
        print(text)
    if args.json:
        from graphrec.metrics.report import atomic_write_json
        atomic_write_json(args.json, {"folder": args.folder, "models": summary, "sensitivity": sens,
                                       "analysis": parts})


if __name__ == "__main__":
    main()
