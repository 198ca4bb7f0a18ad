"""A lab's own arrays as a benchmark: ``rosetta-cl run --data FILE [--split-by RULE]``.

The file is a ``.npy`` (the inputs), a ``.npz`` with ``x`` (inputs: (N, D) vectors or
(N, H, W) / (N, C, H, W) images) and optionally ``y`` (labels), ``part`` (the experience of
each row, 0, 1, ...) and ``features`` (D names), read without pickle; or an AnnData ``.h5ad``
(``anndata_file``: its own ``obs:`` split rules). The D1 | D2 (| D3 ...) split of an array file
comes from ``--split-by``:

- ``part``: the file's ``part`` array (the default when the file has one);
- ``label:0,1,2|3,4``: experiences by label sets (needs ``y``), ``|`` between experiences;
- ``half``: seeded random halves (the paper's 3D Chairs split).

Then every experience is split 60/40 into train and validation, as for the built-in benchmarks.
The file's defaults (likelihood, latent size, k) come from ``user_defaults.derive_defaults``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from rosetta_cl.data.anndata_file import is_h5ad, obs_split, read_h5ad
from rosetta_cl.data.defaults import USER_DATA
from rosetta_cl.data.file_checks import check_npy_file, check_npz_file
from rosetta_cl.data.streams import make_benchmark
from rosetta_cl.data.user_defaults import derive_defaults
from rosetta_cl.errors import ConfigError

NAME = USER_DATA
MEMBERS = ("x", "y", "part", "features")  # the arrays of a data file we read


def read_user_arrays(path: str | Path, layer: str | None = None,
                     obsm: str | None = None) -> np.ndarray:
    """Inputs from a user's ``.npy`` or ``.npz`` (array ``x``), read without pickle; what the
    file declares is checked before anything is allocated (``file_checks``). An ``.h5ad``: its
    ``X``, ``layer`` or ``obsm`` matrix (``anndata_file.read_h5ad``)."""
    path = Path(path)
    if is_h5ad(path):
        return read_h5ad(path, layer, obsm).x
    if layer or obsm:
        raise ConfigError(f"--layer / --obsm: data file {path} is not an .h5ad (they choose an "
                          "AnnData matrix)")
    if path.is_dir():
        raise ConfigError(f"data file {path} is a directory; allowed: a .npy file, or a .npz "
                          "with an array x")
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist")
    magic = _magic(path)
    if magic.startswith(b"PK"):
        check_npz_file(path, MEMBERS)
    elif magic == b"\x93NUMPY":
        check_npy_file(path)
    else:
        raise ConfigError(f"data file {path}: not a .npy/.npz file (no .npy header; pickled "
                          "files are never loaded); save the arrays with np.save / np.savez")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if "x" not in loaded.files:
                    raise ConfigError(f"data file {path}: no array x in it (has "
                                      f"{', '.join(loaded.files) or 'nothing'})")
                x = loaded["x"]
        else:
            x = loaded
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001  (numpy, zipfile and zlib raise many types)
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ConfigError(f"data file {path}: cannot read it as .npy/.npz without pickle "
                          f"({reason})") from None
    x = np.asarray(x)
    if not 2 <= x.ndim <= 4 or len(x) == 0:
        raise ConfigError(f"data file {path}: x has shape {x.shape}; allowed (N, D) vectors or "
                          "(N, H, W) / (N, C, H, W) images, N >= 1")
    numeric = np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
    if not numeric:
        raise ConfigError(f"data file {path}: x must be finite numbers (non-numeric {x.dtype} "
                          "found)")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.nonzero(~np.isfinite(x.reshape(len(x), -1)))
        raise ConfigError(f"data file {path}: x must be finite numbers (NaN/inf at row "
                          f"{int(bad[0][0])}, column {int(bad[1][0])}; {len(bad[0])} in all)")
    if x.dtype.itemsize > 4 and np.issubdtype(x.dtype, np.floating):
        biggest = max(float(x.max()), -float(x.min()))
        if biggest > np.finfo(np.float32).max:
            raise ConfigError(f"data file {path}: x has values beyond float32's range "
                              f"(|x| max {biggest:.3g})")
    return x.astype(np.float32)


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(6)


def read_user_file(path: str | Path) -> dict[str, np.ndarray]:
    """x (float32, finite, N >= 2) and the optional y / part arrays of a user's file."""
    path = Path(path)
    x = read_user_arrays(path)
    arrays = {"x": x}
    if _magic(path).startswith(b"PK"):  # an .npz (whatever the file's name says)
        with np.load(path, allow_pickle=False) as f:
            for key in ("y", "part"):
                if key in f.files:
                    try:
                        a = np.asarray(f[key])
                    except Exception as exc:  # noqa: BLE001  (a corrupted member)
                        raise ConfigError(f"data file {path}: cannot read {key} ("
                                          f"{type(exc).__name__})") from None
                    if a.shape != (len(x),) or not np.issubdtype(a.dtype, np.integer):
                        raise ConfigError(f"data file {path}: {key} must be {len(x)} integers "
                                          f"(one per row of x), got {a.dtype} {a.shape}")
                    arrays[key] = a.astype(np.int64)
            if "features" in f.files:
                arrays["features"] = _features(f, path, math.prod(x.shape[1:]))
    return arrays


