import json
import os
import stat

import pytest

from graphrec.metrics import (
    atomic_write_json,
    atomic_write_text,
    comparison_report,
    environment_info,
    group_rows,
    markdown_table,
    plot_curve,
    split_rows,
)
from graphrec.metrics import report as report_mod

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _only(path):
    """Files in the directory of ``path`` (no temporary leftovers)."""
    return sorted(os.listdir(path.parent))


# ---------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------
def test_atomic_write_text_replaces_and_keeps_mode(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "one")
    assert p.read_text() == "one"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    os.chmod(p, 0o600)
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert _only(p) == ["a.txt"]


@pytest.mark.parametrize(
    "bad,error",
    [({"x": object()}, TypeError), ({"x": float("nan")}, ValueError)],
    ids=["not-serialisable", "nan"],
)
def test_atomic_write_json_keeps_old_file_on_failure(tmp_path, bad, error):
    p = tmp_path / "results.json"
    atomic_write_json(p, {"hr@10": 0.5})
    before = p.read_bytes()
    with pytest.raises(error):
        atomic_write_json(p, bad)
    assert p.read_bytes() == before
    assert _only(p) == ["results.json"]


def test_atomic_write_keeps_old_file_when_replace_fails(tmp_path, monkeypatch):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 1}
    assert _only(p) == ["r.json"]


def test_atomic_write_json_converts_scalars(tmp_path):
    import numpy as np
    import torch

    p = tmp_path / "d" / "x.json"  # parent created
    atomic_write_json(
        p, {"a": np.float32(0.5), "b": torch.tensor(3), "c": np.arange(2), "d": tmp_path}
    )
    assert json.loads(p.read_text()) == {"a": 0.5, "b": 3, "c": [0, 1], "d": str(tmp_path)}


# ---------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------
def test_environment_info(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.delenv("MALLOC_MMAP_MAX_", raising=False)
    info = environment_info()
    for key in (
        "python",
        "torch",
        "torch_geometric",
        "numpy",
        "graphrec",
        "platform",
        "cpu_count",
        "torch_threads",
        "peak_rss_mb",
    ):
        assert key in info
    assert info["env"]["MALLOC_ARENA_MAX"] == "2"
    assert "MALLOC_MMAP_MAX_" not in info["env"]
    assert info["peak_rss_mb"] is None or info["peak_rss_mb"] > 1.0
    json.dumps(info)  # serialisable as is


# ---------------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------------
def test_markdown_table():
    rows = {"bpr": {"hr@10": 0.5, "users": 3}, "light|gcn": {"hr@10": 0.123456}}
    assert markdown_table(rows, ["hr@10", "users"]) == (
        "| model | hr@10 | users |\n"
        "|:---|---:|---:|\n"
        "| bpr | 0.5000 | 3 |\n"
        "| light\\|gcn | 0.1235 | - |\n"
    )
    titled = markdown_table({"m": {"note": "x"}}, ["note"], title="T", floatfmt=".2f")
    assert titled == "### T\n\n| model | note |\n|:---|:---|\n| m | x |\n"


# ---------------------------------------------------------------------------------
# comparison report
# ---------------------------------------------------------------------------------
def _doc():
    return {
        "dataset": "toy",
        "protocol": "full",
        "notes": "semi-synthetic",
        "seed": 0,
        "models": {
            "bpr-mf": {
                "valid": {"NDCG@10": 0.1, "hr@10": 0.2},
                "test": {
                    "HR@10": 0.25,
                    "NDCG@10": 0.125,
                    "hr@20": 0.5,
                    "ndcg@20": 0.2,
                    "mrr": 0.1,
                    "users": 40,
                },
                "train_seconds": 1.5,
            },
            "lightgcn": {
                "valid": {"ndcg@10": 0.2},
                "test": {
                    "hr@10": 0.375,
                    "ndcg@10": 0.25,
                    "hr@20": 0.625,
                    "ndcg@20": 0.3,
                    "mrr": float("nan"),
                    "users": 40,
                },
                "train_seconds": 3.0,
            },
        },
    }


def test_comparison_report(tmp_path):
    doc = _doc()
    paths = comparison_report(doc, tmp_path / "out")
    assert set(paths) == {"json", "markdown", "plot"}
    assert [p.name for p in (paths["json"], paths["markdown"], paths["plot"])] == [
        "results.json",
        "results.md",
        "results.png",
    ]
    assert sorted(os.listdir(tmp_path / "out")) == ["results.json", "results.md", "results.png"]

    back = json.loads(paths["json"].read_text())
    assert back["protocol"] == "full" and back["seed"] == 0 and back["notes"] == "semi-synthetic"
    for entry in back["models"].values():
        for split in ("valid", "test"):
            assert all(k == k.lower() for k in entry[split])
    assert back["models"]["bpr-mf"]["test"]["hr@10"] == 0.25
    assert back["models"]["lightgcn"]["test"]["mrr"] is None  # strict JSON
    assert doc["models"]["bpr-mf"]["test"]["HR@10"] == 0.25  # input untouched

    md = paths["markdown"].read_text()
    assert md.startswith("# toy: model comparison (full ranking; semi-synthetic)")
    assert (
        "| model | test hr@10 | test ndcg@10 | test hr@20 | test ndcg@20 | test mrr |"
        " valid ndcg@10 | train s |" in md
    )
    assert "| bpr-mf | 0.2500 | 0.1250 | 0.5000 | 0.2000 | 0.1000 | 0.1000 | 1.5000 |" in md
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)


