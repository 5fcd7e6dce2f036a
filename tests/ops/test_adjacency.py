import pytest
import torch
from graphs import CASES, random_graph

from graphrec.ops import CSRAdjacency, adjacency_on


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


def _valid_parts():
    # rowptr, col, weight of a 3 (src) x 2 (dst) graph with 4 edges.
    return (torch.tensor([0, 1, 4]), torch.tensor([0, 0, 1, 2]),
            torch.tensor([1.0, 0.5, 0.25, 2.0]))


# name -> (overrides of the constructor arguments, error pattern)
BAD_CSR = {
    "rowptr_decreasing": ({"rowptr": torch.tensor([0, 5, 4])},
                          r"rowptr must be non-decreasing; rowptr\[1\]=5 > rowptr\[2\]=4"),
    "rowptr_start": ({"rowptr": torch.tensor([1, 2, 4])},
                     r"rowptr must start at 0, got rowptr\[0\]=1"),
    "rowptr_end_past_col": ({"rowptr": torch.tensor([0, 1, 5])},
                            r"rowptr must end at col.numel\(\)=4, got rowptr\[-1\]=5"),
    "rowptr_end_short": ({"rowptr": torch.tensor([0, 1, 3])},
                         r"rowptr must end at col.numel\(\)=4, got rowptr\[-1\]=3"),
    "rowptr_length": ({"rowptr": torch.tensor([0, 1, 2, 4])},
                      r"rowptr must have num_dst \+ 1 = 3 entries, got 4"),
    "rowptr_2d": ({"rowptr": torch.tensor([[0, 1, 4]])}, r"rowptr must be 1-D, got shape \(1, 3\)"),
    "rowptr_float": ({"rowptr": torch.tensor([0.0, 1.0, 4.0])},
                     r"rowptr must be an int32 or int64 tensor, got torch.float32"),
    "col_too_large": ({"col": torch.tensor([0, 0, 7, 2])},
                      r"col\[2\]=7 is out of range; valid source indices are 0..2 \(num_src=3\)"),
    "col_negative": ({"col": torch.tensor([0, -1, 1, 2])},
                     r"col\[1\]=-1 is out of range; valid source indices are 0..2"),
    "col_no_sources": ({"size": (0, 2)},
                       r"col\[0\]=0 is out of range; valid source indices are none \(num_src=0\)"),
    "col_dtype_mismatch": ({"col": torch.tensor([0, 0, 1, 2], dtype=torch.int32)},
                           r"rowptr and col must have the same dtype, got rowptr torch.int64 "
                           r"and col torch.int32"),
    "col_bool": ({"col": torch.tensor([True, False, True, True])},
                 r"col must be an int32 or int64 tensor, got torch.bool"),
    "weight_length": ({"weight": torch.ones(5)},
                      r"weight must have shape \(col.numel\(\),\) = \(4,\), got \(5,\)"),
    "weight_int": ({"weight": torch.ones(4, dtype=torch.long)},
                   r"weight must be a floating-point tensor, got torch.int64"),
    "size_negative": ({"size": (3, -2)}, r"size must be non-negative, got \(num_src=3, num_dst=-2\)"),
    "size_not_pair": ({"size": 3}, r"size must be \(num_src, num_dst\), got 3"),
    "perm_range": ({"perm": torch.tensor([0, 1, 2, 4])},
                   r"perm\[3\]=4 is out of range; valid edge ids are 0..3"),
    "perm_length": ({"perm": torch.tensor([0, 1, 2])}, r"perm must have col.numel\(\)=4 entries"),
    "deg_src_length": ({"deg_src": torch.ones(2)},
                       r"deg_src must have shape \(num_src,\) = \(3,\), got \(2,\)"),
    "deg_dst_length": ({"deg_dst": torch.ones(3)},
                       r"deg_dst must have shape \(num_dst,\) = \(2,\), got \(3,\)"),
}


@pytest.mark.parametrize("name", sorted(BAD_CSR))
def test_constructor_validates(name):
    rowptr, col, weight = _valid_parts()
    kwargs = {"rowptr": rowptr, "col": col, "weight": weight, "size": (3, 2)}
    overrides, msg = BAD_CSR[name]
    kwargs.update(overrides)
    with pytest.raises(ValueError, match=f"^CSRAdjacency: {msg}"):
        CSRAdjacency(**kwargs)


def test_constructor_rejects_non_tensors():
    rowptr, col, weight = _valid_parts()
    with pytest.raises(TypeError, match="CSRAdjacency: col must be a torch.Tensor, got list"):
        CSRAdjacency(rowptr, [0, 0, 1, 2], weight, (3, 2))
    with pytest.raises(TypeError, match="CSRAdjacency: weight must be a torch.Tensor or None"):
        CSRAdjacency(rowptr, col, [1.0] * 4, (3, 2))


