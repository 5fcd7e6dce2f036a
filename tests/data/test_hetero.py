import numpy as np
import pytest
import torch
import torch_geometric.transforms as T
import torch_geometric.typing
from torch_geometric.nn import SAGEConv, to_hetero

from graphrec.data.datasets.synthetic import SyntheticConfig, generate_world
from graphrec.data.hetero import (
    CLICKS,
    HAS_ATTR,
    LEADS_TO,
    SEARCHES,
    _heldout,
    add_edge_type,
    add_reverse_edges,
    attr_field_edges,
    build_hetero_data,
    eval_targets,
    has_heldout,
    heldout,
    history,
    is_reverse,
    reverse,
    train_history,
)
from graphrec.data.io import item_info_from_table
from graphrec.data.logs import BehaviourLogs, IdMap, ItemInfo, LogError, RecLog
from graphrec.data.ragged import Ragged
from graphrec.data.split import leave_one_out
from tests.data.test_split import make_logs


def test_graph_holds_only_training_edges_and_heldout_pairs():
    logs = make_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    data.validate()
    assert set(data.node_types) == {"user", "item", "query"}
    assert data[CLICKS].edge_index.size(1) == 5
    assert heldout(data, "test")[0].t().tolist() == [[0, 4], [1, 7]]
    assert data.protocol == "leave_one_out"
    # only the two visible search rows, as user->query and query->item
    assert data[SEARCHES].edge_index.size(1) == 2
    assert data[LEADS_TO].edge_index.t().tolist() == [[0, 3], [1, 7]]


def test_histories_are_chronological_csr():
    logs = make_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    assert train_history(data).tolist() == [[0, 1, 2], [5], [0]]
    assert history(data, "test").tolist() == [[0, 1, 2, 3], [5, 6], [0]]


def test_eval_targets_mask_history_but_never_the_target():
    # user 0 re-consumes item 1 as its test item: item 1 must stay rankable
    rec = RecLog(torch.tensor([0, 0, 0, 0]), torch.tensor([1, 2, 3, 1]),
                 torch.tensor([1, 2, 3, 4.0]), 1, 5)
    logs = BehaviourLogs(rec)
    data = build_hetero_data(logs, leave_one_out(logs))
    users, targets, exclude = eval_targets(data, "test")
    assert users.tolist() == [0] and targets.tolist() == [[1]]
    assert exclude.tolist() == [[2, 3]]
    _, _, ex_valid = eval_targets(data, "valid")
    assert ex_valid.tolist() == [[1, 2]]


def test_item_attributes_and_user_defined_edges():
    logs = make_logs(with_search=False)
    logs.items = ItemInfo(8, Ragged.from_lists([[0], [1], [0, 1], [], [], [2], [2], [0]]), 3)
    data = build_hetero_data(logs, leave_one_out(logs),
                             extra_edges={("user", "follows", "user"): torch.tensor([[0, 1], [1, 2]])})
    assert data["item", "has", "attr"].edge_index.size(1) == 7
    assert data["user", "follows", "user"].edge_index.tolist() == [[0, 1], [1, 2]]
    with pytest.raises(ValueError, match="out of range"):
        add_edge_type(data, ("user", "likes", "item"), torch.tensor([[0], [99]]))
    with pytest.raises(ValueError, match="not in the graph"):
        add_edge_type(data, ("user", "has_code", "code"), torch.tensor([[0], [0]]))


# ---- PyG conventions: held-out pairs as link labels, reverses, x, attribute fields ---------

def _training_pairs(data):
    return set(map(tuple, data[CLICKS].edge_index.t().tolist()))


def test_heldout_pairs_are_graph_level_link_labels_never_message_passing_edges():
    logs = make_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    assert data.edge_label_type == CLICKS
    va_index, va_time = heldout(data, "valid")
    te_index, te_time = heldout(data, "test")
    assert va_index.t().tolist() == [[0, 3], [1, 6]] and va_time.tolist() == [4.0, 2.0]
    assert te_index.t().tolist() == [[0, 4], [1, 7]] and te_time.tolist() == [5.0, 3.0]
    assert data.valid_edge_label_index is va_index and data.test_edge_label_time is te_time
    # the edge stores hold training edges and per-edge attributes only
    for store in data.edge_stores:
        assert set(store.keys()) <= {"edge_index", "time", "item"}
        n = store.edge_index.size(1)
        assert all(v.size(0) == n for k, v in store.items() if k != "edge_index")
    assert not _training_pairs(data) & {(0, 3), (1, 6), (0, 4), (1, 7)}
    assert set(data.edge_index_dict) == set(data.edge_types)
    assert has_heldout(data, "valid") and has_heldout(data, "test")
    assert _heldout is heldout
    with pytest.raises(ValueError, match="'valid' or 'test'"):
        heldout(data, "train")
    del data["valid_edge_label_index"]
    with pytest.raises(KeyError, match="force_reload"):
        heldout(data, "valid")


