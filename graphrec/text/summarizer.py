r"""Preference summarisers: per-user documents -> one rec and one search summary.

GSERec (§3.1) asks an LLM for two short natural-language summaries per user, one of
the recommendation history and one of the search history. This module makes that
step pluggable:

* :class:`TemplateSummarizer` (default): deterministic, offline, no generation; the
  summary *is* the prompt's input, formatted compactly (top categories / brands /
  query words, then the most recent items or sessions, newest first so that an
  encoder's token limit cuts the oldest ones).
* :class:`PrecomputedSummaries`: a JSONL file of summaries made elsewhere (e.g. with
  DeepSeek-R1-Distill-Qwen-7B, as in the paper).
* :class:`LLMSummarizer`: the paper's prompts sent to any ``prompt -> answer``
  callable, e.g. :class:`OpenAIChatClient` for a user-configured OpenAI-compatible
  endpoint; answers are cached per user in a JSONL file, so a rerun asks only for
  users whose prompt changed.

Every summariser returns one string per user (``""`` = nothing to summarise);
:func:`fill_missing` then applies the paper's fallback: a user with no rec summary
gets their search summary and vice versa.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from graphrec.resolver import normalize_string
from graphrec.text.documents import UserDocuments

log = logging.getLogger(__name__)

Domain = Literal["rec", "search"]
DOMAINS: tuple[str, ...] = ("rec", "search")


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'rec' or 'search', got {domain!r}")


def fill_missing(rec: Sequence[str], search: Sequence[str]) -> tuple[list[str], list[str]]:
    """GSERec's fallback rule: a user with no rec summary gets the search summary and
    vice versa; a user with neither keeps ``""`` (embedded as the empty string).

    Example:
        >>> fill_missing(["likes tea", "", ""], ["", "searches mugs", ""])
        (['likes tea', 'searches mugs', ''], ['likes tea', 'searches mugs', ''])
    """
    if len(rec) != len(search):
        raise ValueError(f"rec and search summaries differ in length ({len(rec)} != {len(search)})")
    rec_out = [r if r.strip() else s for r, s in zip(rec, search)]
    search_out = [s if s.strip() else r for r, s in zip(rec, search)]
    return rec_out, search_out


class PreferenceSummarizer(ABC):
    """Base class: turns :class:`~graphrec.text.documents.UserDocuments` into one
    summary per user and domain.

    Subclasses set :attr:`name` and implement :meth:`summarize`; :meth:`settings`
    returns everything that changes their output (JSON), hashed into stage cache keys.
    """

    name: str = "base"

    @abstractmethod
    def summarize(self, docs: UserDocuments, domain: Domain) -> list[str]:
        """One summary per user for ``domain`` (``"rec"`` or ``"search"``); ``""``
        where the user has nothing to summarise."""

    def summarize_both(self, docs: UserDocuments, fill: bool = True) -> tuple[list[str], list[str]]:
        """``(rec, search)`` summaries, with :func:`fill_missing` applied when ``fill``."""
        rec, search = self.summarize(docs, "rec"), self.summarize(docs, "search")
        return fill_missing(rec, search) if fill else (rec, search)

    def settings(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "name")
        return f"{type(self).__name__}({args})"


# ---- template -------------------------------------------------------------------------

class TemplateSummarizer(PreferenceSummarizer):
    r"""Deterministic pseudo-summaries built from the prompt inputs (GSERec §8).

    Rec: ``"Often buys: <top categories>, <top brands>. Recent items: t_n; t_{n-1}; ..."``;
    search: ``"Often searches: <top words>. Searches: q_m -> clicked t_m; ..."``; items
    and sessions newest first (an encoder that truncates keeps the recent ones). A
    user without events of the domain gets ``""``.

    Args:
        max_items: most recent rec items listed (at most those in the documents). (default: ``20``)
        max_sessions: most recent search sessions listed. (default: ``20``)
        with_top: prefix the most frequent categories / brands / query words. (default: ``True``)

    Example:
        >>> from graphrec.text.documents import UserDocuments
        >>> import torch
        >>> docs = UserDocuments([["Red Lipstick", "Nail Polish"]], [["lip gloss"]], [["Pink Gloss"]],
        ...                      [["Lipstick"]], [["OPI"]], [["lip"]], torch.tensor([2]), torch.tensor([1]))
        >>> TemplateSummarizer().summarize(docs, "rec")
        ['Often buys: Lipstick, OPI. Recent items: Nail Polish; Red Lipstick']
        >>> TemplateSummarizer().summarize(docs, "search")
        ['Often searches: lip. Searches: lip gloss -> clicked Pink Gloss']
    """

    name = "template"

    def __init__(self, max_items: int = 20, max_sessions: int = 20, with_top: bool = True) -> None:
        if max_items < 1 or max_sessions < 1:
            raise ValueError("max_items and max_sessions must be >= 1")
        self.max_items = max_items
        self.max_sessions = max_sessions
        self.with_top = with_top

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "max_items": self.max_items, "max_sessions": self.max_sessions,
                "with_top": self.with_top, "version": 1}

    def summarize(self, docs: UserDocuments, domain: Domain) -> list[str]:
        _check_domain(domain)
        out = []
        for u in range(docs.num_users):
            if domain == "rec":
                items = docs.rec_items[u][-self.max_items:][::-1]
                if not items:
                    out.append("")
                    continue
                top = docs.top_categories[u] + docs.top_brands[u]
                head = f"Often buys: {', '.join(top)}. " if self.with_top and top else ""
                out.append(f"{head}Recent items: {'; '.join(items)}")
            else:
                queries = docs.search_queries[u][-self.max_sessions:][::-1]
                if not queries:
                    out.append("")
                    continue
                clicked = docs.search_items[u][-self.max_sessions:][::-1]
                top = docs.top_query_words[u]
                head = f"Often searches: {', '.join(top)}. " if self.with_top and top else ""
                sessions = "; ".join(f"{q} -> clicked {t}" for q, t in zip(queries, clicked))
                out.append(f"{head}Searches: {sessions}")
        return out


# ---- precomputed ----------------------------------------------------------------------

class PrecomputedSummaries(PreferenceSummarizer):
    r"""Summaries read from a JSONL file, one object per line:
    ``{"user": <raw user id or index>, "rec": "...", "search": "..."}`` (``rec`` /
    ``search`` optional; ``null`` = none).

    Users are matched by raw id when ``user_ids`` is given (e.g.
    ``dataset.logs.user_map.raw``; an integer and its decimal text are the same id),
    else ``user`` must be the user index. Users absent from the file get ``""`` and
    are listed in :attr:`missing` after :meth:`summarize` (and logged).

    Args:
        path: the JSONL file.
        user_ids: raw id of each user index (optional).

    Raises:
        ValueError: naming the file and line of a malformed row, an unknown user or a
            user given twice.
    """

    name = "precomputed"

    def __init__(self, path: str | os.PathLike, user_ids: Sequence[Any] | None = None) -> None:
        self.path = Path(path)
        raw = self.path.read_bytes()
        self._sha1 = hashlib.sha1(raw).hexdigest()
        self._index = None if user_ids is None else {_id_key(v): i for i, v in enumerate(list(user_ids))}
        self._rows: dict[int, dict[str, str]] = {}
        self._line: dict[int, int] = {}
        self.missing: list[int] = []
        for line_no, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise self._error(line_no, f"not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or "user" not in obj:
                raise self._error(line_no, 'expected an object with a "user" field')
            user = self._user_index(obj["user"], line_no)
            if user in self._rows:
                raise self._error(line_no, f"user {obj['user']!r} already given on line {self._line[user]}")
            row = {}
            for domain in DOMAINS:
                value = obj.get(domain)
                if value is not None and not isinstance(value, str):
                    raise self._error(line_no, f'"{domain}" must be a string or null, got {type(value).__name__}')
                row[domain] = value or ""
            self._rows[user], self._line[user] = row, line_no

    def _error(self, line_no: int, msg: str) -> ValueError:
        return ValueError(f"{self.path}:{line_no}: {msg}")

    def _user_index(self, user: Any, line_no: int) -> int:
        if self._index is not None:
            if _id_key(user) not in self._index:
                raise self._error(line_no, f"unknown user id {user!r}")
            return self._index[_id_key(user)]
        if isinstance(user, bool) or not isinstance(user, int) or user < 0:
            raise self._error(line_no, f'"user" must be a non-negative user index without user_ids, got {user!r}')
        return user

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha1": self._sha1}

    def summarize(self, docs: UserDocuments, domain: Domain) -> list[str]:
        _check_domain(domain)
        n = docs.num_users
        for user, line_no in self._line.items():
            if user >= n:
                raise self._error(line_no, f"user index {user} out of range for {n} users")
        self.missing = [u for u in range(n) if u not in self._rows]
        if self.missing:
            log.warning("%s: no summaries for %d of %d users (first: %s)", self.path, len(self.missing), n,
                        self.missing[:5])
        empty = {"rec": "", "search": ""}
        return [self._rows.get(u, empty)[domain] for u in range(n)]


def _id_key(value: Any) -> Any:
    # raw ids compare as graphrec's IdMap does: an integer and its decimal text are one id
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str) and value.lstrip("-").isdigit() and str(int(value)) == value:
        return int(value)
    return value


# ---- LLM ------------------------------------------------------------------------------

REC_PROMPT = """You are given a user's recent purchase history on a shopping platform, one item per line, \
oldest first:

