"""Shared pytest fixtures.

* ``shared_data`` -- the folder of real datasets (``../shared/data`` next to the
  repository, or ``$GRAPHREC_SHARED_DATA``). Tests that need it are skipped with
  a clear reason when it is absent, except under ``CI=true`` where its absence
  fails the test (CI must exercise the real data).
* ``tmp_cache`` -- a fresh processed-data cache folder, also exported as
  ``GRAPHREC_CACHE`` for the test's duration.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """Where the real datasets are expected (not checked)."""
    env = os.environ.get("GRAPHREC_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_path()
    if not path.is_dir():
        reason = (f"real datasets not found: '{path}' (../shared/data next to the repository) "
                  f"does not exist; set GRAPHREC_SHARED_DATA to the folder holding amazon_seq/, "
                  f"gowalla/, kuaisar_rec_mrff/, jdsearch_sample/")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: failing instead of skipping)")
        pytest.skip(reason)
    return path


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "graphrec-cache"
    cache.mkdir()
    monkeypatch.setenv("GRAPHREC_CACHE", str(cache))
    return cache
