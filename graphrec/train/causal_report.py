"""``graphrec causal-report``: what a representation model's latents have learned, measured.

For HMV-CRL and the baselines of its specification (``graphrec/configs/hmv_crl.yaml``:
the plain VAE and the iVAE with one shared auxiliary variable), one run per seed is
trained (resumable, through :func:`~graphrec.train.run.compare`), then each run's
posterior means :math:`\\hat z_p, \\hat z_f` are read and analysed with
:mod:`graphrec.causal`:

==================  ===========================================================================
``mcc``             per channel, :func:`~graphrec.causal.mean_correlation_coefficient` against
                    the world's true latents (synthetic world only: ``platform`` vs
                    ``truth['user.z_platform']``, ``preference`` vs ``truth['user.z_pref']``)
``r2``              held-out :math:`R^2` of the exposure covariates :math:`u_p` (the first
                    ``meta_platform_covariates`` columns of ``data['user'].x``) predicting each
                    channel (:func:`~graphrec.causal.r2_probe`, 80/20 users): high for the
                    platform channel, low for the preference channel if they are separated
``policy_shift``    per channel, :func:`~graphrec.causal.channel_shift` of the latents when the
                    same users' recommendation surface is simulated again under another
                    exposure policy (:func:`~graphrec.data.datasets.synthetic.resimulate_world`,
                    ``SHIFT_POLICY``) and re-encoded with the trained weights; beside it the
                    movement under a redraw with the *same* policy (the noise floor) and the
                    known answer: the preference latent does not move, the policy's
                    slot-source log-odds move by the change of ``platform_bias``. On real logs
                    (no simulator) the training recommendation rows are rewritten instead
                    (:func:`~graphrec.data.counterfactual.rewrite_rec_history`: the specification's
                    search-category policy where there is search, popularity where there is not;
                    every policy under ``policy_shift_logs``, the user's own rows redrawn as the
                    noise floor), with no known answer
``graph``           NOTEARS (:func:`~graphrec.causal.notears_linear`, "Y has no children") over
                    the two mediators below, :math:`T` and :math:`Y`, and its structural Hamming
                    distance to the world's generative graph over the same variables
                    (:func:`true_graph`), with the learned and with the true latents
``mediation``       :func:`~graphrec.causal.mediation_analysis` with treatment :math:`T` =
                    log(1 + recommendation engagements per active day), mediators the first
                    principal components of :math:`\\hat z_p` and :math:`\\hat z_f`, outcome
                    :math:`Y` = the click rate over every slate shown (synthetic world), and
                    the same analysis with the true latents as mediators (``oracle``) -- what
                    a perfect representation would give, not a causal ground truth. On real logs
                    that count every impression (KuaiSAR-R) the same analysis and the graph, with
                    the learned latents, :math:`T` = log(1 + impressions per active day) and
                    :math:`Y` = clicks per impression (``engagement``); logs of clicks only have
                    neither
==================  ===========================================================================

``report.json`` holds ``{"mcc": {...}, "r2": {...}, "policy_shift": {...}}`` of HMV-CRL
(mean over seeds, ``*_std`` beside) and the same keys per compared model under
``"baselines"``, every run's details under ``"runs"``, and ``report.md`` / ``report.png``
beside it. Nothing here concludes in advance: the numbers are what the runs give.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from graphrec.causal import (
    channel_shift,
    first_principal_component,
    held_out_split,
    mean_correlation_coefficient,
    mediation_analysis,
    notears_linear,
    r2_probe,
    structural_hamming_distance,
    threshold_weights,
    to_networkx,
)
from graphrec.config import load_yaml
from graphrec.data.counterfactual import rewrite_rec_history
from graphrec.data.hetero import build_hetero_data
from graphrec.metrics.report import atomic_write_json, atomic_write_text, markdown_table
from graphrec.train.run import _read_json, build_spec, compare, load_dataset, load_trained
from graphrec.utils.io import atomic_write_bytes

log = logging.getLogger(__name__)

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "hmv_crl.yaml")
#: HMV-CRL first, then the specification's identifiability baselines
DEFAULT_MODELS = ("hmv_crl", "hmv-crl-vae", "hmv-crl-shared")
#: the exposure policy of the shift test: popularity fills most slots instead of taste
SHIFT_POLICY: dict[str, Any] = {"platform_bias": (1.5, -1.5, -1.0)}
CHANNELS = ("platform", "preference")
#: each run's posterior means, beside its checkpoint
LATENTS_FILE = "latents.safetensors"


def _exposure_covariates(model: Any, data: Any) -> torch.Tensor:
    """The exposure covariates :math:`u_p` the run's configuration reads (the drawn ones
    on the synthetic world, summaries of the logs elsewhere; see
    :func:`~graphrec.models.hmv_crl.user_covariates`), whatever the run's prior: a plain
    VAE is probed with the same covariates as HMV-CRL."""
    from graphrec.models.hmv_crl import user_covariates

    cov = user_covariates(data, model.config)
    if cov is None or cov.platform.size(1) == 0:
        raise ValueError("causal-report needs exposure covariates: the graph has no data['user'].x and the logs "
                         "gave no platform covariates (see HMVCRLConfig.covariates)")
    return cov.platform.double()


def _reencoded(model: Any, dataset: Any, seed: int, **policy: Any) -> dict[str, torch.Tensor]:
    """The trained model's latents of the same users after their recommendation surface
    is simulated again (``policy`` changed or not); the weights are the trained ones."""
    from graphrec.data.datasets.synthetic import resimulate_world

    world = resimulate_world(dataset.config, seed=seed, **policy)
    return _twin_latents(model, build_hetero_data(world.logs, dataset.make_split(world.logs)))


def _twin_latents(model: Any, data: Any) -> dict[str, torch.Tensor]:
    """The latents of ``data``'s users under the trained weights of ``model``."""
    twin = type(model).from_data(data, model.config)
    twin.load_state_dict(model.state_dict())
    return twin.eval().latents()


