import math

import pytest
import torch

from graphrec.config import ConfigError
from graphrec.data import Ragged, train_history
from graphrec.data.loader import SubsequenceLoader
from graphrec.models import IDCLRec, IDCLRecConfig, Popularity, SASRec
from graphrec.models.idclrec import intent_category_weights, similarity_adjustment_loss
from graphrec.nn.losses import info_nce
from graphrec.train import TrainConfig, Trainer

SMALL = dict(dim=16, max_len=8, dropout=0.0)
SEQ = torch.tensor([[0, 0, 3, 7, 1, 9, 4, 2], [5, 6, 7, 8, 9, 10, 11, 12]])


def small(**kw):
    torch.manual_seed(0)
    return IDCLRec(10, 30, **{**SMALL, **kw}).eval()


# ---- hand-computed cases -------------------------------------------------------------------

def test_similarity_adjustment_loss_hand_case():
    R = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    I = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    # 1 - cos R over the 6 ordered pairs: (1, 0, 1) twice -> 2/3; relu cos I: (1/sqrt2, 0, 0) twice
    expected = 2 / 3 + 2 * (1 / math.sqrt(2)) / 6
    assert math.isclose(float(similarity_adjustment_loss(R, I, valid)), expected, rel_tol=1e-6)
    # a padding position with anything in it changes nothing
    R2 = torch.cat([torch.full((1, 1, 2), 7.0), R], 1)
    I2 = torch.cat([torch.full((1, 1, 2), -3.0), I], 1)
    v2 = torch.tensor([[False, True, True, True]])
    assert math.isclose(float(similarity_adjustment_loss(R2, I2, v2)), expected, rel_tol=1e-6)
    one = torch.tensor([[False, False, False, True]])
    assert float(similarity_adjustment_loss(R2, I2, one)) == 0.0


def test_intent_category_weights_hand_case():
    I = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [1.0, 0.5]]])  # position 2 is the current intent N
    valid = torch.ones(1, 3, dtype=torch.bool)

    def cos(a, b):
        a, b = torch.tensor(a, dtype=torch.float), torch.tensor(b, dtype=torch.float)
        return float(a @ b / (a.norm() * b.norm()))

    c01, c02, c12 = cos([1, 0], [1, 1]), cos([1, 0], [1, .5]), cos([1, 1], [1, .5])  # .707, .894, .949
    imp = torch.tensor([(c01 + c02) / 2, (c01 + c12) / 2, (c02 + c12) / 2])
    alpha, member = intent_category_weights(I, valid, delta=0.5)
    assert member.tolist() == [[1.0, 1.0, 1.0]]
    assert torch.allclose(alpha[0], torch.softmax(imp, 0), atol=1e-6)
    alpha, _ = intent_category_weights(I, valid, delta=0.5, tau=0.5)
    assert torch.allclose(alpha[0], torch.softmax(imp / 0.5, 0), atol=1e-6)
    # delta between cos(I_0, I_N)=.894 and cos(I_1, I_N)=.949: S = {1, N}, both importances cos12
    alpha, member = intent_category_weights(I, valid, delta=0.92)
    assert member.tolist() == [[0.0, 1.0, 1.0]] and torch.allclose(alpha[0], torch.tensor([0.0, 0.5, 0.5]))
    alpha, _ = intent_category_weights(I, valid, delta=1.5)  # only the current intent
    assert alpha.tolist() == [[0.0, 0.0, 1.0]]
    alpha, _ = intent_category_weights(I, valid, delta=-1.0, use_importance=False)
    assert torch.allclose(alpha, torch.full((1, 3), 1 / 3))
    alpha, _ = intent_category_weights(I, torch.tensor([[False, True, True]]), delta=-1.0)
    assert alpha[0, 0] == 0  # padding is never in the category


