"""LightGCN on Gowalla with the paper's protocol and settings (He et al., SIGIR 2020):
train on train ∪ valid, test on test, d=64, 3 layers, batch 2048, lr 1e-3, L2 1e-4.
There is no validation set in this protocol, so the model after the last epoch is
reported; test Recall@20 / NDCG@20 are logged every `--eval-every` epochs for the curve.

    python examples/lightgcn_gowalla.py --root ../shared/data --epochs 400 --output runs/gowalla
"""
import argparse
import logging

from graphrec.train.run import RunSpec, run_one

parser = argparse.ArgumentParser()
parser.add_argument("--root", required=True, help="folder holding gowalla/")
parser.add_argument("--epochs", type=int, default=400)
parser.add_argument("--eval-every", type=int, default=10)
parser.add_argument("--output", default="runs/gowalla-lightgcn")
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")

spec = RunSpec(
    model="lightgcn", dataset="gowalla", root=args.root,
    model_args={"dim": 64, "num_layers": 3, "reg_weight": 1e-4},
    train_args={"epochs": args.epochs, "batch_size": 2048, "lr": 1e-3, "ks": (20,),
                "eval_every": args.eval_every, "track_test": True, "metric": "recall@20"},
)
doc = run_one(spec, args.output, resume=args.resume)
print(f"Recall@20 {doc['test']['recall@20']:.4f}  NDCG@20 {doc['test']['ndcg@20']:.4f}  "
      f"(paper: 0.1830 / 0.1554)  after {doc['epochs']} epochs, "
      f"{doc['train_seconds'] / max(doc['epochs'], 1):.1f} s/epoch")
