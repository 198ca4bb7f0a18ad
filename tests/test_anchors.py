import numpy as np
import pytest
import torch

from rosetta_cl import Anchors, ConfigError, kmeans_faiss, nearest_members, select_rosetta_points


def blobs(n=600, k=6, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10, size=(k, d))
    return (centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_k_unique_anchors_each_nearest_own_centroid():
    z = blobs()
    sel = select_rosetta_points(z, 6, seed=1)
    assert len(sel.indices) == 6 and len(set(sel.indices.tolist())) == 6
    for c, idx in enumerate(sel.indices):
        assert sel.labels[idx] == c  # a member of its own cluster
        members = np.flatnonzero(sel.labels == c)
        dists = ((z[members] - sel.centroids[c]) ** 2).sum(1)
        assert np.isclose(((z[idx] - sel.centroids[c]) ** 2).sum(), dists.min())


def test_faiss_labels_and_inertia_match_brute_force():
    z = blobs(seed=2)
    centroids, labels = kmeans_faiss(z, 6, seed=0)
    brute = ((z[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(labels, brute)
    sel = select_rosetta_points(z, 6, seed=0)
    inertia = ((z.astype(np.float64) - sel.centroids[sel.labels]) ** 2).sum()
    assert sel.inertia == pytest.approx(inertia)
    # converged k-means: every centroid is the mean of its members (a Lloyd fixed point)
    for c in range(6):
        assert np.allclose(sel.centroids[c], z[sel.labels == c].mean(0), atol=1e-3)


def test_kmeans_uses_all_points_not_faiss_subsample():
    # with FAISS's default of 256 points per centroid, k=1 on 2000 points would train on 256
    z = np.random.default_rng(3).normal(size=(2000, 2)).astype(np.float32)
    centroids, _ = kmeans_faiss(z, 1, seed=0)
    assert np.allclose(centroids[0], z.mean(0), atol=1e-5)


def test_selection_is_deterministic_for_a_seed():
    z = blobs(seed=4)
    a, b = select_rosetta_points(z, 5, seed=7), select_rosetta_points(z, 5, seed=7)
    assert np.array_equal(a.indices, b.indices)


def test_nearest_member_rule_never_picks_a_point_twice():
    # two centroids whose nearest point overall is the same point 0
    z = np.array([[0.0, 0.0], [5.0, 0.0], [-5.0, 0.0]])
    centroids = np.array([[0.1, 0.0], [-0.1, 0.0]])
    labels = np.array([0, 0, 1])
    chosen = nearest_members(z, centroids, labels)
    assert chosen.tolist() == [0, 2]
    # an empty cluster still gets a distinct point
    chosen = nearest_members(z, centroids, np.array([0, 0, 0]))
    assert chosen.tolist() == [0, 2]  # cluster 1 is empty: nearest point not yet taken


@pytest.mark.parametrize("k", [0, -1, 11])
def test_bad_k_is_a_config_error(k):
    with pytest.raises(ConfigError, match=f"k={k}"):
        select_rosetta_points(np.zeros((10, 2), np.float32), k)


def test_anchor_file_roundtrip_without_pickle(tmp_path):
    anchors = Anchors(torch.randn(4, 5), torch.randn(4, 2))
    path = anchors.save(tmp_path / "a.npz")
    loaded = Anchors.load(path)
    assert torch.equal(loaded.x, anchors.x) and torch.equal(loaded.z, anchors.z)
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == ["x", "z"]