def test_soft_membership_passes_gradient_to_delta():
    I = torch.randn(2, 5, 4)
    delta = torch.tensor(0.3, requires_grad=True)
    alpha, member = intent_category_weights(I, torch.ones(2, 5, dtype=torch.bool), delta, soft_temperature=0.1)
    assert torch.allclose(alpha.sum(1), torch.ones(2)) and (member[:, -1] == 1).all()
    (alpha * torch.arange(5.0)).sum().backward()
    assert delta.grad is not None and torch.isfinite(delta.grad)


def test_info_nce_two_pairs_hand_case():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # every view: positive similarity 1, two negatives with similarity 0
    expected = math.log((math.e + 2) / math.e)
    assert math.isclose(float(info_nce(a, a.clone())), expected, rel_tol=1e-6)
    assert math.isclose(float(info_nce(a, a.clone())), expected, rel_tol=1e-6)
    # both pairs share a label: every negative is a false negative and is masked -> loss 0
    assert float(info_nce(a, a.clone(), labels=torch.tensor([3, 3]))) == pytest.approx(0.0, abs=1e-7)
    x, y = torch.randn(6, 4), torch.randn(6, 4)
    assert torch.allclose(info_nce(x, y, 0.5, "cos"), info_nce(x, y, 0.5, "cos"), atol=1e-6)


# ---- masks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("include_self", [True, False])
def test_no_position_sees_the_future(include_self):
    m = small(include_self=include_self)
    out = m(SEQ)
    for t in range(2, 8):
        other = SEQ.clone()
        other[:, t] = 29
        out2 = m(other)
        for key in ("H", "R", "I"):
            assert torch.allclose(out[key][:, :t], out2[key][:, :t], atol=1e-6), key
        assert not torch.allclose(out["h"], out2["h"])


def test_common_left_padding_is_trimmed_exactly():
    m = small()
    short = SEQ[:, 4:]
    padded = torch.nn.functional.pad(short, (4, 0))  # four columns of padding in every row
    a, b = m(short), m(padded)
    assert b["H"].shape[1] == 4 and torch.equal(b["seq"], short)
    for key in ("H", "R", "I", "alpha"):
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    assert torch.allclose(a["h"], b["h"], atol=1e-6)


@pytest.mark.parametrize("groups", [1, 2, 3, 8])
def test_partner_intents_by_length_groups_equal_one_pass(groups):
    m = small()
    seq = torch.tensor([[0, 0, 0, 0, 0, 0, 3, 7], [5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 1, 2, 3, 4, 5],
                        [0, 0, 0, 0, 0, 0, 0, 9], [0, 4, 4, 4, 4, 4, 4, 4]])
    one = m(seq)["i"]
    grouped = m.intent_by_length(seq, groups)
    assert grouped.shape == one.shape
    assert torch.allclose(grouped, one, atol=1e-6)


def test_partners_in_one_pass_with_the_input_give_the_same_loss():
    # cl1_length_groups=0 encodes input and partners as one batch of 2B rows (one trim to the
    # longer of the two): every part of the loss is that of the separate passes
    torch.manual_seed(0)
    base = small()
    batch = {"input": torch.tensor([[0, 0, 0, 0, 0, 0, 3, 7], [0, 0, 0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 4, 4, 4]]),
             "target": torch.tensor([8, 6, 5]),
             "partner": torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 0, 0, 0, 9], [0, 0, 2, 3, 4, 5, 6, 7]])}
    parts = {}
    for groups in (0, 1, 4, None):  # None: the device's choice (4 groups on a CPU)
        m = small(cl1_length_groups=groups)
        m.load_state_dict(base.state_dict())
        parts[groups] = m.eval().loss(batch)
    for key in ("loss", "rec", "Ld", "CL1", "CL2"):
        assert torch.allclose(parts[0][key], parts[1][key], atol=1e-5), key
        assert torch.allclose(parts[0][key], parts[4][key], atol=1e-5), key
        assert torch.allclose(parts[0][key], parts[None][key], atol=1e-5), key


