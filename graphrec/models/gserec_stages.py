r"""GSERec's offline stages: summaries -> vectors -> RQ-VAE codes, each cached.

=====================  ==========================================  =======================================
stage                  computes                                    cached by (besides the graph)
=====================  ==========================================  =======================================
``summaries``          a rec and a search summary per user         summariser name and settings, the
                       (:mod:`graphrec.text`)                      document window
``text_vectors``       their unit-norm text vectors                embedder name and settings, and the
                                                                   summaries' key
``behaviour_vectors``  user vectors from clicks alone (replaces    the window and size
                       the two above with ``summarizer=none``)
``codes``              the two-tower RQ-VAE's codes                every RQ-VAE setting and the vectors'
                       ``(|U|, 2, L)`` with collision repair       key; its own seed (``rq_seed``)
=====================  ==========================================  =======================================

The text stages are deterministic and the RQ-VAE has a seed of its own (the paper
trains it with seed 2024 whatever the recommender's seed), so runs with different
seeds share all three cache files. Summaries are stored as UTF-8 bytes with offsets
(large JSON would sit in a file header); ``results.json`` lists each stage with its
wall time and the names of the summariser and embedder that made the codes.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from graphrec.models.stage import Stage, StageContext, StageOutputs

if TYPE_CHECKING:
    from graphrec.models.gserec import GSERecConfig

log = logging.getLogger("graphrec.models")

#: MiniLM was trained on 128-token inputs; longer ones cost time and add little
MINILM_MAX_TOKENS = 128


def encode_texts(texts: list[str]) -> dict[str, Tensor]:
    """Strings as one ``uint8`` tensor of UTF-8 bytes and ``int64`` offsets."""
    raw = [t.encode("utf-8") for t in texts]
    ptr = torch.zeros(len(raw) + 1, dtype=torch.long)
    if raw:
        torch.cumsum(torch.tensor([len(b) for b in raw], dtype=torch.long), 0, out=ptr[1:])
    blob = b"".join(raw)
    data = torch.frombuffer(bytearray(blob), dtype=torch.uint8) if blob else torch.zeros(0, dtype=torch.uint8)
    return {"bytes": data, "ptr": ptr}


def decode_texts(data: Tensor, ptr: Tensor) -> list[str]:
    """Inverse of :func:`encode_texts`."""
    blob = data.numpy().tobytes()
    p = ptr.tolist()
    return [blob[p[i]:p[i + 1]].decode("utf-8") for i in range(len(p) - 1)]


def _summaries(ctx: StageContext) -> StageOutputs:
    from graphrec.text import summarizer_from_name, user_documents

    s = ctx.settings
    kwargs: dict[str, Any] = ({"path": s["summary_path"]} if s["summarizer"] == "precomputed"
                              else {"max_items": s["items"], "max_sessions": s["items"]})
    summarizer = summarizer_from_name(s["summarizer"], **kwargs)
    docs = user_documents(ctx.data, max_items=s["items"], max_sessions=s["items"])
    rec, search = summarizer.summarize_both(docs)
    out: StageOutputs = {f"rec_{k}": v for k, v in encode_texts(rec).items()}
    out.update({f"search_{k}": v for k, v in encode_texts(search).items()})
    out["summarizer"] = summarizer.name
    out["empty_rec"] = sum(not t for t in rec)
    out["empty_search"] = sum(not t for t in search)
    return out


def stage_summaries(outputs: StageOutputs) -> tuple[list[str], list[str]]:
    """``(rec, search)`` summaries from the ``summaries`` stage's outputs."""
    return (decode_texts(outputs["rec_bytes"], outputs["rec_ptr"]),
            decode_texts(outputs["search_bytes"], outputs["search_ptr"]))


def _text_vectors(ctx: StageContext) -> StageOutputs:
    from graphrec.text import embedder_from_name

    s = ctx.settings
    kwargs: dict[str, Any] = {"max_seq_length": s["max_tokens"]}
    if s["embedder"] == "sentence-transformers":
        kwargs["path"] = s["embedder_path"]
    embedder = embedder_from_name(s["embedder"], **kwargs)
    rec, search = stage_summaries(ctx.outputs["summaries"])
    # a user without search gets the rec summary as search summary (and vice versa):
    # each distinct text is embedded once
    vectors, distinct = embedder.embed_distinct(rec + search, progress=ctx.progress)
    return {"rec": vectors[:len(rec)], "search": vectors[len(rec):],
            "embedder": embedder.name, "dim": int(vectors.size(1)), "distinct_texts": distinct}


