"""GraphCF builds its layers by registered name: the bundled ones, and one defined here."""
import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphrec.config import ConfigError
from graphrec.data.datasets import SyntheticSearchRec
from graphrec.data.hetero import CLICKS
from graphrec.data.loader import BPRLoader
from graphrec.data.schema import GraphSchemaError
from graphrec.models import NGCF, GraphCF, GraphCFConfig, LightGCN, LightGCNConfig
from graphrec.ops import CSRAdjacency, spmm
from graphrec.resolver import _CONV_NAMES, _CONVS, conv_names, normalize_string, register_conv
from graphrec.train import TrainConfig, Trainer


@pytest.fixture
def scaled_sum_layer():
    """A user's own layer, registered from outside the package: a learned scale on
    the mean of the neighbours (a CSRAdjacency or an edge_index)."""

    @register_conv("scaled_mean")
    class ScaledMeanConv(nn.Module):
        def __init__(self, in_channels: int, out_channels: int, init: float = 1.0) -> None:
            super().__init__()
            self.init = init
            self.scale = nn.Parameter(torch.empty(out_channels))
            self.reset_parameters()

        def reset_parameters(self) -> None:  # the model calls it when it (re)initialises
            nn.init.constant_(self.scale, self.init)

        def forward(self, x, adj) -> Tensor:
            x_src, x_dst = x
            if not isinstance(adj, CSRAdjacency):
                adj = CSRAdjacency.from_edge_index(adj, size=(x_src.size(0), x_dst.size(0)))
            return self.scale * spmm(adj, x_src, reduce="mean")

    yield ScaledMeanConv
    _CONVS.pop(normalize_string("scaled_mean"))
    _CONV_NAMES.pop(normalize_string("scaled_mean"))


def batch_of(data, size=64):
    return next(iter(BPRLoader(data[CLICKS].edge_index, data["item"].num_nodes, size,
                               generator=torch.Generator().manual_seed(0))))


def test_bundled_layers_are_registered():
    assert {"lightgcn", "ngcf", "gat"} <= set(conv_names())


def test_with_lightgcn_layers_it_is_lightgcn(toy_data):
    torch.manual_seed(0)
    ref = LightGCN.from_data(toy_data, LightGCNConfig(num_layers=2)).eval()
    model = GraphCF.from_data(toy_data, GraphCFConfig(num_layers=2)).eval()
    with torch.no_grad():
        model.emb["user"].weight.copy_(ref.user_emb.weight)
        model.emb["item"].weight.copy_(ref.item_emb.weight)
    for a, b in zip(model.get_embedding(), ref.get_embedding()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("conv,options", [("lightgcn", ""), ("ngcf", ""), ("gat", "{heads: 2}")])
def test_csr_and_edge_index_paths_agree(conv, options, toy_data):
    torch.manual_seed(0)
    a = GraphCF.from_data(toy_data, GraphCFConfig(conv=conv, conv_options=options, num_layers=2))
    b = GraphCF.from_data(toy_data, GraphCFConfig(conv=conv, conv_options=options, num_layers=2,
                                                  propagation="edge_index"))
    b.load_state_dict(a.state_dict())
    batch = batch_of(toy_data)
    la, lb = a.loss(batch)["loss"], b.loss(batch)["loss"]
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-5)
    la.backward()
    lb.backward()
    torch.testing.assert_close(a.emb["user"].weight.grad, b.emb["user"].weight.grad, atol=1e-5, rtol=1e-5)


def test_a_layer_defined_here_trains_by_name(scaled_sum_layer, toy_data):
    torch.manual_seed(0)
    model = GraphCF.from_data(toy_data, GraphCFConfig(conv="scaled_mean", conv_options="{init: 0.5}",
                                                      num_layers=2, dim=16))
    layer = model.convs[0].convs[CLICKS]  # HeteroConv indexes by edge type
    assert isinstance(layer, scaled_sum_layer)
    assert torch.equal(layer.scale, torch.full((16,), 0.5))
    trainer = Trainer(model, toy_data, TrainConfig(epochs=3, batch_size=512, lr=0.01, progress=False, seed=0))
    trainer.fit()
    assert not torch.equal(layer.scale.detach(), torch.full((16,), 0.5))  # its parameter learned
    assert trainer.evaluate("test")["ndcg@10"] > 0


