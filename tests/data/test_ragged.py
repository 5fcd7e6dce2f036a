import pytest
import torch

from graphrec.data.ragged import Ragged


def test_from_lists_and_access():
    r = Ragged.from_lists([[1, 2, 3], [], [4]])
    assert r.num_rows == 3
    assert r.lengths().tolist() == [3, 0, 1]
    assert r[0].tolist() == [1, 2, 3] and r[1].tolist() == [] and r[2].tolist() == [4]
    assert r.row_index().tolist() == [0, 0, 0, 2]


def test_from_coo_orders_by_key_and_keeps_ties_stable():
    row = torch.tensor([1, 0, 1, 1])
    val = torch.tensor([10, 11, 12, 13])
    order = torch.tensor([5.0, 1.0, 2.0, 2.0])
    r = Ragged.from_coo(row, val, 3, order=order)
    assert r.tolist() == [[11], [12, 13, 10], []]


def test_from_coo_rejects_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        Ragged.from_coo(torch.tensor([0, 3]), torch.tensor([1, 2]), 3)


def test_select_and_pad():
    r = Ragged.from_lists([[1, 2, 3, 4], [5], []])
    assert r.select(torch.tensor([2, 0])).tolist() == [[], [1, 2, 3, 4]]
    left = r.pad(3)
    assert left.tolist() == [[2, 3, 4], [0, 0, 5], [0, 0, 0]]
    right = r.pad(3, left=False, keep="first")
    assert right.tolist() == [[1, 2, 3], [5, 0, 0], [0, 0, 0]]


def test_bad_ptr_rejected():
    with pytest.raises(ValueError):
        Ragged(torch.tensor([0, 2]), torch.tensor([1, 2, 3]))
