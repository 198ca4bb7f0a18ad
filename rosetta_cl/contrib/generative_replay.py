"""R-VAE + generative replay: the previous VAE's samples stand in for past data.

Use: ``rosetta-cl run digits5 --protocol continual --no-reinit --plugin generative_replay``

Adapted: avalanche's ``GenerativeReplayPlugin`` needs a model with a ``generate(n)`` method and
concatenates the generated inputs (with mock labels) into the strategy's minibatch. That would
change the minibatch size the R-VAE's anchor weight (rho * k / batch size) is computed from and
mix replayed points into the per-epoch training metrics. Here, after each experience a frozen
copy of the model is kept; every later minibatch draws ``replay_size`` (default: the minibatch
size) latent codes from the prior N(0, I), decodes them with the frozen copy (the decoder's
mean for Gaussian data, its probabilities for Bernoulli data: a sample's noise is not worth
replaying) and adds ``weight`` times the current model's negative ELBO (beta = 1) on them, as
a separate term. With ``alpha > 0`` it also distils the frozen encoder's latent means on the
generated inputs (as ``lwf`` does on real ones).
"""

import copy

import torch
from avalanche.core import SupervisedPlugin

from rosetta_cl.models.losses import negative_elbo
from rosetta_cl.models.vae import VAE


class VAEGenerativeReplayPlugin(SupervisedPlugin):
    def __init__(self, replay_size: int = 0, weight: float = 1.0, alpha: float = 0.0,
                 seed: int = 0):
        super().__init__()
        self.replay_size, self.weight, self.alpha = int(replay_size), float(weight), float(alpha)
        self.seed = seed
        self.generator: VAE | None = None  # the frozen previous model
        self._noise: torch.Generator | None = None

    @torch.no_grad()
    def generate(self, n: int, device) -> torch.Tensor:
        assert self.generator is not None, "generate() before the first experience ended"
        if self._noise is None or self._noise.device != torch.device(device):
            self._noise = torch.Generator(device).manual_seed(self.seed)
        z = torch.randn(n, self.generator.config.latent_dim, generator=self._noise,
                        device=device)
        decoded = self.generator.decode(z)
        return torch.sigmoid(decoded) if self.generator.config.likelihood == "bernoulli" \
            else decoded

    def before_backward(self, strategy, **kwargs):
        if self.generator is None:
            return
        x = self.generate(self.replay_size or len(strategy.mb_x), strategy.device)
        out = strategy.model(x)
        strategy.loss += self.weight * negative_elbo(out, 1.0).loss
        if self.alpha:
            with torch.no_grad():
                target = self.generator.encode(x)
            strategy.loss += self.alpha * (out.mu - target).pow(2).sum(1).mean()

    def after_training_exp(self, strategy, **kwargs):
        self.generator = copy.deepcopy(strategy.model).eval()
        for p in self.generator.parameters():
            p.requires_grad_(False)


def make(replay_size: int = 0, weight: float = 1.0, alpha: float = 0.0, seed: int = 0):
    return VAEGenerativeReplayPlugin(replay_size, weight, alpha, seed)
