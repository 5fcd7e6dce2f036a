"""Hand-made edge-case graphs shared by the ops tests: name -> (edge_index, (num_src, num_dst))."""
import torch


def _ei(pairs):
    if not pairs:
        return torch.empty(2, 0, dtype=torch.long)
    return torch.tensor(pairs, dtype=torch.long).t().contiguous()


def _hub():
    # destination 0 holds 90 of 100 edges; the rest scattered
    pairs = [(s % 12, 0) for s in range(90)] + [(s, 1 + s % 4) for s in range(10)]
    return _ei(pairs), (12, 6)


CASES = {
    "empty_graph": (_ei([]), (4, 3)),
    "empty_everything": (_ei([]), (0, 0)),
    "rows_without_edges": (_ei([(0, 1), (2, 1), (1, 3)]), (3, 5)),
    "isolated_sources": (_ei([(0, 0), (0, 1)]), (6, 2)),
    "hub_row": _hub(),
    "duplicate_edges": (_ei([(1, 0), (1, 0), (1, 0), (0, 1), (2, 1), (0, 1)]), (3, 2)),
    "single_node": (_ei([(0, 0)]), (1, 1)),
    "single_node_no_edge": (_ei([]), (1, 1)),
    "bipartite_rect": (_ei([(0, 0), (1, 0), (2, 1), (3, 1), (4, 0), (4, 1)]), (5, 2)),
}


def random_graph(num_src, num_dst, num_edges, seed=0, zipf=False):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, max(num_src, 1), (num_edges,), generator=g)
    if zipf and num_dst > 0 and num_edges > 0:
        p = 1.0 / torch.arange(1, num_dst + 1, dtype=torch.float64)
        dst = torch.multinomial(p, num_edges, replacement=True, generator=g)
    else:
        dst = torch.randint(0, max(num_dst, 1), (num_edges,), generator=g)
    return torch.stack([src, dst]), (num_src, num_dst)
