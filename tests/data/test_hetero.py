import pytest
import torch

from graphrec.data.hetero import (
    CLICKS,
    LEADS_TO,
    SEARCHES,
    add_edge_type,
    build_hetero_data,
    eval_targets,
    history,
    train_history,
)
from graphrec.data.logs import BehaviourLogs, ItemInfo, RecLog
from graphrec.data.ragged import Ragged
from graphrec.data.split import leave_one_out
from tests.data.test_split import make_logs


def test_graph_holds_only_training_edges_and_heldout_pairs():
    logs = make_logs()
    data = build_hetero_data(logs, leave_one_out(logs))
    data.validate()
    assert set(data.node_types) == {"user", "item", "query"}
    assert data[CLICKS].edge_index.size(1) == 5
    assert data["item", "rev_clicks", "user"].edge_index.equal(data[CLICKS].edge_index.flip(0))
    assert data[CLICKS].test_edge_index.t().tolist() == [[0, 4], [1, 7]]
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
