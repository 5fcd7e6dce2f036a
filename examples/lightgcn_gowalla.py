"""LightGCN on Gowalla with the paper's protocol (He et al., SIGIR 2020): train on
train ∪ valid, test on test; d=64, 3 layers, BPR, L2 1e-4 on the layer-0 embeddings. The
paper trains with batch 2048 and Adam lr 1e-3 (the defaults here); ``--batch-size`` and
``--lr`` change only the optimisation, never the model or its objective, to reach the
paper's accuracy sooner. There is no validation set in this protocol, so the model after
the last epoch is reported; test Recall@20 / NDCG@20 are logged every ``--eval-every``
epochs for the curve, which is drawn against the epoch and against the run's wall clock
(training plus evaluation), beside earlier runs given with ``--compare``.

    python examples/lightgcn_gowalla.py --root ../shared/data --epochs 400 --output runs/gowalla
    python examples/lightgcn_gowalla.py --root ../shared/data --batch-size 8192 --lr 0.004 \\
        --epochs 150 --output runs/gowalla-b8192 --compare runs/gowalla/results.json

Runs resume with ``--resume`` (same settings, more ``--epochs`` to extend).
"""
import argparse
import json
import logging
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from graphrec.train.run import RunSpec, run_one
from graphrec.utils.io import atomic_path

PAPER_RECALL, PAPER_NDCG = 0.1830, 0.1554


def curve(history: list[dict]) -> list[tuple[int, float, float]]:
    """``(epoch, wall seconds so far, test Recall@20)`` at every evaluated epoch; wall
    time is training plus evaluation (histories written before ``eval_seconds`` was
    recorded count training time only)."""
    out, wall = [], 0.0
    for h in history:
        wall += h.get("seconds", 0.0) + h.get("eval_seconds", 0.0)
        if h.get("test"):
            out.append((h["epoch"], wall, h["test"]["recall@20"]))
    return out


def plot(runs: dict[str, list[dict]], path: str) -> None:
    fig = Figure(figsize=(11.0, 4.0))
    FigureCanvasAgg(fig)
    by_epoch, by_time = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, history in runs.items():
        pts = curve(history)
        if not pts:
            continue
        epochs, walls, recalls = zip(*pts)
        by_epoch.plot(epochs, recalls, marker="o", markersize=3, label=label)
        by_time.plot([w / 60 for w in walls], recalls, marker="o", markersize=3, label=label)
    for ax, xlabel in ((by_epoch, "epoch"), (by_time, "wall-clock minutes (training + evaluation)")):
        ax.axhline(PAPER_RECALL, color="grey", linestyle="--", linewidth=1, label="paper, ~1000 epochs")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test Recall@20")
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=8, loc="lower right")
    fig.suptitle("LightGCN on Gowalla (paper protocol, d=64, 3 layers)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="folder holding gowalla/")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=2048, help="BPR triples per step (paper: 2048)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (paper: 1e-3)")
    parser.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine", "linear"),
                        help="decay of the learning rate over --epochs (paper: constant)")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids oversubscription)")
    parser.add_argument("--output", default="runs/gowalla-lightgcn")
    parser.add_argument("--compare", action="append", default=[], metavar="RESULTS_JSON",
                        help="an earlier run's results.json drawn beside this one (repeatable)")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    spec = RunSpec(
        model="lightgcn", dataset="gowalla", root=args.root,
        model_args={"dim": 64, "num_layers": 3, "reg_weight": 1e-4},
        train_args={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                    "lr_schedule": args.lr_schedule, "ks": (20,),
                    "eval_every": args.eval_every, "track_test": True, "metric": "recall@20",
                    "num_threads": args.threads},
    )
    doc = run_one(spec, args.output, resume=args.resume)
    label = f"batch {args.batch_size}, lr {args.lr:g}"
    if args.lr_schedule != "constant":
        label += f" {args.lr_schedule}"
    runs = {label: doc["history"]}
    for path in args.compare:
        with open(path) as f:
            other = json.load(f)
        train = other["config"]["train"]
        schedule = train.get("lr_schedule", "constant")
        runs[f"batch {train['batch_size']}, lr {train['lr']:g}" + (f" {schedule}" if schedule != "constant" else "")
             + f" ({os.path.basename(os.path.dirname(path)) or path})"] = other["history"]
    plot(runs, os.path.join(args.output, "time_to_accuracy.png"))
    pts = curve(doc["history"])
    reached = next(((e, w) for e, w, r in pts if r >= 0.18), None)
    print(f"Recall@20 {doc['test']['recall@20']:.4f}  NDCG@20 {doc['test']['ndcg@20']:.4f}  "
          f"(paper: {PAPER_RECALL} / {PAPER_NDCG})  after {doc['epochs']} epochs, "
          f"{doc['train_seconds'] / max(doc['epochs'], 1):.1f} s/epoch")
    if reached:
        print(f"Recall@20 >= 0.18 first at epoch {reached[0]}, {reached[1] / 60:.1f} wall-clock minutes")


if __name__ == "__main__":
    main()
