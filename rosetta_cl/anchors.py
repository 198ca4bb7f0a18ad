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
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS k-means on all points (unless ``max_points_per_centroid`` asks to subsample).

    Runs on the GPU when FAISS sees one (``gpu=None``). Returns (centroids, labels).
    """
    import faiss

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
    km.train(z)
    _, labels = km.index.search(z, 1)
    return km.centroids.copy(), labels[:, 0].astype(np.int64)


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
