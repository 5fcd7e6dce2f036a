
import pytest
import torch

from graphrec.models import BPRMF, Popularity, SASRec, SASRecConfig
from graphrec.train import TrainConfig, Trainer, load_checkpoint, save_checkpoint


def test_trainer_learns_and_beats_popularity(toy_data):
    pop = Trainer(Popularity.from_data(toy_data), toy_data, TrainConfig(progress=False)).evaluate("test")
    torch.manual_seed(0)
    tr = Trainer(BPRMF.from_data(toy_data), toy_data,
                 TrainConfig(epochs=15, batch_size=256, lr=0.01, progress=False, patience=100))
    state = tr.fit()
    res = tr.evaluate("test")
    assert res["ndcg@10"] > 2 * pop["ndcg@10"]
    assert state.best_epoch >= 1 and len(state.history) == 15
    assert all("valid" in h for h in state.history)


def test_early_stopping_respects_patience(toy_data):
    cfg = TrainConfig(epochs=50, batch_size=512, lr=0.0, patience=2, progress=False)
    tr = Trainer(BPRMF.from_data(toy_data), toy_data, cfg)
    st = tr.fit()
    assert st.epoch == 3  # epoch 1 sets the best, two more without improvement


def test_sampled_protocol_is_available(toy_data):
    cfg = TrainConfig(progress=False, protocol="sampled-20", ks=(5,), metric="hr@5")
    res = Trainer(Popularity.from_data(toy_data), toy_data, cfg).evaluate("test")
    assert 0.0 <= res["hr@5"] <= 1.0


def test_checkpoint_is_atomic(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(str(path), {"model": {"w": torch.ones(2)}})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("serialisation failed")

    with pytest.raises(RuntimeError):
        save_checkpoint(str(path), {"model": {}, "bad": Boom()})
    assert torch.equal(load_checkpoint(str(path))["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(str(path))


def test_resume_continues_exactly(tmp_path, toy_data):
    def cfg(epochs):
        return TrainConfig(epochs=epochs, batch_size=256, lr=1e-2, progress=False, patience=100)

    torch.manual_seed(0)
    full = Trainer(SASRec.from_data(toy_data, SASRecConfig(dim=16, max_len=10, dropout=0.0)),
                   toy_data, cfg(4))
    full.fit()

    torch.manual_seed(0)
    part = Trainer(SASRec.from_data(toy_data, SASRecConfig(dim=16, max_len=10, dropout=0.0)),
                   toy_data, cfg(2), output_dir=str(tmp_path))
    part.fit()
    resumed = Trainer(SASRec.from_data(toy_data, SASRecConfig(dim=16, max_len=10, dropout=0.0)),
                      toy_data, cfg(4), output_dir=str(tmp_path))
    assert resumed.resume()
    assert resumed.state.epoch == 2
    resumed.fit()
    losses_full = [h["loss"] for h in full.state.history]
    losses_resumed = [h["loss"] for h in resumed.state.history]
    assert losses_resumed == pytest.approx(losses_full, rel=1e-5)
