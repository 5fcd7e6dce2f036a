"""The model contract: a model declares its inputs and stages; the trainer, the CLI
and evaluation use nothing else."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.cli import main
from graphrec.data.hetero import CLICKS, heldout
from graphrec.data.inputs import (
    JointTimelineInputs,
    PairwiseInputs,
    SequenceInputs,
    SubsequenceInputs,
    TrainInputs,
    UserInputs,
    history_with_valid_item,
)
from graphrec.models import BPRMF, Popularity, RecModel, SASRec
from graphrec.models.base import ModelConfig
from graphrec.models.stage import Stage, StageContext
from graphrec.resolver import register_model
from graphrec.train import TrainConfig, Trainer

SMALL = ["--set", "data.num_users=300", "--set", "data.num_items=150", "--set", "train.num_threads=1", "-q"]

# ---- a model defined here, with its own input type and a cached stage ---------------------
STAGE_CALLS = {"n": 0}


@dataclass
class InBatchPairs(TrainInputs):
    """Batches of positive ``(user, item)`` pairs only: the model uses the other items
    of the batch as negatives (sampled softmax), so no negative sampler is needed."""

    shuffle: bool = True

    def loader(self, data, split="train", *, batch_size, generator=None, length_buckets=0):
        pairs = data[CLICKS].edge_index if split == "train" else heldout(data, split)[0]
        order = torch.randperm(pairs.size(1), generator=generator) if self.shuffle else torch.arange(pairs.size(1))
        return [{"user": pairs[0, idx], "item": pairs[1, idx]} for idx in order.split(batch_size)]


def item_svd(ctx: StageContext) -> dict[str, Tensor]:
    """Item factors from a truncated SVD of the training user-item matrix."""
    STAGE_CALLS["n"] += 1
    data = ctx.data
    u, i = data[CLICKS].edge_index
    m = torch.zeros(data["user"].num_nodes, data["item"].num_nodes)
    m[u, i] = 1.0
    _, s, v = torch.linalg.svd(m, full_matrices=False)
    k = ctx.settings["dim"]
    return {"item_factors": v[:k].t() * s[:k].sqrt(), "note": ["svd", str(k)]}


@dataclass
class InBatchMFConfig(ModelConfig):
    """Args:
        dim: factors (16).
        temperature: softmax temperature (0.2).
    """

    dim: int = 16
    temperature: float = 0.2


@register_model("test_inbatch_mf")
class InBatchMF(RecModel):
    Config = InBatchMFConfig
    train_defaults = {"batch_size": 256, "lr": 0.01}

    def __init__(self, num_users: int, num_items: int, item_init: Tensor, dim: int = 16,
                 temperature: float = 0.2) -> None:
        super().__init__()
        self.num_users, self.num_items, self.temperature = num_users, num_items, temperature
        self.user_emb = nn.Embedding(num_users, dim)
        self.item_emb = nn.Embedding(num_items, dim)
        self.register_buffer("item_init", item_init)
        self.reset_parameters()

    @classmethod
    def stages(cls, config):
        return [Stage("item_svd", item_svd, settings={"dim": config.dim})]

    @classmethod
    def from_data(cls, data, config=None, *, stages=None):
        cfg = config or InBatchMFConfig()
        assert stages is not None and stages["item_svd"]["note"] == ["svd", str(cfg.dim)]
        return cls(data["user"].num_nodes, data["item"].num_nodes, stages["item_svd"]["item_factors"],
                   dim=cfg.dim, temperature=cfg.temperature)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_emb.weight, std=0.1)
        with torch.no_grad():
            self.item_emb.weight.copy_(self.item_init)

    def train_inputs(self) -> InBatchPairs:
        return InBatchPairs()

    def loss(self, batch):
        u, i = self.user_emb(batch["user"]), self.item_emb(batch["item"])
        logits = u @ i.t() / self.temperature
        return {"loss": F.cross_entropy(logits, torch.arange(logits.size(0)))}

    def full_scores(self, users, history):
        return self.user_emb(users) @ self.item_emb.weight.t()


def test_own_input_type_and_cached_stage_through_the_cli(tmp_path, tmp_cache, capsys, caplog):
    out = tmp_path / "run"
    STAGE_CALLS["n"] = 0
    assert main(["train", "--model", "test_inbatch_mf", "--output", str(out), "--set", "train.epochs=8",
                 *SMALL]) == 0
    res = json.loads((out / "results.json").read_text())
    assert STAGE_CALLS["n"] == 1
    (stage,) = res["stages"]
    assert stage["name"] == "item_svd" and stage["cached"] is False and stage["seconds"] > 0
    assert res["epochs"] == 8 and all(h["loss"] > 0 for h in res["history"])
    # it learned: better than popularity on held-out data
    pop = tmp_path / "pop"
    assert main(["train", "--model", "popularity", "--output", str(pop), *SMALL]) == 0
    pop_res = json.loads((pop / "results.json").read_text())
    assert res["test"]["ndcg@10"] > pop_res["test"]["ndcg@10"]

    # evaluate rebuilds the model: the stage is read from its cache, not run again
    capsys.readouterr()
    with caplog.at_level(logging.INFO, logger="graphrec.train"):
        assert main(["evaluate", str(out / "checkpoint.pt"), "--output", str(tmp_path / "e.json")]) == 0
    assert STAGE_CALLS["n"] == 1
    assert "stage item_svd: read from cache" in capsys.readouterr().err
    ev = json.loads((tmp_path / "e.json").read_text())
    assert ev["stages"][0]["cached"] is True
    assert ev["test"]["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"])

    # --resume reuses it too; another dim is another key, so the stage runs again
    assert main(["train", "--model", "test_inbatch_mf", "--output", str(out), "--resume",
                 "--set", "train.epochs=9", *SMALL]) == 0
    assert STAGE_CALLS["n"] == 1
    assert main(["train", "--model", "test_inbatch_mf", "--output", str(tmp_path / "d8"),
                 "--set", "train.epochs=1", "--set", "model.dim=8", *SMALL]) == 0
    assert STAGE_CALLS["n"] == 2


def test_unreadable_stage_cache_is_recomputed_not_trusted(toy_data, tmp_path):
    from graphrec.train.stages import run_stages

    calls = []

    def fn(ctx):
        calls.append(1)
        return {"x": torch.arange(3)}

    stage = Stage("s", fn)
    out, (rec,) = run_stages([stage], toy_data, seed=0, cache_dir=str(tmp_path))
    with open(rec.path, "wb") as f:
        f.write(b"garbage")
    out2, (rec2,) = run_stages([stage], toy_data, seed=0, cache_dir=str(tmp_path))
    assert len(calls) == 2 and not rec2.cached and torch.equal(out2["s"]["x"], torch.arange(3))
    _, (rec3,) = run_stages([stage], toy_data, seed=0, cache_dir=str(tmp_path))
    assert rec3.cached and len(calls) == 2
    _, (rec4,) = run_stages([stage], toy_data, seed=1, cache_dir=str(tmp_path))
    assert rec4.key != rec3.key and len(calls) == 3


def test_stage_errors_are_clear(toy_data, tmp_path):
    from graphrec.train.stages import run_stages

    with pytest.raises(ValueError, match="stage name"):
        Stage("has space", lambda ctx: {})
    with pytest.raises(TypeError, match="returns? a dict|must return a dict"):
        run_stages([Stage("bad", lambda ctx: [1])], toy_data, seed=0, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unique"):
        run_stages([Stage("a", lambda ctx: {}), Stage("a", lambda ctx: {})], toy_data, seed=0,
                   cache_dir=str(tmp_path))


# ---- the trainer reads nothing outside the contract -------------------------------------
def test_old_input_type_attribute_is_an_error():
    with pytest.raises(TypeError, match="train_inputs"):
        class Old(RecModel):  # noqa: F841
            input_type = "sequence"


def test_train_inputs_must_be_a_spec(toy_data):
    class Wrong(BPRMF):
        def train_inputs(self):
            return "pairwise"

    with pytest.raises(TypeError, match="TrainInputs"):
        Trainer(Wrong(toy_data["user"].num_nodes, toy_data["item"].num_nodes), toy_data,
                TrainConfig(progress=False))


def test_declared_inputs_of_the_bundled_models():
    assert isinstance(BPRMF(3, 4).train_inputs(), PairwiseInputs)
    assert SASRec(3, 4, max_len=7, loss="ce").train_inputs() == SequenceInputs(max_len=7, negatives=False)
    assert Popularity(3, 4, torch.tensor([0, 1])).train_inputs() is None


@pytest.mark.parametrize("spec", [PairwiseInputs(), SequenceInputs(max_len=5), SubsequenceInputs(max_len=5),
                                  UserInputs()])
def test_validation_batches_target_the_validation_item(toy_data, spec):
    users, items = heldout(toy_data, "valid")[0]
    valid_item = dict(zip(users.tolist(), items.tolist()))
    batches = list(spec.loader(toy_data, "valid", batch_size=64, generator=torch.Generator().manual_seed(0)))
    seen = torch.cat([b["user"] for b in batches])
    assert sorted(seen.tolist()) == sorted(set(seen.tolist())) and set(seen.tolist()) <= set(valid_item)
    for b in batches:
        if "pos" in b:
            target = b["pos"]
        elif "target" in b and b["target"].dim() == 2:
            assert (b["target"][:, :-1] == 0).all()
            target = b["target"][:, -1] - 1
        elif "target" in b:
            target = b["target"] - 1
        else:
            continue
        assert target.tolist() == [valid_item[u] for u in b["user"].tolist()]


def test_user_batches_bucketed_by_length_cover_every_user_once(toy_data):
    from graphrec.data.hetero import train_history

    lengths = train_history(toy_data).lengths()
    seed = torch.Generator().manual_seed
    plain = list(UserInputs().loader(toy_data, "train", batch_size=2, generator=seed(0)))
    assert len(plain) > 2
    # one chunk holding every batch: the whole epoch sorted by length, batches shuffled
    bucketed = list(UserInputs().loader(toy_data, "train", batch_size=2, generator=seed(0),
                                        length_buckets=len(plain)))
    users = [torch.cat([b["user"] for b in batches]).sort().values.tolist() for batches in (plain, bucketed)]
    assert users[0] == users[1] == torch.nonzero(lengths >= 1).flatten().tolist()
    spans = sorted((int(lengths[b["user"]].min()), int(lengths[b["user"]].max())) for b in bucketed)
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:]))
    # length_buckets=0 is the plain order, draw for draw
    again = UserInputs().loader(toy_data, "train", batch_size=2, generator=seed(0), length_buckets=0)
    assert [b["user"].tolist() for b in again] == [b["user"].tolist() for b in plain]


def test_history_with_valid_item_appends_it(toy_data):
    users, rows = history_with_valid_item(toy_data)
    hist = toy_data["user"].hist_ptr
    u = int(users[0])
    row = rows.values[rows.ptr[0]:rows.ptr[1]]
    assert row[:-1].tolist() == toy_data["user"].hist_item[hist[u]:hist[u + 1]].tolist()


# ---- optimiser, schedule, clipping, parameter groups, loss-based early stopping ---------------
def test_adamw_cosine_schedule_and_warmup(toy_data):
    cfg = TrainConfig(epochs=6, lr=0.01, optimizer="adamw", weight_decay=0.1, lr_schedule="cosine",
                      warmup_epochs=2, progress=False, patience=100)
    tr = Trainer(BPRMF.from_data(toy_data), toy_data, cfg)
    assert isinstance(tr.optimizer, torch.optim.AdamW)
    st = tr.fit()
    lrs = [h["lr"] for h in st.history]
    assert lrs[:2] == pytest.approx([0.01 / 3, 0.02 / 3])
    assert lrs[2] == pytest.approx(0.01) and lrs[2] > lrs[3] > lrs[4] > lrs[5] > 0


def _scripted_validation(trainer, scores):
    """Make ``trainer``'s validation criterion (ndcg@10) follow ``scores``, one per evaluation."""
    it = iter(scores)
    trainer.evaluate = lambda split, *a, **k: {"ndcg@10": next(it)}
    return trainer


