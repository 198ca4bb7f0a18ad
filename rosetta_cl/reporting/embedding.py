"""2-D views of latent means for the figures: identity (latent dim 2), PCA or UMAP (seeded).

Only the figures use this, after training: nothing here runs inside a training loop. UMAP is
imported lazily (its first call in a process costs tens of seconds of JIT compilation).
"""

from __future__ import annotations

import numpy as np

from rosetta_cl.config.choices import PROJECTIONS
from rosetta_cl.errors import ConfigError


def choose_projection(projection: str, latent_dim: int, quick: bool) -> str:
    """``auto``: identity in 2-D, PCA for quick runs, else UMAP."""
    if projection not in PROJECTIONS:
        raise ConfigError(f"projection {projection!r}: allowed {', '.join(PROJECTIONS)}")
    if projection == "identity" and latent_dim != 2:
        raise ConfigError(f"projection 'identity' needs latent dim 2, got {latent_dim}")
    if projection != "auto":
        return projection
    if latent_dim == 2:
        return "identity"
    return "pca" if quick else "umap"


class Projection:
    """``fit(z)`` then ``transform(z) -> (N, 2)``; seeded, deterministic for PCA."""

    def __init__(self, kind: str, seed: int = 0):
        self.kind, self.seed = kind, seed

    def fit(self, z: np.ndarray) -> Projection:
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "identity":
            if z.shape[1] != 2:
                raise ValueError(f"identity projection of {z.shape[1]}-d latents")
            self.model = None
        elif self.kind == "pca":
            self.mean = z.mean(0)
            # principal axes, signs fixed so that the same data always gives the same picture
            _, _, vt = np.linalg.svd(z - self.mean, full_matrices=False)
            axes = vt[:2]
            signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])
            self.axes = axes * signs[:, None]
            if len(self.axes) < 2:  # 1-d latents: the second axis is zero
                self.axes = np.vstack([self.axes, np.zeros_like(self.axes)])
        elif self.kind == "umap":
            import umap

            self.model = umap.UMAP(n_components=2, random_state=self.seed, n_jobs=1)
            self.model.fit(z)
        else:
            raise ValueError(f"projection {self.kind!r}")
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "identity":
            return z
        if self.kind == "pca":
            return (z - self.mean) @ self.axes.T
        assert self.model is not None, "transform() before fit()"
        return np.asarray(self.model.transform(z))

    def fit_transform(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "umap":
            self.fit(z)
            assert self.model is not None
            return np.asarray(self.model.embedding_)
        return self.fit(z).transform(z)


def subsample_indices(n: int, at_most: int, seed: int = 0) -> np.ndarray:
    """Sorted seeded choice of ``at_most`` of ``n`` indices (all when n <= at_most)."""
    if n <= at_most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, at_most, replace=False))
