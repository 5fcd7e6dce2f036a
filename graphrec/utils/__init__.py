"""Low-level helpers with no graphrec dependency, usable from every layer
(``data``, ``metrics``, ``train``, benchmarks)."""
from graphrec.utils.io import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]
