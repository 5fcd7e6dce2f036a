"""End-to-end CLI runs on a small synthetic world."""
import json

import pytest

from graphrec.cli import main

SMALL = ["--set", "data.num_users=300", "--set", "data.num_items=150",
         "--set", "train.epochs=2", "--set", "train.num_threads=1", "-q"]


def test_compare_writes_table_json_and_plot(tmp_path, tmp_cache, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--models", "popularity,bpr_mf,lightgcn,sasrec",
                 "--output", str(out), *SMALL]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["dataset"] == "synthetic" and doc["protocol"] == "full"
    assert set(doc["models"]) == {"popularity", "bpr_mf", "lightgcn", "sasrec"}
    for res in doc["models"].values():
        assert {"hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr"} <= set(res["test"])
        assert "ndcg@10" in res["valid"]
        assert res["train_seconds"] >= 0
    assert (out / "results.png").stat().st_size > 0
    assert "| popularity |" in (out / "results.md").read_text()
    assert "sasrec" in capsys.readouterr().out


def test_train_then_evaluate_checkpoint(tmp_path, tmp_cache, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "bpr_mf", "--output", str(out), *SMALL]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["model"] == "bpr_mf" and res["epochs"] == 2
    assert res["environment"]["torch"]
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt"), "--output", str(tmp_path / "e.json")]) == 0
    ev = json.loads((tmp_path / "e.json").read_text())
    assert ev["test"]["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"])
    # the same weights under another protocol and cut-offs (e.g. full ranking of a model
    # selected under a sampled protocol)
    assert main(["evaluate", str(out / "checkpoint.pt"), "--split", "test", "--protocol", "full",
                 "--ks", "1,5", "--output", str(tmp_path / "s.json")]) == 0
    ev = json.loads((tmp_path / "s.json").read_text())
    assert ev["protocol"] == "full" and set(ev) >= {"test"} and "valid" not in ev
    assert "ndcg@5" in ev["test"] and "ndcg@10" not in ev["test"]
    assert main(["evaluate", str(out / "checkpoint.pt"), "--protocol", "sampled-x"]) == 2
    assert main(["evaluate", str(out / "checkpoint.pt"), "--ks", "1,five"]) == 2
    assert "--ks 1,five: 'five' is not an integer" in capsys.readouterr().err


