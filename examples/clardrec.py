"""ClardRec end to end: the comparison it is about (negative transfer) and the analyses of its parts.

How graphrec composes the method: one HeteroData holds both surfaces; the CF setting
propagates LightGCN over the ``('user', 'clicks', 'item')`` edges and, separately, over the
search clicks of ``('user', 'searches', 'query')``, and every training batch pairs
recommendation clicks with search clicks (``graphrec/models/clardrec.py``).

    python examples/clardrec.py --dataset beauty-search --root ../shared/data --seeds 0,1,2 \\
        --output runs/clardrec/beauty
    python examples/clardrec.py --output runs/clardrec/synthetic --sequential

Steps, each resumable (finished runs are read, interrupted ones continue):

1. ``compare`` of Popularity, the backbone without search (LightGCN), naive transfer
   (``search_transfer``) and ClardRec under the spec's 1 + 99 protocol, by search-activity
   group, one run per seed (``graphrec/configs/clardrec.yaml``); with ``--sequential`` also
   SASRec, naive transfer over the merged click history, SESRec and ClardRec's sequential setting;
   with ``--ablations`` the ablations;
2. analyses of the first seed's ClardRec: the two parts of the searched items projected on
   their first two principal components, the gate's distribution, the confidence of the
   search clicks used as extra positives, and ClardRec's gain over the best other model
   per search-activity group.

Writes ``report.json``, ``report.md`` and ``parts.png`` (``parts_sequential.png``) in ``--output``.
``--analyse CHECKPOINT`` runs step 2 alone on one run (on the machine that trained it); the
comparison then reads its ``analysis.json`` when the checkpoint itself is not there.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import mannwhitneyu

from graphrec.config import load_yaml, parse_overrides
from graphrec.data.hetero import SEARCHES
from graphrec.metrics.report import atomic_write_json, atomic_write_text, markdown_table
from graphrec.models.clardrec import search_click_graph
from graphrec.train.run import compare, load_dataset, load_trained

CONFIG = os.path.join(os.path.dirname(__file__), "..", "graphrec", "configs", "clardrec.yaml")
CF_BASELINES = ["popularity", "lightgcn", "search_transfer"]
SEQ_BASELINES = ["popularity", "sasrec-seq", "search_transfer-seq", "sesrec"]
ABLATIONS = ["clardrec-no-cd", "clardrec-no-con", "clardrec-no-fa", "clardrec-no-da", "clardrec-no-attr",
             "clardrec-c1"]


def offtaste_flags(ckpt: dict[str, Any], root: str | None, data: Any) -> torch.Tensor | None:
    """Whether the world made each training search click of ``data`` (in
    :func:`search_click_graph` order) for a need outside the user's taste; ``None`` where
    no truth says so (real logs, or a synthetic world without ``search_offtaste``)."""
    if ckpt["dataset"] != "synthetic" or not float((ckpt.get("data_args") or {}).get("search_offtaste") or 0):
        return None
    world = load_dataset(ckpt["dataset"], root or ckpt.get("root"), **ckpt["data_args"]).world()
    logs, flag = world.logs.search, world.truth["search_offtaste"]
    of_row = {(int(u), int(i), float(t)): bool(f) for u, i, t, f in zip(logs.user, logs.item, logs.time, flag)}
    store = data[SEARCHES]
    return torch.tensor([of_row[(int(u), int(i), float(t))]
                         for u, i, t in zip(store.edge_index[0], store.item, store.time)])


def _auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(a score of ``pos`` > one of ``neg``), ties counted half: the Mann-Whitney U of
    ``pos`` over the number of pairs (saturated confidences tie often)."""
    return float(mannwhitneyu(pos.double().numpy(), neg.double().numpy()).statistic / (pos.numel() * neg.numel()))


def part_analysis(model: Any, data: Any, offtaste: torch.Tensor | None = None) -> dict[str, Any]:
    """Numbers on the disentangled parts of the items clicked in search: how parallel the
    two parts are, how far apart they lie on their first two principal components, the
    gate's spread, and the confidences of the search clicks; with ``offtaste`` (the
    world's marks of the clicks made outside the user's taste) also how well the
    confidence tells the two kinds apart, the job the L_da weights are there for."""
    parts = model.disentangled_items()
    searched = torch.unique(search_click_graph(data)[1])
    qr, qi, g = (parts[k][searched].float().cpu() for k in ("qr", "qi", "g"))
    both = torch.cat([qr, qi])
    centred = both - both.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    proj = centred @ v[:2].t()
    a, b = proj[: len(qr)], proj[len(qr):]
    spread = torch.cat([a - a.mean(0), b - b.mean(0)]).norm(dim=1).mean()
    conf = model.search_confidence(data).float().cpu()
    return {
        "searched_items": int(searched.numel()),
        "cos_qr_qi": float(torch.nn.functional.cosine_similarity(qr, qi, dim=-1).abs().mean()),
        "pca_centroid_distance_over_spread": float((a.mean(0) - b.mean(0)).norm() / spread.clamp(min=1e-12)),
        "gate_mean": float(g.mean()), "gate_std": float(g.std()),
        "gate_quantiles": [float(x) for x in torch.quantile(g.flatten(), torch.tensor([0.1, 0.5, 0.9]))],
        "confidence_mean": float(conf.mean()) if conf.numel() else None,
        "confidence_above_half": float((conf > 0.5).float().mean()) if conf.numel() else None,
        "_pca": (a, b), "_gate": g.flatten(), "_confidence": conf,
    } | ({} if offtaste is None or conf.numel() != offtaste.numel() else {  # CF: one confidence per click
        "offtaste_share": float(offtaste.double().mean()),
        "confidence_mean_on_taste": float(conf[~offtaste].mean()),
        "confidence_mean_offtaste": float(conf[offtaste].mean()),
        "confidence_auc_on_vs_offtaste": _auc(conf[~offtaste], conf[offtaste]),
    })


