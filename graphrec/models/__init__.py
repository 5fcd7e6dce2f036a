"""Recommendation models. Each registers itself under its CLI name."""
from graphrec.models.base import ModelConfig, RecModel, build_config
from graphrec.models.bpr_mf import BPRMF, BPRMFConfig
from graphrec.models.cl4srec import CL4SRec, CL4SRecConfig
from graphrec.models.clardrec import ClardRec, ClardRecConfig
from graphrec.models.duorec import DuoRec, DuoRecConfig
from graphrec.models.graph_cf import GraphCF, GraphCFConfig
from graphrec.models.gserec import GSERec, GSERecConfig
from graphrec.models.hmv_crl import HMVCRL, HMVCRLConfig
from graphrec.models.iclrec import ICLRec, ICLRecConfig
from graphrec.models.icsrec import ICSRec, ICSRecConfig
from graphrec.models.idclrec import IDCLRec, IDCLRecConfig
from graphrec.models.lightgcn import LightGCN, LightGCNConfig
from graphrec.models.ngcf import NGCF, NGCFConfig
from graphrec.models.popularity import Popularity, PopularityConfig
from graphrec.models.propagated import PropagatedEmbeddingModel
from graphrec.models.sasrec import SameTargetContrastConfig, SASRec, SASRecConfig
from graphrec.models.search_transfer import SearchTransfer, SearchTransferConfig
from graphrec.models.sesrec import SESRec, SESRecConfig

__all__ = [
    "RecModel", "ModelConfig", "build_config", "PropagatedEmbeddingModel",
    "Popularity", "PopularityConfig",
    "BPRMF", "BPRMFConfig",
    "LightGCN", "LightGCNConfig",
    "GraphCF", "GraphCFConfig",
    "NGCF", "NGCFConfig",
    "SASRec", "SASRecConfig", "SameTargetContrastConfig",
    "IDCLRec", "IDCLRecConfig",
    "CL4SRec", "CL4SRecConfig",
    "ICLRec", "ICLRecConfig",
    "DuoRec", "DuoRecConfig",
    "ICSRec", "ICSRecConfig",
    "ClardRec", "ClardRecConfig",
    "SearchTransfer", "SearchTransferConfig",
    "SESRec", "SESRecConfig",
    "GSERec", "GSERecConfig",
    "HMVCRL", "HMVCRLConfig",
]
