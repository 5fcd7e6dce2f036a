import doctest

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv

from graphrec.nn.conv import BipartiteGATConv, bipartite_gat_conv, hetero_adjacency
from graphrec.ops import CSRAdjacency

# 4 users -> 3 queries; query 2 has no user (gets only the bias), query 0 has three
EDGES = torch.tensor([[0, 1, 3, 1, 2], [0, 0, 0, 1, 1]])


def dense_gat(conv, x_src, x_dst, edge_index):
    """Per destination: softmax over its sources' scores, weighted sum; heads averaged."""
    H, C = conv.heads, conv.out_channels
    h_src = conv.lin_src(x_src).view(-1, H, C)
    h_dst = conv.lin_dst(x_dst).view(-1, H, C)
    out = torch.zeros(x_dst.size(0), H, C)
    for i in range(x_dst.size(0)):
        src = edge_index[0, edge_index[1] == i]
        if src.numel() == 0:
            continue
        logits = (h_src[src] * conv.att_src).sum(-1) + (h_dst[i] * conv.att_dst[0]).sum(-1)
        alpha = torch.softmax(torch.nn.functional.leaky_relu(logits, 0.2), dim=0)  # (|N(i)|, H)
        out[i] = (alpha.unsqueeze(-1) * h_src[src]).sum(0)
    out = out.reshape(-1, H * C) if conv.concat else out.mean(1)
    return out + conv.bias


@pytest.mark.parametrize("heads,concat", [(1, False), (3, False), (2, True)])
def test_matches_a_dense_reference_on_both_paths(heads, concat):
    torch.manual_seed(heads)
    conv = BipartiteGATConv((5, 3), 4, heads=heads, concat=concat)
    torch.nn.init.normal_(conv.bias)
    x_user, x_query = torch.randn(4, 5), torch.randn(3, 3)
    expected = dense_gat(conv, x_user, x_query, EDGES)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(4, 3), normalize=False)
    torch.testing.assert_close(conv((x_user, x_query), EDGES), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(conv((x_user, x_query), adj), expected, atol=1e-5, rtol=1e-5)
    assert expected.shape == (3, heads * 4 if concat else 4)


def test_gradients_agree_between_segment_kernels_and_message_passing():
    torch.manual_seed(0)
    conv = BipartiteGATConv(4, 4, heads=2)
    x_user, x_query = torch.randn(4, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(4, 3))
    params = (x_user, x_query, conv.att_src, conv.lin_dst.weight)
    g_ei = torch.autograd.grad(conv((x_user, x_query), EDGES).square().sum(), params)
    g_csr = torch.autograd.grad(conv((x_user, x_query), adj).square().sum(), params)
    for a, b in zip(g_ei, g_csr):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_attention_sums_to_one_per_destination_whatever_the_edge_weights():
    # weights stored in the adjacency are ignored: a mean of identical sources is that source
    conv = BipartiteGATConv(2, 2, bias=False)
    with torch.no_grad():
        conv.lin_src.weight.copy_(torch.eye(2))
    x_src = torch.ones(4, 2)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(4, 3), edge_weight=torch.rand(5) + 0.5)
    out = conv((x_src, torch.randn(3, 2)), adj)
    torch.testing.assert_close(out[:2], torch.ones(2, 2))
    assert not out[2].any()  # no incoming edge


def test_dropout_only_while_training_and_bad_settings():
    conv = BipartiteGATConv(4, 4, dropout=0.5).eval()
    x = (torch.randn(4, 4), torch.randn(3, 4))
    torch.testing.assert_close(conv(x, EDGES), conv(x, EDGES))
    with pytest.raises(ValueError, match="heads"):
        BipartiteGATConv(4, 4, heads=0)
    with pytest.raises(ValueError, match="dropout"):
        BipartiteGATConv(4, 4, dropout=1.0)


def test_over_user_item_query_edges_in_heteroconv():
    torch.manual_seed(0)
    data = HeteroData()
    data["user"].num_nodes, data["query"].num_nodes, data["item"].num_nodes = 4, 3, 5
    data["user", "searches", "query"].edge_index = EDGES
    data["query", "leads_to", "item"].edge_index = torch.tensor([[0, 0, 1], [1, 4, 2]])
    data["user", "clicks", "item"].edge_index = torch.tensor([[0, 2, 3], [0, 2, 4]])
    adjs = hetero_adjacency(data, add_reverse=True)
    x = {nt: torch.randn(data[nt].num_nodes, 8) for nt in data.node_types}
    conv = HeteroConv({et: BipartiteGATConv(8, 8, heads=2) for et in adjs}, aggr="sum")
    out_csr = conv(x, adjs)
    edge_index = {et: adj.edge_index() for et, adj in adjs.items()}
    out_ei = conv(x, edge_index)
    assert set(out_csr) == {"user", "query", "item"}
    for nt in out_csr:
        torch.testing.assert_close(out_csr[nt], out_ei[nt], atol=1e-5, rtol=1e-5)


def test_docstring_example():
    res = doctest.testmod(bipartite_gat_conv, globs={"torch": torch, "BipartiteGATConv": BipartiteGATConv})
    assert res.attempted > 0 and res.failed == 0
