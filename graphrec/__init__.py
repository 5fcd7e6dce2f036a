"""graphrec: graph learning for search-enhanced and sequential recommendation."""
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("data", "datasets", "metrics", "models", "nn", "ops", "train", "resolver", "typing")


def __getattr__(name: str) -> Any:  # lazy: `import graphrec` stays cheap
    if name in _SUBMODULES:
        return import_module(f"graphrec.{name}")
    raise AttributeError(f"module 'graphrec' has no attribute '{name}'")


__all__ = ["__version__", *_SUBMODULES]
