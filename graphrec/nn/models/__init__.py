"""Multi-layer stacks of graphrec's layers, shared by several recommendation models."""
from graphrec.nn.models.lightgcn_propagation import LightGCNPropagation

__all__ = ["LightGCNPropagation"]
