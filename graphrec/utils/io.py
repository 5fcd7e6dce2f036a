"""Atomic file writes: the one implementation every graphrec writer uses.

A file is produced under a temporary name in the destination folder, flushed and
fsynced, then renamed over the destination with :func:`os.replace` (atomic on POSIX
and Windows), and the folder is fsynced so the rename survives a crash. A reader
sees the old file or the new one, never half of one; a failure while producing the
content removes the temporary file and leaves the old file untouched. A temporary
file named ``.<name>.<pid>.<random>.tmp`` left by a writer that was killed is removed
by the next write of the same file.

Files are created with mode ``0o644`` (checkpoints, caches and results alike; they
hold no secrets and are meant to be shared); a replaced file keeps its mode.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PathLike = str | os.PathLike

#: temporary files this process is writing now (those of its own pid that are not here are stale)
_WRITING: set[str] = set()


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
    remove_stale_temps(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    _WRITING.add(os.path.abspath(name))
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
    finally:
        _WRITING.discard(os.path.abspath(name))
    _fsync_dir(path.parent)


def remove_stale_temps(path: PathLike) -> list[Path]:
    """Delete the temporary files that writers of ``path`` killed mid-write (``kill -9``,
    power loss, an exception that skipped cleanup) left beside it:
    ``.<name>.<pid>.<random>.tmp`` whose process is no longer running, or this
    process's own that it is not writing. A live writer's file is never touched.
    Returns the removed paths."""
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for tmp in candidates:
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit():
            continue
        if int(pid) == os.getpid():
            if os.path.abspath(tmp) in _WRITING:  # this process is writing it right now (another thread)
                continue
        elif _process_alive(int(pid)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to someone else, or cannot tell
        return True
    return True


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


def check_writable_dir(path: PathLike, what: str = "output folder") -> Path:
    """Create the folder ``path`` if needed and prove it writable by creating and
    removing a file there, so a run learns of an unwritable ``--output`` before it
    trains, not after its first epoch. Raises :class:`PermissionError` naming the
    folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path, prefix=".graphrec-write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise PermissionError(f"{what} '{path}' is not writable ({exc.strerror or exc})") from None
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "check_writable_dir", "remove_stale_temps"]
