"""Models that score by dot products of user and item embeddings propagated over the
whole graph (LightGCN, GraphCF), with the evaluation cache they share."""
from __future__ import annotations

from typing import Any

from torch import Tensor

from graphrec.data.ragged import Ragged
from graphrec.models.base import RecModel


class PropagatedEmbeddingModel(RecModel):
    r"""Base of models whose final user and item embeddings come from one pass over
    the whole graph (:meth:`compute_embedding`) and whose scores are
    :math:`\hat y_{u,i} = \mathbf{e}_u^\top \mathbf{e}_i`.

    While training, :meth:`get_embedding` recomputes every call (the gradients flow
    through the propagation). While evaluating it computes once and caches detached
    copies, so scoring the users chunk by chunk propagates once; the cache is dropped
    whenever the weights may change: :meth:`train`, :meth:`load_state_dict` and
    :meth:`reset_parameters` (subclasses call ``super().reset_parameters()``).
    """

    _cache: tuple[Tensor, Tensor] | None = None

    def compute_embedding(self) -> tuple[Tensor, Tensor]:
        """Final ``(user, item)`` embeddings from the whole graph."""
        raise NotImplementedError

    def get_embedding(self) -> tuple[Tensor, Tensor]:
        """Final user and item embeddings (cached, detached, while evaluating)."""
        if self.training:
            return self.compute_embedding()
        if self._cache is None:
            users, items = self.compute_embedding()
            self._cache = (users.detach(), items.detach())
        return self._cache

    def reset_parameters(self) -> None:
        self._cache = None

    def train(self, mode: bool = True) -> PropagatedEmbeddingModel:
        self._cache = None
        return super().train(mode)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._cache = None
        return super().load_state_dict(*args, **kwargs)

    def full_scores(self, users: Tensor, history: Ragged) -> Tensor:
        eu, ei = self.get_embedding()
        return eu[users] @ ei.t()

    def score(self, users: Tensor, items: Tensor, history: Ragged) -> Tensor:
        eu, ei = self.get_embedding()
        return (eu[users].unsqueeze(1) * ei[items]).sum(-1)


__all__ = ["PropagatedEmbeddingModel"]