def test_no_heldout_pairs_when_the_split_has_none():
    rec = RecLog(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2, 3, 1.0]), 2, 3)
    logs = BehaviourLogs(rec)
    split = leave_one_out(logs)
    assert split.valid.numel() == 1
    split.valid = split.valid[:0]
    data = build_hetero_data(logs, split)
    assert heldout(data, "valid")[0].shape == (2, 0) and not has_heldout(data, "valid")


@pytest.mark.skipif(not (torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE),
                    reason="heterogeneous neighbour sampling needs pyg-lib or torch-sparse")
def test_heldout_labels_feed_pyg_link_neighbor_loader():
    from torch_geometric.loader import LinkNeighborLoader
    logs = make_logs()
    data = T.ToUndirected()(build_hetero_data(logs, leave_one_out(logs)))
    loader = LinkNeighborLoader(data, num_neighbors=[-1], batch_size=2, shuffle=False,
                                edge_label_index=(data.edge_label_type, data.test_edge_label_index))
    batch = next(iter(loader))
    label = batch[CLICKS].edge_label_index
    pairs = torch.stack([batch["user"].n_id[label[0]], batch["item"].n_id[label[1]]])
    assert pairs.t().tolist() == [[0, 4], [1, 7]]


@pytest.mark.parametrize("with_reverse", [False, True])
def test_to_undirected_adds_each_reverse_once_and_no_rev_rev_types(with_reverse):
    logs = make_logs()
    logs.items = ItemInfo(8, Ragged.from_lists([[0], [1], [0, 1], [], [], [2], [2], [0]]), 3)
    data = build_hetero_data(logs, leave_one_out(logs), with_reverse=with_reverse)
    forward = [et for et in data.edge_types if not is_reverse(et)]
    assert {CLICKS, SEARCHES, LEADS_TO, HAS_ATTR} == set(forward)
    if with_reverse:
        assert set(data.edge_types) == set(forward) | {reverse(et) for et in forward}
        undirected = add_reverse_edges(data.clone())
    else:
        assert set(data.edge_types) == set(forward)  # stored directed, as PyG's datasets are
        undirected = T.ToUndirected()(data.clone())
    assert set(undirected.edge_types) == set(forward) | {reverse(et) for et in forward}
    assert not any(rel.startswith("rev_rev_") for _, rel, _ in undirected.edge_types)
    rev = undirected["item", "rev_clicks", "user"]
    assert rev.edge_index.equal(data[CLICKS].edge_index.flip(0))
    assert rev.time.equal(data[CLICKS].time)
    assert undirected["query", "rev_searches", "user"].item.equal(data[SEARCHES].item)
    # the held-out labels are untouched and never copied onto a reverse store
    assert undirected.test_edge_label_index.equal(data.test_edge_label_index)
    assert all("edge_label" not in k for s in undirected.edge_stores for k in s.keys())
    # our helper matches the transform and is idempotent
    helped = add_reverse_edges(add_reverse_edges(build_hetero_data(logs, leave_one_out(logs))))
    assert set(helped.edge_types) == set(undirected.edge_types)
    for et in helped.edge_types:
        assert helped[et].edge_index.equal(undirected[et].edge_index)


def test_to_undirected_merges_a_user_defined_same_type_relation():
    logs = make_logs(with_search=False)
    data = build_hetero_data(logs, leave_one_out(logs),
                             extra_edges={("user", "follows", "user"): torch.tensor([[0, 1], [1, 2]])})
    out = T.ToUndirected()(data)
    assert set(out.edge_types) == {CLICKS, ("user", "follows", "user"), ("item", "rev_clicks", "user")}
    assert out["user", "follows", "user"].edge_index.size(1) == 4


def test_attribute_fields_index_attributes_per_field():
    logs = make_logs(with_search=False)
    # attrs 0, 1 are categories, 2 a brand
    logs.items = ItemInfo(8, Ragged.from_lists([[0], [1], [0, 2], [], [], [2], [1, 2], [0]]), 3,
                          attr_field=torch.tensor([0, 0, 1]), attr_fields=["category", "brand"])
    data = build_hetero_data(logs, leave_one_out(logs))
    assert data.attr_fields == ["category", "brand"]
    assert data["attr"].field.tolist() == [0, 0, 1]
    assert data[HAS_ATTR].edge_index.size(1) == 8  # the all-fields edge type still works
    assert attr_field_edges(data, "brand").t().tolist() == [[2, 2], [5, 2], [6, 2]]
    assert attr_field_edges(data, 0).size(1) == 5
    with pytest.raises(ValueError, match="unknown attribute field"):
        attr_field_edges(data, "colour")
    # without field information every attribute is in one field
    logs.items = ItemInfo(8, Ragged.from_lists([[0], [1], [0, 2], [], [], [2], [1, 2], [0]]), 3)
    plain = build_hetero_data(logs, leave_one_out(logs))
    assert plain.attr_fields == ["attr"] and plain["attr"].field.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="attr_fields"):
        ItemInfo(8, logs.items.attrs, 3, attr_field=torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="expected num_attrs=3"):
        ItemInfo(8, logs.items.attrs, 3, attr_field=torch.tensor([0, 1]), attr_fields=["a", "b"])


