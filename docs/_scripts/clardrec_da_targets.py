"""How well a trained sequential ClardRec's recommendation state ranks its two kinds of
training targets: the next recommendation click (L_R) and a search click (L_da, scored
with the state after the recommendation clicks before it), each against one uniformly
drawn item, over the first batches of the training rows.

    python docs/_scripts/clardrec_da_targets.py results/clardrec/synthetic/clardrec-seq-da-only/seed-0/checkpoint.pt \\
        --root ../shared/data [--batches 8]

Prints P(target > random item) for both kinds and how many targets each has: whether the
search clicks L_da adds are targets the recommendation state can predict, or noise to it.
"""
from __future__ import annotations

import argparse

import torch

from graphrec.nn.encoders import trim_left_padding
from graphrec.train.run import load_trained


@torch.no_grad()
def target_ranks(checkpoint: str, root: str | None = None, batches: int = 8, seed: int = 0) -> dict[str, float]:
    model, data, _ = load_trained(checkpoint, root=root)
    if not hasattr(model, "search_examples"):
        raise SystemExit(f"{checkpoint}: not a sequential ClardRec (model.backbone=sasrec)")
    loader = model.train_inputs().loader(data, batch_size=256, generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    wins = {"rec": 0.0, "search": 0.0}
    counts = {"rec": 0, "search": 0}
    for k, b in enumerate(loader):
        if k == batches:
            break
        seq = torch.cat([b["rec_item"], b["target"].unsqueeze(1)], 1)
        x, rec_time, seq = trim_left_padding(b["rec_item"], b["rec_time"], seq)
        valid = x > 0
        fused = model.item_views(seq)["fused"]
        H = model.rec_encoder(fused[:, :-1], valid)
        rand = model.item_views(torch.randint(1, model.num_items + 1, seq[:, 1:].shape, generator=gen))["fused"]
        wins["rec"] += float(((H * fused[:, 1:]).sum(-1) > (H * rand).sum(-1))[valid].sum())
        counts["rec"] += int(valid.sum())
        ex = model.search_examples(b["search_query"], b["search_item"], b["search_time"])
        if ex is None:
            continue
        state, has = model._state_before(H, rec_time, valid, ex["row"], ex["time"])
        rand = model.item_views(torch.randint(1, model.num_items + 1, ex["item"].shape, generator=gen))["fused"]
        wins["search"] += float(((state * ex["fused"]).sum(-1) > (state * rand).sum(-1))[has].sum())
        counts["search"] += int(has.sum())
    return {f"{kind}_above_random": wins[kind] / max(counts[kind], 1) for kind in wins} | \
        {f"{kind}_targets": counts[kind] for kind in counts}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--root")
    p.add_argument("--batches", type=int, default=8)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    r = target_ranks(args.checkpoint, args.root, args.batches)
    print(f"P(next recommendation click > random item): {r['rec_above_random']:.3f} over {r['rec_targets']} targets")
    print(f"P(search click > random item | the state before it): {r['search_above_random']:.3f} "
          f"over {r['search_targets']} targets")


if __name__ == "__main__":
    main()
