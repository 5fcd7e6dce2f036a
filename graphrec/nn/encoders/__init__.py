"""Graph-aware sequence encoders: they read item embeddings from the graph."""
from graphrec.nn.encoders.attention_pooling import AttentionPooling
from graphrec.nn.encoders.causal_cross_attention import CausalCrossAttention, masked_attention
from graphrec.nn.encoders.cross_attention_fusion import CrossAttentionFusion
from graphrec.nn.encoders.graph_item_embedding import GraphItemEmbedding
from graphrec.nn.encoders.history_encoder import HistoryEncoder, chronological_positions
from graphrec.nn.encoders.memory_fusion import MemoryFusion
from graphrec.nn.encoders.query_encoder import QueryEncoder
from graphrec.nn.encoders.target_attention import TargetAttention
from graphrec.nn.encoders.transformer import (
    SequenceTransformer,
    TransformerBlock,
    causal_mask,
    length_groups,
    trim_left_padding,
)

__all__ = ["SequenceTransformer", "TransformerBlock", "causal_mask", "trim_left_padding", "length_groups",
           "CausalCrossAttention",
           "masked_attention", "AttentionPooling", "CrossAttentionFusion", "GraphItemEmbedding",
           "HistoryEncoder", "chronological_positions", "QueryEncoder", "TargetAttention",
           "MemoryFusion"]
