import pytest
import torch
from torch_geometric.data import HeteroData

from graphrec.data.codes import (
    HAS_REC_CODE,
    HAS_SEARCH_CODE,
    add_user_codes,
    code_degrees,
    code_neighbour_agreement,
    code_node_ids,
    connectivity_audit,
)
from graphrec.data.hetero import reverse
from graphrec.ops import CSRAdjacency


def users(n):
    data = HeteroData()
    data["user"].num_nodes = n
    return data


def test_hand_case_nodes_and_edges():
    # 3 users, L = 2 levels of N = 3 codes; users 0 and 2 share their whole rec tuple
    codes = torch.tensor([[[0, 2], [1, 1]],
                          [[1, 2], [1, 0]],
                          [[0, 2], [2, 2]]])
    data = add_user_codes(users(3), codes, num_codes=3)
    assert data["code"].num_nodes == 2 * 2 * 3
    # node id = domain * L * N + level * N + k
    assert data[HAS_REC_CODE].edge_index.tolist() == [[0, 0, 1, 1, 2, 2], [0, 5, 1, 5, 0, 5]]
    assert data[HAS_SEARCH_CODE].edge_index.tolist() == [[0, 0, 1, 1, 2, 2], [7, 10, 7, 9, 8, 11]]
    assert torch.equal(data[reverse(HAS_REC_CODE)].edge_index, data[HAS_REC_CODE].edge_index.flip(0))
    assert data["code"].domain.tolist() == [0] * 6 + [1] * 6
    assert data["code"].level.tolist() == [0, 0, 0, 1, 1, 1] * 2
    assert data["code"].index.tolist() == [0, 1, 2] * 4
    assert torch.equal(data["user"].codes, codes)
    # degrees: rec code (level 1, k 2) is held by all three users; search codes are isolated in the rec graph
    deg = code_degrees(data, 0)
    assert deg[5] == 3 and deg[0] == 2 and deg[1] == 1 and deg[6:].sum() == 0
    assert code_degrees(data, 1)[7] == 2


def test_a_rec_code_never_equals_a_search_code_nor_another_level():
    codes = torch.zeros(4, 2, 4, dtype=torch.long)  # the same index k = 0 everywhere
    ids = code_node_ids(codes, num_codes=256)
    assert ids[0].flatten().tolist() == [0, 256, 512, 768, 1024, 1280, 1536, 1792]


def test_propagation_over_the_user_code_graph_is_symmetric_normalised():
    codes = torch.tensor([[[0]], [[0]]]).expand(2, 2, 1).contiguous()  # both users hold code 0 (rec and search)
    data = add_user_codes(users(2), codes, num_codes=2)
    adj = CSRAdjacency.from_hetero(data, HAS_REC_CODE)
    assert adj.size == (2, 4)
    x_code = torch.tensor([[1.0], [5.0], [7.0], [9.0]])
    # each user has degree 1, code 0 has degree 2: 1 / sqrt(1 * 2)
    from graphrec.nn.conv import LightGCNConv
    out = LightGCNConv()(x_code, adj.t())
    assert torch.allclose(out, torch.full((2, 1), 1.0 / 2 ** 0.5))


@pytest.mark.parametrize("codes, num_codes, match", [
    (torch.zeros(3, 2, 4, dtype=torch.long), 4, r"shape \(2, 2, levels\)"),
    (torch.zeros(2, 3, 4, dtype=torch.long), 4, r"shape \(2, 2, levels\)"),
    (torch.zeros(2, 2, 4), 4, "integer tensor"),
    (torch.tensor([[[0, 1]], [[0, 4]]]).expand(2, 2, 2).contiguous(), 4,
     r"codes\[1, 0, 1\] = 4 \(user 1, rec level 1\)"),
    (torch.full((2, 2, 1), -1), 4, "outside"),
])
def test_bad_codes_are_named(codes, num_codes, match):
    with pytest.raises(ValueError, match=match):
        add_user_codes(users(2), codes, num_codes)


def test_connectivity_audit_counts_distinct_users_reached_through_shared_codes():
    # one level; users 0, 1 sparse, users 2, 3, 4 rich; search codes: 0 ~ 2, 3 via code 1; 1 alone
    codes = torch.tensor([[[0], [1]], [[0], [0]], [[1], [1]], [[1], [1]], [[0], [2]]])
    data = add_user_codes(users(5), codes, num_codes=3)
    groups = torch.tensor([1, 1, 2, 2, 2])
    audit = connectivity_audit(data, groups, ["no_search", "sparse", "rich"])
    assert audit["source_users"] == 2 and audit["target_users"] == 3
    s = audit["search"]["all"]
    assert s["share_reaching"] == 0.5 and s["mean_reached"] == 1.0  # user 0 reaches 2 and 3, user 1 nobody
    r = audit["rec"]["level_1"]  # rec code 0 links users 0, 1 with rich user 4
    assert r["share_reaching"] == 1.0 and r["mean_reached"] == 1.0
    with pytest.raises(ValueError, match="'heavy' is not one of"):
        connectivity_audit(data, groups, ["no_search", "sparse", "rich"], target="heavy")


def test_code_neighbours_agreement_is_high_when_codes_follow_categories():
    # 40 users in two interest camps; the first rec code says the camp, the search code is noise
    camp = torch.arange(40) % 2
    codes = torch.stack([torch.stack([camp, torch.arange(40) % 5], 1),
                         torch.stack([torch.arange(40) % 3, torch.arange(40) % 7], 1)], 1)
    cats = [{"lipstick", "nails"} if c == 0 else {"tents", "boots"} for c in camp.tolist()]
    out = code_neighbour_agreement(codes, cats, pairs=2000)
    assert out["rec"]["prefix_1"]["jaccard"] == 1.0
    assert out["random"]["jaccard"] == pytest.approx(0.5, abs=0.05)
    assert out["search"]["prefix_1"]["jaccard"] < 0.75