#: a best at epoch 1, then no improvement until one at the LR floor (epoch 7), then none
PLATEAU_SCORES = [0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.6, 0.5, 0.5, 0.5, 0.5]


def _plateau_config(**kw):
    return TrainConfig(**{"epochs": 20, "lr": 0.01, "lr_schedule": "plateau", "lr_patience": 1, "lr_decay": 0.1,
                          "min_lr": 1e-4, "patience": 2, "progress": False, "max_batches": 1, **kw})


def test_plateau_schedule_cuts_the_lr_and_stops_only_at_its_floor(toy_data):
    st = _scripted_validation(Trainer(BPRMF.from_data(toy_data), toy_data, _plateau_config()), PLATEAU_SCORES).fit()
    # lr_patience=1: the second evaluation in a row without a new best cuts the LR (PyTorch's rule)
    assert [h["lr"] for h in st.history] == pytest.approx([1e-2, 1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4])
    # above the floor no epoch counts toward early stopping (epochs 2-5 were not improvements); at it,
    # the best of epoch 7 resets the count, and two epochs without one (8, 9) stop the run
    assert st.epoch == 9 and st.best_epoch == 7 and st.best_score == pytest.approx(0.6)


def test_plateau_schedule_resumes_where_it_stopped(toy_data, tmp_path):
    whole = _scripted_validation(Trainer(BPRMF.from_data(toy_data), toy_data, _plateau_config()),
                                 PLATEAU_SCORES).fit()
    first = Trainer(BPRMF.from_data(toy_data), toy_data, _plateau_config(epochs=4), output_dir=str(tmp_path))
    _scripted_validation(first, PLATEAU_SCORES[:4]).fit()
    again = Trainer(BPRMF.from_data(toy_data), toy_data, _plateau_config(), output_dir=str(tmp_path))
    assert again.resume()
    st = _scripted_validation(again, PLATEAU_SCORES[4:]).fit()
    assert [h["lr"] for h in st.history] == pytest.approx([h["lr"] for h in whole.history])
    assert (st.epoch, st.best_epoch) == (whole.epoch, whole.best_epoch)
    other = Trainer(BPRMF.from_data(toy_data), toy_data, TrainConfig(progress=False), output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="lr_schedule='plateau', not 'constant'"):
        other.resume()


