"""A lab's AnnData file (``.h5ad``) as data: ``rosetta-cl run atlas.h5ad --split-by obs:...``.

Read through the optional ``anndata`` package (``pip install 'rosetta-cl[anndata]'``), with ``X``
opened backed (on disk): the matrix is ``X`` (default), a layer (``--layer NAME``) or an ``obsm``
entry (``--obsm KEY``), dense or sparse (CSR/CSC). It is densified into float32 a block of rows at
a time, after a memory check that names the size. Features are the ``var_names`` (an ``obsm``
matrix's are its column numbers). The experiences come from ``--split-by``:

- ``obs:COLUMN=A,B|C,D``: by sets of the column's values (``|`` between experiences);
- ``obs:COLUMN``: one experience per value, in sorted order;
- ``half``: seeded random halves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta_cl.errors import ConfigError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
BLOCK_ROWS = 4096  # rows densified at a time
MEMORY_SHARE = 0.5  # at most this share of the available memory for the dense matrix


@dataclass
class AnnArrays:
    """What a ``.h5ad`` gives a run: the inputs, their feature names and the ``obs`` table."""

    x: np.ndarray  # (N, D) float32, finite
    features: tuple[str, ...]  # D names
    obs: dict[str, np.ndarray]  # column -> (N,) values as strings
    obs_names: tuple[str, ...]  # N row names


def is_h5ad(path: str | Path) -> bool:
    """Whether ``path`` is meant as AnnData: named ``.h5ad``, or an HDF5 file by its signature."""
    return str(path).endswith(".h5ad") or _hdf5(path)


def _hdf5(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def read_h5ad(path: str | Path, layer: str | None = None, obsm: str | None = None) -> AnnArrays:
    """The matrix (``X``, ``layer`` or ``obsm``) of a ``.h5ad`` as float32 rows, checked."""
    path = Path(path)
    what = f"data file {path}"
    if not path.is_file():
        raise ConfigError(f"{what} does not exist")
    if layer and obsm:
        raise ConfigError(f"--layer {layer!r} and --obsm {obsm!r}: give at most one (the matrix "
                          "read is X, a layer or an obsm entry)")
    if not _hdf5(path):
        raise ConfigError(f"{what}: not an HDF5 file (an .h5ad is one; write it with "
                          "AnnData.write_h5ad)")
    try:
        import anndata
    except ImportError:
        raise ConfigError(f"{what}: reading .h5ad needs the anndata package: pip install "
                          "'rosetta-cl[anndata]'") from None
    try:
        adata = anndata.read_h5ad(path, backed="r")
    except Exception as exc:  # noqa: BLE001  (h5py and anndata raise many types)
        raise ConfigError(f"{what}: not a readable .h5ad ({_first(exc)})") from None
    try:
        if layer:
            if layer not in adata.layers:
                raise ConfigError(f"--layer {layer!r}: {path} has layers "
                                  f"{_names(adata.layers.keys())}")
            matrix, features = adata.layers[layer], tuple(map(str, adata.var_names))
        elif obsm:
            if obsm not in adata.obsm:
                raise ConfigError(f"--obsm {obsm!r}: {path} has obsm "
                                  f"{_names(adata.obsm.keys())}")
            matrix = adata.obsm[obsm]
            matrix = matrix.to_numpy() if hasattr(matrix, "to_numpy") else matrix
            features = tuple(str(i) for i in range(matrix.shape[1]))
        else:
            if adata.X is None:
                raise ConfigError(f"{what}: X is empty; give --layer NAME or --obsm KEY")
            matrix, features = adata.X, tuple(map(str, adata.var_names))
        n, d = int(matrix.shape[0]), int(matrix.shape[1]) if len(matrix.shape) == 2 else 0
        if n < 1 or d < 1:
            raise ConfigError(f"{what}: the matrix read is {tuple(matrix.shape)}; need rows x "
                              "features, both >= 1")
        _check_memory(n, d, what)
        x = np.empty((n, d), dtype=np.float32)
        for start in range(0, n, BLOCK_ROWS):
            block = matrix[start:start + BLOCK_ROWS]
            block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
            if not np.issubdtype(block.dtype, np.number):
                raise ConfigError(f"{what}: the matrix holds non-numbers ({block.dtype})")
            if not np.isfinite(block).all():
                raise ConfigError(f"{what}: the matrix has NaN or inf "
                                  f"{_where_not_finite(block, start, features)}")
            x[start:start + len(block)] = block
        obs = {str(c): adata.obs[c].astype(str).to_numpy() for c in adata.obs.columns}
        return AnnArrays(x, features, obs, tuple(map(str, adata.obs_names)))
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001  (a damaged file fails in h5py, anndata, pandas)
        raise ConfigError(f"{what}: not a readable .h5ad ({_first(exc)})") from None
    finally:
        if getattr(adata, "file", None) is not None:
            adata.file.close()


def _check_memory(n: int, d: int, what: str) -> None:
    import psutil

    need = n * d * 4
    available = psutil.virtual_memory().available
    if need > MEMORY_SHARE * available:
        raise ConfigError(f"{what}: the dense float32 matrix needs {need / 2**30:.1f} GiB; "
                          f"{available / 2**30:.1f} GiB are available (allowed: half of it); "
                          "subsample the file or give a smaller --obsm representation")


def obs_split(rule: str, data: AnnArrays, path) -> tuple[np.ndarray, tuple[str, ...]]:
    """The experience of every row (-1: in no set) and the experiences' names."""
    allowed = "obs:COLUMN=A,B|C,D, obs:COLUMN, half"
    spec = rule[len("obs:"):]
    column, _, sets = spec.partition("=")
    if column not in data.obs:
        raise ConfigError(f"--split-by {rule!r}: {path} has no obs column {column!r} (its "
                          f"columns: {_names(data.obs)}); allowed {allowed}")
    values = data.obs[column]
    present = sorted(set(values.tolist()))
    if not sets:
        groups = [[v] for v in present]
    else:
        groups = [[v.strip() for v in g.split(",") if v.strip()] for g in sets.split("|")]
        if len(groups) < 2 or not all(groups):
            raise ConfigError(f"--split-by {rule!r}: give at least two non-empty value sets "
                              "(A|B; quote the rule, or the shell reads | as a pipe)")
    seen: dict[str, int] = {}
    for i, group in enumerate(groups):
        for value in group:
            if value in seen:
                raise ConfigError(f"--split-by {rule!r}: value {value!r} is in sets "
                                  f"{seen[value] + 1} and {i + 1}; allowed: each in one set")
            if value not in present:
                raise ConfigError(f"--split-by {rule!r}: value {value!r} is not in obs column "
                                  f"{column!r} (its values: {_names(present)})")
            seen[value] = i
    part = np.full(len(values), -1, dtype=np.int64)
    for i, group in enumerate(groups):
        part[np.isin(values, group)] = i
    return part, tuple(",".join(g) for g in groups)


def _names(names, most: int = 12) -> str:
    names = [str(n) for n in names]
    if not names:
        return "(none)"
    text = ", ".join(names[:most])
    return text + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _where_not_finite(block: np.ndarray, start: int, features) -> str:
    """Where a block's first NaN / inf is, and how many there are: ``at row 3 (cell 'c3'),
    column 'g1' (2 values)``, rows counted from the file's first."""
    rows, cols = np.nonzero(~np.isfinite(block))
    row, col = int(rows[0]), int(cols[0])
    name = f" {features[col]!r}" if features is not None and col < len(features) else ""
    count = f"{len(rows)} values in this block" if len(rows) > 1 else "1 value"
    return f"at row {start + row}, column {col}{name} ({count})"