def test_partners_of_another_width_than_the_input():
    # length-bucketed batches trim the input and the partners each to its own longest row, so the two
    # arrive with different widths; encoding them together pads both to the wider (a GPU's default)
    torch.manual_seed(0)
    base = small()
    narrow = {"input": torch.tensor([[0, 3, 7], [4, 5, 6]]), "target": torch.tensor([8, 6]),
              "partner": torch.tensor([[0, 0, 0, 0, 9, 1], [1, 2, 3, 4, 5, 6]])}
    wide = {**narrow, "input": torch.nn.functional.pad(narrow["input"], (3, 0))}
    got = {}
    for groups, batch in ((0, narrow), (0, wide), (4, narrow)):
        m = small(cl1_length_groups=groups)
        m.load_state_dict(base.state_dict())
        got[groups, batch is wide] = m.eval().loss(batch)
    for key in ("loss", "rec", "Ld", "CL1", "CL2"):
        assert torch.allclose(got[0, False][key], got[4, False][key], atol=1e-5), key
        assert torch.allclose(got[0, False][key], got[0, True][key], atol=1e-5), key


@pytest.mark.parametrize("groups", [0, 4])
def test_partners_paired_in_the_batch_give_the_loss_of_encoded_partners(groups):
    # rows 0 and 2 are each other's partners (same target), rows 1 and 3 are alone with drawn partners:
    # without dropout, taking the mates' intents from the batch is the same loss as encoding them
    torch.manual_seed(0)
    base = small()
    seq = torch.tensor([[0, 0, 0, 0, 0, 0, 3, 7], [0, 0, 0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 2, 9, 9, 1],
                        [0, 0, 0, 0, 0, 4, 4, 4]])
    target = torch.tensor([8, 6, 8, 5])
    drawn = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 0, 0, 0, 9]])
    paired = {"input": seq, "target": target, "partner_slot": torch.tensor([2, -1, 0, -1]), "partner": drawn}
    encoded = {"input": seq, "target": target, "partner": torch.stack([seq[2], drawn[0], seq[0], drawn[1]])}
    m = small(cl1_length_groups=groups, pair_partners=True)
    m.load_state_dict(base.state_dict())
    got, want = m.loss(paired), m.loss(encoded)
    for key in ("loss", "rec", "Ld", "CL1", "CL2"):
        assert torch.allclose(got[key], want[key], atol=1e-5), key
    assert m.train_inputs().pair_partners


def test_pair_partners_is_refused_where_it_means_nothing():
    with pytest.raises(ConfigError, match="pair_partners"):
        IDCLRecConfig(pair_partners=True, use_CL1=False)
    with pytest.raises(ConfigError, match="pair_partners"):
        IDCLRecConfig(pair_partners=True, mask_false_negatives=False)


@pytest.mark.parametrize("groups", [2, 3, 8])
def test_forward_in_length_groups_equals_one_pass(groups):
    m = small()
    seq = torch.tensor([[0, 0, 0, 0, 0, 0, 3, 7], [5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 1, 2, 3, 4, 5],
                        [0, 0, 0, 0, 0, 0, 0, 9], [0, 4, 4, 4, 4, 4, 4, 4]])
    one = m(seq)
    m.encoder.length_groups = groups
    grouped = m(seq)
    assert grouped.keys() == one.keys()
    for key in one:
        assert grouped[key].shape == one[key].shape, key
        assert torch.allclose(grouped[key].float(), one[key].float(), atol=1e-6), key
    batch = {"input": seq, "target": torch.tensor([1, 2, 3, 4, 5]), "partner": seq.flip(0)}
    m.encoder.length_groups = 1
    want = m.loss(batch)
    m.encoder.length_groups = groups
    got = m.loss(batch)
    for key in want:
        assert torch.allclose(got[key], want[key], atol=1e-5), key


def test_padding_is_never_attended():
    m = small()
    out = m(SEQ)
    with torch.no_grad():
        m.item_emb.weight[0].normal_(0, 10.0)  # whatever the padding embedding is
    out2 = m(SEQ)
    real = SEQ > 0
    for key in ("H", "R", "I"):
        assert torch.allclose(out[key][real], out2[key][real], atol=1e-5), key
    assert torch.allclose(out["h"], out2["h"], atol=1e-5)
    assert (out["alpha"][~real] == 0).all()
    assert torch.equal(out["R"][~real], torch.zeros_like(out["R"][~real]))


