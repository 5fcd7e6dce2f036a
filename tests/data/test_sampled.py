"""Mini-batch BPR with sampled subgraphs (PyG's LinkNeighborLoader; optional extra)."""
import pytest
import torch

from graphrec.data import sampled
from graphrec.data.hetero import CLICKS
from graphrec.typing import WITH_NEIGHBOR_SAMPLING
from tests.worlds import clustered_world

needs_sampler = pytest.mark.skipif(
    not WITH_NEIGHBOR_SAMPLING,
    reason="PyG's neighbour samplers need torch-sparse or pyg-lib (pip install graphrec[sampling]); "
           "neither is installed here")


@pytest.fixture(scope="module")
def toy_data():
    return clustered_world()


def test_without_a_sampler_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(sampled, "WITH_NEIGHBOR_SAMPLING", False)
    with pytest.raises(ImportError, match=r"graphrec\[sampling\]"):
        sampled.SampledBPRLoader(torch.tensor([[0], [0]]), 1, 1, [2], batch_size=1)


@needs_sampler
def test_batches_hold_the_triples_and_their_subgraph(toy_data):
    ei = toy_data[CLICKS].edge_index
    nu, ni = toy_data["user"].num_nodes, toy_data["item"].num_nodes
    loader = sampled.SampledBPRLoader(ei, nu, ni, [5, 5], batch_size=128, generator=torch.Generator().manual_seed(0))
    assert len(loader) == (ei.size(1) + 127) // 128
    train = set(map(tuple, ei.t().tolist()))
    seen = 0
    for batch in loader:
        u, p, n = batch["user"], batch["pos"], batch["neg"]
        seen += u.numel()
        assert torch.equal(batch["n_id_user"][batch["seed_user"]], u)
        assert torch.equal(batch["n_id_item"][batch["seed_pos"]], p)
        assert torch.equal(batch["n_id_item"][batch["seed_neg"]], n)
        assert all((a, b) not in train for a, b in zip(u.tolist(), n.tolist()))  # true negatives
        for key, (src, dst) in (("edge_user_item", ("user", "item")), ("edge_item_user", ("item", "user"))):
            e = batch[key]
            gu = batch[f"n_id_{src}"][e[0]]
            gi = batch[f"n_id_{dst}"][e[1]]
            pairs = zip(gu.tolist(), gi.tolist()) if src == "user" else zip(gi.tolist(), gu.tolist())
            assert all(pair in train for pair in pairs)  # every sampled edge is a training edge
    assert seen == ei.size(1)


@needs_sampler
def test_lightgcn_learns_on_sampled_subgraphs(toy_data):
    from graphrec.models import LightGCN, LightGCNConfig, Popularity
    from graphrec.train import TrainConfig, Trainer

    pop = Trainer(Popularity.from_data(toy_data), toy_data, TrainConfig(progress=False)).evaluate("test")
    torch.manual_seed(0)
    model = LightGCN.from_data(toy_data, LightGCNConfig(num_layers=2, num_neighbors="5,5", dim=32))
    trainer = Trainer(model, toy_data, TrainConfig(epochs=10, batch_size=256, lr=0.01, progress=False, seed=0))
    trainer.fit()
    assert trainer.evaluate("test")["ndcg@10"] > 2 * pop["ndcg@10"]
