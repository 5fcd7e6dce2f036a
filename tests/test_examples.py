"""The example scripts run end to end (so they cannot silently rot)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cache):
    env = {**os.environ, "GRAPHREC_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow
def test_custom_graph_example(tmp_path):
    out = run("custom_graph.py", cache=tmp_path)
    assert "co_occurrence: test" in out and "lightgcn: test" in out
    assert "Warning" not in out


@pytest.mark.slow
def test_quickstart_example(tmp_path):
    out = run("quickstart.py", "--epochs", "2", cache=tmp_path)
    assert "Epoch: 002" in out and "LightGCN test:" in out
