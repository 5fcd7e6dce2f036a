import pytest
import torch

from graphrec.nn import cluster
from graphrec.nn.cluster import kmeans, nearest_centroid


def test_kmeans_recovers_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = (centers.repeat_interleave(30, 0) + 0.3 * torch.randn(90, 2, generator=g))
    c, a = kmeans(x, 3, iters=20, init=x[[0, 30, 60]])
    assert torch.equal(a, torch.arange(3).repeat_interleave(30))
    assert torch.allclose(c, centers, atol=0.2)
    c, a = kmeans(x, 500, generator=g)  # k capped at n
    assert c.shape == (90, 2)


def test_empty_cluster_keeps_its_centroid():
    x = torch.tensor([[0.0], [0.2], [4.0]])
    init = torch.tensor([[0.1], [4.0], [100.0]])  # the third centroid never wins a point
    c, a = kmeans(x, 3, iters=3, init=init)
    assert a.tolist() == [0, 0, 1] and c[2].item() == 100.0
    assert torch.allclose(c[:2], torch.tensor([[0.1], [4.0]]))


def test_nearest_centroid_matches_cdist():
    g = torch.Generator().manual_seed(1)
    x, c = torch.randn(50, 4, generator=g), torch.randn(7, 4, generator=g)
    assert torch.equal(nearest_centroid(x, c), torch.cdist(x, c).argmin(1))


def test_nearest_centroid_across_row_blocks_and_ties(monkeypatch):
    """Rows are scored in blocks: the blocks' answers join in row order, an empty input gives an
    empty answer, and an exact tie goes to the lowest index as ``argmin`` does."""
    monkeypatch.setattr(cluster, "NEAREST_CHUNK", 16)
    g = torch.Generator().manual_seed(2)
    x, c = torch.randn(70, 5, generator=g), torch.randn(9, 5, generator=g)
    assert torch.equal(nearest_centroid(x, c), torch.cdist(x, c).argmin(1))
    assert nearest_centroid(x[:0], c).shape == (0,) and nearest_centroid(x[:0], c).dtype == torch.long
    tie = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # the origin is as far from both
    assert nearest_centroid(torch.zeros(3, 2), tie).tolist() == [0, 0, 0]


def test_split_empty_reseeds_a_cluster_from_the_largest():
    x = torch.tensor([[0.0], [0.2], [4.0], [4.4]])
    init = torch.tensor([[0.1], [4.2], [100.0]])  # the third centroid never wins a point
    c, a = kmeans(x, 3, iters=5, init=init, split_empty=True)
    assert set(a.tolist()) == {0, 1, 2}  # no cluster left empty: one of the pairs was split
    assert c[2].item() != 100.0


def test_restarts_keep_the_fit_with_the_lowest_inertia():
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(3))

    def inertia(c, a):
        return float(((x - c[a]) ** 2).sum())

    gen = torch.Generator().manual_seed(7)
    runs = [kmeans(x, 12, iters=5, generator=gen) for _ in range(4)]  # the draws of the four restarts below
    best = kmeans(x, 12, iters=5, generator=torch.Generator().manual_seed(7), restarts=4)
    assert inertia(*best) == min(inertia(*r) for r in runs)
    assert len({round(inertia(*r), 6) for r in runs}) > 1  # the restarts did differ


@pytest.mark.parametrize("bad", [{"restarts": 0}, {"restarts": 2, "init": torch.zeros(3, 2)}])
def test_restart_arguments_are_checked(bad):
    with pytest.raises(ValueError, match="restarts"):
        kmeans(torch.randn(10, 2), 3, **bad)