def test_plateau_schedule_follows_a_validation_loss_downwards(toy_data):
    """With a loss as the criterion, lower is better: a loss that keeps falling never cuts the LR."""
    tr = Trainer(BPRMF.from_data(toy_data), toy_data, _plateau_config(metric="loss", epochs=4))
    losses = iter([{"loss": v} for v in (0.9, 0.8, 0.7, 0.6)])
    tr.validation_loss = lambda *a, **k: next(losses)
    st = tr.fit()
    assert [h["lr"] for h in st.history] == pytest.approx([1e-2] * 4) and st.best_epoch == 4


def test_plateau_schedule_needs_a_validation_split(toy_data):
    data = toy_data.clone()
    data.valid_edge_label_index = data.valid_edge_label_index[:, :0]
    data.valid_edge_label_time = data.valid_edge_label_time[:0]
    with pytest.raises(ValueError, match="no validation set"):
        Trainer(BPRMF.from_data(data), data, _plateau_config())


def test_gradient_clipping_is_applied(toy_data, monkeypatch):
    norms = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **k):
        norms.append(max_norm)
        return real(params, max_norm, *a, **k)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    Trainer(BPRMF.from_data(toy_data), toy_data,
            TrainConfig(epochs=1, grad_clip=0.5, progress=False, max_batches=3)).fit()
    assert norms == [0.5] * 3


