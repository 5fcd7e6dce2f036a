"""Every model *learns* on real data: trained briefly on Amazon Beauty
(leave-one-out, full ranking), it ranks the users' held-out test items at least
twice as well as Popularity.

CI-sized: the full 22k users (a 5k-user slice was too sparse to learn from in a
few epochs: Popularity won there), but only a few epochs on one thread. Marked
slow; they still run in CI.
"""
import pytest
import torch

from graphrec.data import BehaviourLogs, build_hetero_data, leave_one_out
from graphrec.data.datasets.amazon import read_amazon_seq
from graphrec.models import (
    BPRMF,
    BPRMFConfig,
    IDCLRec,
    IDCLRecConfig,
    LightGCN,
    LightGCNConfig,
    Popularity,
    SASRec,
    SASRecConfig,
)
from graphrec.train import TrainConfig, Trainer

NUM_USERS = 22363


@pytest.fixture(scope="module")
def beauty_subset(shared_data):
    logs = read_amazon_seq(str(shared_data / "amazon_seq"), "beauty")
    rec_only = BehaviourLogs(logs.rec, name="beauty")
    return build_hetero_data(rec_only, leave_one_out(rec_only))


@pytest.fixture(scope="module")
def popularity_ndcg(beauty_subset):
    res = Trainer(Popularity.from_data(beauty_subset), beauty_subset,
                  TrainConfig(progress=False)).evaluate("test")
    assert res["users"] == NUM_USERS
    return res["ndcg@10"]


def fit_and_test(model, data, **train):
    cfg = TrainConfig(progress=False, num_threads=1, eval_every=100, seed=0, **train)
    trainer = Trainer(model, data, cfg)
    trainer.fit()
    return trainer.evaluate("test")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bpr_mf", "lightgcn", "sasrec"])
def test_model_beats_popularity_on_heldout_items(name, beauty_subset, popularity_ndcg):
    torch.manual_seed(0)
    if name == "bpr_mf":
        model = BPRMF.from_data(beauty_subset, BPRMFConfig(dim=64))
        res = fit_and_test(model, beauty_subset, epochs=40, batch_size=2048, lr=0.005)
    elif name == "lightgcn":
        model = LightGCN.from_data(beauty_subset, LightGCNConfig(num_layers=3))
        res = fit_and_test(model, beauty_subset, epochs=5, batch_size=2048, lr=0.005)
    else:
        model = SASRec.from_data(beauty_subset, SASRecConfig(dim=64, max_len=50, dropout=0.2))
        res = fit_and_test(model, beauty_subset, epochs=4, batch_size=256, lr=0.003)
    print(f"{name}: ndcg@10 {res['ndcg@10']:.4f} vs popularity {popularity_ndcg:.4f}")
    assert res["ndcg@10"] > 2.0 * popularity_ndcg


@pytest.mark.slow
def test_idclrec_beats_popularity_on_heldout_items(beauty_subset, popularity_ndcg):
    """The full IDCLRec objective (L_rec + L_d + L_CL1 + L_CL2) on a CI-sized slice of
    training: the first 300 batches (~70k of Beauty's 109k training subsequences)."""
    torch.manual_seed(0)
    model = IDCLRec.from_data(beauty_subset, IDCLRecConfig())
    res = fit_and_test(model, beauty_subset, epochs=1, max_batches=300, batch_size=256, lr=1e-3,
                       length_buckets=16)
    print(f"idclrec: ndcg@10 {res['ndcg@10']:.4f} vs popularity {popularity_ndcg:.4f}")
    assert res["ndcg@10"] > 1.5 * popularity_ndcg
