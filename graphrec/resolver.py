"""Name -> class registries for models and datasets.

Names are normalised the way PyG's resolver does it (lower case, ``-``, ``_`` and
spaces removed), so ``"BPR-MF"``, ``"bpr_mf"`` and ``"BPRMF"`` all resolve. Users
register their own classes with :func:`register_model` / :func:`register_dataset`
from outside the package.

A pure registry: this module imports nothing of graphrec. The bundled models and
datasets register themselves when their packages (:mod:`graphrec.models`,
:mod:`graphrec.data.datasets`) are imported, which ``import graphrec`` does.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_MODELS: dict[str, type] = {}
_MODEL_NAMES: dict[str, str] = {}
_DATASETS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {}
_DATASET_NAMES: dict[str, str] = {}


def normalize_string(s: str) -> str:
    return s.lower().replace("-", "").replace("_", "").replace(" ", "")


def register_model(name: str | None = None) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a model available under ``name`` (default: the
    class's snake-case name, given as ``name``) to the trainer and the CLI."""

    def wrap(cls: type[T]) -> type[T]:
        key = name or cls.__name__.lower()
        _MODELS[normalize_string(key)] = cls
        _MODEL_NAMES[normalize_string(key)] = key
        cls.registry_name = key  # type: ignore[attr-defined]
        return cls

    return wrap


def register_dataset(dataset_name: str, factory: Callable[..., Any], /, **defaults: Any) -> None:
    """Make ``factory(root=..., **defaults)`` available as dataset ``dataset_name``."""
    _DATASETS[normalize_string(dataset_name)] = (factory, defaults)
    _DATASET_NAMES[normalize_string(dataset_name)] = dataset_name


def model_names() -> list[str]:
    return sorted(_MODEL_NAMES.values())


def dataset_names() -> list[str]:
    return sorted(_DATASET_NAMES.values())


def model_resolver(name: str) -> type:
    """The model class registered as ``name``; ValueError lists the choices."""
    cls = _MODELS.get(normalize_string(name))
    if cls is None:
        raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(model_names())}")
    return cls


def _dataset_entry(name: str) -> tuple[Callable[..., Any], dict[str, Any]]:
    """``(factory, defaults)`` registered as ``name``; ValueError lists the choices."""
    entry = _DATASETS.get(normalize_string(name))
    if entry is None:
        raise ValueError(f"unknown dataset '{name}'; choose one of: {', '.join(dataset_names())}")
    return entry


def dataset_parameters(name: str) -> list[str] | None:
    """The keyword arguments the dataset registered as ``name`` accepts, minus those
    fixed at registration (``None`` when its factory takes ``**kwargs``)."""
    factory, defaults = _dataset_entry(name)
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in defaults]


def dataset_resolver(name: str, **kwargs: Any) -> Any:
    """Instantiate the dataset registered as ``name`` (kwargs override defaults)."""
    factory, defaults = _dataset_entry(name)
    return factory(**{**defaults, **kwargs})


__all__ = ["normalize_string", "register_model", "register_dataset", "model_resolver",
           "dataset_resolver", "dataset_parameters", "model_names", "dataset_names"]
