"""Ranking metrics (full and sampled protocols) and result reports.

``metrics`` scores rankings, not models: callers pass a scoring closure.
"""

from graphrec.metrics.ranking import (
    Protocol,
    full_ranking,
    parse_protocol,
    protocol_label,
    ranking_metrics,
    sampled_ranking,
)
from graphrec.metrics.report import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    comparison_report,
    environment_info,
    group_rows,
    markdown_table,
    plot_curve,
    split_rows,
)

__all__ = [
    "full_ranking",
    "sampled_ranking",
    "ranking_metrics",
    "protocol_label",
    "parse_protocol",
    "Protocol",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "environment_info",
    "markdown_table",
    "comparison_report",
    "group_rows",
    "split_rows",
    "plot_curve",
]
