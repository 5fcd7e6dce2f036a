"""Experiments: resolve a dataset and a model by name, train, evaluate, report.

Configuration precedence (lowest first): the dataclass defaults, the model's own
training defaults, a YAML file, ``--set key=value`` overrides; reading and merging
them is :mod:`graphrec.config`'s.

Override keys: ``train.<field>`` (:class:`TrainConfig`), ``model.<field>`` (the
model's ``Config``), ``data.<field>`` (dataset constructor arguments), or a bare
``<field>`` when it names exactly one of those. In ``compare``, prefix a model
name to target one model: ``sasrec.model.dropout=0.2``.

Under ``torchrun`` (``torchrun --nproc_per_node=2 -m graphrec train ...``) every
process runs the same command: :func:`run_one` joins the process group, (local) rank 0
prepares the dataset and the stages' cache before the others read them, the trainer
runs data-parallel, and rank 0 alone writes the outputs (``docs/distributed.md``).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any

import torch
import yaml
from torch_geometric.data import HeteroData

from graphrec.config import build_config, load_yaml, merge_sections, parse_overrides, route_overrides
from graphrec.data.hetero import has_heldout
from graphrec.data.schema import require_types
from graphrec.metrics import environment_info, parse_protocol, plot_curve
from graphrec.metrics.report import atomic_write_json, atomic_write_text, markdown_table, split_rows
from graphrec.models.base import RecModel
from graphrec.resolver import dataset_parameters, dataset_resolver, model_resolver, normalize_string
from graphrec.train import distributed
from graphrec.train.checkpoint import load_checkpoint, load_weights, require_keys
from graphrec.train.stages import StageRecord, describe_stage, graph_fingerprint, run_stages
from graphrec.train.trainer import TrainConfig, Trainer, seed_everything
from graphrec.utils.io import check_writable_dir

log = logging.getLogger("graphrec.train")


@dataclasses.dataclass
class RunSpec:
    """Everything that defines one training run."""

    model: str
    dataset: str = "synthetic"
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    train_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    root: str | None = None
    #: name in reports and output folders (a YAML variant such as ``idclrec-no-Ld``)
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.model


def build_spec(model: str, dataset: str, yaml_cfg: dict[str, Any], overrides: list[tuple[str, str]],
               root: str | None = None) -> RunSpec:
    """Merge YAML and ``--set`` overrides for one model.

    ``model`` is a registered name or a *variant* defined in the YAML's ``models``
    section with a ``base`` model, e.g. ``idclrec-no-Ld: {base: idclrec, model:
    {use_Ld: false}}``: it starts from the base model's section, then applies its own;
    a ``base`` may itself be a variant (``clardrec-seq-no-da: {base: clardrec-seq, ...}``),
    applied in turn. ``--set <variant>.<section>.<field>=...`` addresses it alone."""
    sections = yaml_cfg.get("models") or {}
    variants, name = [], model  # the variant chain, nearest first, down to a registered model
    while isinstance(sections.get(name), dict) and "base" in sections[name]:
        if name in {v for v, _ in variants}:
            raise ValueError(f"model '{model}': its YAML 'base' entries form a loop "
                             f"({' -> '.join([v for v, _ in variants] + [name])})")
        variants.append((name, sections[name]))
        name = sections[name]["base"]
    cls = model_resolver(name)
    label = model if variants else None
    chain = [sections.get(cls.registry_name) or {}, *(section for _, section in reversed(variants))]
    merged = merge_sections([yaml_cfg, *chain])
    fields = {"model": {f.name for f in dataclasses.fields(cls.Config)},
              "train": {f.name for f in dataclasses.fields(TrainConfig)}}
    targets = {normalize_string(n) for n in (cls.registry_name, cls.__name__)}
    if label is not None:
        targets = {normalize_string(label)}
    route_overrides(overrides, merged, fields, targets)
    return RunSpec(model=cls.registry_name, dataset=yaml_cfg.get("dataset", dataset), root=root, label=label,
                   model_args=merged["model"], train_args=merged["train"], data_args=merged["data"])


def make_train_config(cls: type, args: dict[str, Any]) -> TrainConfig:
    merged = {**getattr(cls, "train_defaults", {}), **args}
    return build_config(TrainConfig, merged, prefix="train.")  # type: ignore[return-value]


def dataset_label(name: str) -> str:
    """A folder-safe label: a spec file's stem, a registered dataset's name as given."""
    from graphrec.data.datasets import is_spec_path

    return os.path.splitext(os.path.basename(name))[0] if is_spec_path(name) else name


def load_dataset(name: str, root: str | None = None, **kwargs: Any) -> Any:
    """Instantiate a registered dataset; string arguments (from ``--set data.x=...``)
    are parsed as YAML scalars, so ``3`` is an int and ``true`` a bool."""
    from graphrec.data.datasets import LogFiles, is_spec_path

    if is_spec_path(name):  # your own logs, described by a spec file
        if kwargs:
            raise ValueError(f"dataset spec '{name}' takes no data.* settings ({', '.join(kwargs)}); "
                             "put them in the spec file")
        return LogFiles(name, root=root)
    accepted = dataset_parameters(name)
    unknown = sorted(set(kwargs) - set(accepted)) if accepted is not None else []
    if unknown:
        valid = ", ".join(f"data.{p}" for p in accepted if p not in ("root", "transform")) or "none"
        raise ValueError(f"dataset '{name}' has no setting {', '.join('data.' + k for k in unknown)}; "
                         f"its settings: {valid}")
    kwargs = {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in kwargs.items()}
    if root is not None:
        kwargs["root"] = root
    return dataset_resolver(name, **kwargs)


def dataset_notes(data: HeteroData) -> list[str]:
    notes = []
    if getattr(data, "meta_semi_synthetic", False):
        protocol = getattr(data, "meta_search_protocol", None) or "Ai et al. 2017 protocol"
        notes.append(f"semi-synthetic: search interactions simulated from real rec logs ({protocol})")
    if getattr(data, "meta_synthetic", False):
        notes.append("synthetic: graphrec's generated search-and-recommendation world")
    return notes


def build_model(cls: type, data: HeteroData, model_cfg: Any, train_cfg: TrainConfig,
                ) -> tuple[Any, list[StageRecord]]:
    """Seed, run (or read from the cache) the model's stages, build the model.

    Seeding comes first so that stages and the initial weights are reproducible; the
    stages that need the model run after it is built and hand their outputs to
    ``model.load_stage``. Returns ``(model, stage records)``."""
    node_types, edge_types = cls.graph_requirements(model_cfg)
    require_types(data, cls.__name__, node_types, edge_types)  # a missing type is named before any work
    seed_everything(train_cfg.seed)
    stages = list(cls.stages(model_cfg))
    common = {"seed": train_cfg.seed, "cache_dir": train_cfg.stage_cache, "device": train_cfg.device,
              "progress": train_cfg.progress}
    before = [s for s in stages if not s.needs_model]
    after = [s for s in stages if s.needs_model]
    fingerprint = graph_fingerprint(data) if stages else None
    # under torchrun each machine's first rank runs the stages and fills the cache; the
    # other ranks read it (the stages are deterministic: same seed, same key, same outputs)
    with distributed.main_process_first():
        outputs, records = run_stages(before, data, fingerprint=fingerprint, **common)
    model = cls.from_data(data, model_cfg, stages=outputs) if before else cls.from_data(data, model_cfg)
    if after:
        with distributed.main_process_first():
            outputs, more = run_stages(after, data, model=model, outputs=outputs, keys=[r.key for r in records],
                                       fingerprint=fingerprint, **common)
        for stage in after:
            model.load_stage(stage.name, outputs[stage.name])
        records += more
    return model, records


def run_one(spec: RunSpec, output_dir: str | None = None, resume: bool = False,
            data: HeteroData | None = None) -> dict[str, Any]:
    """Train ``spec.model`` on ``spec.dataset``, evaluate on valid and test, write
    ``results.json`` / ``results.md`` / ``curve.png`` and the checkpoint to
    ``output_dir``. Returns the result document."""
    cls = model_resolver(spec.model)
    # every setting and the output folder are checked before the dataset loads or anything trains
    model_cfg = build_config(cls.Config, spec.model_args, prefix="model.")
    train_cfg = make_train_config(cls, spec.train_args)
    distributed.init_from_env(train_cfg.device)  # under torchrun; nothing for one process
    if output_dir and distributed.is_main_process():  # rank 0 alone writes there
        check_writable_dir(output_dir)
    if data is None:
        with distributed.main_process_first():  # one rank per machine processes the raw files
            data = load_dataset(spec.dataset, spec.root, **spec.data_args)[0]
    if is_ranker(cls) and not has_heldout(data, "test"):
        raise ValueError(f"dataset '{spec.dataset}' has no held-out test pairs: its {data.protocol} split left every "
                         "user in training (leave-one-out holds out only users with at least 3 interactions), so "
                         "there is nothing to evaluate a trained model on")
    t0 = time.perf_counter()
    model, stage_records = build_model(cls, data, model_cfg, train_cfg)
    trainer = Trainer(model, data, train_cfg, output_dir=output_dir)
    meta = {"model_name": cls.registry_name, "model_config": model_cfg.to_dict(),
            "dataset": spec.dataset, "data_args": spec.data_args, "root": spec.root,
            "stages": [r.to_dict() for r in stage_records]}
    added_later = {f.name: f.default for f in dataclasses.fields(model_cfg) if f.default is not dataclasses.MISSING}
    if resume and trainer.resume(expect={"model_name": cls.registry_name, "model_config": model_cfg.to_dict()},
                                 defaults={"model_config": added_later}):
        log.info("resuming %s from epoch %d", cls.registry_name, trainer.state.epoch)
    state = trainer.fit(extra_checkpoint=meta)
    wall = time.perf_counter() - t0
    ranks = is_ranker(model)
    valid = trainer.evaluate("valid") if trainer.has_valid and ranks else {}
    test = trainer.evaluate("test") if ranks else {}
    doc = {
        "dataset": spec.dataset,
        "protocol": parse_protocol(train_cfg.protocol).label,  # validated label
        "split": str(getattr(data, "protocol", "")),
        "model": cls.registry_name,
        "label": spec.name,
        "config": {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(), "data": spec.data_args},
        "seed": train_cfg.seed,
        "valid": _without_groups(valid),
        "test": _without_groups(test),
        "train_seconds": state.train_seconds,
        "wall_seconds": wall,
        "stages": [r.to_dict() for r in stage_records],
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "seconds_per_epoch": seconds_per_epoch(state.history),
        "history": state.history,
        "notes": dataset_notes(data),
        "environment": environment_info(),
    }
    if not ranks:
        doc["notes"].append(f"{cls.registry_name} scores no items (no full_scores/score): no ranking metrics")
        if trainer.has_valid and trainer.inputs is not None:
            doc["valid_loss"] = trainer.validation_loss()
    if train_cfg.groups:
        doc["groups"] = train_cfg.groups
        for split, res in (("valid", valid), ("test", test)):
            if res.get("groups"):
                doc[f"{split}_groups"] = res["groups"]
    if output_dir and distributed.is_main_process():
        write_run_outputs(doc, output_dir, train_cfg.metric)
    distributed.barrier()  # the outputs exist on return, on every rank
    return doc


def is_ranker(model: Any) -> bool:
    """Whether ``model`` (a model or its class) scores items (overrides ``full_scores``
    or ``score``); a pure representation model is trained (e.g. on a validation ELBO)
    but not ranked."""
    cls = model if isinstance(model, type) else type(model)
    return cls.full_scores is not RecModel.full_scores or cls.score is not RecModel.score


def _without_groups(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "groups"}


def seconds_per_epoch(history: list[dict[str, Any]]) -> float | None:
    """Median training seconds per epoch of a run's history (``None`` without timings)."""
    xs = [h["seconds"] for h in history if "seconds" in h]
    return float(torch.tensor(xs, dtype=torch.float64).median()) if xs else None