def test_comparison_report_shows_the_shared_selection_metric(tmp_path):
    doc = _doc()
    for entry in doc["models"].values():
        entry["config"] = {"train": {"metric": "ndcg@20"}}
        entry["valid"]["ndcg@20"] = 0.3
    md = comparison_report(doc, tmp_path)["markdown"].read_text()
    assert " valid ndcg@20 | train s |" in md and "valid ndcg@10" not in md
    doc["models"]["bpr-mf"]["config"] = {"train": {"metric": "mrr"}}  # no shared metric: the default column
    md = comparison_report(doc, tmp_path)["markdown"].read_text()
    assert " valid ndcg@10 | train s |" in md


def test_comparison_report_sampled_label(tmp_path):
    doc = _doc()
    doc["protocol"] = "sampled-100"
    del doc["notes"]
    md = comparison_report(doc, tmp_path)["markdown"].read_text()
    assert md.startswith("# toy: model comparison (sampled-100 ranking)")
    assert "not comparable with full-ranking" in md


def test_comparison_report_over_seeds_shows_spread(tmp_path):
    doc = _doc()
    m = doc["models"]["bpr-mf"]
    m["seeds"] = [1, 2, 3]
    m["test_std"] = {"hr@10": 0.02, "ndcg@10": 0.01, "hr@20": 0.03, "ndcg@20": 0.015, "mrr": 0.0}
    doc["models"]["lightgcn"]["seeds"] = [1]
    norm = report_mod._normalise(doc)
    metrics, bars = report_mod._plot_bars(norm)
    assert metrics == ["hr@10", "ndcg@10", "hr@20", "ndcg@20"]
    assert bars["bpr-mf"] == ([0.25, 0.125, 0.5, 0.2], [0.02, 0.01, 0.03, 0.015])
    assert bars["lightgcn"][1] is None  # one seed: no error bar
    md = comparison_report(doc, tmp_path)["markdown"].read_text()
    assert "Mean ± standard deviation over seeds 1, 2, 3" in md
    assert "| bpr-mf | 0.2500 ± 0.0200 |" in md


@pytest.mark.parametrize("protocol", [None, "sampled", "Full"])
def test_comparison_report_requires_protocol_label(tmp_path, protocol):
    doc = _doc()
    if protocol is None:
        del doc["protocol"]
    else:
        doc["protocol"] = protocol
    with pytest.raises(ValueError):
        comparison_report(doc, tmp_path)
    assert not (tmp_path / "results.json").exists()


def _grouped_doc():
    doc = _doc()
    doc["protocol"] = "sampled-pop-99"
    doc["models"]["bpr-mf"]["test_groups"] = {
        "no_search": {"HR@10": 0.125, "ndcg@10": 0.05, "hr@20": 0.25, "ndcg@20": 0.1, "mrr": 0.05, "users": 10},
        "sparse": {"hr@10": 0.25, "ndcg@10": 0.125, "hr@20": 0.5, "ndcg@20": 0.2, "mrr": 0.1, "users": 20},
        "rich": {"hr@10": 0.4, "ndcg@10": 0.2, "hr@20": 0.75, "ndcg@20": 0.3, "mrr": float("nan"), "users": 10},
    }
    return doc


