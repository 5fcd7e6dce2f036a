"""Issue 15's ClardRec grid as a list of shell commands, most wanted first: one line per run, each
training (``graphrec compare --resume``), then scoring the same checkpoint under full ranking
(``graphrec evaluate --protocol full``) and, for ClardRec, analysing its parts
(``examples/clardrec.py --analyse``), so that a run leaves everything its tables need before its
checkpoint goes with the machine.

    python docs/_scripts/clardrec_grid.py --root ../shared/data --output results/clardrec > jobs.txt
    xargs -P 2 -d '\\n' -I{} bash -c {} < jobs.txt                  # this machine, two at a time
    python docs/_scripts/clardrec_grid.py --root ../shared/data --output /tmp/smoke --only synthetic \\
        --set train.epochs=1 --set train.max_batches=2 | bash -e      # every step of every model, in minutes
    python docs/_scripts/clardrec_grid.py --root '$DATA' --output '$Q/clardrec' --device '$DEV' > jobs.txt
    bash docs/_scripts/device_queue.sh jobs.txt DATA_DIR OUT_DIR SECONDS  # a lent GPU (its own variables)

Every line resumes: a run whose last file (``analysis.json``, ``full.json`` or ``results.json``) is
there is skipped; a run with a checkpoint continues; a run that finished training in an earlier
session but lost its checkpoint before the full-ranking score is trained again. Folders, read by
``docs/_scripts/clardrec_tables.py``: ``OUTPUT/DATASET`` (both settings, the ablations),
``OUTPUT/DATASET-full`` (Popularity under full ranking: it has no checkpoint to score again) and
``OUTPUT/DATASET-sens/KEY=VALUE`` (one setting of ClardRec changed).
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from dataclasses import dataclass, field

CONFIG = "graphrec/configs/clardrec.yaml"
CF = ("popularity", "lightgcn", "search_transfer", "clardrec")
SEQUENTIAL = ("sasrec-seq", "search_transfer-seq", "sesrec", "clardrec-seq")
ABLATIONS = ("clardrec-no-cd", "clardrec-no-con", "clardrec-no-fa", "clardrec-no-da", "clardrec-no-attr",
             "clardrec-c1", "clardrec-relative", "clardrec-threshold", "clardrec-text-queries")
#: the sequential setting's parts, one switched off at a time (clardrec-seq-no-search: all of them;
#: clardrec-seq-da-only: all but the search clicks as extra targets, at full weight: naive transfer without them
#: in the input history)
SEQ_ABLATIONS = ("clardrec-seq-no-search", "clardrec-seq-no-task", "clardrec-seq-no-cd", "clardrec-seq-no-fa",
                 "clardrec-seq-no-da", "clardrec-seq-da-only")
#: graphrec's diagnostics, not the paper's: ClardRec's f_R over naive transfer's graph (is the gap in the
#: graph?) and ClardRec with neither transfer path (is the gain over the backbone in the shared tables?)
DIAGNOSTICS = ("clardrec-union-graph", "clardrec-no-transfer")
#: baselines trained another way: SESRec with its authors' training negatives (by popularity)
BASELINE_VARIANTS = ("sesrec-popneg",)
#: the sequential item maps (model.domain_mlp; the default maps neither view), with the model and its forms
#: without data augmentation or any search part: what put ClardRec-seq under SASRec
SEQ_MAPS = (("both", ("clardrec-seq", "clardrec-seq-no-search", "clardrec-seq-no-da")),
            ("search", ("clardrec-seq", "clardrec-seq-no-da")))
#: the spec's grids (shared/methods/clardrec.md, section 5) without ClardRec's defaults (alpha 0.1, beta 0.1,
#: lambda 0.5), each setting changed alone
SENSITIVITY = (("alpha", 0.01), ("alpha", 0.5), ("alpha", 1.0), ("beta", 0.01), ("beta", 1.0), ("lam", 0.1),
               ("lam", 1.0))
#: the synthetic world with negative transfer built in (docs/methods/clardrec.md)
OFFTASTE = ("data.search_offtaste=0.5",)
#: a world where search is most of the behaviour (two searches to a recommendation click, the paper's
#: "larger where search is a bigger share"), with and without the off-taste half
SEARCH_HEAVY = ("data.search_logit_mean=0.0", "data.mean_rec_interactions=15")
FULL_KS = "1,5,10,20"


@dataclass(frozen=True)
class Run:
    dataset: str
    folder: str  # under OUTPUT
    model: str
    seed: int
    sets: tuple[str, ...] = field(default=())

    @property
    def rescored(self) -> bool:
        """Scored again under full ranking from its checkpoint (Popularity keeps none)."""
        return self.model != "popularity"

    @property
    def analysed(self) -> bool:
        return self.model.startswith("clardrec") and self.rescored


def _setting(dataset: str, folder: str, seeds: tuple[int, ...], models: tuple[str, ...],
             sets: tuple[str, ...] = ()) -> list[Run]:
    runs = [Run(dataset, folder, m, s, sets) for s in seeds for m in models]
    if "popularity" in models:
        runs += [Run(dataset, f"{folder}-full", "popularity", s, sets + ("train.protocol=full",)) for s in seeds]
    return runs


def grid() -> list[Run]:
    """What the issue asks for, in the order it is wanted: beauty-search with three seeds in both
    settings; its ablations (both settings) and the sensitivity grid; toys-search and the synthetic
    world with one seed, with the sequential item-map runs; the off-taste world (where negative
    transfer exists) with three, its ablations with three and its sensitivity grid with one."""
    runs = _setting("beauty-search", "beauty", (0, 1, 2), CF)
    runs += _setting("beauty-search", "beauty", (0, 1, 2), SEQUENTIAL)
    runs += [Run("beauty-search", "beauty", m, 0) for m in ABLATIONS + DIAGNOSTICS]
    # the one part whose removal closes the gap to naive transfer on seed 0 gets the other seeds
    runs += [Run("beauty-search", "beauty", "clardrec-no-cd", s) for s in (1, 2)]
    runs += [Run("beauty-search", "beauty", m, 0) for m in SEQ_ABLATIONS + BASELINE_VARIANTS]
    runs += [Run("beauty-search", f"beauty-sens/{k}={v}", "clardrec", 0, (f"model.{k}={v}",))
             for k, v in SENSITIVITY]
    runs += _setting("toys-search", "toys", (0,), CF + SEQUENTIAL)
    runs += _setting("synthetic", "synthetic", (0,), CF + SEQUENTIAL)
    runs += [Run("synthetic", "synthetic", m, 0) for m in SEQ_ABLATIONS + BASELINE_VARIANTS]
    runs += [Run("synthetic", f"synthetic-seqmaps/domain_mlp={v}", m, 0, (f"model.domain_mlp={v}",))
             for v, models in SEQ_MAPS for m in models]
    runs += _setting("synthetic", "synthetic-offtaste", (0, 1, 2), CF, OFFTASTE)
    # where negative transfer exists, the ablations and the sensitivity say what removes it (cheap: minutes a run)
    runs += [Run("synthetic", "synthetic-offtaste", m, s, OFFTASTE) for s in (0, 1, 2) for m in ABLATIONS]
    runs += [Run("synthetic", f"synthetic-offtaste-sens/{k}={v}", "clardrec", 0, OFFTASTE + (f"model.{k}={v}",))
             for k, v in SENSITIVITY]
    runs += _setting("synthetic", "synthetic-searchheavy", (0, 1, 2), CF + ("clardrec-threshold",),
                     SEARCH_HEAVY + OFFTASTE)
    runs += _setting("synthetic", "synthetic-searchheavy-ontaste", (0,), CF, SEARCH_HEAVY)
    return runs


def command(run: Run, root: str, output: str, device: str) -> str:
    """One shell line: skip, or train (resuming), score under full ranking, analyse."""
    d = f"{output}/{run.folder}/{run.model}/seed-{run.seed}"
    q = shlex.quote
    sets = [f"train.device={device}", "train.progress=false", *run.sets]
    train = " ".join(["python -m graphrec compare --dataset", q(run.dataset), "--root", root, "--config", CONFIG,
                      "--models", q(run.model), "--seeds", str(run.seed), "--output", f"{output}/{run.folder}",
                      "--resume", *[f"--set {q(s)}" for s in sets]])
    steps = [train]
    if run.rescored:
        steps.append(f"{{ [ -f {d}/full.json ] || python -m graphrec evaluate {d}/checkpoint.pt --root {root} "
                     f"--split test --protocol full --ks {FULL_KS} --output {d}/full.json; }}")
    if run.analysed:
        steps.append(f"python examples/clardrec.py --analyse {d}/checkpoint.pt --root {root}")
    last = "analysis.json" if run.analysed else "full.json" if run.rescored else "results.json"
    # trained in an earlier session whose checkpoint is gone before its last step: train it again
    redo = f"{{ [ -f {d}/checkpoint.pt ] || rm -f {d}/results.json; }}; " if run.rescored else ""
    return f"[ -f {d}/{last} ] || {{ {redo}{' && '.join(steps)}; }}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="folder of the raw datasets (a shell word: '$DATA' is kept)")
    p.add_argument("--output", required=True, help="folder of the runs (a shell word: '$Q/clardrec' is kept)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default="", help="comma-separated folders to keep (e.g. beauty,beauty-full)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="added to every run (a smoke check: --set train.epochs=1 --set train.max_batches=2)")
    args = p.parse_args(argv)
    keep = {f for f in args.only.split(",") if f}
    for run in grid():
        if not keep or run.folder.split("/")[0] in keep:
            print(command(dataclasses.replace(run, sets=run.sets + tuple(args.set)), args.root, args.output,
                          args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
