"""Semi-synthetic Amazon search logs: the rec/search partition, the category-word and attribute-id
queries, determinism, leakage, and the real Beauty data (``shared_data``)."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from graphrec.data.datasets.amazon_search import (
    SEARCH_PROTOCOLS,
    AmazonSearch,
    AmazonSearchConfig,
    category_words,
    make_search_logs,
    text_words,
)
from graphrec.data.hetero import SEARCHES, build_hetero_data, heldout
from graphrec.data.logs import BehaviourLogs, IdMap, ItemInfo, RecLog, sample_queries
from graphrec.data.ragged import Ragged
from graphrec.data.split import leave_one_out

#: the attribute-id query variant (the tests written before category-word queries)
ATTR = AmazonSearchConfig(query_source="attribute")


def stand_in_logs(num_users: int = 400, num_items: int = 120, num_attrs: int = 30,
                  seed: int = 0) -> BehaviourLogs:
    """A small Amazon-like log: ordinal times, 3..40 items per user, 0..4
    attributes per item (items 0 and 1 have none)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 41, size=num_users)
    user = np.repeat(np.arange(num_users), lengths)
    item = rng.integers(0, num_items, size=user.size)
    time = np.concatenate([np.arange(n) for n in lengths]).astype(np.float64)
    attr_rows = [sorted(rng.choice(num_attrs, size=int(rng.integers(1, 5)), replace=False).tolist())
                 for _ in range(num_items)]
    attr_rows[0] = attr_rows[1] = []
    rec = RecLog(torch.from_numpy(user), torch.from_numpy(item), torch.from_numpy(time),
                 num_users, num_items, source="stand-in")
    items = ItemInfo(num_items, Ragged.from_lists(attr_rows), num_attrs)
    return BehaviourLogs(rec, items=items, user_map=IdMap(np.arange(1, num_users + 1)),
                         item_map=IdMap(np.arange(1, num_items + 1)), name="amazon-standin",
                         meta={"time_unit": "ordinal", "attr_id_offset": 1})


def _triples(user, item, time):
    return sorted(zip(user.tolist(), item.tolist(), time.tolist()))


def _last_time(logs: BehaviourLogs):
    """Each user's last (ordinal) time in the original line."""
    rec = logs.rec
    last = torch.full((rec.num_users,), -1.0, dtype=torch.float64)
    last = last.scatter_reduce(0, rec.user, rec.time, "amax")
    return last


# ---- the partition -------------------------------------------------------------------

def check_partition(base: BehaviourLogs, out: BehaviourLogs) -> None:
    rec, s = out.rec, out.search
    assert len(rec) + len(s) == len(base.rec)
    assert _triples(torch.cat([rec.user, s.user]), torch.cat([rec.item, s.item]),
                    torch.cat([rec.time, s.time])) == _triples(base.rec.user, base.rec.item,
                                                               base.rec.time)
    # the last two interactions of every user stay on the recommendation surface
    last = _last_time(base)
    assert bool((s.time <= last[s.user] - 2).all())
    on_rec_last = rec.time >= last[rec.user] - 1
    assert int(on_rec_last.sum()) == 2 * int((torch.bincount(base.rec.user) >= 2).sum())


def test_partition_and_last_two_on_rec_surface():
    base = stand_in_logs()
    out = make_search_logs(base, ATTR)
    check_partition(base, out)
    assert out.num_users == base.num_users and out.num_items == base.num_items
    assert out.search.num_words == base.items.num_attrs
    assert out.name == "amazon-standin-search"


def test_every_user_keeps_a_rec_training_history():
    base = stand_in_logs()
    heavy = AmazonSearchConfig(share_alpha=20.0, share_beta=0.5, query_source="attribute")  # almost everything searched
    out = make_search_logs(base, heavy)
    check_partition(base, out)
    counts = torch.bincount(out.rec.user, minlength=base.num_users)
    assert int(counts.min()) >= 3  # last two + at least one earlier interaction
    assert len(out.search) > 0.8 * (len(base.rec) - 3 * base.num_users)
    split = leave_one_out(out)
    assert split.test.numel() == base.num_users


def test_items_without_attributes_are_never_searched():
    base = stand_in_logs()
    out = make_search_logs(base, AmazonSearchConfig(share_alpha=5.0, share_beta=1.0, query_source="attribute"))
    assert not bool(torch.isin(out.search.item, torch.tensor([0, 1])).any())


# ---- the queries ---------------------------------------------------------------------

