"""Bring your own logs, graph and model.

1. Read a recommendation log and a search log from CSV files with your own column
   names (validated: a bad row raises an error naming file, row and field).
2. Split without leakage and build the HeteroData; add an edge type of your own.
3. Register a new model (item-to-item co-occurrence, a few lines) and train and
   evaluate it next to LightGCN with the same Trainer and full-ranking metrics.

    python examples/custom_graph.py
"""
import csv
import os
import tempfile
import warnings
from dataclasses import dataclass

import torch

from graphrec.config import resolve_config
from graphrec.data import BehaviourLogs, add_edge_type, build_hetero_data, leave_one_out
from graphrec.data.hetero import CLICKS
from graphrec.data.io import read_rec_log, read_search_log
from graphrec.models import LightGCN, ModelConfig, RecModel
from graphrec.resolver import model_resolver, register_model
from graphrec.train import TrainConfig, Trainer

# ---- 1. logs in your own format --------------------------------------------------------
folder = tempfile.mkdtemp()
g = torch.Generator().manual_seed(0)
with open(os.path.join(folder, "clicks.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["visitor", "product", "ts"])
    for u in range(300):
        for t in range(12):  # each visitor browses one of 10 product groups, in order
            w.writerow([f"v{u}", f"p{(u % 10) * 15 + (u + t) % 15}", 1000 * t + u])
with open(os.path.join(folder, "searches.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["visitor", "query", "product", "ts"])
    for u in range(0, 300, 3):
        w.writerow([f"v{u}", f"group {u % 10} gift", f"p{(u % 10) * 15}", 500 + u])

rec, users, items = read_rec_log(os.path.join(folder, "clicks.csv"),
                                 columns={"user": "visitor", "item": "product", "time": "ts"})
search = read_search_log(os.path.join(folder, "searches.csv"),
                         columns={"user": "visitor", "query": "query", "item": "product", "time": "ts"},
                         user_map=users, item_map=items)
logs = BehaviourLogs(rec, search, user_map=users, item_map=items, name="my-shop")

# ---- 2. graph ---------------------------------------------------------------------------
data = build_hetero_data(logs, leave_one_out(logs))
add_edge_type(data, ("item", "similar_to", "item"),  # your own relation
              torch.tensor([[0, 1, 2], [1, 2, 0]]))
print(data)


# ---- 3. a model of your own -------------------------------------------------------------
@dataclass
class CoOccurrenceConfig(ModelConfig):
    """Args: shrink: added to the co-occurrence normaliser."""
    shrink: float = 10.0


@register_model("co_occurrence")
class CoOccurrence(RecModel):
    r"""Scores :math:`\hat y_{u,i} = \sum_{j \in H_u} C_{ji} / (|C_{j\cdot}| + s)` with
    :math:`C = X^\top X` the item co-occurrence of the training clicks (sparse)."""

    Config = CoOccurrenceConfig

    # graph inputs explicit; hyperparameters as config= or keywords, defaults only in the Config
    def __init__(self, num_users: int, num_items: int, edge_index: torch.Tensor, config=None, **kwargs):
        super().__init__()
        cfg = self.config = resolve_config(self.Config, config, kwargs, type(self).__name__)
        self.num_users, self.num_items = num_users, num_items
        x = torch.sparse_coo_tensor(edge_index, torch.ones(edge_index.size(1)),
                                    (num_users, num_items), check_invariants=True).coalesce()
        with warnings.catch_warnings():  # torch flags sparse-sparse products as beta
            warnings.simplefilter("ignore", UserWarning)
            co = (x.t() @ x).to_dense()  # item x item: fine for a toy catalogue
        co.fill_diagonal_(0)
        self.register_buffer("sim", co / (co.sum(1, keepdim=True) + cfg.shrink))

    def train_inputs(self) -> None:
        return None  # nothing to train

    @classmethod
    def from_data(cls, data, config=None):
        return cls(num_users=data["user"].num_nodes, num_items=data["item"].num_nodes,
                   edge_index=data[CLICKS].edge_index, config=config)

    def full_scores(self, users, history):
        rows = history.row_index()
        onehot = torch.zeros(users.numel(), self.num_items)
        onehot[rows, history.values] = 1.0
        return onehot @ self.sim


for name in ("co_occurrence", "lightgcn"):
    cls = model_resolver(name)  # the registry knows your model too (so does the CLI)
    model = cls.from_data(data)
    trainer = Trainer(model, data, TrainConfig(epochs=10, batch_size=256, lr=1e-2, progress=False))
    trainer.fit()
    print(f"{name:>14}: test", {k: round(v, 3) for k, v in trainer.evaluate("test").items()
                                 if k in ("hr@10", "ndcg@10")})
assert isinstance(LightGCN.from_data(data), RecModel)
