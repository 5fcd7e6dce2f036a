"""One training step of the sequential models on Amazon Beauty batches: SASRec
(per-user windows, all positions) against IDCLRec (every-prefix subsequences, a
second view for L_CL1, L_d, the intent category) and IDCLRec's backbone (no
auxiliary loss), with and without length-bucketed batches, and IDCLRec with its L_CL1
partners encoded in one pass instead of in groups of similar length, or in one pass together
with the input (``cl1_length_groups=0``, the fewest operations), and the backbone and IDCLRec with
every encoder pass in length groups (``train.encoder_length_groups=4``), and IDCLRec with its partners
paired inside the batch (``pair_partners``: no second view to encode; ``pair_by_length``: each target's rows
paired in order of length), and the baselines trained the same
way (ICSRec, DuoRec) with drawn and with paired partners. ``extra_info`` holds the batches per epoch and the
seconds of the per-epoch work outside the steps (ICSRec's k-means), so ``mean * batches_per_epoch +
epoch_start_s`` is the epoch time.

Run:  OMP_NUM_THREADS=1 pytest benchmarks/test_bench_sequential.py --benchmark-only --bench-threads 1
      pytest benchmarks/test_bench_sequential.py --benchmark-only --bench-device cuda   (a GPU)
Needs ../shared/data (or $GRAPHREC_SHARED_DATA) with amazon_seq/.
"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
import torch
from conftest import allocator_info, synchronize

from graphrec.data import train_history
from graphrec.data.loader import SequenceLoader, SubsequenceLoader
from graphrec.datasets import AmazonSeq
from graphrec.models import DuoRec, DuoRecConfig, ICSRec, ICSRecConfig, IDCLRec, IDCLRecConfig, SASRec, SASRecConfig
from graphrec.nn.encoders import SequenceTransformer

SHARED = Path(os.environ.get("GRAPHREC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

MODELS = {
    "sasrec": lambda d: SASRec.from_data(d, SASRecConfig()),
    "idclrec_backbone": lambda d: IDCLRec.from_data(d, IDCLRecConfig(delta=2.0, use_Ld=False, use_CL1=False,
                                                                     use_CL2=False)),
    # the default: the partners in 4 length groups on a CPU, in one pass with the input on a GPU
    "idclrec": lambda d: IDCLRec.from_data(d, IDCLRecConfig()),
    "idclrec_partners_in_groups": lambda d: IDCLRec.from_data(d, IDCLRecConfig(cl1_length_groups=4)),
    # the L_CL1 partners encoded in one pass at the batch's longest partner (before 0.1 grouped them)
    "idclrec_partners_one_pass": lambda d: IDCLRec.from_data(d, IDCLRecConfig(cl1_length_groups=1)),
    "idclrec_partners_with_input": lambda d: IDCLRec.from_data(d, IDCLRecConfig(cl1_length_groups=0)),
    # train.encoder_length_groups=4: every encoder pass in 4 groups of similar length (plain batches keep
    # their rows; the saving is the padding of the short rows)
    "idclrec_backbone_encoder_groups": lambda d: encoder_groups(IDCLRec.from_data(d, IDCLRecConfig(
        delta=2.0, use_Ld=False, use_CL1=False, use_CL2=False)), 4),
    "idclrec_encoder_groups": lambda d: encoder_groups(IDCLRec.from_data(d, IDCLRecConfig()), 4),
    # pair_partners: the L_CL1 partners are rows of the same batch (a paired loader), no second view encoded
    "idclrec_paired": lambda d: IDCLRec.from_data(d, IDCLRecConfig(pair_partners=True)),
    # ... with each target's rows paired in order of length: less padding in bucketed batches
    "idclrec_paired_by_length": lambda d: IDCLRec.from_data(d, IDCLRecConfig(pair_partners=True,
                                                                             pair_by_length=True)),
    # the two baselines trained like IDCLRec (every prefix, a same-target partner), as their authors ran
    # them (the partner drawn and encoded) and with the partner paired inside the batch
    "icsrec": lambda d: ICSRec.from_data(d, ICSRecConfig()),
    "icsrec_paired": lambda d: ICSRec.from_data(d, ICSRecConfig(pair_partners=True)),
    "duorec": lambda d: DuoRec.from_data(d, DuoRecConfig(separate_anchor=True)),
    "duorec_paired": lambda d: DuoRec.from_data(d, DuoRecConfig(separate_anchor=True, pair_partners=True,
                                                                mask_false_negatives=True)),
}


def encoder_groups(model: torch.nn.Module, groups: int) -> torch.nn.Module:
    for m in model.modules():
        if isinstance(m, SequenceTransformer):
            m.length_groups = groups
    return model


@pytest.fixture(scope="module")
def beauty():
    if not (SHARED / "amazon_seq").is_dir():
        pytest.skip(f"Amazon Beauty not found under {SHARED} (set GRAPHREC_SHARED_DATA)")
    return AmazonSeq(str(SHARED), name="beauty")[0]


@pytest.mark.parametrize("buckets", [0, 16])
@pytest.mark.parametrize("name", list(MODELS))
def test_training_step(benchmark, beauty, device, name, buckets):
    torch.manual_seed(0)
    model = MODELS[name](beauty).train().to(device)
    # the per-epoch work outside the steps (ICSRec's k-means E-step), once: its losses then run in full
    start = time.perf_counter()
    model.on_epoch_start(beauty)
    synchronize(device)
    epoch_start = time.perf_counter() - start
    gen = torch.Generator().manual_seed(0)
    hist, n = train_history(beauty), beauty["item"].num_nodes
    loader = (SequenceLoader(hist, n, 50, 256, generator=gen, length_buckets=buckets) if name == "sasrec"
              else SubsequenceLoader(hist, n, 50, 256, generator=gen, length_buckets=buckets,
                                     pair_partners=model.train_inputs().pair_partners,
                                     pair_by_length=model.train_inputs().pair_by_length))
    batches = itertools.cycle([{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}
                               for b in itertools.islice(iter(loader), 40)])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        model.loss(next(batches))["loss"].backward()
        opt.step()
        synchronize(device)

    benchmark.group = "sequential training step, Amazon Beauty, batch 256"
    benchmark.extra_info.update(model=name, length_buckets=buckets, batches_per_epoch=len(loader),
                                epoch_start_s=epoch_start, device=str(device), threads=torch.get_num_threads(),
                                **allocator_info())
    benchmark.pedantic(step, rounds=40, iterations=1, warmup_rounds=3)
