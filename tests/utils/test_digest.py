import os

from graphrec.utils import digest
from graphrec.utils.digest import file_digest, hash_file


def _replace_keeping_size_and_mtime(path, text):
    st = os.stat(path)
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns


def test_same_size_and_mtime_but_other_bytes_give_another_digest(tmp_path):
    f = tmp_path / "clicks.csv"
    f.write_text("u,i\n1,2\n")
    memo = tmp_path / "memo.json"
    before = file_digest(f, memo)
    _replace_keeping_size_and_mtime(f, "u,i\n1,3\n")
    assert file_digest(f, memo) != before
    assert file_digest(f, memo) == hash_file(f) == file_digest(f)


def test_memo_spares_rereading_an_unchanged_file(tmp_path, monkeypatch):
    f = tmp_path / "a.txt"
    f.write_text("x" * 1000)
    memo = tmp_path / "memo.json"
    first = file_digest(f, memo)
    calls = []
    monkeypatch.setattr(digest, "hash_file", lambda p: calls.append(p) or "fresh")
    assert file_digest(f, memo) == first and calls == []
    memo.write_text("{not json")  # a damaged memo is ignored, never trusted
    assert file_digest(f, memo) == "fresh" and len(calls) == 1
