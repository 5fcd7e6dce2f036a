"""GSERec end to end: offline codes, the comparison the paper makes, and the analyses it asks for.

How graphrec composes a method from graphs: the users' text summaries become RQ-VAE
codes (cached stages), the codes become ``code`` nodes of the HeteroData with two
user-code edge types, LightGCN propagates over each, and the model reads the
propagated code vectors from its history encoders (``graphrec/models/gserec.py``).

    python examples/gserec.py --dataset beauty-search --root ../shared/data \\
        --seeds 2024,2025,2026 --output runs/gserec/beauty
    python examples/gserec.py --dataset synthetic --output runs/gserec/synthetic --depths 1,2,3,4

Steps, each resumable (finished runs are read, interrupted ones continue):

1. ``compare`` of Popularity, SASRec, the search-enhanced backbone without code graphs
   (``gserec-no-graph``) and GSERec under the paper's 1 + 99 popularity-sampled
   protocol, by search-activity group, one run per seed (``graphrec/configs/gserec.yaml``);
2. every trained checkpoint evaluated again under full ranking (same weights);
3. analyses: codebook usage and collisions, the connectivity audit (sparse searchers ->
   rich searchers through shared codes), whether code neighbours share categories,
   the wall time of each offline stage, and the gain over the strongest baseline per
   search-activity group (the paper's claim: > 10% NDCG@5 for sparse-search users);
4. with ``--depths``, GSERec with LightGCN depth K in the given list (first seed).

Writes ``report.json`` and ``report.md`` (and ``groups.png``) in ``--output``.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from graphrec.config import build_config, load_yaml, parse_overrides
from graphrec.data.codes import add_user_codes, code_neighbour_agreement, connectivity_audit, user_categories
from graphrec.data.groups import search_activity_groups
from graphrec.metrics.report import atomic_write_json, atomic_write_text, markdown_table
from graphrec.models import GSERec
from graphrec.models.gserec_stages import stage_summaries
from graphrec.resolver import model_resolver
from graphrec.train.run import build_spec, compare, evaluate_checkpoint, load_dataset, make_train_config
from graphrec.train.stages import graph_fingerprint, run_stages
from graphrec.train.trainer import Trainer

CONFIG = os.path.join(os.path.dirname(__file__), "..", "graphrec", "configs", "gserec.yaml")
KS = (1, 5, 10, 20)
METRICS = [f"{m}@{k}" for m in ("hr", "ndcg") for k in KS]


def untrained_full_ranking(model: str, dataset: str, yaml_cfg: dict, overrides: list, root: str | None,
                           ) -> dict[str, Any]:
    """Full-ranking test metrics of a model that trains nothing (no checkpoint: popularity)."""
    spec = build_spec(model, dataset, yaml_cfg, overrides, root)
    cls = model_resolver(spec.model)
    data = load_dataset(dataset, root, **spec.data_args)[0]
    train = make_train_config(cls, {**spec.train_args, "protocol": "full", "ks": KS, "metric": "mrr"})
    res = Trainer(cls.from_data(data, build_config(cls.Config, spec.model_args)), data, train).evaluate("test")
    return {"test": {k: v for k, v in res.items() if k != "groups"}, "test_groups": res.get("groups")}


def full_ranking(out: str, models: list[str], seeds: list[int], dataset: str, yaml_cfg: dict, overrides: list,
                 root: str | None) -> dict[str, Any]:
    """Test metrics of every trained checkpoint under full ranking (cached per run)."""
    res: dict[str, Any] = {}
    for model in models:
        per_seed = []
        for seed in seeds:
            run = os.path.join(out, model, f"seed-{seed}")
            path = os.path.join(run, "full_ranking.json")
            if not os.path.exists(path):
                logging.info("full ranking: %s seed %d", model, seed)
                ckpt = os.path.join(run, "checkpoint.pt")
                ev = (evaluate_checkpoint(ckpt, ("test",), root, protocol="full", ks=KS) if os.path.exists(ckpt)
                      else untrained_full_ranking(model, dataset, yaml_cfg, overrides, root))
                atomic_write_json(path, ev)
            with open(path) as f:
                per_seed.append(json.load(f))
        res[model] = mean_std([r["test"] for r in per_seed])
        if all(r.get("test_groups") for r in per_seed):
            res[model]["groups"] = {g: mean_std([r["test_groups"][g] for r in per_seed])
                                    for g in per_seed[0]["test_groups"]}
    return res


def mean_std(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in METRICS:
        x = torch.tensor([float(r[key]) for r in rows], dtype=torch.float64)
        out[key] = float(x.mean())
        out[f"{key}_std"] = float(x.std()) if x.numel() > 1 else 0.0
    out["users"] = rows[0].get("users")
    return out


def analyses(dataset: str, root: str | None, yaml_cfg: dict, overrides: list,
             out_dir: str | None = None) -> dict[str, Any]:
    """Codebook usage, connectivity audit, code-neighbour agreement and stage times,
    from GSERec's cached stages."""
    spec = build_spec("gserec", dataset, yaml_cfg, overrides, root)
    cfg = build_config(GSERec.Config, spec.model_args, prefix="model.")
    data = load_dataset(dataset, root, **spec.data_args)[0]
    outputs, records = run_stages(GSERec.stages(cfg), data, seed=0, fingerprint=graph_fingerprint(data),
                                  progress=False)
    codes = outputs["codes"]["codes"]
    graph = add_user_codes(copy.copy(data), codes, cfg.codebook_size)
    group_ids, names = search_activity_groups(data)
    info: dict[str, Any] = {
        "stages": {r.name: {"seconds": r.seconds, **r.info} for r in records},
        "codebook_used_share": {dom: outputs["codes"]["used_share"][t].tolist()
                                for t, dom in enumerate(("rec", "search"))},
        "codebook_perplexity": {dom: outputs["codes"]["perplexity"][t].tolist()
                                for t, dom in enumerate(("rec", "search"))},
        "group_sizes": {n: int((group_ids == i).sum()) for i, n in enumerate(names)},
        "audit": {src: connectivity_audit(graph, group_ids, names, source=src, target="rich")
                  for src in ("sparse", "no_search")},
        "agreement": code_neighbour_agreement(codes, user_categories(data)),
    }
    samples = []
    summaries = stage_summaries(outputs["summaries"]) if "summaries" in outputs else None
    cats = user_categories(data)
    for u in torch.randperm(data["user"].num_nodes, generator=torch.Generator().manual_seed(0))[:5].tolist():
        samples.append({"user": u, "group": names[int(group_ids[u])], "rec_codes": codes[u, 0].tolist(),
                        "search_codes": codes[u, 1].tolist(), "categories": sorted(cats[u])[:6],
                        "rec_summary": summaries[0][u][:160] if summaries else None})
    info["samples"] = samples
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        plot_code_graph(graph, group_ids, names, os.path.join(out_dir, "code_graph.png"))
    return info


