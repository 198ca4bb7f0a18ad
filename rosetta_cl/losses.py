"""Training objectives: the negative ELBO (with a beta weight on the KL) and the Rosetta term."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from .models import VAEOutput


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


def rosetta_term(mu_anchor: Tensor, z_anchor: Tensor, rho: float, batch_size: int) -> Tensor:
    """Eq. 1 of the R-VAE paper with its weighting: rho * (R / B) * sum_r ||z_r - mu(x_r)||^2."""
    n_anchors = z_anchor.shape[0]
    return rho * (n_anchors / batch_size) * (z_anchor - mu_anchor).pow(2).sum()
