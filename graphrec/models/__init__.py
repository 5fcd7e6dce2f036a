"""Recommendation models. Each registers itself under its CLI name."""
from graphrec.models.base import ModelConfig, RecModel, build_config
from graphrec.models.bpr_mf import BPRMF, BPRMFConfig
from graphrec.models.lightgcn import LightGCN, LightGCNConfig
from graphrec.models.popularity import Popularity, PopularityConfig
from graphrec.models.sasrec import SASRec, SASRecConfig

__all__ = [
    "RecModel", "ModelConfig", "build_config",
    "Popularity", "PopularityConfig",
    "BPRMF", "BPRMFConfig",
    "LightGCN", "LightGCNConfig",
    "SASRec", "SASRecConfig",
]
