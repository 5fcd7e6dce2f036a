"""Content digests of raw files, for cache keys that follow what a file holds.

A processed-dataset cache keyed by a raw file's size and modification time goes
stale when the file is replaced by one of the same size whose mtime was set back
(``cp -p``, ``touch -r``, an archive restored with its times): training then runs
on the old data without a word. Keying by a digest of the bytes cannot be fooled.

Hashing is paid once per file version: digests are remembered in a small JSON memo
keyed by the file's path, size, inode, mtime *and ctime* (in nanoseconds). A user
can set the mtime back, but any write to a file moves its ctime, which only the
kernel sets, so the memo cannot hand out a stale digest.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from graphrec.utils.io import atomic_write_text

#: bytes read per step while hashing
CHUNK = 1 << 20


def hash_file(path: str | os.PathLike) -> str:
    """BLAKE2b-128 hex digest of the file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(path: str) -> str:
    st = os.stat(path)
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_ino}|{st.st_mtime_ns}|{st.st_ctime_ns}"


def file_digest(path: str | os.PathLike, memo: str | os.PathLike | None = None) -> str:
    """Digest of ``path``'s content (:func:`hash_file`), remembered in the JSON file
    ``memo`` (none: always hash) under the file's stat signature so an unchanged file
    is not read again. A damaged memo is ignored and rewritten."""
    path = os.fspath(path)
    if memo is None:
        return hash_file(path)
    key = _stat_key(path)
    memo_path = Path(memo)
    try:
        known = json.loads(memo_path.read_text())
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), str):
        return known[key]
    digest = hash_file(path)
    prefix = key.split("|", 1)[0] + "|"
    known = {k: v for k, v in known.items() if not k.startswith(prefix)}  # forget the file's old versions
    known[key] = digest
    try:
        atomic_write_text(memo_path, json.dumps(known, indent=0, sort_keys=True))
    except OSError:  # a read-only cache still gets the right digest, only slower next time
        pass
    return digest


__all__ = ["hash_file", "file_digest"]