def test_constructor_accepts_valid_input_and_matches_from_edge_index():
    edge_index, size = random_graph(9, 7, 50, seed=4)
    w = torch.rand(50, dtype=torch.float64)
    built = CSRAdjacency.from_edge_index(edge_index, size=size, edge_weight=w)
    adj = CSRAdjacency(built.rowptr, built.col, built.weight, size, perm=built.perm,
                       deg_src=built.deg_src, deg_dst=built.deg_dst)
    torch.testing.assert_close(dense(adj), dense(built))
    torch.testing.assert_close(dense(adj.t()), dense(built.t()))
    from graphrec.ops import spmm

    x = torch.randn(9, 4, dtype=torch.float64)
    torch.testing.assert_close(spmm(adj, x), spmm(built, x))
    # empty rows, no edges and no weights are valid too
    empty = CSRAdjacency(torch.zeros(4, dtype=torch.int32), torch.zeros(0, dtype=torch.int32),
                         None, (0, 3))
    assert empty.num_edges == 0 and spmm(empty, torch.randn(0, 2)).shape == (3, 2)


def test_spmm_on_unvalidated_rowptr_is_now_refused():
    # Issue 12: this adjacency used to be accepted, and spmm then read out of
    # bounds (values like 1e22, or a crash).
    with pytest.raises(ValueError, match=r"rowptr must end at col.numel\(\)=2, got rowptr\[-1\]=5"):
        CSRAdjacency(torch.tensor([0, 1, 5]), torch.tensor([0, 1]), None, (2, 2))


def test_internal_constructors_skip_validation(monkeypatch):
    # Validation runs once, in the public constructor: from_edge_index, t(),
    # to() and propagation build or use already-valid tensors unchecked.
    import graphrec.ops.adjacency as adjacency
    from graphrec.ops import spmm

    def fail(*args, **kwargs):
        raise AssertionError("validated again")

    monkeypatch.setattr(adjacency, "_validate_csr", fail)
    edge_index, size = random_graph(6, 4, 20)
    adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    moved = adj.to("cpu")
    assert moved.t().t() is moved
    spmm(moved.t(), spmm(adj, torch.randn(6, 3)))
    with pytest.raises(AssertionError, match="validated again"):
        CSRAdjacency(adj.rowptr, adj.col, adj.weight, adj.size)


# name -> (edge_weight, normalize, error pattern)
BAD_WEIGHTS = {
    "negative": ([1.0, -2.0, 1.0, 0.5], True,
                 r"edge_weight\[1\]=-2.0 is negative, but normalize=True needs non-negative "
                 r"edge weights"),
    "mixed_sign_positive_degrees": ([3.0, 2.0, -1.0, 0.5], True, r"edge_weight\[2\]=-1.0"),
    "nan": ([1.0, 1.0, float("nan"), 1.0], True, r"edge_weight\[2\]=nan is not finite"),
    "inf": ([float("inf"), 1.0, 1.0, 1.0], False, r"edge_weight\[0\]=inf is not finite"),
    "nan_unnormalised": ([1.0, float("nan"), 1.0, 1.0], False, r"edge_weight\[1\]=nan"),
}


@pytest.mark.parametrize("name", sorted(BAD_WEIGHTS))
def test_from_edge_index_rejects_bad_edge_weight(name):
    w, normalize, msg = BAD_WEIGHTS[name]
    edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])
    with pytest.raises(ValueError, match=f"^CSRAdjacency.from_edge_index: {msg}"):
        CSRAdjacency.from_edge_index(edge_index, size=(3, 2), normalize=normalize,
                                     edge_weight=torch.tensor(w))


def test_signed_weights_allowed_without_normalize():
    edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])
    w = torch.tensor([1.0, -2.0, 0.0, 0.5])
    adj = CSRAdjacency.from_edge_index(edge_index, size=(3, 2), normalize=False, edge_weight=w)
    torch.testing.assert_close(adj.weight, w[adj.perm])
    # zero weights are fine with normalize=True (an isolated degree gives weight 0, not NaN)
    adj = CSRAdjacency.from_edge_index(edge_index, size=(3, 2), edge_weight=w.abs() * (w > 0))
    assert torch.isfinite(adj.weight).all()


def test_adjacency_on_moves_once_and_stores_back():
    """Models keep a CSRAdjacency (no buffer, so Module.to skips it) and fetch it through
    adjacency_on: same device, the same object; another device, moved once and kept."""
    edge_index, size = random_graph(6, 4, 20)
    owner = torch.nn.Module()
    owner.adj = adj = CSRAdjacency.from_edge_index(edge_index, size=size)
    assert adjacency_on(owner, "adj", torch.device("cpu")) is adj
    moved = adjacency_on(owner, "adj", "meta")
    assert moved.device.type == "meta" and owner.adj is moved
    assert adjacency_on(owner, "adj", torch.device("meta")) is moved
