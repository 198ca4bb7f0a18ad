"""R-VAE + LwF on the latent means: Learning without Forgetting for VAEs.

Use: ``rosetta-cl run digits5 --protocol continual --no-reinit --plugin lwf:alpha=1``

Adapted: avalanche's ``LwFPlugin`` distils a classifier's softened logits with a KL term. A VAE
has no logits, so this distils the encoder instead: after each experience a frozen copy of the
model is kept, and every later minibatch adds ``alpha * mean_x ||mu(x) - mu_prev(x)||^2`` over
the current minibatch's inputs (the latent means the previous model gave them).
"""

import copy

import torch
from avalanche.core import SupervisedPlugin


class LatentLwFPlugin(SupervisedPlugin):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)
        self.previous = None

    def before_backward(self, strategy, **kwargs):
        if self.previous is None or self.alpha == 0:
            return
        with torch.no_grad():
            target = self.previous.encode(strategy.mb_x)
        mu = strategy.model.encode(strategy.mb_x)
        strategy.loss += self.alpha * (mu - target).pow(2).sum(1).mean()

    def after_training_exp(self, strategy, **kwargs):
        self.previous = copy.deepcopy(strategy.model).eval()
        for p in self.previous.parameters():
            p.requires_grad_(False)


def make(alpha: float = 1.0):
    return LatentLwFPlugin(alpha)