def write_run_outputs(doc: dict[str, Any], output_dir: str, metric: str) -> None:
    os.makedirs(output_dir, exist_ok=True)
    atomic_write_json(os.path.join(output_dir, "results.json"), doc, allow_nan=True)
    rows = split_rows(doc)  # valid, test, and a row per user group when there are groups
    cols = [k for k in (doc.get("test") or {}) if k != "users"]
    title = f"{doc['model']} on {doc['dataset']} ({doc['protocol']} ranking, split {doc['split']})"
    text = markdown_table(rows, cols, title=title, index_name="split") if cols else f"### {title}\n"
    if doc.get("valid_loss"):
        text += "\nvalidation loss: " + ", ".join(f"{k} {v:.4f}" for k, v in doc["valid_loss"].items()) + "\n"
    text += f"\n\ntrain seconds: {doc['train_seconds']:.1f}, epochs: {doc['epochs']}, best epoch: {doc['best_epoch']}\n"
    for st in doc.get("stages") or []:
        text += f"\n{describe_stage(st)}\n"
    for note in doc.get("notes", []):
        text += f"\n> {note}\n"
    atomic_write_text(os.path.join(output_dir, "results.md"), text)
    curve = [{"epoch": h["epoch"], "loss": h["loss"],
              **{f"valid {k}": v for k, v in (h.get("valid") or {}).items()},
              **{"valid loss" if k == "loss" else f"valid loss.{k}": v for k, v in (h.get("valid_loss") or {}).items()},
              **{f"test {k}": v for k, v in (h.get("test") or {}).items()}} for h in doc["history"]]
    keys = [k for k in (f"valid {metric}", f"test {metric}") if any(k in c for c in curve)]
    if keys:
        plot_curve(curve, keys, os.path.join(output_dir, "curve.png"),
                   title=f"{doc['model']} on {doc['dataset']}")


