"""A trained VAE as an MLflow model: a pyfunc "model from code" whose output is the encoder's
latent means, with the weights in safetensors (nothing is pickled to save or load it).

MLflow copies this file into every logged model and runs it at load time
(``mlflow.pyfunc.load_model("runs:/RUN_ID/model")``, ``mlflow models serve``): it needs
rosetta-cl installed. Input: an array (n, input_dim) of flattened float inputs; output: the
posterior means (n, latent_dim). ``save_pyfunc`` writes the model directory.
"""

from __future__ import annotations

import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel

WEIGHTS = "vae"  # the artifact (a save_model directory) inside the MLflow model


@contextmanager
def silenced_warnings():
    """No warning shown inside (MLflow's own "once" filters override a plain "ignore"): MLflow
    asks for type hints on ``predict`` when the class is made and for an input example when it is
    saved; the logged signature gives the shapes instead."""
    with warnings.catch_warnings():
        warnings.showwarning = lambda *args, **kwargs: None
        yield


with silenced_warnings():
    class LatentMeans(PythonModel):
        """``predict(x)`` -> the VAE's latent means of ``x`` (float32 arrays)."""

        def load_context(self, context):
            # the package's public names: this file is copied into every logged model and must
            # load it after our modules move (tests/test_structure.py allows this import)
            from rosetta_cl import load_model

            self.model = load_model(context.artifacts[WEIGHTS]).eval()

        def predict(self, context, model_input, params=None):
            import torch

            from rosetta_cl import encode_means

            x = np.asarray(model_input, dtype=np.float32).reshape(len(model_input), -1)
            return encode_means(self.model, torch.from_numpy(x)).numpy()


mlflow.models.set_model(LatentMeans())


def save_pyfunc(model, path: str | Path, mlflow_model=None) -> Path:
    """Write ``model`` (a ``models.VAE``) as an MLflow pyfunc model directory at ``path``:
    ``MLmodel``, this file as the model's code, ``artifacts/vae/`` (``model.safetensors`` and
    ``model_config.json``, readable by ``models.load_model`` alone) and its signature.
    ``mlflow_model``: the ``mlflow.models.Model`` metadata of a logged model (its ids)."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from rosetta_cl.models.vae import save_model

    config = model.config
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, config.input_dim))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, config.latent_dim))]))
    from rosetta_cl.tracking.store import quiet_downloads

    with tempfile.TemporaryDirectory() as tmp, quiet_downloads(), silenced_warnings():
        weights = save_model(model, Path(tmp) / WEIGHTS)
        mlflow.pyfunc.save_model(str(path), python_model=__file__,
                                 artifacts={WEIGHTS: str(weights)}, signature=signature,
                                 pip_requirements=_requirements(), mlflow_model=mlflow_model)
    return Path(path)


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return [f"rosetta-cl=={version('rosetta-cl')}"]
    except PackageNotFoundError:
        return ["rosetta-cl"]