def group_gains(report: dict[str, Any], model: str, metric: str, among: list[str]) -> list[dict[str, Any]]:
    """Per search-activity group: ``model``'s test ``metric`` against the best of ``among``."""
    runs = report["models"]
    groups = sorted({g for r in runs.values() for g in (r.get("test_groups") or {})})
    rows = []
    def value(name: str, group: str) -> float | None:
        return ((runs[name].get("test_groups") or {}).get(group) or {}).get(metric)

    for group in groups:
        others = {n: value(n, group) for n in among if n in runs and value(n, group) is not None}
        mine = value(model, group)
        if mine is None or not others:
            continue
        best = max(others, key=others.__getitem__)
        rows.append({"group": group, model: mine, "best other": best, "best other value": others[best],
                     "gain %": 100 * (mine / others[best] - 1) if others[best] else None})
    return rows


def plot(analysis: dict[str, Any], path: str) -> None:
    fig = Figure(figsize=(13, 4))
    ax = fig.subplots(1, 3)
    a, b = analysis["_pca"]
    ax[0].scatter(a[:, 0], a[:, 1], s=4, alpha=0.5, label="query-related $h^{qr}$")
    ax[0].scatter(b[:, 0], b[:, 1], s=4, alpha=0.5, label="query-independent $h^{qi}$")
    ax[0].set_title("parts of the searched items (PCA)")
    ax[0].legend(loc="best", fontsize=8)
    ax[1].hist(analysis["_gate"].numpy(), bins=40)
    ax[1].set_title("gate $g$ (share kept as query-related)")
    ax[2].hist(analysis["_confidence"].numpy(), bins=40, range=(0, 1))
    ax[2].set_title("confidence $c_{ui}$ of search clicks")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    FigureCanvasAgg(fig).print_png(tmp)
    os.replace(tmp, path)


def analyse(checkpoint: str, root: str | None, png: str) -> dict[str, Any]:
    """The part analysis of one trained ClardRec run, plotted to ``png`` and written (without
    the raw arrays) to ``analysis.json`` beside the checkpoint, where later calls read it:
    a run trained elsewhere needs only that file, not its checkpoint."""
    path = os.path.join(os.path.dirname(checkpoint), "analysis.json")
    if os.path.exists(path) and not os.path.exists(checkpoint):
        with open(path) as f:
            return json.load(f)
    model, data, ckpt = load_trained(checkpoint, root)
    analysis = part_analysis(model, data, offtaste_flags(ckpt, root, data))
    plot(analysis, png)
    out = {k: v for k, v in analysis.items() if not k.startswith("_")}
    atomic_write_json(path, out)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", default=None)
    p.add_argument("--output", default="runs/clardrec/synthetic")
    p.add_argument("--seeds", default="0")
    p.add_argument("--sequential", action="store_true", help="add SASRec and ClardRec's sequential setting")
    p.add_argument("--ablations", action="store_true", help="add the ablations of the CF setting")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--analyse", metavar="CHECKPOINT", help="only analyse this trained ClardRec run (writes "
                   "analysis.json and parts.png beside it) and exit")
    args = p.parse_args(argv)
    if args.analyse:
        return analyse(args.analyse, args.root, os.path.join(os.path.dirname(args.analyse), "parts.png"))
    seeds = [int(s) for s in args.seeds.split(",")]
    models = ["popularity", "lightgcn", "search_transfer", "clardrec"]
    models += ["sasrec-seq", "search_transfer-seq", "sesrec", "clardrec-seq"] if args.sequential else []
    models += ABLATIONS if args.ablations else []
    yaml_cfg = load_yaml(CONFIG)
    report = compare(models, args.dataset, args.output, yaml_cfg, parse_overrides(args.set), args.root,
                     resume=True, seeds=seeds)
    metric = "ndcg@5"
    out: dict[str, Any] = {"dataset": args.dataset, "seeds": seeds, "models": models,
                           "test": {n: r.get("test") for n, r in report["models"].items()},
                           "groups": group_gains(report, "clardrec", metric, CF_BASELINES)}
    settings = [("clardrec", "")] + ([("clardrec-seq", "_sequential")] if args.sequential else [])
    for name, suffix in settings:
        path = os.path.join(args.output, name, f"seed-{seeds[0]}", "checkpoint.pt")
        out["analysis" + suffix] = analyse(path, args.root, os.path.join(args.output, f"parts{suffix}.png"))
    if args.sequential:
        out["groups_sequential"] = group_gains(report, "clardrec-seq", metric, SEQ_BASELINES)
    atomic_write_json(os.path.join(args.output, "report.json"), out)
    cols = ["hr@1", "hr@5", "ndcg@5", "mrr"]
    analysis_rows = {k: {"value": v if not isinstance(v, list) else ", ".join(f"{x:.3f}" for x in v)}
                     for k, v in out["analysis"].items()}
    lines = [f"# ClardRec on {args.dataset} (seeds {args.seeds})", "",
             markdown_table({n: t for n, t in out["test"].items() if t}, cols, title="Test (1 + 99 sampled)"), "",
             markdown_table({r["group"]: r for r in out["groups"]}, ["clardrec", "best other", "best other value",
                                                                      "gain %"],
                            title=f"By search activity (test {metric})", index_name="group"), "",
             markdown_table(analysis_rows, ["value"], title="Parts of the searched items (CF)", index_name="measure")]
    atomic_write_text(os.path.join(args.output, "report.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return out


if __name__ == "__main__":
    main()
