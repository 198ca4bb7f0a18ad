"""The portable anchor file (``.rosetta``): Rosetta points that travel between labs.

Format (version 1): a `safetensors <https://github.com/huggingface/safetensors>`_ file, which
holds raw arrays behind a JSON header and cannot carry code. Tensors: ``x`` (k, *input_shape)
float32, the anchor inputs, and ``z`` (k, latent_dim) float32, their latent means in the
template's space. Header metadata (strings): ``format`` = ``rosetta-anchors``,
``format_version`` = ``1`` and ``info``, a JSON object with

- ``k``, ``latent_dim``, ``input_shape``, ``dtype``;
- ``selection``: how the anchors were chosen (``method``, ``k``, ``seed``);
- ``template``: the template model's config (architecture, sizes, likelihood);
- ``source``: where the data came from, with ``fingerprint``, the SHA-256 of the clustered data;
- ``rosetta_cl_version``, ``created`` (UTC, ISO 8601), ``merged_from`` (checksums, for merges);
- ``checksum``: SHA-256 over both arrays (shape, dtype and bytes).

:func:`read_anchor_file` validates all of it and raises a one-line :class:`ConfigError` for a
file that is truncated or not safetensors, of another format or an unknown version, whose
arrays do not match the metadata or the checksum, or that holds NaN/inf.
:func:`check_fits` refuses anchors that do not fit a model (input size, latent dimension).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.errors import ConfigError
from rosetta_cl.version import __version__

FORMAT = "rosetta-anchors"
FORMAT_VERSION = 1
SUFFIX = ".rosetta"


def array_checksum(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def fingerprint(data) -> str:
    """SHA-256 of a dataset's array (what the anchors were selected from)."""
    a = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    return array_checksum(a.astype(np.float32, copy=False))


@dataclass
class AnchorFile:
    """Anchors plus the metadata that says where they came from."""

    x: np.ndarray  # (k, *input_shape) float32
    z: np.ndarray  # (k, latent_dim) float32
    selection: dict = field(default_factory=dict)
    template: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    created: str = ""
    rosetta_cl_version: str = ""
    merged_from: list = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.z)

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def checksum(self) -> str:
        return array_checksum(self.x, self.z)

    def anchors(self) -> Anchors:
        """As training anchors: x flattened to (k, prod(input_shape)), as the models take it."""
        return Anchors(torch.from_numpy(self.x.reshape(self.k, -1).copy()),
                       torch.from_numpy(self.z.copy()))

    def info(self) -> dict:
        return {"k": self.k, "latent_dim": self.latent_dim, "input_shape": list(self.input_shape),
                "dtype": "float32", "selection": self.selection, "template": self.template,
                "source": self.source, "rosetta_cl_version": self.rosetta_cl_version,
                "created": self.created, "merged_from": self.merged_from,
                "checksum": self.checksum}

    def summary(self) -> dict:
        """Metadata plus the spread of z_r (per-dimension std, norms)."""
        z = self.z.astype(np.float64)
        norms = np.linalg.norm(z, axis=1)
        return {**self.info(), "format_version": FORMAT_VERSION,
                "z_std_per_dim": [round(float(v), 6) for v in z.std(0)],
                "z_norm": {"min": float(norms.min()), "median": float(np.median(norms)),
                           "max": float(norms.max())}}


def make_anchor_file(x, z, *, input_shape=None, selection=None, template=None,
                     source=None) -> AnchorFile:
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float32)
    if input_shape is not None:
        x = x.reshape(len(x), *input_shape)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return AnchorFile(x, z, dict(selection or {}), dict(template or {}), dict(source or {}),
                      created, __version__)


