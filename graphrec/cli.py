"""The graphrec command: train, evaluate and compare models, inspect datasets, list models and datasets."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

DEFAULT_COMPARE = "popularity,bpr_mf,lightgcn,sasrec"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None,
                   help="folder with the raw data folders (default: $GRAPHREC_DATA)")
    p.add_argument("--config", default=None, help="YAML file with model/train/data sections")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. train.epochs=20 or model.dim=64 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or epoch logs")


def build_parser() -> argparse.ArgumentParser:
    from graphrec import __version__

    parser = argparse.ArgumentParser(prog="graphrec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"graphrec {__version__}")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                        help="import a Python module (dotted name) or .py file first, e.g. one that "
                             "registers your own model with @register_model (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model and evaluate it")
    p.add_argument("--model", required=True, help="name of a registered model (see: graphrec models list)")
    p.add_argument("--dataset", default="synthetic",
                   help="a registered dataset (default: synthetic; see: graphrec list), or a YAML spec file "
                        "describing your own logs (docs/tutorials/own_graph.md)")
    p.add_argument("--output", default=None, help="output folder (default: runs/DATASET/MODEL)")
    _common(p)

    p = sub.add_parser("compare", help="train several models on one dataset; table + JSON + plot")
    p.add_argument("--models", default=DEFAULT_COMPARE, help=f"comma-separated (default: {DEFAULT_COMPARE})")
    p.add_argument("--dataset", default="synthetic",
                   help="a registered dataset (default: synthetic; see: graphrec list), or a YAML spec file "
                        "describing your own logs (docs/tutorials/own_graph.md)")
    p.add_argument("--output", default=None, help="output folder (default: runs/compare-DATASET)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated seeds: one run per model and seed, reported as mean ± std")
    _common(p)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint written by train/compare")
    p.add_argument("checkpoint", help="a checkpoint.pt written by train or compare")
    p.add_argument("--root", default=None, help="folder of the raw datasets (default: the one the run used)")
    p.add_argument("--split", default="valid,test", help="comma-separated splits to evaluate (default: valid,test)")
    p.add_argument("--protocol", default=None,
                   help="ranking protocol instead of the run's: full, sampled-N or sampled-pop-N")
    p.add_argument("--ks", default=None, help="comma-separated cut-offs instead of the run's, e.g. 1,5,10,20")
    p.add_argument("--output", default=None, help="also write the metrics as JSON here")

    p = sub.add_parser("causal-report", help="train representation models (HMV-CRL and baselines) and measure "
                                             "their latents: MCC, R^2, policy shift, mediation")
    p.add_argument("--dataset", default="synthetic",
                   help="a registered dataset (default: synthetic, the one with ground truth; on real logs the "
                        "seeds' agreement replaces MCC and the policy shift rewrites the logs)")
    p.add_argument("--output", required=True, help="output folder (resumable): report.json, report.md, report.png")
    p.add_argument("--models", default=None,
                   help="comma-separated models or YAML variants, the first reported at the top level "
                        "(default: hmv_crl,hmv-crl-vae,hmv-crl-shared)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the mediation CIs")
    _common(p)

    p = sub.add_parser("data", help="dataset utilities")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("inspect", help="statistics of a dataset")
    q.add_argument("dataset", nargs="?", default="synthetic",
                   help="a registered dataset (default: synthetic; see: graphrec list), or a YAML spec file "
                        "describing your own logs (docs/tutorials/own_graph.md)")
    q.add_argument("--root", default=None, help="folder with the raw data folders (default: $GRAPHREC_DATA)")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset setting, e.g. data.query_source=attribute (repeatable)")

    sub.add_parser("list", help="list the registered models and datasets")

    p = sub.add_parser("models", help="the registered models and their hyperparameters")
    msub = p.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="names of the registered models")
    q = msub.add_parser("show", help="hyperparameters of a model: default and one line of doc each")
    q.add_argument("name", help="a model name, as graphrec models list prints it")
    return parser


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
    try:
        for plugin in args.plugin:
            load_plugin(plugin)
        return _dispatch(args)
    except (ValueError, OSError) as exc:  # bad input or settings, unreadable or unwritable files
        print(f"graphrec: error: {exc}", file=sys.stderr)
        return 2


def load_plugin(spec: str) -> None:
    """Import ``spec``: a ``.py`` file (run once under a module name derived from its
    path) or a dotted module name. This runs the user's own code, as asked."""
    import importlib
    import importlib.util

    if spec.endswith(".py"):
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--plugin {spec}: no such file")
        name = "graphrec_plugin_" + os.path.splitext(os.path.basename(path))[0]
        if name in sys.modules:
            return
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise ValueError(f"--plugin {spec}: cannot import it ({exc}); give a module on the Python path "
                         "or a path ending in .py") from None


