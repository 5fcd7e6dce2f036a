"""NGCF: GraphCF with NGCF's layer and its authors' settings."""
from __future__ import annotations

from dataclasses import dataclass

from graphrec.models.graph_cf import GraphCF, GraphCFConfig
from graphrec.resolver import register_model


@dataclass
class NGCFConfig(GraphCFConfig):
    """The settings of the NGCF authors' Gowalla run (README of
    xiangwang1223/neural_graph_collaborative_filtering: ``--embed_size 64 --layer_size
    [64,64,64] --regs [1e-5] --mess_dropout [0.1,0.1,0.1]``).

    Args:
        conv: ngcf.
        combine: concat (the authors concatenate the layer outputs).
        normalize_layers: true (each layer L2-normalised before the concatenation).
        message_dropout: 0.1.
        reg_weight: 1e-5.
        regularize: final (the authors' code regularises the propagated embeddings).
    """

    conv: str = "ngcf"
    combine: str = "concat"
    normalize_layers: bool = True
    message_dropout: float = 0.1
    reg_weight: float = 1e-5
    regularize: str = "final"


@register_model("ngcf")
class NGCF(GraphCF):
    r"""NGCF (`Wang et al., SIGIR 2019 <https://arxiv.org/abs/1905.08108>`_):
    :class:`GraphCF` with :class:`~graphrec.nn.conv.NGCFConv` layers, whose update
    :math:`\mathbf{x}'_i = \mathrm{LeakyReLU}(\mathbf{W}_1(\mathbf{x}_i + \mathbf{m}_i)
    + \mathbf{W}_2(\mathbf{x}_i \odot \mathbf{m}_i))` adds learned transforms and an
    affinity term to LightGCN's propagation, and the concatenation of the
    :math:`K+1` L2-normalised layers as the final embedding. Trained with BPR at the
    authors' learning rate (1e-4) and batch size (1024); their node dropout (off by
    default in their code) is not implemented.
    """

    Config = NGCFConfig
    train_defaults = {"batch_size": 1024, "lr": 1e-4}
