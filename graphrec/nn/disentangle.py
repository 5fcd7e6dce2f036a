r"""Splitting a representation into a query-related and a query-independent part, and
fusing a second view into a first with a learned gate (ClardRec's disentangling gate and
feature augmentation; reusable by any search-enhanced model)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class DisentanglingGate(nn.Module):
    r"""Attribute-aware element-wise gate that splits an item's search-side
    representation :math:`\mathbf{h}` into a query-related and a query-independent part
    (ClardRec, ``shared/methods/clardrec.md`` 2.3; the exact form is the spec's proposal):

    .. math::
        \mathbf{g} = \sigma\left(\mathbf{W}_g [\mathbf{h}; \mathbf{a}] + \mathbf{b}_g\right),
        \qquad \mathbf{h}^{qr} = \mathbf{g} \odot \mathbf{h},
        \qquad \mathbf{h}^{qi} = (\mathbf{1} - \mathbf{g}) \odot \mathbf{h}

    with :math:`\mathbf{a}` the item's attribute vector. ``complementary=False`` uses two
    independent gates, :math:`\mathbf{h}^{qr} = \mathbf{g}^{qr} \odot \mathbf{h}` and
    :math:`\mathbf{h}^{qi} = \mathbf{g}^{qi} \odot \mathbf{h}` (the parts no longer sum to
    :math:`\mathbf{h}`; a constraint loss must keep both from copying it).

    Args:
        dim (int): size :math:`d` of :math:`\mathbf{h}`.
        attr_dim (int): size of :math:`\mathbf{a}`; ``0`` gates on :math:`\mathbf{h}` alone
            (the "gate without attributes" ablation).
        complementary (bool, optional): one gate and its complement. (default: ``True``)

    Shapes:
        - **input:** :math:`\mathbf{h}` :math:`(*, d)`, :math:`\mathbf{a}` :math:`(*, d_a)` or ``None``
        - **output:** ``(h_qr, h_qi, g)``, each :math:`(*, d)` (``g`` is the query-related gate)
    """

    def __init__(self, dim: int, attr_dim: int = 0, complementary: bool = True) -> None:
        super().__init__()
        self.dim, self.attr_dim, self.complementary = dim, attr_dim, complementary
        self.lin = nn.Linear(dim + attr_dim, dim if complementary else 2 * dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, h: Tensor, a: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        if (a is None) != (self.attr_dim == 0):
            raise ValueError(f"DisentanglingGate(attr_dim={self.attr_dim}) got "
                             f"{'no attribute vector' if a is None else 'an attribute vector'}")
        logits = self.lin(h if a is None else torch.cat([h, a], -1))
        if self.complementary:
            g = torch.sigmoid(logits)
            return g * h, (1 - g) * h, g
        g_qr, g_qi = torch.sigmoid(logits).chunk(2, -1)
        return g_qr * h, g_qi * h, g_qr

    def extra_repr(self) -> str:
        return f"dim={self.dim}, attr_dim={self.attr_dim}, complementary={self.complementary}"


class GatedFusion(nn.Module):
    r"""Fuses a second view :math:`\mathbf{z}` into a representation :math:`\mathbf{h}`
    with a learned combination factor (ClardRec's feature augmentation, spec 2.7):

    .. math::
        \beta = \sigma\left(\mathbf{w}_f^\top [\mathbf{h}; \mathbf{z}] + b_f\right),
        \qquad \hat{\mathbf{h}} = \beta\, \mathbf{h} + (1 - \beta)\, \mathbf{z}

    :math:`\beta` is one number per row, or one per dimension with ``vector=True``
    (:math:`\mathbf{W}_f \in \mathbb{R}^{d \times 2d}`).

    Args:
        dim (int): size :math:`d` of both views.
        vector (bool, optional): a gate per dimension. (default: ``False``)

    Shapes:
        - **input:** :math:`\mathbf{h}`, :math:`\mathbf{z}` :math:`(*, d)`
        - **output:** ``(h_hat, beta)``: :math:`(*, d)` and :math:`(*, 1)` (or :math:`(*, d)`)
    """

    def __init__(self, dim: int, vector: bool = False) -> None:
        super().__init__()
        self.dim, self.vector = dim, vector
        self.lin = nn.Linear(2 * dim, dim if vector else 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, h: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        beta = torch.sigmoid(self.lin(torch.cat([h, z], -1)))
        return beta * h + (1 - beta) * z, beta

    def extra_repr(self) -> str:
        return f"dim={self.dim}, vector={self.vector}"


__all__ = ["DisentanglingGate", "GatedFusion"]
