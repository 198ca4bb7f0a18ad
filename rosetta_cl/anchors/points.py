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
    """The result of clustering latent means: one anchor per cluster.

    Parameters
    ----------
    indices : numpy.ndarray, shape (k,)
        The row of each anchor in the clustered array (k distinct rows).
    centroids : numpy.ndarray, shape (k, d)
        The cluster centres.
    labels : numpy.ndarray, shape (N,)
        The cluster of every point.
    inertia : float
        Sum of squared distances of all points to their cluster's centre.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import select_rosetta_points
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> selection = select_rosetta_points(z, k=8)
    >>> selection.indices.shape, selection.centroids.shape, selection.labels.shape
    ((8,), (8, 2), (200,))
    """

    indices: np.ndarray  # (k,) row of each anchor in the clustered array
    centroids: np.ndarray  # (k, d)
    labels: np.ndarray  # (N,) cluster of every point
    inertia: float  # sum of squared distances of all points to their centroid


def select_rosetta_points(z: np.ndarray | Tensor, k: int, seed: int = 0, method: str = "kmeans",
                          **options) -> Selection:
    """Cluster latent means into k clusters and pick one anchor (Rosetta point) per cluster.

    Each anchor is the member of its own cluster nearest that cluster's centre, so the k anchors
    are always k distinct points.

    Parameters
    ----------
    z : numpy.ndarray or torch.Tensor, shape (N, d)
        Latent means (the template's posterior means of its training data).
    k : int
        Number of anchors, 1 <= k <= N.
    seed : int, default 0
        Seed of the clustering.
    method : str, default "kmeans"
        A selector name (:data:`SELECTORS`: ``kmeans`` (FAISS, the paper's), ``agglomerative``,
        ``gmm``, ``random``).
    **options
        Passed to the selector (for ``kmeans``: ``niter``, ``max_points_per_centroid``, ``gpu``,
        ``init``).

    Returns
    -------
    Selection
        The anchors' row indices, the centres, every point's cluster and the inertia.

    Raises
    ------
    rosetta_cl.ConfigError
        If ``method`` is unknown or k is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import select_rosetta_points
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> selection = select_rosetta_points(z, k=8, seed=0)
    >>> len(set(selection.indices.tolist()))
    8
    """
    z = z.detach().cpu().numpy() if isinstance(z, Tensor) else np.asarray(z)
    selector = make_selector(method, k, seed, **options).fit(z)
    return Selection(selector.indices_, selector.centroids_, selector.labels_, selector.inertia_)


@dataclass
class Anchors:
    """Rosetta points (x_r, z_r): inputs and the latent means the template gave them.

    Parameters
    ----------
    x : torch.Tensor, shape (R, ...)
        The anchor inputs x_r, as the model takes them (flat rows).
    z : torch.Tensor, shape (R, d)
        Their latent means z_r under the template.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import Anchors
    >>> anchors = Anchors(x=torch.zeros(8, 5), z=torch.zeros(8, 2))
    >>> len(anchors), len(anchors.concat(anchors))
    (8, 16)
    """

    x: Tensor
    z: Tensor

    def __len__(self) -> int:
        return len(self.z)

    def to(self, device) -> Anchors:
        return Anchors(self.x.to(device), self.z.to(device))

    def concat(self, other: Anchors) -> Anchors:
        return Anchors(torch.cat([self.x, other.x.to(self.x)]),
                       torch.cat([self.z, other.z.to(self.z)]))

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
