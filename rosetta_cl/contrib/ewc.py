"""R-VAE + EWC: avalanche's Elastic Weight Consolidation on our VAEs.

Use: ``rosetta-cl run digits5 --protocol continual --no-reinit --plugin ewc:ewc_lambda=100``
(EWC keeps weights near the previous experience's; with ``--reinit`` every experience starts
from fresh weights, so use ``--no-reinit``).

Adapted: avalanche's ``EWCPlugin`` estimates the Fisher importances by calling
``strategy._criterion(output, y)`` and back-propagating the result, which assumes a classifier's
loss. Our strategies' criterion returns the ELBO's parts, so while the importances are computed
the criterion is swapped for the VAE's negative ELBO (beta = 1, labels ignored). The penalty
itself is avalanche's, unchanged.
"""

from avalanche.training.plugins import EWCPlugin

from rosetta_cl.models.losses import negative_elbo


def vae_negative_elbo(output, y):
    return negative_elbo(output, 1.0).loss


class VAEEWCPlugin(EWCPlugin):
    def after_training_exp(self, strategy, **kwargs):
        criterion = strategy._criterion
        strategy._criterion = vae_negative_elbo
        try:
            super().after_training_exp(strategy, **kwargs)
        finally:
            strategy._criterion = criterion


def make(ewc_lambda: float = 100.0, mode: str = "separate", decay_factor: float = 0.0):
    return VAEEWCPlugin(ewc_lambda, mode=mode, decay_factor=decay_factor or None)
