"""Issue 14's sequential grid as one prepared command: every run is a ``graphrec compare`` process,
``--workers`` at a time, in the order of :data:`JOBS` (most wanted first), so a short lease of a
device trains the runs that matter most to convergence and the rest as far as they get.

    python docs/_scripts/seq_grid.py --root ../shared/data --output results/seq-grid --device cuda --workers 16
    python docs/_scripts/seq_grid.py --root ../shared/data --output /tmp/smoke --device cpu --smoke
    python docs/_scripts/seq_grid.py --root ../shared/data --output results/seq-grid --device cpu --length-buckets 16

``--smoke`` trains two batches of every distinct model on every dataset (the first run of each dataset
alone, so that the dataset cache is written once) and exits non-zero when one fails: a check of the
whole grid in a minute before it is started. Every run writes ``OUTPUT/DATASET/LABEL-sSEED/`` (the
compare folder, ``--resume``-able) and its log under ``OUTPUT/logs/``; ``OUTPUT/status.json`` says
which runs started, ended and with which exit code. ``docs/_scripts/seq_tables.py`` reads the results.

``--length-buckets N`` is for CPU sessions: the every-prefix models (ICSRec, IDCLRec and its backbone
and variants, DuoRec) train on batches grouped by length, about 3x faster a step on one thread, and
their runs are named ``LABEL-lbN-sSEED`` so that they stay apart from the unbucketed ones.
On a 2-core machine whose session must finish what it starts, ``--workers 1 --threads 2 --runs
DATASET/RUN,...`` trains the chosen runs one after another on both cores:

    python docs/_scripts/seq_grid.py --root ../shared/data --output results/seq-grid --device cpu \\
        --length-buckets 16 --workers 1 --threads 2 --runs beauty/duorec-fair-paired-lb16-s1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

CONFIGS = "graphrec/configs"
# the common regime of the fair table (the ICLRec / ICSRec authors'): DuoRec's own YAML holds its
# authors' RecBole setting (50 epochs, patience 10 on MRR), so its fair run overrides those three
FAIR = ("train.epochs=300", "train.patience=40", "train.metric=ndcg@20")
# on a CPU every encoder pass runs in length groups: the same values, about half the time per step on
# plain (random-length) batches (benchmarks/results/sequential_step_encoder_groups.json); a GPU pays
# for the extra launches instead
CPU_SETS = ("train.encoder_length_groups=4",)
# the models trained on every prefix (ICSRec, IDCLRec and its backbone and variants, DuoRec): about 5x
# the rows per epoch of the one-row-per-user models, hence the ones --length-buckets is for
EVERY_PREFIX = ("icsrec", "idclrec", "duorec")


@dataclass(frozen=True)
class Job:
    dataset: str
    config: str
    label: str
    seed: int
    sets: tuple[str, ...] = field(default=())
    name: str = ""  # the run's folder name; label-sSEED unless two runs share a label

    @property
    def run_name(self) -> str:
        return f"{self.name or self.label}-s{self.seed}"

    @property
    def key(self) -> str:
        """``DATASET/RUN_NAME``: how ``--runs``, ``status.json`` and the start/end lines name the run."""
        return f"{self.dataset}/{self.run_name}"


def _models(dataset: str) -> list[tuple[str, str, tuple[str, ...], str]]:
    """``(config, label, sets, name)`` of the six models of the fair table on ``dataset``, with the
    per-dataset variants the authors' scripts use (ICLRec's layers, ICSRec's Toys setting)."""
    iclrec = {"beauty": "iclrec", "sports": "iclrec-sports", "toys": "iclrec-toys"}[dataset]
    icsrec = "icsrec-toys" if dataset == "toys" else "icsrec"
    return [(f"{CONFIGS}/icsrec.yaml", icsrec, (), ""),
            (f"{CONFIGS}/idclrec.yaml", "idclrec", (), ""),
            (f"{CONFIGS}/idclrec.yaml", "idclrec-backbone", (), ""),
            (f"{CONFIGS}/duorec.yaml", "duorec", FAIR, "duorec-fair"),
            (f"{CONFIGS}/iclrec.yaml", iclrec, (), ""),
            (f"{CONFIGS}/cl4srec.yaml", "cl4srec", (), "")]


