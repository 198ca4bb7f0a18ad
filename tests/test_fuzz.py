"""Property-based tests of every reader of user files (issue 18): random bytes, truncations,
bit flips, huge declared shapes, wrong dtypes, NaN/inf. Each must return or raise a one-line
``ConfigError`` (never another exception), allocating at most about twice the file's size
(measured with tracemalloc, which sees numpy's and Python's allocations) before it refuses.

Examples per reader: ``FUZZ_EXAMPLES`` (default 120; derandomized, so CI is repeatable);
``FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`` explores further.
"""

import gzip
import io
import json
import os
import pickle
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rosetta_cl.anchors.rosetta_file import make_anchor_file, read_anchor_file, write_anchor_file
from rosetta_cl.data.mnist import read_idx, read_mnist_pickle
from rosetta_cl.data.user_data import read_user_file
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.specs import load_spec

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLACK = 1 << 20  # Python objects of a parse (a TOML table, a zip directory): about 1 MiB at most
PEAKS: dict[str, tuple[int, int]] = {}  # reader -> (worst peak bytes of a refused file, its size)


def refused_or_read(reader, name: str, data: bytes, suffix: str, label: str,
                    allowance: int = 0):
    """Write ``data`` to a file, read it with ``reader``; only ConfigError may come out, in one
    line, and the peak allocation stays within 2x the file + SLACK (+ ``allowance``: what a
    reader is allowed to build beyond the file, e.g. a sparse matrix densified)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            reader(path)
            refused = False
        except ConfigError as exc:
            refused = True
            assert "\n" not in str(exc), str(exc)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak <= 2 * len(data) + SLACK + allowance, (label, peak, len(data))
    if refused and peak > PEAKS.get(label, (0, 0))[0]:
        PEAKS[label] = (peak, len(data))
    return refused


def mutations(valid: bytes):
    """A valid file truncated, bit-flipped, spliced with random bytes, or replaced by them."""
    n = len(valid)
    return st.one_of(
        st.binary(max_size=2048),
        st.integers(0, n).map(lambda i: valid[:i]),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 7)), min_size=1, max_size=8)
        .map(lambda flips: _flip(valid, flips)),
        st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=64))
        .map(lambda t: valid[:t[0]] + t[1] + valid[t[0]:]),
    )


def _flip(data: bytes, flips) -> bytes:
    out = bytearray(data)
    for i, bit in flips:
        out[i] ^= 1 << bit
    return bytes(out)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_with_header(shape, descr: str, payload: bytes) -> bytes:
    """An .npy file whose header declares ``shape`` and ``descr``, followed by ``payload``."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


# --- user .npy / .npz ------------------------------------------------------------------------

VALID_NPY = npy_bytes(np.random.default_rng(0).random((6, 4)).astype(np.float32))


def _npz(compress: bool) -> bytes:
    buf = io.BytesIO()
    save = np.savez_compressed if compress else np.savez
    save(buf, x=np.random.default_rng(1).random((6, 3)), y=np.arange(6), part=np.arange(6) % 2)
    return buf.getvalue()


VALID_NPZ, VALID_NPZ_COMPRESSED = _npz(False), _npz(True)


def _npz_with_features() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.random.default_rng(2).random((6, 3)),
             features=np.array(["gene_a", "gene_b", "gene_c"]))
    return buf.getvalue()


VALID_NPZ_FEATURES = _npz_with_features()


@FUZZ
@given(data=mutations(VALID_NPZ_FEATURES))
def test_fuzz_user_npz_with_feature_names(data):
    refused_or_read(read_user_file, "x", data, ".npz", "user .npz (features)")


@FUZZ
@given(data=mutations(VALID_NPY), suffix=st.sampled_from([".npy", ".npz"]))
def test_fuzz_user_npy(data, suffix):
    refused_or_read(read_user_file, "x", data, suffix, "user .npy")


@FUZZ
@given(data=st.one_of(mutations(VALID_NPZ), mutations(VALID_NPZ_COMPRESSED)))
def test_fuzz_user_npz(data):
    refused_or_read(read_user_file, "x", data, ".npz", "user .npz")


@FUZZ
@given(shape=st.lists(st.integers(0, 2**40), min_size=0, max_size=5),
       descr=st.sampled_from(["<f4", "<f8", "<f2", "|u1", "<i8", "|b1", "<c16", "|O", "<U3",
                              "|V8", "<M8[s]"]),
       payload=st.binary(max_size=512))
def test_fuzz_npy_declared_shapes(shape, descr, payload):
    """Headers declaring anything up to 2^40 per dimension: refused before allocating."""
    refused_or_read(read_user_file, "x", npy_with_header(shape, descr, payload), ".npy",
                    "user .npy")


@FUZZ
@given(values=st.lists(st.sampled_from([0.0, 1.0, -2.5, np.nan, np.inf, -np.inf, 1e39]),
                       min_size=2, max_size=40),
       dtype=st.sampled_from([np.float16, np.float32, np.float64]))
