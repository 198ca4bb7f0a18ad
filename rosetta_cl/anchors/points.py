"""Rosetta points (x_r, z_r): :class:`Anchors`, and :func:`select_rosetta_points`, which clusters
latent means with a selector (:mod:`rosetta_cl.anchors.selectors`; k-means by default) and keeps one
anchor per cluster: the member of its own cluster nearest that cluster's centroid, so the k
anchors are always k distinct points (picking "the nearest point to each centroid" over all
points can choose the same point twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rosetta_cl.anchors.selectors import make_selector
from rosetta_cl.errors import ConfigError


@dataclass
class Selection:
    indices: np.ndarray  # (k,) row of each anchor in the clustered array
    centroids: np.ndarray  # (k, d)
    labels: np.ndarray  # (N,) cluster of every point
    inertia: float  # sum of squared distances of all points to their centroid


def select_rosetta_points(z: np.ndarray | Tensor, k: int, seed: int = 0, method: str = "kmeans",
                          **options) -> Selection:
    """Cluster latent means ``z`` (N, d) into k clusters and pick one anchor per cluster.

    ``method`` names a selector (:mod:`rosetta_cl.anchors.selectors`: kmeans, agglomerative, gmm, random);
    ``options`` go to it (for kmeans: niter, max_points_per_centroid, gpu).
    """
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