def test_queries_are_the_item_attributes_plus_noise():
    base = stand_in_logs()
    cfg = AmazonSearchConfig(p_noise=0.3, num_noise_words=5, query_source="attribute")
    out = make_search_logs(base, cfg)
    s, attrs = out.search, base.items.attrs
    A = base.items.num_attrs
    assert s.num_words == A + 5
    noise = out.extras["search_noise_word"]
    assert noise.shape == s.user.shape
    outside = 0
    for r in range(len(s)):
        words = set(s.query_tokens[int(s.query[r])].tolist())
        item_attrs = set(attrs[int(s.item[r])].tolist())
        assert words, "empty query"
        extra = words - item_attrs
        assert len(extra) <= 1
        if extra:
            assert extra == {int(noise[r])}
            outside += 1
        assert words & item_attrs or int(noise[r]) in item_attrs, "no attribute kept"
    share_noise = float((noise >= 0).double().mean())
    assert 0.2 < share_noise < 0.4
    assert 0 < outside <= int((noise >= 0).sum())
    # distinct queries, sorted word ids, text = attribute ids (raw, 1-based) or noise ids
    rows = s.query_tokens.tolist()
    assert len(set(map(tuple, rows))) == len(rows)
    for row, text in zip(rows, s.query_text):
        assert row == sorted(row)
        assert text.split() == [f"a{w + 1}" if w < A else f"n{w - A}" for w in row]


def test_without_noise_queries_are_subsets_of_the_item_attributes():
    base = stand_in_logs()
    out = make_search_logs(base, AmazonSearchConfig(p_noise=0.0, p_keep=0.5, query_source="attribute"))
    s, attrs = out.search, base.items.attrs
    lens = []
    for r in range(len(s)):
        words = set(s.query_tokens[int(s.query[r])].tolist())
        assert words and words <= set(attrs[int(s.item[r])].tolist())
        lens.append(len(words) / len(attrs[int(s.item[r])]))
    assert 0.5 < float(np.mean(lens)) < 0.85  # token dropout, at least one kept
    assert bool((out.extras["search_noise_word"] == -1).all())


# ---- determinism, tail, leakage, metadata ----------------------------------------------

def test_same_seed_same_logs_different_seed_different_logs():
    base = stand_in_logs()
    a, b = make_search_logs(base, ATTR), make_search_logs(base, ATTR)
    c = make_search_logs(base, AmazonSearchConfig(seed=1, query_source="attribute"))
    for k in ("user", "query", "item", "time"):
        assert torch.equal(getattr(a.search, k), getattr(b.search, k))
    assert torch.equal(a.search.query_tokens.values, b.search.query_tokens.values)
    assert a.search.query_text == b.search.query_text
    assert torch.equal(a.rec.item, b.rec.item)
    assert len(a.search) != len(c.search) or not torch.equal(a.search.item, c.search.item)


def test_search_share_is_heavy_tailed():
    base = stand_in_logs(num_users=2000)
    out = make_search_logs(base, ATTR)
    target = out.extras["user.search_share_target"].double()
    assert float(target.median()) < 0.8 * float(target.mean())
    assert 0.06 < float(target.median()) < 0.13
    n_src = torch.bincount(out.search.user, minlength=2000).double()
    share = n_src / torch.bincount(base.rec.user, minlength=2000).double()
    assert float(share.median()) < float(share.mean())
    assert int((share > 0.5).sum()) >= 10


def test_no_leakage_and_semi_synthetic_metadata():
    base = stand_in_logs()
    out = make_search_logs(base, ATTR)
    assert out.meta["semi_synthetic"] is True
    assert out.meta["search_protocol"] == SEARCH_PROTOCOLS["attribute"]
    assert out.meta["time_unit"] == "ordinal" and out.meta["search_seed"] == 0
    split = leave_one_out(out)
    data = build_hetero_data(out, split)
    data.validate(raise_on_error=True)
    cutoff = torch.full((out.num_users,), float("inf"), dtype=torch.float64)
    for part in ("valid", "test"):
        index, time = heldout(data, part)
        cutoff = cutoff.scatter_reduce(0, index[0], time, "amin")
    st = data[SEARCHES]
    assert st.edge_index.size(1) == len(out.search)  # all searches precede the held-out pair
    assert bool((st.time < cutoff[st.edge_index[0]]).all())
    assert data.meta_semi_synthetic is True


def test_rejects_logs_without_attributes_or_with_search():
    base = stand_in_logs()
    with pytest.raises(ValueError, match="attributes"):
        make_search_logs(dataclasses.replace(base, items=None))
    with pytest.raises(ValueError, match="already has a search log"):
        make_search_logs(make_search_logs(base, ATTR))
    with pytest.raises(ValueError):
        AmazonSearchConfig(p_keep=0.0)


# ---- real Beauty -------------------------------------------------------------------------

