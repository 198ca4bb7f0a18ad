"""The built-in benchmarks' defaults and descriptions, without their data: what the registry,
the CLI's checks and `rosetta-cl benchmarks` need, importable without torch or Avalanche (the
streams themselves are in :mod:`rosetta_cl.data.streams`)."""

from __future__ import annotations

from dataclasses import dataclass

USER_DATA = "data"  # the benchmark name of a user's own file (``rosetta-cl run mine.npz``)
TRAIN_FRACTION = 0.6  # the paper's 60/40 train/validation split of every experience


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
    reproducibility_rosetta_points: int | None = None  # k for that protocol (None: as above)

    def hidden_for(self, arch: str) -> tuple[int, ...]:
        return self.hidden if arch == "mlp" else self.image_hidden

    def rosetta_points_for(self, protocol: str) -> int:
        """The paper's k differs by protocol for birdsong (sequential 32, reproducibility 64)."""
        if protocol == "reproducibility" and self.reproducibility_rosetta_points is not None:
            return self.reproducibility_rosetta_points
        return self.rosetta_points


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
DIGITS5_DESCRIPTION = ("scikit-learn digits in 5 experiences D1..D5 = digits 0-1 | 2-3 | 4-5 | "
                       "6-7 | 8-9 (for --protocol continual)")
# The paper's birdsong and 3D Chairs (appendices A-C). The paper gives neither latent size nor
# likelihood: birdsong follows AVA (Goffinet et al. 2021, whose data it uses): 32 latent
# dimensions and a Gaussian likelihood of precision 10 (std 1/sqrt(10)); 3D Chairs, greyscale in
# [0, 1] like MNIST with "the same model architectures" (appendix C), the Bernoulli likelihood and
# 32 dimensions (our choice, as birdsong: views x chair shapes need more than MNIST's 8).
BIRDSONG_DEFAULTS = BenchmarkDefaults(latent_dim=32, rosetta_points=32, epochs=300,
                                      hidden=(512, 256), likelihood="gaussian", quick_epochs=1,
                                      obs_scale=10 ** -0.5, quick_subsample=120, arch="resnet",
                                      image_shape=(1, 128, 128),
                                      reproducibility_rosetta_points=64)
BIRDSONG_DESCRIPTION = ("zebra-finch syllable spectrograms (AVA's syllables_*.hdf5, 128x128 in"
                        " [0, 1]), D1 | D2 = disjoint sets of birds; needs --data-dir DIR with"
                        " DIR/<bird>/[<session>/]syllables_*.hdf5")
CHAIRS_DEFAULTS = BenchmarkDefaults(latent_dim=32, rosetta_points=128, epochs=300,
                                    hidden=(512, 256), likelihood="bernoulli", quick_epochs=1,
                                    quick_subsample=240, arch="conv", image_shape=(1, 64, 64))
CHAIRS_DESCRIPTION = ("3D Chairs renders as 64x64 greyscale, D1 | D2 = a seeded random half of"
                      " the chairs (all views of a chair on one side); needs --data-dir DIR with"
                      " DIR/rendered_chairs/<chair id>/renders/*.png (cached once as .npz)")
