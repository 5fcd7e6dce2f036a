import pytest
import torch

from graphrec.config import ConfigError
from graphrec.data import train_history
from graphrec.data.loader import SequenceLoader, SubsequenceLoader
from graphrec.models import (
    CL4SRec,
    CL4SRecConfig,
    DuoRec,
    DuoRecConfig,
    ICLRec,
    ICLRecConfig,
    ICSRec,
    ICSRecConfig,
    IDCLRec,
    IDCLRecConfig,
    Popularity,
)
from graphrec.models.cl4srec import MASK_ID, crop, mask, pool, random_augment, reorder
from graphrec.models.sasrec import SameTargetContrastConfig
from graphrec.train import TrainConfig, Trainer

SEQ = torch.tensor([[0, 0, 0, 0, 0, 1, 2, 3, 4, 5],
                    [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
                    [0, 0, 0, 0, 0, 0, 0, 0, 0, 7]])


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_crop_keeps_a_contiguous_left_padded_window():
    for seed in range(20):
        out = crop(SEQ, 0.4, gen(seed))
        for row, src in zip(out.tolist(), SEQ.tolist()):
            items = [v for v in row if v]
            real = [v for v in src if v]
            assert len(items) == max(1, int(0.4 * len(real)))
            assert row[: len(row) - len(items)] == [0] * (len(row) - len(items))
            i = real.index(items[0])
            assert real[i: i + len(items)] == items


def test_mask_hits_exactly_floor_gamma_n_real_positions():
    out = mask(SEQ, 0.7, gen(1))
    assert ((out == MASK_ID).sum(1)).tolist() == [3, 7, 0]
    assert torch.equal(out == 0, SEQ == 0)
    kept = out != MASK_ID
    assert torch.equal(out[kept], SEQ[kept])


def test_reorder_shuffles_one_window_only():
    for seed in range(20):
        out = reorder(SEQ, 0.5, gen(seed))
        assert torch.equal(out.sort(1).values, SEQ.sort(1).values)
        assert torch.equal(out == 0, SEQ == 0)
        changed = (out != SEQ).nonzero()
        for r in range(3):
            cols = changed[changed[:, 0] == r, 1]
            if cols.numel():
                n = int((SEQ[r] > 0).sum())
                assert int(cols.max() - cols.min()) < int(0.5 * n)


def test_spare_last_item_windows_end_before_the_most_recent_item():
    last = SEQ[:, -1]
    touched = {False: 0, True: 0}
    reached = False
    for seed in range(40):
        for spare in (False, True):
            cropped, shuffled = crop(SEQ, 0.4, gen(seed), spare), reorder(SEQ, 0.5, gen(seed), spare)
            # rows 0 and 1 crop floor(0.4 n) >= 1 items; row 2 (one item) keeps its only one
            touched[spare] += int((cropped[:2, -1] == last[:2]).sum()) + int((shuffled[:, -1] != last).sum())
            if spare:
                assert torch.equal(cropped[2], SEQ[2]) and torch.equal(shuffled[:, -1], last)
                reached |= bool((cropped[:2, -1] == SEQ[:2, -2]).any())
    assert touched[False] > 0 and touched[True] == 0
    assert reached  # the window still may end just before the most recent item


def test_random_augment_and_pool():
    out = random_augment(SEQ, generator=gen(3))
    assert out.shape == SEQ.shape and (out[SEQ == 0] == 0).all()
    h = torch.arange(6.0).view(1, 3, 2)
    valid = torch.tensor([[False, True, True]])
    assert pool(h, valid, "last").tolist() == [[4.0, 5.0]]
    assert pool(h, valid, "mean").tolist() == [[3.0, 4.0]]
    assert pool(h, valid, "concat").shape == (1, 6)
    with pytest.raises(ValueError):
        pool(h, valid, "max")


@pytest.mark.parametrize("cls", [CL4SRec, ICLRec])
@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_one_finite_step_and_mask_embedding_gets_gradient(cls, loss, toy_data):
    torch.manual_seed(0)
    cfg = cls.Config(dim=16, max_len=10, loss=loss, **({"num_intents": 4} if cls is ICLRec else {}))
    m = cls.from_data(toy_data, cfg)
    if cls is ICLRec:
        m.on_epoch_start(toy_data)
        assert m.centroids.shape == (4, 16) and m.training
    ld = SequenceLoader(train_history(toy_data), toy_data["item"].num_nodes, max_len=10, batch_size=32,
                        negatives=loss == "bce", generator=gen())
    out = m.loss(next(iter(ld)))
    assert torch.isfinite(out["loss"]) and ("icl" in out) == (cls is ICLRec)
    out["loss"].backward()
    assert m.mask_emb.grad is not None and m.mask_emb.grad.abs().sum() > 0


def test_trainer_calls_the_epoch_hook(toy_data):
    m = ICLRec.from_data(toy_data, ICLRecConfig(dim=8, max_len=5, num_intents=3, warm_up_epochs=1))
    Trainer(m, toy_data, TrainConfig(epochs=3, max_batches=1, progress=False, eval_every=100)).fit()
    assert m.epochs_seen == 3 and m.centroids.shape == (3, 8)


def test_full_scores_ignore_the_mask_token(toy_data):
    m = CL4SRec.from_data(toy_data, CL4SRecConfig(dim=8, max_len=5)).eval()
    hist = train_history(toy_data).select(torch.tensor([0, 1]))
    assert m.full_scores(torch.tensor([0, 1]), hist).shape == (2, toy_data["item"].num_nodes)


#: the switches of the authors' code (graphrec/configs/{cl4srec,iclrec,duorec}.yaml)
PUBLISHED = {CL4SRec: {"cl_pooling": "concat", "mask_token": "padding", "ffn_inner_dropout": False},
             ICLRec: {"mask_token": "padding", "ffn_inner_dropout": False, "intent_weight": 0.1,
                      "normalize_centroids": True, "kmeans_restarts": 5, "kmeans_split_empty": True, "kmeans_seed": 1},
             DuoRec: {"ffn_inner_dropout": False, "separate_anchor": True}}


@pytest.mark.parametrize("published", [False, True], ids=["graphrec", "published"])
@pytest.mark.parametrize("cls", [CL4SRec, ICLRec, DuoRec])
def test_cl_baselines_beat_popularity(cls, published, toy_data):
    cfg = TrainConfig(epochs=10, batch_size=64, lr=5e-3, progress=False, num_threads=1, seed=0, eval_every=100)
    pop = Trainer(Popularity.from_data(toy_data), toy_data, cfg).evaluate("test")["ndcg@10"]
    torch.manual_seed(0)
    extra = {"num_intents": 8} if cls is ICLRec else {}
    extra.update(PUBLISHED[cls] if published else {})
    if cls is DuoRec:
        cfg.epochs, cfg.batch_size = 3, 128
    trainer = Trainer(cls.from_data(toy_data, cls.Config(dim=32, max_len=20, dropout=0.1, **extra)), toy_data, cfg)
    trainer.fit()
    assert trainer.evaluate("test")["ndcg@10"] > 2 * pop


@pytest.mark.parametrize("flags", [{}, {"mask_false_negatives": True, "similarity": "cos"}, {"cl_weight": 0.0}])
def test_duorec_step_on_subsequences(flags, toy_data):
    torch.manual_seed(0)
    m = DuoRec.from_data(toy_data, DuoRecConfig(dim=16, max_len=10, **flags))
    trainer_loader = Trainer(m, toy_data, TrainConfig(progress=False)).make_loader()
    assert isinstance(trainer_loader, SubsequenceLoader) and trainer_loader.min_len == 1
    out = m.loss(next(iter(trainer_loader)))
    assert torch.isfinite(out["loss"]) and ("cl" in out) == (flags.get("cl_weight", 0.1) > 0)
    out["loss"].backward()
    with pytest.raises(ValueError, match="similarity"):
        DuoRec(1, 5, similarity="l2")


@pytest.mark.parametrize("name", ["cl4srec", "iclrec"])
def test_cosine_similarity_option_bounds_the_contrastive_loss(name, toy_data):
    from graphrec.models.base import build_config
    from graphrec.resolver import model_resolver

    cls = model_resolver(name)
    torch.manual_seed(0)
    m = cls.from_data(toy_data, build_config(cls.Config, {"dim": 16, "max_len": 20, "similarity": "cos",
                                                          "temperature": 0.5}))
    seq = torch.randint(1, 20, (8, 20))
    cl, _, _ = m.cl_loss(seq)
    # cosine / 0.5 is in [-2, 2]: the loss is at most log(2B - 1) + 4
    assert 0 < float(cl) <= torch.log(torch.tensor(15.0)) + 4
    with pytest.raises(ValueError, match="similarity"):
        cls.from_data(toy_data, build_config(cls.Config, {"similarity": "l2"}))


def test_padding_mask_token_drops_masked_items_from_attention(toy_data):
    m = CL4SRec.from_data(toy_data, CL4SRecConfig(dim=8, max_len=10, mask_token="padding", mask_ratio=0.5))
    torch.manual_seed(0)
    views = m.augmented_views(SEQ)
    assert all(not (v == MASK_ID).any() for v in views)
    # the same positions as the learned token's, as padding
    assert torch.equal(mask(SEQ, 0.7, gen(1), mask_id=0) == 0, (mask(SEQ, 0.7, gen(1)) == MASK_ID) | (SEQ == 0))
    with pytest.raises(ValueError, match="mask_token"):
        CL4SRecConfig(mask_token="zero").validate()


def test_ffn_inner_dropout_switch_keeps_the_parameter_names(toy_data):
    from torch import nn

    plain = CL4SRec.from_data(toy_data, CL4SRecConfig(dim=8, max_len=5))
    published = CL4SRec.from_data(toy_data, CL4SRecConfig(dim=8, max_len=5, ffn_inner_dropout=False))
    assert isinstance(published.encoder.blocks[0].ffn[2], nn.Identity)
    assert not isinstance(plain.encoder.blocks[0].ffn[2], nn.Identity)
    published.load_state_dict(plain.state_dict())  # the same weights, either way


def test_iclrec_published_switches(toy_data, monkeypatch):
    import graphrec.models.iclrec as iclrec_module

    cfg = ICLRecConfig(dim=16, max_len=10, num_intents=4, normalize_centroids=True, kmeans_restarts=3,
                       kmeans_split_empty=True, kmeans_seed=5)
    m = ICLRec.from_data(toy_data, cfg)
    m.on_epoch_start(toy_data)
    first = m.centroids.clone()
    m.on_epoch_start(toy_data)  # the same weights and the same k-means seed: the same intents
    assert torch.equal(first, m.centroids)
    seen = []
    real = iclrec_module.info_nce
    monkeypatch.setattr(iclrec_module, "info_nce", lambda a, b, *rest: seen.append(b) or real(a, b, *rest))
    ld = SequenceLoader(train_history(toy_data), toy_data["item"].num_nodes, max_len=10, batch_size=32,
                        negatives=True, generator=gen())
    out = m.loss(next(iter(ld)))
    assert torch.isfinite(out["loss"]) and len(seen) == 2
    assert torch.allclose(seen[0].norm(dim=1), torch.ones(seen[0].size(0)))  # unit-norm centroids in the contrast
    with pytest.raises(ValueError, match="kmeans_seed"):
        ICLRecConfig(kmeans_seed=-2).validate()


def test_pool_padding_pools_all_positions_as_the_reference_encoder_encodes_them(toy_data):
    from graphrec.config import ConfigError

    torch.manual_seed(0)
    # longer than any toy history, so that every row has padding
    flags = dict(dim=16, max_len=64, num_intents=4, dropout=0.0, loss="bce", mask_ratio=0.0, crop_ratio=0.0)
    plain = ICLRec.from_data(toy_data, ICLRecConfig(**flags))
    ref = ICLRec.from_data(toy_data, ICLRecConfig(**flags, pool_padding=True))
    ref.load_state_dict(plain.state_dict())
    assert not plain.pad_emb.any()
    ref.pad_emb.normal_(0, 0.02)  # the reference code's padding row: drawn once, never trained
    assert ref.encoder.padding_outputs == "attend_all" and plain.encoder.padding_outputs == "zero"
    batch = min(SequenceLoader(train_history(toy_data), toy_data["item"].num_nodes, max_len=64, batch_size=8,
                               negatives=True, generator=gen(), length_buckets=4), key=lambda b: b["input"].size(1))
    assert batch["input"].size(1) < 64  # a length-bucketed batch narrower than max_len
    wide = ref.full_width(batch)
    assert wide["input"].size(1) == 64 and torch.equal(wide["input"][:, -batch["input"].size(1):], batch["input"])
    assert plain.full_width(batch) is batch
    # the mean runs over all max_len positions, padding included, and padding is not zero
    h = ref.encode(wide["input"])
    assert torch.allclose(ref.pooled(h, wide["input"], "mean"), h.mean(1))
    pad = wide["input"] == 0
    assert h[pad].abs().sum() > 0
    with torch.no_grad():  # padding embeds to the fixed padding vector; real positions never see it
        kept = ref.pad_emb.clone()
        ref.pad_emb.normal_(0, 0.02)
        h2 = ref.encode(wide["input"])
        ref.pad_emb.copy_(kept)
    assert not torch.allclose(h2[pad], h[pad]) and torch.allclose(h2[~pad], h[~pad], atol=1e-5)
    for m in (plain, ref):
        m.on_epoch_start(toy_data)
    torch.manual_seed(1)
    out_plain = plain.loss(batch)
    torch.manual_seed(1)
    out_ref = ref.loss(batch)
    assert torch.allclose(out_plain["rec"], out_ref["rec"], atol=1e-5)  # real positions never see padding
    assert not torch.allclose(out_plain["icl"], out_ref["icl"])
    with pytest.raises(ConfigError, match="pool_padding"):
        CL4SRecConfig(pool_padding=True).validate()  # the last position is never padding
    CL4SRecConfig(pool_padding=True, cl_pooling="mean").validate()
    ICLRecConfig(pool_padding=True, cl_pooling="last").validate()  # its intent mean still reads padding


def test_duorec_separate_anchor_is_a_second_forward(toy_data):
    m = DuoRec.from_data(toy_data, DuoRecConfig(dim=16, max_len=10, separate_anchor=True))
    calls = []
    encode = m.encode
    m.encode = lambda seq: calls.append(seq) or encode(seq)
    loader = Trainer(m, toy_data, TrainConfig(progress=False)).make_loader()
    out = m.loss(next(iter(loader)))
    assert torch.isfinite(out["loss"]) and len(calls) == 3


def test_icsrec_step_e_step_and_both_contrasts(toy_data):
    from graphrec.models import ICSRec, ICSRecConfig

    torch.manual_seed(0)
    m = ICSRec.from_data(toy_data, ICSRecConfig(dim=16, max_len=10, num_intents=4))
    loader = Trainer(m, toy_data, TrainConfig(progress=False)).make_loader()
    assert isinstance(loader, SubsequenceLoader) and loader.min_len == 1 and loader.partners
    out = m.loss(next(iter(loader)))
    assert "cicl" in out and "ficl" not in out  # no intents before the first E-step
    m.on_epoch_start(toy_data)
    assert m.centroids.shape == (4, 16) and m.training
    first = m.centroids.clone()
    m.on_epoch_start(toy_data)  # the same weights and k-means seed: the same intents
    assert torch.equal(first, m.centroids)
    out = m.loss(next(iter(loader)))
    assert torch.isfinite(out["loss"]) and {"rec", "cicl", "ficl"} <= set(out)
    out["loss"].backward()
    assert m.item_emb.weight.grad.abs().sum() > 0
    # the E-step encodes every training subsequence exactly as one row at a time would
    rows = SubsequenceLoader(train_history(toy_data), toy_data["item"].num_nodes, max_len=10, min_len=1,
                             shuffle=False, partners=False)
    m.eval()
    x = m.subsequence_representations(rows)
    some = torch.tensor([0, rows.num_rows // 2, rows.num_rows - 1])
    assert torch.allclose(x[some], m.encode(rows.windows(some))[:, -1], atol=1e-5)
    with pytest.raises(ValueError, match="'ce'"):
        ICSRecConfig(loss="bce").validate()


def test_icsrec_beats_popularity(toy_data):
    from graphrec.models import ICSRec, ICSRecConfig

    cfg = TrainConfig(epochs=3, batch_size=128, lr=5e-3, progress=False, num_threads=1, seed=0, eval_every=100)
    pop = Trainer(Popularity.from_data(toy_data), toy_data, cfg).evaluate("test")["ndcg@10"]
    torch.manual_seed(0)
    model = ICSRec.from_data(toy_data, ICSRecConfig(dim=32, max_len=20, dropout=0.1, num_intents=8))
    trainer = Trainer(model, toy_data, cfg)
    trainer.fit()
    assert trainer.evaluate("test")["ndcg@10"] > 2 * pop


@pytest.mark.parametrize("name", ["duorec", "icsrec"])
def test_partners_paired_in_the_batch_give_the_loss_of_encoded_partners(name, toy_data):
    # without dropout, a paired row's view read from the batch is the view of encoding it again
    cls, cfg = {"duorec": (DuoRec, DuoRecConfig(dim=8, max_len=6, dropout=0.0, mask_false_negatives=True,
                                                 pair_partners=True)),
                "icsrec": (ICSRec, ICSRecConfig(dim=8, max_len=6, dropout=0.0, num_intents=3,
                                                 pair_partners=True))}[name]
    torch.manual_seed(0)
    m = cls.from_data(toy_data, cfg)
    if name == "icsrec":
        m.on_epoch_start(toy_data)  # the k-means intents, so the fine contrast runs too
    seq = torch.tensor([[0, 0, 0, 3, 7, 2], [0, 1, 2, 3, 4, 5], [0, 0, 2, 9, 9, 1], [0, 0, 0, 4, 4, 4]])
    target = torch.tensor([8, 6, 8, 5])
    drawn = torch.tensor([[0, 0, 0, 0, 0, 9]])
    # rows 0 and 2 are mates; rows 1 and 3 are alone (row 3 its own partner: a target with one row)
    paired = {"input": seq, "target": target, "partner_slot": torch.tensor([2, -1, 0, -1]),
              "partner": torch.cat([drawn, seq[3:]])}
    encoded = {"input": seq, "target": target, "partner": torch.stack([seq[2], drawn[0], seq[0], seq[3]])}
    m.train()  # dropout is 0: train mode only exercises the training path
    got, want = m.loss(paired), m.loss(encoded)
    assert got.keys() == want.keys()
    for key in got:
        assert torch.allclose(got[key], want[key], atol=1e-5), key
    assert m.train_inputs().pair_partners
    with pytest.raises(ConfigError, match="pair_partners"):  # in-batch duplicates need the masking
        DuoRecConfig(pair_partners=True) if name == "duorec" else ICSRecConfig(pair_partners=True,
                                                                               mask_false_negatives=False)


@pytest.mark.parametrize("cls, contrast_off, named", [
    (DuoRecConfig, {"cl_weight": 0.0}, "cl_weight"),
    (ICSRecConfig, {"cicl_weight": 0.0, "ficl_weight": 0.0}, "cicl_weight and ficl_weight"),
    (IDCLRecConfig, {"use_CL1": False}, "L_CL1"),
    (IDCLRecConfig, {"lambda_cl1": 0.0}, "L_CL1"),
])
def test_pair_partners_is_refused_where_no_contrast_reads_the_partners(cls, contrast_off, named):
    # the check lives once, in SameTargetContrastConfig; each model names its own contrast
    cls(mask_false_negatives=True, **contrast_off)  # valid without pairs
    with pytest.raises(ConfigError, match=f"pair_partners.*{named}"):
        cls(mask_false_negatives=True, pair_partners=True, **contrast_off)
    assert issubclass(cls, SameTargetContrastConfig)


@pytest.mark.parametrize("cls", [DuoRecConfig, ICSRecConfig, IDCLRecConfig])
def test_pair_by_length_reaches_the_loader_and_needs_pairs(cls, toy_data):
    with pytest.raises(ConfigError, match="pair_by_length"):
        cls(mask_false_negatives=True, pair_by_length=True)
    model = {DuoRecConfig: DuoRec, ICSRecConfig: ICSRec, IDCLRecConfig: IDCLRec}[cls].from_data(
        toy_data, cls(mask_false_negatives=True, pair_partners=True, pair_by_length=True))
    loader = model.train_inputs().loader(toy_data, batch_size=8, generator=torch.Generator().manual_seed(0))
    assert loader.pair_partners and loader.pair_by_length
