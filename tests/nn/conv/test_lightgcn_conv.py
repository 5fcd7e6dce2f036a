import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, LGConv
from torch_geometric.utils import to_torch_csr_tensor

from graphrec.nn.conv import LightGCNConv, hetero_adjacency
from graphrec.ops import CSRAdjacency


def bipartite(num_users=7, num_items=5, num_edges=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, num_users, (num_edges,), generator=g),
                        torch.randint(0, num_items, (num_edges,), generator=g)])


def test_repr_and_no_parameters():
    conv = LightGCNConv()
    assert str(conv) == "LightGCNConv(normalize=True)"
    assert sum(p.numel() for p in conv.parameters()) == 0


def test_matches_pyg_lgconv_on_square_graph():
    ei = bipartite(20, 20, 60)
    ei = torch.cat([ei, ei.flip(0)], 1)  # symmetric, with duplicates
    x = torch.randn(20, 8)
    expected = LGConv()(x, ei)
    conv = LightGCNConv()
    torch.testing.assert_close(conv(x, ei), expected, atol=1e-6, rtol=1e-6)
    adj = CSRAdjacency.from_edge_index(ei, size=(20, 20))
    torch.testing.assert_close(conv(x, adj), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("aggr", ["add", "mean"])
def test_bipartite_edge_index_and_csr_agree(aggr):
    ei = bipartite()
    x_u, x_i = torch.randn(7, 4, requires_grad=True), torch.randn(5, 4)
    conv = LightGCNConv(aggr=aggr)
    adj = CSRAdjacency.from_edge_index(ei, size=(7, 5))
    out_ei = conv((x_u, x_i), ei)
    out_csr = conv(x_u, adj)
    assert out_csr.shape == (5, 4)
    torch.testing.assert_close(out_ei, out_csr, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(conv(x_u, ei, size=(7, 5)), out_csr, atol=1e-6, rtol=1e-6)
    g_ei, = torch.autograd.grad(out_ei.square().sum(), x_u)
    g_csr, = torch.autograd.grad(out_csr.square().sum(), x_u)
    torch.testing.assert_close(g_ei, g_csr, atol=1e-6, rtol=1e-6)
    # reverse direction: items -> users through the cached transpose
    torch.testing.assert_close(conv((x_i, x_u), ei.flip(0)), conv(x_i, adj.t()),
                               atol=1e-6, rtol=1e-6)


def test_edge_weight_and_torch_sparse_path():
    ei = bipartite(6, 6, 25, seed=2)
    w = torch.rand(25)
    x = torch.randn(6, 3)
    conv = LightGCNConv()
    adj = CSRAdjacency.from_edge_index(ei, size=(6, 6), edge_weight=w)
    torch.testing.assert_close(conv(x, ei, w), conv(x, adj), atol=1e-6, rtol=1e-6)
    # a torch sparse adjacency carries its own weights (normalisation not re-applied)
    sp = to_torch_csr_tensor(torch.stack([adj.row.long(), adj.col.long()]), adj.weight,
                             size=(6, 6))
    torch.testing.assert_close(LightGCNConv(normalize=False)(x, ei, adj.weight[adj.perm.argsort()]),
                               conv(x, sp), atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="edge_weight"):
        conv(x, adj, w)


def test_empty_graph():
    conv = LightGCNConv()
    adj = CSRAdjacency.from_edge_index(torch.empty(2, 0, dtype=torch.long), size=(3, 4))
    out = conv(torch.randn(3, 2), adj)
    assert out.shape == (4, 2) and not out.any()
    out = conv((torch.randn(3, 2), torch.randn(4, 2)), torch.empty(2, 0, dtype=torch.long))
    assert out.shape == (4, 2) and not out.any()


def test_hetero_conv():
    data = HeteroData()
    data["user"].x = torch.randn(7, 4)
    data["item"].x = torch.randn(5, 4)
    data["user", "clicks", "item"].edge_index = bipartite()
    data["item", "rev_clicks", "user"].edge_index = bipartite().flip(0)
    hconv = HeteroConv({et: LightGCNConv() for et in data.edge_types}, aggr="sum")
    out_ei = hconv(data.x_dict, data.edge_index_dict)
    adjs = hetero_adjacency(data)
    out_csr = hconv(data.x_dict, adjs)
    for k in out_ei:
        torch.testing.assert_close(out_ei[k], out_csr[k], atol=1e-6, rtol=1e-6)
    adjs2 = hetero_adjacency(data, edge_types=[("user", "clicks", "item")], add_reverse=True)
    assert adjs2[("item", "rev_clicks", "user")] is adjs2[("user", "clicks", "item")].t()


def test_compile_no_graph_breaks():
    import torch._dynamo

    ei = bipartite(30, 20, 120)
    adj = CSRAdjacency.from_edge_index(ei, size=(30, 20))
    conv = LightGCNConv()
    x = torch.randn(30, 8, requires_grad=True)

    def step(x):
        items = conv(x, adj)
        users = conv(items, adj.t())
        return users

    torch._dynamo.reset()
    explanation = torch._dynamo.explain(step)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    torch.testing.assert_close(out, step(x))
    g1, = torch.autograd.grad(out.sum(), x)
    g2, = torch.autograd.grad(step(x).sum(), x)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("w,msg", [
    ([1.0, -2.0, 1.0], r"edge_weight\[1\]=-2.0 is negative, but normalize=True needs "
                       r"non-negative edge weights"),
    ([1.0, 1.0, float("nan")], r"edge_weight\[2\]=nan is not finite"),
    ([float("-inf"), 1.0, 1.0], r"edge_weight\[0\]=-inf is not finite"),
])
def test_normalize_rejects_negative_and_non_finite_weights(w, msg):
    # Issue 12: a mixed-sign edge_weight with normalize=True gave NaN.
    ei = torch.tensor([[0, 1, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match=f"^LightGCNConv \\(normalize=True\\): {msg}"):
        LightGCNConv()(torch.ones(2, 3), ei, torch.tensor(w))


def test_signed_weights_without_normalize_and_zero_weights():
    ei = torch.tensor([[0, 1, 1], [0, 0, 1]])
    x = torch.randn(2, 3)
    w = torch.tensor([1.0, -2.0, 1.0])
    out = LightGCNConv(normalize=False)(x, ei, w)
    torch.testing.assert_close(out, torch.stack([x[0] - 2 * x[1], x[1]]))
    # zero weights are non-negative: allowed, and finite
    out = LightGCNConv()(x, ei, torch.tensor([1.0, 0.0, 1.0]))
    assert torch.isfinite(out).all()
