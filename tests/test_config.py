"""Typed configuration: every model's config is its constructor's hyperparameters,
documented; YAML / --set merging; the registry imports nothing of graphrec."""
import ast
import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graphrec
from graphrec.config import (
    ConfigError,
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


def gserec_codes(data):
    cfg = model_resolver("gserec").Config()
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(cfg.codebook_size, (data["user"].num_nodes, 2, cfg.code_levels), generator=g)
    return {"codes": {"codes": codes}}


#: stand-ins for the outputs of the stages of models that declare some (running the
#: real stages -- a text encoder, 500 RQ-VAE epochs -- is their own tests' business)
STAGE_OUTPUTS = {"gserec": gserec_codes}


def test_every_model_with_stages_has_stand_in_outputs():
    for name in bundled_model_names():
        cls = model_resolver(name)
        if cls.stages(cls.Config()):
            assert name in STAGE_OUTPUTS, f"{name} declares stages: add stand-in outputs to STAGE_OUTPUTS"


def constructor_call(cls, data, monkeypatch):
    """The arguments ``cls.from_data(data)`` passes to ``cls.__init__``."""
    seen = {}
    init = cls.__init__

    def spy(self, *args, **kwargs):
        seen.update(args=args, kwargs=kwargs)
        init(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", spy)
    fake = STAGE_OUTPUTS.get(cls.registry_name)
    model = cls.from_data(data, stages=fake(data)) if fake else cls.from_data(data)
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


# ---- validation of model settings -------------------------------------------------------



@pytest.mark.parametrize("name", model_names())
def test_every_model_default_config_is_valid(name):
    cls = model_resolver(name)
    cls.Config()  # validates


@pytest.mark.parametrize("name, field, value, message", [
    ("bpr_mf", "dim", 0, "dim must be >= 1, got 0"),
    ("bpr_mf", "dim", -4, "dim must be >= 1, got -4"),
    ("bpr_mf", "reg_weight", -1.0, "reg_weight must be >= 0"),
    ("lightgcn", "num_layers", -1, "num_layers must be >= 0"),
    ("sasrec", "num_heads", 0, "num_heads must be >= 1"),
    ("sasrec", "dim", 9, "dim must be a multiple of num_heads=2"),
    ("sasrec", "dropout", 1.0, "dropout must be in [0, 1)"),
    ("sasrec", "max_len", 0, "max_len must be >= 1"),
    ("cl4srec", "temperature", 0.0, "temperature must be > 0"),
    ("cl4srec", "mask_ratio", 1.5, "mask_ratio must be in [0, 1]"),
    ("cl4srec", "cl_pooling", "max", "cl_pooling must be one of ['last', 'mean', 'concat']"),
    ("duorec", "loss", "bce", "loss must be 'ce'"),
    ("iclrec", "num_intents", 0, "num_intents must be >= 1"),
    ("idclrec", "cross_heads", 3, "dim must be a multiple of cross_heads=3"),
    ("idclrec", "use_interest", False, None),  # alone it is fine
    # types: an int field refuses a float and a bool, a float field refuses NaN
    ("bpr_mf", "dim", 2.5, "dim must be an integer, got 2.5"),
    ("bpr_mf", "dim", True, "dim must be an integer, got True"),
    ("bpr_mf", "reg_weight", float("nan"), "reg_weight must be a finite number"),
    ("sasrec", "loss", 3, "loss must be a string"),
])
def test_meaningless_model_settings_are_refused(name, field, value, message):
    cls = model_resolver(name)
    if message is None:
        cls.Config(**{field: value})
        return
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        cls.Config(**{field: value})
    assert info.value.field in (field, "dim")
    # the same through build_config (the command line) carries the section name
    with pytest.raises(ValueError, match=re.escape("model." + message)):
        build_config(cls.Config, {field: str(value) if isinstance(value, str) else value}, prefix="model.")


def test_both_idclrec_branches_off_is_refused():
    with pytest.raises(ConfigError, match="use_interest and use_intent cannot both be False"):
        model_resolver("idclrec").Config(use_interest=False, use_intent=False)


def test_replace_validates_too():
    import dataclasses

    cfg = model_resolver("bpr_mf").Config()
    with pytest.raises(ConfigError, match="dim must be >= 1"):
        dataclasses.replace(cfg, dim=0)
