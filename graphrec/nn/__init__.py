"""Neural-network building blocks: message-passing layers (``conv``), their multi-layer
stacks (``models``), graph-aware sequence encoders (``encoders``), training losses
(``losses``), k-means (``cluster``) and a dropout with a faster CPU path."""
from graphrec.nn import cluster, conv, encoders, losses, models, quantize
from graphrec.nn.cluster import kmeans
from graphrec.nn.dropout import Dropout, dropout

__all__ = ["cluster", "conv", "encoders", "losses", "models", "quantize", "Dropout", "dropout", "kmeans"]