def group_gains(doc: dict[str, Any], metric: str = "ndcg@5") -> dict[str, Any]:
    """GSERec's relative gain over the strongest other model in every search-activity group."""
    models = doc["models"]
    if "gserec" not in models or not models["gserec"].get("test_groups"):
        return {}
    out = {}
    for group, metrics in models["gserec"]["test_groups"].items():
        others = {m: r["test_groups"][group][metric] for m, r in models.items()
                  if m != "gserec" and r.get("test_groups")}
        best = max(others, key=others.get)
        out[group] = {"gserec": metrics[metric], "best_baseline": best, "baseline": others[best],
                      "gain": metrics[metric] / others[best] - 1 if others[best] > 0 else float("nan")}
    return out


def plot_groups(doc: dict[str, Any], path: str, metric: str = "ndcg@5") -> None:
    models = [m for m, r in doc["models"].items() if r.get("test_groups")]
    if not models:
        return
    groups = list(doc["models"][models[0]]["test_groups"])
    fig = Figure(figsize=(7.0, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        vals = [doc["models"][m]["test_groups"][g][metric] for g in groups]
        errs = [(doc["models"][m].get("test_groups_std") or {}).get(g, {}).get(metric, 0.0) for g in groups]
        ax.bar([j + i * width for j in range(len(groups))], vals, width, yerr=errs, label=m, capsize=3)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))],
                  [f"{g}\n({doc['models'][models[0]]['test_groups'][g]['users']} users)" for g in groups])
    ax.set_ylabel(f"test {metric.upper()} ({doc['protocol']})")
    ax.set_title(f"{doc['dataset']}: by search activity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_code_graph(graph: Any, group_ids: torch.Tensor, names: list[str], path: str, per_code: int = 3) -> None:
    """A real piece of the heterogeneous graph: one sparse searcher, the items it
    clicked, its rec and search codes, and rich searchers holding the same codes --
    the paths along which GSERec's message passing lends signal."""
    from graphrec.data.codes import CODE_EDGE_TYPES
    from graphrec.data.hetero import CLICKS

    sparse = (group_ids == names.index("sparse")).nonzero().flatten()
    rich = set((group_ids == names.index("rich")).nonzero().flatten().tolist())
    if sparse.numel() == 0:
        return
    u = int(sparse[0])
    clicks = graph[CLICKS].edge_index
    items = clicks[1][clicks[0] == u][:4].tolist()
    fig = Figure(figsize=(9.0, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    pos = {("user", u): (0.0, 0.5)}
    for j, i in enumerate(items):
        pos[("item", i)] = (-1.0, 0.2 + 0.6 * j / max(len(items) - 1, 1))
    rows, edges = [], [(("user", u), ("item", i), "0.6") for i in items]
    for et, colour in zip(CODE_EDGE_TYPES, ("tab:blue", "tab:orange")):
        src, dst = graph[et].edge_index
        for code in dst[src == u].tolist():
            holders = [v for v in src[dst == code].tolist() if v in rich][:per_code]
            rows.append((("code", code), colour, holders))
    for r, (node, colour, holders) in enumerate(rows):
        y = 1.0 - r / max(len(rows) - 1, 1)
        pos[node] = (1.0, y)
        edges.append((("user", u), node, colour))
        for h, v in enumerate(holders):
            pos.setdefault(("rich", v), (2.0, y + (h - 1) * 0.035))
            edges.append((node, ("rich", v), colour))
    for a, b, colour in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.plot([x0, x1], [y0, y1], color=colour, lw=0.8, alpha=0.7, zorder=1)
    style = {"user": ("tab:red", "o"), "item": ("0.4", "s"), "code": ("tab:green", "D"), "rich": ("tab:purple", "o")}
    for (kind, idx), (x, y) in pos.items():
        c, m = style[kind]
        ax.scatter([x], [y], c=c, marker=m, s=60 if kind != "rich" else 25, zorder=2)
        if kind == "code":
            dom, lv, k = (int(graph["code"][a][idx]) for a in ("domain", "level", "index"))
            ax.annotate(f"{'rec' if dom == 0 else 'search'} L{lv + 1}:{k}", (x, y), xytext=(6, 3),
                        textcoords="offset points", fontsize=7)
    for x, label in ((-1.0, "items clicked"), (0.0, f"sparse searcher {u}"), (1.0, "its codes"),
                     (2.0, "rich searchers\nholding them")):
        ax.text(x, 1.1, label, ha="center", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def report_markdown(rep: dict[str, Any]) -> str:
    doc = rep["comparison"]
    lines = [f"# GSERec on {doc['dataset']}", ""]
    rows = {m: {k: r["test"][k] for k in METRICS} for m, r in doc["models"].items()}
    lines.append(markdown_table(rows, METRICS, title=f"Test, {doc['protocol']} (mean over seeds {rep['seeds']})"))
    if rep.get("full"):
        rows = {m: {k: r[k] for k in METRICS} for m, r in rep["full"].items()}
        lines += ["", markdown_table(rows, METRICS, title="Test, full ranking (the same checkpoints)")]
    if rep.get("gains"):
        rows = {g: v for g, v in rep["gains"].items()}
        lines += ["", markdown_table(rows, ["gserec", "baseline", "gain"], index_name="group",
                                     title="NDCG@5 by search activity: GSERec vs the strongest other model")]
    if rep.get("analysis"):
        a = rep["analysis"]
        lines += ["", "### Offline stages", ""]
        lines += [f"- {name}: {st['seconds']:.1f} s ({', '.join(f'{k}={v}' for k, v in st.items() if k != 'seconds')})"
                  for name, st in a["stages"].items()]
        lines += ["", f"codebook share used per level: {a['codebook_used_share']}", ""]
        for src, audit in a["audit"].items():
            s, r = audit["search"]["all"], audit["rec"]["all"]
            lines.append(f"- {src} -> rich ({audit['source_users']} -> {audit['target_users']} users): search codes "
                         f"reach >= 1 rich user for {s['share_reaching']:.1%} (mean {s['mean_reached']:.1f}); "
                         f"rec codes {r['share_reaching']:.1%} (mean {r['mean_reached']:.1f})")
        ag = a["agreement"]

        def jaccard(cell: dict[str, Any]) -> str:  # no two users share the prefix: nothing to measure
            return f"{cell['jaccard']:.3f}" if cell["pairs"] else "no pairs"

        lines.append(f"- category Jaccard of code neighbours: random pairs {ag['random']['jaccard']:.3f}; " + "; ".join(
            f"{dom} prefix {d}: {jaccard(ag[dom][f'prefix_{d}'])}" for dom in ("rec", "search")
            for d in range(1, len(ag[dom]) + 1)))
    if rep.get("depths"):
        rows = {f"K={k}": v for k, v in rep["depths"].items()}
        lines += ["", markdown_table(rows, METRICS, index_name="depth", title="GSERec by LightGCN depth K")]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="beauty-search", help="a dataset with search (default: beauty-search)")
    p.add_argument("--root", default=None, help="folder of the raw datasets (shared/data)")
    p.add_argument("--models", default="popularity,sasrec,gserec-no-graph,gserec",
                   help="models or YAML variants to compare")
    p.add_argument("--seeds", default="2024", help="comma-separated seeds (default: 2024)")
    p.add_argument("--output", required=True, help="output folder (resumable)")
    p.add_argument("--config", default=CONFIG, help="YAML of the grid (default: graphrec/configs/gserec.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, as graphrec compare --set")
    p.add_argument("--depths", default="", help="also run GSERec with these LightGCN depths K, e.g. 1,2,3,4")
    p.add_argument("--no-full", action="store_true", help="skip the full-ranking evaluation")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seeds = [int(s) for s in args.seeds.split(",")]
    models = args.models.split(",")
    yaml_cfg = load_yaml(args.config)
    overrides = parse_overrides(args.overrides)
    doc = compare(models, args.dataset, args.output, yaml_cfg, overrides, args.root, resume=True, seeds=seeds)
    rep: dict[str, Any] = {"dataset": args.dataset, "seeds": seeds, "comparison": doc, "gains": group_gains(doc)}
    if not args.no_full:
        rep["full"] = full_ranking(args.output, models, seeds, args.dataset, yaml_cfg, overrides, args.root)
    if "gserec" in models:
        rep["analysis"] = analyses(args.dataset, args.root, yaml_cfg, overrides, args.output)
    if args.depths:
        cfg = copy.deepcopy(yaml_cfg)
        main_k = build_config(GSERec.Config, build_spec("gserec", args.dataset, yaml_cfg, overrides, args.root)
                              .model_args, prefix="model.").num_layers
        # the main run already is GSERec at its own depth (same config and seed): reuse it
        depths = [int(k) for k in args.depths.split(",") if int(k) != main_k or "gserec" not in models]
        depth_overrides = list(overrides)
        for k in depths:
            cfg.setdefault("models", {})[f"gserec-k{k}"] = {"base": "gserec", "model": {"num_layers": k}}
            # what --set says of gserec holds for its depth variants too
            depth_overrides += [(f"gserec-k{k}." + key.split(".", 1)[1], value)
                                for key, value in overrides if key.startswith("gserec.")]
        rep["depths"] = {}
        if depths:
            ddoc = compare([f"gserec-k{k}" for k in depths], args.dataset, os.path.join(args.output, "depth"), cfg,
                           depth_overrides, args.root, resume=True, seeds=seeds[:1])
            rep["depths"] = {k: {m: ddoc["models"][f"gserec-k{k}"]["test"][m] for m in METRICS} for k in depths}
        if "gserec" in models and main_k not in rep["depths"]:
            first = doc["models"]["gserec"]["runs"][str(seeds[0])]["test"]
            rep["depths"][main_k] = {m: first[m] for m in METRICS}
        rep["depths"] = dict(sorted(rep["depths"].items()))
    atomic_write_json(os.path.join(args.output, "report.json"), rep, allow_nan=True)
    atomic_write_text(os.path.join(args.output, "report.md"), report_markdown(rep))
    plot_groups(doc, os.path.join(args.output, "groups.png"))
    print(report_markdown(rep))


if __name__ == "__main__":
    main()