def grid() -> list[Job]:
    """Issue 14's minimum grid, most wanted first: Beauty seed 1 of every model; seeds 2 and 3 of the
    one-row-per-user models (ICLRec, CL4SRec: a seventh of the every-prefix models' steps per epoch),
    then of the others; Sports and Toys with one seed; the Beauty ablations; DuoRec as its authors
    stop it (50 epochs, patience 10 on MRR); IDCLRec, ICSRec and DuoRec with ``pair_partners``; IDCLRec's
    parts removed one at a time on paired batches, its pairs by length, and L_CL1 in the spec's proposed
    form (dot product, tau = 1); ICLRec with every switch of its authors' code."""
    beauty = _models("beauty")
    cheap = [m for m in beauty if m[1] in ("iclrec", "cl4srec")]
    jobs = [Job("beauty", c, lab, 1, sets, n) for c, lab, sets, n in beauty]
    jobs += [Job("beauty", c, lab, s, sets, n) for s in (2, 3) for c, lab, sets, n in cheap]
    jobs += [Job("beauty", c, lab, s, sets, n) for s in (2, 3) for c, lab, sets, n in beauty if (c, lab, sets, n)
             not in cheap]
    for ds in ("sports", "toys"):
        jobs += [Job(ds, c, lab, 1, sets, n) for c, lab, sets, n in _models(ds)]
    jobs += [Job("beauty", f"{CONFIGS}/idclrec.yaml", f"idclrec-{a}", 1)
             for a in ("no-Ld", "no-CL1", "no-CL2", "uniform")]
    jobs.append(Job("beauty", f"{CONFIGS}/duorec.yaml", "duorec", 1))
    # the speed switch at convergence: partners paired in the batch against IDCLRec's seed 1 above
    jobs.append(Job("beauty", f"{CONFIGS}/idclrec.yaml", "idclrec-paired", 1))
    # and for the two every-prefix baselines, whose drawn partner costs an encoder pass (about 2.4x and
    # 2.6x the paired step on a CPU, benchmarks/results/sequential_step_baselines.json)
    jobs.append(Job("beauty", f"{CONFIGS}/icsrec.yaml", "icsrec-paired", 1))
    jobs.append(Job("beauty", f"{CONFIGS}/duorec.yaml", "duorec-paired", 1, FAIR, "duorec-fair-paired"))
    # where IDCLRec's gap to its backbone comes from, part by part, on paired batches; and pairs by length
    jobs += [Job("beauty", f"{CONFIGS}/idclrec.yaml", f"idclrec-paired-{v}", 1)
             for v in ("current", "cl1-only", "no-Ld", "no-CL2", "by-length", "cl1-dot")]
    # ICLRec with the last two differences from its authors' code switched off (padding in its
    # representations, windows that spare the last item): does its -8% gap close?
    jobs.append(Job("beauty", f"{CONFIGS}/iclrec.yaml", "iclrec-exact", 1))
    return jobs


def smoke_jobs(jobs: list[Job]) -> list[Job]:
    """One run of every distinct (dataset, config, label, sets), seed 1."""
    seen, out = set(), []
    for j in jobs:
        key = (j.dataset, j.config, j.label, j.sets)
        if key not in seen:
            seen.add(key)
            out.append(Job(j.dataset, j.config, j.label, 1, j.sets + ("train.epochs=1", "train.max_batches=2"),
                           j.name))
    return out


def bucketed(jobs: list[Job], buckets: int) -> list[Job]:
    """``jobs`` with the every-prefix models' batches grouped by length (``train.length_buckets``): on
    a CPU thread about 4x less padding per step (docs/methods/idclrec.md, time per epoch), at the price
    of batches whose rows have similar lengths. The runs are named ``...-lbN`` so that they never
    resume, or are tabled as, an unbucketed run."""
    out = []
    for j in jobs:
        if buckets and j.label.startswith(EVERY_PREFIX):
            j = Job(j.dataset, j.config, j.label, j.seed, j.sets + (f"train.length_buckets={buckets}",),
                    f"{j.name or j.label}-lb{buckets}")
        out.append(j)
    return out


def command(job: Job, root: str, output: str, device: str, threads: int = 0) -> list[str]:
    """The run's ``graphrec compare`` line; ``threads > 0`` sets its intra-op CPU threads."""
    sets = job.sets + (cpu_sets(job) if device.startswith("cpu") else ())
    sets += (f"train.num_threads={threads}",) if threads else ()
    return [sys.executable, "-m", "graphrec", "compare", "--dataset", job.dataset, "--root", root,
            "--config", job.config, "--models", job.label, "--seeds", str(job.seed),
            "--output", os.path.join(output, job.dataset, job.run_name), "--resume",
            "--set", f"train.device={device}", "--set", "train.progress=false",
            *[a for s in sets for a in ("--set", s)]]


def select(jobs: list[Job], keys: str) -> list[Job]:
    """The jobs named by ``keys`` (``DATASET/RUN_NAME,...``, as ``--list`` and the logs name them), in
    the order given; an unknown name is an error, never a run skipped in silence."""
    by_key = {j.key: j for j in jobs}
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in by_key]
    if unknown or not wanted:
        raise ValueError(f"--runs: no such run {unknown or keys!r}; the grid's runs are DATASET/RUN_NAME, "
                         f"e.g. {next(iter(by_key))}")
    return [by_key[k] for k in wanted]


