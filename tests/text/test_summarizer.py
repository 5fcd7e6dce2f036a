"""Preference summarisers: template determinism, the fallback rule, precomputed JSONL
errors, the LLM adapter with a fake model (never a network) and its cache, the registry."""
from __future__ import annotations

import json

import pytest
import torch

from graphrec.text.documents import UserDocuments, user_documents
from graphrec.text.summarizer import (
    LLMSummarizer,
    OpenAIChatClient,
    PrecomputedSummaries,
    TemplateSummarizer,
    build_prompt,
    extract_answer,
    fill_missing,
    summarizer_from_name,
)
from tests.text.test_documents import text_graph


def toy_docs() -> UserDocuments:
    # user 0: both surfaces; user 1: rec only; user 2: search only; user 3: nothing
    return UserDocuments(
        rec_items=[["Red Lipstick", "Nail Polish"], ["Hiking Boots"], [], []],
        search_queries=[["lip gloss"], [], ["tent"], []],
        search_items=[["Pink Gloss"], [], ["Dome Tent"], []],
        top_categories=[["Lips"], [], [], []], top_brands=[["OPI"], [], [], []],
        top_query_words=[["lip", "gloss"], [], ["tent"], []],
        num_rec=torch.tensor([2, 1, 0, 0]), num_search=torch.tensor([1, 0, 1, 0]))


# ---- template -----------------------------------------------------------------------------

def test_template_hand_cases():
    s = TemplateSummarizer()
    assert s.summarize(toy_docs(), "rec") == [
        "Often buys: Lips, OPI. Recent items: Nail Polish; Red Lipstick",  # newest first
        "Recent items: Hiking Boots", "", ""]
    assert s.summarize(toy_docs(), "search") == [
        "Often searches: lip, gloss. Searches: lip gloss -> clicked Pink Gloss", "",
        "Often searches: tent. Searches: tent -> clicked Dome Tent", ""]
    plain = TemplateSummarizer(max_items=1, with_top=False)
    assert plain.summarize(toy_docs(), "rec")[0] == "Recent items: Nail Polish"
    with pytest.raises(ValueError, match="domain"):
        s.summarize(toy_docs(), "both")
    with pytest.raises(ValueError):
        TemplateSummarizer(max_items=0)


def test_template_is_deterministic_on_a_graph():
    docs = user_documents(text_graph())
    first = TemplateSummarizer().summarize_both(docs)
    again = TemplateSummarizer().summarize_both(user_documents(text_graph()))
    assert first == again
    rec, search = first
    assert rec[0] == ("Often buys: Lips, Nails, Skin Care, OPI, Maybelline. Recent items: Pink Gloss; Nail Polish; "
                      "Beauty > Skin Care; Red Lipstick")
    assert search[1] == rec[1]  # user 1 never searched: the rec summary stands in
    assert json.dumps(TemplateSummarizer().settings())  # JSON for cache keys


def test_fill_missing():
    rec, search = TemplateSummarizer().summarize_both(toy_docs())
    assert search[1] == rec[1] == "Recent items: Hiking Boots"
    assert rec[2] == search[2] and rec[2].startswith("Often searches: tent")
    assert rec[3] == search[3] == ""
    raw = TemplateSummarizer().summarize_both(toy_docs(), fill=False)
    assert raw[1][1] == "" and raw[0][2] == ""
    assert fill_missing(["  ", "a"], ["b", ""]) == (["b", "a"], ["b", "a"])
    with pytest.raises(ValueError, match="length"):
        fill_missing(["a"], [])


# ---- precomputed ------------------------------------------------------------------------

def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_precomputed_by_index_and_missing(tmp_path, caplog):
    path = write(tmp_path / "s.jsonl", ['{"user": 0, "rec": "likes lipstick", "search": "searches gloss"}', "",
                                        '{"user": 2, "search": "tents", "rec": null}'])
    s = PrecomputedSummaries(path)
    assert s.summarize(toy_docs(), "rec") == ["likes lipstick", "", "", ""]
    assert s.summarize(toy_docs(), "search") == ["searches gloss", "", "tents", ""]
    assert s.missing == [1, 3]
    assert "no summaries for 2 of 4 users" in caplog.text
    assert s.summarize_both(toy_docs())[0][2] == "tents"
    assert len(s.settings()["sha1"]) == 40


def test_precomputed_by_raw_id(tmp_path):
    path = write(tmp_path / "s.jsonl", ['{"user": "A7", "rec": "r"}', '{"user": 12, "rec": "x"}'])
    s = PrecomputedSummaries(path, user_ids=["A1", "A7", "A3", "12"])
    assert s.summarize(toy_docs(), "rec") == ["", "r", "", "x"]


@pytest.mark.parametrize("line, message", [
    ('{"user": 0, "rec": "ok"', "not valid JSON"),
    ('["user", 0]', 'object with a "user" field'),
    ('{"rec": "no user"}', 'object with a "user" field'),
    ('{"user": 0, "rec": 5}', '"rec" must be a string'),
    ('{"user": -1, "rec": "a"}', "non-negative user index"),
    ('{"user": "u9", "rec": "a"}', "non-negative user index"),
    ('{"user": 1, "rec": "again"}', "already given on line 1"),
])
def test_precomputed_errors_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", ['{"user": 1, "rec": "fine"}', line])
    with pytest.raises(ValueError, match=message) as err:
        PrecomputedSummaries(path)
    assert str(err.value).startswith(f"{path}:2: ")


