import pytest
import torch
import torch.nn.functional as F

from graphrec.nn.losses import BilinearSimilarity, info_nce


def test_info_nce_with_a_callable_similarity_equals_the_named_one():
    torch.manual_seed(0)
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    assert torch.allclose(info_nce(a, b, 0.5, similarity=lambda x, y: x @ y.t()), info_nce(a, b, 0.5))
    cos = info_nce(a, b, 0.1, similarity="cos")
    assert torch.allclose(cos, info_nce(F.normalize(a, dim=-1), F.normalize(b, dim=-1), 0.1))
    with pytest.raises(ValueError, match="similarity"):
        info_nce(a, b, similarity="l2")


def test_bilinear_similarity_hand_case_and_learnable_temperature():
    sim = BilinearSimilarity(2, temperature=0.1)
    with torch.no_grad():
        sim.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    x, y = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.5, 0.25]])
    assert torch.allclose(sim(x, y), torch.tanh(torch.tensor([[1.0]])))
    a, b = torch.randn(6, 2), torch.randn(6, 2)
    loss = info_nce(a, b, temperature=sim.tau(), similarity=sim)
    loss.backward()
    assert sim.temperature.grad is not None and sim.weight.grad is not None
    with torch.no_grad():
        sim.temperature.fill_(-1.0)  # an optimiser step too far: tau stays positive
    assert float(sim.tau().detach()) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="min_temperature"):
        BilinearSimilarity(2, temperature=0.001)
