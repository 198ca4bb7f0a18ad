"""Zebra-finch syllable spectrograms for the ``birdsong`` stream, in the AVA project's format.

AVA (Goffinet et al. 2021, github jackgoffinet/autoencoded-vocal-analysis,
``ava/preprocessing/preprocess.py::process_sylls``) writes each recording folder's syllables to
``syllables_0000.hdf5``, ``syllables_0001.hdf5``, ... with the datasets ``specs`` (N x freq bins x
time bins, 128 x 128 by default; log-spectrograms scaled by ``spec_min_val`` / ``spec_max_val``
and clipped to [0, 1]), ``onsets``, ``offsets`` (seconds) and ``audio_filenames``. Here the data
dir holds one folder per bird (``DIR/<bird>/[<session>/]syllables_XXXX.hdf5``); only ``specs``
is read.

Memory: the spectrograms are read file by file, in slices, into one float16 array (half of
float32: 50,000 spectrograms of 128 x 128 take 1.6 GB, not 3.3), so the peak is that array plus
one slice. Values already in [0, 1] (AVA's files) are used as they are; values outside it are
scaled to [0, 1] with the data's global minimum and maximum (AVA's formula, with the data's own
bounds), and a note says so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta_cl.data.mnist import data_dir
from rosetta_cl.errors import ConfigError

SPECS = "specs"
PATTERN = "*.hdf5"
SLICE = 512  # spectrograms read per h5py call
LAYOUT = ("DIR/<bird>/[<session>/]syllables_0000.hdf5, ... (AVA's preprocess.process_sylls: a "
          "'specs' dataset of N x 128 x 128 spectrograms in [0, 1])")
SOURCE = ("the zebra finch syllables of Goffinet et al. 2021 (eLife 10:e67855, CC0; see its data "
          "availability statement), preprocessed with AVA (github jackgoffinet/"
          "autoencoded-vocal-analysis)")
FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass
class Birdsong:
    x: np.ndarray  # (N, H * W) float16 in [0, 1]
    bird: np.ndarray  # (N,) int64 index into ``birds``
    birds: tuple[str, ...]  # folder names, sorted
    shape: tuple[int, int]  # (freq bins, time bins)


def birdsong_dir(explicit=None) -> Path:
    """``--data-dir`` (else ``$ROSETTA_CL_DATA``, else ``~/.cache/rosetta-cl``); its ``birdsong``
    sub-folder when that exists and the dir itself has no bird folders."""
    root = data_dir(explicit)
    nested = root / "birdsong"
    if nested.is_dir() and not any(_bird_folders(root).values()):
        return nested
    return root


def _bird_folders(root: Path) -> dict[str, list[Path]]:
    """Every visible sub-folder of ``root`` -> its ``*.hdf5`` files (recursively, sorted)."""
    if not root.is_dir():
        return {}
    birds = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            birds[entry.name] = sorted(Path(entry.path).rglob(PATTERN))
    return birds


def find_birds(root: Path) -> dict[str, list[Path]]:
    """The bird folders and their files; one line naming the problem when there are none, or a
    bird folder holds no syllable file."""
    birds = _bird_folders(root)
    if not any(birds.values()):
        where = f"{root} does not exist" if not root.exists() else f"none under {root}"
        raise ConfigError(f"birdsong: no bird folders with syllable files ({where}); expected "
                          f"{LAYOUT.replace('DIR', str(root))}. Data: {SOURCE}; or make demo "
                          "data: rosetta-cl demo-data birdsong DIR")
    empty = [name for name, files in birds.items() if not files]
    if empty:
        raise ConfigError(f"birdsong: bird folder {root / empty[0]} has no {PATTERN} files "
                          f"(expected {LAYOUT.replace('DIR', str(root))})")
    return birds


def _specs_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if SPECS not in f or not isinstance(f[SPECS], h5py.Dataset):
                raise ConfigError(f"birdsong: {path} has no '{SPECS}' dataset (has "
                                  f"{', '.join(f.keys()) or 'nothing'}); expected AVA's syllable "
                                  "files")
            return tuple(f[SPECS].shape), f[SPECS].dtype
    except OSError as exc:
        raise ConfigError(f"birdsong: {path} is not a readable HDF5 file "
                          f"({str(exc).splitlines()[0][:120]})") from None


def read_birdsong(root: Path) -> Birdsong:
    """All birds' spectrograms as one float16 (N, H * W) array in [0, 1] and the bird of each."""
    import h5py

    birds = find_birds(root)
    plan: list[tuple[int, Path, int]] = []  # (bird index, path, count)
    shape: tuple[int, ...] | None = None
    for b, files in enumerate(birds.values()):
        for path in files:
            specs_shape, dtype = _specs_shape(path)
            if len(specs_shape) != 3 or not (np.issubdtype(dtype, np.floating)
                                             or np.issubdtype(dtype, np.integer)):
                raise ConfigError(f"birdsong: {path}: '{SPECS}' is {dtype} {specs_shape}; "
                                  "expected numbers of shape (N, freq bins, time bins)")
            if shape is None:
                shape = specs_shape[1:]
            elif specs_shape[1:] != shape:
                raise ConfigError(f"birdsong: {path}: spectrograms of {specs_shape[1:]}, but "
                                  f"earlier files have {shape}; all must have one shape")
            plan.append((b, path, specs_shape[0]))
    n = sum(count for _, _, count in plan)
    if n == 0:
        raise ConfigError(f"birdsong: the '{SPECS}' datasets under {root} hold no spectrograms")
    assert shape is not None  # n > 0: some file set it
    x = np.empty((n, int(np.prod(shape))), dtype=np.float16)
    bird = np.empty(n, dtype=np.int64)
    lo, hi, at = np.inf, -np.inf, 0
    for b, path, count in plan:
        try:
            with h5py.File(path, "r") as f:
                specs = f[SPECS]
                for i in range(0, count, SLICE):
                    part = np.asarray(specs[i : i + SLICE], dtype=np.float32)
                    if not np.isfinite(part).all():
                        raise ConfigError(f"birdsong: {path}: '{SPECS}' holds NaN or inf values")
                    lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
                    if max(abs(lo), abs(hi)) > FLOAT16_MAX:
                        top = max(abs(lo), abs(hi))
                        raise ConfigError(f"birdsong: {path}: values up to {top:.3g}"
                                          "; expected spectrograms scaled to [0, 1] as AVA writes "
                                          "them")
                    x[at + i : at + i + len(part)] = part.reshape(len(part), -1)
        except OSError as exc:
            raise ConfigError(f"birdsong: cannot read {path} ({str(exc).splitlines()[0][:120]})"
                              ) from None
        bird[at : at + count] = b
        at += count
    if lo < 0 or hi > 1:
        if hi <= lo:
            raise ConfigError(f"birdsong: every value under {root} is {lo:.3g}: nothing to learn")
        print(f"rosetta-cl: birdsong values lie in [{lo:.3g}, {hi:.3g}], not AVA's [0, 1]; "
              "scaled to [0, 1] with those bounds", file=sys.stderr)
        for i in range(0, n, SLICE * 8):
            chunk = x[i : i + SLICE * 8].astype(np.float32)
            x[i : i + SLICE * 8] = (chunk - lo) / (hi - lo)
    height, width = shape
    return Birdsong(x, bird, tuple(birds), (int(height), int(width)))


