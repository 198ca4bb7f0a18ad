"""R-VAE + SI: avalanche's Synaptic Intelligence on our VAEs.

Use: ``rosetta-cl run digits5 --protocol continual --no-reinit --plugin si:si_lambda=100``
(SI keeps weights near the previous experience's, weighted by how much each one lowered the
loss; with ``--reinit`` every experience starts from fresh weights, so use ``--no-reinit``).

Fixed: on the CPU, avalanche 0.6.0's SI never penalises anything. Its ``extract_weights``
stores ``param.detach().cpu().flatten()``, which on a CPU tensor is a *view* of the parameter,
not a copy; so the "weights at the start of the experience" and the "weights before this step"
move with the optimizer, every path-integral increment and every penalty is exactly 0 (on a GPU
``.cpu()`` copies and it works). This subclass copies those two snapshots after avalanche takes
them (``tests/test_extensions.py`` checks the penalty is positive on the CPU).

Adapted: nothing else in the penalty. Avalanche's ``SynapticIntelligencePlugin`` never calls the
criterion: its path integral uses the gradients of whatever loss the strategy back-propagates,
here the negative ELBO (plus the Rosetta term for the R-VAE), so it works on a VAE unchanged.
What this file adds is the option types for the command line and, because SI's importances are
accumulated from the parameter trajectory of the training steps, a check that an experience
started from the weights the previous one ended with (``--reinit`` would make the penalty pull
a fresh model towards unrelated weights).

Scale: avalanche clips every importance at 0.001 (its ``update_ewc_data(clip_to=0.001)``), so
the penalty ``si_lambda / 2 * sum_i w_i (theta_i - theta_i_prev)^2`` is small next to an ELBO of
tens of nats unless ``si_lambda`` is large; the default here is 100.
"""

import torch
from avalanche.training.plugins import SynapticIntelligencePlugin

from rosetta_cl.errors import ConfigError


class VAESIPlugin(SynapticIntelligencePlugin):
    def before_training_exp(self, strategy, **kwargs):
        previous = self.ewc_data[0]
        if previous:  # the weights the last experience ended with
            for name, param in strategy.model.named_parameters():
                if name in previous and not torch.equal(
                        param.detach().cpu().flatten(), previous[name].data.cpu()):
                    raise ConfigError("plugin si: the model was re-initialised between "
                                     "experiences; use --no-reinit with si")
        super().before_training_exp(strategy, **kwargs)
        own(self.ewc_data[0])

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        own(self.syn_data["old_theta"])


def own(snapshot):
    """Make each stored weight vector a copy, not a view of the live parameter."""
    for data in snapshot.values():
        data.data = data.data.clone()


def make(si_lambda: float = 100.0, eps: float = 1e-7):
    return VAESIPlugin(si_lambda=si_lambda, eps=eps)