RUN_KEYS = ("valid", "test", "valid_groups", "test_groups", "stages", "train_seconds", "epochs", "best_epoch",
            "seconds_per_epoch", "config", "seed")


def seed_summary(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean and (sample) standard deviation over seeds of every metric of ``runs``
    (``{seed: result}``); ``valid`` / ``test`` hold the means, ``valid_std`` /
    ``test_std`` the deviations (0 for a single seed)."""
    first = next(iter(runs.values()))
    out: dict[str, Any] = {"seeds": list(runs), "runs": {str(s): {k: r.get(k) for k in RUN_KEYS if k != "config"}
                                                        for s, r in runs.items()},
                           "config": first.get("config")}
    for split in ("valid", "test"):
        out[split], out[f"{split}_std"] = _mean_std([r.get(split) or {} for r in runs.values()])
        if all(r.get(f"{split}_groups") for r in runs.values()):
            per_seed = [r[f"{split}_groups"] for r in runs.values()]
            means, stds = {}, {}
            for group, metrics in per_seed[0].items():  # group sizes do not depend on the seed
                means[group], stds[group] = _mean_std([g[group] for g in per_seed])
                means[group]["users"] = metrics["users"]
            out[f"{split}_groups"], out[f"{split}_groups_std"] = means, stds
    for key in ("train_seconds", "epochs", "best_epoch", "seconds_per_epoch"):
        xs = [float(r[key]) for r in runs.values() if r.get(key) is not None]
        out[key] = sum(xs) / len(xs) if xs else None
    return out


def _mean_std(per_seed: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and (sample) standard deviation over seeds of every metric of the first
    dict (``users`` left out; the deviation of one seed is 0)."""
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    for key in per_seed[0]:
        if key == "users":
            continue
        x = torch.tensor([float(m[key]) for m in per_seed], dtype=torch.float64)
        mean[key], std[key] = float(x.mean()), float(x.std()) if x.numel() > 1 else 0.0
    return mean, std


def compare(models: list[str], dataset: str, output_dir: str, yaml_cfg: dict[str, Any] | None = None,
            overrides: list[tuple[str, str]] | None = None, root: str | None = None,
            resume: bool = False, seeds: list[int] | None = None) -> dict[str, Any]:
    """Train each model (or YAML variant, see :func:`build_spec`) on one dataset
    (loaded once) and write a comparison.

    With ``seeds``, every model runs once per seed (``train.seed``) under
    ``output_dir/<model>/seed-<s>``, and the report gives mean ± standard deviation.
    With ``resume``, a run whose ``results.json`` exists is read instead of retrained
    and an interrupted one continues from its checkpoint, so a long grid can be
    finished over several sessions."""
    from graphrec.metrics import comparison_report

    yaml_cfg = yaml_cfg or {}
    specs = [build_spec(m, dataset, yaml_cfg, overrides or [], root) for m in models]
    # every setting is checked before anything trains; one comparison, one protocol
    protocols = {}
    for spec in specs:
        cls = model_resolver(spec.model)
        build_config(cls.Config, spec.model_args, prefix=f"{spec.name}.model.")
        protocols[spec.name] = parse_protocol(make_train_config(cls, spec.train_args).protocol).label
    if len(set(protocols.values())) > 1:
        raise ValueError(f"compare: models use different ranking protocols {protocols}; numbers under "
                         "different protocols are not comparable")
    if seeds is not None:
        if not seeds:
            raise ValueError("compare: seeds must hold at least one seed")
        repeated = next((s for i, s in enumerate(seeds) if s in seeds[:i]), None)
        if repeated is not None:
            raise ValueError(f"compare: seed {repeated} is given twice in {seeds} (each seed is one run of "
                             "every model; a repeat would report one run as two)")
    distributed.init_from_env(make_train_config(model_resolver(specs[0].model), specs[0].train_args).device)
    if distributed.is_main_process():
        check_writable_dir(output_dir)
    data_args = specs[0].data_args
    with distributed.main_process_first():
        data = load_dataset(specs[0].dataset, root, **data_args)[0]
    doc: dict[str, Any] = {"dataset": specs[0].dataset, "protocol": next(iter(protocols.values())),
                           "split": str(data.protocol), "models": {}, "notes": dataset_notes(data)}
    for spec in specs:
        runs: dict[int, dict[str, Any]] = {}
        for seed in seeds or [None]:
            run_spec, out = spec, os.path.join(output_dir, spec.name)
            if seed is not None:
                run_spec = dataclasses.replace(spec, train_args={**spec.train_args, "seed": seed})
                out = os.path.join(out, f"seed-{seed}")
            done = os.path.join(out, "results.json")
            # rank 0's files decide (under torchrun another machine may not see them)
            if resume and distributed.broadcast_value(os.path.exists(done) and distributed.is_main_process()):
                log.info("%s (seed %s): reading finished run %s", spec.name, seed, done)
                res = distributed.broadcast_value(_read_json(done) if distributed.is_main_process() else None)
            else:
                log.info("training %s on %s (seed %s)", spec.name, spec.dataset, seed)
                res = run_one(run_spec, out, resume=resume, data=data)
            if "seconds_per_epoch" not in res:  # results written before the field existed
                res["seconds_per_epoch"] = seconds_per_epoch(res.get("history") or [])
            if res.get("groups"):
                doc["groups"] = res["groups"]
            runs[res["seed"] if seed is None else seed] = res
        if seeds is None:
            doc["models"][spec.name] = {k: next(iter(runs.values())).get(k) for k in RUN_KEYS}
        else:
            doc["models"][spec.name] = seed_summary(runs)
    doc["environment"] = environment_info()
    if distributed.is_main_process():
        comparison_report(doc, output_dir)
    distributed.barrier()
    return doc


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def load_trained(path: str, root: str | None = None) -> tuple[Any, HeteroData, dict[str, Any]]:
    """Rebuild ``(model, data, checkpoint)`` from a checkpoint written by ``graphrec
    train`` / ``compare``; the model holds its best (validation) weights, in eval mode.
    The model's stages are read from their cache (recomputed, with a warning, only
    when the cache file is gone)."""
    ckpt = load_checkpoint(path)
    require_keys(ckpt, ("model_name", "dataset", "model_config", "train_config"), path)
    cls = model_resolver(ckpt["model_name"])
    try:
        model_cfg = build_config(cls.Config, ckpt["model_config"], prefix="model.")
        train_cfg = build_config(TrainConfig, {**ckpt["train_config"], "progress": False}, prefix="train.")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"checkpoint '{path}': its saved settings are not valid here ({exc})") from None
    data = load_dataset(ckpt["dataset"], root or ckpt.get("root"), **(ckpt.get("data_args") or {}))[0]
    model, records = build_model(cls, data, model_cfg, train_cfg)
    saved = {r["name"]: r["key"] for r in ckpt.get("stages") or []}
    for r in records:
        if r.name in saved and saved[r.name] != r.key:
            log.warning("stage %s: key %s differs from the checkpoint's %s (data or settings changed)",
                        r.name, r.key, saved[r.name])
        elif not r.cached:
            log.warning("stage %s: cache missing, recomputed (%.1fs)", r.name, r.seconds)
    ckpt["stage_records"] = [r.to_dict() for r in records]
    entry = "best_model" if ckpt.get("best_model") else "model"
    load_weights(model, ckpt[entry], path, entry)
    return model.eval(), data, ckpt


