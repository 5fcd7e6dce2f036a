import pytest

from graphrec.train.run import build_spec

YAML = {"models": {
    "bpr_mf": {"model": {"dim": 8}, "train": {"lr": 0.01}},
    "bpr_mf-wide": {"base": "bpr_mf", "model": {"dim": 16}, "train": {"batch_size": 64}},
    "bpr_mf-wide-reg": {"base": "bpr_mf-wide", "model": {"reg_weight": 0.5}},
}}


def test_a_variant_may_build_on_another_variant():
    """Each link of the chain applies in turn over the registered model's own section."""
    spec = build_spec("bpr_mf-wide-reg", "synthetic", YAML, [])
    assert spec.model == "bpr_mf" and spec.label == "bpr_mf-wide-reg"
    assert spec.model_args["dim"] == 16 and spec.model_args["reg_weight"] == 0.5
    assert spec.train_args["lr"] == 0.01 and spec.train_args["batch_size"] == 64
    # the middle link alone is unchanged by the one built on it
    wide = build_spec("bpr_mf-wide", "synthetic", YAML, [])
    assert wide.model_args["dim"] == 16 and "reg_weight" not in wide.model_args
    # --set addresses the variant named, whatever its chain
    spec = build_spec("bpr_mf-wide-reg", "synthetic", YAML, [("bpr_mf-wide-reg.model.dim", "32")])
    assert spec.model_args["dim"] == "32"  # a string until the model's config coerces it


def test_a_loop_of_bases_is_named():
    loop = {"models": {"a": {"base": "b"}, "b": {"base": "a"}}}
    with pytest.raises(ValueError, match=r"'a'.*loop \(a -> b -> a\)"):
        build_spec("a", "synthetic", loop, [])
