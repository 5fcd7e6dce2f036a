"""Training losses shared by the models."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""Bayesian personalised ranking (Rendle et al., 2009):

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{b} \log \sigma(\hat y_{u,i} - \hat y_{u,j})
    """
    return F.softplus(neg_score - pos_score).mean()


def l2_reg(*tensors: Tensor, batch_size: int) -> Tensor:
    r"""LightGCN's reference regulariser on the batch's layer-0 embeddings:
    :math:`\frac{1}{2B}\sum_t \lVert t \rVert_2^2`."""
    return sum(t.pow(2).sum() for t in tensors) / (2.0 * batch_size)  # type: ignore[return-value]



def weighted_bpr_loss(pos_score: Tensor, neg_score: Tensor, weight: Tensor) -> Tensor:
    r"""BPR with a weight per pair (ClardRec's confidence-weighted augmentation
    :math:`\mathcal{L}_{da}`; detach ``weight`` for a stop-gradient confidence):

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{b} c_b \log \sigma(\hat y_{u,i} - \hat y_{u,j})
    """
    return (weight * F.softplus(neg_score - pos_score)).mean()


def counterfactual_triplet_loss(pref_qi: Tensor, pref_qr: Tensor, match_qi: Tensor, match_qr: Tensor,
                                pref_full: Tensor | None = None, match_full: Tensor | None = None,
                                form: str = "order", margin: float = 0.0) -> Tensor:
    r"""ClardRec's counterfactual disentangling objective :math:`\mathcal{L}_{cd}` over the
    triplet (factual item, query-related part removed, query-independent part removed)
    of searched clicks ``(u, q, i)`` (``shared/methods/clardrec.md`` 2.5; the formula is
    the spec's proposal). The inputs are the user-preference scores
    :math:`s(u, \cdot)` and query-match scores :math:`m(q, \cdot)` of the
    query-independent part (``*_qi``: the item with its query-related part removed) and
    of the query-related part (``*_qr``).

    ``form="order"`` (default): keeping the query-independent part preserves preference
    better, keeping the query-related part preserves the match better, each a BPR
    ordering within one score so the two never share a scale:

    .. math::
        \mathcal{L}_{cd} = \frac{1}{B}\sum \left[-\log\sigma\big(s(u, h^{qi}) - s(u, h^{qr})\big)
        - \log\sigma\big(m(q, h^{qr}) - m(q, h^{qi})\big)\right]

    ``form="cross"`` (the literal reading): removing the query-related part moves the
    match more than the preference, removing the query-independent part the reverse,
    with the variations :math:`\Delta` taken on sigmoid probabilities and a margin
    :math:`\gamma`; it needs the factual scores ``pref_full`` and ``match_full``:

    .. math::
        \mathcal{L}_{cd} = \frac{1}{B}\sum \left[\operatorname{softplus}(\Delta s_{qr} - \Delta m_{qr} + \gamma)
        + \operatorname{softplus}(\Delta m_{qi} - \Delta s_{qi} + \gamma)\right],
        \quad \Delta s_{qr} = \sigma(s(u, h)) - \sigma(s(u, h^{qi})), \ \dots
    """
    if form == "order":
        return (F.softplus(pref_qr - pref_qi) + F.softplus(match_qi - match_qr)).mean()
    if form == "cross":
        if pref_full is None or match_full is None:
            raise ValueError("form='cross' needs the factual scores pref_full and match_full")
        sp, sm = torch.sigmoid(pref_full), torch.sigmoid(match_full)
        d_pref_qr, d_match_qr = sp - torch.sigmoid(pref_qi), sm - torch.sigmoid(match_qi)  # qr removed
        d_pref_qi, d_match_qi = sp - torch.sigmoid(pref_qr), sm - torch.sigmoid(match_qr)  # qi removed
        return (F.softplus(d_pref_qr - d_match_qr + margin) + F.softplus(d_match_qi - d_pref_qi + margin)).mean()
    raise ValueError(f"form must be 'order' or 'cross', got {form!r}")

def sampled_bce(pos_logit: Tensor, neg_logit: Tensor, mask: Tensor) -> Tensor:
    r"""SASRec's binary cross-entropy with one sampled negative per position:

    .. math::
        \mathcal{L} = -\frac{1}{|M|}\sum_{t \in M} \left[\log\sigma(r_{t}^{+}) + \log(1-\sigma(r_{t}^{-}))\right]
    """
    loss = F.softplus(-pos_logit) + F.softplus(neg_logit)
    m = mask.to(loss.dtype)
    return (loss * m).sum() / m.sum().clamp(min=1)


