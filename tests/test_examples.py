"""The example scripts run end to end (so they cannot silently rot)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cache):
    env = {**os.environ, "GRAPHREC_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow
def test_custom_graph_example(tmp_path):
    out = run("custom_graph.py", cache=tmp_path)
    assert "co_occurrence: test" in out and "lightgcn: test" in out
    assert "Warning" not in out


@pytest.mark.slow
def test_quickstart_example(tmp_path):
    out = run("quickstart.py", "--epochs", "2", cache=tmp_path)
    assert "Epoch: 002" in out and "LightGCN test:" in out


@pytest.mark.slow
def test_idclrec_beauty_example(tmp_path, shared_data):
    out = run("idclrec_beauty.py", "--root", str(shared_data), "--epochs", "2", "--max-batches", "5",
              cache=tmp_path)
    assert "Epoch: 001, Loss: " in out and "Epoch: 002, Loss: " in out and ", NDCG@20: " in out
    assert "Test (best validation epoch): HR@20" in out


@pytest.mark.slow
def test_idclrec_representations_example(tmp_path, tmp_cache):
    from graphrec.cli import main

    ckpt = tmp_path / "run"
    assert main(["train", "--model", "idclrec", "--output", str(ckpt), "--set", "data.num_users=200",
                 "--set", "data.num_items=100", "--set", "train.epochs=1", "-q"]) == 0
    stem = tmp_path / "repr"
    out = run("idclrec_representations.py", str(ckpt / "checkpoint.pt"), "--users", "50", "--points", "100",
              "--output", str(stem), cache=tmp_cache)
    assert "within_user_cos_interest" in out
    assert (tmp_path / "repr.png").stat().st_size > 0 and (tmp_path / "repr.json").exists()


@pytest.mark.slow
def test_own_model_example(tmp_path):
    out = run("own_model.py", "--epochs", "3", "--output", str(tmp_path / "runs"), cache=tmp_path / "cache")
    assert "train: stage item_svd computed" in out
    assert "evaluate: stage item_svd read from cache" in out


def test_own_model_through_the_cli_plugin_option(tmp_path):
    env = {**os.environ, "GRAPHREC_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "graphrec.cli", "--plugin", str(EXAMPLES / "own_model.py")]
    small = ["--set", "data.num_users=300", "--set", "data.num_items=150", "-q"]
    run_dir = str(tmp_path / "run")
    train = subprocess.run([*base, "train", "--model", "svd_softmax_mf", "--output", run_dir,
                            "--set", "train.epochs=2", *small], env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    ev = subprocess.run([*base, "evaluate", os.path.join(run_dir, "checkpoint.pt")], env=env, capture_output=True,
                        text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "stage item_svd: read from cache" in ev.stderr
    missing = subprocess.run([sys.executable, "-m", "graphrec.cli", "--plugin", "no_such_module_xyz", "list"],
                             env=env, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "--plugin no_such_module_xyz: cannot import it" in missing.stderr


@pytest.mark.slow
def test_lightgcn_gowalla_example(tmp_path, shared_data):
    out_dir = tmp_path / "run"
    out = run("lightgcn_gowalla.py", "--root", str(shared_data), "--epochs", "1", "--batch-size", "16384",
              "--lr", "0.01", "--eval-every", "1", "--output", str(out_dir), cache=tmp_path)
    assert "Recall@20 0." in out and "after 1 epochs" in out
    assert (out_dir / "time_to_accuracy.png").stat().st_size > 0


@pytest.mark.slow
def test_gserec_example(tmp_path):
    out_dir = tmp_path / "gserec"
    out = run("gserec.py", "--dataset", "synthetic", "--output", str(out_dir), "--depths", "1,2",
              "--set", "data.num_users=400", "--set", "data.num_items=600", "--set", "train.epochs=1",
              "--set", "sasrec.train.epochs=1", "--set", "train.progress=false",
              "--set", "gserec.model.summarizer=none", "--set", "gserec.model.embedder=behaviour",
              "--set", "gserec.model.rq_epochs=3", cache=tmp_path / "cache")
    assert "Test, full ranking (the same checkpoints)" in out and "GSERec by LightGCN depth K" in out
    assert "| K=1 |" in out and "| K=2 |" in out  # K=2 is the main run, reused
    assert "sparse -> rich" in out and "category Jaccard of code neighbours" in out
    for name in ("report.json", "report.md", "groups.png", "gserec/seed-2024/full_ranking.json"):
        assert (out_dir / name).stat().st_size > 0


@pytest.mark.slow
def test_graph_layers_example(tmp_path):
    out = run("graph_layers.py", "--epochs", "2", "--users", "300", "--layers", "lightgcn,ngcf,gat",
              "--relations", "clicks,search", cache=tmp_path)
    assert "| graph_cf[gat] |" in out and "| popularity |" in out


def test_readme_table_lists_every_example_and_each_runs_in_a_test():
    """examples/README.md is a table of every script (and only those), and every script
    has a test here that runs it, so the table and the scripts cannot drift apart."""
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    rows = [line for line in (EXAMPLES / "README.md").read_text().splitlines() if line.startswith("| `")]
    listed = sorted(line.split("`")[1] for line in rows)
    assert listed == scripts, f"examples/README.md lists {listed}, the folder has {scripts}"
    assert all(line.split("|")[2].strip() for line in rows), "every row says what its script shows"
    source = Path(__file__).read_text()
    untested = [s for s in scripts if f'"{s}"' not in source]
    assert not untested, f"no test runs {untested}"


@pytest.mark.slow
def test_hmv_crl_example(tmp_path):
    out = run("hmv_crl.py", "--output", str(tmp_path / "hmv"), "--set", "data.num_users=250", "--set",
              "data.num_items=120", "--set", "data.num_topics=6", "--set", "data.num_brands=30", "--set",
              "train.epochs=2", "--set", "model.dim=16", "--set", "model.num_layers=1", "--bootstrap", "50",
              cache=tmp_path / "cache")
    assert "Held-out R^2 of each true latent" in out and "# Causal report: synthetic" in out
    assert (tmp_path / "hmv" / "observability.json").exists() and (tmp_path / "hmv" / "report.json").exists()


@pytest.mark.slow
def test_clardrec_example(tmp_path):
    out_dir = tmp_path / "clardrec"
    world = ["--set", "data.num_users=300", "--set", "data.num_items=600", "--set", "data.search_offtaste=0.3"]
    out = run("clardrec.py", "--output", str(out_dir), "--sequential", *world,
              "--set", "train.epochs=1", "--set", "train.progress=false", cache=tmp_path / "cache")
    assert "By search activity" in out and "cos_qr_qi" in out and "| clardrec-seq |" in out
    # the world marks its off-taste searches: the analysis scores the confidence against them
    assert "confidence_auc_on_vs_offtaste" in out
    for name in ("report.json", "report.md", "parts.png", "parts_sequential.png"):
        assert (out_dir / name).stat().st_size > 0
    # a run trained elsewhere (say on a lent GPU) comes back without its checkpoint: the
    # comparison then reads the analysis that --analyse wrote beside it there
    report = json.loads((out_dir / "report.json").read_text())
    (out_dir / "clardrec" / "seed-0" / "checkpoint.pt").unlink()
    assert (out_dir / "clardrec" / "seed-0" / "analysis.json").exists()
    run("clardrec.py", "--output", str(out_dir), "--sequential", *world, "--set", "train.epochs=1",
        "--set", "train.progress=false", cache=tmp_path / "cache")
    assert json.loads((out_dir / "report.json").read_text())["analysis"] == report["analysis"]
