"""The encoders GSERec composes: query words, a bidirectional history encoder, code
fusion through decoder layers, and bilinear target attention."""
import pytest
import torch

from graphrec.nn.encoders import HistoryEncoder, MemoryFusion, QueryEncoder, TargetAttention, chronological_positions
from graphrec.nn.encoders.history_encoder import active_blocks


def test_query_encoder_means_words_and_zeroes_padding():
    # query 0 = words {0, 1}, query 1 = {1}, query 2 = no words
    enc = QueryEncoder(torch.tensor([0, 2, 3, 3]), torch.tensor([0, 1, 1]), num_words=2, dim=4)
    w = enc.word_emb.weight
    out = enc(torch.tensor([[1, 2, 3, 0]]))  # shifted ids, 0 = padding
    assert out.shape == (1, 4, 4)
    assert torch.allclose(out[0, 0], w[:2].mean(0)) and torch.allclose(out[0, 1], w[1])
    assert (out[0, 2] == 0).all() and (out[0, 3] == 0).all()
    out.sum().backward()  # gradients reach the words
    assert enc.word_emb.weight.grad.abs().sum() > 0


def test_query_encoder_rejects_bad_tables():
    with pytest.raises(ValueError, match="token_ptr"):
        QueryEncoder(torch.tensor([0, 5]), torch.tensor([0, 1]), num_words=2, dim=4)
    with pytest.raises(ValueError, match=r"word ids must lie in \[0, 2\)"):
        QueryEncoder(torch.tensor([0, 1]), torch.tensor([3]), num_words=2, dim=4)


def test_positions_count_from_the_oldest_entry():
    valid = torch.tensor([[False, False, True, True], [True, True, True, False]])
    assert chronological_positions(valid).tolist() == [[0, 0, 0, 1], [0, 1, 2, 2]]


def test_history_encoder_is_padding_invariant_and_zero_for_empty_rows():
    torch.manual_seed(0)
    enc = HistoryEncoder(8, max_len=6).eval()
    x = torch.randn(1, 3, 8)
    left = torch.cat([torch.zeros(1, 3, 8), x], 1)
    right = torch.cat([x, torch.zeros(1, 3, 8)], 1)
    out_l = enc(left, torch.tensor([[False] * 3 + [True] * 3]))
    out_r = enc(right, torch.tensor([[True] * 3 + [False] * 3]))
    assert torch.allclose(out_l[0, 3:], out_r[0, :3], atol=1e-5)
    assert (out_l[0, :3] == 0).all()
    empty = enc(torch.randn(2, 6, 8), torch.zeros(2, 6, dtype=torch.bool))
    assert not empty.isnan().any() and (empty == 0).all()
    # bidirectional: the first entry depends on the last one
    y = right.clone()
    y[0, 2] += 1.0
    assert not torch.allclose(enc(y, torch.tensor([[True] * 3 + [False] * 3]))[0, 0], out_r[0, 0])
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.randn(1, 7, 8), torch.ones(1, 7, dtype=torch.bool))


def test_memory_fusion_reads_the_memory_and_keeps_empty_rows_zero():
    torch.manual_seed(0)
    fuse = MemoryFusion(8).eval()
    h, valid = torch.randn(2, 4, 8), torch.tensor([[True] * 4, [False] * 4])
    m1, m2 = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    a, b = fuse(h, valid, m1), fuse(h, valid, m2)
    assert not torch.allclose(a[0], b[0])  # the memory matters
    assert (a[1] == 0).all() and not a.isnan().any()


def test_target_attention_hand_case_and_empty_history():
    att = TargetAttention(2)
    with torch.no_grad():
        att.weight.copy_(torch.eye(2))
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    valid = torch.tensor([[True, True, False]])
    cand = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    alpha = att.weights(h, valid, cand)
    e = torch.exp(torch.tensor(2.0))
    assert torch.allclose(alpha[0, 0], torch.tensor([e / (e + 1), 1 / (e + 1), 0.0]))
    assert torch.allclose(alpha[0, 1], torch.tensor([0.5, 0.5, 0.0]))  # equal scores: uniform over real entries
    assert torch.allclose(att(h, valid, cand)[0, 1], torch.tensor([0.5, 0.5]))
    none = att(h, torch.zeros(1, 3, dtype=torch.bool), cand)
    assert (none == 0).all()


def test_encoding_by_length_blocks_equals_encoding_each_row_alone():
    torch.manual_seed(0)
    enc, fuse = HistoryEncoder(8, max_len=10).eval(), MemoryFusion(8).eval()
    lengths = torch.tensor([0, 3, 10, 1, 7, 0, 2, 5, 9])
    valid = torch.arange(10).unsqueeze(0) >= (10 - lengths).unsqueeze(1)  # left-padded
    x, memory = torch.randn(9, 10, 8), torch.randn(9, 4, 8)
    blocks = active_blocks(valid)
    assert sorted(torch.cat([r for r, _ in blocks]).tolist()) == [1, 2, 3, 4, 6, 7, 8]
    h, fused = enc(x, valid), fuse(x, valid, memory)
    for b in range(9):
        alone = enc(x[b:b + 1], valid[b:b + 1])
        assert torch.allclose(h[b], alone[0], atol=1e-5)
        assert torch.allclose(fused[b], fuse(x[b:b + 1], valid[b:b + 1], memory[b:b + 1])[0], atol=1e-5)
