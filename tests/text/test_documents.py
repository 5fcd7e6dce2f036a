"""User documents: a hand-made graph with every text fallback, the window cuts, graphs
without search, the synthetic world, and the real Amazon Beauty-search data."""
from __future__ import annotations

import os
import time

import pytest
import torch

from graphrec.data.hetero import build_hetero_data
from graphrec.data.logs import BehaviourLogs, ItemInfo, RecLog, SearchLog
from graphrec.data.ragged import Ragged
from graphrec.data.split import leave_one_out
from graphrec.text.documents import item_texts, query_texts, user_documents


def text_logs(with_search: bool = True) -> BehaviourLogs:
    # items: 0 title, 1 keywords only, 2 category only, 3 nothing, 4 and 5 titles
    items = ItemInfo(
        6,
        title=["Red Lipstick", "", "", "", "Pink Gloss", "Nail Polish"],
        keywords=["", "hiking boots", "", "", "", ""],
        category=[[["Beauty", "Makeup", "Lips"]], [], [["Beauty", "Skin Care"]], [],
                  [["Beauty", "Makeup", "Lips"]], [["Beauty", "Makeup", "Nails"]]],
        brand=["OPI", "", "", "", "Maybelline", "OPI"],
    )
    # user 0: train 0@1 2@2 5@3 4@4, valid 0@5, test 1@6
    # user 1: two clicks of item 3 (too few to hold out: all training), no search
    # user 2: train 5@1 5@2 0@3, valid 1@4, test 2@5
    rec = RecLog(user=torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2]),
                 item=torch.tensor([0, 2, 5, 4, 0, 1, 3, 3, 5, 5, 0, 1, 2]),
                 time=torch.tensor([1, 2, 3, 4, 5, 6, 1, 2, 1, 2, 3, 4, 5.0]), num_users=3, num_items=6)
    search = None
    if with_search:
        # user 0: 'lip gloss'->4 @1.5, 'nail'->5 @3.5, 'lip gloss'->0 @5.5 (after the held-out time:
        # hidden by the split); user 2: 'nail'->5 @0.5
        search = SearchLog(user=torch.tensor([0, 0, 0, 2]), query=torch.tensor([0, 1, 0, 1]),
                           item=torch.tensor([4, 5, 0, 5]), time=torch.tensor([1.5, 3.5, 5.5, 0.5]),
                           num_users=3, num_items=6, query_tokens=Ragged.from_lists([[1, 0], [2]]), num_words=3,
                           words=["gloss", "lip", "nail"])
    return BehaviourLogs(rec, search, items=items, name="text-toy")


def text_graph(with_search: bool = True):
    logs = text_logs(with_search)
    return build_hetero_data(logs, leave_one_out(logs))


def test_item_text_fallbacks():
    data = text_graph()
    assert item_texts(data) == ["Red Lipstick", "hiking boots", "Beauty > Skin Care", "item 3", "Pink Gloss",
                                "Nail Polish"]
    assert item_texts(data, item_ids=[10, 11, 12, "B0003", 14, 15])[3] == "item B0003"
    assert item_texts(data, max_words=1)[0] == "Red"
    with pytest.raises(ValueError, match="item_ids"):
        item_texts(data, item_ids=[1, 2])


def test_hand_documents():
    docs = user_documents(text_graph())
    assert len(docs) == 3
    assert docs.rec_items == [["Red Lipstick", "Beauty > Skin Care", "Nail Polish", "Pink Gloss"],
                              ["item 3", "item 3"],
                              ["Nail Polish", "Nail Polish", "Red Lipstick"]]
    # the search at 5.5 is after user 0's held-out time: never a document
    assert docs.search_queries == [["lip gloss", "nail"], [], ["nail"]]
    assert docs.search_items == [["Pink Gloss", "Nail Polish"], [], ["Nail Polish"]]
    # ties broken by name (categories, brands) and word id (query words)
    assert docs.top_categories == [["Lips", "Nails", "Skin Care"], [], ["Nails", "Lips"]]
    assert docs.top_brands == [["OPI", "Maybelline"], [], ["OPI"]]
    assert docs.top_query_words == [["gloss", "lip", "nail"], [], ["nail"]]
    assert docs.num_rec.tolist() == [4, 2, 3] and docs.num_search.tolist() == [2, 0, 1]
    assert docs.user(0)["search_sessions"] == [("lip gloss", "Pink Gloss"), ("nail", "Nail Polish")]


