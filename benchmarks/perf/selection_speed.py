"""Benchmark 2: anchor selection, our FAISS k-means + nearest-member selector against
scikit-learn's KMeans(n_init=1) (+ the same nearest-member step), on latent means shaped like
MNIST's (N = 60,000; d in {16, 32}; k in {64, 128}). Also timed: FAISS with its own random
seeding (our selector before k-means++ seeding), for its inertia.

Inertia is the sum over *all* points of the squared distance to the nearest centroid (FAISS
trains on a subsample when N > 256 k unless told otherwise; ours uses every point). The data
are a seeded mixture of 40 anisotropic Gaussian blobs: clustered, like latent means.

    python benchmarks/perf/selection_speed.py          # targets: >= 8x faster, inertia <= +0.5%
    python benchmarks/perf/selection_speed.py --tiny
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, interleaved, median, parser

from rosetta_cl.anchors.selectors import KMeansSelector, nearest_members


def latent_means(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (40, d))
    scales = rng.uniform(0.2, 1.0, (40, d))
    which = rng.integers(0, 40, n)
    return (centers[which] + rng.normal(size=(n, d)) * scales[which]).astype(np.float32)


def inertia(z: np.ndarray, centroids: np.ndarray) -> float:
    z, c = z.astype(np.float64), centroids.astype(np.float64)
    d2 = (z**2).sum(1)[:, None] - 2 * z @ c.T + (c**2).sum(1)[None]
    return float(np.maximum(d2.min(1), 0).sum())


def ours(z, k, seed=0, init="k-means++"):
    s = KMeansSelector(k, seed, init=init).fit(z)
    return s.centroids_, s.indices_


def ours_random_init(z, k, seed=0):
    return ours(z, k, seed, init="random")


def sklearn(z, k, seed=0):
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(z)
    return km.cluster_centers_, nearest_members(z, km.cluster_centers_.astype(np.float32),
                                                km.labels_.astype(np.int64))


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    n = 3000 if args.tiny else 60000
    repeats = args.repeats or (1 if args.tiny else 5)
    rows = []
    for d in (16, 32):
        for k in (64, 128):
            z = latent_means(n, d)
            results = {}

            def call(name, fn, z=z, k=k, results=results):
                return lambda: results.__setitem__(name, fn(z, k))

            times = interleaved({"ours": call("ours", ours), "sklearn": call("sklearn", sklearn),
                                 "random init": call("random init", ours_random_init)},
                                repeats, warmup=0 if args.tiny else 1)
            i_ours, i_sk = inertia(z, results["ours"][0]), inertia(z, results["sklearn"][0])
            i_random = inertia(z, results["random init"][0])
            rows.append({"N": n, "d": d, "k": k, "ours s": median(times["ours"]),
                         "sklearn s": median(times["sklearn"]),
                         "speed-up": median(times["sklearn"]) / median(times["ours"]),
                         "inertia ours/sklearn - 1": i_ours / i_sk - 1,
                         "FAISS random init s": median(times["random init"]),
                         "its inertia/sklearn - 1": i_random / i_sk - 1,
                         "distinct anchors": len(set(results["ours"][1].tolist())) == k})
    return emit("Anchor selection: FAISS k-means vs scikit-learn KMeans(n_init=1) "
                "(targets: speed-up >= 8, inertia within +0.5%)", rows, args.json_path)


if __name__ == "__main__":
    main()
