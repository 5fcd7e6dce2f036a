import pytest
import torch
import torch.nn.functional as F

from graphrec.nn import Dropout, dropout


def test_keeps_expectation_and_rate():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.3)
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.01
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.7))
    assert abs(float(y.mean()) - 1.0) < 0.01


def test_gradient_is_the_mask_scaled():
    torch.manual_seed(1)
    x = torch.randn(64, 8, requires_grad=True)
    y = dropout(x, 0.5)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * 2.0)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_edge_rates_and_eval(p):
    x = torch.randn(10)
    assert torch.equal(dropout(x, p), F.dropout(x, p, True))
    m = Dropout(0.5).eval()
    assert torch.equal(m(x), x)