{history}

Summarise this user's preferences: their interests, style tendencies and the types of items they prefer. \
Use only the history above; if it is short or unclear, keep the summary vague rather than guessing. \
Answer in English with a JSON object with a single field, e.g. {{"summary": "..."}}."""

SEARCH_PROMPT = """You are given a user's recent search history on a shopping platform, one search per line, \
oldest first, each as the query and the item the user clicked:

{history}

Summarise this user's search preferences: the topics they search for, what they focus on, their style \
and which results they tend to click. Use only the history above; if it is short or unclear, keep the \
summary vague rather than guessing. Answer in English with a JSON object with a single field, \
e.g. {{"summary": "..."}}."""


def _cut_chars(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rstrip() + "..."


def build_prompt(docs: UserDocuments, user: int, domain: Domain, max_item_chars: int = 512,
                 max_query_chars: int = 128) -> str | None:
    """The GSERec §3.1 prompt of one user and domain, or ``None`` when the user has
    no events of the domain (no query is sent). Texts are cut to ``max_item_chars``
    / ``max_query_chars`` characters (about the paper's 128 / 32 LLM tokens)."""
    _check_domain(domain)
    if domain == "rec":
        lines = [_cut_chars(t, max_item_chars) for t in docs.rec_items[user]]
        return REC_PROMPT.format(history="\n".join(lines)) if lines else None
    lines = [f"query: {_cut_chars(q, max_query_chars)} | clicked: {_cut_chars(t, max_item_chars)}"
             for q, t in zip(docs.search_queries[user], docs.search_items[user])]
    return SEARCH_PROMPT.format(history="\n".join(lines)) if lines else None


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def extract_answer(answer: str) -> str:
    """The summary in an LLM answer: the text after the last ``</think>``, and of a
    one-field JSON object in it, that field's value (fallback: the whole text).

    Example:
        >>> extract_answer('<think>hmm</think> {"summary": "Loves nail polish."}')
        'Loves nail polish.'
        >>> extract_answer('no json here')
        'no json here'
    """
    text = answer.rsplit("</think>", 1)[-1].strip()
    candidates = [_FENCE.sub("", text).strip()]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and len(obj) == 1:
            value = next(iter(obj.values()))
            return value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text


class OpenAIChatClient:
    r"""A ``prompt -> answer`` callable for an OpenAI-compatible ``/chat/completions``
    endpoint (vLLM, llama.cpp server, Ollama, ...), with the standard library only.

    Args:
        endpoint: base URL, e.g. ``http://localhost:8000/v1`` (``/chat/completions`` is
            appended unless already there).
        model: model name sent with each request.
        api_key: bearer token, if the server needs one. (default: ``None``)
        temperature: sampling temperature; ``None`` = the server's default (the paper
            uses the model's own generation config). (default: ``None``)
        max_tokens: answer length cap. (default: ``10000``, as in the paper)
        timeout: seconds per request. (default: ``600``)
        seed: sampling seed sent to servers that accept one. (default: ``2025``, as in the paper)
    """

    def __init__(self, endpoint: str, model: str, api_key: str | None = None, temperature: float | None = None,
                 max_tokens: int = 10_000, timeout: float = 600.0, seed: int | None = 2025) -> None:
        endpoint = endpoint.rstrip("/")
        self.url = endpoint if endpoint.endswith("/chat/completions") else endpoint + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.temperature, self.max_tokens, self.timeout, self.seed = temperature, max_tokens, timeout, seed

    def settings(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed}

    def __call__(self, prompt: str) -> str:
        import urllib.request

        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                                "max_tokens": self.max_tokens}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            reply = json.loads(response.read().decode("utf-8"))
        try:
            return reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{self.url}: unexpected reply (no choices[0].message.content): "
                             f"{str(reply)[:200]}") from None