def parse_bird_split(rule: str | None, birds: tuple[str, ...]) -> list[list[int]]:
    """``bird:A,B|C,D`` -> bird indices per experience; None: the first half of the birds
    (sorted by name) | the rest."""
    allowed = "bird:A,B|C,D (bird folder names, | between experiences)"
    if len(birds) < 2:
        raise ConfigError(f"birdsong: found {len(birds)} bird ({', '.join(birds)}); D1 | D2 are "
                          "disjoint sets of birds, so at least 2 bird folders are needed")
    if rule is None:
        half = len(birds) // 2
        return [list(range(half)), list(range(half, len(birds)))]
    if not rule.startswith("bird:"):
        raise ConfigError(f"--split-by {rule!r} with birdsong: allowed {allowed}")
    groups = [[name.strip() for name in g.split(",") if name.strip()]
              for g in rule[5:].split("|")]
    if len(groups) < 2 or not all(groups):
        raise ConfigError(f"--split-by {rule!r}: give at least two non-empty sets of birds "
                          f"(quote the value: --split-by 'bird:A,B|C'); allowed {allowed}")
    seen, out = set(), []
    for group in groups:
        for name in group:
            if name not in birds:
                raise ConfigError(f"--split-by {rule!r}: no bird {name!r}; birds here: "
                                  f"{', '.join(birds)}")
            if name in seen:
                raise ConfigError(f"--split-by {rule!r}: bird {name!r} is in two experiences")
            seen.add(name)
        out.append([birds.index(name) for name in group])
    return out