def test_unknown_layer_and_bad_options_are_config_errors(scaled_sum_layer):
    with pytest.raises(ConfigError, match="unknown layer 'nope'.*gat.*lightgcn.*ngcf"):
        GraphCFConfig(conv="nope")
    with pytest.raises(ConfigError, match="conv_options"):
        GraphCFConfig(conv_options="[1, 2]")
    with pytest.raises(ValueError, match="takes no option 'heads'.*accepts: init"):
        GraphCF(num_nodes={"user": 3, "item": 2}, edge_index={CLICKS: torch.tensor([[0], [1]])},
                conv="scaled_mean", conv_options="{heads: 2}")


def test_a_layer_that_changes_the_width_is_refused(toy_data):
    model = GraphCF.from_data(toy_data, GraphCFConfig(conv="gat", conv_options="{heads: 2, concat: true}",
                                                      dim=8, num_layers=1))
    with pytest.raises(ValueError, match="returned 16 features.*dim=8"):
        model.get_embedding()


def test_search_relations_need_the_search_graph(toy_data, tmp_path):
    with pytest.raises(GraphSchemaError, match=r"needs edge type \('user', 'searches', 'query'\).*it has edge types"):
        GraphCF.from_data(toy_data, GraphCFConfig(relations="clicks,search"))
    data = SyntheticSearchRec(cache_dir=str(tmp_path), num_users=60, num_items=40)[0]
    torch.manual_seed(0)
    model = GraphCF.from_data(data, GraphCFConfig(relations="clicks,search", conv="gat", num_layers=2, dim=16))
    assert set(model.emb) == {"user", "item", "query"}
    assert len(model.convs[0].convs) == 6  # three types and their reverses
    out = model.loss(batch_of(data, 32))["loss"]
    out.backward()
    assert model.emb["query"].weight.grad.abs().sum() > 0  # queries take part in the propagation


def test_a_node_type_nobody_sends_to_keeps_zeros():
    data = HeteroData()
    data["user"].num_nodes, data["item"].num_nodes = 3, 2
    data[CLICKS].edge_index = torch.tensor([[0, 1], [0, 0]])
    model = GraphCF.from_data(data, GraphCFConfig(dim=4, num_layers=1, combine="last")).eval()
    users, items = model.get_embedding()
    assert not users[2].any() and not items[1].any()  # isolated user / item


@pytest.mark.parametrize("combine,width", [("mean", 8), ("sum", 8), ("last", 8), ("concat", 24)])
def test_combine(combine, width, toy_data):
    model = GraphCF.from_data(toy_data, GraphCFConfig(dim=8, num_layers=2, combine=combine)).eval()
    assert model.get_embedding()[0].shape == (toy_data["user"].num_nodes, width)


def test_ngcf_defaults_and_eval_cache(toy_data):
    model = NGCF.from_data(toy_data)
    assert model.config.conv == "ngcf" and model.config.combine == "concat"
    assert NGCF.train_defaults == {"batch_size": 1024, "lr": 1e-4}
    model.eval()
    users, _ = model.get_embedding()
    assert users.shape[1] == 64 * 4
    layers = users.view(users.size(0), 4, 64).norm(dim=-1)  # layer 0 as is, layers 1-3 unit length
    torch.testing.assert_close(layers[:, 1:], torch.ones(users.size(0), 3))
    torch.testing.assert_close(layers[:, 0], model.emb["user"].weight.norm(dim=-1))
    assert model.get_embedding()[0] is users  # cached while evaluating
    model.train()
    assert model._cache is None


@pytest.mark.parametrize("conv", ["ngcf", "gat", "scaled_mean"])
def test_every_layer_learns_beyond_popularity(conv, scaled_sum_layer, toy_data):
    """Held-out items of the clustered world: users stay in their item cluster, which
    popularity cannot see; a few epochs of any layer must rank them better."""
    from graphrec.models import Popularity

    pop = Trainer(Popularity.from_data(toy_data), toy_data, TrainConfig(progress=False)).evaluate("test")
    torch.manual_seed(0)
    model = GraphCF.from_data(toy_data, GraphCFConfig(conv=conv, dim=32, num_layers=2))
    trainer = Trainer(model, toy_data, TrainConfig(epochs=6, batch_size=256, lr=0.01, progress=False, seed=0))
    trainer.fit()
    assert trainer.evaluate("test")["ndcg@10"] > 2 * pop["ndcg@10"]
