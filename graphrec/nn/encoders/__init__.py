"""Graph-aware sequence encoders: they read item embeddings from the graph."""
from graphrec.nn.encoders.transformer import SequenceTransformer, TransformerBlock, causal_mask

__all__ = ["SequenceTransformer", "TransformerBlock", "causal_mask"]
