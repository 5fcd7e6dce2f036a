import pytest
import torch

from graphrec.nn.disentangle import DisentanglingGate, GatedFusion


def test_complementary_gate_parts_sum_to_the_input():
    torch.manual_seed(0)
    gate = DisentanglingGate(8, attr_dim=3)
    h, a = torch.randn(5, 8), torch.randn(5, 3)
    qr, qi, g = gate(h, a)
    assert torch.allclose(qr + qi, h, atol=1e-6)
    assert torch.allclose(qr, g * h) and bool(((g > 0) & (g < 1)).all())


def test_gate_hand_case():
    gate = DisentanglingGate(2, attr_dim=1)
    with torch.no_grad():
        gate.lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]]))
        gate.lin.bias.zero_()
    qr, qi, g = gate(torch.tensor([[1.0, 4.0]]), torch.tensor([[-0.5]]))
    # g = sigmoid([1 + 2 * -0.5, 0]) = [0.5, 0.5]
    assert torch.allclose(g, torch.tensor([[0.5, 0.5]]))
    assert torch.allclose(qr, torch.tensor([[0.5, 2.0]])) and torch.allclose(qi, torch.tensor([[0.5, 2.0]]))


def test_independent_gates_do_not_sum_to_the_input():
    torch.manual_seed(0)
    gate = DisentanglingGate(8, complementary=False)
    h = torch.randn(5, 8)
    qr, qi, g = gate(h)
    assert not torch.allclose(qr + qi, h, atol=1e-3)
    assert torch.allclose(qr, g * h)


def test_gate_refuses_a_missing_or_unexpected_attribute_vector():
    with pytest.raises(ValueError, match="no attribute vector"):
        DisentanglingGate(4, attr_dim=2)(torch.randn(1, 4))
    with pytest.raises(ValueError, match="an attribute vector"):
        DisentanglingGate(4)(torch.randn(1, 4), torch.randn(1, 2))


def test_gated_fusion_hand_case_and_shapes():
    fusion = GatedFusion(2)
    with torch.no_grad():
        fusion.lin.weight.zero_()
        fusion.lin.bias.fill_(torch.logit(torch.tensor(0.25)).item())
    h, z = torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, 8.0]])
    out, beta = fusion(h, z)
    assert beta.shape == (1, 1) and torch.allclose(beta, torch.tensor([[0.25]]))
    assert torch.allclose(out, torch.tensor([[1.0, 6.0]]))  # 0.25 * h + 0.75 * z
    out, beta = GatedFusion(2, vector=True)(h, z)
    assert beta.shape == (1, 2) and out.shape == (1, 2)
