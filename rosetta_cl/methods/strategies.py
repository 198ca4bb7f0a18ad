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
    """Avalanche strategy training a VAE by minimising the negative ELBO with Adam.

    Minibatches are sliced from tensors kept on the training device (seeded shuffling);
    ``loss_parts`` holds the current minibatch's detached ELBO terms (and the Rosetta term when a
    :class:`RosettaPlugin` is attached) for the per-epoch metrics.

    Parameters
    ----------
    model : torch.nn.Module
        The VAE.
    beta : float, default 1.0
        KL weight (1: the VAE).
    lr : float, default 1e-3
        Adam's learning rate.
    train_mb_size : int, default 128
        Minibatch size.
    train_epochs : int, default 1
        Epochs per experience.
    device : str or torch.device, default "cpu"
        Training device.
    plugins : sequence of avalanche plugins, optional
        More plugins (EWC, replay, a :class:`RosettaPlugin`, ...).
    loggers : sequence of avalanche loggers, default ()
        Where the per-epoch metrics go (e.g. :class:`MLflowLogger`, :class:`MetricHistory`).
    val_x : torch.Tensor, optional
        Validation inputs for the ``val/*`` metrics.
    seed : int, default 0
        Seed of the minibatch shuffling.
    evaluator : avalanche EvaluationPlugin, optional
        Replaces the default evaluator (:class:`EpochLossMetrics` to ``loggers``).

    Examples
    --------
    >>> from rosetta_cl import VAE, MetricHistory, ModelConfig, VAEStrategy, gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> history = MetricHistory()
    >>> strategy = VAEStrategy(model=VAE(ModelConfig(input_dim=bench.input_dim)), train_epochs=2,
    ...                        loggers=[history])
    >>> _ = strategy.train(bench.train_stream[0])
    >>> len(history.values["train/loss"])
    2
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
    """beta-VAE baseline: the VAE objective with weight ``beta`` on the KL term.

    Parameters
    ----------
    model : torch.nn.Module
        The VAE.
    beta : float
        KL weight (the paper's grid: 0 to 25).
    **kwargs
        As :class:`VAEStrategy`.

    Examples
    --------
    >>> from rosetta_cl import VAE, BetaVAEStrategy, ModelConfig, gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> strategy = BetaVAEStrategy(model=VAE(ModelConfig(input_dim=bench.input_dim)), beta=2.5)
    >>> _ = strategy.train(bench.train_stream[0])
    >>> strategy.beta
    2.5
    """

    def __init__(self, *, model: nn.Module, beta: float, **kwargs):
        super().__init__(model=model, beta=beta, **kwargs)


class RosettaVAEStrategy(VAEStrategy):
    """R-VAE: the VAE objective plus the Rosetta anchor term, through a :class:`RosettaPlugin`.

    Parameters
    ----------
    model : torch.nn.Module
        The VAE.
    k : int, default 8
        Rosetta points selected after each experience.
    rho : float, default 1.0
        Weight of the anchor term.
    anchors : Anchors, optional
        Anchors to use from the first experience on (e.g. Alice's).
    reinit : bool, default False
        Fresh weights before each later experience (the paper's sequential setting).
    select : bool, default True
        Select new anchors after each experience.
    selection : str, default "kmeans"
        Selector name.
    plugins : sequence of avalanche plugins, optional
        More plugins, after the Rosetta plugin.
    seed : int, default 0
        Seed of the shuffling and of the selector.
    fit : str, default "exact"
        The anchor term's encoder part (see :class:`RosettaPlugin`).
    decoder : str, default "squared"
        The anchor term's decoder part (see :class:`RosettaPlugin`).
    **kwargs
        As :class:`VAEStrategy`.

    Examples
    --------
    >>> from rosetta_cl import VAE, ModelConfig, RosettaVAEStrategy, gaussians8
    >>> bench = gaussians8(subsample=200)
    >>> strategy = RosettaVAEStrategy(model=VAE(ModelConfig(input_dim=bench.input_dim)), k=8,
    ...                               rho=1.5, reinit=True)
    >>> for experience in bench.train_stream:  # D1, then D2 anchored to D1's Rosetta points
    ...     _ = strategy.train(experience)
    >>> len(strategy.rosetta.anchors), sorted(strategy.loss_parts)
    (8, ['kl', 'recon', 'rosetta'])
    """

    def __init__(self, *, model: nn.Module, k: int = 8, rho: float = 1.0,
                 anchors: Anchors | None = None, reinit: bool = False, select: bool = True,
                 selection: str = "kmeans", plugins: Sequence[BasePlugin] | None = None,
                 seed: int = 0, fit: str = "exact", decoder: str = "squared", **kwargs):
        self.rosetta = RosettaPlugin(k, rho, reinit=reinit, anchors=anchors, select=select,
                                     seed=seed, selection=selection, fit=fit, decoder=decoder)
        super().__init__(model=model, plugins=[self.rosetta, *(plugins or [])], seed=seed,
                         **kwargs)
