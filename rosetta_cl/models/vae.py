"""VAE models: MLP, conv or residual encoder/decoder (``architectures``), Gaussian posterior with
full (Cholesky) or diagonal covariance.

The forward pass returns everything the ELBO needs per sample (reconstruction negative
log-likelihood and KL to the standard-normal prior), so losses are plain functions of the
output. ``encode(x)`` returns the posterior mean, the representation every metric uses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rosetta_cl.config.choices import ARCH_CONSTRAINTS
from rosetta_cl.config.constraints import check_constraints
from rosetta_cl.models.architectures import build_networks

LIKELIHOODS = ("gaussian", "bernoulli")
COVARIANCES = ("full", "diag")
_MIN_SCALE = 1e-4


@dataclass(frozen=True)
class ModelConfig:
    """Shape and likelihood of a :class:`VAE`.

    Parameters
    ----------
    input_dim : int
        Width of the (flat) inputs.
    latent_dim : int, default 2
        Latent dimension d.
    hidden : tuple of int, default (64, 64)
        Hidden layer widths of the MLP encoder and decoder.
    covariance : str, default "full"
        Posterior covariance: ``full`` (a Cholesky factor) or ``diag``.
    likelihood : str, default "gaussian"
        ``gaussian`` (real-valued data) or ``bernoulli`` (data in [0, 1]).
    obs_scale : float, optional
        Fixed observation std of the Gaussian likelihood (None: learned per feature).
    arch : str, default "mlp"
        ``mlp``, ``conv`` or ``resnet`` (image architectures need ``image_shape``).
    arch_variant : str, default "same"
        ``simple``, ``same`` or ``complex`` (the paper's appendix F).
    image_shape : tuple of int, optional
        (C, H, W) of the flattened inputs, for the image architectures.

    Examples
    --------
    >>> from rosetta_cl import ModelConfig
    >>> ModelConfig(input_dim=5, latent_dim=2).hidden
    (64, 64)
    """

    input_dim: int
    latent_dim: int = 2
    hidden: tuple[int, ...] = (64, 64)
    covariance: str = "full"  # "full" (Cholesky factor) or "diag"
    likelihood: str = "gaussian"  # "gaussian" (real-valued) or "bernoulli" (data in [0, 1])
    obs_scale: float | None = None  # gaussian: fixed observation std; None = learned per feature
    arch: str = "mlp"  # "mlp", "conv" or "resnet" (image archs need image_shape)
    arch_variant: str = "same"  # "simple", "same" or "complex" (appendix F)
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) of the flattened inputs

    def __post_init__(self):
        if self.image_shape is not None:
            object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        check_constraints(self, ARCH_CONSTRAINTS)
        if self.arch == "conv" and self.arch_variant != "same":
            raise ValueError(f"arch variant {self.arch_variant!r} with arch conv: conv has only"
                             " 'same' (variants apply to mlp and resnet)")
        if self.arch != "mlp":
            shape = self.image_shape
            if shape is None or len(shape) != 3 or math.prod(shape) != self.input_dim:
                raise ValueError(f"arch {self.arch!r} needs image data: image_shape {shape} does"
                                 f" not describe {self.input_dim} inputs; allowed arch: mlp")
        if self.covariance not in COVARIANCES:
            raise ValueError(f"covariance {self.covariance!r}: allowed {COVARIANCES}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood {self.likelihood!r}: allowed {LIKELIHOODS}")
        if self.obs_scale is not None and not self.obs_scale > 0:
            raise ValueError(f"obs_scale {self.obs_scale}: must be > 0 (or None for learned)")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


class VAEOutput(NamedTuple):
    mu: Tensor  # (B, d) posterior mean
    scale_tril: Tensor  # (B, d, d) lower-triangular Cholesky factor of the posterior covariance
    z: Tensor  # (B, d) reparameterised sample
    decoded: Tensor  # (B, D) decoder output: mean (gaussian) or logits (bernoulli)
    recon_nll: Tensor  # (B,) -log p(x | z)
    kl: Tensor  # (B,) KL(q(z | x) || N(0, I))


def kl_to_standard_normal(mu: Tensor, scale_tril: Tensor) -> Tensor:
    """KL(N(mu, L L^T) || N(0, I)) per sample = 0.5 (tr(LL^T) + |mu|^2 - d - log det(LL^T))."""
    d = mu.shape[-1]
    log_det = 2.0 * torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1)).sum(-1)
    trace = scale_tril.pow(2).sum((-2, -1))
    return 0.5 * (trace + mu.pow(2).sum(-1) - d - log_det)


class VAE(nn.Module):
    """Variational autoencoder on flat inputs (image encoders unflatten them).

    ``encode(x)`` gives the posterior means mu(x), ``decode_mean(z)`` the decoder's mean m(z);
    ``forward(x)`` returns a ``VAEOutput`` (``mu``, ``scale_tril``, ``z``, ``decoded``,
    ``recon_nll``, ``kl``).

    Parameters
    ----------
    config : ModelConfig
        Its shape and likelihood.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import VAE, ModelConfig
    >>> model = VAE(ModelConfig(input_dim=5, latent_dim=2))
    >>> out = model(torch.zeros(4, 5))
    >>> tuple(out.mu.shape), tuple(out.kl.shape), tuple(model.decode_mean(out.z).shape)
    ((4, 2), (4,), (4, 5))
    """

    _tril_basis: Tensor  # a buffer: (d (d - 1) / 2, d * d) scatter of the off-diagonal entries

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.latent_dim
        n_tril = d * (d - 1) // 2 if config.covariance == "full" else 0
        self._head_sizes = (d, d, n_tril)
        self.encoder, self.decoder = build_networks(
            config.input_dim, d + d + n_tril, d, config.hidden, config.arch, config.arch_variant,
            config.image_shape)
        if config.likelihood == "bernoulli":
            self.register_parameter("log_scale", None)
        elif config.obs_scale is None:  # homoscedastic per-feature observation noise, learned
            self.log_scale = nn.Parameter(torch.zeros(config.input_dim))
        else:  # fixed observation noise (a fixed "model precision")
            self.register_buffer("log_scale",
                                 torch.full((config.input_dim,), math.log(config.obs_scale)))
        # (n_tril, d * d) 0/1 matrix placing the strictly-lower entries: a matmul rather than an
        # indexed write, so the posterior is vmap-able (ensembles) and still exact
        rows, cols = torch.tril_indices(d, d, offset=-1)
        basis = torch.zeros(n_tril, d * d)
        if n_tril:  # diag: no strictly-lower entries
            basis[torch.arange(n_tril), rows * d + cols] = 1.0
        self.register_buffer("_tril_basis", basis, persistent=False)

    def reset_parameters(self) -> None:
        """Fresh random weights (drawn from torch's global RNG)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                module.reset_parameters()
        if isinstance(self.log_scale, nn.Parameter):
            with torch.no_grad():
                self.log_scale.zero_()

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean (B, d) and Cholesky factor (B, d, d)."""
        h = self.encoder(x)
        mu, raw_diag, tril = torch.split(h, list(self._head_sizes), dim=-1)
        d = self.config.latent_dim
        diag = F.softplus(raw_diag) + _MIN_SCALE
        scale_tril = torch.diag_embed(diag)
        if tril.shape[-1]:
            scale_tril = scale_tril + (tril @ self._tril_basis).unflatten(-1, (d, d))
        return mu, scale_tril

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)[..., : self.config.latent_dim]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def decode_mean(self, z: Tensor) -> Tensor:
        """E[x | z]: the decoder's mean (Gaussian) or probabilities (Bernoulli)."""
        decoded = self.decoder(z)
        return torch.sigmoid(decoded) if self.log_scale is None else decoded

    def reconstruction_nll(self, x: Tensor, decoded: Tensor) -> Tensor:
        if self.log_scale is None:
            return F.binary_cross_entropy_with_logits(decoded, x, reduction="none").sum(-1)
        z = (x - decoded) * torch.exp(-self.log_scale)
        return (0.5 * z.pow(2) + self.log_scale + 0.5 * math.log(2 * math.pi)).sum(-1)

    def forward(self, x: Tensor, eps: Tensor | None = None) -> VAEOutput:
        """``eps``: the standard-normal noise of the reparameterisation (drawn from torch's
        global RNG when None); ensembles pass each member's own draws.
        """
        mu, scale_tril = self.posterior(x)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + (scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        decoded = self.decode(z)
        return VAEOutput(
            mu, scale_tril, z, decoded, self.reconstruction_nll(x, decoded),
            kl_to_standard_normal(mu, scale_tril),
        )


class Encoder(Protocol):
    """What :func:`encode_means` reads: a module with ``encode`` and ``config.latent_dim``."""

    config: Any
    training: bool

    def encode(self, x: Tensor) -> Tensor: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


@torch.inference_mode()
def encode_means(model: Encoder, x: Tensor, batch_size: int = 8192) -> Tensor:
    """Posterior means of ``x`` in eval mode, in large batches, on the model's device.

    Parameters
    ----------
    model : torch.nn.Module
        A model with ``encode`` (e.g. a :class:`VAE`).
    x : torch.Tensor, shape (N, input_dim)
        Inputs.
    batch_size : int, default 8192
        Rows encoded at a time.

    Returns
    -------
    torch.Tensor, shape (N, latent_dim)
        The latent means, on the CPU.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import VAE, ModelConfig, encode_means
    >>> model = VAE(ModelConfig(input_dim=5, latent_dim=2))
    >>> tuple(encode_means(model, torch.zeros(10, 5), batch_size=4).shape)
    (10, 2)
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model.encode(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, model.config.latent_dim)


@torch.no_grad()
def elbo_terms(model: nn.Module, x: Tensor, seed: int = 0,
               batch_size: int = 8192) -> tuple[float, float]:
    """Mean reconstruction NLL and mean KL over ``x`` in eval mode, one posterior sample per
    point drawn after ``torch.manual_seed(seed)``; the model's mode is restored.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    recon = kl = 0.0
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size].to(device))
        recon += float(out.recon_nll.sum())
        kl += float(out.kl.sum())
    model.train(was_training)
    return recon / len(x), kl / len(x)


def reinitialize(model: nn.Module) -> None:
    """Fresh random weights for any model: ``reset_parameters`` on the model or its layers."""
    reset = getattr(model, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if module is not model and callable(reset):
            reset()


def save_model(model: VAE, directory: str | Path) -> Path:
    """Write a model as ``model.safetensors`` (its state dict) and ``model_config.json``.

    Nothing is pickled; :func:`load_model` reads it back.

    Parameters
    ----------
    model : VAE
        The model.
    directory : str or pathlib.Path
        Folder to write into (created if missing).

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> from rosetta_cl import VAE, ModelConfig, save_model
    >>> sorted(p.name for p in save_model(VAE(ModelConfig(input_dim=5)), "model").iterdir())
    ['model.safetensors', 'model_config.json']
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(directory / "model.safetensors"))
    (directory / "model_config.json").write_text(json.dumps(asdict(model.config), indent=2))
    return directory


def load_model(directory: str | Path, map_location: str = "cpu") -> VAE:
    """Load a model written by :func:`save_model`, without unpickling anything.

    Parameters
    ----------
    directory : str or pathlib.Path
        The model's folder, or the MLflow model folder that holds it (a run's ``model/``); a
        ``model.pt`` of older runs is read with ``torch.load(weights_only=True)``.
    map_location : str, default "cpu"
        Device to load the weights onto.

    Returns
    -------
    VAE
        The model, in eval mode.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import VAE, ModelConfig, load_model, save_model
    >>> model = VAE(ModelConfig(input_dim=5))
    >>> again = load_model(save_model(model, "model"))
    >>> bool(torch.equal(again.encode(torch.ones(1, 5)), model.eval().encode(torch.ones(1, 5))))
    True
    """
    directory = Path(directory)
    if (directory / "MLmodel").is_file():
        directory = directory / "artifacts" / "vae"
    config = ModelConfig(**json.loads((directory / "model_config.json").read_text()))
    model = VAE(config)
    if (directory / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(directory / "model.safetensors"), device=map_location)
    else:
        state = torch.load(directory / "model.pt", map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    return model