def test_attribute_fields_from_named_columns():
    table = {"item": np.array([0, 1, 2]), "brand": np.array(["x", "y", "x"]),
             "cate": np.array([7, 7, 8])}
    info = item_info_from_table(table, "meta.tsv", IdMap.identity(3),
                                {"item": "item", "attrs": ["brand", "cate"]})
    field, names = info.fields()
    assert names == ["brand", "cate"]
    assert [(info.attr_names[a], names[f]) for a, f in enumerate(field.tolist())] == [
        ("brand=x", "brand"), ("brand=y", "brand"), ("cate=7", "cate"), ("cate=8", "cate")]


class _GNN(torch.nn.Module):
    def __init__(self, hidden: int, out: int) -> None:
        super().__init__()
        self.conv1 = SAGEConv((-1, -1), hidden)
        self.conv2 = SAGEConv((-1, -1), out)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_to_hetero_runs_on_a_graphrec_graph():
    logs = generate_world(SyntheticConfig(num_users=60, num_items=40, num_topics=4, num_brands=8,
                                          mean_rec_interactions=8.0))
    data = T.ToUndirected()(build_hetero_data(logs, leave_one_out(logs)))
    assert len(data.edge_types) == 8 and not any(rel.startswith("rev_rev_") for _, rel, _ in data.edge_types)
    assert data["user"].x.shape == (60, 6) and data["user"].x.dtype == torch.float32
    assert data.attr_fields == ["category", "brand"]
    assert "x" not in data["item"] and "x" not in data["query"]
    g = torch.Generator().manual_seed(0)
    for node_type in data.node_types:  # node types without features get random ones
        if "x" not in data[node_type]:
            data[node_type].x = torch.randn(data[node_type].num_nodes, 6, generator=g)
    torch.manual_seed(0)
    model = to_hetero(_GNN(16, 8), data.metadata(), aggr="sum")
    out = model(data.x_dict, data.edge_index_dict)
    assert set(out) == set(data.node_types)
    for node_type in data.node_types:
        assert out[node_type].shape == (data[node_type].num_nodes, 8)
        assert bool(torch.isfinite(out[node_type]).all())
    # scores of the held-out test pairs, as a link predictor would compute them
    index, _ = heldout(data, "test")
    scores = (out["user"][index[0]] * out["item"][index[1]]).sum(-1)
    assert scores.shape == (60,)
    scores.sum().backward()


def test_visible_impressions_stop_before_the_held_out_time():
    from graphrec.data.datasets.synthetic import simulate_world
    from graphrec.data.hetero import visible_impressions
    from graphrec.data.logs import ImpressionLog

    cfg = SyntheticConfig(num_users=80, num_items=60, num_topics=4, num_brands=8, mean_rec_interactions=8.0)
    world = simulate_world(cfg)
    logs, imp = world.logs, world.logs.impressions
    # the clicked impressions are the interactions; the same logs as without the skipped slates
    assert int(imp.clicked.sum()) == len(logs.rec)
    assert torch.equal(generate_world(cfg).rec.item, logs.rec.item)
    split = leave_one_out(logs)
    data = build_hetero_data(logs, split)
    shown, clicked = visible_impressions(data)
    held = torch.cat([split.valid, split.test])
    cutoff = torch.full((80,), float("inf"), dtype=torch.float64).scatter_reduce(
        0, logs.rec.user[held], logs.rec.time[held], "amin")
    for user in range(0, 80, 9):
        mine = torch.nonzero((imp.user == user) & (imp.time < cutoff[user])).flatten()
        order = mine[torch.argsort(imp.time[mine], stable=True)]
        assert shown[user].tolist() == imp.item[order].tolist()  # every one before the cutoff, in time order
        assert clicked[shown.ptr[user]:shown.ptr[user + 1]].tolist() == imp.clicked[order].tolist()
    # never the held-out items' slates: no visible click at or after a user's held-out time
    assert int(clicked.sum()) <= split.train.numel()
    assert visible_impressions(build_hetero_data(generate_world(cfg), split)) is None
    with pytest.raises(LogError, match="'clicked' has 1 rows, expected 2"):
        ImpressionLog(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0.0, 1.0]), 2, 2,
                      clicked=torch.tensor([True]))
    # active days: distinct calendar days (seconds) per user, 0 for a user shown nothing
    hand = ImpressionLog(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 1, 0, 1]),
                         torch.tensor([10.0, 100.0, 90000.0, 200000.0]), 3, 2, clicked=torch.tensor([1, 0, 0, 1]))
    assert hand.active_days().tolist() == [2, 1, 0]
    with pytest.raises(LogError, match="clicked flag"):
        ImpressionLog(torch.tensor([0]), torch.tensor([0]), torch.tensor([0.0]), 1, 1)
