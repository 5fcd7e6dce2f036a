import doctest

import pytest
import torch

from graphrec.nn.conv import NGCFConv, ngcf_conv
from graphrec.nn.conv.lightgcn_conv import bipartite_gcn_norm
from graphrec.ops import CSRAdjacency

# 4 users -> 3 items; item 2 has no user (its aggregate is empty), user 3 has two items
EDGES = torch.tensor([[0, 1, 1, 3, 3], [0, 0, 1, 0, 1]])


def dense_ngcf(conv, x_src, x_dst, edge_index):
    """The paper's eq. 7, one destination at a time, from the per-edge messages."""
    w = bipartite_gcn_norm(edge_index, None, (x_src.size(0), x_dst.size(0)), x_src.dtype)
    out = []
    for i in range(x_dst.size(0)):
        h = conv.lin_self(x_dst[i])  # the self message W_1 x_i
        for e in (edge_index[1] == i).nonzero().flatten().tolist():
            j = edge_index[0, e]
            h = h + w[e] * (conv.lin_self.weight @ x_src[j] + conv.lin_affinity.weight @ (x_src[j] * x_dst[i]))
        h = h + conv.lin_affinity.bias  # W_2's bias, once (also without neighbours: W_2 0 + b_2)
        out.append(torch.nn.functional.leaky_relu(h, 0.2))
    return torch.stack(out)


def test_matches_the_per_edge_messages_of_the_paper():
    torch.manual_seed(0)
    conv = NGCFConv(5, 6)
    x_user, x_item = torch.randn(4, 5), torch.randn(3, 5)
    expected = dense_ngcf(conv, x_user, x_item, EDGES)
    torch.testing.assert_close(conv((x_user, x_item), EDGES), expected, atol=1e-5, rtol=1e-5)


def test_edge_index_and_csr_paths_agree_values_and_gradients():
    torch.manual_seed(1)
    conv = NGCFConv(4, 4)
    x_user = torch.randn(4, 4, requires_grad=True)
    x_item = torch.randn(3, 4, requires_grad=True)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(4, 3))
    out_ei, out_csr = conv((x_user, x_item), EDGES), conv((x_user, x_item), adj)
    torch.testing.assert_close(out_ei, out_csr, atol=1e-6, rtol=1e-6)
    g_ei = torch.autograd.grad(out_ei.square().sum(), (x_user, x_item, conv.lin_self.weight))
    g_csr = torch.autograd.grad(out_csr.square().sum(), (x_user, x_item, conv.lin_self.weight))
    for a, b in zip(g_ei, g_csr):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # users from items through the cached transpose
    torch.testing.assert_close(conv((x_item, x_user), EDGES.flip(0)), conv((x_item, x_user), adj.t()),
                               atol=1e-6, rtol=1e-6)


def test_needs_destination_features_and_matching_sizes():
    conv = NGCFConv(4, 4)
    adj = CSRAdjacency.from_edge_index(EDGES, size=(4, 3))
    with pytest.raises(ValueError, match="destination features"):
        conv((torch.randn(4, 4), None), adj)
    with pytest.raises(ValueError, match=r"size \(4, 3\)"):
        conv((torch.randn(5, 4), torch.randn(3, 4)), adj)


def test_reset_parameters_and_repr():
    conv = NGCFConv(4, 8)
    before = conv.lin_self.weight.clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.lin_self.weight)
    assert str(conv) == "NGCFConv(4, 8)"
    assert not conv.lin_self.bias.any()


def test_docstring_example():
    globs = {"torch": torch, "NGCFConv": NGCFConv}
    res = doctest.testmod(ngcf_conv, globs=globs)
    assert res.attempted > 0 and res.failed == 0