def test_param_groups_are_honoured_and_checked(toy_data):
    class Grouped(BPRMF):
        def param_groups(self):
            return [{"params": self.user_emb.parameters(), "lr": 0.5},
                    {"params": self.item_emb.parameters(), "weight_decay": 0.01}]

    n_u, n_i = toy_data["user"].num_nodes, toy_data["item"].num_nodes
    opt = Trainer(Grouped(n_u, n_i), toy_data, TrainConfig(lr=0.001, progress=False)).optimizer
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.001]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.01]

    class Missing(BPRMF):
        def param_groups(self):
            return [{"params": self.user_emb.parameters()}]

    with pytest.raises(ValueError, match="leaves out trainable parameters"):
        Trainer(Missing(n_u, n_i), toy_data, TrainConfig(progress=False))


def test_early_stopping_on_a_validation_loss(toy_data):
    cfg = TrainConfig(epochs=6, lr=0.01, metric="loss", progress=False, patience=100)
    tr = Trainer(BPRMF.from_data(toy_data), toy_data, cfg)
    st = tr.fit()
    losses = [h["valid_loss"]["loss"] for h in st.history]
    assert all("valid" not in h for h in st.history)
    assert st.best_epoch == 1 + losses.index(min(losses)) and st.best_score == pytest.approx(min(losses))
    part = Trainer(BPRMF.from_data(toy_data), toy_data,
                   TrainConfig(epochs=2, lr=0.01, metric="loss.bpr", progress=False)).fit()
    assert part.best_score == pytest.approx(min(h["valid_loss"]["bpr"] for h in part.history))
    with pytest.raises(ValueError, match="no part 'elbo'"):
        Trainer(BPRMF.from_data(toy_data), toy_data, TrainConfig(epochs=1, metric="loss.elbo", progress=False)).fit()


