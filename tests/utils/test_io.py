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
