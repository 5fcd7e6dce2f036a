"""Ranking metrics (full and sampled protocols) and result reports.

``metrics`` scores rankings, not models: callers pass a scoring closure.
"""

from graphrec.metrics.ranking import full_ranking, parse_protocol, protocol_label, sampled_ranking
from graphrec.metrics.report import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    comparison_report,
    environment_info,
    markdown_table,
    plot_curve,
)

__all__ = [
    "full_ranking",
    "sampled_ranking",
    "protocol_label",
    "parse_protocol",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "environment_info",
    "markdown_table",
    "comparison_report",
    "plot_curve",
]
