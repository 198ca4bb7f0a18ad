"""3D Chairs (Aubry et al. 2014) for the ``chairs`` stream: the release's renders, converted once.

The release (``rendered_chairs.tar``) unpacks to ``rendered_chairs/<chair id>/renders/*.png``:
1,393 chairs, 62 views each (31 azimuths x 2 elevations), 600 x 600 colour renders on white.
They are converted once to 64 x 64 greyscale (Pillow: luma, then a box filter down to 64 x 64),
checked (count, shape, value range) and cached as a plain ``.npz`` (uint8, read without pickle)
beside ``rendered_chairs/``. The cache records a digest of the file listing (names and sizes), so
a changed folder is converted again; it is written to a temporary name and renamed, so a failed
conversion (a PNG that is not an image, an empty chair folder) never leaves a cache behind.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta_cl.data.mnist import data_dir
from rosetta_cl.errors import ConfigError

SIDE = 64
TOP = "rendered_chairs"
CACHE = f"chairs_{SIDE}x{SIDE}.npz"
LAYOUT = f"DIR/{TOP}/<chair id>/renders/*.png (the 3D Chairs release, rendered_chairs.tar)"
SOURCE = ("Aubry et al. 2014, 'Seeing 3D chairs' (CVPR): rendered_chairs.tar from "
          "https://www.di.ens.fr/willow/research/seeing3Dchairs/")


@dataclass
class Chairs:
    x: np.ndarray  # (N, 64 * 64) uint8 greyscale
    chair: np.ndarray  # (N,) int64 index into ``names``
    names: tuple[str, ...]  # chair ids (folder names), sorted


def chairs_root(explicit=None) -> tuple[Path, Path]:
    """(the data dir, the folder of chair folders): ``DIR/rendered_chairs`` or ``DIR`` itself."""
    root = data_dir(explicit)
    return root, (root / TOP if (root / TOP).is_dir() else root)


def _chair_folders(renders_root: Path) -> dict[str, list[Path]]:
    """Chair id -> its ``renders/*.png`` (sorted), for every folder with a ``renders/``."""
    chairs = {}
    if renders_root.is_dir():
        for entry in sorted(os.scandir(renders_root), key=lambda e: e.name):
            renders = Path(entry.path) / "renders"
            if entry.is_dir() and not entry.name.startswith(".") and renders.is_dir():
                chairs[entry.name] = sorted(renders.glob("*.png"))
    return chairs


def list_renders(root: Path, renders_root: Path) -> dict[str, list[Path]]:
    """Chair id -> its renders; one line naming what is missing."""
    chairs = _chair_folders(renders_root)
    if not chairs:
        where = (f"{renders_root} does not exist" if not renders_root.exists()
                 else f"no <chair id>/renders/ folders in {renders_root}")
        raise ConfigError(f"chairs: {where}; expected {LAYOUT.replace('DIR', str(root))}. Data: "
                          f"{SOURCE}; or make demo data: rosetta-cl demo-data chairs DIR")
    empty = [k for k, v in chairs.items() if not v]
    if empty:
        raise ConfigError(f"chairs: {renders_root / empty[0] / 'renders'} has no .png renders "
                          "(a partial copy?)")
    return chairs


def listing_digest(chairs: dict[str, list[Path]]) -> str:
    h = hashlib.sha256()
    for name, files in chairs.items():
        for path in files:
            h.update(f"{name}/{path.name}:{path.stat().st_size}\n".encode())
    return h.hexdigest()


def to_grey(path: Path) -> np.ndarray:
    """One render -> (64, 64) uint8 greyscale."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.convert("L").resize((SIDE, SIDE), Image.Resampling.BOX)
            return np.asarray(grey, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ConfigError(f"chairs: {path} is not a readable image "
                          f"({str(exc).splitlines()[0][:100] or type(exc).__name__})") from None


def convert(chairs: dict[str, list[Path]]) -> Chairs:
    n = sum(len(v) for v in chairs.values())
    print(f"rosetta-cl: converting {n} chair renders ({len(chairs)} chairs) to {SIDE}x{SIDE} "
          "greyscale (once; cached)", file=sys.stderr)
    x = np.empty((n, SIDE * SIDE), dtype=np.uint8)
    chair = np.empty(n, dtype=np.int64)
    at = 0
    for c, files in enumerate(chairs.values()):
        for path in files:
            x[at] = to_grey(path).reshape(-1)
            chair[at] = c
            at += 1
    return Chairs(x, chair, tuple(chairs))


def verify(data: Chairs, expected: int, source: str) -> None:
    problems = []
    if data.x.dtype != np.uint8 or data.x.ndim != 2 or data.x.shape[1] != SIDE * SIDE:
        problems.append(f"images are {data.x.dtype} {data.x.shape}, expected uint8 (N, "
                        f"{SIDE * SIDE})")
    if len(data.x) != expected:
        problems.append(f"{len(data.x)} images, expected {expected}")
    if data.chair.shape != (len(data.x),) or (len(data.chair) and (
            data.chair.min() < 0 or data.chair.max() >= len(data.names))):
        problems.append("chair indices do not match the images or the chair ids")
    if problems:
        raise ConfigError(f"chairs: {source} is not valid: " + "; ".join(problems))


def read_cache(path: Path) -> tuple[Chairs, str, int]:
    try:
        with np.load(path, allow_pickle=False) as f:
            data = Chairs(f["x"], f["chair"].astype(np.int64), tuple(str(s) for s in f["names"]))
            return data, str(f["digest"]), int(f["count"])
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ConfigError(f"chairs: cache {path} is not readable ({type(exc).__name__}); delete "
                          "it to convert the renders again") from None


def write_cache(path: Path, data: Chairs, digest: str) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez(tmp, x=data.x, chair=data.chair, names=np.array(data.names, dtype=str),
                 digest=np.array(digest), count=np.array(len(data.x)))
        tmp.replace(path)  # atomic: a half-written cache is never read
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        print(f"rosetta-cl: could not cache the converted chairs in {path} ({exc.strerror}); "
              "they will be converted again next time", file=sys.stderr)


def load_chairs(explicit=None) -> Chairs:
    """The 64 x 64 greyscale renders (from the cache when it matches the folder)."""
    root, renders_root = chairs_root(explicit)
    cache = root / CACHE
    if cache.exists() and not _chair_folders(renders_root):
        data, _, count = read_cache(cache)  # the renders were removed: the cache is the data
        verify(data, count, str(cache))
        return data
    chairs = list_renders(root, renders_root)
    digest = listing_digest(chairs)
    expected = sum(len(v) for v in chairs.values())
    if cache.exists():
        data, cached_digest, count = read_cache(cache)
        if cached_digest == digest:
            verify(data, expected, str(cache))
            return data
        print(f"rosetta-cl: {renders_root} changed since {cache} was written; converting again",
              file=sys.stderr)
    data = convert(chairs)
    verify(data, expected, f"the renders under {renders_root}")
    write_cache(cache, data, digest)
    return data


def chair_halves(n_chairs: int, seed: int) -> np.ndarray:
    """A seeded random half split by chair: the experience (0 or 1) of each chair."""
    if n_chairs < 2:
        raise ConfigError(f"chairs: found {n_chairs} chair; the D1 | D2 split is by chair, so at "
                          "least 2 chairs are needed")
    part = np.zeros(n_chairs, dtype=np.int64)
    part[np.random.default_rng(seed).permutation(n_chairs)[n_chairs // 2 :]] = 1
    return part