def test_comparison_report_with_groups(tmp_path):
    doc = _grouped_doc()
    paths = comparison_report(doc, tmp_path)
    back = json.loads(paths["json"].read_text())
    groups = back["models"]["bpr-mf"]["test_groups"]
    assert list(groups) == ["no_search", "sparse", "rich"]
    assert groups["no_search"]["hr@10"] == 0.125  # keys lower-cased
    assert groups["rich"]["mrr"] is None and groups["rich"]["users"] == 10  # strict JSON
    md = paths["markdown"].read_text()
    assert md.startswith("# toy: model comparison (sampled-pop-99 ranking; semi-synthetic)")
    assert "99 negatives sampled with probability proportional to item popularity" in md
    assert "break the test metrics down by user group (no_search, sparse, rich" in md
    lines = md.splitlines()
    i = lines.index("| bpr-mf | 0.2500 | 0.1250 | 0.5000 | 0.2000 | 0.1000 | 0.1000 | 1.5000 |")
    assert lines[i + 1] == "| bpr-mf [no_search, n=10] | 0.1250 | 0.0500 | 0.2500 | 0.1000 | 0.0500 | - | - |"
    assert lines[i + 2].startswith("| bpr-mf [sparse, n=20] | 0.2500 |")
    assert lines[i + 3] == "| bpr-mf [rich, n=10] | 0.4000 | 0.2000 | 0.7500 | 0.3000 | nan | - | - |"
    assert lines[i + 4].startswith("| lightgcn |")  # a model without groups gets no group rows
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)
    metrics, bars = report_mod._plot_bars(report_mod._normalise(doc))
    assert list(bars) == ["bpr-mf", "lightgcn"]  # the plot ignores groups


def test_comparison_report_groups_over_seeds(tmp_path):
    doc = _grouped_doc()
    m = doc["models"]["bpr-mf"]
    m["seeds"] = [1, 2]
    m["test_std"] = {"hr@10": 0.02}
    m["test_groups_std"] = {"rich": {"hr@10": 0.05, "users": 0}}
    md = comparison_report(doc, tmp_path)["markdown"].read_text()
    assert "| bpr-mf [rich, n=10] | 0.4000 ± 0.0500 | 0.2000 |" in md


def test_comparison_report_rejects_malformed_groups(tmp_path):
    doc = _doc()
    doc["models"]["bpr-mf"]["test_groups"] = {"rich": 0.5}
    with pytest.raises(ValueError, match="test_groups"):
        comparison_report(doc, tmp_path)


def test_split_rows_for_a_run_table():
    doc = {
        "valid": {"hr@10": 0.5, "users": 3},
        "test": {"hr@10": 0.4, "users": 3},
        "test_groups": {"no_search": {"hr@10": 0.0, "users": 1}, "rich": {"hr@10": 0.6, "users": 2}},
    }
    rows = split_rows(doc)
    assert list(rows) == ["valid", "test", "test [no_search, n=1]", "test [rich, n=2]"]
    table = markdown_table(rows, ["hr@10", "users"], index_name="split")
    assert "| test [rich, n=2] | 0.6000 | 2 |" in table
    assert list(split_rows({"test": {"hr@10": 0.4}})) == ["test"]
    assert group_rows("m", None) == {}
    assert group_rows("m", {"g": {"hr@10": 0.1}}, prefix="test ") == {"m [g]": {"test hr@10": 0.1}}


def test_plot_curve(tmp_path):
    history = [
        {"epoch": 1, "ndcg@10": 0.1, "loss": 0.7},
        {"epoch": 2, "loss": 0.6},
        {"epoch": 3, "ndcg@10": 0.2, "loss": 0.5},
    ]
    p = plot_curve(history, "ndcg@10", tmp_path / "curve.png", title="valid")
    assert p.read_bytes().startswith(PNG_MAGIC)
    p2 = plot_curve(history, ["ndcg@10", "loss"], tmp_path / "curve.png")
    assert p2 == p and _only(p) == ["curve.png"]