def test_resume_extends_a_finished_run(tmp_path, tmp_cache):
    out = tmp_path / "run"
    assert main(["train", "--model", "bpr_mf", "--output", str(out), *SMALL]) == 0
    more = [a if a != "train.epochs=2" else "train.epochs=3" for a in SMALL]
    assert main(["train", "--model", "bpr_mf", "--output", str(out), "--resume", *more]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["epochs"] == 3 and len(res["history"]) == 3


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--model", "sasrec", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["train", "--model", "sasrec", "--set", "model.widht=3"], "unknown hyperparameter"),
    (["train", "--model", "sasrec", "--set", "train.epochs=ten"], "cannot parse train.epochs"),
    (["train", "--model", "sasrec", "--set", "epochs"], "key=value"),
    (["train", "--model", "lightgcn", "--dataset", "beauty", "--root", "/nonexistent"],
     "raw files missing"),
    # meaningless settings: each named, none a run that exits 0 with nonsense
    (["train", "--model", "bpr_mf", "--set", "model.dim=0"], "model.dim must be >= 1, got 0"),
    (["train", "--model", "lightgcn", "--set", "model.dim=-4"], "model.dim must be >= 1, got -4"),
    (["train", "--model", "sasrec", "--set", "model.dim=63"], "model.dim must be a multiple of num_heads=2"),
    (["train", "--model", "sasrec", "--set", "model.dropout=1.5"], "model.dropout must be in [0, 1)"),
    (["train", "--model", "lightgcn", "--set", "model.propagation=dense"], "model.propagation must be one of"),
    (["train", "--model", "bpr_mf", "--set", "train.epochs=0"], "train.epochs must be >= 1"),
    (["train", "--model", "bpr_mf", "--set", "train.epochs=-1"], "train.epochs must be >= 1"),
    (["train", "--model", "bpr_mf", "--set", "train.batch_size=0"], "train.batch_size must be >= 1"),
    (["train", "--model", "bpr_mf", "--set", "train.eval_every=0"], "train.eval_every must be >= 1"),
    (["train", "--model", "bpr_mf", "--set", "train.metric=ndgc@10"], "train.metric='ndgc@10'"),
    (["train", "--model", "bpr_mf", "--set", "train.lr=nan"], "train.lr must be a finite number"),
    (["train", "--model", "bpr_mf", "--set", "train.device=cuda"], "train.device='cuda': this machine has no cuda"),
    (["train", "--model", "bpr_mf", "--set", "train.device=gpu"], "train.device='gpu' is not a device"),
    (["train", "--model", "bpr_mf", "--dataset", "beauty", "--set", "data.foo=1", "--root", "/nonexistent"],
     "dataset 'beauty' has no setting data.foo"),
    (["train", "--model", "bpr_mf", "--set", "data.foo=1"], "the synthetic dataset has no setting ['foo']"),
    (["compare", "--models", "bpr_mf", "--seeds", "1,1"], "seed 1 is given twice"),
    (["compare", "--models", "bpr_mf", "--seeds", "a,b"], "--seeds a,b: 'a' is not an integer"),
])
def test_errors_are_reported_clearly(args, message, tmp_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_config_file_sections(tmp_path, tmp_cache):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {epochs: 1}\nmodels:\n  bpr_mf:\n    model: {dim: 8}\n")
    out = tmp_path / "run"
    assert main(["train", "--model", "bpr_mf", "--config", str(cfg), "--output", str(out),
                 "--set", "data.num_users=200", "--set", "data.num_items=100", "-q"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["model"]["dim"] == 8 and res["epochs"] == 1
    cfg.write_text("trian: {epochs: 1}\n")
    with pytest.raises(ValueError, match="unknown top-level key"):
        from graphrec.train.run import load_yaml
        load_yaml(str(cfg))


def test_data_inspect_and_list(tmp_cache, capsys):
    assert main(["data", "inspect", "synthetic", "--json", "--set", "data.num_users=200",
                 "--set", "data.num_items=100"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["users"] == 200 and stats["items"] == 100 and 0 < stats["search_share"] < 1
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lightgcn" in out and "beauty-search" in out


def test_models_list_and_show(capsys):
    assert main(["models", "list"]) == 0
    assert "sasrec" in capsys.readouterr().out.split()
    assert main(["models", "show", "CL4SRec"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cl4srec (graphrec.models.cl4srec.CL4SRec): CL4SRec")
    rows = {line.split()[0]: line for line in lines[2:]}
    assert "dim=64" in rows and "hidden size" in rows["dim=64"]  # inherited from SASRecConfig
    assert "cl_weight=0.1" in rows and "temperature=1.0" in rows and "similarity='dot'" in rows
    assert main(["models", "show", "popularity"]) == 0
    assert "no hyperparameters" in capsys.readouterr().out
    assert main(["models", "show", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_data_inspect_prints_sample_queries(tmp_cache, capsys):
    args = ["data", "inspect", "synthetic", "--set", "data.num_users=200", "--set", "data.num_items=100"]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.split("sample queries (clicked item -> query):\n")[1].strip().splitlines()
    assert len(lines) == 5 and all(" -> " in line for line in lines)
    assert main([*args, "--json"]) == 0
    samples = json.loads(capsys.readouterr().out)["sample_queries"]
    assert len(samples) == 5 and all(s["item"] and s["query"] for s in samples)


def test_compare_seeds_and_variants_report_mean_and_std(tmp_path, tmp_cache, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models:\n  bpr_mf:\n    model: {dim: 8}\n"
                   "  bpr_mf-wide:\n    base: bpr_mf\n    model: {dim: 16}\n")
    out = tmp_path / "cmp"
    args = ["compare", "--models", "bpr_mf,bpr_mf-wide", "--config", str(cfg), "--seeds", "1,2",
            "--output", str(out), *SMALL]
    assert main(args) == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["models"]) == {"bpr_mf", "bpr_mf-wide"}
    for name, dim in (("bpr_mf", 8), ("bpr_mf-wide", 16)):
        entry = doc["models"][name]
        assert entry["seeds"] == [1, 2] and entry["config"]["model"]["dim"] == dim
        runs = [json.loads((out / name / f"seed-{s}" / "results.json").read_text()) for s in (1, 2)]
        assert [r["seed"] for r in runs] == [1, 2] and runs[0]["label"] == name
        vals = [r["test"]["ndcg@10"] for r in runs]
        assert entry["test"]["ndcg@10"] == pytest.approx(sum(vals) / 2)
        assert entry["test_std"]["ndcg@10"] == pytest.approx(abs(vals[0] - vals[1]) / 2 ** 0.5)
    assert "±" in (out / "results.md").read_text()
    # --resume reads the finished runs back instead of training again
    mtime = (out / "bpr_mf" / "seed-1" / "checkpoint.pt").stat().st_mtime_ns
    assert main(args + ["--resume"]) == 0
    assert (out / "bpr_mf" / "seed-1" / "checkpoint.pt").stat().st_mtime_ns == mtime
    assert json.loads((out / "results.json").read_text())["models"]["bpr_mf"]["test"] == doc["models"]["bpr_mf"]["test"]


def test_compare_with_popularity_sampling_and_search_groups(tmp_path, tmp_cache):
    out = tmp_path / "cmp"
    assert main(["compare", "--models", "popularity,bpr_mf", "--output", str(out), "--set", "train.epochs=1",
                 "--set", "train.num_threads=1", "--set", "train.protocol=sampled-pop-100",
                 "--set", "train.groups=search_activity", "-q"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["protocol"] == "sampled-pop-100" and doc["groups"] == "search_activity"
    for res in doc["models"].values():
        groups = res["test_groups"]
        assert list(groups) == ["no_search", "sparse", "rich"]
        assert sum(g["users"] for g in groups.values()) == res["test"]["users"]
        weighted = sum(g["ndcg@10"] * g["users"] for g in groups.values()) / res["test"]["users"]
        assert weighted == pytest.approx(res["test"]["ndcg@10"])
    table = (out / "results.md").read_text()
    assert "sampled-pop-100" in table and "[rich, n=" in table
    assert "test [sparse, n=" in (out / "bpr_mf" / "results.md").read_text()


def test_compare_rejects_mixed_protocols_before_training(tmp_path, tmp_cache, capsys):
    assert main(["compare", "--models", "popularity,bpr_mf", "--output", str(tmp_path / "c"),
                 "--set", "bpr_mf.train.protocol=sampled-100", "-q"]) == 2
    assert "different ranking protocols" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("model", ["bpr_mf", "lightgcn", "sasrec"])
def test_same_seed_same_metrics(model, tmp_path, tmp_cache):
    """The model is built after the seed is set, so two runs agree exactly on CPU."""
    results = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["train", "--model", model, "--output", str(out), "--set", "train.epochs=1", *SMALL]) == 0
        results.append(json.loads((out / "results.json").read_text())["test"])
    assert results[0] == results[1]


def test_unwritable_output_fails_before_training(tmp_path, tmp_cache, capsys):
    """An --output that cannot be created (under a file: fails for root too) is refused
    before the dataset loads or anything trains, not after the first epoch."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["train", "--model", "bpr_mf", "--output", str(blocker / "run"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert f"output folder '{blocker / 'run'}' is not writable" in err
    assert main(["compare", "--models", "bpr_mf", "--output", str(blocker / "c"), *SMALL]) == 2
    assert "is not writable" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.pt"), "--output", str(blocker / "e.json")]) == 2
    assert "--output folder" in capsys.readouterr().err


def test_unwritable_output_is_refused_without_training(tmp_path, tmp_cache, capsys, monkeypatch):
    """The same check, made to fail whoever runs the test (root can write anywhere)."""
    import graphrec.train.run as run_mod

    def refuse(path, what="output folder"):
        raise PermissionError(f"{what} '{path}' is not writable (Permission denied)")

    monkeypatch.setattr(run_mod, "check_writable_dir", refuse)
    monkeypatch.setattr(run_mod, "load_dataset", lambda *a, **k: pytest.fail("loaded data before the check"))
    assert main(["train", "--model", "bpr_mf", "--output", str(tmp_path / "r"), *SMALL]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_resume_under_other_model_settings_is_refused(tmp_path, tmp_cache, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "bpr_mf", "--output", str(out), *SMALL, "--set", "model.dim=8"]) == 0
    capsys.readouterr()
    assert main(["train", "--model", "bpr_mf", "--output", str(out), "--resume", *SMALL,
                 "--set", "model.dim=16"]) == 2
    err = capsys.readouterr().err
    assert "written with another model_config (dim: 8 there, 16 now)" in err


def test_resume_of_a_checkpoint_older_than_a_config_field(tmp_path, tmp_cache, capsys):
    """A field added to the config after the checkpoint was written counts as its default."""
    import io

    import torch

    from graphrec.models import BPRMFConfig
    from graphrec.utils.io import atomic_write_bytes

    out = tmp_path / "run"
    args = ["train", "--model", "bpr_mf", "--output", str(out), *SMALL, "--set", "train.epochs=1"]
    assert main(args) == 0
    path = out / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=False)
    ckpt["model_config"].pop("reg_weight")  # as if written before the field existed
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write_bytes(path, buf.getvalue())
    default = BPRMFConfig().reg_weight
    assert main([*args[:-2], "--set", "train.epochs=2", "--resume"]) == 0
    capsys.readouterr()
    assert main([*args[:-2], "--set", "train.epochs=3", "--resume", "--set", f"model.reg_weight={default * 2}"]) == 2
    assert f"reg_weight: {default!r} there" in capsys.readouterr().err


def test_evaluate_names_what_is_wrong_with_a_checkpoint(tmp_path, tmp_cache, capsys):
    import torch

    out = tmp_path / "run"
    assert main(["train", "--model", "bpr_mf", "--output", str(out), *SMALL, "--set", "model.dim=8"]) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    shapes = dict(ckpt, model_config={**ckpt["model_config"], "dim": 16})
    torch.save(shapes, tmp_path / "shapes.pt")
    no_cfg = {k: v for k, v in ckpt.items() if k != "train_config"}
    torch.save(no_cfg, tmp_path / "no_cfg.pt")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "shapes.pt")]) == 2
    err = capsys.readouterr().err
    assert "shapes.pt" in err and "parameter 'user_emb.weight' has shape (300, 8)" in err and "(300, 16)" in err
    assert main(["evaluate", str(tmp_path / "no_cfg.pt")]) == 2
    err = capsys.readouterr().err
    assert "no_cfg.pt' lacks ['train_config']" in err



def test_every_option_has_help_and_help_is_plain_text(capsys):
    """docs/cli.md is generated from these help strings: every subcommand and every
    option (hidden ones aside) says what it does, and no help shows RST markup."""
    import argparse

    from graphrec.cli import build_parser

    def walk(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    assert helps.get(name), f"'{' '.join([*path, name])}' has no help"
                    yield from walk(sub, [*path, name])

    missing = []
    for path, parser in walk(build_parser(), ["graphrec"]):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if action.help != argparse.SUPPRESS and not (action.help or "").strip():
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
        assert "``" not in parser.format_help(), f"'{' '.join(path)} --help' shows RST double backquotes"
    assert not missing, f"options without help text: {missing}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out
