"""RecDataset's processed cache: keyed by what the raw files hold."""
import os
from typing import ClassVar

from graphrec.data.datasets.base import RecDataset
from graphrec.data.io import read_rec_log
from graphrec.data.logs import BehaviourLogs


class Clicks(RecDataset):
    raw_folder: ClassVar[str] = "clicks"

    @property
    def raw_file_names(self) -> list[str]:
        return ["clicks.csv"]

    def load_logs(self) -> BehaviourLogs:
        rec, _, _ = read_rec_log(self.raw_paths[0], columns={"user": "u", "item": "i", "time": "t"})
        return BehaviourLogs(rec, None)


def _write(path, rows):
    path.write_text("u,i,t\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))


def test_raw_file_replaced_with_same_size_and_mtime_is_reprocessed(tmp_path):
    raw = tmp_path / "root" / "clicks"
    raw.mkdir(parents=True)
    f = raw / "clicks.csv"
    _write(f, [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1), (2, 2, 2), (2, 3, 3)])
    first = Clicks(str(tmp_path / "root"), cache_dir=str(tmp_path / "cache"))
    assert first[0]["user", "clicks", "item"].edge_index[1].tolist() == [0, 0]
    st = os.stat(f)
    _write(f, [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 3, 1), (2, 2, 2), (2, 1, 3)])  # same bytes count
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(f).st_size == st.st_size and os.stat(f).st_mtime_ns == st.st_mtime_ns
    second = Clicks(str(tmp_path / "root"), cache_dir=str(tmp_path / "cache"))
    assert second.cache_key != first.cache_key
    assert second[0]["user", "clicks", "item"].edge_index[1].tolist() == [0, 2]  # the new file's first clicks
