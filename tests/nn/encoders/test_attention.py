import math

import pytest
import torch

from graphrec.nn.encoders import AttentionPooling, CausalCrossAttention, CrossAttentionFusion


def identity_attention(include_self=True):
    att = CausalCrossAttention(1, num_heads=1, include_self=include_self)
    with torch.no_grad():
        for lin in (att.q, att.k, att.v, att.out):
            lin.weight.fill_(1.0)
            lin.bias.zero_()
    return att.eval()


def test_causal_cross_attention_hand_case():
    x = torch.tensor([[[1.0], [2.0]]])
    out = identity_attention()(x)
    w = torch.softmax(torch.tensor([2.0 * 1.0, 2.0 * 2.0]), 0)  # q_1 = 2, keys 1 and 2
    assert torch.allclose(out[0, 0], torch.tensor([1.0]))
    assert torch.allclose(out[0, 1], (w * torch.tensor([1.0, 2.0])).sum().reshape(1))
    strict = identity_attention(include_self=False)(x)
    assert torch.equal(strict[0, 0], torch.zeros(1))  # no earlier key: zero fallback
    assert torch.allclose(strict[0, 1], torch.tensor([1.0]))


@pytest.mark.parametrize("include_self", [True, False])
def test_causal_cross_attention_never_sees_the_future(include_self):
    torch.manual_seed(0)
    att = CausalCrossAttention(8, num_heads=2, include_self=include_self).eval()
    x = torch.randn(2, 6, 8)
    valid = torch.tensor([[False, False, True, True, True, True], [True] * 6])
    out, attn = att(x, valid, return_attention=True)
    assert out.shape == (2, 6, 8) and attn.shape == (2, 2, 6, 6)
    later = torch.ones(6, 6).triu(0 if not include_self else 1).bool()
    assert (attn[:, :, later] == 0).all()
    for t in range(6):
        y = x.clone()
        y[:, t] += 5.0
        out2 = att(y, valid)
        assert torch.allclose(out[:, :t], out2[:, :t], atol=1e-6)


def test_causal_cross_attention_padding_is_never_attended():
    torch.manual_seed(0)
    att = CausalCrossAttention(8, num_heads=2).eval()
    x = torch.randn(1, 5, 8)
    valid = torch.tensor([[False, False, True, True, True]])
    out, attn = att(x, valid, return_attention=True)
    assert (attn[..., :2] == 0).all()
    assert torch.equal(out[0, :2], torch.zeros(2, 8))  # padding queries: zero
    y = x.clone()
    y[:, :2] = torch.randn(2, 8) * 100
    assert torch.allclose(att(y, valid), out, atol=1e-6)
    assert torch.isfinite(att(x, torch.zeros(1, 5, dtype=torch.bool))).all()


def test_causal_cross_attention_reset_and_bad_heads():
    att = CausalCrossAttention(8, 2)
    before = att.q.weight.clone()
    att.reset_parameters()
    assert not torch.equal(before, att.q.weight)
    with pytest.raises(ValueError, match="divisible"):
        CausalCrossAttention(6, 4)


@pytest.mark.parametrize("score", ["dot", "mlp"])
@pytest.mark.parametrize("normalize", [True, False])
def test_attention_pooling_padded_and_csr_agree(score, normalize):
    torch.manual_seed(0)
    pool = AttentionPooling(4, score=score, normalize=normalize)
    lengths = torch.tensor([3, 0, 1])
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    values = torch.randn(int(ptr[-1]), 4)
    target = torch.randn(3, 4)
    padded = torch.randn(3, 3, 4) * 50  # garbage in the padding
    mask = torch.arange(3)[None, :] < lengths[:, None]
    padded[mask] = values
    a = pool(target, padded, mask)
    b = pool(target, values, ptr=ptr)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(a[1], torch.zeros(4))  # empty history


def test_attention_pooling_hand_case():
    pool = AttentionPooling(2)
    target = torch.tensor([[1.0, 0.0]])
    hist = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    w = torch.softmax(torch.tensor([2.0 / math.sqrt(2), 0.0]), 0)
    assert torch.allclose(pool(target, hist, mask)[0], w[0] * hist[0, 0] + w[1] * hist[0, 1])
    with pytest.raises(ValueError, match="score"):
        AttentionPooling(2, score="cosine")


def test_cross_attention_fusion_masks():
    torch.manual_seed(0)
    fuse = CrossAttentionFusion(8, num_heads=2).eval()
    x, y = torch.randn(2, 4, 8), torch.randn(2, 3, 8)
    y_mask = torch.tensor([[True, True, False], [True, False, False]])
    out = fuse(x, y, y_mask=y_mask)
    assert out.shape == (2, 4, 8)
    y2 = y.clone()
    y2[~y_mask] = 100.0
    assert torch.allclose(fuse(x, y2, y_mask=y_mask), out, atol=1e-5)
    assert fuse(x, y[:, 0]).shape == (2, 4, 8)  # one context token


def test_cross_attention_fusion_causal():
    torch.manual_seed(0)
    fuse = CrossAttentionFusion(8, num_heads=2, causal=True, residual=False, ffn=False).eval()
    x, y = torch.randn(1, 5, 8), torch.randn(1, 5, 8)
    out = fuse(x, y)
    for t in range(5):
        y2 = y.clone()
        y2[:, t] += 3.0
        assert torch.allclose(fuse(x, y2)[:, :t], out[:, :t], atol=1e-6)
    with pytest.raises(ValueError, match="aligned"):
        fuse(x, y[:, :3])