@pytest.mark.parametrize("key, value, message", [
    ("optimizer", "sgd", "train.optimizer"), ("lr_schedule", "exp", "train.lr_schedule"),
    ("metric", "ndcg@50", "train.metric"), ("protocol", "sampled-x", "protocol"), ("epochs", 0, "train.epochs"),
    ("grad_clip", -1.0, "grad_clip"), ("lr_decay", 1.0, "train.lr_decay"), ("min_lr", -1.0, "train.min_lr"),
    ("lr_patience", -1, "train.lr_patience"),
])
def test_meaningless_train_settings_are_errors(key, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{key: value})


@pytest.mark.parametrize("settings, message", [
    ({"min_lr": 1e-5}, "train.min_lr=1e-05 only applies to train.lr_schedule='plateau', not 'constant'"),
    ({"lr_schedule": "cosine", "lr_patience": 3}, "train.lr_patience=3 only applies"),
    ({"lr_schedule": "plateau", "min_lr": 1e-5, "warmup_epochs": 2}, "no warm-up"),
    ({"lr_schedule": "plateau"}, "needs train.min_lr > 0"),
])
def test_plateau_settings_without_the_plateau_schedule_are_errors(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainConfig(**settings)


# ---- sampled protocols use pair scores only; groups -------------------------------------
class NoFullScores(BPRMF):
    def full_scores(self, users, history):
        raise AssertionError("a sampled protocol must not score all items")


@pytest.mark.parametrize("protocol", ["sampled-20", "sampled-pop-20"])
def test_sampled_protocols_never_score_all_items(toy_data, protocol):
    model = NoFullScores(toy_data["user"].num_nodes, toy_data["item"].num_nodes)
    res = Trainer(model, toy_data, TrainConfig(protocol=protocol, progress=False)).evaluate("test")
    assert 0 <= res["ndcg@10"] <= 1 and res["users"] > 0
    ref = Trainer(BPRMF.from_data(toy_data), toy_data, TrainConfig(protocol=protocol, progress=False))
    ref.model.load_state_dict(model.state_dict())
    assert ref.evaluate("test")["ndcg@10"] == pytest.approx(res["ndcg@10"])


def test_user_supplied_groups(toy_data):
    n = toy_data["user"].num_nodes
    ids = torch.arange(n) % 2
    tr = Trainer(Popularity.from_data(toy_data), toy_data, TrainConfig(progress=False), groups=(ids, ["even", "odd"]))
    res = tr.evaluate("test")
    g = res["groups"]
    assert g["even"]["users"] + g["odd"]["users"] == res["users"]
    mean = (g["even"]["ndcg@10"] * g["even"]["users"] + g["odd"]["ndcg@10"] * g["odd"]["users"]) / res["users"]
    assert mean == pytest.approx(res["ndcg@10"])


# ---- a joint-timeline model: rec and search histories before each target ---------------------
class PooledHistories(RecModel):
    """Scores items by the mean embedding of the click history plus that of the
    searched-and-clicked items, both strictly before the target time."""

    def __init__(self, num_users: int, num_items: int, dim: int = 16) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.item_emb = nn.Embedding(num_items + 1, dim, padding_idx=0)
        self.search_proj = nn.Linear(dim, dim, bias=False)

    def train_inputs(self) -> JointTimelineInputs:
        return JointTimelineInputs(max_rec_len=10, max_search_len=5, num_negatives=0)

    def represent(self, rec_item: Tensor, search_item: Tensor) -> Tensor:
        def mean(ids: Tensor) -> Tensor:
            e = self.item_emb(ids)
            return e.sum(1) / (ids > 0).sum(1, keepdim=True).clamp(min=1)

        return mean(rec_item) + self.search_proj(mean(search_item))

    def loss(self, batch):
        h = self.represent(batch["rec_item"], batch["search_item"])
        return {"loss": F.cross_entropy(h @ self.item_emb.weight[1:].t(), batch["target"] - 1)}

    def full_scores(self, users, history):
        return self.represent(history["rec_item"], history["search_item"]) @ self.item_emb.weight[1:].t()


def test_joint_timeline_model_trains_and_sees_only_the_past(tmp_cache):
    from graphrec.train.run import load_dataset

    data = load_dataset("synthetic", None, num_users=400, num_items=150)[0]
    tr = Trainer(PooledHistories(data["user"].num_nodes, data["item"].num_nodes), data,
                 TrainConfig(epochs=6, lr=0.01, progress=False, patience=100))
    hist = tr.eval_history("test")
    users, times = heldout(data, "test")[0][0], heldout(data, "test")[1]
    rows = hist.select(users)
    assert bool((rows["rec_time"] < times[:, None].double()).all()) and bool(
        (rows["search_time"] < times[:, None].double()).all())
    assert bool((rows["search_item"] > 0).any())  # the synthetic world has search before the test time
    tr.fit()
    pop = Trainer(Popularity.from_data(data), data, TrainConfig(progress=False)).evaluate("test")
    assert tr.evaluate("test")["ndcg@10"] > pop["ndcg@10"]
    # a validation loss over the same windows, the validation item as target
    st = Trainer(PooledHistories(data["user"].num_nodes, data["item"].num_nodes), data,
                 TrainConfig(epochs=2, lr=0.01, metric="loss", progress=False)).fit()
    assert all(h["valid_loss"]["loss"] > 0 for h in st.history)


# ---- a representation model: trained on a validation loss, no ranking ------------------------
@register_model("test_user_autoencoder")
class UserAutoencoder(RecModel):
    """Reconstructs each user's training items from a low-dimensional code; it scores
    nothing, so it is selected on its validation loss and reported without ranking."""

    Config = InBatchMFConfig

    def __init__(self, num_users: int, num_items: int, history, dim: int = 16, temperature: float = 0.2) -> None:
        super().__init__()
        self.num_users, self.num_items, self.history = num_users, num_items, history
        self.encoder = nn.Linear(num_items, dim)
        self.decoder = nn.Linear(dim, num_items)

    @classmethod
    def from_data(cls, data, config=None):
        from graphrec.data.hetero import train_history

        cfg = config or InBatchMFConfig()
        return cls(data["user"].num_nodes, data["item"].num_nodes, train_history(data), dim=cfg.dim)

    def train_inputs(self) -> UserInputs:
        return UserInputs()

    def loss(self, batch):
        rows = self.history.select(batch["user"])
        x = torch.zeros(batch["user"].numel(), self.num_items)
        x[rows.row_index(), rows.values] = 1.0
        recon = -(F.log_softmax(self.decoder(torch.tanh(self.encoder(x))), -1) * x).sum(1).mean()
        return {"loss": recon, "recon": recon.detach()}


def test_representation_model_selects_on_validation_loss_through_the_cli(tmp_path, tmp_cache):
    out = tmp_path / "ae"
    assert main(["train", "--model", "test_user_autoencoder", "--output", str(out), "--set", "train.epochs=3",
                 "--set", "train.metric=loss.recon", *SMALL]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["test"] == {} and "scores no items" in " ".join(res["notes"])
    assert res["valid_loss"]["recon"] > 0
    best = min(h["valid_loss"]["recon"] for h in res["history"])
    assert res["history"][res["best_epoch"] - 1]["valid_loss"]["recon"] == pytest.approx(best)
    assert "validation loss: loss" in (out / "results.md").read_text()


def test_run_one_refuses_a_graph_without_test_pairs(tmp_path):
    """A user-built graph whose split held nothing out cannot give a result."""
    from graphrec.data.datasets import SyntheticSearchRec
    from graphrec.train.run import RunSpec, run_one

    data = SyntheticSearchRec(cache_dir=str(tmp_path), num_users=60, num_items=40)[0]
    data.test_edge_label_index = data.test_edge_label_index[:, :0]
    with pytest.raises(ValueError, match="has no held-out test pairs: its leave_one_out split left every user"):
        run_one(RunSpec("bpr_mf", train_args={"epochs": 1, "progress": False}), data=data)


def test_the_run_refuses_a_graph_without_a_type_the_model_reads(tmp_path):
    """graph_requirements is checked before any stage or training: the message names
    the missing type and the model."""
    from torch_geometric.data import HeteroData

    from graphrec.data.schema import GraphSchemaError
    from graphrec.models import GraphCF, LightGCN
    from graphrec.train.run import build_model, make_train_config

    data = HeteroData()
    data["user"].num_nodes, data["item"].num_nodes = 3, 2
    with pytest.raises(GraphSchemaError, match=r"LightGCN needs edge type \('user', 'clicks', 'item'\)"):
        build_model(LightGCN, data, LightGCN.Config(), make_train_config(LightGCN, {}))
    data["user", "clicks", "item"].edge_index = torch.tensor([[0, 1], [0, 1]])
    cfg = GraphCF.Config(relations="clicks,search")
    with pytest.raises(GraphSchemaError, match=r"GraphCF needs edge type \('user', 'searches', 'query'\)"):
        build_model(GraphCF, data, cfg, make_train_config(GraphCF, {}))