def _features(f, path, width: int) -> np.ndarray:
    """An ``.npz``'s optional ``features``: one distinct name per input column."""
    try:
        names = np.asarray(f["features"])
    except Exception as exc:  # noqa: BLE001  (a corrupted member, or pickled objects)
        raise ConfigError(f"data file {path}: cannot read features ({type(exc).__name__}); "
                          "save them as a string array") from None
    if names.dtype.kind not in "US" or names.shape != (width,):
        raise ConfigError(f"data file {path}: features must be {width} strings (one per input "
                          f"column), got {names.dtype} {names.shape}")
    names = names.astype(str)
    if len(set(names.tolist())) != width:
        raise ConfigError(f"data file {path}: features has repeated names")
    return names


def split_rule(rule: str | None, arrays: dict, seed: int, path) -> tuple[dict, np.ndarray]:
    """The rows kept (``label:`` leaves out rows in no set) and the experience of each."""
    n = len(arrays["x"])
    rule = rule or ("part" if "part" in arrays else None)
    allowed = "part, label:A|B (comma lists of labels), half"
    if rule is None:
        raise ConfigError(f"data file {path} has no part array: give --split-by ({allowed})")
    if rule == "part":
        if "part" not in arrays:
            raise ConfigError(f"--split-by part: data file {path} has no part array")
        part = arrays["part"]
    elif rule == "half":
        part = halves(n, seed)
    elif rule.startswith("label:"):
        if "y" not in arrays:
            raise ConfigError(f"--split-by {rule}: data file {path} has no y (labels) array")
        part = np.full(n, -1, dtype=np.int64)
        try:
            groups = [[int(v) for v in g.split(",") if v.strip()] for g in rule[6:].split("|")]
        except ValueError:
            raise ConfigError(f"--split-by {rule!r}: labels must be integers; allowed "
                              f"{allowed}") from None
        if len(groups) < 2:
            raise ConfigError(f"--split-by {rule!r}: give at least two label sets (A|B; quote "
                              "the rule, or the shell reads | as a pipe)")
        seen: dict[int, int] = {}
        for i, labels in enumerate(groups):
            for label in labels:
                if label in seen:
                    raise ConfigError(f"--split-by {rule!r}: label {label} is in sets "
                                      f"{seen[label] + 1} and {i + 1}; allowed: each label in "
                                      "one set")
                seen[label] = i
        present = set(np.unique(arrays["y"]).tolist())
        missing = [label for label in seen if label not in present]
        if missing:
            raise ConfigError(f"--split-by {rule!r}: label {missing[0]} is not in {path}'s y "
                              f"(its labels: {_labels(present)})")
        for i, labels in enumerate(groups):
            part[np.isin(arrays["y"], labels)] = i
        keep = part >= 0  # rows whose label is in no set are left out
        arrays = {k: v[keep] for k, v in arrays.items()}
        part = part[keep]
        n_groups = len(groups)
    else:
        raise ConfigError(f"--split-by {rule!r}: allowed {allowed}")
    if not rule.startswith("label:"):
        n_groups = int(part.max()) + 1 if len(part) else 0
    check_experiences(rule, part, n_groups)
    return arrays, part


