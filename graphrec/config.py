"""Typed configuration: hyperparameter dataclasses, YAML files and ``--set`` overrides.

Precedence, lowest first: a dataclass's defaults, a model's ``train_defaults``, a
YAML file (``model`` / ``train`` / ``data`` sections, per-model ``models:`` sections
and variants), then ``--set key=value`` on the command line.

* :class:`ModelConfig` is the base of every model's ``Config``. A model's config
  *inherits* its backbone's (``CL4SRecConfig(SASRecConfig)``), so every default is
  written once; the docstring's ``Args:`` entries document every field
  (:func:`config_docs` reads them for ``graphrec models show``).
* :func:`resolve_config` is how a model constructor turns ``config=`` and keyword
  hyperparameters into its config (see :mod:`graphrec.models.base`).
* :func:`build_config` / :func:`coerce` build a dataclass from strings (command line).
* :func:`parse_overrides`, :func:`load_yaml`, :func:`merge_sections` and
  :func:`route_overrides` read and merge the YAML and ``--set`` sources.

Nothing here imports a model, a dataset or the trainer.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from graphrec.resolver import normalize_string

#: the sections of a YAML file and of ``--set section.key=value``
SECTIONS = ("model", "train", "data")
#: top-level keys a YAML file may have
YAML_KEYS = ("model", "train", "data", "dataset", "models")


class ConfigError(ValueError):
    """A hyperparameter with a meaningless value; :attr:`field` names it. The message
    starts with the field's name, so :func:`build_config` can put its section before
    it (``model.dim must be >= 1, got 0``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


@dataclasses.dataclass
class ModelConfig:
    """Base of the per-model hyperparameter dataclasses.

    Every instance is checked when it is made (also by :func:`dataclasses.replace`):
    each field must have its declared type (an ``int`` field refuses ``2.5`` and
    ``True``, a ``float`` field refuses NaN and infinities), and :meth:`validate`
    refuses meaningless values, so ``dim=0`` is an error and never a run that trains
    nothing. A subclass extends :meth:`validate` with its own rules and calls
    ``super().validate()`` first."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a field of the wrong type; subclasses add
        their own value rules."""
        check_field_types(self)

    # ---- helpers for validate() -------------------------------------------------------
    def _fail(self, name: str, requirement: str) -> None:
        raise ConfigError(name, f"must be {requirement}, got {getattr(self, name)!r} ({type(self).__name__})")

    def require_positive(self, *names: str) -> None:
        """Each of ``names`` is >= 1 (sizes and counts) or > 0 (real numbers)."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, int) and value < 1:
                self._fail(name, ">= 1")
            if isinstance(value, float) and not value > 0:
                self._fail(name, "> 0")

    def require_non_negative(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 0:
                self._fail(name, ">= 0")

    def require_fraction(self, *names: str, below_one: bool = False) -> None:
        """Each of ``names`` lies in [0, 1] (``[0, 1)`` with ``below_one``: a dropout
        of 1 zeroes everything)."""
        for name in names:
            value = getattr(self, name)
            if not (0 <= value <= 1) or (below_one and value == 1):
                self._fail(name, "in [0, 1)" if below_one else "in [0, 1]")

    def require_choice(self, name: str, choices: Iterable[Any]) -> None:
        choices = tuple(choices)
        if getattr(self, name) not in choices:
            self._fail(name, f"one of {list(choices)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_field_types(config: Any, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for a field of the dataclass ``config`` whose value
    is not of its annotated ``int``, ``float``, ``bool`` or ``str`` type (other
    annotations are not checked). An ``int`` is a valid ``float``; a ``bool`` is not
    an ``int``; a ``float`` must be finite. ``prefix`` goes before field names."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        want, value = hints.get(f.name), getattr(config, f.name)
        if want is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif want is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif want in (bool, str):
            ok = isinstance(value, want)
        else:
            continue
        if not ok:
            what = {float: "a finite number", int: "an integer", bool: "true or false", str: "a string"}[want]
            raise ConfigError(prefix + f.name, f"must be {what}, got {value!r} ({type(config).__name__})")


def resolve_config(cls: type[ModelConfig], config: ModelConfig | None = None,
                   overrides: Mapping[str, Any] | None = None, owner: str | None = None) -> ModelConfig:
    """``config`` (default ``cls()``) with the keyword ``overrides`` replaced.

    Raises :class:`TypeError` for a config of another class or an unknown keyword
    (naming ``owner``, e.g. the model class, and the valid names)."""
    owner = owner or cls.__name__
    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise TypeError(f"{owner}: config must be a {cls.__name__}, got {type(config).__name__}")
    if overrides:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"{owner}() got unknown hyperparameter(s) {unknown}; valid: {sorted(names)}")
        config = dataclasses.replace(config, **overrides)
    return config


def build_config(cls: type[ModelConfig], overrides: dict[str, Any] | None = None,
                 prefix: str = "") -> ModelConfig:
    """``cls(**overrides)`` with a clear error for unknown keys and type coercion
    of strings coming from the command line. ``prefix`` (e.g. ``"train."``) is put
    before key names in error messages."""
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {[prefix + k for k in unknown]} for {cls.__name__}; "
                         f"valid: {sorted(fields)}")
    defaults = cls()
    for key, value in overrides.items():
        overrides[key] = coerce(value, getattr(defaults, key), prefix + key)
    try:
        return cls(**overrides)
    except ConfigError as exc:
        raise ValueError(str(exc) if exc.field.startswith(prefix) else f"{prefix}{exc}") from None


def coerce(value: Any, like: Any, key: str) -> Any:
    """Convert ``value`` (often a CLI string) to the type of the default ``like``."""
    if isinstance(value, str) and like is None:  # Optional field: read a YAML scalar
        return yaml.safe_load(value)
    if not isinstance(value, str) or isinstance(like, str):
        if isinstance(like, tuple) and isinstance(value, list):
            return tuple(value)
        return value
    try:
        if isinstance(like, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
        if isinstance(like, tuple):
            return tuple(type(like[0])(v) if like else v for v in value.split(","))
    except ValueError:
        raise ValueError(f"cannot parse {key}={value!r} as {type(like).__name__}") from None
    return value


# ---- documentation of the fields ---------------------------------------------------------

_ENTRY = re.compile(r"^\s*([A-Za-z_]\w*(?:\s*[,/]\s*[A-Za-z_]\w*)*)\s*:\s*(.*)$")


def config_docs(cls: type) -> dict[str, str]:
    """The documentation of every field of the dataclass ``cls``, read from the
    ``name: text`` entries of its docstring and its bases' (the nearest class
    wins). An entry may document several fields (``dim, max_len: ...`` or
    ``use_interest / use_intent: ...``); its continuation lines are indented
    deeper. Fields without an entry are missing from the result."""
    fields = {f.name for f in dataclasses.fields(cls)}
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        for names, text in _docstring_entries(klass.__doc__ or "", fields):
            for name in names:
                docs.setdefault(name, text)
    return {f.name: docs[f.name] for f in dataclasses.fields(cls) if f.name in docs}


def _docstring_entries(doc: str, fields: set[str]) -> Iterable[tuple[list[str], str]]:
    entry: tuple[list[str], list[str], int] | None = None
    for line in doc.splitlines():
        indent = len(line) - len(line.lstrip())
        m = _ENTRY.match(line)
        names = re.split(r"\s*[,/]\s*", m.group(1)) if m else []
        if m and all(n in fields for n in names):
            if entry is not None:
                yield entry[0], " ".join(entry[1])
            entry = (names, [m.group(2).strip()], indent)
        elif entry is not None and line.strip() and indent > entry[2]:
            entry[1].append(line.strip())
        elif entry is not None:
            yield entry[0], " ".join(entry[1])
            entry = None
    if entry is not None:
        yield entry[0], " ".join(entry[1])


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (up to a period followed by a capital, an
    opening bracket or the end), without reST markup (``:class:`~a.B``` -> ``B``,
    double back-quotes -> none)."""
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?([^`]+)`", r"\1", " ".join(text.split()))
    text = text.replace("``", "")
    m = re.search(r"\.(?=\s+[A-Z(]|\s*$)", text)
    return text[: m.start() + 1] if m else text


def describe_config(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, first sentence of its doc)`` of every field of the
    dataclass ``cls``, in declaration order (``graphrec models show``)."""
    docs = config_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out.append((f.name, kind, default, first_sentence(docs.get(f.name, ""))))
    return out


# ---- YAML and --set ----------------------------------------------------------------------


def parse_overrides(pairs: list[str] | None) -> list[tuple[str, str]]:
    """``["train.epochs=3", ...]`` -> ``[("train.epochs", "3"), ...]``."""
    out = []
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def load_yaml(path: str | None) -> dict[str, Any]:
    """A YAML configuration file (``{}`` without a path); its top-level keys must be
    among :data:`YAML_KEYS`."""
    if not path:
        return {}
    with open(path) as f:
        try:
            cfg = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(cfg).__name__}")
    unknown = set(cfg) - set(YAML_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {sorted(unknown)}; use {', '.join(YAML_KEYS)}")
    return cfg


def merge_sections(sources: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``model`` / ``train`` / ``data`` sections of ``sources`` merged in order
    (a later source wins key by key)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for source in sources:
        for section in SECTIONS:
            out[section].update(source.get(section) or {})
    return out


def route_overrides(overrides: Iterable[tuple[str, str]], sections: dict[str, dict[str, Any]],
                    fields: Mapping[str, set[str]], targets: set[str]) -> dict[str, dict[str, Any]]:
    """Apply ``--set`` pairs to ``sections`` (in place; also returned).

    Keys are ``<section>.<field>``, ``<target>.<section>.<field>`` (only applied when
    its normalised name (:func:`~graphrec.resolver.normalize_string`) is in ``targets``:
    a comparison addresses one model) or a
    bare ``<field>`` that names exactly one of ``fields`` (``{"model": {...},
    "train": {...}}``)."""
    for key, value in overrides:
        parts = key.split(".")
        if len(parts) == 3:  # <model>.<section>.<field>
            if normalize_string(parts[0]) not in targets:
                continue  # addressed to another model of a comparison
            parts = parts[1:]
        if len(parts) == 2:
            section, name = parts
            if section not in SECTIONS:
                raise ValueError(f"--set {key}: section must be one of {SECTIONS}")
        elif len(parts) == 1:
            name = parts[0]
            hits = [s for s, names in fields.items() if name in names]
            if len(hits) != 1:
                raise ValueError(f"--set {key}: ambiguous or unknown key; write model.{name}, "
                                 f"train.{name} or data.{name}")
            section = hits[0]
        else:
            raise ValueError(f"--set {key}: expected section.key or key")
        sections[section][name] = value
    return sections


__all__ = ["ModelConfig", "ConfigError", "check_field_types", "resolve_config", "build_config", "coerce",
           "config_docs", "describe_config", "first_sentence",
           "parse_overrides", "load_yaml", "merge_sections", "route_overrides", "SECTIONS", "YAML_KEYS"]
