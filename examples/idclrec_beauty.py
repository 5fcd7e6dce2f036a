"""IDCLRec on Amazon Beauty, written out as a plain PyTorch loop.

Every step the Trainer does for you (`graphrec train --model idclrec`) is spelled out
here: load the leave-one-out split, cut training sequences into every-prefix
subsequences, optimise L_rec + 0.1 L_d + 0.5 L_CL1 + 0.1 L_CL2, rank all items for
the validation users after each epoch, and keep the best epoch for the test.

    python examples/idclrec_beauty.py --root ../shared/data --epochs 20
"""
import argparse
import copy

import torch

from graphrec.data import train_history
from graphrec.data.loader import SubsequenceLoader
from graphrec.datasets import AmazonSeq
from graphrec.models import IDCLRec, IDCLRecConfig
from graphrec.train import TrainConfig, Trainer

parser = argparse.ArgumentParser()
parser.add_argument("--root", required=True, help="folder holding amazon_seq/")
parser.add_argument("--dataset", default="beauty", choices=["beauty", "sports", "toys"])
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--max-batches", type=int, default=None, help="cap per epoch (smoke runs)")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--seed", type=int, default=2024)
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()
torch.manual_seed(args.seed)
torch.set_num_threads(args.threads)

# 1. The data: a HeteroData whose ('user', 'clicks', 'item') edges carry the split.
data = AmazonSeq(args.root, name=args.dataset)[0]
print(data)

# 2. The model, with the spec's defaults (every ablation is a field of the config).
config = IDCLRecConfig()
model = IDCLRec.from_data(data, config)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

# 3. Training rows: every prefix (v_1..v_t) -> v_{t+1} of each training sequence, with a
#    partner row of the same target for L_CL1; similar lengths share a batch.
loader = SubsequenceLoader(train_history(data), data["item"].num_nodes, max_len=config.max_len,
                           batch_size=256, length_buckets=16,
                           generator=torch.Generator().manual_seed(args.seed))

# 4. Full-ranking evaluation over all items (seen items masked), as in every graphrec run.
evaluator = Trainer(model, data, TrainConfig(ks=(10, 20), progress=False, seed=args.seed))

best, best_state = -1.0, None
for epoch in range(1, args.epochs + 1):
    model.train()
    total, batches = 0.0, 0
    for batch in loader:
        optimizer.zero_grad()
        loss = model.loss(batch)["loss"]  # L_rec + λ_d L_d + λ_CL1 L_CL1 + λ_CL2 L_CL2
        loss.backward()
        optimizer.step()
        total, batches = total + float(loss), batches + 1
        if args.max_batches and batches >= args.max_batches:
            break
    valid = evaluator.evaluate("valid")
    print(f"Epoch: {epoch:03d}, Loss: {total / batches:.4f}, NDCG@20: {valid['ndcg@20']:.4f}")
    if valid["ndcg@20"] > best:
        best, best_state = valid["ndcg@20"], copy.deepcopy(model.state_dict())

model.load_state_dict(best_state)
test = evaluator.evaluate("test")
print(f"Test (best validation epoch): HR@20 {test['hr@20']:.4f}, NDCG@20 {test['ndcg@20']:.4f}")
