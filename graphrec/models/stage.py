r"""Stages: the steps a model declares to run before its main fit.

Text embedding, RQ-VAE training, k-means over pretrained vectors, a pre-trained
encoder: work that is expensive, deterministic given its inputs, and must not run
again when the model is evaluated or resumed. A model lists them in
:meth:`~graphrec.models.base.RecModel.stages`; the runner
(:func:`graphrec.train.stages.run_stages`) executes them in order and caches each
one's outputs on disk under a key

.. math::
    \mathrm{key}_s = \mathrm{sha1}\big(\text{name}_s,\ \text{version}_s,\ \text{settings}_s,\
    \text{fingerprint(graph)},\ \text{seed},\ \mathrm{key}_{s-1}, \dots\big),

so a change to the data, to a stage's settings or to any earlier stage recomputes
it, and nothing else does. Outputs are a ``dict`` of tensors (saved with
safetensors, which cannot carry code) and, where a stage makes text, of
JSON-serialisable values (lists of strings, numbers).

Two kinds:

* ``needs_model=False`` (default): runs on the graph before the model exists; its
  outputs reach :meth:`~graphrec.models.base.RecModel.from_data` as
  ``stages={name: outputs}`` (e.g. codes that define the model's ``code`` nodes).
* ``needs_model=True``: runs after the model is built and before the fit, with the
  freshly initialised model in ``ctx.model`` (e.g. pre-training an encoder); its
  outputs are handed to :meth:`~graphrec.models.base.RecModel.load_stage`.

Example:

.. code-block:: python

    def item_clusters(ctx: StageContext) -> dict[str, Tensor]:
        x = ctx.data["item"].x
        centroids, assign = kmeans(x, ctx.settings["k"], generator=ctx.generator)
        return {"centroids": centroids, "assign": assign}

    class MyModel(RecModel):
        @classmethod
        def stages(cls, config):
            return [Stage("item_clusters", item_clusters, settings={"k": config.k})]
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

#: what a stage returns: tensors, and JSON-serialisable values (e.g. lists of strings)
StageOutputs = dict[str, Any]


@dataclass
class StageContext:
    """What a stage function receives.

    Args:
        data: the split training graph.
        settings: the stage's own settings (hashed into its cache key).
        outputs: outputs of the stages that ran before it, by stage name.
        seed: the run's seed; ``generator`` is a CPU generator seeded from it and the
            stage's name, so each stage draws its own reproducible stream.
        device: where the run trains.
        model: the freshly built model (``needs_model`` stages), else ``None``.
        progress: whether to show progress bars.
    """

    data: HeteroData
    settings: Mapping[str, Any]
    outputs: Mapping[str, StageOutputs]
    seed: int
    generator: torch.Generator
    device: torch.device
    model: nn.Module | None = None
    progress: bool = True


@dataclass(frozen=True)
class Stage:
    """One cached step before the main fit.

    Args:
        name: unique among the model's stages; the key under which its outputs are
            handed on.
        fn: ``fn(ctx: StageContext) -> StageOutputs``.
        settings: everything besides the graph that changes the outputs (JSON
            values); part of the cache key. (default: ``{}``)
        needs_model: run after the model is built, with ``ctx.model``. (default: ``False``)
        version: bump when ``fn`` changes meaning, so old caches are not reused.
            (default: ``1``)
        seed: a seed of the stage's own instead of the run's, so the stage's output
            is shared by runs with different seeds (a deterministic text encoder;
            GSERec's RQ-VAE, which its authors train with seed 2024 whatever the
            recommender's seed). ``None``: the run's seed. (default: ``None``)
    """

    name: str
    fn: Callable[[StageContext], StageOutputs]
    settings: Mapping[str, Any] = field(default_factory=dict)
    needs_model: bool = False
    version: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"stage name must be a non-empty word (letters, digits, '_', '-'), got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"stage '{self.name}': fn must be callable, got {type(self.fn).__name__}")


def check_outputs(name: str, outputs: Any) -> StageOutputs:
    """Validate what a stage returned: a dict with string keys of tensors or
    JSON-serialisable values."""
    if not isinstance(outputs, dict):
        raise TypeError(f"stage '{name}' must return a dict of outputs, got {type(outputs).__name__}")
    for key, value in outputs.items():
        if not isinstance(key, str):
            raise TypeError(f"stage '{name}': output keys must be strings, got {key!r}")
        if isinstance(value, Tensor):
            continue
        if not isinstance(value, (list, tuple, dict, str, int, float, bool)) and value is not None:
            raise TypeError(f"stage '{name}': output '{key}' is a {type(value).__name__}; stages return "
                            "tensors or JSON values (lists of strings, numbers)")
    return outputs


__all__ = ["Stage", "StageContext", "StageOutputs", "check_outputs"]
