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
    """Per-sample negative ELBO averaged over the batch; beta = 1 is the VAE, beta != 1 beta-VAE."""
    recon = output.recon_nll.mean()
    kl = output.kl.mean()
    return ELBOParts(recon + beta * kl, recon, kl)


class ELBOLoss:
    """Criterion object for the strategies: ``ELBOLoss(beta)(output) -> ELBOParts``."""

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
    ``affine`` needs more anchors than latent dims + 1 (else every configuration fits exactly)."""
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
    """Eq. 1 of the R-VAE paper with its weighting: rho * (R / B) * (sum_r ||z_r - mu(x_r)||^2
    + decoder_term).

    ``fit="affine"``: the residual after the best affine map (``anchor_residual``; ours).
    ``decoder_term``: eq. 1's second term summed over the anchors (``decoder_term``), added
    inside the sum under the same weight.
    """
    n_anchors = z_anchor.shape[0]
    total = anchor_residual(mu_anchor, z_anchor, fit).pow(2).sum()
    if decoder_term is not None:
        total = total + decoder_term
    return rho * (n_anchors / batch_size) * total


def decoder_term(model, x_anchor: Tensor, z_anchor: Tensor, kind: str = "squared") -> Tensor:
    """How far the decoder at z_r is from x_r, summed over the anchors: ``squared`` =
    sum_r ||x_r - m(z_r)||^2 with m the decoder's mean (eq. 1 as the paper writes it), ``nll`` =
    sum_r -log p(x_r | z_r) under the model's own likelihood (the ELBO's reconstruction term at the
    template's latent: in nats like the ELBO, so independent of the data's units; ours)."""
    if kind == "squared":
        return (x_anchor - model.decode_mean(z_anchor)).pow(2).sum()
    if kind == "nll":
        return model.reconstruction_nll(x_anchor, model.decode(z_anchor)).sum()
    raise ValueError(f"anchor decoder term {kind!r}: allowed {', '.join(DECODER_TERMS)}")


def anchor_loss(model, x_anchor: Tensor, z_anchor: Tensor, rho: float, batch_size: int, *,
                fit: str = "exact", decoder: str = "squared") -> Tensor:
    """The Rosetta term of ``model`` (a VAE: ``encode``, ``decode``) on anchors (x_r, z_r);
    ``decoder`` is ``squared``, ``nll`` or ``none`` (the encoder term alone)."""
    extra = None if decoder == "none" else decoder_term(model, x_anchor, z_anchor, decoder)
    return rosetta_term(model.encode(x_anchor), z_anchor, rho, batch_size, fit=fit,
                        decoder_term=extra)