def test_precomputed_user_out_of_range(tmp_path):
    path = write(tmp_path / "s.jsonl", ['{"user": 0}', '{"user": 9, "rec": "a"}'])
    with pytest.raises(ValueError, match=r"s.jsonl:2: user index 9 out of range for 4 users"):
        PrecomputedSummaries(path).summarize(toy_docs(), "rec")
    with pytest.raises(ValueError, match=r":1: unknown user id 'zz'"):
        PrecomputedSummaries(write(tmp_path / "t.jsonl", ['{"user": "zz"}']), user_ids=["a"])


# ---- LLM ----------------------------------------------------------------------------------

class FakeLLM:
    """A stand-in model: records prompts, answers with a think block and JSON."""

    model = "fake-r1"

    def __init__(self):
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return f'<think>reasoning about {{"x": 1}}</think>\n```json\n{{"summary": "summary {len(self.prompts)}"}}\n```'


def test_prompts_follow_the_paper():
    docs = toy_docs()
    rec = build_prompt(docs, 0, "rec")
    assert "Red Lipstick\nNail Polish" in rec and "JSON" in rec and "vague" in rec
    search = build_prompt(docs, 0, "search")
    assert "query: lip gloss | clicked: Pink Gloss" in search
    assert build_prompt(docs, 2, "rec") is None and build_prompt(docs, 1, "search") is None


@pytest.mark.parametrize("answer, expected", [
    ('<think>hm {"a": 1}</think> {"summary": "Likes tea."}', "Likes tea."),
    ('```json\n{"preferences": "Tents"}\n```', "Tents"),
    ('Sure! Here it is: {"summary": "Boots"} Hope it helps.', "Boots"),
    ('{"a": "x", "b": "y"}', '{"a": "x", "b": "y"}'),  # not one field: the whole answer
    ("<think>long</think>  plain words ", "plain words"),
    ('{"summary": ["a", "b"]}', '["a", "b"]'),
])
def test_extract_answer(answer, expected):
    assert extract_answer(answer) == expected


def test_llm_adapter_and_cache(tmp_path):
    cache = tmp_path / "llm" / "summaries.jsonl"
    fake = FakeLLM()
    s = LLMSummarizer(fake, cache_path=cache, progress=False)
    rec = s.summarize(toy_docs(), "rec")
    assert rec == ["summary 1", "summary 2", "", ""]  # users without rec history are not queried
    assert s.calls == 2 and len(fake.prompts) == 2
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["user"] for r in rows] == [0, 1] and all(len(r["key"]) == 40 for r in rows)

    # a new summariser on the same cache queries nobody for the cached users
    again = LLMSummarizer(fake, cache_path=cache, progress=False)
    assert again.summarize(toy_docs(), "rec") == rec
    assert again.calls == 0 and len(fake.prompts) == 2
    # the search domain has different prompts: only those are asked
    assert again.summarize(toy_docs(), "search") == ["summary 3", "", "summary 4", ""]
    assert again.calls == 2
    assert again.settings()["model"] == "fake-r1"


def test_llm_cache_survives_a_cut_line(tmp_path):
    cache = tmp_path / "c.jsonl"
    fake = FakeLLM()
    LLMSummarizer(fake, cache_path=cache, progress=False).summarize(toy_docs(), "rec")
    with open(cache, "a", encoding="utf-8") as f:
        f.write('{"key": "abc", "summ')  # a killed run's last line
    s = LLMSummarizer(fake, cache_path=cache, progress=False)
    assert s.summarize(toy_docs(), "rec") == ["summary 1", "summary 2", "", ""] and s.calls == 0


def test_llm_without_cache_and_bad_arguments():
    fake = FakeLLM()
    s = LLMSummarizer(fake, progress=False)
    s.summarize(toy_docs(), "rec")
    s.summarize(toy_docs(), "rec")
    assert s.calls == 2  # an in-memory cache still avoids asking twice in one process
    with pytest.raises(ValueError, match="endpoint"):
        LLMSummarizer()
    with pytest.raises(TypeError):
        LLMSummarizer("not callable")


def test_openai_client_builds_a_request(monkeypatch):
    import urllib.request

    seen = {}

    class Reply:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return json.dumps({"choices": [{"message": {"content": '{"summary": "ok"}'}}]}).encode()

    def fake_urlopen(request, timeout):
        seen["url"], seen["body"], seen["auth"] = request.full_url, json.loads(request.data), request.headers
        return Reply()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)  # no network
    client = OpenAIChatClient("http://localhost:8000/v1/", "qwen", api_key="k", temperature=0.6)
    assert client("hi") == '{"summary": "ok"}'
    assert seen["url"] == "http://localhost:8000/v1/chat/completions"
    assert seen["body"]["messages"] == [{"role": "user", "content": "hi"}] and seen["body"]["seed"] == 2025
    assert seen["auth"]["Authorization"] == "Bearer k"
    s = LLMSummarizer(endpoint="http://localhost:8000/v1", model="qwen", progress=False)
    assert s.settings()["model"] == "qwen" and s.settings()["url"].endswith("/chat/completions")
    assert s.summarize(toy_docs(), "search")[0] == "ok"


# ---- registry -----------------------------------------------------------------------------

def test_summarizer_from_name(tmp_path):
    assert isinstance(summarizer_from_name("Template"), TemplateSummarizer)
    path = write(tmp_path / "s.jsonl", ['{"user": 0, "rec": "r"}'])
    assert isinstance(summarizer_from_name("pre-computed", path=path), PrecomputedSummaries)
    assert isinstance(summarizer_from_name("LLM", generate=FakeLLM()), LLMSummarizer)
    with pytest.raises(ValueError, match="valid names: template, precomputed, llm"):
        summarizer_from_name("gpt")
