"""Benchmark streams: D1 -> D2 splits as Avalanche benchmarks (``benchmark_from_datasets``).

Every benchmark has three streams of tensor datasets:
- ``train``: [D1 train, D2 train] (60% of each part),
- ``valid``: [D1 valid, D2 valid] (the other 40%, used for validation loss and all metrics),
- ``joint``: [D1 train + D2 train] (for the jointly trained target model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.utils import AvalancheDataset
from torch.utils.data import TensorDataset

from .benchmark_defaults import (
    DIGITS5_DEFAULTS,
    DIGITS5_DESCRIPTION,
    DIGITS_DEFAULTS,
    DIGITS_DESCRIPTION,
    GAUSSIANS8_DEFAULTS,
    GAUSSIANS8_DESCRIPTION,
    MNIST_DEFAULTS,
    MNIST_DESCRIPTION,
    BenchmarkDefaults,
)

TRAIN_FRACTION = 0.6  # the paper's 60/40 train/validation split


@dataclass
class Benchmark:
    name: str
    scenario: object  # avalanche CLScenario with train / valid / joint streams
    parts: tuple[str, ...]  # names of the experiences, e.g. ("D1", "D2")
    input_dim: int
    defaults: BenchmarkDefaults
    description: str = ""

    @property
    def train_stream(self):
        return self.scenario.train_stream

    @property
    def valid_stream(self):
        return self.scenario.valid_stream

    @property
    def joint_stream(self):
        return self.scenario.joint_stream


def tensor_dataset(x: np.ndarray, y: np.ndarray) -> AvalancheDataset:
    return AvalancheDataset([TensorDataset(torch.as_tensor(x, dtype=torch.float32),
                                           torch.as_tensor(y, dtype=torch.long))])


def split_parts(x: np.ndarray, y: np.ndarray, part_of: np.ndarray, seed: int,
                subsample: int | None = None):
    """Per part: a seeded 60/40 train/validation split of (at most ``subsample``) points.
    Returns lists of (x, y) per stream."""
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for part in np.unique(part_of):
        idx = rng.permutation(np.flatnonzero(part_of == part))[:subsample]
        n_train = round(TRAIN_FRACTION * len(idx))
        train.append((x[idx[:n_train]], y[idx[:n_train]]))
        valid.append((x[idx[n_train:]], y[idx[n_train:]]))
    return train, valid


def make_benchmark(name, x, y, part_of, seed, parts, defaults, description="",
                   subsample: int | None = None) -> Benchmark:
    train, valid = split_parts(x, y, part_of, seed, subsample)
    joint = (np.concatenate([a for a, _ in train]), np.concatenate([b for _, b in train]))
    scenario = benchmark_from_datasets(
        train=[tensor_dataset(*t) for t in train],
        valid=[tensor_dataset(*v) for v in valid],
        joint=[tensor_dataset(*joint)],
    )
    return Benchmark(name, scenario, parts, x.shape[1], defaults, description)


def gaussians8_data(n_per_gaussian: int = 500, radius: float = 2.0, std: float = 0.2,
                    noise_dims: int = 3, seed: int = 0):
    """8 Gaussians on a circle: 2 position dims + ``noise_dims`` pure-noise dims.

    Centres sit at angles pi/8 + k pi/4, so the line y = 0 separates them 4 | 4. Returns
    (x, component, part) with part 0 (D1) for centres with y > 0 and 1 (D2) otherwise.
    """
    rng = np.random.default_rng(seed)
    component = np.repeat(np.arange(8), n_per_gaussian)
    angles = np.pi / 8 + component * np.pi / 4
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    position = centres + std * rng.standard_normal((len(component), 2))
    noise = std * rng.standard_normal((len(component), noise_dims))
    x = np.hstack([position, noise]).astype(np.float32)
    part = (centres[:, 1] < 0).astype(np.int64)
    return x, component, part


# Fixed observation std 0.3 (1.5x the within-cluster std): with a learned noise the beta-VAE
# explains the data as noise and its latent space collapses (spread ~2e-4), which makes its RV
# meaningless; see the README's results section.


def gaussians8(seed: int = 0, subsample: int | None = None, data_dir=None) -> Benchmark:
    x, y, part = gaussians8_data(seed=seed)
    return make_benchmark("gaussians8", x, y, part, seed, ("D1", "D2"), GAUSSIANS8_DEFAULTS,
                          GAUSSIANS8_DESCRIPTION, subsample)


def digits(seed: int = 0, subsample: int | None = None, data_dir=None) -> Benchmark:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    return make_benchmark("digits", x, y, (y >= 5).astype(np.int64), seed, ("D1", "D2"),
                          DIGITS_DEFAULTS, DIGITS_DESCRIPTION, subsample)


def digits5(seed: int = 0, subsample: int | None = None, data_dir=None) -> Benchmark:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    return make_benchmark("digits5", x, y, y // 2, seed, tuple(f"D{i}" for i in range(1, 6)),
                          DIGITS5_DEFAULTS, DIGITS5_DESCRIPTION, subsample)


def mnist(seed: int = 0, subsample: int | None = None, data_dir=None) -> Benchmark:
    from .mnist_data import load_mnist

    x, y = load_mnist(data_dir)
    return make_benchmark("mnist", x, y, (y >= 5).astype(np.int64), seed, ("D1", "D2"),
                          MNIST_DEFAULTS, MNIST_DESCRIPTION, subsample)
