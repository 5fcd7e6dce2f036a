"""The documentation site (docs/): it builds with zero warnings, its generated API
reference covers every ``__all__``, and every tutorial's python code runs.

Tutorial pages (``docs/tutorials/*.md`` other than the index) are programs: their
```` ```python ```` blocks run in order in one namespace per page, in a temporary working
directory. A block that reads the real datasets says so by naming them
(``GRAPHREC_SHARED_DATA`` or ``shared/data``, e.g.
``root = os.environ.get("GRAPHREC_SHARED_DATA", "../shared/data")``); the test sets
``GRAPHREC_SHARED_DATA`` (and ``GRAPHREC_DATA``) to the absolute folder. Without that
folder such a block and the rest of its page are skipped with the reason, except under
``CI=true``, where the data must be there.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest

from tests.conftest import shared_data_path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
IN_CI = os.environ.get("CI", "").lower() == "true"
TUTORIALS = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")
NEEDS_DATA = re.compile(r"GRAPHREC_SHARED_DATA|shared/data")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*$")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of each fenced ``python`` block, in order; a block
    indented under a list item is dedented by its fence's indentation."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["lang"].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close[:1] == fence[0] and set(close) == {fence[0]} and len(close) >= len(fence):
                break
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        if lang in ("python", "py", "python3"):
            blocks.append((i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def test_python_blocks_parser():
    text = ("# t\n\n```python\na = 1\n```\n\n```bash\nls\n```\n\n* item\n\n  ```python\n  b = a + 1\n  ```\n"
            "\n````markdown\n```python\nnot_code()\n```\n````\n")
    assert python_blocks(text) == [(4, "a = 1\n"), (14, "b = a + 1\n")]


def _sphinx_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("sphinx", "myst_parser", "furo", "sphinxarg"))


def _require_sphinx() -> None:
    if _sphinx_available():
        return
    reason = 'the docs extra is not installed (pip install -e ".[docs]")'
    if IN_CI:
        pytest.fail(reason + " (CI=true: failing instead of skipping)")
    pytest.skip(reason)


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    """``sphinx-build -W --keep-going``: any warning (a broken link, a docstring that is
    not valid RST, a page in no toctree) fails the build. About 40 s on 2 cores."""
    _require_sphinx()
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0 and not warnings, "docs build failed:\n" + "\n".join(warnings or [log[-4000:]])
    for page in ("index", "concepts", "cli", "api/index", "api/graphrec.models", "methods/gserec"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page


def test_api_reference_covers_every_all(tmp_path):
    """Each package's ``__all__`` is the API reference's member list: every name of it
    is documented on its page, or linked from there to where it is documented."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        apiref = importlib.import_module("apiref")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    modules = apiref.write_api_pages(tmp_path)
    for package in ("graphrec", "graphrec.data", "graphrec.nn", "graphrec.nn.conv", "graphrec.nn.encoders",
                    "graphrec.nn.quantize", "graphrec.ops", "graphrec.models", "graphrec.train",
                    "graphrec.metrics", "graphrec.text", "graphrec.resolver", "graphrec.config"):
        assert package in modules
    for name in modules:
        page = (tmp_path / "api" / f"{name}.rst").read_text()
        module = importlib.import_module(name)
        for member in getattr(module, "__all__", ()):
            value = getattr(module, member)
            if hasattr(value, "__path__") or type(value).__name__ == "module":
                assert f":doc:`{value.__name__}`" in page, f"{name}: module {member} not linked"
            else:
                assert (f":: {name}.{member}\n" in page or f"``{member}``: :py:" in page), \
                    f"{name}.{member} is in __all__ but not in the API reference"
    index = (tmp_path / "api" / "index.rst").read_text()
    assert all(f"   {name}\n" in index for name in modules)


