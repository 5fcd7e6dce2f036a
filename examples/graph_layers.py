"""One model, every registered layer: GraphCF with LightGCN, NGCF and graph-attention
layers (and any layer you register), trained with the same settings on the synthetic
search-and-recommendation world, over the clicks alone and with the search graph.

    python examples/graph_layers.py --epochs 20
    python examples/graph_layers.py --layers lightgcn,gat --relations clicks,search
    python examples/graph_layers.py --plugin my_layers.py --layers lightgcn,gated_mean

Prints a table of test NDCG@10 / HR@10 per layer beside Popularity, and the time per epoch:
the place to see what a layer of your own buys over the bundled ones.
"""
import argparse
import importlib.util
import time

import torch

from graphrec.datasets import SyntheticSearchRec
from graphrec.metrics import markdown_table
from graphrec.models import GraphCF, GraphCFConfig, Popularity
from graphrec.resolver import conv_names
from graphrec.train import TrainConfig, Trainer

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--layers", default="lightgcn,ngcf,gat", help="registered layer names, comma-separated")
parser.add_argument("--relations", default="clicks", help="GraphCF's relations, e.g. clicks or clicks,search")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--dim", type=int, default=64)
parser.add_argument("--num-layers", type=int, default=2)
parser.add_argument("--lr", type=float, default=5e-3)
parser.add_argument("--users", type=int, default=2000, help="users in the synthetic world")
parser.add_argument("--plugin", default=None, help="a .py file that registers layers of your own")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

if args.plugin:  # importing the file runs its @register_conv decorators
    spec = importlib.util.spec_from_file_location("user_layers", args.plugin)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))

data = SyntheticSearchRec(seed=args.seed, num_users=args.users, num_items=args.users // 2)[0]
print(f"layers available: {', '.join(conv_names())}")
rows = {"popularity": Trainer(Popularity.from_data(data), data, TrainConfig(progress=False)).evaluate("test")}
for layer in args.layers.split(","):
    torch.manual_seed(args.seed)
    model = GraphCF.from_data(data, GraphCFConfig(conv=layer, relations=args.relations, dim=args.dim,
                                                  num_layers=args.num_layers))
    trainer = Trainer(model, data, TrainConfig(epochs=args.epochs, batch_size=2048, lr=args.lr,
                                               seed=args.seed, progress=False))
    start = time.perf_counter()
    trainer.fit()
    seconds = (time.perf_counter() - start) / args.epochs
    rows[f"graph_cf[{layer}]"] = {**trainer.evaluate("test"), "s/epoch": seconds,
                                  "parameters": sum(p.numel() for p in model.parameters())}
    print(f"{layer}: test ndcg@10 {rows[f'graph_cf[{layer}]']['ndcg@10']:.4f} ({seconds:.2f} s/epoch)")
print()
print(markdown_table(rows, ["ndcg@10", "hr@10", "s/epoch", "parameters"],
                     title=f"GraphCF by layer on the synthetic world ({args.relations}, {args.epochs} epochs)",
                     index_name="model"))