def test_windows_keep_the_most_recent():
    docs = user_documents(text_graph(), max_items=2, max_sessions=1, top_k=1)
    assert docs.rec_items == [["Nail Polish", "Pink Gloss"], ["item 3", "item 3"], ["Nail Polish", "Red Lipstick"]]
    assert docs.search_queries == [["nail"], [], ["nail"]]
    # top terms count the kept window only (what the prompt sees)
    assert docs.top_categories[0] == ["Lips"] and docs.top_brands[0] == ["Maybelline"]
    assert docs.settings["max_items"] == 2
    empty = user_documents(text_graph(), max_items=0, max_sessions=0)
    assert empty.rec_items == [[], [], []] and empty.search_queries == [[], [], []]
    with pytest.raises(ValueError):
        user_documents(text_graph(), max_items=-1)


def test_graph_without_search():
    docs = user_documents(text_graph(with_search=False))
    assert docs.search_queries == [[], [], []] and docs.search_items == [[], [], []]
    assert docs.top_query_words == [[], [], []]
    assert docs.rec_items[0][0] == "Red Lipstick"


def test_query_word_ids_without_text():
    logs = text_logs()
    logs.search.words = None
    docs = user_documents(build_hetero_data(logs, leave_one_out(logs)))
    assert docs.search_queries[0] == ["w1 w0", "w2"]


def test_query_texts_one_per_query_node():
    data = text_graph()
    assert query_texts(data) == ["lip gloss", "nail"]
    assert query_texts(data, torch.tensor([1, 0, 1])) == ["nail", "lip gloss", "nail"]
    assert query_texts(data, max_words=1) == ["lip", "nail"]
    logs = text_logs()
    logs.search.words = None
    assert query_texts(build_hetero_data(logs, leave_one_out(logs))) == ["w1 w0", "w2"]
    with pytest.raises(ValueError, match="no query words"):
        query_texts(text_graph(with_search=False))


def test_synthetic_world():
    from graphrec.train.run import load_dataset

    data = load_dataset("synthetic", None, num_users=120, num_items=80)[0]
    docs = user_documents(data)
    assert len(docs) == 120
    titles = list(data.item_title)
    hist = data["user"].hist_item[data["user"].hist_ptr[5]:data["user"].hist_ptr[6]].tolist()
    assert docs.rec_items[5] == [titles[i] for i in hist[-20:]]
    assert any(docs.search_queries)
    # the synthetic graph keeps attribute ids with fields, not names: a<id> tokens
    assert all(t.startswith("a") for row in docs.top_categories for t in row)
    assert any(docs.top_categories) and any(docs.top_brands)


# ---- real data --------------------------------------------------------------------------

@pytest.fixture
def amazon_root(shared_data):
    if not (os.path.isdir(shared_data / "amazon_seq") and os.path.isdir(shared_data / "amazon_text")):
        pytest.skip(f"'{shared_data}/amazon_seq' or '/amazon_text' is missing: the real Amazon files are needed")
    return str(shared_data)


def test_beauty_search_documents(amazon_root, tmp_cache):
    from graphrec.train.run import load_dataset

    data = load_dataset("beauty-search", amazon_root)[0]
    start = time.perf_counter()
    docs = user_documents(data)
    assert time.perf_counter() - start < 30  # about half a second on one core
    assert len(docs) == 22_363
    # user 1 (raw id 2) clicked items 6..10 before its held-out 4 and 11 (Beauty.txt.gz line 2); titles
    # from beauty_items.jsonl.gz, HTML entities unescaped; beauty-search made one of them a search
    seen = docs.rec_items[1] + docs.search_items[1]
    assert sorted(seen) == sorted([
        "Cococare Coconut Oil 100% Pure 4 Oz",
        "Vakind Pack of 2 Black Fiber Leopard Long Curling Eye Lashes Mascara Eyelash Mascara Set",
        "Freeman Facial Charcoal & Black Sugar Polish Mask 6 oz.",
        "Vitamin C Serum for Face 20% - With Vegan Hyaluronic Acid & Vitamin E - Best Natural & Organic Anti "
        "Aging Formula Stimulates Collagen, Repairs Wrinkles & Fades Age Spots - Gives Skin a Radiant & Youthful "
        "Glow - Guaranteed Results",
        "My Beauty Diary Facial Mask - Caviar Mask (10 Pcs)"])
    assert docs.rec_items[1][0] == "Cococare Coconut Oil 100% Pure 4 Oz"
    assert not any("&amp;" in t for row in docs.rec_items[:200] for t in row)
    # the rec documents are the titles of hist_item, cut to the last 20
    ptr, hist = data["user"].hist_ptr, data["user"].hist_item
    texts = item_texts(data)
    for u in (0, 1, 1000, 22_362):
        items = hist[ptr[u]:ptr[u + 1]].tolist()[-20:]
        assert docs.rec_items[u] == [texts[i] for i in items]
    with_search = int((docs.num_search > 0).sum())
    assert with_search == sum(1 for s in docs.search_queries if s) > 1000
    assert all(len(s) <= 20 for s in docs.search_queries)
    assert any("nail" in " ".join(w) for w in docs.top_query_words)
