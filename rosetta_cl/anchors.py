"""Rosetta points: k-means (FAISS) on latent means, one anchor per cluster.

Each anchor is the member of its own cluster nearest that cluster's centroid, so the k anchors
are always k distinct points (picking "the nearest point to each centroid" over all points can
choose the same point twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import ConfigError


@dataclass
class Selection:
    indices: np.ndarray  # (k,) row of each anchor in the clustered array
    centroids: np.ndarray  # (k, d)
    labels: np.ndarray  # (N,) cluster of every point
    inertia: float  # sum of squared distances of all points to their centroid


def kmeans_faiss(
    z: np.ndarray, k: int, seed: int = 0, niter: int = 25,
    max_points_per_centroid: int | None = None, gpu: bool | None = None,
    init: str = "k-means++",
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS k-means on all points (unless ``max_points_per_centroid`` asks to subsample).

    ``init="k-means++"`` seeds FAISS with greedy k-means++ centroids (``kmeans_plus_plus``);
    ``"random"`` is FAISS's own seeding (k random points), which on clustered latent means
    leaves clusters without a centroid: +65-143% inertia against scikit-learn at k = 64 in
    ``benchmarks/perf/selection_speed.py``, against +0.1% with k-means++.
    Runs on the GPU when FAISS sees one (``gpu=None``). Returns (centroids, labels).
    """
    import faiss

    if init not in KMEANS_INITS:
        raise ValueError(f"init {init!r}: allowed {', '.join(KMEANS_INITS)}")
    z = np.ascontiguousarray(z, dtype=np.float32)
    n, d = z.shape
    if gpu is None:
        gpu = faiss.get_num_gpus() > 0
    km = faiss.Kmeans(
        d, k, niter=niter, seed=int(seed), verbose=False, gpu=bool(gpu),
        # FAISS subsamples to 256 points per centroid by default: use every point instead.
        max_points_per_centroid=int(max_points_per_centroid or max(n // k + 1, 1)),
        min_points_per_centroid=1,
    )
    km.train(z, init_centroids=kmeans_plus_plus(z, k, seed) if init == "k-means++" else None)
    _, labels = km.index.search(z, 1)
    return km.centroids.copy(), labels[:, 0].astype(np.int64)


KMEANS_INITS = ("k-means++", "random")


def kmeans_plus_plus(z: np.ndarray, k: int, seed: int = 0, max_points: int = 4096) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; 2 + ln k candidates per step, the one
    that lowers the potential most is kept, as scikit-learn does) on a seeded subsample of at
    most ``max_points`` points (k-means then runs on all of them). Returns (k, d) float32."""
    rng = np.random.default_rng(seed)
    if len(z) > max(max_points, 4 * k):
        z = z[np.sort(rng.choice(len(z), max(max_points, 4 * k), replace=False))]
    z = z.astype(np.float64)
    n, trials = len(z), 2 + int(np.log(k))
    sq = np.einsum("ij,ij->i", z, z)
    centers = [rng.integers(n)]
    closest = np.maximum(sq - 2 * z @ z[centers[0]] + sq[centers[0]], 0)
    for _ in range(1, k):
        total = closest.sum()
        if total > 0:  # candidates drawn with probability proportional to squared distance
            candidates = np.minimum(np.searchsorted(np.cumsum(closest), rng.random(trials) * total),
                                    n - 1)
        else:  # every point coincides with a centroid already
            candidates = rng.integers(n, size=trials)
        dist = np.maximum(sq[:, None] - 2 * z @ z[candidates].T + sq[candidates][None], 0)
        new = np.minimum(closest[:, None], dist)
        best = int(new.sum(0).argmin())
        closest = new[:, best]
        centers.append(candidates[best])
    return np.ascontiguousarray(z[centers], dtype=np.float32)


def nearest_members(z: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each cluster, the index of its member nearest its centroid (distinct by construction).

    A cluster left empty (rare; FAISS re-splits empty clusters) takes the nearest point not yet
    chosen, so the result always has k distinct indices.
    """
    z = np.asarray(z, dtype=np.float64)
    chosen = np.full(len(centroids), -1, dtype=np.int64)
    taken = np.zeros(len(z), dtype=bool)
    for c, centroid in enumerate(centroids):
        members = np.flatnonzero(labels == c)
        if members.size:
            dist = ((z[members] - centroid) ** 2).sum(1)
            chosen[c] = members[np.argmin(dist)]
            taken[chosen[c]] = True
    for c in np.flatnonzero(chosen < 0):
        dist = ((z - centroids[c]) ** 2).sum(1)
        dist[taken] = np.inf
        chosen[c] = int(np.argmin(dist))
        taken[chosen[c]] = True
    return chosen


def select_rosetta_points(z: np.ndarray | Tensor, k: int, seed: int = 0, method: str = "kmeans",
                          **options) -> Selection:
    """Cluster latent means ``z`` (N, d) into k clusters and pick one anchor per cluster.

    ``method`` names a selector (:mod:`rosetta_cl.selectors`: kmeans, agglomerative, gmm, random);
    ``options`` go to it (for kmeans: niter, max_points_per_centroid, gpu).
    """
    from .selectors import make_selector

    z = z.detach().cpu().numpy() if isinstance(z, Tensor) else np.asarray(z)
    selector = make_selector(method, k, seed, **options).fit(z)
    return Selection(selector.indices_, selector.centroids_, selector.labels_, selector.inertia_)


@dataclass
class Anchors:
    """Rosetta points (x_r, z_r): inputs and the latent means the template gave them."""

    x: Tensor
    z: Tensor

    def __len__(self) -> int:
        return len(self.z)

    def to(self, device) -> Anchors:
        return Anchors(self.x.to(device), self.z.to(device))

    def concat(self, other: Anchors) -> Anchors:
        return Anchors(torch.cat([self.x, other.x.to(self.x)]), torch.cat([self.z, other.z.to(self.z)]))

    def save(self, path: str | Path) -> Path:
        """Plain ``.npz`` of two float arrays: opens with ``np.load(allow_pickle=False)``."""
        path = Path(path)
        np.savez(path, x=self.x.detach().cpu().numpy(), z=self.z.detach().cpu().numpy())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Anchors:
        with np.load(path, allow_pickle=False) as f:
            x, z = f["x"], f["z"]
        if x.ndim < 2 or z.ndim != 2 or len(x) != len(z):
            raise ConfigError(f"anchor file {path}: x {x.shape} and z {z.shape} do not match")
        return cls(torch.from_numpy(x), torch.from_numpy(z))