def halves(n: int, seed: int) -> np.ndarray:
    """``--split-by half``: seeded random halves (the paper's 3D Chairs split)."""
    part = np.zeros(n, dtype=np.int64)
    part[np.random.default_rng(seed).permutation(n)[n // 2 :]] = 1
    return part


def check_experiences(rule: str, part: np.ndarray, n_groups: int) -> None:
    """At least two experiences, each with the 5 rows its 60/40 train/validation split needs."""
    counts = np.bincount(part, minlength=n_groups) if len(part) else np.zeros(n_groups, int)
    if len(counts) < 2:
        raise ConfigError(f"--split-by {rule}: gives {len(counts)} experience(s); need >= 2")
    for i, c in enumerate(counts):
        if c < 5:
            raise ConfigError(f"--split-by {rule}: experience D{i + 1} has {c} rows; each needs"
                              " >= 5 (for its 60/40 train/validation split)")


def _labels(present: set[int], most: int = 20) -> str:
    values = sorted(present)
    text = ", ".join(map(str, values[:most]))
    return text + (f", ... ({len(values)} in all)" if len(values) > most else "")


def user_benchmark(path, split_by=None, seed: int = 0, subsample: int | None = None,
                   layer: str | None = None, obsm: str | None = None, whole: bool = False,
                   features: tuple[str, ...] | None = None):
    """A user's file as a benchmark: its experiences by ``split_by`` (``whole``: one experience
    of every row, what ``rosetta-cl train`` trains on). ``features``: the columns a model needs,
    in its order (a registered version's); the file's are reordered to them (``in_order``)."""
    if whole and split_by:
        raise ConfigError(f"--split-by {split_by!r}: training on a whole file takes no split")
    table = read_h5ad(path, layer, obsm) if is_h5ad(path) else None
    file_features: tuple[str, ...] | np.ndarray | None
    if table is not None:
        arrays, file_features = {"x": table.x}, table.features
    else:
        if layer or obsm:
            raise ConfigError(f"--layer / --obsm: data file {path} is not an .h5ad (they choose "
                              "an AnnData matrix)")
        arrays = read_user_file(path)
        file_features = arrays.pop("features", None)
    if whole:
        part = np.zeros(len(arrays["x"]), dtype=np.int64)
    elif table is not None:
        arrays, part = _h5ad_split(split_by, table, seed, path)
    else:
        arrays, part = split_rule(split_by, arrays, seed, path)
    x = arrays["x"]
    if features is not None:
        x = in_order(x, features, file_features, path)
        file_features = features
    y = arrays.get("y", np.zeros(len(x), dtype=np.int64))
    parts = tuple(f"D{i + 1}" for i in range(int(part.max()) + 1))
    derived = derive_defaults(x, part)
    flat = x.reshape(len(x), math.prod(x.shape[1:]))
    bench = make_benchmark(NAME, flat, y, part, seed, parts, derived.defaults,
                           f"user data {Path(path).name}", subsample)
    return replace(bench, derived_defaults=derived.describe(),
                   features=tuple(file_features) if file_features is not None else None)


def in_order(x: np.ndarray, wanted: tuple[str, ...], have, path) -> np.ndarray:
    """The columns of ``x`` (named ``have``) as ``wanted`` names and orders them; extra columns
    are dropped, a missing one is refused (a model fed features in another order, or others,
    would embed nonsense without a word)."""
    if have is None:
        raise ConfigError(f"data file {path} has {x.shape[1]} unnamed columns; the model reads "
                          f"{len(wanted)} named features ({', '.join(wanted[:3])}, ...), matched "
                          "by name: give the file a column for each of those names (.h5ad "
                          "var_names, or a features array in .npz)")
    position = {name: i for i, name in enumerate(have)}
    missing = [name for name in wanted if name not in position]
    if missing:
        shown = ", ".join(missing[:5]) + (f", ... ({len(missing)} in all)"
                                          if len(missing) > 5 else "")
        raise ConfigError(f"data file {path} lacks {len(missing)} of the model's "
                          f"{len(wanted)} features: {shown}")
    flat = x.reshape(len(x), -1)
    return np.ascontiguousarray(flat[:, [position[name] for name in wanted]])


def _h5ad_split(rule, table, seed: int, path) -> tuple[dict, np.ndarray]:
    """An ``.h5ad``'s experiences: ``obs:`` rules (``anndata_file.obs_split``) or ``half``."""
    allowed = "obs:COLUMN=A,B|C,D (sets of an obs column's values), obs:COLUMN, half"
    if rule == "half":
        part = halves(len(table.x), seed)
    elif rule and rule.startswith("obs:"):
        part, _ = obs_split(rule, table, path)
    else:
        raise ConfigError(f"--split-by {rule!r} for {path}: allowed {allowed}" if rule else
                          f"data file {path} needs --split-by ({allowed})")
    keep = part >= 0  # rows whose value is in no set are left out
    part = part[keep]
    check_experiences(rule, part, int(part.max()) + 1 if len(part) else 0)
    return {"x": table.x[keep]}, part
