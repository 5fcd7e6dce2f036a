r"""Identifiability and causal-analysis tools for learned representations (HMV-CRL, issue 17).

Every tool takes NumPy arrays or torch tensors of any representation (posterior means of a
model, factors of a synthetic world, observable proxies) and returns plain floats, dicts, NumPy
arrays or networkx graphs; nothing here imports a model, a layer, a trainer or a dataset.

Each module's page (:mod:`~graphrec.causal.mcc`, :mod:`~graphrec.causal.probes`,
:mod:`~graphrec.causal.notears`, :mod:`~graphrec.causal.mediation`, :mod:`~graphrec.causal.shift`)
states exactly what is computed.

* :func:`mean_correlation_coefficient` / :func:`mcc_details` -- how well estimated latents
  match target factors up to permutation and sign (Hungarian-matched mean :math:`|\mathrm{corr}|`).
* :func:`r2_probe` / :func:`held_out_split` -- how much of a representation a set of covariates
  explains linearly, as held-out variance-weighted :math:`R^2`.
* :func:`notears_linear` -- which acyclic linear SEM links the variables (NOTEARS), with
  :func:`threshold_weights`, :func:`to_networkx`, :func:`structural_hamming_distance` and :func:`is_dag` to read and
  score the graph.
* :func:`mediation_analysis` / :func:`first_principal_component` -- how much of a treatment's
  effect on an outcome runs through each mediator (product of coefficients, bootstrap CIs,
  suppression).
* :func:`channel_shift` -- how far each channel of a representation moves under a policy
  shift (normalised displacement and per-coordinate stability).
* :func:`identifiability_rank` / :func:`gaussian_natural_parameters` -- whether the auxiliary
  variables vary enough for iVAE identifiability (rank of the natural parameters).

Example::

    import numpy as np
    from graphrec.causal import channel_shift, held_out_split, mean_correlation_coefficient, r2_probe

    rng = np.random.default_rng(0)
    z_true = rng.normal(size=(1000, 4))
    z_hat = -2.0 * z_true[:, [2, 0, 3, 1]] + 1.0              # permuted, flipped, rescaled
    mean_correlation_coefficient(z_hat, z_true)               # 1.0
    exposure = z_true[:, :2] + rng.normal(size=(1000, 2))
    train, test = held_out_split(1000)
    r2_probe(exposure, z_true[:, 2:], train, test)["r2"]      # about 0: no exposure in it
    z_after = z_true + np.array([1.0, 1.0, 0.0, 0.0])         # only the first channel moves
    channel_shift(z_true, z_after, {"platform": [0, 1], "preference": [2, 3]})
"""

from graphrec.causal import mcc, mediation, notears, probes, shift
from graphrec.causal.mcc import mcc_details, mean_correlation_coefficient
from graphrec.causal.mediation import first_principal_component, mediation_analysis
from graphrec.causal.notears import (
    is_dag,
    notears_linear,
    structural_hamming_distance,
    threshold_weights,
    to_networkx,
)
from graphrec.causal.probes import held_out_split, r2_probe
from graphrec.causal.shift import channel_shift, gaussian_natural_parameters, identifiability_rank

# the modules are listed too: each has its own API page with the exact definitions
__all__ = [
    "mcc",
    "probes",
    "notears",
    "mediation",
    "shift",
    "mean_correlation_coefficient",
    "mcc_details",
    "r2_probe",
    "held_out_split",
    "notears_linear",
    "threshold_weights",
    "to_networkx",
    "structural_hamming_distance",
    "is_dag",
    "mediation_analysis",
    "first_principal_component",
    "channel_shift",
    "identifiability_rank",
    "gaussian_natural_parameters",
]
