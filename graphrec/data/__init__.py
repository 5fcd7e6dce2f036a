"""Logs -> validated tables -> splits -> HeteroData -> batches."""
from graphrec.data.codes import CODE_EDGE_TYPES, HAS_REC_CODE, HAS_SEARCH_CODE, add_user_codes
from graphrec.data.counterfactual import REWRITE_POLICIES, rewrite_rec_history
from graphrec.data.covariates import UserCovariates, named_user_features, timeline_covariates
from graphrec.data.hetero import (
                                  CLICKS,
                                  HAS_ATTR,
                                  LEADS_TO,
                                  SEARCHES,
                                  add_edge_type,
                                  add_reverse_edges,
                                  attr_field_edges,
                                  build_hetero_data,
                                  eval_targets,
                                  has_heldout,
                                  heldout,
                                  history,
                                  train_history,
)
from graphrec.data.loader import (
                                  BPRLoader,
                                  JointTimelineLoader,
                                  NegativeSampler,
                                  SearchSessionLoader,
                                  SequenceLoader,
)
from graphrec.data.logs import BehaviourLogs, IdMap, ImpressionLog, ItemInfo, LogError, RecLog, SearchLog
from graphrec.data.ragged import Ragged
from graphrec.data.sampled import SampledBPRLoader
from graphrec.data.schema import GraphSchemaError, graph_schema, require_types
from graphrec.data.split import Split, given_split, leave_one_out, ratio_split, temporal_split
from graphrec.data.timeline import REC, SEARCH, JointTimeline, add_joint_timeline, eval_timeline

__all__ = [
    "Ragged", "LogError", "IdMap", "RecLog", "SearchLog", "ImpressionLog", "ItemInfo", "BehaviourLogs",
    "Split", "leave_one_out", "temporal_split", "ratio_split", "given_split",
    "CLICKS", "SEARCHES", "LEADS_TO", "HAS_ATTR", "add_edge_type", "build_hetero_data",
    "train_history", "history", "eval_targets", "heldout", "has_heldout", "add_reverse_edges",
    "attr_field_edges", "rewrite_rec_history", "REWRITE_POLICIES",
    "NegativeSampler", "BPRLoader", "SequenceLoader", "SearchSessionLoader",
    "JointTimelineLoader", "JointTimeline", "REC", "SEARCH", "add_joint_timeline", "eval_timeline",
    "HAS_REC_CODE", "HAS_SEARCH_CODE", "CODE_EDGE_TYPES", "add_user_codes",
    "SampledBPRLoader", "GraphSchemaError", "graph_schema", "require_types",
    "UserCovariates", "timeline_covariates", "named_user_features",
]
