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

from rosetta_cl.errors import ConfigError


def kmeans_faiss(
    z: np.ndarray, k: int, seed: int = 0, niter: int = 25,
    max_points_per_centroid: int | None = None, gpu: bool | None = None,
    init: str = "k-means++",
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS k-means on all points, seeded with k-means++ (on the GPU when FAISS sees one).

    ``init="random"`` is FAISS's own seeding (k random points), which on clustered latent means
    leaves clusters without a centroid: +65-143% inertia against scikit-learn at k = 64 in
    ``benchmarks/perf/selection_speed.py``, against +0.1% with k-means++.

    Parameters
    ----------
    z : numpy.ndarray, shape (N, d)
        Points to cluster.
    k : int
        Number of clusters.
    seed : int, default 0
        Seed of the seeding and of FAISS.
    niter : int, default 25
        k-means iterations.
    max_points_per_centroid : int, optional
        Subsample to this many points per centroid, as FAISS does by default (None: all points).
    gpu : bool, optional
        Run on the GPU (None: when FAISS sees one).
    init : str, default "k-means++"
        ``k-means++`` or ``random``.

    Returns
    -------
    centroids : numpy.ndarray, shape (k, d)
        float32 cluster centres.
    labels : numpy.ndarray, shape (N,)
        int64 cluster of every point.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import kmeans_faiss
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> centroids, labels = kmeans_faiss(z, k=4, gpu=False)
    >>> centroids.shape, sorted(set(labels.tolist()))
    ((4, 2), [0, 1, 2, 3])
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
    return np.array(km.centroids), labels[:, 0].astype(np.int64)


KMEANS_INITS = ("k-means++", "random")


def kmeans_plus_plus(z: np.ndarray, k: int, seed: int = 0, max_points: int = 4096) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; 2 + ln k candidates per step, the one
    that lowers the potential most is kept, as scikit-learn does) on a seeded subsample of at
    most ``max_points`` points (k-means then runs on all of them). Returns (k, d) float32.
    """
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
    """For each cluster, the index of its member nearest its centroid.

    A cluster left empty (rare; FAISS re-splits empty clusters) takes the nearest point not yet
    chosen, so the result always has k distinct indices.

    Parameters
    ----------
    z : numpy.ndarray, shape (N, d)
        The clustered points.
    centroids : numpy.ndarray, shape (k, d)
        The cluster centres.
    labels : numpy.ndarray, shape (N,)
        The cluster of every point.

    Returns
    -------
    numpy.ndarray, shape (k,)
        k distinct row indices, one per cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import nearest_members
    >>> z = np.array([[0.0], [0.9], [5.0], [5.2]])
    >>> nearest_members(z, np.array([[0.5], [5.0]]), np.array([0, 0, 1, 1])).tolist()
    [1, 2]
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
    for empty in np.flatnonzero(chosen < 0):
        dist = ((z - centroids[empty]) ** 2).sum(1)
        dist[taken] = np.inf
        chosen[empty] = int(np.argmin(dist))
        taken[chosen[empty]] = True
    return chosen


class Selector:
    """Base of the anchor selectors, with a scikit-learn style ``fit``.

    ``fit(z)`` sets ``labels_``, ``centroids_``, ``indices_`` (one anchor per cluster: the member
    nearest its centre) and ``inertia_``. A subclass sets ``name`` and implements
    ``_cluster(z) -> (centroids, labels)``; :data:`SELECTORS` maps names to classes.

    Parameters
    ----------
    k : int
        Number of clusters (anchors).
    seed : int, default 0
        Seed of the clustering.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import Selector
    >>> class FirstK(Selector):  # the first k points are the centres
    ...     name = "first"
    ...     def _cluster(self, z):
    ...         centroids = z[: self.k]
    ...         return centroids, ((z[:, None] - centroids) ** 2).sum(-1).argmin(1)
    >>> FirstK(k=3).fit(np.random.default_rng(0).normal(size=(50, 2))).indices_.tolist()
    [0, 1, 2]
    """

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
    """k-means (FAISS, k-means++ seeding; GPU when FAISS sees one): the paper's selector.

    Parameters
    ----------
    k : int
        Number of clusters.
    seed : int, default 0
        Seed of the seeding and of FAISS.
    niter : int, default 25
        k-means iterations.
    max_points_per_centroid : int, optional
        Subsample as FAISS does by default (None: all points).
    gpu : bool, optional
        Run on the GPU (None: when FAISS sees one).
    init : str, default "k-means++"
        ``k-means++`` or ``random`` (FAISS's own).

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import KMeansSelector
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> selector = KMeansSelector(k=8, gpu=False).fit(z)
    >>> selector.indices_.shape
    (8,)
    """

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
    """Ward agglomerative clustering (scikit-learn).

    It needs O(N^2) memory, so it clusters a seeded subsample of at most ``max_points`` points;
    every point then joins the cluster whose centroid is nearest and the anchors are chosen among
    all members.

    Parameters
    ----------
    k : int
        Number of clusters.
    seed : int, default 0
        Seed of the subsample.
    max_points : int, default 5000
        Largest subsample clustered.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import AgglomerativeSelector
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> AgglomerativeSelector(k=8).fit(z).indices_.shape
    (8,)
    """

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
    """Gaussian mixture with full covariances (scikit-learn); centroids are the component means.

    Parameters
    ----------
    k : int
        Number of components.
    seed : int, default 0
        Seed of the mixture's initialisation.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import GaussianMixtureSelector
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> GaussianMixtureSelector(k=4).fit(z).centroids_.shape
    (4, 2)
    """

    name = "gmm"

    def _cluster(self, z):
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(self.k, covariance_type="full", random_state=self.seed,
                              reg_covar=1e-5).fit(z.astype(np.float64))
        return gmm.means_, gmm.predict(z.astype(np.float64)).astype(np.int64)


class RandomSelector(Selector):
    """k points drawn uniformly, each its own cluster's centre: the ablation's floor.

    Parameters
    ----------
    k : int
        Number of anchors.
    seed : int, default 0
        Seed of the draw.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import RandomSelector
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> len(set(RandomSelector(k=8, seed=1).fit(z).indices_.tolist()))
    8
    """

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
"""Selector name -> class (``--selection``): ``kmeans``, ``agglomerative``, ``gmm``, ``random``."""


def check_selection(name: str) -> None:
    if name not in SELECTORS:
        raise ConfigError(f"selection {name!r}: allowed {', '.join(SELECTORS)}")


def make_selector(name: str, k: int, seed: int = 0, **options) -> Selector:
    """Build the selector registered under ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`SELECTORS` (``kmeans``, ``agglomerative``, ``gmm``, ``random``).
    k : int
        Number of anchors.
    seed : int, default 0
        Seed of the clustering.
    **options
        The selector's own parameters (e.g. ``niter`` for ``kmeans``).

    Returns
    -------
    Selector
        An unfitted selector.

    Raises
    ------
    rosetta_cl.ConfigError
        If ``name`` is not a registered selector.

    Examples
    --------
    >>> from rosetta_cl import make_selector
    >>> type(make_selector("gmm", k=4)).__name__
    'GaussianMixtureSelector'
    """
    check_selection(name)
    return SELECTORS[name](k, seed, **options)