@pytest.fixture
def amazon_root(shared_data):
    root = shared_data
    if not os.path.exists(os.path.join(root, "amazon_seq")):
        pytest.skip(f"'{root}/amazon_seq' is missing: the real Amazon sequence files are needed")
    return str(root)


def test_beauty_search_real_data(amazon_root, tmp_path):
    from graphrec.data.datasets.amazon import read_amazon_seq

    base = read_amazon_seq(os.path.join(amazon_root, "amazon_seq"), "beauty")
    out = make_search_logs(base, ATTR)
    assert len(base.rec) == 198_502
    check_partition(base, out)
    stats = out.statistics()
    assert 0.05 < stats["search_share"] < 0.2
    n_src = torch.bincount(out.search.user, minlength=out.num_users).double()
    share = n_src / torch.bincount(base.rec.user, minlength=out.num_users).double()
    assert float(share.median()) < float(share.mean())
    assert int((share > 0.5).sum()) >= 100
    assert out.search.num_words == base.items.num_attrs == 637
    # every query word is an attribute of the clicked item, except at most one noise word
    flat = out.search.query_tokens.select(out.search.query)
    owner = flat.row_index()
    attrs = base.items.attrs.select(out.search.item)
    key_a = attrs.row_index() * 1000 + attrs.values
    inside = torch.isin(owner * 1000 + flat.values, key_a)
    outside = torch.bincount(owner[~inside], minlength=len(out.search))
    assert int(outside.max()) <= 1

    ds = AmazonSearch(amazon_root, name="beauty-search", cache_dir=str(tmp_path), query_source="attribute")
    assert ds.name == "beauty" and ds.params()["name"] == "beauty-search"
    data = ds[0]
    data.validate(raise_on_error=True)
    assert data.meta_semi_synthetic is True and data.protocol == "leave_one_out"
    assert data["user"].num_nodes == 22_363 and data["query"].num_nodes == out.search.num_queries
    assert heldout(data, "test")[0].size(1) == 22_363
    assert data[SEARCHES].edge_index.size(1) == len(out.search)  # all before the held-out pair


# ---- category-word queries (the default) ---------------------------------------------------

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def with_category_text(base: BehaviourLogs, seed: int = 0) -> BehaviourLogs:
    """``base`` with category paths ``Root > <Word> & <Word> > <Word> <Word>`` per item;
    items 0 and 2 have only the root (no category word), item 1 has no path at all."""
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(base.num_items):
        w = [w.capitalize() for w in rng.choice(WORDS, size=4)]
        paths.append([["Root", f"{w[0]} & {w[1]}", f"{w[2]} the {w[3]}"]])
    paths[0], paths[1], paths[2] = [["Root"]], [], [["Root"]]
    items = dataclasses.replace(base.items, category=paths, title=[f"Item {i}" for i in range(base.num_items)])
    return dataclasses.replace(base, items=items)


def test_text_words_and_category_words():
    assert text_words("Creams & Moisturizers for Men's Skin, creams") == ["creams", "moisturizers", "men", "skin"]
    assert text_words("  &  ") == []
    # the root is dropped, words keep path order, duplicates across paths are dropped
    paths = [["Beauty", "Makeup", "Nails", "Nail Polish"], ["Beauty", "Tools & Accessories", "Nail Tools"]]
    assert category_words(paths) == ["makeup", "nails", "nail", "polish", "tools", "accessories"]
    assert category_words([["Beauty"]]) == [] and category_words([]) == []


def test_category_queries_use_only_the_clicked_items_category_words():
    base = with_category_text(stand_in_logs())
    cfg = AmazonSearchConfig(p_noise=0.3)
    out = make_search_logs(base, cfg)
    check_partition(base, out)
    s = out.search
    assert out.meta["search_protocol"] == SEARCH_PROTOCOLS["category"]
    assert out.meta["search_query_source"] == "category"
    vocab = sorted({w for p in base.items.category for w in category_words(p)})
    assert s.words == vocab and s.num_words == len(vocab) and set(vocab) <= set(WORDS)
    assert out.meta["search_queryable_items"] == base.num_items - 3
    assert not bool(torch.isin(s.item, torch.tensor([0, 1, 2])).any())  # no category word
    noise = out.extras["search_noise_word"]
    n_noisy = 0
    for r in range(len(s)):
        q = int(s.query[r])
        words = [s.words[w] for w in s.query_tokens[q].tolist()]
        assert s.query_text[q] == " ".join(words)
        item_words = category_words(base.items.category[int(s.item[r])])
        inside = [w for w in words if w in item_words]
        outside = [w for w in words if w not in item_words]
        assert inside, "no category word kept"
        # kept words in path order; a noise word (even one of the item's words) goes last
        kept = words[:-1] if noise[r] >= 0 and words[-1] == s.words[int(noise[r])] else words
        assert kept == [w for w in item_words if w in kept]
        assert len(words) == len(set(words))
        if outside:
            assert outside == [s.words[int(noise[r])]] and words[-1] == outside[0]  # noise goes last
            n_noisy += 1
    assert 0 < n_noisy <= int((noise >= 0).sum())


