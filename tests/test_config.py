"""Typed configuration: every model's config is its constructor's hyperparameters,
documented; YAML / --set merging; the registry imports nothing of graphrec."""
import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import graphrec
from graphrec.config import (
    ModelConfig,
    build_config,
    config_docs,
    first_sentence,
    load_yaml,
    merge_sections,
    resolve_config,
    route_overrides,
)
from graphrec.resolver import model_names, model_resolver
from graphrec.train.run import build_spec
from tests.worlds import clustered_world

PACKAGE = Path(graphrec.__file__).parent


def bundled_model_names() -> list[str]:
    """The models graphrec ships (tests elsewhere register their own, written freely)."""
    return [n for n in model_names() if model_resolver(n).__module__.startswith("graphrec.")]


@pytest.fixture(scope="module")
def toy_data():
    return clustered_world()


def constructor_call(cls, data, monkeypatch):
    """The arguments ``cls.from_data(data)`` passes to ``cls.__init__``."""
    seen = {}
    init = cls.__init__

    def spy(self, *args, **kwargs):
        seen.update(args=args, kwargs=kwargs)
        init(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", spy)
    model = cls.from_data(data)
    monkeypatch.undo()
    return model, seen["args"], seen["kwargs"]


@pytest.mark.parametrize("name", bundled_model_names())
def test_config_is_the_constructors_hyperparameters(name, toy_data, monkeypatch):
    cls = model_resolver(name)
    assert dataclasses.is_dataclass(cls.Config) and issubclass(cls.Config, ModelConfig)
    fields = {f.name: f.default for f in dataclasses.fields(cls.Config)}
    params = inspect.signature(cls.__init__).parameters
    # no hyperparameter (nor its default) is declared again by the constructor
    assert not set(params) & set(fields), f"{cls.__name__}.__init__ repeats config fields"
    assert "config" in params and any(p.kind is p.VAR_KEYWORD for p in params.values())

    model, args, kwargs = constructor_call(cls, toy_data, monkeypatch)
    assert args == (), "from_data passes everything by keyword"
    assert model.config == cls.Config() and type(model.config) is cls.Config
    inputs = {k: v for k, v in kwargs.items() if k != "config"}
    # the keyword hyperparameters are exactly the config fields, with the config's defaults
    assert cls(**inputs, **fields).config == cls.Config()
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        cls(**inputs, not_a_field=1)
    with pytest.raises(TypeError, match="config must be"):
        cls(**inputs, config=ModelConfig())
    for key, default in fields.items():  # one changed keyword lands in model.config
        if isinstance(default, bool):
            value = not default
        elif isinstance(default, (int, float)) and key not in ("dim", "num_heads", "cross_heads"):
            value = default + 1
        else:
            continue
        if key == "num_layers" or key.endswith("_layers") and default == 0:
            continue  # needs a graph / sizes that divide
        try:
            m = cls(**inputs, **{key: value})
        except ValueError:
            continue  # a combination the model rejects on purpose (e.g. both views off)
        assert getattr(m.config, key) == value


@pytest.mark.parametrize("name", bundled_model_names())
def test_every_config_field_is_documented(name):
    cls = model_resolver(name).Config
    docs = config_docs(cls)
    missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
    assert not missing, f"{cls.__name__} docstring lacks {missing}"


def test_configs_inherit_their_backbones():
    sasrec = model_resolver("sasrec").Config
    for name in ("cl4srec", "iclrec", "duorec", "idclrec"):
        assert issubclass(model_resolver(name).Config, sasrec)
    for name in bundled_model_names():  # a model built on another model extends that model's config
        cls = model_resolver(name)
        for base in cls.__mro__[1:]:
            if getattr(base, "Config", None) is not None and base.__name__ != "RecModel" and "Config" in vars(base):
                assert issubclass(cls.Config, base.Config), (cls, base)


def test_config_docs_reads_entries_of_several_fields_and_bases():
    @dataclasses.dataclass
    class A(ModelConfig):
        """Args:
            a, b: two things (1, 2).
            c / d: either way. Continued
                on a deeper line.
        """

        a: int = 1
        b: int = 2
        c: bool = True
        d: bool = False

    @dataclasses.dataclass
    class B(A):
        """A's arguments plus:
            e: the new one (vs. the old ones).
            a: redocumented here.
        """

        e: str = "x"

    docs = config_docs(B)
    assert docs["a"] == "redocumented here." and docs["b"] == "two things (1, 2)."
    assert docs["c"] == docs["d"] == "either way. Continued on a deeper line."
    assert first_sentence(docs["c"]) == "either way."
    assert first_sentence("x. Y z.") == "x." and first_sentence(docs["e"]) == "the new one (vs. the old ones)."
    assert first_sentence("see :class:`~graphrec.nn.X` and ``y``. More.") == "see X and y."


def test_resolve_and_build_config():
    cls = model_resolver("sasrec").Config
    base = cls(dim=8)
    assert resolve_config(cls, base, {"max_len": 3}) == cls(dim=8, max_len=3)
    assert resolve_config(cls) == cls()
    assert build_config(cls, {"dim": "16", "norm_first": "true"}) == cls(dim=16, norm_first=True)
    with pytest.raises(ValueError, match=r"\['model.nope'\]"):
        build_config(cls, {"nope": 1}, prefix="model.")


def test_merge_and_route_overrides():
    merged = merge_sections([{"model": {"dim": 8}, "train": {"lr": 1}}, {"model": {"dim": 16}}, {}])
    assert merged == {"model": {"dim": 16}, "train": {"lr": 1}, "data": {}}
    fields = {"model": {"dim", "dropout"}, "train": {"lr", "epochs"}}
    route_overrides([("dim", "4"), ("train.epochs", "2"), ("sasrec.model.dropout", "0.1"),
                     ("bprmf.model.dropout", "0.9"), ("data.n", "3")], merged, fields, {"sasrec"})
    assert merged == {"model": {"dim": "4", "dropout": "0.1"}, "train": {"lr": 1, "epochs": "2"},
                      "data": {"n": "3"}}
    with pytest.raises(ValueError, match="ambiguous or unknown"):
        route_overrides([("nope", "1")], merged, fields, set())
    with pytest.raises(ValueError, match="section must be one of"):
        route_overrides([("x.dim", "1")], merged, fields, set())


@pytest.mark.parametrize("path", sorted((PACKAGE / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_yaml_files_build_every_models_config(path):
    cfg = load_yaml(str(path))
    names = list(cfg.get("models") or {}) or ["sasrec"]
    for name in names:
        spec = build_spec(name, "synthetic", cfg, [])
        build_config(model_resolver(spec.model).Config, spec.model_args, prefix="model.")


def test_resolver_imports_nothing_of_graphrec():
    tree = ast.parse((PACKAGE / "resolver.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("graphrec")]


@pytest.mark.parametrize("first", ["graphrec.resolver", "graphrec.models.idclrec", "graphrec.config", "graphrec.cli"])
def test_no_import_cycle_and_builtins_register_on_import_graphrec(first):
    code = (f"import {first}\n"
            "from graphrec.resolver import model_resolver, register_model, dataset_names\n"
            "assert model_resolver('SASRec').__name__ == 'SASRec' and 'beauty' in dataset_names()\n"
            "@register_model('my-model')\n"
            "class Mine: pass\n"
            "assert model_resolver('my_model') is Mine\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert res.returncode == 0, res.stderr
