"""graphrec: graph learning for search-enhanced and sequential recommendation."""
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# the packages whose modules register the bundled models and datasets with
# graphrec.resolver (a pure registry that imports nothing of graphrec)
from graphrec import models as _models  # noqa: E402, F401
from graphrec.data import datasets as _datasets  # noqa: E402, F401

_SUBMODULES = ("data", "datasets", "metrics", "models", "nn", "ops", "train", "resolver", "typing")


def __getattr__(name: str) -> Any:  # the other subpackages load on first use
    if name in _SUBMODULES:
        return import_module(f"graphrec.{name}")
    raise AttributeError(f"module 'graphrec' has no attribute '{name}'")


__all__ = ["__version__", *_SUBMODULES]
