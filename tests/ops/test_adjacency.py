import pytest
import torch
from graphs import CASES, random_graph

from graphrec.ops import CSRAdjacency


def dense(adj: CSRAdjacency) -> torch.Tensor:
    out = torch.zeros(adj.num_dst, adj.num_src, dtype=torch.float64)
    w = adj.values(torch.float64)
    out.index_put_((adj.row.long(), adj.col.long()), w, accumulate=True)
    return out


def dense_from_edges(edge_index, size, normalize=True):
    num_src, num_dst = size
    a = torch.zeros(num_dst, num_src, dtype=torch.float64)
    ones = torch.ones(edge_index.size(1), dtype=torch.float64)
    a.index_put_((edge_index[1], edge_index[0]), ones,
                 accumulate=True)
    if normalize:
        d_dst, d_src = a.sum(1), a.sum(0)
        n = torch.outer(d_dst, d_src).rsqrt()
        n[torch.isinf(n)] = 0
        a = a * n
    return a


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("normalize", [True, False])
def test_matches_dense(name, normalize):
    edge_index, size = CASES[name]
    adj = CSRAdjacency.from_edge_index(edge_index, size=size, normalize=normalize)
    assert adj.size == size and adj.num_edges == edge_index.size(1)
    assert adj.rowptr.dtype == torch.int32 and adj.col.dtype == torch.int32
    assert adj.rowptr.numel() == size[1] + 1
    torch.testing.assert_close(dense(adj), dense_from_edges(edge_index, size, normalize),
                               atol=1e-6, rtol=1e-6)
    t = adj.t()
    assert t.size == (size[1], size[0]) and t.t() is adj
    torch.testing.assert_close(dense(t), dense(adj).t(), atol=1e-6, rtol=1e-6)
    # rows sorted, columns ascending within rows
    if adj.num_edges:
        key = adj.row.long() * max(size[0], 1) + adj.col.long()
        assert bool((key[1:] >= key[:-1]).all())
    if adj.perm is not None and adj.num_edges:
        torch.testing.assert_close(edge_index[:, adj.perm], adj.edge_index())
    torch.testing.assert_close(t.values(), adj.t_values())


def test_degrees():
    edge_index, size = CASES["duplicate_edges"]
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    assert adj.deg_src.tolist() == [2.0, 3.0, 1.0]
    assert adj.deg_dst.tolist() == [3.0, 3.0]
    assert adj.t().deg_src is adj.deg_dst


def test_size_inferred_and_weighted():
    edge_index, _ = random_graph(7, 5, 40, seed=1)
    w = torch.rand(40, dtype=torch.float64)
    adj = CSRAdjacency.from_edge_index(edge_index, edge_weight=w, normalize=False)
    assert adj.size == (int(edge_index[0].max()) + 1, int(edge_index[1].max()) + 1)
    torch.testing.assert_close(adj.weight, w[adj.perm])


@pytest.mark.parametrize("bad,msg", [
    ([[0, 5], [0, 1]],
     r"edge_index\[0\] \(source nodes\) holds 5 at edge 1; valid source indices are 0..2"),
    ([[0, 1], [0, -2]], r"edge_index\[1\] \(destination nodes\) holds -2 at edge 1; "
                        r"valid destination indices are 0..1"),
    ([[0, 1], [0, 2]], r"holds 2 .* 0..1 \(num_dst=2\)"),
])
def test_out_of_range(bad, msg):
    with pytest.raises(ValueError, match=msg):
        CSRAdjacency.from_edge_index(torch.tensor(bad), size=(3, 2))


def test_negative_without_size():
    with pytest.raises(ValueError, match="holds -1"):
        CSRAdjacency.from_edge_index(torch.tensor([[0, -1], [0, 0]]))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        CSRAdjacency.from_edge_index(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integers"):
        CSRAdjacency.from_edge_index(torch.zeros(2, 4))


def test_to_device_keeps_transpose():
    edge_index, size = random_graph(6, 4, 20)
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    adj.t()
    moved = adj.to("cpu")
    assert moved.t().t() is moved and moved._tperm is not None
    torch.testing.assert_close(dense(moved.t()), dense(adj.t()))
    assert "num_src=6" in repr(moved)


def test_from_hetero():
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["user"].num_nodes = 4
    data["item"].num_nodes = 3
    data["user", "clicks", "item"].edge_index = torch.tensor([[0, 1, 3], [2, 2, 0]])
    adj = CSRAdjacency.from_hetero(data, ("user", "clicks", "item"))
    assert adj.size == (4, 3)
    expected = dense_from_edges(data["user", "item"].edge_index, (4, 3))
    torch.testing.assert_close(dense(adj), expected)


def test_from_hetero_is_duck_typed():
    from types import SimpleNamespace

    et = ("user", "clicks", "item")
    edge_index = torch.tensor([[0, 1, 3], [2, 2, 0]])
    data = {"user": SimpleNamespace(num_nodes=4), "item": SimpleNamespace(num_nodes=3),
            et: SimpleNamespace(edge_index=edge_index)}
    adj = CSRAdjacency.from_hetero(data, et)
    assert adj.size == (4, 3)
    torch.testing.assert_close(dense(adj), dense(CSRAdjacency.from_edge_index(edge_index, size=(4, 3))))
