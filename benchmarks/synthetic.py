"""Deterministic synthetic interaction graphs shaped like public benchmarks.

Item popularity follows a Zipf law (a few hub items hold many edges) and user
activity a milder power law, as in Gowalla / Amazon-Book; duplicates are
removed, so the graph has exactly ``num_interactions`` distinct user-item
pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Shape:
    name: str
    num_users: int
    num_items: int
    num_interactions: int


# Sizes of the LightGCN paper's splits (He et al., 2020, Table 1).
SHAPES: dict[str, Shape] = {
    "gowalla": Shape("gowalla", 29_858, 40_981, 810_128),
    "amazon-book": Shape("amazon-book", 52_643, 91_599, 2_380_730),
    "tiny": Shape("tiny", 300, 500, 5_000),
}


def zipf_bipartite(shape: Shape, seed: int = 0, item_exponent: float = 0.9,
                   user_exponent: float = 0.5) -> torch.Tensor:
    """Returns a ``(2, num_interactions)`` int64 tensor of distinct
    ``(user, item)`` pairs, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    p_item = 1.0 / np.arange(1, shape.num_items + 1) ** item_exponent
    p_item /= p_item.sum()
    p_user = 1.0 / np.arange(1, shape.num_users + 1) ** user_exponent
    p_user /= p_user.sum()
    item_perm = rng.permutation(shape.num_items)
    user_perm = rng.permutation(shape.num_users)
    keys = np.empty(0, dtype=np.int64)
    need = shape.num_interactions
    while keys.size < need:
        n = int((need - keys.size) * 1.3) + 1000
        u = user_perm[rng.choice(shape.num_users, n, p=p_user)]
        i = item_perm[rng.choice(shape.num_items, n, p=p_item)]
        keys = np.unique(np.concatenate([keys, u.astype(np.int64) * shape.num_items + i]))
    keys = rng.permutation(keys)[:need]
    keys.sort()
    return torch.from_numpy(np.stack([keys // shape.num_items, keys % shape.num_items]))


def square_edge_index(ui: torch.Tensor, num_users: int) -> torch.Tensor:
    """Both directions of a user-item graph over ``U + I`` nodes (items
    offset by ``num_users``): the input PyG's LGConv / LightGCN expects."""
    u, i = ui[0], ui[1] + num_users
    return torch.stack([torch.cat([u, i]), torch.cat([i, u])])


def load(name: str, seed: int = 0) -> tuple[Shape, torch.Tensor]:
    shape = SHAPES[name]
    return shape, zipf_bipartite(shape, seed)