@torch.no_grad()
def evaluate_checkpoint(path: str, splits: tuple[str, ...] = ("valid", "test"),
                        root: str | None = None, protocol: str | None = None,
                        ks: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Rebuild dataset and model from a checkpoint and evaluate its best weights,
    under the protocol and cut-offs it was trained with unless ``protocol`` / ``ks``
    say otherwise (e.g. full ranking of a model selected under a sampled protocol)."""
    overrides: dict[str, Any] = {k: v for k, v in (("protocol", protocol), ("ks", ks)) if v is not None}
    if ks is not None:  # the selection metric plays no part in evaluation; keep it valid for the new ks
        overrides["metric"] = "mrr"
    if overrides:  # checked before anything loads
        build_config(TrainConfig, overrides, prefix="train.")
    model, data, ckpt = load_trained(path, root)
    cls = type(model)
    cfg = build_config(TrainConfig, {**ckpt["train_config"], **overrides}, prefix="train.")
    distributed.init_from_env(cfg.device)  # under torchrun the ranks share the users
    trainer = Trainer(model, data, cfg)
    out = {"checkpoint": path, "model": cls.registry_name, "dataset": ckpt["dataset"],
           "protocol": parse_protocol(cfg.protocol).label, "stages": ckpt["stage_records"]}
    for split in splits:
        if split == "valid" and not trainer.has_valid:
            continue
        res = trainer.evaluate(split)
        out[split] = _without_groups(res)
        if res.get("groups"):
            out[f"{split}_groups"] = res["groups"]
    return out


__all__ = ["RunSpec", "build_spec", "parse_overrides", "load_yaml", "run_one", "compare",
           "evaluate_checkpoint", "load_trained", "load_dataset", "seed_summary"]
