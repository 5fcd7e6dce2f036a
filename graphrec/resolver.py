"""Name -> class registries for models, message-passing layers and datasets.

Names are normalised the way PyG's resolver does it (lower case, ``-``, ``_`` and
spaces removed), so ``"BPR-MF"``, ``"bpr_mf"`` and ``"BPRMF"`` all resolve. Users
register their own classes with :func:`register_model` / :func:`register_conv` /
:func:`register_dataset` from outside the package, and configs then name them
like the bundled ones (``model.conv: my_layer``).

A pure registry: this module imports nothing of graphrec. The bundled models,
layers and datasets register themselves when their packages
(:mod:`graphrec.models`, :mod:`graphrec.nn.conv`, :mod:`graphrec.data.datasets`)
are imported, which ``import graphrec`` does.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_MODELS: dict[str, type] = {}
_MODEL_NAMES: dict[str, str] = {}
_CONVS: dict[str, type] = {}
_CONV_NAMES: dict[str, str] = {}
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


def register_conv(name: str | None = None) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a message-passing layer available under ``name``
    (default: the class name) to the models that build their layers by name
    (:class:`~graphrec.models.GraphCF`'s ``conv`` option, ``--set model.conv=NAME``).

    The class is built by :func:`build_conv`, which passes ``in_channels`` and
    ``out_channels`` only if its constructor takes them (a parameter-free layer
    such as :class:`~graphrec.nn.conv.LightGCNConv` needs neither). It is called
    as a PyG bipartite layer, ``conv((x_src, x_dst), adj)``, where ``adj`` is a
    :class:`~graphrec.ops.CSRAdjacency` (or an ``edge_index`` under
    ``propagation="edge_index"``) from ``x_src``'s nodes to ``x_dst``'s.
    """

    def wrap(cls: type[T]) -> type[T]:
        key = name or cls.__name__
        _CONVS[normalize_string(key)] = cls
        _CONV_NAMES[normalize_string(key)] = key
        return cls

    return wrap


def register_dataset(dataset_name: str, factory: Callable[..., Any], /, **defaults: Any) -> None:
    """Make ``factory(root=..., **defaults)`` available as dataset ``dataset_name``."""
    _DATASETS[normalize_string(dataset_name)] = (factory, defaults)
    _DATASET_NAMES[normalize_string(dataset_name)] = dataset_name


def model_names() -> list[str]:
    return sorted(_MODEL_NAMES.values())


def conv_names() -> list[str]:
    return sorted(_CONV_NAMES.values())


def dataset_names() -> list[str]:
    return sorted(_DATASET_NAMES.values())


def model_resolver(name: str) -> type:
    """The model class registered as ``name``; ValueError lists the choices."""
    cls = _MODELS.get(normalize_string(name))
    if cls is None:
        raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(model_names())}")
    return cls


def conv_resolver(name: str) -> type:
    """The layer class registered as ``name`` (``"...conv"`` suffix optional);
    ValueError lists the choices."""
    key = normalize_string(name)
    cls = _CONVS.get(key) or _CONVS.get(key.removesuffix("conv")) or _CONVS.get(key + "conv")
    if cls is None:
        raise ValueError(f"unknown layer '{name}'; choose one of: {', '.join(conv_names())} "
                         "(register your own with @register_conv)")
    return cls


def build_conv(name: str, in_channels: int, out_channels: int, **kwargs: Any) -> Any:
    """Instantiate the layer registered as ``name`` with ``kwargs``, adding
    ``in_channels`` / ``out_channels`` where its constructor takes them. An option
    the constructor does not take is a ValueError naming it and the accepted ones."""
    cls = conv_resolver(name)
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for option in kwargs:
        if option not in params and not accepts_any:
            accepted = [p for p in params if p not in ("in_channels", "out_channels", "kwargs")]
            raise ValueError(f"layer '{name}' ({cls.__name__}) takes no option '{option}'; "
                             f"it accepts: {', '.join(accepted) or 'none'}")
    channels = {k: v for k, v in (("in_channels", in_channels), ("out_channels", out_channels)) if k in params}
    return cls(**channels, **kwargs)


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


__all__ = ["normalize_string", "register_model", "register_conv", "register_dataset", "model_resolver",
           "conv_resolver", "build_conv", "dataset_resolver", "dataset_parameters", "model_names",
           "conv_names", "dataset_names"]