def _behaviour_vectors(ctx: StageContext) -> StageOutputs:
    from graphrec.text import BehaviourEmbedder

    s = ctx.settings
    emb = BehaviourEmbedder(dim=s["dim"], max_items=s["items"], max_sessions=s["items"])
    items = emb.item_vectors(ctx.data)
    return {"rec": emb.embed_users(ctx.data, "rec", items=items),
            "search": emb.embed_users(ctx.data, "search", items=items),
            "embedder": emb.name, "dim": s["dim"]}


def _codes(ctx: StageContext) -> StageOutputs:
    from graphrec.nn.quantize import RQVAEConfig, assign_codes, codebook_usage, fit_rqvae

    s = ctx.settings
    vectors = ctx.outputs["text_vectors" if "text_vectors" in ctx.outputs else "behaviour_vectors"]
    x_rec, x_search = vectors["rec"].float(), vectors["search"].float()
    cfg = replace(RQVAEConfig(), hidden=tuple(s["hidden"]), latent_dim=s["latent_dim"], num_levels=s["levels"],
                  num_codes=s["codes"], epochs=s["epochs"], rq_cl_weight=s["rq_cl_weight"],
                  sinkhorn_last_level=s["sinkhorn_last_level"], seed=ctx.seed,
                  warmup_epochs=min(RQVAEConfig.warmup_epochs, s["epochs"] // 10))
    model, history = fit_rqvae(x_rec, x_search, cfg, generator=ctx.generator, progress=ctx.progress)
    codes, report = assign_codes(model, x_rec, x_search, repair_rounds=20 if s["collision_repair"] else 0,
                                 return_report=True)
    usage = codebook_usage(codes, s["codes"])
    out: StageOutputs = {"codes": codes, "used_share": usage["used_share"], "perplexity": usage["perplexity"],
                         "best_epoch": int(history["best_epoch"]),
                         "final_recon": float(history["recon"][-1])}
    for tower, r in report.items():
        out[f"{tower}_collided_before"] = int(r["collided_before"])
        out[f"{tower}_collided_after"] = int(r["collided_after"])
    out["embedder"] = vectors.get("embedder", "")
    return out


def file_sha1(path: str) -> str:
    """SHA-1 of a file's bytes; a missing file is an error that names the setting."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()
    except OSError as exc:
        raise ValueError(f"model.summary_path: cannot read {path!r} ({exc.strerror})") from None


def gserec_stages(cfg: GSERecConfig) -> list[Stage]:
    """The stages of a GSERec config (see the module docstring)."""
    window = cfg.summary_items
    stages: list[Stage] = []
    if cfg.summarizer == "none":
        stages.append(Stage("behaviour_vectors", _behaviour_vectors, settings={"dim": 64, "items": window}, seed=0))
    else:
        settings: dict[str, Any] = {"summarizer": cfg.summarizer, "summary_path": cfg.summary_path, "items": window}
        if cfg.summarizer == "precomputed":  # the file's content, not its name, decides the cache
            settings["summary_sha1"] = file_sha1(cfg.summary_path)
        stages.append(Stage("summaries", _summaries, seed=0, settings=settings))
        max_tokens = MINILM_MAX_TOKENS if cfg.embedder == "minilm" else None
        stages.append(Stage("text_vectors", _text_vectors, seed=0,
                            settings={"embedder": cfg.embedder, "embedder_path": cfg.embedder_path,
                                      "max_tokens": max_tokens}))
    stages.append(Stage("codes", _codes, seed=cfg.rq_seed,
                        settings={"hidden": list(cfg.rq_hidden), "latent_dim": cfg.code_dim, "levels": cfg.code_levels,
                                  "codes": cfg.codebook_size, "epochs": cfg.rq_epochs,
                                  "rq_cl_weight": cfg.rq_cl_weight, "sinkhorn_last_level": cfg.sinkhorn_last_level,
                                  "collision_repair": cfg.collision_repair}))
    return stages


__all__ = ["gserec_stages", "encode_texts", "decode_texts", "stage_summaries", "MINILM_MAX_TOKENS"]
