"""Checkpoints and processed caches: nothing loaded can run code; resuming a finished
run continues the uninterrupted one."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from graphrec.cli import main
from graphrec.train import load_checkpoint

SMALL = ["--set", "data.num_users=300", "--set", "data.num_items=150", "--set", "train.num_threads=1", "-q"]


class Payload:
    """Pickles to a call that creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_checkpoint_runs_no_code(tmp_path, tmp_cache, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "bpr_mf", "--output", str(out), "--set", "train.epochs=1", *SMALL]) == 0
    ckpt = out / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)  # what graphrec writes loads weights-only
    marker = tmp_path / "pwned"
    state["evil"] = Payload(marker)
    torch.save(state, ckpt)
    capsys.readouterr()
    assert main(["evaluate", str(ckpt)]) == 2
    assert "cannot be read safely" in capsys.readouterr().err
    assert main(["train", "--model", "bpr_mf", "--output", str(out), "--resume", "--set", "train.epochs=2",
                 *SMALL]) == 2
    assert not marker.exists()
    with pytest.raises(ValueError, match="will not unpickle"):
        load_checkpoint(str(ckpt))


def test_a_crafted_processed_cache_runs_no_code_and_is_rebuilt(tmp_path, tmp_cache, caplog):
    from graphrec.train.run import load_dataset

    first = load_dataset("synthetic", None, num_users=200, num_items=100)
    (path,) = [Path(p) for p in first.processed_paths]
    marker = tmp_path / "pwned"
    torch.save((Payload(marker), None, None), path)
    again = load_dataset("synthetic", None, num_users=200, num_items=100)
    assert not marker.exists()
    assert "cannot be loaded safely" in caplog.text
    assert torch.equal(again[0]["user", "clicks", "item"].edge_index, first[0]["user", "clicks", "item"].edge_index)
    torch.load(path, weights_only=True)  # rebuilt in the safe format


@pytest.mark.parametrize("planted", ["pre_transform.pt", "pre_filter.pt"])
def test_files_planted_beside_the_processed_cache_are_never_read(planted, tmp_path, tmp_cache):
    """PyG's Dataset._process unpickles pre_transform.pt / pre_filter.pt from the processed
    folder with weights_only=False; graphrec datasets neither read nor write them."""
    from graphrec.train.run import load_dataset

    first = load_dataset("synthetic", None, num_users=200, num_items=100)
    folder = Path(first.processed_dir)
    assert sorted(os.listdir(folder)) == ["data.pt"]
    marker = tmp_path / "pwned"
    torch.save(Payload(marker), folder / planted)
    load_dataset("synthetic", None, num_users=200, num_items=100)
    load_dataset("synthetic", None, num_users=200, num_items=100, force_reload=True)
    assert not marker.exists()


# learning rates at which the 4-epoch run's best validation epoch is not its last one
@pytest.mark.parametrize("model, lr", [("bpr_mf", 0.2), ("lightgcn", 1.0), ("sasrec", 0.05)])
def test_resume_of_a_finished_run_equals_the_uninterrupted_run(model, lr, tmp_path, tmp_cache):
    # resuming must continue from the last state (weights, optimiser, RNG), not the best
    common = ["--set", "train.patience=100", "--set", f"train.lr={lr}", *SMALL]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "--model", model, "--output", str(full), "--set", "train.epochs=7", *common]) == 0
    assert main(["train", "--model", model, "--output", str(part), "--set", "train.epochs=4", *common]) == 0
    assert json.loads((part / "results.json").read_text())["best_epoch"] < 4  # else the test shows nothing
    assert main(["train", "--model", model, "--output", str(part), "--resume", "--set", "train.epochs=7",
                 *common]) == 0
    a, b = (json.loads((d / "results.json").read_text()) for d in (full, part))
    assert [h["loss"] for h in b["history"]] == pytest.approx([h["loss"] for h in a["history"]], rel=1e-6)
    assert b["test"] == pytest.approx(a["test"], rel=1e-6)
    assert b["best_epoch"] == a["best_epoch"]
    assert os.listdir(part) and not [f for f in os.listdir(part) if f.endswith(".tmp")]