def _movement(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per channel, :func:`~graphrec.causal.channel_shift`'s normalised movement."""
    both = torch.cat([before["platform"], before["preference"]], 1)
    k_p = before["platform"].size(1)
    channels = {"platform": list(range(k_p)), "preference": list(range(k_p, both.size(1)))}
    res = channel_shift(both, torch.cat([after["platform"], after["preference"]], 1), channels)
    return {c: float(res[c]["delta"]) for c in CHANNELS}


def _log_policy_shift(model: Any, dataset: Any, data: Any, latents: dict[str, torch.Tensor],
                      seed: int) -> dict[str, Any]:
    """The policy shift of logs without a simulator: the training recommendation rows
    rewritten under each policy of :func:`~graphrec.data.counterfactual.rewrite_rec_history`
    that the logs allow, re-encoded with the trained weights. The headline ``policy`` is
    the specification's (``"search"``, popularity-debiased) where the logs have search,
    ``"popular"`` where they do not; ``"own"`` (the same exposure redrawn) is the noise
    floor. There is no known answer: the expectation that the preference channel moves
    less than the platform channel is the specification's, not a fact about these users."""
    from graphrec.models.hmv_crl import item_categories

    logs = dataset.logs
    split = dataset.make_split(logs)
    categories, _ = item_categories(data)
    policies = ["popular", "own"]
    if logs.search is not None and categories is not None:
        policies.insert(0, "search")
    moved = {}
    for policy in policies:
        rewritten = rewrite_rec_history(logs, split, policy, seed=seed + 1000, categories=categories)
        moved[policy] = _movement(latents, _twin_latents(model, build_hetero_data(rewritten, split)))
    return {"policy": policies[0], "shifts": moved}


def _logged_engagement(dataset: Any) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Treatment and outcome from logs that keep every impression (``logs.impressions``,
    e.g. KuaiSAR-R): :math:`T` = log(1 + impressions per active day) (the specification's
    exposure intensity), :math:`Y` = clicks per impression; ``None`` for logs of clicks
    only (no exposure, no click rate)."""
    logs = dataset.logs
    if logs.impressions is None:
        return None
    shown = torch.bincount(logs.impressions.user, minlength=logs.num_users).double()
    if bool((shown == 0).any()):
        raise ValueError(f"{logs.name}: {int((shown == 0).sum())} user(s) were shown nothing (logs.impressions); "
                         "the click rate is undefined for them")
    days = logs.impressions.active_days().double().clamp_min(1.0)
    clicks = torch.bincount(logs.rec.user, minlength=logs.num_users).double()
    return torch.log1p(shown / days).numpy(), (clicks / shown).numpy(), "logged impressions"


def _engagement(dataset: Any, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Treatment (log of rec engagements per active day) and outcome (click rate over
    every slate shown) per user, from the synthetic world's impressions."""
    logs, imp = dataset.logs, dataset.impressions
    n = torch.bincount(logs.rec.user, minlength=num_users).double()
    first = torch.full((num_users,), float("inf"), dtype=torch.float64).scatter_reduce(
        0, logs.rec.user, logs.rec.time.double(), "amin")
    last = torch.full((num_users,), -float("inf"), dtype=torch.float64).scatter_reduce(
        0, logs.rec.user, logs.rec.time.double(), "amax")
    days = ((last - first) / 86400.0).clamp_min(1.0)
    return torch.log1p(n / days).numpy(), imp.click_rate(num_users).numpy()


#: the intervention of the true-effect simulation: the recommendation rate times e^0.5
VOLUME_FACTOR = math.exp(0.5)


def true_volume_effect(dataset: Any, seed: int, factor: float = VOLUME_FACTOR) -> dict[str, Any]:
    r"""The known answer of the mediation: the causal effect of the treatment :math:`T`
    on :math:`Y`, by simulating the same users under do(rec volume x ``factor``) and
    under no intervention (:func:`~graphrec.data.datasets.synthetic.intervene_world`,
    the same later-draw seed), as a standardised slope (:math:`\Delta Y / \Delta T`
    times :math:`\mathrm{sd}(T) / \mathrm{sd}(Y)` of the observed world) like the
    mediation's estimates. The latents are causes of :math:`T` in this world, so under
    the intervention they stay put: the true ``a`` paths and indirect effects are 0 and
    the whole effect is direct. ``noise`` is the same slope between two draws without
    intervention (two seeds), the scale below which a difference means nothing."""
    from graphrec.data.datasets.synthetic import intervene_world

    U = dataset.truth["user.z_pref"].size(0)
    t_obs, y_obs = _engagement(dataset, U)
    scale = float(t_obs.std() / y_obs.std())
    base = [_engagement(intervene_world(dataset.config, rec_volume=1.0, seed=seed + 2000 + k), U) for k in (0, 1)]
    moved = _engagement(intervene_world(dataset.config, rec_volume=factor, seed=seed + 2000), U)
    d_t = float(moved[0].mean() - base[0][0].mean())
    effect = float(moved[1].mean() - base[0][1].mean()) / d_t * scale
    noise = float(base[1][1].mean() - base[0][1].mean()) / d_t * scale
    zero = {"platform": 0.0, "preference": 0.0}
    return {"a": zero, "indirect": zero, "direct": effect, "total": effect, "noise": abs(noise),
            "delta_t": d_t, "factor": factor}


#: NOTEARS's edge threshold (its authors' default, the spec's proposal)
NOTEARS_THRESHOLD = 0.3


#: the report's causal variables and the world's nodes they stand for (truth.causal_graph())
GRAPH_NODES = {"platform": "z_platform", "preference": "z_pref", "T": "rec_volume", "Y": "click_rate"}


def true_graph(world_graph: Any) -> list[tuple[str, str]]:
    """The world's generative graph seen over :data:`GRAPH_NODES` only: ``a -> b`` when
    a directed path leads from ``a``'s node to ``b``'s without passing through another of
    them (the other nodes are marginalised out)."""
    inverse = {v: k for k, v in GRAPH_NODES.items()}
    edges = []
    for name, node in GRAPH_NODES.items():
        stack, seen = list(world_graph.successors(node)), set()
        while stack:
            nxt = stack.pop()
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in inverse:
                edges.append((name, inverse[nxt]))
            else:
                stack.extend(world_graph.successors(nxt))
    return sorted(edges)


def _graph(t: np.ndarray, y: np.ndarray, m_p: np.ndarray, m_f: np.ndarray,
           truth_edges: list | None = None) -> dict[str, Any]:
    """NOTEARS over (platform, preference, T, Y) with the background knowledge "Y has no
    children", and its structural Hamming distance to the world's graph (when known)."""
    names = list(GRAPH_NODES)
    X = np.stack([m_p, m_f, t, y], 1)
    forbidden = np.zeros((4, 4), dtype=bool)
    forbidden[names.index("Y"), :] = True
    # one fit, thresholded here: the weights under the threshold are reported too (weak true edges hide there)
    raw = notears_linear(X, forbidden=forbidden, w_threshold=None)
    learned = to_networkx(threshold_weights(raw, NOTEARS_THRESHOLD), names)
    out = {"edges": [[a, b, round(float(learned.edges[a, b]["weight"]), 4)] for a, b in learned.edges],
           "threshold": NOTEARS_THRESHOLD,
           "weights": {f"{a}->{b}": round(float(raw[i, j]), 4) for i, a in enumerate(names)
                       for j, b in enumerate(names) if raw[i, j] != 0.0}}
    if truth_edges is not None:
        truth = to_networkx(np.zeros((4, 4)), names)
        truth.add_edges_from(truth_edges)
        out["shd"] = structural_hamming_distance(learned, truth)
    return out


def _mediators(t: np.ndarray, y: np.ndarray, z_p: Any, z_f: Any) -> tuple[np.ndarray, np.ndarray]:
    # first principal components; platform signed so that larger = more exposure
    return first_principal_component(z_p, sign_reference=t), first_principal_component(z_f, sign_reference=y)


def _mediation(t: np.ndarray, y: np.ndarray, m_p: np.ndarray, m_f: np.ndarray, n_boot: int,
               seed: int) -> dict[str, Any]:
    res = mediation_analysis(t, {"platform": m_p, "preference": m_f}, y, n_boot=n_boot, seed=seed)
    keep = ("a", "b", "indirect", "share", "direct", "total", "total_indirect", "signs", "suppression",
            "direct_exceeds_total", "inconsistent")
    return _plain({k: res[k] for k in keep if k in res})


def _plain(value: Any) -> Any:
    """NumPy scalars and tuples as JSON's plain values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def analyse_run(checkpoint: str, root: str | None = None, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Every analysis of one trained run (see the module docstring)."""
    model, data, ckpt = load_trained(checkpoint, root)
    dataset = load_dataset(ckpt["dataset"], root or ckpt.get("root"), **(ckpt.get("data_args") or {}))
    lat = model.latents()
    save_latents(os.path.join(os.path.dirname(checkpoint), LATENTS_FILE), lat)
    u_p = _exposure_covariates(model, data)
    train, test = held_out_split(u_p.size(0), test_share=0.2, seed=seed)
    out: dict[str, Any] = {
        "r2": {f"exposure_to_{c}": r2_probe(u_p, lat[c], train, test)["r2"] for c in CHANNELS},
    }
    # the log rewrite everywhere: on real logs the only shift test, beside the simulator's known answer on
    # the synthetic world (how far the real-log protocol can be trusted)
    out["policy_shift_logs"] = logged = _log_policy_shift(model, dataset, data, lat, seed)
    truth = getattr(dataset, "truth", None)
    if truth is None:  # real logs: no true factors, no simulator
        shifts = logged["shifts"]
        out["policy_shift"] = {**shifts[logged["policy"]], "redraw": shifts["own"]}
        engagement = _logged_engagement(dataset)
        if engagement is not None:
            t, y, source = engagement
            m_p, m_f = _mediators(t, y, lat["platform"], lat["preference"])
            out["mediation"] = {"learned": _mediation(t, y, m_p, m_f, n_boot, seed)}
            out["graph"] = {"learned": _graph(t, y, m_p, m_f)}
            out["engagement"] = source
        return out
    true = {"platform": truth["user.z_platform"], "preference": truth["user.z_pref"]}
    out["mcc"] = {c: mean_correlation_coefficient(lat[c], true[c]) for c in CHANNELS}
    # seed + 1000: a redraw of the recommendation surface that no training run has seen
    shifted = _movement(lat, _reencoded(model, dataset, seed + 1000, **SHIFT_POLICY))
    redraw = _movement(lat, _reencoded(model, dataset, seed + 1000))
    logits = truth["user.policy_logits"].double()
    change = torch.tensor(SHIFT_POLICY["platform_bias"], dtype=torch.float64) - torch.tensor(
        dataset.config.platform_bias, dtype=torch.float64)
    out["policy_shift"] = {**shifted, "redraw": redraw, "truth": {
        "platform": float(change.norm() / logits.var(0).sum().sqrt()), "preference": 0.0}}
    t, y = _engagement(dataset, lat["platform"].size(0))
    edges = true_graph(truth.causal_graph())
    out["mediation"], out["graph"] = {}, {"true_edges": [list(e) for e in edges]}
    for which, (z_p, z_f) in (("learned", (lat["platform"], lat["preference"])),
                              ("oracle", (true["platform"], true["preference"]))):
        m_p, m_f = _mediators(t, y, z_p, z_f)
        out["mediation"][which] = _mediation(t, y, m_p, m_f, n_boot, seed)
        out["graph"][which] = _graph(t, y, m_p, m_f, edges)
    out["mediation"]["truth"] = true_volume_effect(dataset, seed)
    return out


def log_policy_shift(checkpoint: str, root: str | None = None, seed: int = 0) -> dict[str, Any]:
    """The log-rewrite policy shift of one trained run (see :func:`_log_policy_shift`)."""
    model, data, ckpt = load_trained(checkpoint, root)
    dataset = load_dataset(ckpt["dataset"], root or ckpt.get("root"), **(ckpt.get("data_args") or {}))
    return _log_policy_shift(model, dataset, data, model.latents(), seed)


def save_latents(path: str, latents: dict[str, torch.Tensor]) -> None:
    """A run's posterior means, for the across-seed stability (safetensors: loading runs no code)."""
    atomic_write_bytes(path, safetensors_bytes({c: latents[c].contiguous() for c in CHANNELS}))


def load_latents(path: str) -> dict[str, torch.Tensor]:
    return load_file(path)


def _run_latents(run_dir: str, root: str | None) -> dict[str, torch.Tensor]:
    """The run's saved latents (computed from its checkpoint once, for runs analysed
    before latents were saved)."""
    path = os.path.join(run_dir, LATENTS_FILE)
    if not os.path.exists(path):
        save_latents(path, load_trained(os.path.join(run_dir, "checkpoint.pt"), root)[0].latents())
    return load_latents(path)


def seed_stability(latents: dict[int, dict[str, torch.Tensor]]) -> dict[str, float]:
    """Per channel, the MCC between the latents of every pair of seeds (mean, ``*_std``
    and ``*_pairs``): with no true factors to compare with, how reproducibly a channel is
    learned. Identifiability up to permutation and sign predicts a high value; a
    non-identifiable model may learn equally good but rotated latents each time."""
    seeds = sorted(latents)
    pairs = [{c: mean_correlation_coefficient(latents[a][c], latents[b][c]) for c in CHANNELS}
             for i, a in enumerate(seeds) for b in seeds[i + 1:]]
    if not pairs:
        return {}
    return {**_mean_std(pairs), **{f"{c}_pairs": len(pairs) for c in CHANNELS}}


def _mean_std(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per key of ``rows`` (one dict per seed or pair, the same keys), the mean and, as
    ``<key>_std``, the sample standard deviation (0 for a single row)."""
    out: dict[str, float] = {}
    for key in rows[0]:
        x = np.array([row[key] for row in rows], dtype=np.float64)
        out[key], out[f"{key}_std"] = float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0
    return out


def _mediation_figures(med: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of one mediation (estimated, with CIs, or the world's truth)."""
    def num(v: Any) -> float:
        return float(v["estimate"] if isinstance(v, dict) else v)

    out = {"direct": num(med["direct"]), "total": num(med["total"])}
    for m in CHANNELS:
        out[f"a_{m}"], out[f"indirect_{m}"] = num(med["a"][m]), num(med["indirect"][m])
    return out


def _summary(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean (and ``*_std``) over seeds of the scalar headline figures."""
    out: dict[str, Any] = {}
    for key in ("mcc", "r2", "policy_shift"):
        first = next(iter(runs.values())).get(key)
        if first is not None:
            names = [name for name, value in first.items() if not isinstance(value, dict)]
            out[key] = _mean_std([{name: r[key][name] for name in names} for r in runs.values()])
    if all("graph" in r and "shd" in r["graph"]["learned"] for r in runs.values()):
        out["graph_shd"] = _mean_std([{w: r["graph"][w]["shd"] for w in ("learned", "oracle")} for r in runs.values()])
    if all("mediation" in r for r in runs.values()):
        out["mediation"] = {which: _mean_std([_mediation_figures(r["mediation"][which]) for r in runs.values()])
                            for which in next(iter(runs.values()))["mediation"]}
    if "policy_shift" in out:
        first = next(iter(runs.values()))
        if "truth" in first["policy_shift"]:
            out["policy_shift"]["truth"] = first["policy_shift"]["truth"]
        out["policy_shift"]["redraw"] = {c: float(np.mean([r["policy_shift"]["redraw"][c] for r in runs.values()]))
                                         for c in CHANNELS}
        if "policy_shift_logs" in first:  # every policy of the log rewrite, mean over seeds
            logged = first["policy_shift_logs"]
            out["policy_shift_logs"] = {"policy": logged["policy"], "shifts": {
                p: _mean_std([r["policy_shift_logs"]["shifts"][p] for r in runs.values()]) for p in logged["shifts"]}}
    return out


def causal_report(dataset: str, output: str, models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
                  seeds: list[int] | None = None, yaml_cfg: dict[str, Any] | None = None,
                  overrides: list[tuple[str, str]] | None = None, root: str | None = None,
                  n_boot: int = 1000) -> dict[str, Any]:
    """Train (or read) every model for every seed, analyse each run, and write
    ``report.json``, ``report.md`` and ``report.png`` in ``output``. The first model is
    the one reported at the top level; the others go under ``"baselines"``."""
    seeds = list(seeds or [0])
    models = list(models)
    yaml_cfg = load_yaml(CONFIG) if yaml_cfg is None else yaml_cfg
    compare(models, dataset, output, yaml_cfg, overrides, root, resume=True, seeds=seeds)
    per_model: dict[str, dict[int, dict[str, Any]]] = {}
    for name in models:
        per_model[name] = {}
        for seed in seeds:
            run_dir = os.path.join(output, name, f"seed-{seed}")
            path = os.path.join(run_dir, "causal.json")
            checkpoint = os.path.join(run_dir, "checkpoint.pt")
            if not os.path.exists(path):
                log.info("causal analyses: %s seed %d", name, seed)
                atomic_write_json(path, analyse_run(checkpoint, root, seed, n_boot))
            run = _read_json(path)
            if "policy_shift_logs" not in run:  # analysed before the log rewrite existed: add it, keep the rest
                log.info("log-rewrite policy shift: %s seed %d", name, seed)
                run["policy_shift_logs"] = log_policy_shift(checkpoint, root, seed)
                atomic_write_json(path, run)
            per_model[name][seed] = run
    summaries = {name: _summary(runs) for name, runs in per_model.items()}
    if len(seeds) > 1:  # without truth the seeds are the only reference: how alike are their latents?
        for name in models:
            lat = {s: _run_latents(os.path.join(output, name, f"seed-{s}"), root) for s in seeds}
            summaries[name]["stability"] = seed_stability(lat)
    spec = build_spec(models[0], dataset, yaml_cfg, overrides or [], root)
    report: dict[str, Any] = {"dataset": dataset, "data_args": spec.data_args, "seeds": seeds, "model": models[0],
                              **summaries[models[0]],
                              "baselines": {name: summaries[name] for name in models[1:]},
                              "shift_policy": SHIFT_POLICY,
                              "runs": {name: {str(s): r for s, r in runs.items()} for name, runs in per_model.items()}}
    atomic_write_json(os.path.join(output, "report.json"), report)
    atomic_write_text(os.path.join(output, "report.md"), report_markdown(report))
    plot_report(report, os.path.join(output, "report.png"))
    first = next(iter(report["runs"][models[0]].values()))
    if "graph" in first and "mediation" in first:
        plot_graph_and_mediation(first, os.path.join(output, "causal.png"))
    return report


#: the authors' figures on KuaiSAR (project page; shared/methods/hmv_crl.md section 6): the only published numbers
PUBLISHED_KUAISAR = {"mcc.platform": 0.944, "mcc.preference": 0.713, "r2.exposure_to_preference": 0.046}


def _beside_published(report: dict[str, Any]) -> list[str]:
    """The headline figures of the first model next to the authors' KuaiSAR ones (a
    different dataset unless this is KuaiSAR with search: a reference, not a match)."""
    rows = {}
    for key, published in PUBLISHED_KUAISAR.items():
        group, name = key.split(".")
        ours = report.get(group, {}).get(name)
        if ours is None and group == "mcc":  # no truth: the seed stability is the closest figure
            ours, key = report.get("stability", {}).get(name), f"stability.{name} (in place of mcc)"
        if ours is not None:
            rows[key] = {"ours": f"{ours:.3f}", "published (KuaiSAR)": f"{published:.3f}"}
    if not rows:
        return []
    return [markdown_table(rows, ["ours", "published (KuaiSAR)"], index_name="figure",
                           title=f"{report['model']} beside the authors' figures"), ""]


def report_markdown(report: dict[str, Any]) -> str:
    models = {report["model"]: report, **report["baselines"]}
    lines = [f"# Causal report: {report['dataset']} (seeds {report['seeds']})", "", *_beside_published(report)]
    simulated = "truth" in report.get("policy_shift", {})
    logged = report.get("policy_shift_logs", {})
    shift_title = (f"movement under the policy shift {report['shift_policy']}" if simulated else
                   f"movement when the training recommendation rows are rewritten by policy "
                   f"'{logged.get('policy')}' (a log rewrite: no simulator, no known answer)")
    for key, title in (("mcc", "MCC against the true latents"),
                       ("r2", "held-out R^2 of the exposure covariates predicting each channel"),
                       ("policy_shift", shift_title),
                       ("graph_shd", "structural Hamming distance of the NOTEARS graph to the world's"),
                       ("stability", "MCC between the latents of every two seeds (stability, not truth)")):
        rows = {m: {c: f"{s[key][c]:.3f} ± {s[key][c + '_std']:.3f}" for c in s[key]
                    if not c.endswith(("_std", "_pairs")) and not isinstance(s[key][c], dict)}
                for m, s in models.items() if key in s}
        if rows:
            cols = sorted({c for r in rows.values() for c in r})
            lines += [markdown_table(rows, cols, title=title, index_name="model"), ""]
    if "policy_shift" in report:
        ps = report["policy_shift"]
        floor = (f"{report['model']} under a same-policy redraw (noise floor): platform "
                 f"{ps['redraw']['platform']:.3f}, preference {ps['redraw']['preference']:.3f}.")
        if simulated:
            lines.append(f"Known answer of the shift: platform {ps['truth']['platform']:.3f}, preference 0; {floor}")
        if logged.get("shifts"):
            rows = {p: {c: f"{v[c]:.3f} ± {v[c + '_std']:.3f}" for c in CHANNELS} for p, v in logged["shifts"].items()}
            note = " -- the real-log protocol, beside the simulator's answer above" if simulated else ""
            lines += ["", markdown_table(rows, list(CHANNELS), index_name="policy",
                                         title=f"{report['model']}: movement under every policy of the log rewrite "
                                               f"('own': each user's own rows redrawn, the noise floor){note}"), ""]
    first = next(iter(report["runs"][report["model"]].values()))
    if "graph" in first:
        g = first["graph"]
        lines += ["", "### Causal graph over (platform, preference, T, Y), NOTEARS, first seed", ""]
        if "true_edges" in g:
            lines.append(f"- the world's graph over these variables: "
                         f"{', '.join(f'{a} -> {b}' for a, b in g['true_edges'])}")
        for which in ("learned", "oracle"):
            if which not in g:
                continue
            edges = ", ".join(f"{a} -> {b} ({w:+.2f})" for a, b, w in g[which]["edges"]) or "none"
            weak = ", ".join(f"{e} ({w:+.2f})" for e, w in g[which].get("weights", {}).items()
                             if 0.05 <= abs(w) < g[which].get("threshold", 0.3))
            shd = f"; structural Hamming distance {g[which]['shd']}" if "shd" in g[which] else ""
            lines.append(f"- {which} latents: {edges}{shd}" + (f"; under the threshold: {weak}" if weak else ""))
    if "mediation" in first:
        source = f" (T and Y from {first['engagement']})" if "engagement" in first else ""
        lines += ["", f"### Mediation (first seed): T -> {{platform, preference}} -> Y{source}", ""]
        for which in ("learned", "oracle"):
            if which not in first["mediation"]:
                continue
            med = first["mediation"][which]
            parts = []
            for m in ("platform", "preference"):
                low, high = med["indirect"][m]["ci"]
                parts.append(f"a_{m} {med['a'][m]['estimate']:+.3f}, b_{m} {med['b'][m]['estimate']:+.3f}, "
                             f"IE_{m} {med['indirect'][m]['estimate']:+.3f} [{low:+.3f}, {high:+.3f}]")
            opposed = [m for m, flag in med.get("suppression", {}).items() if flag]
            verdict = (f"suppression: {', '.join(opposed) or 'none'} opposes the direct effect"
                       + ("; |direct| > |total|" if med.get("direct_exceeds_total") else ""))
            lines.append(f"- {which}: direct {med['direct']['estimate']:+.3f}, total {med['total']['estimate']:+.3f}; "
                         + "; ".join(parts) + f"; {verdict}")
        truth = first["mediation"].get("truth")
        if truth:
            lines.append(f"- truth (do(rec volume x {truth['factor']:.3f}) in the world): direct = total "
                         f"{truth['total']:+.3f} (noise {truth['noise']:.3f}); a and indirect effects 0 (the latents "
                         "cause T, they do not mediate it)")
    if "mediation" in report:
        rows = {which: {k: f"{v:+.3f} ± {report['mediation'][which][k + '_std']:.3f}"
                        for k, v in report["mediation"][which].items() if not k.endswith("_std")}
                for which in report["mediation"]}
        cols = sorted({c for r in rows.values() for c in r})
        lines += ["", markdown_table(rows, cols, title=f"mediation of {report['model']}, mean over seeds "
                                     "(standardised)", index_name="mediators"), ""]
    return "\n".join(lines) + "\n"


def plot_report(report: dict[str, Any], path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = {report["model"]: report, **report["baselines"]}
    panels = [k for k in ("mcc", "stability", "r2", "policy_shift") if k in report]
    fig = Figure(figsize=(4.0 * len(panels), 3.4))
    FigureCanvasAgg(fig)
    width = 0.8 / len(models)
    for p, key in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        cols = [c for c in report[key] if not c.endswith(("_std", "_pairs")) and not isinstance(report[key][c], dict)]
        for i, (name, s) in enumerate(models.items()):
            if key not in s:
                continue
            ax.bar([j + i * width for j in range(len(cols))], [s[key][c] for c in cols], width,
                   yerr=[s[key].get(c + "_std", 0.0) for c in cols], capsize=3, label=name)
        if key == "policy_shift" and "truth" in report[key]:
            truth = report[key]["truth"]
            ax.scatter([j + 0.4 - width / 2 for j in range(len(cols))], [truth.get(c, 0.0) for c in cols],
                       marker="x", color="k", zorder=3, label="known answer")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], cols, fontsize=8)
        ax.set_title(key.replace("_", " "))
        if p == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_graph_and_mediation(run: dict[str, Any], path: str) -> None:
    """One run's learned causal graph (NOTEARS over the learned latents; the world's
    edges dashed grey) beside its mediation estimates with their 95% bootstrap intervals,
    learned and oracle latents, and the world's true effects."""
    import networkx as nx
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    pos = {"T": (0.0, 0.0), "platform": (1.0, 1.0), "preference": (1.0, -1.0), "Y": (2.0, 0.0)}
    truth = nx.DiGraph([tuple(e) for e in run["graph"].get("true_edges", [])])
    learned = nx.DiGraph()
    learned.add_nodes_from(pos)
    for a, b, w in run["graph"]["learned"]["edges"]:
        learned.add_edge(a, b, weight=w)
    nx.draw_networkx_edges(truth, pos, ax=ax, style="dashed", edge_color="0.7", arrows=True, node_size=1400,
                           connectionstyle="arc3,rad=0.15")
    colors = ["tab:blue" if learned.edges[e]["weight"] > 0 else "tab:red" for e in learned.edges]
    nx.draw_networkx(learned, pos, ax=ax, node_color="white", edgecolors="k", node_size=1400, font_size=8,
                     edge_color=colors, width=2.0, arrows=True)
    nx.draw_networkx_edge_labels(learned, pos, ax=ax, font_size=7,
                                 edge_labels={e: f"{learned.edges[e]['weight']:+.2f}" for e in learned.edges})
    shd = run["graph"]["learned"].get("shd")
    ax.set_title("NOTEARS, learned latents" + (f" (SHD {shd}; world's edges dashed)" if shd is not None else ""),
                 fontsize=8)
    ax.axis("off")

    ax = fig.add_subplot(1, 2, 2)
    rows = ["direct", "total", "indirect_platform", "indirect_preference"]
    for k, which in enumerate(w for w in ("learned", "oracle") if w in run["mediation"]):
        med = run["mediation"][which]
        cells = [med["direct"], med["total"], med["indirect"]["platform"], med["indirect"]["preference"]]
        y = [i + 0.2 * (k - 0.5) for i in range(len(rows))]
        est = [c["estimate"] for c in cells]
        err = [[c["estimate"] - c["ci"][0] for c in cells], [c["ci"][1] - c["estimate"] for c in cells]]
        ax.errorbar(est, y, xerr=err, fmt="o", capsize=3, label=f"{which} latents")
    if "truth" in run["mediation"]:
        t = run["mediation"]["truth"]
        ax.scatter([t["direct"], t["total"], 0.0, 0.0], range(len(rows)), marker="x", color="k", zorder=3,
                   label="world (do(T))")
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title("mediation T -> {platform, preference} -> Y (standardised, 95% CI)", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


__all__ = ["causal_report", "analyse_run", "log_policy_shift", "report_markdown", "true_graph", "DEFAULT_MODELS",
           "SHIFT_POLICY", "GRAPH_NODES"]
