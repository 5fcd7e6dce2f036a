"""Atomic file writes: the one implementation every graphrec writer uses.

A file is produced under a temporary name in the destination folder, flushed and
fsynced, then renamed over the destination with :func:`os.replace` (atomic on POSIX
and Windows), and the folder is fsynced so the rename survives a crash. A reader
sees the old file or the new one, never half of one; a failure while producing the
content removes the temporary file and leaves the old file untouched.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PathLike = str | os.PathLike


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path`` for the caller to write (with any
    writer that takes a path: :func:`torch.save`, ``InMemoryDataset.save``, ...);
    when the block ends without an exception the file is fsynced and renamed over
    ``path``. Parent folders are created. A new file gets mode ``0o644``; a replaced
    one keeps its mode.

    Example:
        >>> with atomic_path("out/model.pt") as tmp:  # doctest: +SKIP
        ...     torch.save(state, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort; not possible on every OS)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]
