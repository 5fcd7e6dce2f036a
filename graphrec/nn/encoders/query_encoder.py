r"""Queries as the mean of their word embeddings, optionally with a text embedding."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class QueryEncoder(nn.Module):
    r"""Encodes a query as the mean of its word embeddings, the query encoder of the
    search-enhanced recommenders on Amazon (JSR, SESRec, UniSAR, GSERec's released
    code; words are the query's whitespace tokens):

    .. math::
        \mathbf{q} = \frac{1}{|q|} \sum_{w \in q} \mathbf{e}_w

    The words of every query are CSR on the graph (``data['query'].token_ptr`` /
    ``token`` over ``data.num_words``) and kept here as buffers, so a batch of query
    ids becomes one ``embedding_bag`` call; no padded word matrix is built. A query
    without words encodes to zero.

    With ``text``, fixed vectors :math:`\mathbf{t}_q` of the queries' texts (a sentence
    encoder's, e.g. :func:`graphrec.text.query_texts` through
    :class:`~graphrec.text.MiniLMEmbedder`), a learned map adds them,
    :math:`\mathbf{q} = \frac{1}{|q|} \sum_{w \in q} \mathbf{e}_w + \mathbf{W}_t \mathbf{t}_q`,
    or replaces the words with ``use_words=False``: :math:`\mathbf{q} = \mathbf{W}_t \mathbf{t}_q`.

    Args:
        token_ptr (torch.Tensor): ``(|Q| + 1,)`` offsets of each query's words.
        token (torch.Tensor): ``(nnz,)`` word ids in ``[0, num_words)``.
        num_words (int): vocabulary size.
        dim (int): embedding size :math:`d`.
        shift (int, optional): id offset of the inputs: ``1`` when batches store query
            ``q`` as ``q + 1`` with ``0`` as padding (graphrec's loaders). Padding
            encodes to zero. (default: ``1``)
        text (torch.Tensor, optional): ``(|Q|, d_t)`` fixed text vectors of the queries
            (a buffer, not trained). (default: ``None``)
        use_words (bool, optional): the word mean is part of :math:`\mathbf{q}`; ``False``
            needs ``text``. (default: ``True``)

    Shapes:
        - **input:** query ids of any shape :math:`(*)`
        - **output:** :math:`(*, d)`

    Example:
        >>> enc = QueryEncoder(torch.tensor([0, 2, 3]), torch.tensor([0, 1, 1]), num_words=2, dim=4)
        >>> out = enc(torch.tensor([[1, 2, 0]]))  # query 0, query 1, padding
        >>> torch.allclose(out[0, 0], enc.word_emb.weight[:2].mean(0)), bool((out[0, 2] == 0).all())
        (True, True)
    """

    def __init__(self, token_ptr: Tensor, token: Tensor, num_words: int, dim: int, shift: int = 1,
                 text: Tensor | None = None, use_words: bool = True) -> None:
        super().__init__()
        token_ptr, token = torch.as_tensor(token_ptr, dtype=torch.long), torch.as_tensor(token, dtype=torch.long)
        if (token_ptr.dim() != 1 or token_ptr.numel() < 1 or int(token_ptr[0]) != 0
                or int(token_ptr[-1]) != token.numel()):
            raise ValueError(f"token_ptr must run from 0 to the number of tokens ({token.numel()})")
        if token.numel() and (int(token.min()) < 0 or int(token.max()) >= num_words):
            raise ValueError(f"word ids must lie in [0, {num_words}), got [{int(token.min())}, {int(token.max())}]")
        if shift not in (0, 1):
            raise ValueError(f"shift must be 0 or 1, got {shift}")
        self.num_queries, self.num_words, self.dim, self.shift = token_ptr.numel() - 1, num_words, dim, shift
        self.register_buffer("token_ptr", token_ptr, persistent=False)
        self.register_buffer("token", token, persistent=False)
        self.word_emb = nn.Embedding(max(num_words, 1), dim)
        if text is not None:
            text = torch.as_tensor(text, dtype=torch.float32)
            if text.dim() != 2 or text.size(0) != self.num_queries:
                raise ValueError(f"text must hold one vector per query, ({self.num_queries}, d_t); "
                                 f"got shape {tuple(text.shape)}")
        elif not use_words:
            raise ValueError("use_words=False leaves a query nothing to encode: pass its text vectors (text=...)")
        self.use_words = use_words
        self.register_buffer("text", text, persistent=False)
        self.text_proj = nn.Linear(text.size(1), dim, bias=False) if text is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.word_emb.weight)
        if self.text_proj is not None:
            self.text_proj.reset_parameters()

    def forward(self, query: Tensor) -> Tensor:
        shape = query.shape
        q = query.reshape(-1) - self.shift
        valid = q >= 0
        qv = q[valid]
        bags = self._word_mean(qv) if self.use_words else None
        if self.text_proj is not None:
            from_text = self.text_proj(self.text[qv])
            bags = from_text if bags is None else bags + from_text
        out = bags.new_zeros(q.numel(), self.dim)
        out[valid] = bags
        return out.view(*shape, self.dim)

    def _word_mean(self, qv: Tensor) -> Tensor:
        start = self.token_ptr[qv]
        length = self.token_ptr[qv + 1] - start
        offsets = torch.cumsum(length, 0) - length  # where each bag starts
        # position k of bag b reads token_ptr[q_b] + k: one gather, no Python loop
        flat = torch.repeat_interleave(start - offsets, length) + torch.arange(int(length.sum()), device=qv.device)
        return F.embedding_bag(self.token[flat], self.word_emb.weight, offsets, mode="mean")

    def extra_repr(self) -> str:
        text = f", text_dim={self.text.size(1)}, use_words={self.use_words}" if self.text is not None else ""
        return f"num_queries={self.num_queries}, num_words={self.num_words}, dim={self.dim}{text}"


__all__ = ["QueryEncoder"]
