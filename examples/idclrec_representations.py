"""Interest vs intent: what IDCLRec's disentanglement looks like in a trained model.

For users' validation-time histories, take the interests R and intents I = H - R
at every real position and report
  * how stable each is within a user (mean pairwise cosine over the user's positions;
    L_d asks interests to agree and intents not to), and how similar it is across
    users (if interests agree across users as much as within, they have collapsed),
  * a 2-D PCA of both sets of vectors (one shared projection), and
  * the per-user cosine distributions,
as a PNG and a JSON beside it.

    python examples/idclrec_representations.py runs/seq-beauty/idclrec/seed-1/checkpoint.pt \\
        --root ../shared/data --output docs/results/idclrec_interest_intent
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from graphrec.data import Ragged, history  # noqa: E402
from graphrec.metrics.report import atomic_write_json  # noqa: E402
from graphrec.train.run import load_trained  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("--root", default=None)
parser.add_argument("--users", type=int, default=2000, help="users sampled (with >= 3 items)")
parser.add_argument("--points", type=int, default=3000, help="points of each kind in the PCA plot")
parser.add_argument("--output", default="idclrec_interest_intent", help="path stem of the .png and .json")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
gen = torch.Generator().manual_seed(args.seed)

model, data, _ = load_trained(args.checkpoint, args.root)
if type(model).__name__ != "IDCLRec":
    raise SystemExit(f"{args.checkpoint} holds a {type(model).__name__}, not an IDCLRec")

# 1. interests and intents at every real position of the sampled users' histories
hist = history(data, "valid")
eligible = torch.nonzero(hist.lengths() >= 3).flatten()
users = eligible[torch.randperm(eligible.numel(), generator=gen)[:args.users]]
rows = hist.select(users)
seq = Ragged(rows.ptr, rows.values + 1).pad(model.max_len, left=True)
with torch.no_grad():
    out = model(seq)
R, I, valid = out["R"], out["I"], out["valid"]


# 2. within-user agreement: mean cosine over pairs i != j of a user's positions
def within_user_cosine(X: torch.Tensor) -> torch.Tensor:
    Xn = F.normalize(X, dim=-1)
    pair = valid[:, :, None] & valid[:, None, :] & ~torch.eye(valid.size(1), dtype=torch.bool)
    return ((Xn @ Xn.transpose(1, 2)) * pair).sum((1, 2)) / pair.sum((1, 2)).clamp(min=1)


def across_user_cosine(X: torch.Tensor) -> float:
    """Mean cosine between the last-position vectors of different users: a within-user
    agreement near 1 only means "stable" if this is clearly lower (else: collapse)."""
    last = F.normalize(X[:, -1], dim=-1)
    n = last.size(0)
    return float(((last @ last.t()).sum() - n) / max(n * (n - 1), 1))


cos_R, cos_I = within_user_cosine(R), within_user_cosine(I)
r_pts, i_pts = R[valid], I[valid]
stats = {
    "checkpoint": args.checkpoint, "users": int(users.numel()), "positions": int(valid.sum()),
    "within_user_cos_interest": {"mean": float(cos_R.mean()), "std": float(cos_R.std())},
    "within_user_cos_intent": {"mean": float(cos_I.mean()), "std": float(cos_I.std())},
    "across_user_cos_interest": across_user_cosine(R), "across_user_cos_intent": across_user_cosine(I),
    "norm_interest": float(r_pts.norm(dim=-1).mean()), "norm_intent": float(i_pts.norm(dim=-1).mean()),
    "mean_category_size": float((out["member"] > 0.5).sum(1).float().mean()),
}

# 3. one PCA for both kinds, so their spread is comparable
pick = torch.randperm(r_pts.size(0), generator=gen)[:args.points]
both = torch.cat([r_pts[pick], i_pts[pick]])
_, _, V = torch.pca_lowrank(both, q=2, center=True)
proj = (both - both.mean(0)) @ V[:, :2]
n = pick.numel()

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
ax1.scatter(*proj[:n].T, s=3, alpha=0.4, label="interest R")
ax1.scatter(*proj[n:].T, s=3, alpha=0.4, label="intent I = H - R")
ax1.set_title("PCA of interests and intents (shared projection)")
ax1.legend(markerscale=4)
ax2.hist(cos_R.numpy(), bins=40, alpha=0.6, label="interest")
ax2.hist(cos_I.numpy(), bins=40, alpha=0.6, label="intent")
ax2.set_xlabel("mean within-user cosine")
ax2.set_title("stability within a user")
ax2.legend()
fig.tight_layout()
fig.savefig(f"{args.output}.png", dpi=120)
atomic_write_json(f"{args.output}.json", stats)
print(json.dumps(stats, indent=2))