# ---- the SASRec identity -----------------------------------------------------------------------

def test_only_current_intent_and_no_aux_losses_is_sasrec():
    m = small(delta=1.5, use_Ld=False, use_CL1=False, use_CL2=False)
    out = m(SEQ)
    assert torch.equal(out["h"], out["H"][:, -1])
    sas = SASRec(10, 30, loss="ce", **SMALL).eval()
    missing, unexpected = sas.load_state_dict(m.state_dict(), strict=False)
    assert not missing and all(k.startswith("cross.") for k in unexpected)
    hist = Ragged.from_lists([[2, 6, 0, 8], [4, 5, 6, 7, 8, 9, 10, 11, 12], []])
    users = torch.arange(3)
    assert torch.equal(m.full_scores(users, hist), sas.full_scores(users, hist))
    batch = {"input": SEQ, "target": torch.tensor([3, 4])}
    assert set(m.loss(batch)) == {"loss", "rec"}


# ---- every ablation trains -------------------------------------------------------------------------

ABLATIONS = [
    {}, {"use_Ld": False}, {"use_CL1": False}, {"use_CL2": False}, {"delta": -1.0}, {"delta": 1.5},
    {"use_threshold": False}, {"use_importance": False}, {"use_interest": False}, {"use_intent": False},
    {"include_self": False}, {"learn_delta": True}, {"mask_false_negatives": False},
    {"centroid_items": "next"}, {"similarity": "cos"},
]


@pytest.mark.parametrize("flags", ABLATIONS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "default")
def test_every_ablation_takes_a_finite_step(flags):
    torch.manual_seed(0)
    hist = Ragged.from_lists([[1, 2, 3, 4, 5, 6], [2, 3, 4, 1], [7, 8, 9, 3, 4], [1, 2, 3]])
    ld = SubsequenceLoader(hist, 12, max_len=4, batch_size=16, generator=torch.Generator().manual_seed(0))
    m = IDCLRec(4, 12, dim=8, max_len=4, dropout=0.1, **flags).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    out = m.loss(next(iter(ld)))
    assert torch.isfinite(out["loss"])
    opt.zero_grad()
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    opt.step()
    if flags.get("learn_delta"):
        assert m.delta_param.grad is not None


def test_bad_options_raise():
    with pytest.raises(ValueError, match="both"):
        IDCLRec(1, 5, use_interest=False, use_intent=False)
    with pytest.raises(ValueError, match="centroid_items"):
        IDCLRec(1, 5, centroid_items="all")
    with pytest.raises(ValueError, match="ld_form"):
        IDCLRec(1, 5, ld_form="l2")
    with pytest.raises(ValueError, match="cl1_length_groups"):
        IDCLRec(1, 5, cl1_length_groups=-1)
    custom = IDCLRec(1, 5, dim=8, max_len=4, ld_fn=lambda R, I, valid: R.pow(2).mean())
    batch = {"input": torch.tensor([[0, 1, 2, 3]]), "target": torch.tensor([4])}
    assert torch.isfinite(custom.loss(batch)["Ld"])


# ---- it learns ---------------------------------------------------------------------------------------

def test_idclrec_beats_popularity_on_clustered_world(toy_data):
    cfg = TrainConfig(epochs=3, batch_size=128, lr=5e-3, progress=False, num_threads=1, seed=0, eval_every=100)
    pop = Trainer(Popularity.from_data(toy_data), toy_data, cfg).evaluate("test")["ndcg@10"]
    torch.manual_seed(0)
    model = IDCLRec.from_data(toy_data, IDCLRecConfig(dim=32, max_len=20, dropout=0.1))
    trainer = Trainer(model, toy_data, cfg)
    trainer.fit()
    res = trainer.evaluate("test")
    assert res["ndcg@10"] > 2 * pop, (res["ndcg@10"], pop)
    assert train_history(toy_data).num_rows == toy_data["user"].num_nodes
