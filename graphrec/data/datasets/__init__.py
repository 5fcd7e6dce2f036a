"""Bundled datasets, each a :class:`RecDataset` (PyG ``InMemoryDataset`` style).

======================  ===============================================================
CLI name                class
======================  ===============================================================
``synthetic``           :class:`SyntheticSearchRec` -- generated search + rec world (default)
``beauty``,             :class:`AmazonSeq` -- Amazon 5-core sequences with item attributes
``sports``, ``toys``
``beauty-search``,      :class:`AmazonSearch` -- Amazon with semi-synthetic search logs
``sports-search``,
``toys-search``
``gowalla``             :class:`Gowalla` -- LightGCN's Gowalla split
``kuaisar-rec``         :class:`KuaiSARRec` -- KuaiSAR recommendation side (KuaiSAR-R subset)
``kuaisar``             :class:`KuaiSAR` -- full KuaiSAR release (rec_inter + src_inter)
``jdsearch``            :class:`JDSearch` -- JDsearch format (official sample)
``path/to/spec.yaml``   :class:`LogFiles` -- your own logs and relations, described by a
                        spec file (not registered: any ``--dataset`` ending in ``.yaml``)
======================  ===============================================================
"""
from graphrec.data.datasets.amazon import AmazonSeq, read_amazon_seq
from graphrec.data.datasets.amazon_search import AmazonSearch, AmazonSearchConfig, make_search_logs
from graphrec.data.datasets.base import RecDataset, find_raw
from graphrec.data.datasets.gowalla import Gowalla
from graphrec.data.datasets.jdsearch import JDSearch
from graphrec.data.datasets.kuaisar import KuaiSAR, KuaiSARRec
from graphrec.data.datasets.log_files import LogFiles, SpecError, is_spec_path, read_spec
from graphrec.data.datasets.synthetic import (
    SyntheticConfig,
    SyntheticSearchRec,
    SyntheticWorld,
    generate_world,
    intervene_world,
    resimulate_world,
    simulate_world,
)
from graphrec.data.datasets.world_truth import Impressions, WorldTruth
from graphrec.resolver import register_dataset

register_dataset("synthetic", SyntheticSearchRec)
for _name in ("beauty", "sports", "toys"):
    register_dataset(_name, AmazonSeq, name=_name)
    register_dataset(f"{_name}-search", AmazonSearch, name=_name)
register_dataset("gowalla", Gowalla)
register_dataset("kuaisar-rec", KuaiSARRec)
register_dataset("kuaisar", KuaiSAR)
register_dataset("jdsearch", JDSearch)

__all__ = [
    "RecDataset", "find_raw",
    "SyntheticSearchRec", "SyntheticConfig", "SyntheticWorld", "simulate_world", "generate_world", "resimulate_world",
    "intervene_world",
    "WorldTruth", "Impressions",
    "AmazonSeq", "read_amazon_seq",
    "AmazonSearch", "AmazonSearchConfig", "make_search_logs",
    "Gowalla", "KuaiSARRec", "KuaiSAR", "JDSearch",
    "LogFiles", "SpecError", "read_spec", "is_spec_path",
]
