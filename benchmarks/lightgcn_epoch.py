"""Time LightGCN training (BPR, batch 2048, d=64, 3 layers, Adam) on a
Gowalla-shaped graph with PyG's default propagation (LGConv on the square
edge_index, what torch_geometric.nn.models.LightGCN does) or graphrec's
(LightGCNConv on the bipartite CSRAdjacency and its cached transpose).

    python benchmarks/lightgcn_epoch.py --impl graphrec --out benchmarks/results/epoch_graphrec.json
    python benchmarks/lightgcn_epoch.py --impl pyg --batches 20 --out ...  # extrapolated epoch

Both models compute the same function (same init, same batches, same loss);
the script checks that their first-batch losses agree. Also records page
faults and user/system CPU time of the loop, and the allocator settings.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conftest import allocator_info  # noqa: E402
from synthetic import load, square_edge_index  # noqa: E402
from torch_geometric.nn import LGConv  # noqa: E402

from graphrec.metrics import atomic_write_json
from graphrec.nn.models import LightGCNPropagation  # noqa: E402
from graphrec.ops import CSRAdjacency  # noqa: E402


class LightGCN(torch.nn.Module):
    """LightGCN (He et al., 2020) with user and item tables; ``impl`` picks
    the propagation: PyG's LGConv over the square ``(U+I)`` edge_index, or
    graphrec's LightGCNConv over the bipartite adjacency and its transpose."""

    def __init__(self, num_users, num_items, dim, num_layers, ui, impl):
        super().__init__()
        self.nu, self.ni, self.num_layers, self.impl = num_users, num_items, num_layers, impl
        self.user = torch.nn.Embedding(num_users, dim)
        self.item = torch.nn.Embedding(num_items, dim)
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)
        if impl == "pyg":
            self.conv = LGConv()
            self.edge_index = square_edge_index(ui, num_users)
        else:
            self.stack = LightGCNPropagation(num_layers)
            self.ui = CSRAdjacency.from_edge_index(ui, size=(num_users, num_items))
            self.ui.t()  # build the cached transpose before timing

    def embeddings(self):
        alpha = 1.0 / (self.num_layers + 1)
        u, i = self.user.weight, self.item.weight
        if self.impl == "pyg":
            x = torch.cat([u, i])
            out = x * alpha
            for _ in range(self.num_layers):
                x = self.conv(x, self.edge_index)
                out = out + x * alpha
            return out[: self.nu], out[self.nu:]
        return self.stack(u, i, self.ui)

    def loss(self, users, pos, neg, reg=1e-4):
        eu, ei = self.embeddings()
        u, p, n = eu[users], ei[pos], ei[neg]
        bpr = torch.nn.functional.softplus((u * n).sum(-1) - (u * p).sum(-1)).mean()
        l2 = (self.user.weight[users].square().sum() + self.item.weight[pos].square().sum()
              + self.item.weight[neg].square().sum()) / (2 * users.numel())
        return bpr + reg * l2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", default="gowalla")
    ap.add_argument("--impl", choices=["pyg", "graphrec"], required=True)
    ap.add_argument("--batches", type=int, default=0, help="0: one full epoch")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    shape, ui = load(args.graph)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = LightGCN(shape.num_users, shape.num_items, args.dim, args.layers, ui, args.impl)
    build_s = time.perf_counter() - t0
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(ui.size(1), generator=g)
    neg_all = torch.randint(0, shape.num_items, (ui.size(1),), generator=g)
    num_batches_epoch = (ui.size(1) + args.batch_size - 1) // args.batch_size
    n_batches = args.batches or num_batches_epoch

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    losses = []
    for b in range(n_batches):
        idx = order[b * args.batch_size:(b + 1) * args.batch_size]
        loss = model.loss(ui[0, idx], ui[1, idx], neg_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "graph": args.graph, "impl": args.impl, "batch_size": args.batch_size, "dim": args.dim,
        "layers": args.layers, "num_users": shape.num_users, "num_items": shape.num_items,
        "num_interactions": ui.size(1), "batches_timed": n_batches,
        "batches_per_epoch": num_batches_epoch, "build_s": build_s, "loop_wall_s": wall,
        "s_per_batch": wall / n_batches, "epoch_s": wall / n_batches * num_batches_epoch,
        "epoch_extrapolated": n_batches < num_batches_epoch,
        "user_cpu_s": r1.ru_utime - r0.ru_utime, "sys_cpu_s": r1.ru_stime - r0.ru_stime,
        "minor_page_faults": r1.ru_minflt - r0.ru_minflt,
        "major_page_faults": r1.ru_majflt - r0.ru_majflt,
        "first_loss": losses[0], "last_loss": losses[-1],
        "threads": torch.get_num_threads(), "loadavg": os.getloadavg(),
        "torch": torch.__version__, "allocator": allocator_info(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        atomic_write_json(args.out, result, indent=1)


if __name__ == "__main__":
    main()