def test_fuzz_nan_inf_values(values, dtype):
    with np.errstate(over="ignore"):
        x = np.array(values, dtype=np.float64).reshape(-1, 1).astype(dtype)
        refused = refused_or_read(read_user_file, "x", npy_bytes(x), ".npy", "user .npy")
        assert refused == (not np.isfinite(x.astype(np.float32)).all())


def test_huge_declarations_are_refused_before_allocating(tmp_path):
    """The named hostile files: an .npy header claiming 10^12 elements, an IDX header claiming
    2^31 images, an .npz member whose header claims more than the zip holds (a lying zip bomb),
    a real compressed bomb (gzip of 64 MiB of zeros given as an IDX file), and what the fuzzing
    below found."""
    cases = {
        "npy 10^12 elements": (read_user_file, "x.npy",
                               npy_with_header((10**12,), "<f8", b"\0" * 64)),
        "IDX 2^31 images": (read_idx, "images-idx3-ubyte",
                            b"\0\0\x08\x03" + struct.pack(">3I", 2**31 - 1, 28, 28) + b"\0" * 64),
        "IDX.gz 2^31 images": (read_idx, "images-idx3-ubyte.gz", gzip.compress(
            b"\0\0\x08\x03" + struct.pack(">3I", 2**31 - 1, 28, 28) + b"\0" * 4096)),
        "npz lying header": (read_user_file, "x.npz", _lying_npz()),
        # found by this file's fuzzing: numpy read the declared header (16 MiB) before its limit
        "npy 16 MiB header": (read_user_file, "x.npy", b"\x93NUMPY\x02\x00\x00\x00\x00\x01"),
        "IDX.gz bomb": (read_idx, "labels-idx1-ubyte.gz", gzip.compress(
            b"\0\0\x08\x01" + struct.pack(">I", 1000) + b"\0" * (64 << 20))),
    }
    for label, (reader, name, data) in cases.items():
        assert refused_or_read(reader, name.split(".")[0], data,
                               name[len(name.split(".")[0]):], label), label


def _lying_npz() -> bytes:
    """An uncompressed .npz whose x header is rewritten to claim 10^12 float64 (same length)."""
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((10, 1)))
    data = buf.getvalue()
    old = b"'shape': (10, 1), }"
    new = b"'shape': (1000000000000, 1), }"
    start = data.index(old)
    end = start + len(old)
    pad = data.index(b"\n", end) - end
    assert pad >= len(new) - len(old)
    return data[:start] + new + data[end + len(new) - len(old):]


# --- .rosetta anchor files ----------------------------------------------------------------

def _anchor_bytes() -> bytes:
    rng = np.random.default_rng(2)
    x, z = rng.random((4, 3)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    anchor_file = make_anchor_file(x, z, selection={"method": "kmeans"}, source={"test": 1})
    with tempfile.TemporaryDirectory() as tmp:
        return write_anchor_file(anchor_file, Path(tmp) / "a.rosetta").read_bytes()


VALID_ANCHORS = _anchor_bytes()


@FUZZ
@given(data=mutations(VALID_ANCHORS))
def test_fuzz_anchor_file(data):
    refused_or_read(read_anchor_file, "a", data, ".rosetta", ".rosetta")


@FUZZ
@given(header_len=st.integers(0, 2**64 - 1), body=st.binary(max_size=256))
def test_fuzz_anchor_file_header_length(header_len, body):
    """safetensors' first 8 bytes declare the JSON header's length: up to 2^64 - 1."""
    refused_or_read(read_anchor_file, "a", struct.pack("<Q", header_len) + body, ".rosetta",
                    ".rosetta")


# --- MNIST IDX and pickle ---------------------------------------------------------------------

VALID_IDX = b"\0\0\x08\x03" + struct.pack(">3I", 3, 28, 28) + bytes(range(256)) * 9 + b"\0" * 48


@FUZZ
@given(data=mutations(VALID_IDX), gz=st.booleans())
def test_fuzz_idx(data, gz):
    refused_or_read(read_idx, "images-idx3-ubyte", gzip.compress(data) if gz else data,
                    ".gz" if gz else "", "MNIST IDX")


@FUZZ
@given(dims=st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4),
       payload=st.binary(max_size=256))
