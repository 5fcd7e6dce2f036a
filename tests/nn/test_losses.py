import math

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


def test_weighted_bpr_hand_case():
    from graphrec.nn.losses import weighted_bpr_loss
    pos, neg, w = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.5])
    want = (torch.nn.functional.softplus(torch.tensor(-2.0)) + 0.5 * math.log(2)) / 2
    assert torch.allclose(weighted_bpr_loss(pos, neg, w), want)


def test_counterfactual_triplet_loss_hand_cases():
    from graphrec.nn.losses import counterfactual_triplet_loss
    sp = torch.nn.functional.softplus
    # order: softplus(s_qr - s_qi) + softplus(m_qi - m_qr)
    got = counterfactual_triplet_loss(torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([0.0]),
                                      torch.tensor([2.0]))
    assert torch.allclose(got, sp(torch.tensor(-2.0)) + sp(torch.tensor(-2.0)))
    # a disentangled item (preference kept by qi, match kept by qr) costs less than a swapped one
    swapped = counterfactual_triplet_loss(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([2.0]),
                                          torch.tensor([0.0]))
    assert swapped > got
    # cross: variations of sigmoid scores; with every score 0 both terms are softplus(0 + margin)
    z = torch.zeros(1)
    got = counterfactual_triplet_loss(z, z, z, z, pref_full=z, match_full=z, form="cross", margin=0.5)
    assert torch.allclose(got, 2 * sp(torch.tensor(0.5)))
    s = torch.sigmoid
    pq, pr, mq, mr, pf, mf = (torch.tensor([v]) for v in (1.0, -1.0, 0.5, 2.0, 1.5, 2.5))
    want = sp((s(pf) - s(pq)) - (s(mf) - s(mq))) + sp((s(mf) - s(mr)) - (s(pf) - s(pr)))
    got = counterfactual_triplet_loss(pq, pr, mq, mr, pref_full=pf, match_full=mf, form="cross")
    assert torch.allclose(got, want)
    with pytest.raises(ValueError, match="factual"):
        counterfactual_triplet_loss(z, z, z, z, form="cross")
    with pytest.raises(ValueError, match="form"):
        counterfactual_triplet_loss(z, z, z, z, form="literal")
