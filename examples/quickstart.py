"""Train LightGCN on graphrec's synthetic search-and-recommendation world and
compare it with Popularity, through the library API (no CLI).

    python examples/quickstart.py --epochs 20
"""
import argparse
import logging

from graphrec.datasets import SyntheticSearchRec
from graphrec.models import LightGCN, Popularity
from graphrec.train import TrainConfig, Trainer

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")  # prints one line per epoch

data = SyntheticSearchRec(seed=args.seed)[0]  # HeteroData: user/item/query/attr, leave-one-out
print(data)

popularity = Trainer(Popularity.from_data(data), data, TrainConfig(progress=False))
print("Popularity test:", {k: round(v, 4) for k, v in popularity.evaluate("test").items()})

model = LightGCN.from_data(data)  # propagates over ('user', 'clicks', 'item') on a CSRAdjacency
trainer = Trainer(model, data, TrainConfig(epochs=args.epochs, batch_size=2048, lr=5e-3,
                                           metric="ndcg@10", seed=args.seed))
trainer.fit()
print("LightGCN test:  ", {k: round(v, 4) for k, v in trainer.evaluate("test").items()})
