"""Neural-network building blocks: message-passing layers (``conv``), graph-aware
sequence encoders (``encoders``), training losses (``losses``) and a dropout with a
faster CPU path."""
from graphrec.nn import conv, encoders, losses
from graphrec.nn.dropout import Dropout, dropout

__all__ = ["conv", "encoders", "losses", "Dropout", "dropout"]
