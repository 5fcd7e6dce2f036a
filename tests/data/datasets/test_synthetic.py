"""The synthetic search-and-recommendation world: determinism, shapes, the
search surface, the exposure policy, leakage and learnability."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from graphrec.data.datasets.synthetic import (
    EXPOSURE_SOURCES,
    PLATFORM_FACTORS,
    SyntheticConfig,
    SyntheticSearchRec,
    simulate_world,
)
from graphrec.data.hetero import SEARCHES, build_hetero_data, heldout
from graphrec.data.split import leave_one_out

SMALL = SyntheticConfig(num_users=300, num_items=200, num_topics=8, num_brands=40,
                        mean_rec_interactions=15.0)


@pytest.fixture(scope="module")
def simulated():
    return simulate_world(SyntheticConfig())


@pytest.fixture(scope="module")
def world(simulated):
    return simulated.logs


@pytest.fixture(scope="module")
def truth(simulated):
    return simulated.truth


def _shares(logs):
    U = logs.num_users
    n_src = torch.bincount(logs.search.user, minlength=U).double()
    n_rec = torch.bincount(logs.rec.user, minlength=U).double()
    return n_src / (n_src + n_rec)


# ---- configuration and determinism ------------------------------------------------------

@pytest.mark.parametrize("bad", [
    dict(num_users=0), dict(num_brands=3), dict(item_mix=1.5), dict(title_min_words=5),
    dict(max_search_share=1.0), dict(query_word_mix=(0.0, 0.0, 0.0, 0.0)),
    dict(mean_rec_interactions=2.0), dict(platform_bias=(0.0, 1.0)),
])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="SyntheticConfig"):
        dataclasses.replace(SyntheticConfig(), **bad)


def _tensors(world):
    logs = world.logs
    out = {"rec." + k: getattr(logs.rec, k) for k in ("user", "item", "time")}
    out.update({"search." + k: getattr(logs.search, k) for k in ("user", "query", "item", "time")})
    tokens = logs.search.query_tokens
    out["query_ptr"], out["query_tok"] = tokens.ptr, tokens.values
    out["attr_ptr"], out["attr"] = logs.items.attrs.ptr, logs.items.attrs.values
    out.update(logs.extras)
    out.update(world.truth.tensors)
    fields = ("user", "rec_row", "items", "clicked", "time")
    out.update({"impression." + k: getattr(world.impressions, k) for k in fields})
    return out


def test_same_seed_same_world_different_seed_different_world():
    a, b = simulate_world(SMALL), simulate_world(SMALL)
    c = simulate_world(dataclasses.replace(SMALL, seed=1))
    ta, tb, tc = _tensors(a), _tensors(b), _tensors(c)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert a.logs.search.query_text == b.logs.search.query_text and a.logs.items.title == b.logs.items.title
    assert a.logs.meta == b.logs.meta
    assert not torch.equal(ta["user.z_pref"], tc["user.z_pref"])
    assert (ta["rec.item"].shape != tc["rec.item"].shape
            or not torch.equal(ta["rec.item"], tc["rec.item"]))


# ---- shapes and ranges -------------------------------------------------------------------

def test_shapes_ranges_and_ground_truth(world, truth):
    cfg = SyntheticConfig()
    U, I, K = cfg.num_users, cfg.num_items, cfg.num_topics
    ex = truth
    assert world.num_users == U and world.num_items == I
    assert world.meta["synthetic"] is True and world.meta["seed"] == 0
    assert world.meta["time_unit"] == "seconds"
    assert ex["user.z_pref"].shape == (U, K) and ex["user.z_pref_drift"].shape == (U, K)
    assert ex["user.z_platform"].shape == (U, len(PLATFORM_FACTORS))
    assert ex["user.u_pref"].shape == (U, cfg.aux_pref_dim)
    assert ex["user.u_platform"].shape == (U, cfg.aux_platform_dim)
    # the observed covariates are the users' node features; attributes know their field
    assert torch.equal(world.extras["user.x"], torch.cat([ex["user.u_platform"], ex["user.u_pref"]], 1))
    assert list(world.extras) == ["user.x"]  # the logs carry no truth
    assert world.items.attr_fields == ["category", "brand"]
    assert world.items.attr_field.tolist() == [0] * cfg.num_categories + [1] * cfg.num_brands
    assert ex["user.exposure_share"].shape == (U, len(EXPOSURE_SOURCES))
    assert torch.allclose(ex["user.exposure_share"].sum(1), torch.ones(U))
    assert ex["item.embedding"].shape == (I, K)
    assert torch.allclose(ex["item.embedding"].sum(1), torch.ones(I), atol=1e-5)
    assert torch.equal(ex["item.embedding"].argmax(1), ex["item.topic"])
    assert ex["item.popularity"].shape == (I,)
    assert abs(float(ex["item.popularity"].sum()) - 1.0) < 1e-4
    assert ex["item.promoted"].dtype == torch.bool and bool(ex["item.promoted"].any())
    assert torch.bincount(ex["item.topic"], minlength=K).min() >= 1
    assert ex["topic_word"].shape == (K, cfg.num_words)
    assert torch.allclose(ex["topic_word"].sum(1), torch.ones(K), atol=1e-5)
    assert ex["rec_exposure_source"].shape == world.rec.user.shape
    assert int(ex["rec_exposure_source"].min()) >= 0
    assert int(ex["rec_exposure_source"].max()) < len(EXPOSURE_SOURCES)
    assert ex["search_target"].shape == world.search.user.shape

    # items: attributes tied to the topic, titles as text + word ids
    items = world.items
    assert items.num_attrs == cfg.num_attrs and len(items.attr_names) == cfg.num_attrs
    first = items.attrs.values[items.attrs.ptr[:-1]]  # primary category
    assert torch.equal(first // cfg.categories_per_topic, ex["item.topic"])
    title_ptr, title_word = ex["item.title_ptr"], ex["item.title_word"]
    assert title_ptr.numel() == I + 1 and int(title_word.max()) < cfg.num_words
    assert all(len(t.split()) == int(title_ptr[i + 1] - title_ptr[i])
               for i, t in enumerate(items.title))

    # users: enough recommendation history, lines inside the span, strictly increasing
    n_rec = torch.bincount(world.rec.user, minlength=U)
    assert int(n_rec.min()) >= cfg.min_rec_interactions
    user = torch.cat([world.rec.user, world.search.user])
    time = torch.cat([world.rec.time, world.search.time])
    assert int((torch.bincount(user, minlength=U)).max()) <= cfg.max_interactions
    assert float(time.min()) >= 0 and float(time.max()) <= cfg.time_span_days * 86400
    o = torch.argsort(time, stable=True)
    o = o[torch.argsort(user[o], stable=True)]
    same = user[o][1:] == user[o][:-1]
    assert bool((time[o][1:][same] > time[o][:-1][same]).all())
    # about 40 interactions per user and no more than a handful of repeated rec items
    assert 30 <= (len(world.rec) + len(world.search)) / U <= 50
    assert world.meta["rec_repeats"] < 0.005 * len(world.rec)


# ---- the search surface ----------------------------------------------------------------

def test_search_share_is_heavy_tailed(world, truth):
    share = _shares(world)
    assert float(share.median()) < 0.75 * float(share.mean())
    assert int((share > 0.5).sum()) >= 10  # a few heavy searchers
    assert float((share == 0).double().mean()) > 0.15  # many never search
    # propensity follows the search activity covariate u_f[0]
    rho = truth["user.search_propensity"].double()
    u0 = truth["user.u_pref"][:, 0].double()
    assert float(torch.corrcoef(torch.stack([rho, u0]))[0, 1]) > 0.3


def test_queries_text_words_and_relevance(world, truth):
    s, cfg = world.search, SyntheticConfig()
    assert s.num_words == cfg.num_words
    lens = s.query_tokens.lengths()
    assert int(lens.min()) >= 1 and int(lens.max()) <= cfg.query_max_words
    rows = s.query_tokens.tolist()
    assert len(set(map(tuple, rows))) == len(rows)  # distinct queries are deduplicated
    assert len(set(s.query_text)) == len(s.query_text)
    vocab = {}
    for text, row in zip(s.query_text, rows):
        for w, tok in zip(text.split(), row):
            assert vocab.setdefault(tok, w) == w  # one spelling per word id
    ex = truth
    # clicks are relevant to the query's intent and mostly to the written-for item
    assert float((ex["item.topic"][s.item] == ex["search_intent"]).double().mean()) > 0.6
    assert float((s.item == ex["search_target"]).double().mean()) > 0.2
    # most queries share a word with the target item's title or attribute names
    title_ptr, title_word = ex["item.title_ptr"], ex["item.title_word"]
    attr0 = cfg.num_words - cfg.num_attrs
    hits = 0
    n = min(len(s), 2000)
    for r in range(n):
        t = int(ex["search_target"][r])
        words = set(title_word[title_ptr[t]:title_ptr[t + 1]].tolist())
        words |= {attr0 + a for a in world.items.attrs[t].tolist()}
        hits += bool(words & set(rows[int(s.query[r])]))
    assert hits / n > 0.6


# ---- the exposure policy and session intents ------------------------------------------

def test_platform_latent_drives_exposure_not_preference(world, truth):
    ex = truth
    z_p, share = ex["user.z_platform"].double(), ex["user.exposure_share"].double()
    corr = lambda a, b: float(torch.corrcoef(torch.stack([a, b]))[0, 1])  # noqa: E731
    assert corr(z_p[:, 0], share[:, 0]) > 0.4  # popularity weight -> popularity slots
    assert corr(z_p[:, 1], share[:, 1]) > 0.4  # promotion weight -> promoted slots
    n_rec = torch.bincount(world.rec.user, minlength=world.num_users).double()
    assert corr(z_p[:, 3], n_rec.log()) > 0.2  # exposure intensity -> volume
    # the platform covariates explain z_platform, not z_pref
    u_p = torch.cat([ex["user.u_platform"].double(), torch.ones(world.num_users, 1)], 1)

    def r2(y):
        beta = torch.linalg.lstsq(u_p, y).solution
        return 1 - float(((y - u_p @ beta) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())
    assert r2(z_p) > 0.3 and r2(ex["user.z_pref"].double()) < 0.05


def test_consecutive_interactions_share_the_session_intent(world, truth):
    rec = world.rec
    o = rec.chronological_order()
    topic = truth["item.topic"][rec.item[o]]
    same_user = rec.user[o][1:] == rec.user[o][:-1]
    p_same = float((topic[1:] == topic[:-1])[same_user].double().mean())
    p = torch.bincount(topic, minlength=SyntheticConfig().num_topics).double()
    p /= p.sum()
    assert p_same > 3 * float((p ** 2).sum())


# ---- leakage and learnability ----------------------------------------------------------

def test_hetero_data_has_no_search_at_or_after_the_heldout_time(world):
    split = leave_one_out(world)
    data = build_hetero_data(world, split)
    data.validate(raise_on_error=True)
    cutoff = torch.full((world.num_users,), float("inf"), dtype=torch.float64)
    for part in ("valid", "test"):
        index, time = heldout(data, part)
        cutoff = cutoff.scatter_reduce(0, index[0], time, "amin")
    st = data[SEARCHES]
    assert st.edge_index.size(1) > 0
    assert bool((st.time < cutoff[st.edge_index[0]]).all())
    assert st.edge_index.size(1) < len(world.search)  # some searches were hidden
    # ground truth never reaches the graph a model reads
    assert "z_pref" not in data["user"] and "topic" not in data["item"]
    assert data.meta_synthetic is True


def _hit_rate(scores, train, history, test, k=10):
    s = scores.clone()
    s[history] = -float("inf")
    top = s[test.user].topk(k, dim=1).indices
    return float((top == test.item[:, None]).any(1).double().mean())


def test_preference_beats_popularity_on_heldout_items(world, truth):
    """The world is not popularity-driven: the ground-truth preference score
    z_pref . theta_i, and a simple learned model (item-kNN on training
    interactions), both rank the held-out (test) items better than popularity."""
    split = leave_one_out(world)
    rec, U, I = world.rec, world.num_users, world.num_items
    train, valid, test = rec.subset(split.train), rec.subset(split.valid), rec.subset(split.test)
    X = torch.zeros(U, I)
    X[train.user, train.item] = 1.0
    history = X.bool()
    history[valid.user, valid.item] = True

    hr_pop = _hit_rate(X.sum(0).expand(U, I), history, history, test)
    truth = truth["user.z_pref"] @ truth["item.embedding"].T
    hr_truth = _hit_rate(truth, history, history, test)
    norm = X.sum(0).clamp(min=1).sqrt()
    sim = (X.T @ X) / norm[:, None] / norm[None, :]
    sim.fill_diagonal_(0)
    hr_knn = _hit_rate(history.float() @ sim, history, history, test)
    assert hr_truth > 2 * hr_pop, (hr_truth, hr_pop)
    assert hr_knn > 2.5 * hr_pop, (hr_knn, hr_pop)


# ---- the dataset class -------------------------------------------------------------------

def test_dataset_builds_caches_and_validates(tmp_path):
    small = dict(num_users=200, num_items=150, num_topics=6, num_brands=30,
                 mean_rec_interactions=12.0)
    ds = SyntheticSearchRec(cache_dir=str(tmp_path), **small)
    assert ds.names == ("synthetic",) and ds.generated
    data = ds[0]
    data.validate(raise_on_error=True)
    assert data["user"].num_nodes == 200 and data["item"].num_nodes == 150
    truth_attrs = {k.split(".", 1)[1] for k in ds.truth.keys() if k.startswith(("user.", "item."))} - {"x"}
    assert not truth_attrs & (set(data["user"].keys()) | set(data["item"].keys()))
    assert ds.truth["user.z_platform"].shape == (200, 4) and ds.truth["item.embedding"].shape == (150, 6)
    assert torch.equal(data["user"].x, torch.cat([ds.truth["user.u_platform"], ds.truth["user.u_pref"]], 1))
    assert data["query"].num_nodes > 0 and data.num_words == ds.config.num_words
    assert data.meta_synthetic is True and data.protocol == "leave_one_out"
    assert ds.params()["num_users"] == 200 and ds.params()["seed"] == 0

    again = SyntheticSearchRec(cache_dir=str(tmp_path), config=ds.config)
    assert again.processed_dir == ds.processed_dir
    assert torch.equal(again[0]["user", "clicks", "item"].edge_index,
                       data["user", "clicks", "item"].edge_index)
    other = SyntheticSearchRec(cache_dir=str(tmp_path), config=ds.config, seed=5)
    assert other.processed_dir != ds.processed_dir
    assert other.config.seed == 5 and other.config.num_users == 200
