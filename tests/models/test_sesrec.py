import pytest
import torch

from graphrec.data.hetero import train_history
from graphrec.data.loader import NegativeSampler
from graphrec.models import Popularity, SESRec, SESRecConfig
from graphrec.models.sesrec import co_attention_split
from graphrec.train.run import build_model, load_dataset
from graphrec.train.trainer import TrainConfig, Trainer

SMALL = {"dim": 16, "num_heads": 2, "align_negatives": 64, "mlp_dims": (32, 16)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHREC_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset("synthetic", None, num_users=500, num_items=600)[0]


def test_co_attention_split_hand_case():
    a = torch.tensor([[0.0, 0.5, 0.3, 0.2], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    valid = torch.tensor([[False, True, True, True], [False, False, True, True], [False, False, False, False]])
    sim, dis = co_attention_split(a, valid)
    # row 0: 1/n = 1/3, similar = {0.5}, dissimilar = {0.3, 0.2}
    assert sim[0].tolist() == [False, True, False, False] and dis[0].tolist() == [False, False, True, True]
    # row 1: every weight is 1/n -> all similar, so the dissimilar side falls back to every real entry
    assert sim[1].tolist() == [False, False, True, True] and dis[1].tolist() == [False, False, True, True]
    assert not sim[2].any() and not dis[2].any()


def test_loss_parts_and_a_user_without_searches(world):
    torch.manual_seed(0)
    model = SESRec.from_data(world, SESRecConfig(**SMALL))
    batch = next(iter(model.train_inputs().loader(world, batch_size=64, generator=torch.Generator().manual_seed(0))))
    out = model.loss(batch)
    assert set(out) == {"loss", "bce", "align", "triplet"} and torch.isfinite(out["loss"])
    empty = {**batch, "search_query": torch.zeros_like(batch["search_query"]),
             "search_item": torch.zeros_like(batch["search_item"])}
    out = model.loss(empty)
    assert set(out) == {"loss", "bce", "triplet"} and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_alignment_prefers_the_clicked_item():
    torch.manual_seed(0)
    model = SESRec(4, 50, (torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2])), num_words=3,
                   config=SESRecConfig(**SMALL))
    query, item = torch.tensor([1, 2, 3]), torch.tensor([5, 6, 7])
    before = model.alignment_loss(query, item)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(50):
        opt.zero_grad()
        model.alignment_loss(query, item).backward()
        opt.step()
    assert model.alignment_loss(query, item) < before


def test_pair_scores_equal_full_ranking(world):
    model = SESRec.from_data(world, SESRecConfig(**SMALL, full_rank_block=128)).eval()
    hist = model.train_inputs().eval_history(world, "test").select(torch.arange(4))
    items = torch.randint(600, (4, 9), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model.score(torch.arange(4), items, hist),
                          model.full_scores(torch.arange(4), hist).gather(1, items), atol=1e-5)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="dim"):
        SESRecConfig(dim=30, num_heads=4)
    with pytest.raises(ValueError, match="mlp_dims"):
        SESRecConfig(mlp_dims=())
    with pytest.raises(ValueError, match="negatives"):
        SESRecConfig(negatives="pop")


def test_popularity_negatives_follow_the_training_clicks(world):
    """The authors' draw: negatives in proportion to the items' training clicks (never a
    positive of the user either way), so the most clicked tenth of the items is drawn far more
    often than the least clicked, where uniform draws take them alike."""
    clicks = train_history(world)
    counts = torch.bincount(clicks.values, minlength=world["item"].num_nodes)
    drawn = {}
    for kind in ("popularity", "uniform"):
        model = SESRec.from_data(world, SESRecConfig(**SMALL, negatives=kind))
        loader = model.train_inputs().loader(world, batch_size=256, generator=torch.Generator().manual_seed(0))
        batches = list(loader)
        neg = torch.cat([b["neg"].flatten() for b in batches]) - 1
        user = torch.cat([b["user"].repeat_interleave(b["neg"].size(1)) for b in batches])
        assert not NegativeSampler(clicks, world["item"].num_nodes).is_positive(user, neg).any()
        drawn[kind] = torch.bincount(neg, minlength=counts.numel())
    order = counts.argsort()
    tenth = counts.numel() // 10
    ratio = {k: (d[order[-tenth:]].sum() / d[order[:tenth]].sum()).item() for k, d in drawn.items()}
    clicked = (counts[order[-tenth:]].sum() / counts[order[:tenth]].sum()).item()
    assert clicked > 3 and ratio["uniform"] < 1.5 and ratio["popularity"] > 0.7 * clicked, (ratio, clicked)


@pytest.mark.slow
def test_sesrec_learns_beyond_popularity(world):
    """CI-sized: six epochs at the authors' sizes (0.339 against Popularity's 0.064 when written)."""
    train = {"epochs": 6, "batch_size": 256, "lr": 3e-3, "progress": False, "num_threads": 1, "patience": 100,
             "protocol": "sampled-99", "metric": "ndcg@5", "ks": (1, 5)}
    pop = Trainer(Popularity.from_data(world), world, TrainConfig(**train)).evaluate("test")
    model, _ = build_model(SESRec, world, SESRecConfig(align_negatives=64), TrainConfig(**train))
    trainer = Trainer(model, world, TrainConfig(**train))
    trainer.fit()
    res = trainer.evaluate("test")
    assert res["ndcg@5"] > 1.5 * pop["ndcg@5"], (res["ndcg@5"], pop["ndcg@5"])
