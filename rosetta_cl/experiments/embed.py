"""``rosetta-cl embed``: the latent means a trained or registered model gives a data file.

The model is ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` (a published Rosetta encoder),
``runs:/RUN_ID`` or a run id (a model run of ours), or a model directory. Where the model knows
its feature names, the data's columns are reordered to them (a missing one is an error). The
means are computed in batches and written atomically: ``z`` (and an ``.h5ad``'s ``obs_names``)
in an ``.npz``, or a copy of an ``.h5ad`` with them in ``obsm["X_rosetta"]``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta_cl.config.threads import default_threads, intra_op_threads
from rosetta_cl.errors import ConfigError

OBSM_KEY = "X_rosetta"


@dataclass
class Embedded:
    path: Path
    rows: int
    latent_dim: int
    model: str  # the model as resolved (models:/NAME/VERSION, a run id, a folder)


def embed(model_ref: str, data: str, output: str, *, layer: str | None = None,
          obsm: str | None = None, batch_size: int = 4096, force: bool = False,
          tracking_uri: str | None = None, progress: bool = False,
          threads: int | None = None) -> Embedded:
    """Encode ``data`` with ``model_ref`` and write the latent means to ``output`` (with
    ``threads`` intra-op threads; None: the thread rule's count)."""
    import torch
    from tqdm.auto import tqdm

    from rosetta_cl.data.anndata_file import is_h5ad, read_h5ad
    from rosetta_cl.data.user_data import in_order, read_user_file
    from rosetta_cl.models.vae import encode_means

    out = Path(output)
    if out.suffix not in (".npz", ".h5ad"):
        raise ConfigError(f"output {output}: allowed a .npz or .h5ad file")
    if out.suffix == ".h5ad" and not is_h5ad(data):
        raise ConfigError(f"output {output}: an .h5ad output is a copy of an .h5ad DATA; "
                          f"{data} is not one (write a .npz)")
    if out.exists() and not force:
        raise ConfigError(f"output {output} exists; pass --force to overwrite it")
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size}: must be >= 1")
    model, features, resolved = load_encoder(model_ref, tracking_uri)
    obs_names, have = None, None
    if is_h5ad(data):
        table = read_h5ad(data, layer, obsm)
        x, have, obs_names = table.x, table.features, table.obs_names
    else:
        if layer or obsm:
            raise ConfigError(f"--layer / --obsm: data file {data} is not an .h5ad")
        arrays = read_user_file(data)
        x = arrays["x"].reshape(len(arrays["x"]), -1)
        names = arrays.get("features")
        have = tuple(str(v) for v in names) if names is not None else None
    if features is not None:
        x = in_order(x, features, have, data)
    if x.shape[1] != model.config.input_dim:
        raise ConfigError(f"data file {data} has {x.shape[1]} features; the model reads "
                          f"{model.config.input_dim}")
    chunks = []
    with tqdm(total=len(x), desc="embed", unit="row", disable=None if progress else True) as bar, \
            intra_op_threads(threads or default_threads(model.config.arch)):
        for start in range(0, len(x), batch_size):
            block = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size]))
            chunks.append(encode_means(model, block).numpy())
            bar.update(len(block))
    z = np.concatenate(chunks).astype(np.float32)
    _write(out, z, data, obs_names)
    return Embedded(out, len(z), int(z.shape[1]), resolved)


def load_encoder(ref: str, tracking_uri: str | None = None):
    """(model, its feature names or None, the reference resolved)."""
    from rosetta_cl.models.vae import load_model
    from rosetta_cl.tracking.model_registry import FEATURES, is_model_uri, pull, run_features
    from rosetta_cl.tracking.store import load_model_ref

    if is_model_uri(ref):
        pulled = pull(ref, tracking_uri)
        return load_model(pulled.folder), pulled.features, pulled.uri
    run = ref.removeprefix("runs:/").split("/")[0] if ref.startswith("runs:/") else ref
    folder = Path(run)
    if folder.is_dir():
        names = folder / FEATURES
        features = tuple(json.loads(names.read_text())) if names.is_file() else None
        return load_model(folder), features, str(folder)
    model, run_id = load_model_ref(run, tracking_uri)
    return model, run_features(run_id, tracking_uri) if run_id else None, run_id or run


def _write(out: Path, z: np.ndarray, data: str, obs_names) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    try:
        if out.suffix == ".npz":
            arrays = {"z": z}
            if obs_names is not None:
                arrays["obs_names"] = np.array(obs_names, dtype=str)
            with open(tmp, "wb") as f:  # numpy's stub types **kwds against allow_pickle
                np.savez(f, **arrays)  # type: ignore[arg-type]
        else:
            import anndata

            adata = anndata.read_h5ad(data)
            adata.obsm[OBSM_KEY] = z
            adata.write_h5ad(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # as open() would create it (mkstemp: 0600)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def current_umask() -> int:
    """The process's umask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
