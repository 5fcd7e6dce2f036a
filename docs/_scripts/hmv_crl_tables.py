"""The result tables of docs/methods/hmv_crl.md, printed from causal-report's JSON.

    python docs/_scripts/hmv_crl_tables.py docs/results/hmv_crl_synthetic.json docs/results/hmv_crl_kuaisar.json

Every number on the page's results section comes from these files; rerun this after a
new report and paste the output.
"""
from __future__ import annotations

import json
import sys
from typing import Any


def _pm(block: dict[str, Any], key: str, signed: bool = False) -> str:
    value, std = block[key], block.get(f"{key}_std", 0.0)
    if block.get(f"{key}_pairs") == 1:  # the stability of two seeds is one pair: no spread to show
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return f"{value:+.3f} ± {std:.3f}" if signed else f"{value:.3f} ± {std:.3f}"


def _models(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {report["model"]: report, **report["baselines"]}


def headline(report: dict[str, Any]) -> str:
    """MCC (or stability), R^2 and the policy shift of every model, mean ± std over seeds."""
    truth = "mcc" in report
    first = "MCC" if truth else "stability (MCC between seeds)"
    rows = [f"| model | {first} $z_p$ | {first} $z_f$ | $R^2$ $u_p \\to z_p$ | $R^2$ $u_p \\to z_f$ "
            "| shift $z_p$ | shift $z_f$ |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in _models(report).items():
        quality = s["mcc"] if truth else s.get("stability")  # one seed of real logs: nothing to compare with
        cells = f"{_pm(quality, 'platform')} | {_pm(quality, 'preference')}" if quality else "– | –"
        rows.append(f"| {name} | {cells} "
                    f"| {_pm(s['r2'], 'exposure_to_platform')} | {_pm(s['r2'], 'exposure_to_preference')} "
                    f"| {_pm(s['policy_shift'], 'platform')} | {_pm(s['policy_shift'], 'preference')} |")
    ps = report["policy_shift"]
    if "truth" in ps:
        rows.append(f"| *known answer* | 1 | 1 | | | {ps['truth']['platform']:.3f} | 0 |")
    rows.append(f"| *{report['model']}, same-policy redraw (noise floor)* | | | | "
                f"| {ps['redraw']['platform']:.3f} | {ps['redraw']['preference']:.3f} |")
    return "\n".join(rows)


def log_rewrite(report: dict[str, Any]) -> str:
    """The log-rewrite policy shift of every model under every policy."""
    policies = list(report["policy_shift_logs"]["shifts"])
    head = " | ".join(f"{p}: $z_p$ | {p}: $z_f$" for p in policies)
    rows = [f"| model | {head} |", "|---|" + "---:|" * (2 * len(policies))]
    for name, s in _models(report).items():
        shifts = s["policy_shift_logs"]["shifts"]
        cells = " | ".join(f"{_pm(shifts[p], 'platform')} | {_pm(shifts[p], 'preference')}" for p in policies)
        rows.append(f"| {name} | {cells} |")
    return "\n".join(rows)


def mediation(report: dict[str, Any]) -> str:
    """The mediation of the first model, mean ± std over seeds (standardised)."""
    cols = ["a_platform", "a_preference", "indirect_platform", "indirect_preference", "direct", "total"]
    rows = ["| mediators | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for which, block in report["mediation"].items():
        rows.append(f"| {which} | " + " | ".join(_pm(block, c, signed=True) for c in cols) + " |")
    return "\n".join(rows)


def graphs(report: dict[str, Any]) -> str:
    """The NOTEARS graph of the first model per seed: its edges and the weights under the threshold."""
    lines = []
    for seed, run in report["runs"][report["model"]].items():
        g = run.get("graph", {}).get("learned")
        if g is None:
            continue
        edges = ", ".join(f"{a} → {b} ({w:+.2f})" for a, b, w in g["edges"]) or "none"
        shd = f", SHD {g['shd']}" if "shd" in g else ""
        weak = ", ".join(f"{e} ({w:+.2f})" for e, w in g["weights"].items() if 0.05 <= abs(w) < g["threshold"])
        lines.append(f"- seed {seed}: {edges}{shd}; under {g['threshold']}: {weak or 'none'}")
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        print(f"## {report['dataset']} (seeds {report['seeds']})\n")
        for part in (headline, log_rewrite, mediation, graphs):
            try:
                text = part(report)
            except KeyError:  # a part the report does not have (no truth, no engagement)
                continue
            if text:
                print(text, "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
