"""QueryEncoder: the word mean, a text vector's map, their sum, on hand cases."""
import pytest
import torch

from graphrec.nn.encoders import QueryEncoder

# query 0: words 0 and 1; query 1: word 1; query 2: no words
PTR, TOKEN = torch.tensor([0, 2, 3, 3]), torch.tensor([0, 1, 1])
TEXT = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])


def test_words_only_is_the_mean_of_the_word_embeddings():
    enc = QueryEncoder(PTR, TOKEN, num_words=2, dim=4, shift=0)
    out = enc(torch.tensor([0, 1, 2]))
    w = enc.word_emb.weight
    assert torch.allclose(out[0], w[:2].mean(0)) and torch.allclose(out[1], w[1])
    assert (out[2] == 0).all() and enc.text_proj is None


@pytest.mark.parametrize("use_words", [True, False])
def test_text_vectors_are_mapped_and_added_to_the_words(use_words):
    enc = QueryEncoder(PTR, TOKEN, num_words=2, dim=4, shift=1, text=TEXT, use_words=use_words)
    out = enc(torch.tensor([[1, 2, 3, 0]]))[0]  # shifted ids: queries 0, 1, 2 and padding
    mapped = TEXT @ enc.text_proj.weight.t()
    words = torch.stack([enc.word_emb.weight[:2].mean(0), enc.word_emb.weight[1], torch.zeros(4)])
    assert torch.allclose(out[:3], mapped + (words if use_words else 0))
    assert (out[3] == 0).all()  # padding stays zero
    out.sum().backward()
    assert enc.text_proj.weight.grad is not None and not enc.text.requires_grad  # the text vectors are fixed
    assert "text" not in enc.state_dict()  # rebuilt from the stage cache, not saved with the weights


def test_text_inputs_are_checked():
    with pytest.raises(ValueError, match="one vector per query"):
        QueryEncoder(PTR, TOKEN, num_words=2, dim=4, text=TEXT[:2])
    with pytest.raises(ValueError, match="nothing to encode"):
        QueryEncoder(PTR, TOKEN, num_words=2, dim=4, use_words=False)
