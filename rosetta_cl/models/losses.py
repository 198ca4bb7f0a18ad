"""Training objectives: the negative ELBO (with a beta weight on the KL) and the Rosetta term."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rosetta_cl.config.choices import ANCHOR_FITS, DECODER_TERMS
from rosetta_cl.models.vae import VAEOutput


class ELBOParts(NamedTuple):
    loss: Tensor  # mean over the batch of recon_nll + beta * kl
    recon: Tensor  # mean reconstruction negative log-likelihood
    kl: Tensor  # mean KL to the prior


def negative_elbo(output: VAEOutput, beta: float = 1.0) -> ELBOParts:
    """Negative ELBO per sample, averaged over the batch, with ``beta`` on the KL term.

    Parameters
    ----------
    output : VAEOutput
        A VAE's forward output (``recon_nll`` and ``kl`` per sample).
    beta : float, default 1.0
        KL weight: 1 is the VAE, other values the beta-VAE.

    Returns
    -------
    ELBOParts
        ``loss`` = mean(recon_nll + beta * kl), ``recon`` and ``kl`` (batch means).

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import VAE, ModelConfig, negative_elbo
    >>> out = VAE(ModelConfig(input_dim=5))(torch.zeros(4, 5))
    >>> parts = negative_elbo(out, beta=2.5)
    >>> bool(torch.isclose(parts.loss, parts.recon + 2.5 * parts.kl))
    True
    """
    recon = output.recon_nll.mean()
    kl = output.kl.mean()
    return ELBOParts(recon + beta * kl, recon, kl)


class ELBOLoss:
    """Criterion of the strategies: ``ELBOLoss(beta)(output)`` is :func:`negative_elbo`.

    Parameters
    ----------
    beta : float, default 1.0
        KL weight (1: VAE; other values: beta-VAE).

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import ELBOLoss, VAE, ModelConfig
    >>> out = VAE(ModelConfig(input_dim=5))(torch.zeros(4, 5))
    >>> ELBOLoss(beta=1.0)(out).loss.shape
    torch.Size([])
    """

    def __init__(self, beta: float = 1.0):
        self.beta = float(beta)

    def __call__(self, output: VAEOutput) -> ELBOParts:
        return negative_elbo(output, self.beta)


def check_anchor_term(fit: str, decoder: str) -> None:
    """The anchor term's two options, checked where they are taken (one rule each)."""
    if fit not in ANCHOR_FITS:
        raise ValueError(f"anchor fit {fit!r}: allowed {', '.join(ANCHOR_FITS)}")
    if decoder not in DECODER_TERMS:
        raise ValueError(f"anchor decoder {decoder!r}: allowed {', '.join(DECODER_TERMS)}")


def anchor_residual(mu_anchor: Tensor, z_anchor: Tensor, fit: str = "exact") -> Tensor:
    """z_r - mu(x_r) per anchor (``exact``, the paper's term), or with ``affine`` the residual of
    the least-squares fit z_r ~ A mu(x_r) + b (A, b solved in closed form in every step, so the
    term sees the anchors' configuration only up to an affine map, like LSD itself; ours).
    ``affine`` needs more anchors than latent dims + 1 (else every configuration fits exactly).
    """
    if fit == "exact":
        return z_anchor - mu_anchor
    if fit != "affine":
        raise ValueError(f"anchor fit {fit!r}: allowed {', '.join(ANCHOR_FITS)}")
    design = torch.cat([mu_anchor, torch.ones_like(mu_anchor[..., :1])], dim=-1)  # (R, d + 1)
    gram = design.transpose(-2, -1) @ design
    ridge = 1e-6 * torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    coef = torch.linalg.solve(gram + ridge, design.transpose(-2, -1) @ z_anchor)
    return z_anchor - design @ coef


