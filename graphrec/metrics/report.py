"""Result documents: atomic JSON / markdown / PNG files and environment capture.

Every file is written atomically with :mod:`graphrec.utils.io` (temporary file in
the same directory, fsync, :func:`os.replace`): a reader sees the old file or the
new one, never half of one, and a failure while producing the content leaves the
old file untouched.
Plots use matplotlib's Agg canvas directly, so no pyplot state or backend is
touched in the caller's process.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graphrec.metrics.ranking import parse_protocol
from graphrec.utils.io import atomic_write_bytes, atomic_write_text

__all__ = [
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

PathLike = str | os.PathLike

_ALLOC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Test metrics drawn in the comparison plot, in this order, when present.
_PLOT_METRICS = ("hr@10", "ndcg@10", "hr@20", "ndcg@20")


# ---------------------------------------------------------------------------------
# atomic writes (bytes and text: graphrec.utils.io, the one implementation)
# ---------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    """Convert the scalars and arrays result dicts typically hold."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist") and callable(obj.tolist):  # torch / numpy tensors and scalars
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def atomic_write_json(
    path: PathLike, obj: Any, *, indent: int = 2, allow_nan: bool = False
) -> Path:
    """Serialise ``obj`` and write it to ``path`` atomically.

    The whole document is serialised *before* the file is touched, so a value
    that cannot be serialised raises :class:`TypeError` (or :class:`ValueError`
    for NaN / infinity, which strict JSON lacks, unless ``allow_nan``) and leaves
    an existing file intact. NumPy / torch scalars and arrays and paths are
    converted.

    Args:
        path (str or os.PathLike): destination.
        obj (Any): the document.
        indent (int): JSON indentation. (default: :obj:`2`)
        allow_nan (bool): write ``NaN`` / ``Infinity`` tokens. (default: :obj:`False`)
    """
    text = json.dumps(obj, indent=indent, allow_nan=allow_nan, default=_json_default)
    return atomic_write_text(path, text + "\n")


# ---------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------
def _package_version(name: str, module: str | None = None) -> str | None:
    mod = sys.modules.get(module or name)
    version = getattr(mod, "__version__", None) if mod is not None else None
    if version is not None:
        return str(version)
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def environment_info() -> dict[str, Any]:
    """What produced a result: versions, machine, threads, allocator, peak memory.

    Returns:
        ``dict`` with ``python``, ``torch``, ``torch_geometric``, ``numpy``,
        ``graphrec`` (``None`` when a package is missing), ``platform``,
        ``machine``, ``cpu_count``, ``cpu_affinity`` (CPUs this process may use,
        where the OS says), ``torch_threads``, ``torch_interop_threads``,
        ``cuda`` (``None`` without a GPU, else version and device name), ``env``
        (``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_ARENA_MAX``,
        ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` when set) and ``peak_rss_mb``
        (peak resident memory of this process so far, from
        :func:`resource.getrusage`).
    """
    import torch

    try:
        affinity: int | None = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        affinity = None
    cuda: dict[str, Any] | None = None
    if torch.cuda.is_available():
        cuda = {
            "version": torch.version.cuda,
            "device": torch.cuda.get_device_name(),
            "device_count": torch.cuda.device_count(),
        }
    peak = _peak_rss_mb()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": _package_version("torch_geometric"),
        "numpy": _package_version("numpy"),
        "graphrec": _package_version("graphrec"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda": cuda,
        "env": {k: os.environ[k] for k in (*_ALLOC_ENV, *_THREAD_ENV) if k in os.environ},
        "peak_rss_mb": None if peak is None else round(peak, 1),
    }