class LLMSummarizer(PreferenceSummarizer):
    r"""GSERec's LLM summaries (§3.1) through any ``prompt -> answer`` callable.

    Each user's prompt (:func:`build_prompt`) is sent once; the answer is reduced with
    :func:`extract_answer` and appended to ``cache_path`` as one JSONL line
    ``{"key": sha1(prompt), "user": u, "domain": d, "summary": s}``. A later call
    (another run, or after an interruption) reuses every cached key and queries only
    the rest; a truncated last line from a killed run is ignored. Users without
    events of a domain get ``""`` without a query.

    Args:
        generate: ``prompt -> answer``, e.g. :class:`OpenAIChatClient` or a local model
            wrapper; or ``None`` with ``endpoint`` and ``model``.
        cache_path: the JSONL cache (``None`` = no cache: every call queries).
        endpoint, model, api_key: build an :class:`OpenAIChatClient` when ``generate``
            is ``None``.
        model_name: names the model in :meth:`settings` (cache keys of later stages)
            when ``generate`` is a plain callable. (default: the callable's name)
        progress: show a progress bar. (default: ``True``)

    Example:
        >>> s = LLMSummarizer(lambda prompt: '{"summary": "Likes tea."}')
        >>> s.summarize(docs, "rec")   # doctest: +SKIP
    """

    name = "llm"

    def __init__(self, generate: Callable[[str], str] | None = None, cache_path: str | os.PathLike | None = None,
                 *, endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
                 model_name: str | None = None, progress: bool = True, **client_kwargs: Any) -> None:
        if generate is None:
            if not endpoint or not model:
                raise ValueError("LLMSummarizer needs a callable `generate` or both `endpoint` and `model`")
            generate = OpenAIChatClient(endpoint, model, api_key=api_key, **client_kwargs)
        if not callable(generate):
            raise TypeError(f"generate must be callable, got {type(generate).__name__}")
        self.generate = generate
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.model_name = model_name or getattr(generate, "model", None) or getattr(generate, "__name__", "callable")
        self.progress = progress
        self.calls = 0  # queries sent by this instance (tests and logs read it)
        self._cache: dict[str, str] = self._read_cache()

    def settings(self) -> dict[str, Any]:
        client = self.generate.settings() if isinstance(self.generate, OpenAIChatClient) else {}
        return {"name": self.name, "model": self.model_name, "prompt_version": 1, **client}

    def _read_cache(self) -> dict[str, str]:
        cache: dict[str, str] = {}
        if self.cache_path is None or not self.cache_path.exists():
            return cache
        for line_no, line in enumerate(self.cache_path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                cache[row["key"]] = row["summary"]
            except (json.JSONDecodeError, KeyError, TypeError):
                # a line cut by a killed run: its user is simply asked again
                log.warning("%s:%d: unreadable cache line ignored", self.cache_path, line_no)
        return cache

    def _append(self, row: dict[str, Any]) -> None:
        if self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        # one write() on an O_APPEND descriptor: a whole line or (if killed) a cut last
        # line that _read_cache skips; never a line interleaved with another
        fd = os.open(self.cache_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def summarize(self, docs: UserDocuments, domain: Domain) -> list[str]:
        _check_domain(domain)
        out = [""] * docs.num_users
        todo = []
        for u in range(docs.num_users):
            prompt = build_prompt(docs, u, domain)
            if prompt is None:
                continue
            key = hashlib.sha1(prompt.encode("utf-8")).hexdigest()
            if key in self._cache:
                out[u] = self._cache[key]
            else:
                todo.append((u, key, prompt))
        for u, key, prompt in tqdm(todo, desc=f"LLM {domain} summaries", disable=not self.progress or not todo):
            summary = extract_answer(self.generate(prompt))
            self.calls += 1
            self._cache[key] = out[u] = summary
            self._append({"key": key, "user": u, "domain": domain, "summary": summary})
        return out


# ---- registry -------------------------------------------------------------------------

SUMMARIZERS: dict[str, type[PreferenceSummarizer]] = {
    "template": TemplateSummarizer,
    "precomputed": PrecomputedSummaries,
    "llm": LLMSummarizer,
}


def summarizer_from_name(name: str, **kwargs: Any) -> PreferenceSummarizer:
    """Build a summariser by name (``"template"``, ``"precomputed"``, ``"llm"``;
    case, ``-``, ``_`` and spaces ignored) with ``kwargs`` for its constructor.

    Example:
        >>> summarizer_from_name("Template", max_items=10).settings()["max_items"]
        10
    """
    key = normalize_string(name)
    if key not in SUMMARIZERS:
        raise ValueError(f"unknown summarizer {name!r}; valid names: {', '.join(SUMMARIZERS)}")
    return SUMMARIZERS[key](**kwargs)


__all__ = ["PreferenceSummarizer", "TemplateSummarizer", "PrecomputedSummaries", "LLMSummarizer",
           "OpenAIChatClient", "fill_missing", "build_prompt", "extract_answer", "summarizer_from_name",
           "SUMMARIZERS", "REC_PROMPT", "SEARCH_PROMPT"]
