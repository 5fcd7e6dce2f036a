import pytest
import torch
import torch.nn.functional as F

from graphrec.nn.encoders import SequenceTransformer, trim_left_padding

SEQ = torch.tensor([[0, 0, 0, 3, 7, 1], [0, 0, 5, 6, 7, 8], [0, 0, 0, 0, 0, 2]])


def encode(model, emb, seq):
    return model(emb(seq), seq > 0)


@pytest.fixture
def setup():
    torch.manual_seed(0)
    return SequenceTransformer(8, max_len=6, num_layers=2, num_heads=2, dropout=0.0).eval(), torch.nn.Embedding(10, 8)


@pytest.mark.parametrize("norm_first", [False, True])
def test_no_position_sees_the_future(norm_first):
    torch.manual_seed(0)
    model = SequenceTransformer(8, 6, 2, 2, 0.0, norm_first=norm_first).eval()
    emb = torch.nn.Embedding(10, 8)
    out = encode(model, emb, SEQ)
    for t in range(3, 5):
        other = SEQ.clone()
        other[:, t] = 9
        out2 = encode(model, emb, other)
        assert torch.allclose(out[:, :t], out2[:, :t], atol=1e-6)
        assert not torch.allclose(out[:, -1], out2[:, -1])


def test_padding_outputs_are_zero_and_never_attended(setup):
    model, emb = setup
    out = encode(model, emb, SEQ)
    assert torch.all(out[SEQ == 0] == 0)
    with torch.no_grad():
        emb.weight[0].normal_(0, 10.0)
    assert torch.allclose(encode(model, emb, SEQ), out, atol=1e-6)


def test_positions_are_right_aligned_so_trimming_is_exact(setup):
    model, emb = setup
    full = encode(model, emb, SEQ)
    short = SEQ[:, 2:]
    assert torch.allclose(encode(model, emb, short), full[:, 2:], atol=1e-6)
    (trimmed, other) = trim_left_padding(SEQ, full)
    assert torch.equal(trimmed, SEQ[:, 2:]) and torch.equal(other, full[:, 2:])
    with pytest.raises(ValueError, match="max_len=6"):
        encode(model, emb, F.pad(SEQ, (1, 0)))


def test_trim_left_padding_edge_cases():
    seq = torch.tensor([[1, 2], [3, 4]])
    assert trim_left_padding(seq)[0] is seq
    empty = torch.zeros(2, 4, dtype=torch.long)
    assert trim_left_padding(empty)[0].shape == (2, 1)  # one column survives


@pytest.mark.parametrize("groups", [2, 3, 8])
def test_length_groups_give_the_same_outputs_and_gradients(setup, groups):
    model, emb = setup
    seq = torch.tensor([[0, 0, 0, 3, 7, 1], [0, 0, 5, 6, 7, 8], [0, 0, 0, 0, 0, 2], [1, 2, 3, 4, 5, 6],
                        [0, 0, 0, 0, 9, 9]])
    one = encode(model, emb, seq)
    g_one = torch.autograd.grad(one.square().sum(), emb.weight)[0]
    model.length_groups = groups
    grouped = encode(model, emb, seq)
    g_grouped = torch.autograd.grad(grouped.square().sum(), emb.weight)[0]
    assert torch.allclose(grouped, one, atol=1e-6) and torch.allclose(g_grouped, g_one, atol=1e-6)
    with pytest.raises(ValueError, match="length_groups"):
        SequenceTransformer(8, max_len=6, length_groups=0)


def additive_mask_forward(model, x, seq):
    """The reference SASRec code's forward (post-LN): learned positions, a causal and
    padding mask added as ``-10000`` to the scores, every output kept."""
    B, L, D = x.shape
    x = model.norm(x + model.pos.weight[-L:])
    allowed = torch.ones(L, L).tril().bool() & (seq > 0)[:, None, :]
    add = (1.0 - allowed.float())[:, None] * -10000.0
    for blk in model.blocks:
        q, k, v = blk.qkv(x).view(B, L, 3, blk.num_heads, D // blk.num_heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        p = torch.softmax(q @ k.transpose(-1, -2) / (D // blk.num_heads) ** 0.5 + add, -1)
        x = blk.norm1(x + blk.out((p @ v).transpose(1, 2).reshape(B, L, D)))
        x = blk.norm2(x + blk.ffn(x))
    return x


def test_attend_all_padding_outputs_follow_the_additive_mask(setup):
    model, emb = setup
    zero = encode(model, emb, SEQ)
    model.padding_outputs = "attend_all"
    out = encode(model, emb, SEQ)
    assert torch.allclose(out, additive_mask_forward(model, emb(SEQ), SEQ), atol=1e-5)
    real = SEQ > 0
    assert torch.allclose(out[real], zero[real], atol=1e-5)  # real positions never see padding
    assert out[~real].abs().sum(-1).min() > 0
    # a padding query attends to every position, the most recent item included
    other = SEQ.clone()
    other[:, -1] = 9
    assert not torch.allclose(encode(model, emb, other)[~real], out[~real])
    model.length_groups = 3  # grouping would trim the padding whose outputs are wanted: it is skipped
    assert torch.allclose(encode(model, emb, SEQ), out, atol=1e-6)
    with pytest.raises(ValueError, match="padding_outputs"):
        SequenceTransformer(8, max_len=6, padding_outputs="keep")