# ---------------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------------
def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, floatfmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str],
    title: str | None = None,
    floatfmt: str = ".4f",
    index_name: str = "model",
) -> str:
    """A GitHub-flavoured markdown table, one row per entry of ``rows``.

    Floats are formatted with ``floatfmt``, integers as integers, missing
    values as ``-``; numeric columns are right-aligned. ``|`` in names is escaped.

    Args:
        rows (Mapping[str, Mapping[str, Any]]): row name (e.g. model) -> column -> value.
        columns (Sequence[str]): columns to show, in order.
        title (str, optional): a ``###`` heading above the table. (default: :obj:`None`)
        floatfmt (str): format spec for floats. (default: :obj:`".4f"`)
        index_name (str): header of the first column. (default: :obj:`"model"`)

    Example:
        >>> print(markdown_table({"bpr": {"hr@10": 0.5}}, ["hr@10"]), end="")
        | model | hr@10 |
        |:---|---:|
        | bpr | 0.5000 |
    """

    def numeric(col: str) -> bool:
        vals = [r.get(col) for r in rows.values() if r.get(col) is not None]
        return bool(vals) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals
        )

    header = [index_name, *columns]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(_cell(h, floatfmt) for h in header) + " |")
    lines.append("|:---|" + "".join("---:|" if numeric(c) else ":---|" for c in columns))
    for name, values in rows.items():
        cells = [_cell(name, floatfmt)] + [_cell(values.get(c), floatfmt) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------
# comparison report
# ---------------------------------------------------------------------------------
def _metric_order(key: str) -> tuple[int, int, str]:
    names = ("hr", "ndcg", "recall", "precision")
    base, _, k = key.partition("@")
    if base in names and k.isdigit():
        return (int(k), names.index(base), key)
    return (10**9, 0 if key == "mrr" else 1, key)


def _lower_metrics(metrics: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        low = str(key).lower()
        if low in out:
            raise ValueError(f"{where}: metric keys {key!r} and another differ only in case")
        out[low] = value
    return out


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _normalise(doc: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("dataset", "protocol", "models"):
        if key not in doc:
            raise ValueError(f"comparison document needs a {key!r} entry")
    parse_protocol(str(doc["protocol"]))  # every report says which protocol it used
    if not isinstance(doc["models"], Mapping) or not doc["models"]:
        raise ValueError("comparison document 'models' must be a non-empty mapping")
    out = copy.deepcopy(dict(doc))
    for name, entry in out["models"].items():
        for split in ("valid", "test"):
            if split in entry and entry[split] is not None:
                entry[split] = _lower_metrics(entry[split], f"model {name!r} {split}")
            for key in (f"{split}_groups", f"{split}_groups_std"):
                if entry.get(key) is not None:
                    entry[key] = _normalise_groups(entry[key], f"model {name!r} {key}")
    return out


def _normalise_groups(groups: Any, where: str) -> dict[str, dict[str, Any]]:
    """``{group: {metric: value, ..., "users": n}}`` with lower-cased metric keys."""
    if not isinstance(groups, Mapping):
        raise ValueError(f"{where} must map group names to metric dicts, got {type(groups).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for group, metrics in groups.items():
        if not isinstance(metrics, Mapping):
            raise ValueError(f"{where}[{group!r}] must be a metric dict, got {type(metrics).__name__}")
        out[str(group)] = _lower_metrics(metrics, f"{where}[{group!r}]")
    return out


def _group_label(row: str, group: str, metrics: Mapping[str, Any]) -> str:
    users = metrics.get("users")
    size = f", n={users}" if isinstance(users, int) and not isinstance(users, bool) else ""
    return f"{row} [{group}{size}]"


def group_rows(
    row: str,
    groups: Mapping[str, Mapping[str, Any]] | None,
    prefix: str = "",
    std: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Table rows ``"<row> [<group>, n=<users>]"`` for a per-group breakdown.

    Args:
        row (str): the name of the parent row (a model or a split).
        groups (Mapping, optional): ``{group: {metric: value, ..., "users": n}}``
            (the ``"groups"`` entry of :func:`~graphrec.metrics.full_ranking` /
            :func:`~graphrec.metrics.sampled_ranking`); ``None`` gives no rows.
        prefix (str): prepended to every metric key of the cells, e.g. ``"test "``
            to match the comparison table's columns. (default: :obj:`""`)
        std (Mapping, optional): the same layout with standard deviations over
            seeds; cells become ``"mean ± std"``. (default: :obj:`None`)

    Example:
        >>> group_rows("sasrec", {"rich": {"hr@10": 0.5, "users": 12}})
        {'sasrec [rich, n=12]': {'hr@10': 0.5, 'users': 12}}
    """
    out: dict[str, dict[str, Any]] = {}
    for group, metrics in (groups or {}).items():
        spread = (std or {}).get(group) or {}
        cells: dict[str, Any] = {}
        for key, value in metrics.items():
            sd = spread.get(key) if key != "users" else None
            if sd is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                cells[f"{prefix}{key}"] = f"{value:.4f} ± {sd:.4f}"
            else:
                cells[f"{prefix}{key}"] = value
        out[_group_label(row, str(group), metrics)] = cells
    return out


def split_rows(doc: Mapping[str, Any], splits: Sequence[str] = ("valid", "test")) -> dict[str, dict[str, Any]]:
    """The rows of a single run's table: one per split, each followed by its
    per-group rows (``"test [rich, n=1234]"``) when ``doc`` has ``"<split>_groups"``.

    Pass the result to :func:`markdown_table` with ``index_name="split"``; the
    columns are typically the keys of ``doc["test"]`` without ``"users"``.

    Example:
        >>> doc = {"test": {"hr@10": 0.4, "users": 3},
        ...        "test_groups": {"no_search": {"hr@10": 0.0, "users": 1},
        ...                        "rich": {"hr@10": 0.6, "users": 2}}}
        >>> list(split_rows(doc))
        ['test', 'test [no_search, n=1]', 'test [rich, n=2]']
    """
    rows: dict[str, dict[str, Any]] = {}
    for split in splits:
        if not doc.get(split):
            continue
        rows[split] = dict(doc[split])
        rows.update(group_rows(split, doc.get(f"{split}_groups")))
    return rows


def _notes(doc: Mapping[str, Any]) -> list[str]:
    notes = doc.get("notes")
    if notes is None:
        return []
    return [notes] if isinstance(notes, str) else [str(n) for n in notes]


def _seeds(doc: Mapping[str, Any]) -> list[str]:
    """Every seed that some model of the comparison ran with, sorted."""
    return sorted({str(s) for m in doc["models"].values() for s in (m.get("seeds") or [])})


def _has_spread(model: Mapping[str, Any]) -> bool:
    """Whether a model's entry is a mean over several seeds (one seed has no spread to show)."""
    return len(model.get("seeds") or []) > 1


def _selection_metric(models: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The validation metric every model selected on (``config.train.metric``), when they
    share one and report it; ``None`` otherwise (the table then shows NDCG@10)."""
    chosen = {((m.get("config") or {}).get("train") or {}).get("metric") for m in models.values()}
    if len(chosen) != 1:
        return None
    (metric,) = chosen
    has = metric is not None and metric != "loss" and any(metric in (m.get("valid") or {}) for m in models.values())
    return metric if has else None


def _report_markdown(doc: Mapping[str, Any]) -> str:
    models = doc["models"]
    test_keys = sorted(
        {k for m in models.values() for k in (m.get("test") or {}) if k != "users"},
        key=_metric_order,
    )
    valid_keys = sorted(
        {k for m in models.values() for k in (m.get("valid") or {}) if k.startswith("ndcg@")},
        key=_metric_order,
    )
    valid_key = _selection_metric(models) or (
        "ndcg@10" if "ndcg@10" in valid_keys else (valid_keys[0] if valid_keys else None))
    columns = [f"test {k}" for k in test_keys]
    if valid_key is not None:
        columns.append(f"valid {valid_key}")
    columns.append("train s")
    rows: dict[str, dict[str, Any]] = {}
    def cell(m: Mapping[str, Any], split: str, key: str) -> Any:
        v, std = (m.get(split) or {}).get(key), (m.get(f"{split}_std") or {}).get(key)
        if std is None or v is None or not _has_spread(m):
            return v
        return f"{v:.4f} ± {std:.4f}"

    for name, m in models.items():
        row = {f"test {k}": cell(m, "test", k) for k in (m.get("test") or {})}
        if valid_key is not None:
            row[f"valid {valid_key}"] = cell(m, "valid", valid_key)
        row["train s"] = m.get("train_seconds")
        rows[name] = row
        std = m.get("test_groups_std") if _has_spread(m) else None
        rows.update(group_rows(name, m.get("test_groups"), prefix="test ", std=std))
    grouped = [m["test_groups"] for m in models.values() if m.get("test_groups")]

    protocol = str(doc["protocol"])
    notes = _notes(doc)
    heading = f"# {doc['dataset']}: model comparison ({protocol} ranking"
    heading += f"; {'; '.join(notes)})" if notes else ")"
    lines = [heading, "", f"Protocol: **{protocol}**."]
    seeds = _seeds(doc)
    if len(seeds) > 1:
        lines.append(f"Mean ± standard deviation over seeds {', '.join(seeds)}; train s is the mean per run.")
    parsed = parse_protocol(protocol)
    if parsed.sampled and parsed.sampler == "popularity":
        lines.append(
            f"Each held-out item is ranked against {parsed.num_negatives} negatives sampled with "
            "probability proportional to item popularity; these numbers are not comparable with "
            "full-ranking or uniformly sampled results."
        )
    elif parsed.sampled:
        lines.append(
            f"Each held-out item is ranked against {parsed.num_negatives} sampled negatives; these "
            "numbers are not comparable with full-ranking results."
        )
    else:
        lines.append(
            "Each held-out item is ranked against all items the user has not interacted with."
        )
    for note in notes:
        lines.append(f"Note: {note}.")
    if grouped:
        names = list(dict.fromkeys(g for groups in grouped for g in groups))
        lines.append(
            f"Rows `model [group, n=N]` break the test metrics down by user group ({', '.join(names)}; "
            "N evaluated users in the group); the overall row is the N-weighted mean of its groups."
        )
    lines.append("")
    lines.append(markdown_table(rows, columns, title=f"Test metrics ({protocol})"))
    return "\n".join(lines)


def _save_figure(fig: Any, path: PathLike, dpi: int = 120) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _plot_bars(doc: Mapping[str, Any]) -> tuple[list[str], dict[str, tuple[list[float], list[float] | None]]]:
    """The bars of the comparison plot: metric names and, per model, heights and the
    standard deviations over seeds (``None`` for a single run, which has no spread)."""
    models = doc["models"]
    present = {
        k
        for m in models.values()
        for k, v in (m.get("test") or {}).items()
        if isinstance(v, (int, float)) and k != "users"
    }
    metrics = [k for k in _PLOT_METRICS if k in present]
    if not metrics:
        metrics = sorted(present, key=_metric_order)[:6]

    def finite(v: Any) -> float:
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0

    bars: dict[str, tuple[list[float], list[float] | None]] = {}
    for name, m in models.items():
        test, std = m.get("test") or {}, m.get("test_std")
        errs = [finite(std.get(k)) for k in metrics] if std and _has_spread(m) else None
        bars[name] = ([finite(test.get(k)) for k in metrics], errs)
    return metrics, bars


def _report_plot(doc: Mapping[str, Any], path: Path) -> Path:
    metrics, bars = _plot_bars(doc)
    names = list(bars)
    fig = _new_figure(max(6.0, 1.2 * len(metrics) * max(1, len(names)) / 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(names))
    for i, (name, (heights, errs)) in enumerate(bars.items()):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(metrics))]
        ax.bar(xs, heights, width=width, label=name, yerr=errs, capsize=2 if errs else 0)
    ax.set_xticks(list(range(len(metrics))))
    ax.set_xticklabels(metrics)
    ax.set_ylabel("test metric" + (" (mean ± std over seeds)" if len(_seeds(doc)) > 1 else ""))
    notes = _notes(doc)
    title = f"{doc['dataset']} ({doc['protocol']} ranking)"
    ax.set_title(title + (f" [{'; '.join(notes)}]" if notes else ""))
    ax.grid(axis="y", alpha=0.3)
    if names:
        ax.legend(fontsize="small", ncol=min(4, len(names)))
    return _save_figure(fig, path)


def comparison_report(doc: Mapping[str, Any], output_dir: PathLike) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``results.png`` for a comparison.

    Args:
        doc (Mapping[str, Any]): ``{"dataset": str, "protocol": "full" | "sampled-<n>" |
            "sampled-pop-<n>", "models": {name: {"valid": {...}, "test": {...},
            "train_seconds": float, "test_groups": {group: {metric: value, ...,
            "users": int}} (optional), ...}}, "notes": str | list[str] (optional),
            ...}``. Other keys (config, seed, environment) are kept in the JSON as
            they are.
        output_dir (str or os.PathLike): created if missing.

    Metric keys of ``valid`` / ``test`` are lower-cased in every output. The JSON
    is strict (non-finite floats become ``null``). The markdown heading and the
    plot title carry the protocol label and the notes (e.g. ``"semi-synthetic"``);
    the table lists every test metric, the validation NDCG (``ndcg@10`` when
    present) and the training time; a model with ``test_groups`` gets one row
    ``"<model> [<group>, n=<users>]"`` per group under its own (with ``± std``
    cells where ``test_groups_std`` is given and the model ran over several seeds).
    The plot shows the overall test metrics only. The plot groups ``hr@10``, ``ndcg@10``,
    ``hr@20``, ``ndcg@20`` (those present; otherwise the first test metrics) by model,
    with error bars of one standard deviation where a model ran over several seeds.

    Returns:
        ``{"json": Path, "markdown": Path, "plot": Path}``.

    Raises:
        ValueError: if ``dataset``, ``protocol`` or ``models`` is missing, or the
            protocol is not a label of :func:`~graphrec.metrics.protocol_label`.
    """
    norm = _normalise(doc)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": atomic_write_json(out / "results.json", _finite_or_none(norm)),
        "markdown": atomic_write_text(out / "results.md", _report_markdown(norm)),
        "plot": _report_plot(norm, out / "results.png"),
    }
    return paths


def plot_curve(
    history: Sequence[Mapping[str, Any]],
    key: str | Sequence[str],
    path: PathLike,
    title: str | None = None,
) -> Path:
    """Plot one or more logged values against the epoch and save atomically.

    Args:
        history (Sequence[Mapping[str, Any]]): one dict per evaluation, e.g.
            ``{"epoch": 3, "ndcg@10": 0.041}``; the x value is ``"epoch"`` (the
            list index when absent). Entries without ``key`` are skipped.
        key (str or Sequence[str]): the value(s) to plot, one line each.
        path (str or os.PathLike): image path; the format follows the suffix.
        title (str, optional): plot title. (default: :obj:`None`)

    Returns:
        ``Path``: the written file.
    """
    keys = [key] if isinstance(key, str) else list(key)
    fig = _new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for k in keys:
        pts = [
            (float(h.get("epoch", i)), float(h[k]))
            for i, h in enumerate(history)
            if h.get(k) is not None
        ]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", markersize=3, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel(keys[0] if len(keys) == 1 else "value")
    if title:
        ax.set_title(title)
    if len(keys) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save_figure(fig, path)
