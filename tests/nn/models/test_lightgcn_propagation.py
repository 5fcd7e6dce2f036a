import doctest

import pytest
import torch

from graphrec.nn.models import LightGCNPropagation, lightgcn_propagation
from graphrec.ops import CSRAdjacency

# 3 users x 4 items; item 3's only user is 2, user 0 has no second-hop items beyond 0/1
EDGES = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 1, 2, 3]])


def dense_lightgcn(user, item, num_layers):
    A = torch.zeros(3, 4)
    A[EDGES[0], EDGES[1]] = 1.0
    norm = A / torch.sqrt(A.sum(1)[:, None] * A.sum(0)[None, :])
    u, i, su, si = user, item, user, item
    for _ in range(num_layers):
        u, i = norm @ i, norm.t() @ u
        su, si = su + u, si + i
    return su / (num_layers + 1), si / (num_layers + 1)


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_csr_and_edge_index_paths_match_dense(num_layers):
    g = torch.Generator().manual_seed(num_layers)
    x_user = torch.randn(3, 8, generator=g, requires_grad=True)
    x_item = torch.randn(4, 8, generator=g, requires_grad=True)
    prop = LightGCNPropagation(num_layers)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(3, 4))
    eu, ei = dense_lightgcn(x_user, x_item, num_layers)
    grads = []
    for graph in (adj, EDGES):
        u, i = prop(x_user, x_item, graph)
        assert torch.allclose(u, eu, atol=1e-6) and torch.allclose(i, ei, atol=1e-6)
        grads.append(torch.autograd.grad((u.square().sum() + i.sum()), (x_user, x_item)))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))


def test_no_parameters_and_bad_layers():
    assert list(LightGCNPropagation(2).parameters()) == []
    assert repr(LightGCNPropagation(2)) == "LightGCNPropagation(num_layers=2)"
    with pytest.raises(ValueError, match=">= 0"):
        LightGCNPropagation(-1)


def test_docstring_example():
    globs = {"torch": torch, "CSRAdjacency": CSRAdjacency, "LightGCNPropagation": LightGCNPropagation}
    res = doctest.testmod(lightgcn_propagation, globs=globs)
    assert res.attempted > 0 and res.failed == 0