def test_concepts_figure_script(tmp_path):
    """The concepts figure is drawn from graphrec's edge-type constants."""
    out = tmp_path / "concepts.png"
    proc = subprocess.run([sys.executable, str(DOCS / "_scripts" / "concepts_figure.py"), "--output", str(out)],
                          cwd=tmp_path, env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_code_runs(page, tmp_path, tmp_cache, monkeypatch):
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    assert blocks, f"{page.name} has no python block"
    data = shared_data_path()
    if data.is_dir():
        monkeypatch.setenv("GRAPHREC_SHARED_DATA", str(data))
        monkeypatch.setenv("GRAPHREC_DATA", str(data))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    # a real module in sys.modules, as a user's script would be: PyG's MessagePassing
    # resolves a layer's type hints through its class's module
    module = types.ModuleType(f"tutorial_{page.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict = module.__dict__
    rel = page.relative_to(REPO)
    for number, (line, source) in enumerate(blocks, 1):
        if NEEDS_DATA.search(source) and not data.is_dir():
            reason = (f"{rel}: block {number} of {len(blocks)} (line {line}) and the rest of the page read the "
                      f"real datasets, which are not at '{data}' (set GRAPHREC_SHARED_DATA); "
                      f"{number - 1} block(s) ran")
            if IN_CI:
                pytest.fail(reason + " (CI=true: failing instead of skipping)")
            pytest.skip(reason)
        exec(compile(source, f"{rel}:{line} (block {number})", "exec"), namespace)


MODEL_OPTIONS = re.compile(r"^(`{3,}|~{3,})\{model-options\}[ \t]+(?P<name>[\w-]+)[ \t]*$", re.MULTILINE)


def test_every_bundled_model_has_a_page_with_its_options():
    """Each registered model of graphrec itself has a page, ``docs/models/<name>.md`` or a
    method page under ``docs/methods/``, whose options table is generated from its
    ``Config`` by the ``model-options`` directive (``docs/_ext/modelopts.py``)."""
    from graphrec.resolver import model_names, model_resolver

    bundled = [name for name in model_names() if model_resolver(name).__module__.startswith("graphrec.")]
    assert {"popularity", "lightgcn", "sasrec", "idclrec", "gserec"} <= set(bundled)
    method_pages = {page: {m["name"] for m in MODEL_OPTIONS.finditer(page.read_text(encoding="utf-8"))}
                    for page in sorted((DOCS / "methods").glob("*.md"))}
    missing = []
    for name in bundled:
        page = DOCS / "models" / f"{name}.md"
        if page.is_file():
            used = {m["name"] for m in MODEL_OPTIONS.finditer(page.read_text(encoding="utf-8"))}
            if used != {name}:
                missing.append(f"{page.relative_to(REPO)} uses model-options for {sorted(used)}, not [{name!r}]")
        elif not any(name in used for used in method_pages.values()):
            missing.append(f"{name}: no docs/models/{name}.md and no docs/methods/*.md with "
                           f"```{{model-options}} {name}")
    assert not missing, "\n".join(missing)
    # every per-model page is listed in the models overview's toctree
    overview = (DOCS / "models.md").read_text(encoding="utf-8")
    for page in sorted((DOCS / "models").glob("*.md")):
        assert f"\nmodels/{page.stem}\n" in overview, f"{page.name} is not in docs/models.md's toctree"


def _script(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / "_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sequential_grid_names_runs_its_configs_define():
    """Every run of issue 14's grid names a model its YAML defines; Beauty seed 1 of the six
    models of the fair table comes first, each run has its own resumable folder."""
    import yaml

    grid = _script("seq_grid")
    jobs = grid.grid()
    for job in jobs:
        assert job.label in yaml.safe_load((REPO / job.config).read_text())["models"], job
    assert [(j.dataset, j.seed) for j in jobs[:6]] == [("beauty", 1)] * 6
    assert {j.label for j in jobs[:6]} == {"icsrec", "idclrec", "idclrec-backbone", "duorec", "iclrec", "cl4srec"}
    folders = [grid.command(j, "DATA", "OUT", "cpu")[grid.command(j, "DATA", "OUT", "cpu").index("--output") + 1]
               for j in jobs]
    assert len(set(folders)) == len(jobs)
    assert all("--resume" in grid.command(j, "DATA", "OUT", "cpu") for j in jobs)
    assert sum(1 for j in jobs if j.name == "duorec-fair") == 5  # Beauty x3, Sports, Toys


def test_sequential_grid_length_buckets_only_every_prefix_models():
    """``--length-buckets`` buckets the every-prefix models alone, under their own run names, and
    drops the CPU encoder groups there (rows of a bucketed batch are already of similar length)."""
    grid = _script("seq_grid")
    plain, jobs = grid.grid(), grid.bucketed(grid.grid(), 16)
    assert grid.bucketed(plain, 0) == plain
    for before, after in zip(plain, jobs):
        cmd = grid.command(after, "DATA", "OUT", "cpu")
        if before.label.startswith(("icsrec", "idclrec", "duorec")):
            assert after.run_name == before.run_name.replace(f"-s{before.seed}", f"-lb16-s{before.seed}")
            assert "train.length_buckets=16" in cmd and "train.encoder_length_groups=4" not in cmd
        else:
            assert after == before and "train.encoder_length_groups=4" in cmd
    assert len({j.run_name + j.dataset for j in jobs}) == len(jobs)
    assert grid.main(["--root", "DATA", "--output", "OUT", "--length-buckets", "16", "--list"]) == 0
    with pytest.raises(SystemExit):
        grid.main(["--root", "DATA", "--output", "OUT", "--length-buckets", "-1", "--list"])


def test_sequential_grid_runs_chosen_runs_with_threads(tmp_path, monkeypatch):
    """``--runs`` keeps the named runs in the given order and refuses an unknown one; ``--threads``
    reaches each run as ``train.num_threads`` and ``OMP_NUM_THREADS`` (a 2-core session trains one
    run on both cores)."""
    grid = _script("seq_grid")
    jobs = grid.bucketed(grid.grid(), 16)
    keys = ["toys/cl4srec-s1", "beauty/duorec-fair-paired-lb16-s1"]
    picked = grid.select(jobs, ",".join(keys))
    assert [j.key for j in picked] == keys
    for bad in ("beauty/nope", "toys/cl4srec-s1,cl4srec-s1", ""):
        with pytest.raises(ValueError, match="no such run"):
            grid.select(jobs, bad)
    assert "train.num_threads=2" in grid.command(picked[0], "DATA", "OUT", "cpu", threads=2)
    assert not any("num_threads" in a for a in grid.command(picked[0], "DATA", "OUT", "cpu"))

    started = []

    class Done:
        returncode = 0

        def __init__(self, cmd, stdout, stderr, env):
            started.append((cmd, env))

        def poll(self):
            return 0

    monkeypatch.setattr(grid.subprocess, "Popen", Done)
    monkeypatch.setattr(grid.time, "sleep", lambda s: None)
    (tmp_path / "logs").mkdir()
    earlier = tmp_path / "logs" / "toys_cl4srec-s1.log"
    earlier.write_text("Epoch: 001, Loss: 9.0, ndcg@20: 0.0100, 1.0s\n")
    status = grid.run(picked, "DATA", str(tmp_path), "cpu", workers=1, threads=2)
    assert earlier.read_text().startswith("Epoch: 001")  # a resumed run's log is appended to, never emptied
    assert [s["rc"] for s in status.values()] == [0, 0]
    assert [c[c.index("--output") + 1] for c, _ in started] == [str(tmp_path / k) for k in keys]
    assert all(env["OMP_NUM_THREADS"] == "2" and "train.num_threads=2" in c for c, env in started)
    started.clear()
    grid.run(picked[:1], "DATA", str(tmp_path), "cpu", workers=1)
    assert started[0][1] is None  # no --threads: the runs inherit the environment
    started.clear()
    assert grid.main(["--root", "DATA", "--output", str(tmp_path), "--device", "cpu", "--smoke",
                      "--length-buckets", "16", "--threads", "2", "--runs", ",".join(keys)]) == 0
    assert len(started) == 2 and all(env["OMP_NUM_THREADS"] == "2" and "train.max_batches=2" in c
                                      for c, env in started)
    with pytest.raises(SystemExit):
        grid.main(["--root", "DATA", "--output", "OUT", "--threads", "-1", "--list"])


def test_clardrec_grid_names_runs_its_config_defines():
    """Every run of issue 15's grid names a model of clardrec.yaml (or a registered one), has its
    own folder, and beauty-search's three seeds of both settings come first."""
    import yaml

    from graphrec.resolver import model_resolver
    from graphrec.train.run import build_spec

    grid = _script("clardrec_grid")
    runs = grid.grid()
    variants = yaml.safe_load((REPO / grid.CONFIG).read_text())["models"]
    for run in runs:
        assert run.model in variants or model_resolver(run.model), run
    keys = [(r.folder, r.model, r.seed) for r in runs]
    assert len(set(keys)) == len(keys)
    first = {(r.model, r.seed) for r in runs[:27]}
    assert first == {(m, s) for m in (*grid.CF, *grid.SEQUENTIAL) for s in (0, 1, 2)}
    assert {r.folder for r in runs[:27]} == {"beauty", "beauty-full"}
    for world, extra in (("beauty", ()), ("synthetic-offtaste", grid.OFFTASTE)):
        sens = [r for r in runs if r.folder.startswith(f"{world}-sens/")]
        assert {r.folder for r in sens} == {f"{world}-sens/{k}={v}" for k, v in grid.SENSITIVITY}
        assert all(r.sets == (*extra, f"model.{r.folder.split('/')[1].split('=')[0]}={r.folder.split('=')[1]}")
                   for r in sens)
    offtaste = {(r.model, r.seed) for r in runs if r.folder == "synthetic-offtaste"}
    assert offtaste == {(m, s) for m in (*grid.CF, *grid.ABLATIONS) for s in (0, 1, 2)}
    # the sequential parts, one off at a time, where the sequential setting runs with one seed
    seq_ablations = {(r.folder, r.model, r.seed) for r in runs
                     if r.model in grid.SEQ_ABLATIONS and not r.folder.startswith("synthetic-seqmaps/")}
    assert seq_ablations == {(f, m, 0) for f in ("beauty", "synthetic") for m in grid.SEQ_ABLATIONS}
    config = yaml.safe_load((REPO / grid.CONFIG).read_text())
    assert all(build_spec(m, "synthetic", config, []).model_args["backbone"] == "sasrec"
               for m in grid.SEQ_ABLATIONS)
    assert {(r.folder, r.model, r.seed) for r in runs if r.model in grid.DIAGNOSTICS} == {
        ("beauty", m, 0) for m in grid.DIAGNOSTICS}
    assert build_spec("clardrec-union-graph", "synthetic", config, []).model_args["rec_graph"] == "union"
    assert {r.seed for r in runs if (r.folder, r.model) == ("beauty", "clardrec-no-cd")} == {0, 1, 2}
    maps = {(r.folder, r.model) for r in runs if r.folder.startswith("synthetic-seqmaps/")}
    assert maps == {(f"synthetic-seqmaps/domain_mlp={v}", m) for v, models in grid.SEQ_MAPS for m in models}


def test_clardrec_grid_line_resumes_and_redoes_a_run_without_its_checkpoint(tmp_path):
    """A grid line trains, scores and analyses once; run again it does nothing; when its checkpoint
    is gone before the last step (a new machine), it trains again rather than keep a half run."""
    import os
    import subprocess

    grid = _script("clardrec_grid")
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    # a stand-in python: records each call and writes the file that step would write
    (bin_dir / "python").write_text(
        "#!/usr/bin/env bash\n"
        f"echo \"$*\" | cut -d' ' -f1-3 >> {log}\n"
        "args=\"$*\"\n"
        "out=$(echo \"$args\" | sed -n 's/.*--output \\([^ ]*\\).*/\\1/p')\n"
        "case \"$args\" in\n"
        "  *' compare '*) d=\"$out/clardrec/seed-0\"; mkdir -p \"$d\";\n"
        "    touch \"$d/results.json\" \"$d/checkpoint.pt\" ;;\n"
        "  *' evaluate '*) touch \"$out\" ;;\n"
        "  *clardrec.py*) touch \"$(dirname \"$(echo \"$args\" | cut -d' ' -f3)\")/analysis.json\" ;;\n"
        "esac\n")
    (bin_dir / "python").chmod(0o755)
    line = grid.command(grid.Run("beauty-search", "beauty", "clardrec", 0), "DATA", str(tmp_path / "out"), "cpu")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run() -> list[str]:
        """The steps the line ran: compare, evaluate, or the example script."""
        log.write_text("")
        subprocess.run(["bash", "-c", line], check=True, env=env)
        return [c.split()[2] if c.startswith("-m") else c.split()[0] for c in log.read_text().splitlines()]

    steps = ["compare", "evaluate", "examples/clardrec.py"]
    assert run() == steps
    d = tmp_path / "out" / "beauty" / "clardrec" / "seed-0"
    assert {p.name for p in d.iterdir()} == {"results.json", "checkpoint.pt", "full.json", "analysis.json"}
    assert run() == []  # finished: skipped
    (d / "analysis.json").unlink()
    assert run() == ["compare", "examples/clardrec.py"]  # checkpoint there: compare reads the run, no rescoring
    (d / "analysis.json").unlink()
    (d / "checkpoint.pt").unlink()
    (d / "full.json").unlink()
    assert run() == steps  # checkpoint gone: trained again, since results.json was removed first


def test_sequential_tables_finished_and_unfinished_runs(tmp_path, capsys):
    """Finished runs give mean ± std and the gap to the published figure; a run with only a
    log is listed with its epochs and best validation score, never as a test result."""
    tables = _script("seq_tables")
    metrics = {"hr@5": 0.05, "hr@10": 0.08, "hr@20": 0.1, "ndcg@5": 0.03, "ndcg@10": 0.04, "ndcg@20": 0.05}
    for seed, shift in ((1, 0.0), (2, 0.01)):
        run = tmp_path / "beauty" / f"icsrec-s{seed}" / "icsrec" / f"seed-{seed}"
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({
            "seed": seed, "epochs": 120, "best_epoch": 80, "seconds_per_epoch": 2.0,
            "config": {"train": {"epochs": 300, "patience": 40}}, "valid": {"ndcg@20": 0.06 + shift},
            "test": {k: v + shift for k, v in metrics.items()}}))
    bucketed = tmp_path / "beauty" / "icsrec-lb16-s1" / "icsrec" / "seed-1"
    bucketed.mkdir(parents=True)
    (bucketed / "results.json").write_text(json.dumps({
        "seed": 1, "epochs": 90, "best_epoch": 50, "seconds_per_epoch": 1.0,
        "config": {"train": {"epochs": 300, "patience": 40}}, "test": metrics,
        "history": [{"epoch": 1, "valid": {"ndcg@20": 0.02}}, {"epoch": 2, "valid": {"ndcg@20": 0.03}}]}))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "beauty_icsrec-s1.log").write_text("Epoch: 001, Loss: 9.0, ndcg@20: 0.0100, 1.0s\n")
    (tmp_path / "logs" / "beauty_duorec-fair-s1.log").write_text(
        "training duorec\nEpoch: 001, Loss: 9.0, ndcg@20: 0.0300, 1.0s\nEpoch: 002, Loss: 8.0, ndcg@20: 0.0200, 1s\n")
    published = tmp_path / "published.json"
    published.write_text(json.dumps({"figures": [
        {"source": "icsrec_readme", "dataset": "beauty", "model": "icsrec", "hr@20": 0.1298, "ndcg@20": 0.0663},
        {"source": "icsrec_table", "dataset": "beauty", "model": "icsrec", "hr@20": 0.2, "ndcg@20": 0.1}]}))
    assert tables.main([str(tmp_path), "--published", str(published), "--json", str(tmp_path / "s.json"),
                        "--curves", str(tmp_path / "curves.png")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| icsrec |"))
    assert "120* (80), 120* (80) | 0.0650 ± 0.0071 |" in row and "0.1050 ± 0.0071" in row
    assert "(icsrec_readme)" in row and "-19.1% / -17.0%" in row  # the authors' own release wins
    assert "| duorec-fair (unfinished) | 1 | 2 (1) | 0.0300 |" in out  # validation only
    assert "icsrec (unfinished)" not in out  # it has results
    bucketed_row = next(line for line in out.splitlines() if line.startswith("| icsrec-lb16 |"))
    assert "90* (50)" in bucketed_row and "-23.0% / -24.6%" in bucketed_row  # its own row, same published one
    assert "| 0.1000 |" in bucketed_row and "±" not in bucketed_row  # one seed: no spread to show
    assert "90* (50) | – |" in bucketed_row  # no validation figure recorded: a dash, not a zero
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["finished"]["beauty"]["icsrec"]["seeds"] == [1, 2]
    curves = tables.curves(str(tmp_path))
    assert curves[("beauty", "icsrec-lb16-s1")] == [(1, 0.02), (2, 0.03)]  # from its history
    assert curves[("beauty", "duorec-fair-s1")] == [(1, 0.03), (2, 0.02)]  # unfinished: from its log
    assert ("beauty", "icsrec-s2") not in curves  # no history, no log: nothing to draw
    assert (tmp_path / "curves.png").stat().st_size > 0
    # equal epochs: seeds pooled, an epoch a run has not reached left empty, rows as asked
    (tmp_path / "logs" / "beauty_duorec-fair-s2.log").write_text(
        "Epoch: 001, Loss: 9.0, ndcg@20: 0.0500, 1.0s\nEpoch: 002, Loss: 8.0, ndcg@20: 0.0400, 1s\n"
        "Epoch: 003, Loss: 8.0, ndcg@20: 0.0450, 1s\n")
    text = tables.at_epochs(tables.curves(str(tmp_path)), "beauty", [1, 3], ["duorec-fair", "icsrec-lb16"])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "seeds" not in line]
    assert rows == ["| duorec-fair | 2 | 0.0400 ± 0.0141 |  |", "| icsrec-lb16 | 1 | 0.0200 |  |"]
    with pytest.raises(SystemExit):
        tables.main([str(tmp_path), "--runs", "icsrec"])  # --runs without --at-epochs means nothing
    with pytest.raises(SystemExit):
        tables.main([str(tmp_path), "--at-epochs", "0,10"])


def test_sequential_log_curve_reads_resumed_and_restarted_runs(tmp_path):
    """seq_grid.py appends to a run's log: a resume continues the curve from its checkpoint's
    epoch, a restart from scratch replaces it."""
    tables = _script("seq_tables")
    line = "Epoch: {:03d}, Loss: 9.0, ndcg@20: {:.4f}, 1.0s\n".format
    log = tmp_path / "beauty_x-s1.log"
    log.write_text(line(1, 0.01) + line(2, 0.02) + line(3, 0.03) + "resumed\n" + line(3, 0.031) + line(4, 0.04))
    assert tables.log_curve(str(log)) == [(1, 0.01), (2, 0.02), (3, 0.031), (4, 0.04)]
    with open(log, "a") as f:
        f.write("training again\n" + line(1, 0.05) + line(2, 0.06))
    assert tables.log_curve(str(log)) == [(1, 0.05), (2, 0.06)]


def test_clardrec_tables_protocols_groups_and_unfinished_runs(tmp_path, capsys):
    """Seeds give mean ± std under 1 + 99 and, from full.json, under full ranking; Popularity
    takes its full ranking from a full-protocol run; a run without results is 'training'."""
    tables = _script("clardrec_tables")
    groups = {"no_search": {"ndcg@5": 0.2, "users": 10}, "sparse": {"ndcg@5": 0.3, "users": 5}}
    for model, seed, base in (("clardrec", 0, 0.40), ("clardrec", 1, 0.42), ("popularity", 0, 0.1)):
        run = tmp_path / "runs" / model / f"seed-{seed}"
        run.mkdir(parents=True)
        test = {"hr@1": base, "hr@5": base, "ndcg@5": base, "mrr": base}
        (run / "results.json").write_text(json.dumps({"test": test, "test_groups": groups,
                                                      "epochs": 30 + seed, "best_epoch": 20 + seed}))
        if model == "clardrec":
            full = {k: v / 10 for k, v in test.items()} | {"ndcg@10": 0.05}
            (run / "full.json").write_text(json.dumps({"test": full}))
            (run / "analysis.json").write_text(json.dumps({"gate_mean": (0.2, 0.3)[seed], "gate_quantiles": [0, 0.1, 1],
                                                           "confidence_mean": 0.9}))  # no truth: no on/off-taste
    full_pop = tmp_path / "full" / "popularity" / "seed-0"
    full_pop.mkdir(parents=True)
    (full_pop / "results.json").write_text(json.dumps({"protocol": "full", "test": {
        "hr@1": 0.001, "hr@5": 0.002, "ndcg@5": 0.003, "mrr": 0.004, "ndcg@10": 0.005}}))
    (tmp_path / "runs" / "sesrec" / "seed-0").mkdir(parents=True)  # a checkpoint only: still training
    tables.main([str(tmp_path / "runs"), "--full-folder", str(tmp_path / "full"), "--json", str(tmp_path / "t.json")])
    out = capsys.readouterr().out
    sampled, full = out.split("full ranking")[:2]
    assert "| **ClardRec** | 0.4100 ± 0.0141 |" in sampled and "| 2 | 30 (20), 31 (21) |" in sampled
    assert "| SESRec | training |" in sampled
    assert "| **ClardRec** | 0.0410 ± 0.0014 |" in full and "| Popularity | 0.0010 |" in full
    assert "sparse (5 users)" in out
    parts = out.split("parts and confidences")[1]
    assert "| **ClardRec** | 0.2500 ± 0.0707 | 0.1000 ± 0.0000 | 0.9000 ± 0.0000 | 2 |" in parts
    assert "off-taste" not in parts  # no run measured it (no truth)
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["models"]["clardrec"]["seeds"] == [0, 1] and saved["models"]["sesrec"] == {"training_seeds": [0]}
    assert saved["analysis"]["clardrec"]["gate_mean"] == [0.2, 0.3]


def test_compose_tables_fills_one_section_and_keeps_the_rest(tmp_path):
    compose = _script("compose_tables")
    run = tmp_path / "runs" / "clardrec" / "seed-0"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"test": {"hr@1": 0.4, "hr@5": 0.5, "ndcg@5": 0.45, "mrr": 0.3},
                                                  "epochs": 9, "best_epoch": 4}))
    template = tmp_path / "t.md"
    template.write_text(f"## Worlds\n\nIntro.\n\n{{{{TABLES {tmp_path / 'runs'}}}}}\n\nAfter.\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n## Worlds\n\nold text\n\n## Real data (in progress)\n\nkept\n")
    compose.main([str(template), str(page), "--start", "## Worlds", "--end", "## Real data"])
    text = page.read_text()
    assert text.startswith("# Page\n\n## Worlds\n\nIntro.") and "old text" not in text
    assert "| **ClardRec** | 0.4000 |" in text and text.endswith("After.\n\n## Real data (in progress)\n\nkept\n")
    with pytest.raises(SystemExit, match="no line beginning with '## Toys'"):
        compose.main([str(template), str(page), "--start", "## Worlds", "--end", "## Toys"])