def rosetta_term(mu_anchor: Tensor, z_anchor: Tensor, rho: float, batch_size: int, *,
                 fit: str = "exact", decoder_term: Tensor | None = None) -> Tensor:
    """Eq. 1 of the R-VAE paper with its weighting, from the anchors' current latent means.

    ``rho * (R / B) * (sum_r ||z_r - mu(x_r)||^2 + decoder_term)``.

    Parameters
    ----------
    mu_anchor : torch.Tensor, shape (R, d)
        The model's latent means of the anchor inputs, mu(x_r).
    z_anchor : torch.Tensor, shape (R, d)
        The anchors' target latents z_r.
    rho : float
        Weight of the term.
    batch_size : int
        B, the minibatch size the term is added to.
    fit : str, default "exact"
        ``exact`` (the paper's) or ``affine`` (the residual after the best affine map; ours).
    decoder_term : torch.Tensor, optional
        Eq. 1's second term summed over the anchors, added inside the sum under the same weight.

    Returns
    -------
    torch.Tensor
        A scalar.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import rosetta_term
    >>> z = torch.zeros(8, 2)
    >>> float(rosetta_term(z + 1, z, rho=1.5, batch_size=128))  # 1.5 * 8 / 128 * 16
    1.5
    """
    n_anchors = z_anchor.shape[0]
    total = anchor_residual(mu_anchor, z_anchor, fit).pow(2).sum()
    if decoder_term is not None:
        total = total + decoder_term
    return rho * (n_anchors / batch_size) * total


def in_shape_of(output: Tensor, x: Tensor) -> Tensor:
    """``output`` reshaped to ``x``'s shape when they hold the same number of values; otherwise
    unchanged (a genuine mismatch then fails where it is used, naming both shapes).
    """
    if output.shape != x.shape and output.numel() == x.numel():
        return output.reshape(x.shape)
    return output


def decoder_term(model, x_anchor: Tensor, z_anchor: Tensor, kind: str = "squared") -> Tensor:
    """How far the decoder at z_r is from x_r, summed over the anchors: ``squared`` =
    sum_r ||x_r - m(z_r)||^2 with m the decoder's mean (eq. 1 as the paper writes it), ``nll`` =
    sum_r -log p(x_r | z_r) under the model's own likelihood (the ELBO's reconstruction term at the
    template's latent: in nats like the ELBO, so independent of the data's units; ours).
    A decoder whose output holds as many numbers per anchor as x_r in another shape (Avalanche's
    ``MlpVAE((1, 8, 8))`` on flat 64-vectors, or the other way round) is compared in x_r's shape.
    """
    if kind == "squared":
        return (x_anchor - in_shape_of(model.decode_mean(z_anchor), x_anchor)).pow(2).sum()
    if kind == "nll":
        return model.reconstruction_nll(x_anchor, model.decode(z_anchor)).sum()
    raise ValueError(f"anchor decoder term {kind!r}: allowed {', '.join(DECODER_TERMS)}")


def anchor_loss(model, x_anchor: Tensor, z_anchor: Tensor, rho: float, batch_size: int, *,
                fit: str = "exact", decoder: str = "squared") -> Tensor:
    """The Rosetta term of a model on anchors (x_r, z_r): eq. 1 with both of its parts.

    Parameters
    ----------
    model : torch.nn.Module
        A VAE (``encode``; ``decode_mean`` unless ``decoder="none"``).
    x_anchor : torch.Tensor, shape (R, input_dim)
        The anchor inputs x_r.
    z_anchor : torch.Tensor, shape (R, d)
        Their target latents z_r.
    rho : float
        Weight of the term.
    batch_size : int
        B, the minibatch size the term is added to.
    fit : str, default "exact"
        ``exact`` or ``affine`` (see :func:`rosetta_term`).
    decoder : str, default "squared"
        The decoder part: ``squared`` (||x_r - m(z_r)||^2, the paper's), ``nll``
        (-log p(x_r | z_r)) or ``none``.

    Returns
    -------
    torch.Tensor
        A scalar, differentiable in the model's parameters.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import VAE, ModelConfig, anchor_loss
    >>> model = VAE(ModelConfig(input_dim=5))
    >>> loss = anchor_loss(model, torch.randn(8, 5), torch.randn(8, 2), rho=1.5, batch_size=128)
    >>> loss.backward()
    >>> loss.shape
    torch.Size([])
    """
    extra = None if decoder == "none" else decoder_term(model, x_anchor, z_anchor, decoder)
    return rosetta_term(model.encode(x_anchor), z_anchor, rho, batch_size, fit=fit,
                        decoder_term=extra)