def cli_ints(text: str, option: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; a part that is not an integer is an error naming
    the option and the part."""
    values: list[int] = []
    for part in text.split(","):
        try:
            values.append(int(part.strip()))
        except ValueError:
            raise ValueError(f"{option} {text}: {part.strip()!r} is not an integer") from None
    return values


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; a part that is not an integer is an error naming it
    (repeated seeds are :func:`graphrec.train.run.compare`'s to refuse)."""
    return cli_ints(text, "--seeds")


def _models_command(args: argparse.Namespace) -> int:
    from graphrec.config import describe_config, first_sentence
    from graphrec.resolver import model_names, model_resolver

    if args.models_command == "list":
        print("\n".join(model_names()))
        return 0
    cls = model_resolver(args.name)
    summary = first_sentence((cls.__doc__ or "").strip().split("\n\n")[0])
    print(f"{cls.registry_name} ({cls.__module__}.{cls.__name__}): {summary}")
    rows = describe_config(cls.Config)
    if not rows:
        print("no hyperparameters")
        return 0
    width = max(len(f"{name}={default!r}") for name, _, default, _ in rows)
    print(f"hyperparameters ({cls.Config.__name__}; set with --set model.NAME=VALUE):")
    for name, _, default, text in rows:
        print(f"  {f'{name}={default!r}':<{width}}  {text}")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from graphrec.config import load_yaml, parse_overrides
    from graphrec.metrics import markdown_table
    from graphrec.train import run
    from graphrec.train.distributed import is_main_process
    from graphrec.utils.io import check_writable_dir

    if args.command == "list":
        from graphrec.resolver import dataset_names, model_names
        print("models:  ", ", ".join(model_names()))
        print("datasets:", ", ".join(dataset_names()))
        return 0

    if args.command == "models":
        return _models_command(args)

    if args.command == "causal-report":
        from graphrec.train.causal_report import CONFIG, DEFAULT_MODELS, causal_report

        if args.bootstrap < 1:
            raise ValueError(f"--bootstrap {args.bootstrap}: needs at least one resample")
        check_writable_dir(args.output)
        models = args.models.split(",") if args.models else list(DEFAULT_MODELS)
        yaml_cfg = load_yaml(args.config or CONFIG)
        overrides = parse_overrides(args.overrides)
        if args.quiet:
            overrides.append(("train.progress", "false"))
        # always resumable: finished runs and analyses are read, interrupted runs continue
        causal_report(args.dataset, args.output, models, parse_seeds(args.seeds), yaml_cfg, overrides, args.root,
                      n_boot=args.bootstrap)
        print(open(os.path.join(args.output, "report.md")).read())
        print(f"results: {os.path.join(args.output, 'report.json')}")
        return 0

    if args.command == "data":
        data_args = {k.removeprefix("data."): v for k, v in parse_overrides(args.overrides)}
        ds = run.load_dataset(args.dataset, args.root, **data_args)
        from graphrec.data.logs import sample_queries
        from graphrec.data.schema import graph_schema, schema_table

        stats = ds.logs.statistics()
        samples = sample_queries(ds.logs, k=5)
        schema = graph_schema(ds[0])  # the split training graph every model is built from
        if args.json:
            if samples:
                stats["sample_queries"] = [{"item": i, "query": q} for i, q in samples]
            print(json.dumps({**stats, "graph": schema}, indent=2, default=str))
        else:
            print(markdown_table({args.dataset: stats}, list(stats), floatfmt=".6g", index_name="dataset"))
            print("\ntraining graph (HeteroData):\n")
            print(schema_table(schema))
            if samples:
                print("\nsample queries (clicked item -> query):")
                for item_text, query_text in samples:
                    print(f"  {item_text[:80]} -> {query_text}")
        return 0

    if args.command == "evaluate":
        if args.output:
            check_writable_dir(os.path.dirname(os.path.abspath(args.output)), "--output folder")
        ks = cli_ints(args.ks, "--ks") if args.ks else None
        out = run.evaluate_checkpoint(args.checkpoint, tuple(args.split.split(",")), args.root,
                                      protocol=args.protocol, ks=tuple(ks) if ks else None)
        from graphrec.metrics.report import split_rows
        from graphrec.train.stages import describe_stage

        for st in out.get("stages") or []:
            print(describe_stage(st), file=sys.stderr)
        rows = split_rows(out)  # valid, test, and their per-group rows
        cols = [k for k in next(iter(rows.values()), {}) if k != "users"]
        print(markdown_table(rows, cols, title=f"{out['model']} on {out['dataset']} ({out['protocol']})",
                             index_name="split"))
        if args.output and is_main_process():
            from graphrec.metrics import atomic_write_json
            atomic_write_json(args.output, out)
        return 0

    yaml_cfg = load_yaml(args.config)
    overrides = parse_overrides(args.overrides)
    if args.quiet:
        overrides.append(("train.progress", "false"))
    if args.command == "train":
        spec = run.build_spec(args.model, args.dataset, yaml_cfg, overrides, args.root)
        out_dir = args.output or os.path.join("runs", run.dataset_label(spec.dataset), spec.model)
        run.run_one(spec, out_dir, resume=args.resume)
        if is_main_process():  # under torchrun, rank 0 wrote the results (maybe on another machine)
            with open(os.path.join(out_dir, "results.md")) as f:
                print(f.read())
            print(f"results: {out_dir}/results.json, checkpoint: {out_dir}/checkpoint.pt")
        return 0

    if args.command == "compare":
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        dataset = yaml_cfg.get("dataset", args.dataset)
        out_dir = args.output or os.path.join("runs", f"compare-{run.dataset_label(dataset)}")
        seeds = parse_seeds(args.seeds) if args.seeds is not None else None
        run.compare(models, dataset, out_dir, yaml_cfg, overrides, args.root, resume=args.resume, seeds=seeds)
        if is_main_process():
            with open(os.path.join(out_dir, "results.md")) as f:
                print(f.read())
            print(f"results: {out_dir}/results.json, {out_dir}/results.md, {out_dir}/results.png")
        return 0
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