def test_clardrec_da_targets_refuses_a_model_without_search_examples(tmp_path):
    """The script reads a sequential ClardRec; a CF checkpoint is named, not half-read."""
    from graphrec.cli import main as cli

    out = tmp_path / "run"
    cli(["train", "--model", "clardrec", "--set", "data.num_users=80", "--set", "data.num_items=60",
         "--set", "train.epochs=1", "--set", "train.max_batches=1", "--set", "train.num_threads=1", "-q",
         "--output", str(out)])
    with pytest.raises(SystemExit, match="not a sequential ClardRec"):
        _script("clardrec_da_targets").target_ranks(str(out / "checkpoint.pt"))
    cli(["train", "--model", "clardrec", "--set", "model.backbone=sasrec", "--set", "data.num_users=80",
         "--set", "data.num_items=60", "--set", "train.epochs=1", "--set", "train.max_batches=1",
         "--set", "train.num_threads=1", "-q", "--output", str(tmp_path / "seq")])
    r = _script("clardrec_da_targets").target_ranks(str(tmp_path / "seq" / "checkpoint.pt"), batches=1)
    assert r["rec_targets"] > 0 and 0 <= r["rec_above_random"] <= 1 and 0 <= r["search_above_random"] <= 1


def test_device_queue_runs_the_list_and_packs(tmp_path):
    """The GPU-lease runner (checked here on the CPU): every line runs with $Q and $DATA set,
    a failing line costs only itself, comment lines are skipped, and the pack holds the
    results without checkpoints."""
    jobs = tmp_path / "jobs.txt"
    jobs.write_text("# a comment\nmkdir -p $Q/a && echo $DATA > $Q/a/data.txt && echo x > $Q/a/checkpoint.pt\n"
                    "exit 3\n\necho done > $Q/b.txt\n")
    out = tmp_path / "out"
    env = {**os.environ, "DEV": "cpu", "Q": str(tmp_path / "q")}
    proc = subprocess.run(["bash", str(DOCS / "_scripts" / "device_queue.sh"), str(jobs), str(tmp_path), str(out),
                           "60", "2"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    status = sorted((out / "status.txt").read_text().splitlines())
    assert [line.split()[:2] for line in status] == [["001", "rc=0"], ["002", "rc=3"], ["003", "rc=0"]]
    with tarfile.open(out / "results.tgz") as tar:
        names = set(tar.getnames())
    assert {"./a/data.txt", "./b.txt"} <= names and "./a/checkpoint.pt" not in names
    assert (tmp_path / "q" / "a" / "data.txt").read_text().strip() == str(tmp_path)