def info_nce(anchor: Tensor, positive: Tensor, temperature: float | Tensor = 1.0,
             similarity: str | Callable[[Tensor, Tensor], Tensor] = "dot",
             labels: Tensor | None = None) -> Tensor:
    r"""Symmetric in-batch InfoNCE over the :math:`2B` views: row :math:`b` of ``anchor``
    and ``positive`` is a positive pair, every other view a negative. With ``labels``,
    any other view whose label equals the anchor's is removed from the denominator
    (false-negative masking, as ICSRec's FNM), except the anchor's own positive.

    .. math::
        \mathcal{L} = -\frac{1}{2B}\sum_{z}\log \frac{\exp(s(z, z^+)/\tau)}
        {\sum_{z' \ne z,\ \ell(z') \ne \ell(z) \lor z' = z^+} \exp(s(z, z')/\tau)}

    Args:
        temperature: :math:`\tau`, a number or a (learnable) scalar tensor.
        similarity: ``"dot"``, ``"cos"``, or a function ``s(x, y) -> (|x|, |y|)`` of
            all pairs of rows (e.g. GSERec's :class:`BilinearSimilarity`).
        labels: ``(B,)`` optional labels of the pairs (e.g. target items).
    """
    if callable(similarity):
        score = similarity
    elif similarity in ("dot", "cos"):
        if similarity == "cos":
            anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)

        def score(x: Tensor, y: Tensor) -> Tensor:
            return x @ y.t()
    else:
        raise ValueError(f"similarity must be 'dot', 'cos' or a function, got {similarity!r}")
    n = anchor.size(0)
    z = torch.cat([anchor, positive], 0)
    sim = score(z, z) / temperature
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    drop = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    if labels is not None:
        lab = torch.cat([labels, labels])
        same = lab[:, None] == lab[None, :]
        same[torch.arange(2 * n, device=z.device), target] = False
        drop = drop | same
    return F.cross_entropy(sim.masked_fill(drop, float("-inf")), target)


class BilinearSimilarity(nn.Module):
    r"""A learned similarity squashed into :math:`(-1, 1)` with a learnable
    temperature, GSERec's contrastive score (its released code's
    ``L_U-CL`` / ``L_His-CL``):

    .. math::
        s(\mathbf{a}, \mathbf{b}) = \tanh(\mathbf{a}^\top \mathbf{W} \mathbf{b}),
        \qquad \text{logit} = s / \tau, \quad \tau \text{ learnable}

    Use as ``info_nce(a, b, temperature=sim.tau(), similarity=sim)``. Since
    :math:`|s| < 1`, a smaller :math:`\tau` always sharpens the logits, and an
    unconstrained learnable :math:`\tau` can cross zero (which would flip the loss):
    :meth:`tau` clamps it at ``min_temperature``.

    Args:
        dim (int): size of both inputs.
        temperature (float, optional): initial :math:`\tau`. (default: ``0.1``)
        min_temperature (float, optional): lower bound of :math:`\tau`. (default: ``0.01``)
    """

    def __init__(self, dim: int, temperature: float = 0.1, min_temperature: float = 0.01) -> None:
        super().__init__()
        if not 0 < min_temperature <= temperature:
            raise ValueError(f"need 0 < min_temperature <= temperature, got {min_temperature}, {temperature}")
        self.init_temperature, self.min_temperature = temperature, min_temperature
        self.weight = nn.Parameter(torch.empty(dim, dim))
        self.temperature = nn.Parameter(torch.empty(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        nn.init.constant_(self.temperature, self.init_temperature)

    def tau(self) -> Tensor:
        """The temperature, clamped at ``min_temperature``."""
        return self.temperature.clamp(min=self.min_temperature)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``(N, d), (M, d) -> (N, M)`` similarities of all pairs."""
        return torch.tanh(x @ self.weight @ y.t())


__all__ = ["bpr_loss", "weighted_bpr_loss", "counterfactual_triplet_loss", "l2_reg", "sampled_bce", "info_nce",
           "BilinearSimilarity"]