def cpu_sets(job: Job) -> tuple[str, ...]:
    # length-bucketed batches already hold rows of similar length: groups would add launches, not save
    # padding (112 against 104 ms a step, docs/methods/idclrec.md)
    return () if any(s.startswith("train.length_buckets=") for s in job.sets) else CPU_SETS



def run(jobs: list[Job], root: str, output: str, device: str, workers: int,
        start_deadline: float | None = None, threads: int = 0) -> dict[str, dict]:
    """Run ``jobs`` ``workers`` at a time, each with ``threads`` intra-op threads (0: torch's
    default); none is started after ``start_deadline`` seconds."""
    os.makedirs(os.path.join(output, "logs"), exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    status: dict[str, dict] = {}
    pending, running = list(jobs), {}
    t0 = time.monotonic()

    def save() -> None:
        path = os.path.join(output, "status.json")
        with open(path + ".tmp", "w") as f:
            json.dump(status, f, indent=1)
        os.replace(path + ".tmp", path)

    while pending or running:
        while pending and len(running) < workers and (start_deadline is None
                                                      or time.monotonic() - t0 < start_deadline):
            job = pending.pop(0)
            key = job.key
            # appended, never truncated: a resumed run's earlier epochs stay (seq_tables.log_curve
            # reads a restart from scratch as replacing them)
            log = open(os.path.join(output, "logs", f"{job.dataset}_{job.run_name}.log"), "a")
            cmd = command(job, root, output, device, threads)
            running[key] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log)
            status[key] = {"cmd": " ".join(cmd), "started_s": round(time.monotonic() - t0, 1)}
            print(f"[{time.monotonic() - t0:7.1f}s] start {key}", flush=True)
            save()
        if start_deadline is not None and time.monotonic() - t0 >= start_deadline and pending:
            for job in pending:
                status[job.key] = {"skipped": "start deadline"}
            pending = []
            save()
        for key, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[key]
                status[key].update(rc=proc.returncode, ended_s=round(time.monotonic() - t0, 1))
                print(f"[{time.monotonic() - t0:7.1f}s] end {key} rc={proc.returncode}", flush=True)
                save()
        time.sleep(1.0)
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="folder holding amazon_seq/ (and amazon_text/)")
    p.add_argument("--output", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--start-deadline", type=float, default=None,
                   help="start no run after this many seconds (the runs started go on)")
    p.add_argument("--smoke", action="store_true", help="two batches of every distinct run; rc 1 if one fails")
    p.add_argument("--list", action="store_true", help="print the runs in order and exit")
    p.add_argument("--length-buckets", type=int, default=0, metavar="N",
                   help="train the every-prefix models on length-bucketed batches (runs named -lbN)")
    p.add_argument("--threads", type=int, default=0, metavar="T",
                   help="intra-op CPU threads of each run (train.num_threads and OMP_NUM_THREADS; 0: torch's "
                        "default). On 2 cores, --workers 1 --threads 2 finishes one run 1.5-1.7x sooner than "
                        "a run beside another (docs/methods/idclrec.md, one run on both cores)")
    p.add_argument("--runs", default=None, metavar="DATASET/RUN,...",
                   help="only these runs, in this order (names as --list and the logs give them)")
    args = p.parse_args(argv)
    if args.length_buckets < 0:
        p.error(f"--length-buckets must be 0 (off) or positive, got {args.length_buckets}")
    if args.threads < 0:
        p.error(f"--threads must be 0 (torch's default) or positive, got {args.threads}")
    jobs = bucketed(grid(), args.length_buckets)
    if args.runs is not None:
        try:
            jobs = select(jobs, args.runs)
        except ValueError as e:
            p.error(str(e))
    if args.threads > 1 and os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" and not args.list:
        # measured: 2 threads with PASSIVE gain 1.09-1.26x over one, 1.55-1.66x without it (the threads sleep
        # between the step's many small parallel regions)
        print("warning: OMP_WAIT_POLICY=PASSIVE makes several threads per run little faster than one",
              file=sys.stderr)
    if args.list:
        for j in jobs:
            print(" ".join(command(j, args.root, args.output, args.device, args.threads)))
        return 0
    if args.smoke:
        jobs = smoke_jobs(jobs)
        first = {}
        for j in jobs:
            first.setdefault(j.dataset, j)
        # the first run of each dataset alone writes its cache; then the rest together
        status = run(list(first.values()), args.root, args.output, args.device, len(first),
                     threads=args.threads)
        status |= run([j for j in jobs if j not in first.values()], args.root, args.output, args.device,
                      args.workers, threads=args.threads)
        failed = [k for k, v in status.items() if v.get("rc") != 0]
        print("smoke:", "all passed" if not failed else f"failed: {failed}", flush=True)
        return 1 if failed else 0
    run(jobs, args.root, args.output, args.device, args.workers, args.start_deadline, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
