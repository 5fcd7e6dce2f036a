"""Variable-length rows stored as CSR: one ``ptr`` and one flat ``values`` tensor.

Per-user histories, per-query token lists and per-item attribute sets all use
this layout instead of padded copies; padding happens only when a batch is cut.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Ragged:
    r"""A list of variable-length integer rows in CSR form.

    Row :math:`r` is ``values[ptr[r]:ptr[r + 1]]``.

    Args:
        ptr (torch.Tensor): ``(num_rows + 1,)`` int64 offsets, ``ptr[0] == 0``,
            non-decreasing.
        values (torch.Tensor): ``(ptr[-1],)`` flat values.
    """

    ptr: Tensor
    values: Tensor

    def __post_init__(self) -> None:
        if self.ptr.dim() != 1 or self.ptr.numel() < 1:
            raise ValueError("Ragged.ptr must be a 1-D tensor with at least one entry")
        if int(self.ptr[0]) != 0 or int(self.ptr[-1]) != self.values.numel():
            raise ValueError(
                f"Ragged.ptr must start at 0 and end at len(values)={self.values.numel()}, "
                f"got {int(self.ptr[0])}..{int(self.ptr[-1])}"
            )

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], dtype: torch.dtype = torch.long) -> Ragged:
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        ptr = torch.zeros(len(rows) + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=ptr[1:])
        flat = [v for r in rows for v in r]
        return cls(ptr, torch.tensor(flat, dtype=dtype))

    @classmethod
    def from_coo(cls, row: Tensor, values: Tensor, num_rows: int, order: Tensor | None = None) -> Ragged:
        """Group ``values`` by ``row``. Within a row, entries keep the order given
        by ``order`` (e.g. timestamps) and ties keep their input order."""
        if row.numel() and (int(row.min()) < 0 or int(row.max()) >= num_rows):
            raise ValueError(f"row index out of range [0, {num_rows})")
        if order is not None:
            perm = torch.argsort(order, stable=True)
            perm = perm[torch.argsort(row[perm], stable=True)]
        else:
            perm = torch.argsort(row, stable=True)
        counts = torch.bincount(row, minlength=num_rows)
        ptr = torch.zeros(num_rows + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=ptr[1:])
        return cls(ptr, values[perm])

    # ---- access -------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return self.ptr.numel() - 1

    def lengths(self) -> Tensor:
        return self.ptr[1:] - self.ptr[:-1]

    def row_index(self) -> Tensor:
        """The row of every value (COO rows)."""
        return torch.repeat_interleave(torch.arange(self.num_rows), self.lengths())

    def __len__(self) -> int:
        return self.num_rows

    def __getitem__(self, r: int) -> Tensor:
        return self.values[int(self.ptr[r]) : int(self.ptr[r + 1])]

    def __iter__(self) -> Iterator[Tensor]:
        for r in range(self.num_rows):
            yield self[r]

    def tolist(self) -> list[list[int]]:
        return [row.tolist() for row in self]

    def select(self, rows: Tensor) -> Ragged:
        """The sub-list of the given rows, in that order (vectorised)."""
        lengths = self.lengths()[rows]
        ptr = torch.zeros(rows.numel() + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=ptr[1:])
        starts = self.ptr[rows]
        offsets = torch.arange(int(ptr[-1])) - torch.repeat_interleave(ptr[:-1], lengths)
        idx = torch.repeat_interleave(starts, lengths) + offsets
        return Ragged(ptr, self.values[idx])

    def pad(self, max_len: int, pad_value: int = 0, left: bool = True, keep: str = "last") -> Tensor:
        """A dense ``(num_rows, max_len)`` tensor. ``keep='last'`` keeps the most
        recent ``max_len`` values of long rows (sequence models), ``left=True``
        left-pads short rows (SASRec's convention)."""
        n = self.num_rows
        out = self.values.new_full((n, max_len), pad_value)
        lengths = self.lengths().clamp(max=max_len)
        if n == 0 or int(lengths.sum()) == 0:
            return out
        start = self.ptr[1:] - lengths if keep == "last" else self.ptr[:-1]
        rows = torch.repeat_interleave(torch.arange(n), lengths)
        ptr = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=ptr[1:])
        pos = torch.arange(int(ptr[-1])) - torch.repeat_interleave(ptr[:-1], lengths)
        src = torch.repeat_interleave(start, lengths) + pos
        col = pos + (max_len - torch.repeat_interleave(lengths, lengths)) if left else pos
        out[rows, col] = self.values[src]
        return out

    def to(self, device: torch.device | str) -> Ragged:
        return Ragged(self.ptr.to(device), self.values.to(device))

    def __repr__(self) -> str:
        return f"Ragged(rows={self.num_rows}, nnz={self.values.numel()})"
