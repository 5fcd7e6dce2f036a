"""Shared fixtures for the benchmarks; every JSON records the allocator
settings and the machine's load (the 2 CPU cores are shared)."""
from __future__ import annotations

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

from synthetic import load, square_edge_index  # noqa: E402

MALLOC_VARS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "LD_PRELOAD",
               "OMP_WAIT_POLICY", "OMP_NUM_THREADS")


def allocator_info() -> dict:
    env = {k: os.environ.get(k) for k in MALLOC_VARS}
    tuned = env["MALLOC_MMAP_MAX_"] == "0" and env["MALLOC_TRIM_THRESHOLD_"] is not None
    return {"allocator": "glibc (mmap off, no trim)" if tuned else "glibc default", **env}


def pytest_addoption(parser):
    parser.addoption("--bench-graphs", default="gowalla,amazon-book",
                     help="comma-separated graph shapes: gowalla, amazon-book, tiny")
    parser.addoption("--bench-threads", type=int, default=0,
                     help="torch.set_num_threads for the run (0: torch's default)")
    parser.addoption("--bench-device", default="cpu",
                     help="device the kernel benchmarks run on (cpu, cuda); CUDA timings synchronise")


_LOAD_AT_START = os.getloadavg()


def _command() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("pytest", "__main__.py")):
        argv[0] = "python -m pytest"
    return " ".join(argv)


def pytest_configure(config):
    threads = config.getoption("--bench-threads", default=0)
    if threads:
        torch.set_num_threads(threads)


def pytest_generate_tests(metafunc):
    if "graph_name" in metafunc.fixturenames:
        names = metafunc.config.getoption("--bench-graphs").split(",")
        metafunc.parametrize("graph_name", [n.strip() for n in names if n.strip()], scope="module")


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["allocator"] = allocator_info()
    machine_info["loadavg_at_start"] = _LOAD_AT_START
    machine_info["torch"] = torch.__version__
    machine_info["torch_num_threads"] = torch.get_num_threads()
    dev = torch.device(config.getoption("--bench-device"))
    machine_info["bench_device"] = str(dev)
    if dev.type == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(dev)
        machine_info["cuda_device"] = {"name": props.name, "memory_bytes": props.total_memory,
                                       "cuda": torch.version.cuda}
    import torch_geometric

    machine_info["torch_geometric"] = torch_geometric.__version__


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["loadavg_at_end"] = os.getloadavg()
    output_json["allocator"] = allocator_info()
    output_json["command"] = _command()


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    """The device of the kernel benchmarks (``--bench-device``); a missing one skips them."""
    dev = torch.device(request.config.getoption("--bench-device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--bench-device cuda: this machine has no CUDA device")
    return dev


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels, so a timing covers their work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_GRAPHS: dict = {}


@pytest.fixture(scope="module")
def graph(graph_name):
    """(shape, user-item edges, square edge_index) for a benchmark shape."""
    if graph_name not in _GRAPHS:
        _GRAPHS.clear()  # keep one big graph in memory at a time
        shape, ui = load(graph_name)
        _GRAPHS[graph_name] = (shape, ui, square_edge_index(ui, shape.num_users))
    return _GRAPHS[graph_name]