def test_fuzz_idx_declared_dims(dims, payload):
    data = b"\0\0\x08" + bytes([len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload
    refused_or_read(read_idx, "images-idx3-ubyte", data, "", "MNIST IDX")


def _mnist_pickle() -> bytes:
    x = np.random.default_rng(3).random((10, 784)).astype(np.float32)
    y = np.arange(10, dtype=np.int64)
    return gzip.compress(pickle.dumps(((x, y), (x, y), (x, y)), protocol=2))


VALID_PICKLE = _mnist_pickle()


@FUZZ
@given(data=mutations(VALID_PICKLE))
def test_fuzz_mnist_pickle(data):
    refused_or_read(lambda p: read_mnist_pickle(p.read_bytes()), "mnist", data, ".pkl.gz",
                    "mnist.pkl.gz")


# --- spec TOML --------------------------------------------------------------------------------

RUN_KEYS = ["protocol", "methods", "seeds", "epochs", "rosetta_points", "rho", "beta",
            "latent_dim", "plugins", "metrics", "lr", "ensemble", "subsample"]
PLAUSIBLE = st.sampled_from([0, 1, 2, 3, -1, 0.5, -0.5, 1e10, "vae", "rvae", "sequential",
                             "reproducibility", "continual", "k", "rho", "lsd", "ewc",
                             "replay:mem_size=-5", "", ["vae", "rvae"], ["rvae"], [1, 2],
                             [[1], [2]], ["ewc"], [], [0.0, 1.0], True])
TOML_VALUES = st.one_of(PLAUSIBLE, PLAUSIBLE, st.recursive(
    st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(),
              st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=4), max_leaves=8))


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


RUN = st.dictionaries(st.sampled_from(RUN_KEYS), TOML_VALUES, max_size=5)


@FUZZ
@given(benchmark=st.sampled_from(["gaussians8", "digits", "nope", 5, ["gaussians8"]]),
       run=RUN, quick=RUN, paper=st.dictionaries(st.sampled_from(["k=1 D1", "D1", "RV"]),
                                                  TOML_VALUES, max_size=2),
       vary_field=st.sampled_from([None, "rosetta_points", "rho", "plugins", "methods", "nope"]),
       vary_values=TOML_VALUES, quick_values=st.one_of(st.none(), TOML_VALUES),
       top=st.dictionaries(st.sampled_from(["title", "description"]), TOML_VALUES, max_size=2))
def test_fuzz_spec(benchmark, run, quick, paper, vary_field, vary_values, quick_values, top):
    """Specs of random structure and values: load_spec, then each config resolved (everything a
    spec run checks before it trains)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    lines += ["[run]", f"benchmark = {toml_value(benchmark)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in run.items()]
    if vary_field:
        lines += ["[vary]", f'field = "{vary_field}"', f"values = {toml_value(vary_values)}"]
    lines += ["[quick]"] + [f"{k} = {toml_value(v)}" for k, v in quick.items()]
    if quick_values is not None:
        lines.append(f"values = {toml_value(quick_values)}")
    lines += ["[paper.values.rvae]"] + [f'"{k}" = {toml_value(v)}' for k, v in paper.items()]
    refused_or_read(_load_and_resolve, "spec", "\n".join(lines).encode(), ".toml", "spec TOML")


@FUZZ
@given(data=mutations((Path(__file__).parents[1] / "rosetta_cl" / "paper_specs" /
                       "table2_sequential_gaussians8.toml").read_bytes()))
def test_fuzz_spec_bytes(data):
    refused_or_read(_load_and_resolve, "spec", data, ".toml", "spec TOML")


def _load_and_resolve(path: Path) -> None:
    from rosetta_cl.config.options import resolve
    from rosetta_cl.protocols import PROTOCOLS
    from rosetta_cl.registry import BENCHMARKS, METHODS, METRICS

    spec = load_spec(path)
    for quick in (False, True):
        for _, config in spec.configs(quick):
            resolve(config, BENCHMARKS, METHODS, PROTOCOLS, METRICS)


@pytest.fixture(scope="module", autouse=True)
def report_peaks():
    """The worst refused file per reader, printed with -s (the closing note quotes them)."""
    yield
    for label, (peak, size) in sorted(PEAKS.items()):
        print(f"\nworst refused {label}: peak {peak} bytes traced for a {size}-byte file")


# --- AnnData .h5ad ----------------------------------------------------------------------------

DENSE_BUDGET = 16 << 20  # the dense matrix a fuzzed .h5ad may claim (the memory check's cap here)


def _h5ad(sparse: bool) -> bytes:
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    x = np.random.default_rng(3).poisson(1.0, size=(12, 5)).astype(np.float32)
    adata = anndata.AnnData(X=sp.csr_matrix(x) if sparse else x,
                            obs=pd.DataFrame({"batch": list("AB") * 6},
                                             index=[f"c{i}" for i in range(12)]),
                            var=pd.DataFrame(index=[f"g{j}" for j in range(5)]))
    with tempfile.TemporaryDirectory() as tmp:
        adata.write_h5ad(Path(tmp) / "a.h5ad")
        return (Path(tmp) / "a.h5ad").read_bytes()


VALID_H5AD_DENSE, VALID_H5AD_SPARSE = _h5ad(False), _h5ad(True)


@FUZZ
@given(data=st.one_of(mutations(VALID_H5AD_DENSE), mutations(VALID_H5AD_SPARSE)))
def test_fuzz_h5ad(data):
    """A mutated .h5ad: a one-line error or its rows; with the memory check capped at
    DENSE_BUDGET, nothing bigger than that (plus the file) is allocated."""
    import psutil

    from rosetta_cl.data import anndata_file
    from rosetta_cl.data.user_data import user_benchmark  # noqa: F401  (imports outside the trace)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(anndata_file, "MEMORY_SHARE",
                      DENSE_BUDGET / psutil.virtual_memory().available)
        refused_or_read(anndata_file.read_h5ad, "atlas", data, ".h5ad", ".h5ad",
                        allowance=DENSE_BUDGET)
