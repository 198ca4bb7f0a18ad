"""VAE, beta-VAE and R-VAE as Avalanche strategies on the same model and loss code."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from avalanche.core import BasePlugin
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.anchors.rosetta_plugin import RosettaPlugin
from rosetta_cl.data.tensors import TensorBatches, dataset_tensors
from rosetta_cl.methods.epoch_metrics import EpochLossMetrics, LeanEvaluationPlugin
from rosetta_cl.models.losses import ELBOLoss


class VAEStrategy(SupervisedTemplate):
    """Trains a VAE (``beta=1``) by minimising the negative ELBO with Adam.

    Minibatches are sliced from tensors kept on the training device (seeded shuffling);
    ``loss_parts`` holds the current minibatch's detached ELBO terms (and the Rosetta term
    when a RosettaPlugin is attached) for the per-epoch metrics.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        beta: float = 1.0,
        lr: float = 1e-3,
        train_mb_size: int = 128,
        train_epochs: int = 1,
        device: str | torch.device = "cpu",
        plugins: Sequence[BasePlugin] | None = None,
        loggers: Sequence = (),
        val_x: torch.Tensor | None = None,
        seed: int = 0,
        evaluator: EvaluationPlugin | None = None,
    ):
        if evaluator is None:
            with warnings.catch_warnings():  # "No loggers specified": fine for library use
                warnings.simplefilter("ignore", UserWarning)
                evaluator = LeanEvaluationPlugin(EpochLossMetrics(val_x), loggers=list(loggers))
        super().__init__(
            model=model,
            optimizer=torch.optim.Adam(model.parameters(), lr=lr),
            criterion=ELBOLoss(beta),
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=8192,
            device=device,
            plugins=list(plugins or []),
            evaluator=evaluator,
            eval_every=-1,
        )
        self.beta = float(beta)
        self.loss_parts: dict[str, torch.Tensor] = {}
        self._shuffle = torch.Generator().manual_seed(seed)

    def make_train_dataloader(self, shuffle=True, **kwargs):
        x, y = dataset_tensors(self.adapted_dataset)
        self.dataloader = TensorBatches(x.to(self.device), y.to(self.device),
                                        self.train_mb_size, shuffle, self._shuffle)

    def forward(self):
        return self.model(self.mb_x)

    def criterion(self):
        parts = self._criterion(self.mb_output)
        self.loss_parts = {"recon": parts.recon.detach(), "kl": parts.kl.detach()}
        return parts.loss


class BetaVAEStrategy(VAEStrategy):
    """beta-VAE: the VAE objective with weight ``beta`` on the KL term."""

    def __init__(self, *, model: nn.Module, beta: float, **kwargs):
        super().__init__(model=model, beta=beta, **kwargs)


class RosettaVAEStrategy(VAEStrategy):
    """R-VAE: the VAE objective plus the Rosetta anchor term, through a :class:`RosettaPlugin`."""

    def __init__(self, *, model: nn.Module, k: int = 8, rho: float = 1.0,
                 anchors: Anchors | None = None, reinit: bool = False, select: bool = True,
                 selection: str = "kmeans", plugins: Sequence[BasePlugin] | None = None,
                 seed: int = 0, fit: str = "exact", decoder: str = "squared", **kwargs):
        self.rosetta = RosettaPlugin(k, rho, reinit=reinit, anchors=anchors, select=select,
                                     seed=seed, selection=selection, fit=fit, decoder=decoder)
        super().__init__(model=model, plugins=[self.rosetta, *(plugins or [])], seed=seed,
                         **kwargs)