def write_anchor_file(anchor_file: AnchorFile, path: str | Path) -> Path:
    """Write atomically (a temp file renamed into place): an existing file is never left
    half-written."""
    from safetensors.numpy import save_file

    path = Path(path)
    _check_arrays(anchor_file.x, anchor_file.z, str(path))
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "info": json.dumps(anchor_file.info(), sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({"x": np.ascontiguousarray(anchor_file.x),
                   "z": np.ascontiguousarray(anchor_file.z)}, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_anchor_file(path: str | Path) -> AnchorFile:
    from safetensors import safe_open

    path = Path(path)
    name = f"anchor file {path}"
    if not path.is_file():
        raise ConfigError(f"{name} does not exist")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            keys = set(f.keys())
            arrays = {k: f.get_tensor(k) for k in keys & {"x", "z"}}
    except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types)
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ConfigError(f"{name} is not a readable anchor file (truncated, or not a "
                          f"safetensors file: {reason})") from None
    if metadata.get("format") != FORMAT:
        raise ConfigError(f"{name}: format {metadata.get('format')!r} is not {FORMAT!r}")
    version = metadata.get("format_version")
    if version != str(FORMAT_VERSION):
        raise ConfigError(f"{name}: unknown format version {version!r}; this rosetta-cl reads "
                          f"version {FORMAT_VERSION}")
    if keys != {"x", "z"}:
        raise ConfigError(f"{name}: holds arrays {sorted(keys)}; expected exactly x and z")
    try:
        info = json.loads(metadata.get("info", ""))
        expected_x = (int(info["k"]), *(int(s) for s in info["input_shape"]))
        expected_z = (int(info["k"]), int(info["latent_dim"]))
        checksum = str(info["checksum"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{name}: its metadata is missing or malformed") from None
    x, z = arrays["x"], arrays["z"]
    for label, array, shape in (("x", x, expected_x), ("z", z, expected_z)):
        if array.dtype != np.float32 or array.shape != shape:
            raise ConfigError(f"{name}: array {label} is {array.dtype} {array.shape}; its metadata"
                              f" says float32 {shape}")
    if array_checksum(x, z) != checksum:
        raise ConfigError(f"{name}: checksum mismatch (the arrays were changed after writing)")
    _check_arrays(x, z, name)
    return AnchorFile(x, z, info.get("selection", {}), info.get("template", {}),
                      info.get("source", {}), info.get("created", ""),
                      info.get("rosetta_cl_version", ""), info.get("merged_from", []))


def _check_arrays(x: np.ndarray, z: np.ndarray, name: str) -> None:
    if z.ndim != 2 or x.ndim < 2 or len(x) != len(z) or len(z) == 0:
        raise ConfigError(f"{name}: x {x.shape} and z {z.shape} do not describe k >= 1 anchors")
    if not (np.isfinite(x).all() and np.isfinite(z).all()):
        raise ConfigError(f"{name}: holds NaN or inf values")


def check_fits(anchor_file: AnchorFile, input_dim: int, latent_dim: int, what: str) -> None:
    """Refuse anchors a model with ``input_dim`` inputs and ``latent_dim`` latents cannot use."""
    if math.prod(anchor_file.input_shape) != input_dim:
        raise ConfigError(f"anchors of input shape {anchor_file.input_shape} do not fit {what} "
                          f"({input_dim} inputs)")
    if anchor_file.latent_dim != latent_dim:
        raise ConfigError(f"anchors with latent dim {anchor_file.latent_dim} do not fit {what} "
                          f"(latent dim {latent_dim}); use --latent-dim {anchor_file.latent_dim}")


def merge_anchor_files(files: list[AnchorFile], names: list[str], atol: float = 1e-5) -> AnchorFile:
    """Concatenate anchor sets that share a latent space. Refuses sets of different input shape
    or latent dimension, and sets that give the same input two different latent targets."""
    first = files[0]
    for other, name in zip(files[1:], names[1:], strict=True):
        if other.input_shape != first.input_shape or other.latent_dim != first.latent_dim:
            raise ConfigError(f"cannot merge {name} (input shape {other.input_shape}, latent dim "
                              f"{other.latent_dim}) with {names[0]} (input shape "
                              f"{first.input_shape}, latent dim {first.latent_dim})")
    x = np.concatenate([f.x for f in files])
    z = np.concatenate([f.z for f in files])
    flat = x.reshape(len(x), -1)
    _, first_index, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not np.allclose(z, z[first_index][inverse], atol=atol):
        raise ConfigError("cannot merge: the same anchor input has different latent targets in "
                          f"{', '.join(names)} (they are not in one latent space)")
    keep = np.sort(first_index)  # drop exact duplicates, keep the order of first appearance
    merged = make_anchor_file(x[keep], z[keep], template=first.template)
    merged.selection = {"method": "merge", "k": len(keep)}
    merged.source = {"merged": [f.source for f in files]}
    merged.merged_from = [{"file": n, "checksum": f.checksum, "k": f.k}
                          for f, n in zip(files, names, strict=True)]
    return merged


def select_anchor_file(model, x, k: int, *, seed: int = 0, method: str = "kmeans",
                       source: dict | None = None) -> AnchorFile:
    """Encode ``x`` with ``model``, select k Rosetta points, and package them with metadata."""
    from dataclasses import asdict

    from rosetta_cl.anchors.points import select_rosetta_points
    from rosetta_cl.models.vae import encode_means

    x = torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(len(x), -1)
    z = encode_means(model, x).cpu()
    selection = select_rosetta_points(z, k, seed=seed, method=method)
    shape = model.config.image_shape or (model.config.input_dim,)
    return make_anchor_file(
        x[selection.indices], z[selection.indices], input_shape=shape,
        selection={"method": method, "k": int(k), "seed": int(seed),
                   "inertia": selection.inertia},
        template={k_: (list(v) if isinstance(v, tuple) else v)
                  for k_, v in asdict(model.config).items()},
        source={**(source or {}), "n": len(x), "fingerprint": fingerprint(x)})


def select_for_model(model, x, k: int, *, seed: int = 0, method: str = "kmeans",
                     source: dict | None = None) -> AnchorFile:
    """``rosetta-cl anchors select``: the data must fit the model (one line naming both widths
    if not), then ``select_anchor_file``, checked against the model it will anchor."""
    width = int(np.prod(x.shape[1:]))
    if width != model.config.input_dim:
        raise ConfigError(f"data of shape {tuple(x.shape[1:])} ({width} inputs) does not fit the "
                          f"model ({model.config.input_dim} inputs)")
    anchor_file = select_anchor_file(model, x, k, seed=seed, method=method, source=source)
    check_fits(anchor_file, model.config.input_dim, model.config.latent_dim, "the model")
    return anchor_file
