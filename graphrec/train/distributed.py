"""Data-parallel runs on PyTorch's own engine: the process group and the rank helpers.

``torchrun`` starts one process per rank and tells each who it is through the
environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). :func:`init_from_env` reads it and joins the process group --
gloo on CPU, NCCL on CUDA (each process on the GPU of its local rank). Without those
variables, or with ``WORLD_SIZE=1``, nothing is initialised and every helper here is
a no-op that returns its input: a single process behaves exactly as if this module
did not exist.

The trainer uses these helpers to shard batches and users, to sum metrics over ranks
and to let rank 0 alone write files; see ``docs/distributed.md``.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

log = logging.getLogger("graphrec.train")

#: the variables torchrun sets for every process (``MASTER_ADDR`` / ``MASTER_PORT`` too)
ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset: not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def launched_by_torchrun() -> bool:
    """Whether the environment describes a group of more than one process."""
    return env_world_size() > 1 and "RANK" in os.environ


def backend_for(device: str | torch.device) -> str:
    """``"nccl"`` for a CUDA device, ``"gloo"`` otherwise (CPU)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: str | torch.device = "cpu", timeout: timedelta | None = None) -> bool:
    """Join the process group torchrun describes in the environment.

    Returns ``True`` when this process is one of several ranks (now or already
    initialised), ``False`` for a single process, where nothing is done. On CUDA the
    process takes the GPU of its ``LOCAL_RANK`` (so ``"cuda"`` means that one), and
    the backend is NCCL; on CPU it is gloo. ``timeout``: how long a collective waits
    for a missing rank (torch's default when ``None``). The group is destroyed at
    exit. Ranks other than 0 log warnings only, so the log of a run reads as one run."""
    if is_distributed():
        return True
    if not (dist.is_available() and launched_by_torchrun()):
        return False
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(get_local_rank())
    dist.init_process_group(backend=backend, init_method="env://", **({"timeout": timeout} if timeout else {}))
    atexit.register(cleanup)
    if not is_main_process():
        logging.getLogger("graphrec").setLevel(logging.WARNING)
    log.info("process group: %s, %d ranks", backend, get_world_size())
    return True


def cleanup() -> None:
    """Leave the process group (a no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    """Whether a process group of more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank (0 for a single process)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of ranks (1 for a single process)."""
    return dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``; 0 for a single process)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0) if launched_by_torchrun() else 0


def is_main_process() -> bool:
    """Rank 0: the one process that writes checkpoints, results and plots."""
    return get_rank() == 0


def is_local_main_process() -> bool:
    """Local rank 0: the first process on each machine."""
    return get_local_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op for a single process)."""
    if is_distributed():
        dist.barrier()


@contextmanager
def main_process_first(local: bool = True) -> Iterator[None]:
    """Run the block on (local) rank 0 first, then on the other ranks.

    For work that fills an on-disk cache (dataset processing, model stages): rank 0
    computes and writes it, the others then find it and read it instead of computing
    it again. ``local=True`` orders the ranks of each machine, so a cache that is not
    on a shared file system is filled once per machine."""
    first = is_local_main_process() if local else is_main_process()
    if not first:
        barrier()
    try:
        yield
    finally:
        if first:
            barrier()


def broadcast_value(value: Any, src: int = 0) -> Any:
    """``value`` of rank ``src`` on every rank (any picklable object: a flag, a number,
    a checkpoint's state). For a single process, ``value`` itself."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def all_reduce_sum(values: Tensor) -> Tensor:
    """The element-wise sum of ``values`` over ranks, in float64, on ``values``' device
    (for sums of metrics and counts: float64 keeps user counts exact up to 2**53).
    For a single process, ``values`` itself."""
    if not is_distributed():
        return values
    buf = values.detach().to(_comm_device(), torch.float64).clone()
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.to(values.device)


def _comm_device() -> torch.device:
    """Where collectives run: the current GPU under NCCL, the CPU under gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def shard_rows(n: int, rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s contiguous share of ``n`` rows: the first
    ``n % world_size`` ranks take one row more than the others."""
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def batch_rows(batch: dict[str, Any]) -> int:
    """Rows of a training batch: the length of its ``"user"`` entry, else of its first
    tensor with at least one dimension."""
    first = batch.get("user")
    if not (isinstance(first, Tensor) and first.dim() > 0):
        first = next((v for v in batch.values() if isinstance(v, Tensor) and v.dim() > 0), None)
    if first is None:
        raise ValueError(f"a training batch needs a tensor with one row per example to be sharded over ranks; "
                         f"got keys {sorted(batch)}")
    return first.size(0)


def shard_batch(batch: dict[str, Any], rank: int | None = None,
                world_size: int | None = None) -> tuple[dict[str, Any], float]:
    """``rank``'s contiguous share of a training batch, and the fraction of the
    batch's rows it holds.

    Every tensor whose first dimension is the batch's row count (:func:`batch_rows`)
    is cut; anything else is passed whole. A rank left without rows (a batch smaller
    than the world) gets the batch's first row with share 0: it still runs the
    forward and backward pass that the gradient all-reduce waits for, and contributes
    nothing to the gradient."""
    world_size = get_world_size() if world_size is None else world_size
    if world_size == 1:
        return batch, 1.0
    n = batch_rows(batch)
    start, stop = shard_rows(n, rank, world_size)
    share = (stop - start) / n if n else 0.0
    if stop == start:
        start, stop = 0, min(1, n)
    out = {k: v[start:stop] if isinstance(v, Tensor) and v.dim() > 0 and v.size(0) == n else v
           for k, v in batch.items()}
    return out, share


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """A seed for ``rank``'s own random draws in ``epoch`` (dropout, augmentations):
    distinct per rank and epoch, a function of the run's seed only, so a resumed run
    draws the same."""
    return int(hashlib.sha1(f"{seed}:{epoch}:{rank}".encode()).hexdigest()[:15], 16)


__all__ = ["init_from_env", "cleanup", "is_distributed", "get_rank", "get_world_size", "get_local_rank",
           "is_main_process", "is_local_main_process", "barrier", "main_process_first", "broadcast_value",
           "all_reduce_sum", "shard_rows", "batch_rows", "shard_batch", "rank_seed", "launched_by_torchrun",
           "backend_for", "env_world_size", "ENV_VARS"]
