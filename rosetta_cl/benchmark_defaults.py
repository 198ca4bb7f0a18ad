"""The built-in benchmarks' defaults and descriptions, without their data: what the registry,
the CLI's checks and `rosetta-cl benchmarks` need, importable without torch or Avalanche (the
streams themselves are in :mod:`rosetta_cl.streams`)."""

from __future__ import annotations

from dataclasses import dataclass

USER_DATA = "data"  # the benchmark name of a user's own file (``rosetta-cl run mine.npz``)


@dataclass(frozen=True)
class BenchmarkDefaults:
    """Paper-following defaults for one benchmark (the CLI's options override them)."""

    latent_dim: int
    rosetta_points: int
    epochs: int
    hidden: tuple[int, ...]
    likelihood: str
    quick_epochs: int = 5
    obs_scale: float | None = None  # gaussian likelihood: fixed observation std (None: learned)
    quick_subsample: int | None = None  # points per part with --quick (None: all)
    arch: str = "mlp"  # default architecture (mlp | conv | resnet)
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) for image data, else None
    image_hidden: tuple[int, ...] = (256,)  # dense layers between conv features and latents

    def hidden_for(self, arch: str) -> tuple[int, ...]:
        return self.hidden if arch == "mlp" else self.image_hidden


GAUSSIANS8_DEFAULTS = BenchmarkDefaults(latent_dim=2, rosetta_points=8, epochs=200,
                                        hidden=(64, 64), likelihood="gaussian", quick_epochs=5,
                                        obs_scale=0.3)
GAUSSIANS8_DESCRIPTION = ("8 Gaussians on a circle (2 position + 3 noise dims, 4000 points),"
                          " D1 | D2 = upper | lower half-plane")
DIGITS_DEFAULTS = BenchmarkDefaults(latent_dim=8, rosetta_points=64, epochs=200,
                                    hidden=(256, 128), likelihood="bernoulli", quick_epochs=3,
                                    image_shape=(1, 8, 8))
DIGITS_DESCRIPTION = "scikit-learn digits (8x8 in [0, 1], 1797 images), D1 | D2 = digits 0-4 | 5-9"
MNIST_DEFAULTS = BenchmarkDefaults(latent_dim=8, rosetta_points=64, epochs=200,
                                   hidden=(512, 256), likelihood="bernoulli", quick_epochs=2,
                                   quick_subsample=1000, arch="conv", image_shape=(1, 28, 28))
MNIST_DESCRIPTION = ("MNIST (28x28 in [0, 1], 70,000 images), D1 | D2 = digits 0-4 | 5-9; read"
                     " from --data-dir / $ROSETTA_CL_DATA, else fetched")
DIGITS5_DEFAULTS = BenchmarkDefaults(latent_dim=8, rosetta_points=16, epochs=200,
                                     hidden=(256, 128), likelihood="bernoulli", quick_epochs=3,
                                     image_shape=(1, 8, 8))
DIGITS5_DESCRIPTION = ("scikit-learn digits in 5 experiences D1..D5 = digits 0-1 | 2-3 | 4-5 | 6-7 |"
                       " 8-9 (for --protocol continual)")
