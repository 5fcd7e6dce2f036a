r"""Queries as the mean of their word embeddings."""
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

    Args:
        token_ptr (torch.Tensor): ``(|Q| + 1,)`` offsets of each query's words.
        token (torch.Tensor): ``(nnz,)`` word ids in ``[0, num_words)``.
        num_words (int): vocabulary size.
        dim (int): embedding size :math:`d`.
        shift (int, optional): id offset of the inputs: ``1`` when batches store query
            ``q`` as ``q + 1`` with ``0`` as padding (graphrec's loaders). Padding
            encodes to zero. (default: ``1``)

    Shapes:
        - **input:** query ids of any shape :math:`(*)`
        - **output:** :math:`(*, d)`

    Example:
        >>> enc = QueryEncoder(torch.tensor([0, 2, 3]), torch.tensor([0, 1, 1]), num_words=2, dim=4)
        >>> out = enc(torch.tensor([[1, 2, 0]]))  # query 0, query 1, padding
        >>> torch.allclose(out[0, 0], enc.word_emb.weight[:2].mean(0)), bool((out[0, 2] == 0).all())
        (True, True)
    """

    def __init__(self, token_ptr: Tensor, token: Tensor, num_words: int, dim: int, shift: int = 1) -> None:
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
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.word_emb.weight)

    def forward(self, query: Tensor) -> Tensor:
        shape = query.shape
        q = query.reshape(-1) - self.shift
        valid = q >= 0
        qv = q[valid]
        start = self.token_ptr[qv]
        length = self.token_ptr[qv + 1] - start
        offsets = torch.cumsum(length, 0) - length  # where each bag starts
        # position k of bag b reads token_ptr[q_b] + k: one gather, no Python loop
        flat = torch.repeat_interleave(start - offsets, length) + torch.arange(int(length.sum()), device=q.device)
        bags = F.embedding_bag(self.token[flat], self.word_emb.weight, offsets, mode="mean")
        out = bags.new_zeros(q.numel(), self.dim)
        out[valid] = bags
        return out.view(*shape, self.dim)

    def extra_repr(self) -> str:
        return f"num_queries={self.num_queries}, num_words={self.num_words}, dim={self.dim}"


__all__ = ["QueryEncoder"]
