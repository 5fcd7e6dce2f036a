"""Neural-network building blocks: message-passing layers (``conv``), graph-aware
sequence encoders (``encoders``) and training losses (``losses``)."""
from graphrec.nn import conv, encoders, losses

__all__ = ["conv", "encoders", "losses"]
