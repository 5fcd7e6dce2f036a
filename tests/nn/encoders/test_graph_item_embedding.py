import pytest
import torch

from graphrec.nn.encoders import GraphItemEmbedding
from graphrec.ops import CSRAdjacency

# 3 users x 4 items
EDGES = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 1, 2, 3]])


def dense_lightgcn(user, item, num_layers):
    A = torch.zeros(3, 4)
    A[EDGES[0], EDGES[1]] = 1.0
    du, di = A.sum(1), A.sum(0)
    norm = A / torch.sqrt(du[:, None] * di[None, :])
    u, i, total = user, item, item
    for _ in range(num_layers):
        u, i = norm @ i, norm.t() @ u
        total = total + i
    return total / (num_layers + 1)


def test_without_layers_it_is_a_plain_embedding():
    emb = GraphItemEmbedding(4, 8)
    assert set(emb.state_dict()) == {"weight"} and emb.weight.shape == (5, 8)
    assert torch.all(emb.weight[0] == 0) and emb.table() is emb.weight
    ids = torch.tensor([[0, 2, 4]])
    assert torch.equal(emb(ids), emb.weight[ids])


@pytest.mark.parametrize("num_layers", [1, 2])
def test_layers_match_dense_lightgcn_and_train_both_tables(num_layers):
    torch.manual_seed(0)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(3, 4))
    emb = GraphItemEmbedding(4, 8, adj, num_layers)
    table = emb.table()
    assert torch.all(table[0] == 0)
    expected = dense_lightgcn(emb.user.weight, emb.weight[1:], num_layers)
    assert torch.allclose(table[1:], expected, atol=1e-6)
    ids = torch.tensor([[0, 1, 4]])
    assert torch.allclose(emb(ids), table[ids], atol=1e-7)
    emb(ids).sum().backward()
    assert emb.user.weight.grad.abs().sum() > 0 and emb.weight.grad[1:].abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="needs the user-item adjacency"):
        GraphItemEmbedding(4, 8, None, 1)
    with pytest.raises(ValueError, match="5 item columns, expected 4"):
        GraphItemEmbedding(4, 8, CSRAdjacency.from_edge_index(EDGES, size=(3, 5)), 1)
    with pytest.raises(ValueError, match=">= 0"):
        GraphItemEmbedding(4, 8, None, -1)
