"""Anchor selectors with a scikit-learn style API: ``fit(latent_means)`` sets ``labels_``,
``centroids_`` and ``indices_`` (one anchor per cluster: the member of that cluster nearest its
centroid, so the k anchors are always distinct points).

- ``kmeans``: FAISS k-means on all points, k-means++ seeding (GPU when FAISS sees one); the
  paper's choice.
- ``agglomerative``: scikit-learn Ward clustering. It needs O(N^2) memory, so it clusters a
  seeded subsample of at most ``max_points`` points; every point then joins the cluster whose
  centroid is nearest and the anchors are chosen among all members.
- ``gmm``: scikit-learn Gaussian mixture (full covariances); centroids are the component means.
- ``random``: k points drawn uniformly; each is its own cluster's centroid (the ablation's floor).
"""

from __future__ import annotations

import numpy as np

from .anchors import kmeans_faiss, nearest_members
from .errors import ConfigError


class Selector:
    """Base: subclasses implement ``_cluster(z) -> (centroids, labels)``."""

    name = ""

    def __init__(self, k: int, seed: int = 0):
        self.k, self.seed = int(k), int(seed)

    def fit(self, z) -> Selector:
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2:
            raise ConfigError(f"latent means of shape {z.shape}: expected (points, dim)")
        if not 1 <= self.k <= len(z):
            raise ConfigError(f"rosetta points k={self.k}: allowed 1 <= k <= {len(z)}"
                              " (points available)")
        self.centroids_, self.labels_ = self._cluster(z)
        self.indices_ = nearest_members(z, self.centroids_, self.labels_)
        z64 = z.astype(np.float64)
        self.inertia_ = float(((z64 - self.centroids_[self.labels_]) ** 2).sum())
        return self

    def _cluster(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class KMeansSelector(Selector):
    name = "kmeans"

    def __init__(self, k: int, seed: int = 0, niter: int = 25,
                 max_points_per_centroid: int | None = None, gpu: bool | None = None,
                 init: str = "k-means++"):
        super().__init__(k, seed)
        self.niter, self.max_points_per_centroid, self.gpu = niter, max_points_per_centroid, gpu
        self.init = init

    def _cluster(self, z):
        return kmeans_faiss(z, self.k, seed=self.seed, niter=self.niter,
                            max_points_per_centroid=self.max_points_per_centroid, gpu=self.gpu,
                            init=self.init)


def _assign(z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d2 = (z**2).sum(1)[:, None] - 2 * z @ centroids.T + (centroids**2).sum(1)[None]
    return np.argmin(d2, 1).astype(np.int64)


class AgglomerativeSelector(Selector):
    name = "agglomerative"

    def __init__(self, k: int, seed: int = 0, max_points: int = 5000):
        super().__init__(k, seed)
        self.max_points = max_points

    def _cluster(self, z):
        from sklearn.cluster import AgglomerativeClustering

        rng = np.random.default_rng(self.seed)
        fit_idx = np.sort(rng.permutation(len(z))[: max(self.max_points, self.k)])
        labels = AgglomerativeClustering(n_clusters=self.k, linkage="ward").fit_predict(z[fit_idx])
        centroids = np.stack([z[fit_idx][labels == c].mean(0) for c in range(self.k)])
        z64 = z.astype(np.float64)
        return centroids, _assign(z64, centroids.astype(np.float64))


class GaussianMixtureSelector(Selector):
    name = "gmm"

    def _cluster(self, z):
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(self.k, covariance_type="full", random_state=self.seed,
                              reg_covar=1e-5).fit(z.astype(np.float64))
        return gmm.means_, gmm.predict(z.astype(np.float64)).astype(np.int64)


class RandomSelector(Selector):
    name = "random"

    def _cluster(self, z):
        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(len(z), self.k, replace=False)
        centroids = z[chosen].astype(np.float64)
        labels = _assign(z.astype(np.float64), centroids)
        labels[chosen] = np.arange(self.k)  # ties between duplicate points: each keeps its own
        return centroids, labels


SELECTORS: dict[str, type[Selector]] = {
    cls.name: cls for cls in (KMeansSelector, AgglomerativeSelector, GaussianMixtureSelector,
                              RandomSelector)
}


def make_selector(name: str, k: int, seed: int = 0, **options) -> Selector:
    if name not in SELECTORS:
        raise ConfigError(f"selection {name!r}: allowed {', '.join(SELECTORS)}")
    return SELECTORS[name](k, seed, **options)