def test_query_words_on_the_hetero_data_and_sample_queries():
    base = with_category_text(stand_in_logs())
    out = make_search_logs(base)
    data = build_hetero_data(out, leave_one_out(out))
    assert data.query_words == out.search.words
    tok = data["query"].token[data["query"].token_ptr[0]:data["query"].token_ptr[1]]
    assert " ".join(data.query_words[int(w)] for w in tok) == out.search.query_text[0]
    assert data.item_category == base.items.category and data.item_title[3] == "Item 3"
    samples = sample_queries(out, k=5)
    assert len(samples) == 5 and samples == sample_queries(out, k=5)
    titles = set(base.items.title)
    for item_text, query_text in samples:
        assert item_text in titles and query_text in out.search.query_text


def test_switch_restores_attribute_id_queries():
    base = with_category_text(stand_in_logs())
    out = make_search_logs(base, ATTR)
    assert out.meta["search_protocol"] == SEARCH_PROTOCOLS["attribute"]
    assert out.meta["search_query_source"] == "attribute"
    assert out.search.num_words == base.items.num_attrs
    assert out.search.words == [f"a{w + 1}" for w in range(base.items.num_attrs)]
    # the attribute variant is the one the tests above describe, draw for draw
    plain = make_search_logs(stand_in_logs(), ATTR)
    for k in ("user", "query", "item", "time"):
        assert torch.equal(getattr(out.search, k), getattr(plain.search, k))
    assert out.search.query_text == plain.search.query_text
    with pytest.raises(ValueError, match="query_source"):
        AmazonSearchConfig(query_source="title")


def test_keywords_when_there_are_no_category_paths():
    base = stand_in_logs()
    kw = [f"{WORDS[i % 10]} {WORDS[(i + 3) % 10]} and pro" for i in range(base.num_items)]
    out = make_search_logs(dataclasses.replace(base, items=dataclasses.replace(base.items, keywords=kw)))
    assert out.meta["search_query_source"] == "keywords"
    assert out.meta["search_protocol"] == SEARCH_PROTOCOLS["keywords"] and "keyword" in SEARCH_PROTOCOLS["keywords"]
    s = out.search
    for r in range(0, len(s), 7):
        words = s.query_text[int(s.query[r])].split()
        noise = int(out.extras["search_noise_word"][r])
        extra = set(words) - set(text_words(kw[int(s.item[r])]))
        assert extra <= ({s.words[noise]} if noise >= 0 else set())


def test_without_text_falls_back_to_attribute_ids(caplog):
    with caplog.at_level("WARNING", logger="graphrec.data"):
        out = make_search_logs(stand_in_logs())
    assert out.meta["search_query_source"] == "attribute"
    assert any("fall back to attribute ids" in r.getMessage() for r in caplog.records)


def test_beauty_category_queries_real_data(amazon_root, tmp_path):
    from graphrec.data.datasets.amazon import read_amazon_seq
    from graphrec.train.run import dataset_notes, load_dataset

    text_dir = os.path.join(amazon_root, "amazon_text")
    if not os.path.isdir(text_dir):
        pytest.skip(f"'{text_dir}' is missing: the real item text is needed")
    base = read_amazon_seq(os.path.join(amazon_root, "amazon_seq"), "beauty", text_dir=text_dir)
    out = make_search_logs(base)
    check_partition(base, out)
    assert out.meta["search_query_source"] == "category"
    assert out.meta["search_queryable_items"] == 12_101  # every Beauty item has a category word
    s = out.search
    noise = out.extras["search_noise_word"]
    for r in range(0, len(s), 50):
        words = s.query_text[int(s.query[r])].split()
        item_words = category_words(base.items.category[int(s.item[r])])
        outside = [w for w in words if w not in item_words]
        assert len(outside) < len(words)
        assert outside == ([] if noise[r] < 0 or s.words[int(noise[r])] in item_words
                           else [s.words[int(noise[r])]])
    # the CLI's --set data.query_source=attribute reaches the config through load_dataset
    ds = load_dataset("beauty-search", amazon_root, cache_dir=str(tmp_path), query_source="attribute")
    data = ds[0]
    assert data.meta_search_query_source == "attribute" and data.query_words[0] == "a1"
    assert "attribute-id queries" in dataset_notes(data)[0]
