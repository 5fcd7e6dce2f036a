"""Neural-network building blocks: message-passing layers (``conv``), their multi-layer
stacks (``models``), graph-aware sequence encoders (``encoders``), training losses
(``losses``), Gaussian product of experts (``poe``), disentangling gates and gated fusion
(``disentangle``), k-means (``cluster``) and a dropout with a faster CPU path."""
from graphrec.nn import cluster, conv, disentangle, encoders, losses, models, poe, quantize
from graphrec.nn.cluster import kmeans
from graphrec.nn.disentangle import DisentanglingGate, GatedFusion
from graphrec.nn.dropout import Dropout, dropout
from graphrec.nn.poe import gaussian_kl, product_of_experts

__all__ = ["cluster", "conv", "disentangle", "encoders", "losses", "models", "poe", "quantize", "Dropout", "dropout",
           "kmeans", "product_of_experts", "gaussian_kl", "DisentanglingGate", "GatedFusion"]
