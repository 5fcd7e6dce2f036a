r"""A history that reads a small memory (e.g. a user's code vectors) through
transformer decoder layers."""
from __future__ import annotations

from torch import Tensor, nn

from graphrec.nn.encoders.history_encoder import encode_blockwise, reset_transformer_layer


class MemoryFusion(nn.Module):
    r"""Fuses an encoded history :math:`\mathbf{H}` with a memory :math:`\mathbf{M}`
    (GSERec's code fusion: the user's :math:`L` graph-propagated code vectors) with
    PyTorch's post-LN transformer decoder layers:

    .. math::
        \mathbf{Z} &= \mathrm{LN}(\mathbf{H} + \mathrm{SelfAttn}(\mathbf{H})), \\
        \mathbf{Z}' &= \mathrm{LN}(\mathbf{Z} + \mathrm{CrossAttn}(\mathbf{Z}, \mathbf{M})), \\
        \mathbf{H}' &= \mathrm{LN}(\mathbf{Z}' + \mathrm{FFN}(\mathbf{Z}'))

    Self-attention is bidirectional with key-padding masks; every history entry
    attends to the whole memory. Padding rows of the output are zero, and a history
    with no entry stays all zero.

    Args:
        dim (int): hidden size :math:`d`.
        num_layers (int, optional): decoder layers. (default: ``1``)
        num_heads (int, optional): attention heads. (default: ``2``)
        ffn_dim (int, optional): feed-forward width; ``None`` = ``dim``. (default: ``None``)
        dropout (float, optional): dropout. (default: ``0.1``)

    Shapes:
        - **input:** history :math:`(B, L, d)`, its mask :math:`(B, L)`, memory :math:`(B, M, d)`
        - **output:** :math:`(B, L, d)`
    """

    def __init__(self, dim: int, num_layers: int = 1, num_heads: int = 2, ffn_dim: int | None = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be a multiple of num_heads={num_heads}")
        self.dim = dim
        self.layers = nn.ModuleList([
            nn.TransformerDecoderLayer(dim, num_heads, dim_feedforward=ffn_dim or dim, dropout=dropout,
                                       batch_first=True)
            for _ in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.layers:
            reset_transformer_layer(layer)

    def forward(self, history: Tensor, valid: Tensor, memory: Tensor) -> Tensor:
        def fuse(h: Tensor, v: Tensor, rows: Tensor) -> Tensor:
            for layer in self.layers:
                h = layer(h, memory[rows], tgt_key_padding_mask=~v)
            return h

        return encode_blockwise(history, valid, fuse)  # only the rows and columns holding entries

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = ["MemoryFusion"]
