import os
import stat

import pytest
import torch

from graphrec.train.checkpoint import load_checkpoint, save_checkpoint
from graphrec.utils.io import atomic_path, atomic_write_text


def test_atomic_path_writes_then_renames(tmp_path):
    p = tmp_path / "sub" / "x.pt"  # parent created
    with atomic_path(p) as tmp:
        assert tmp.parent == p.parent and not p.exists()
        torch.save({"a": 1}, tmp)
    assert torch.load(p) == {"a": 1}
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert os.listdir(p.parent) == ["x.pt"]


def test_atomic_path_keeps_old_file_when_the_writer_fails(tmp_path):
    p = tmp_path / "x.txt"
    atomic_write_text(p, "old")
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_path(p) as tmp:
            tmp.write_text("new, trunc")
            raise RuntimeError("half way")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["x.txt"]


def test_checkpoint_uses_it(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.pt"
    save_checkpoint(str(p), {"model": {"w": torch.ones(2)}})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(str(p), {"model": {"w": torch.zeros(2)}})
    assert torch.equal(load_checkpoint(str(p))["model"]["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    """kill -9 during a checkpoint write left a multi-MB temp file that nothing removed."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "checkpoint.pt"
    code = ("import sys, time\n"
            "from graphrec.utils.io import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'x' * 4_000_000)\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f".checkpoint.pt.{proc.pid}.")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)
    assert leftovers[0].exists()  # nothing cleaned it up: the writer was killed
    save_checkpoint(str(target), {"model": {"w": torch.ones(2)}})
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_a_live_writers_temp_file_is_left_alone(tmp_path):
    from graphrec.utils.io import remove_stale_temps

    live = tmp_path / f".x.pt.{os.getppid()}.abc.tmp"  # our parent process is alive
    live.write_text("half")
    other = tmp_path / ".x.pt.notapid.tmp"  # not ours to judge
    other.write_text("?")
    assert remove_stale_temps(tmp_path / "x.pt") == []
    assert live.exists() and other.exists()


def test_checkpoints_and_results_get_one_documented_mode(tmp_path):
    from graphrec.metrics.report import atomic_write_json

    save_checkpoint(str(tmp_path / "c.pt"), {"model": {}})
    atomic_write_json(str(tmp_path / "r.json"), {"a": 1})
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_check_writable_dir_names_the_folder(tmp_path):
    from graphrec.utils.io import check_writable_dir

    assert check_writable_dir(tmp_path / "new" / "run").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(PermissionError, match="output folder '.*file/run' is not writable"):
        check_writable_dir(tmp_path / "file" / "run")
    assert os.listdir(tmp_path / "new" / "run") == []  # the probe file is gone


def test_own_stale_temp_is_removed_but_not_one_being_written(tmp_path):
    """A temp file of this very process that no write is using (left by an earlier,
    interrupted write) is stale; the one a write is producing is not."""
    from graphrec.utils.io import remove_stale_temps

    target = tmp_path / "x.pt"
    stale = tmp_path / f".x.pt.{os.getpid()}.old.tmp"
    stale.write_text("half")
    with atomic_path(target) as tmp:
        assert not stale.exists()  # removed by this write
        tmp.write_text("new")
        assert remove_stale_temps(target) == [] and tmp.exists()  # ours, in progress
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["x.pt"]
