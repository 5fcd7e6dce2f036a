"""Data-parallel training and evaluation on PyTorch's own engine (gloo on CPU).

Tolerances, and why two processes are not bit-identical to one:

* **Evaluation** gives every user the same scores and ranks as one process; only
  the float64 sums of the per-user metrics are added in another order (each rank's
  share, then the all-reduce). Metrics agree to ``rel=1e-12``; user counts exactly.
* **Training** takes each global batch of ``train.batch_size`` rows, split over the
  ranks, and DDP averages the ranks' gradients (each rank's mean loss weighted by
  its share of the rows). That is the gradient of the whole batch's mean loss, with
  its float32 sums taken in another order: the losses of a few epochs agree to
  ``rel=1e-5`` and the ranking metrics of these small seeded runs to ``1e-6`` (the
  same ranking; a metric could move by ``1/users`` only if two scores tied within
  float32 rounding).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch

from graphrec.data.ragged import Ragged
from graphrec.metrics import full_ranking, sampled_ranking
from graphrec.models import BPRMF, LightGCN, SASRec, SASRecConfig
from graphrec.models.lightgcn import LightGCNConfig
from graphrec.train import TrainConfig, Trainer, distributed
from graphrec.train.distributed import shard_batch
from tests.worlds import clustered_world

REPO = Path(__file__).resolve().parents[2]
METRICS = ("hr@5", "ndcg@5", "recall@10", "ndcg@10", "mrr")
PROTOCOLS = ("full", "sampled-50", "sampled-pop-50")


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without any launcher's rank variables (the test may itself
    run under one), one thread per process."""
    env = {k: v for k, v in os.environ.items()
           if k not in (*distributed.ENV_VARS, "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _overall(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "groups"}


# ---------------------------------------------------------------------------------
# one process: every helper is a no-op
# ---------------------------------------------------------------------------------
def test_single_process_is_a_no_op(monkeypatch, toy_data):
    for var in (*distributed.ENV_VARS, "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.init_from_env("cpu") is False
    assert not distributed.is_distributed() and not distributed.launched_by_torchrun()
    assert (distributed.get_rank(), distributed.get_world_size(), distributed.get_local_rank()) == (0, 1, 0)
    assert distributed.is_main_process() and distributed.is_local_main_process()
    distributed.barrier()
    with distributed.main_process_first():
        pass
    flag = object()
    assert distributed.broadcast_value(flag) is flag
    t = torch.arange(3.0)
    assert distributed.all_reduce_sum(t) is t
    batch = {"user": torch.arange(4), "pos": torch.arange(4)}
    assert shard_batch(batch) == (batch, 1.0)
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node=1: still one process
    monkeypatch.setenv("RANK", "0")
    assert distributed.init_from_env("cpu") is False
    tr = Trainer(BPRMF.from_data(toy_data), toy_data, TrainConfig(epochs=1, progress=False))
    tr.fit()
    assert tr.world_size == 1 and tr.ddp is None


def test_shard_batch_splits_rows_and_passes_the_rest():
    batch = {"user": torch.arange(7), "input": torch.arange(14).view(7, 2), "scale": torch.tensor(2.0),
             "table": torch.zeros(3, 5), "name": "x"}
    shards = [shard_batch(batch, r, 3) for r in range(3)]
    assert [s["user"].tolist() for s, _ in shards] == [[0, 1, 2], [3, 4], [5, 6]]
    assert torch.equal(torch.cat([s["input"] for s, _ in shards]), batch["input"])
    assert sum(share for _, share in shards) == pytest.approx(1.0)
    for s, _ in shards:  # not one row per example: passed whole
        assert s["table"] is batch["table"] and s["scale"] is batch["scale"] and s["name"] == "x"
    # a batch smaller than the world: the rank without rows steps on one row with weight 0
    small = {"user": torch.arange(2)}
    assert [(s["user"].tolist(), share) for s, share in (shard_batch(small, r, 3) for r in range(3))] == [
        ([0], 0.5), ([1], 0.5), ([0], 0.0)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sharded_ranking_adds_up_to_one_process(protocol):
    """The metrics hook in one process: three shares whose sums are combined by
    ``reduce`` give the metrics of the whole evaluation, groups included."""
    g = torch.Generator().manual_seed(0)
    U, N = 57, 40
    emb_u, emb_i = torch.randn(U, 8, generator=g), torch.randn(N, 8, generator=g)
    users = torch.arange(U)
    seen = [torch.randperm(N, generator=g)[:5].tolist() for _ in range(U)]
    targets = Ragged.from_lists([[s[0]] for s in seen])
    exclude = Ragged.from_lists([s[1:] for s in seen])
    groups, names = users % 3, ["a", "b", "c"]
    popularity = torch.rand(N, generator=g) + 0.1

    def run(**kw):
        common = dict(num_items=N, ks=(5, 10), groups=groups, group_names=names, chunk_size=10, **kw)
        if protocol == "full":
            return full_ranking(lambda u: emb_u[u] @ emb_i.T, users, targets, exclude, **common)
        return sampled_ranking(lambda u, i: (emb_u[u].unsqueeze(1) * emb_i[i]).sum(-1), users, targets, exclude,
                               num_negatives=20, generator=torch.Generator().manual_seed(1),
                               popularity=popularity if "pop" in protocol else None, **common)

    whole = run()
    parts = []
    for r in range(3):
        run(shard=(r, 3), reduce=lambda v: parts.append(v) or v)
    total = torch.stack(parts).sum(0)
    combined = run(shard=(0, 3), reduce=lambda v: total)
    assert combined["users"] == whole["users"] == U
    assert _overall(combined) == pytest.approx(_overall(whole), rel=1e-12)
    for name in names:
        assert combined["groups"][name] == pytest.approx(whole["groups"][name], rel=1e-12)
    with pytest.raises(ValueError, match="shard"):
        run(shard=(3, 3))


# ---------------------------------------------------------------------------------
# two processes (gloo), started by torch.multiprocessing
# ---------------------------------------------------------------------------------
def _evaluate_all(model, data, groups) -> dict:
    return {p: Trainer(model, data, TrainConfig(progress=False, protocol=p, ks=(5, 10), metric="mrr"),
                       groups=groups).evaluate("test") for p in PROTOCOLS}


def _lightgcn(data):
    torch.manual_seed(0)
    return LightGCN.from_data(data, LightGCNConfig(dim=16, num_layers=2))


def _sasrec(data):
    torch.manual_seed(0)
    return SASRec.from_data(data, SASRecConfig(dim=16, max_len=10, dropout=0.2))


def _fit_cfg(epochs: int, batch_size: int = 255) -> TrainConfig:
    # 255 rows: the ranks' shares differ (128 / 127), so the loss weighting matters
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-2, progress=False, patience=100, ks=(5, 10))


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update({"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    assert distributed.init_from_env("cpu", timeout=timedelta(seconds=120))
    data = clustered_world()
    groups = (torch.arange(data["user"].num_nodes) % 3, ["a", "b", "c"])
    res: dict = {"rank": distributed.get_rank(), "world": distributed.get_world_size()}
    # (b) evaluation of fixed weights
    torch.manual_seed(0)
    res["eval"] = _evaluate_all(BPRMF.from_data(data), data, groups)
    # training: LightGCN (no randomness in its loss) against one process in the parent
    tr = Trainer(_lightgcn(data), data, _fit_cfg(3))
    st = tr.fit()
    res["fit"] = {"loss": [h["loss"] for h in st.history], "test": tr.evaluate("test"), "ddp": tr.ddp is not None,
                  "valid_loss": tr.validation_loss()}
    # resume under DDP: SASRec with dropout, so the ranks' own RNG streams must resume too
    full = Trainer(_sasrec(data), data, _fit_cfg(3, 64))
    full.fit()
    ckpt_dir = os.path.join(out, f"ckpt-{rank}")  # each rank its own folder: only rank 0's fills
    Trainer(_sasrec(data), data, _fit_cfg(2, 64), output_dir=ckpt_dir).fit()
    resumed = Trainer(_sasrec(data), data, _fit_cfg(3, 64), output_dir=ckpt_dir)
    res["resumed"] = resumed.resume()
    resumed.fit()
    res["resume"] = {"full": [h["loss"] for h in full.state.history],
                     "resumed": [h["loss"] for h in resumed.state.history],
                     "files": sorted(os.listdir(ckpt_dir)) if os.path.isdir(ckpt_dir) else []}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(res, f)
    distributed.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    saved = {k: os.environ.pop(k) for k in (*distributed.ENV_VARS, "MASTER_ADDR", "MASTER_PORT")
             if k in os.environ}
    try:
        torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    finally:
        os.environ.update(saved)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_distributed_evaluation_equals_one_process(two_ranks, toy_data):
    """(b): the same weights, users sharded over two ranks: every protocol's metrics,
    overall and per group, are those of one process (the ranks report the same)."""
    groups = (torch.arange(toy_data["user"].num_nodes) % 3, ["a", "b", "c"])
    torch.manual_seed(0)
    one = _evaluate_all(BPRMF.from_data(toy_data), toy_data, groups)
    assert [r["world"] for r in two_ranks] == [2, 2]
    for protocol in PROTOCOLS:
        ranks = [r["eval"][protocol] for r in two_ranks]
        assert ranks[0] == ranks[1]
        got, want = ranks[0], one[protocol]
        assert got["users"] == want["users"] > 0
        assert _overall(got) == pytest.approx(_overall(want), rel=1e-12)
        for name, metrics in want["groups"].items():
            assert got["groups"][name]["users"] == metrics["users"]
            assert got["groups"][name] == pytest.approx(metrics, rel=1e-12)


def test_distributed_training_matches_one_process(two_ranks, toy_data):
    tr = Trainer(_lightgcn(toy_data), toy_data, _fit_cfg(3))
    st = tr.fit()
    test = tr.evaluate("test")
    for r in two_ranks:
        assert r["fit"]["ddp"]
        assert r["fit"]["loss"] == pytest.approx([h["loss"] for h in st.history], rel=1e-5)
        for m in METRICS:
            assert r["fit"]["test"][m] == pytest.approx(test[m], abs=1e-6), m
        assert r["fit"]["valid_loss"] == pytest.approx(tr.validation_loss(), rel=1e-5)


def test_distributed_resume_continues_exactly(two_ranks):
    for r in two_ranks:
        assert r["resumed"]
        assert r["resume"]["resumed"] == pytest.approx(r["resume"]["full"], rel=1e-6)
    # rank 0 alone wrote a checkpoint; rank 1 resumed from it without a copy of the file
    assert two_ranks[0]["resume"]["files"] == ["checkpoint.pt"]
    assert two_ranks[1]["resume"]["files"] == []


# ---------------------------------------------------------------------------------
# the command line under torchrun
# ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path, tmp_cache):
    """(a): ``torchrun --standalone --nproc_per_node=2 -m graphrec train`` (gloo)
    writes one results.json whose metrics are those of ``python -m graphrec train``
    with the same seed (tolerances in the module docstring)."""
    args = ["train", "--model", "bpr_mf", "--set", "data.num_users=300", "--set", "data.num_items=150",
            "--set", "train.epochs=3", "--set", "train.batch_size=255", "--set", "train.seed=7",
            "--set", "train.num_threads=1", "-q"]
    env = _clean_env(GRAPHREC_CACHE=str(tmp_cache))
    one, two = tmp_path / "one", tmp_path / "two"
    # `python -m torch.distributed.run` is the torchrun command (its console script may not be on PATH)
    cmds = [[sys.executable, "-m", "graphrec", *args, "--output", str(one)],
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
             "-m", "graphrec", *args, "--output", str(two)]]
    for cmd in cmds:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (json.loads((out / "results.json").read_text()) for out in (one, two))
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.pt", "curve.png", "results.json", "results.md"]
    assert a["epochs"] == b["epochs"] == 3 and a["seed"] == b["seed"] == 7
    assert [h["loss"] for h in b["history"]] == pytest.approx([h["loss"] for h in a["history"]], rel=1e-5)
    for split in ("valid", "test"):
        assert b[split]["users"] == a[split]["users"]
        for m in METRICS:
            assert b[split][m] == pytest.approx(a[split][m], abs=1e-6), (split, m)
