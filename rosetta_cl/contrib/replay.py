"""R-VAE + experience replay with latent distillation.

Use: ``rosetta-cl run digits5 --protocol continual --no-reinit --plugin replay:mem_size=200``

Adapted: avalanche's ``ReplayPlugin`` mixes stored (x, y) into the minibatches of a classifier.
Here, after each experience, up to ``mem_size / experiences seen`` of its inputs are stored
(seeded, class-balanced memory is not needed: a VAE has no classes) together with the latent
means the model gave them. Every later minibatch adds, on a replay minibatch of the same size,
the VAE's negative ELBO (beta = 1) plus ``alpha * mean ||mu(x_mem) - mu_mem||^2``, so replayed
points keep both their reconstructions and their place in the latent space.
"""

import torch
from avalanche.core import SupervisedPlugin

from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.models.losses import negative_elbo
from rosetta_cl.models.vae import encode_means


class LatentReplayPlugin(SupervisedPlugin):
    def __init__(self, mem_size: int = 200, alpha: float = 1.0, seed: int = 0):
        super().__init__()
        self.mem_size, self.alpha = int(mem_size), float(alpha)
        self.generator = torch.Generator().manual_seed(seed)
        self.memory: list = []  # per experience: (x, mu) on the CPU

    def before_backward(self, strategy, **kwargs):
        if not self.memory:
            return
        x_mem = torch.cat([x for x, _ in self.memory])
        mu_mem = torch.cat([mu for _, mu in self.memory])
        pick = torch.randint(len(x_mem), (min(len(x_mem), strategy.train_mb_size),),
                             generator=self.generator)
        x, mu = x_mem[pick].to(strategy.device), mu_mem[pick].to(strategy.device)
        out = strategy.model(x)
        strategy.loss += negative_elbo(out, 1.0).loss
        strategy.loss += self.alpha * (out.mu - mu).pow(2).sum(1).mean()

    def after_training_exp(self, strategy, **kwargs):
        x, _ = dataset_tensors(strategy.experience.dataset)
        per_experience = max(self.mem_size // (len(self.memory) + 1), 1)
        self.memory = [(mx[:per_experience], mmu[:per_experience]) for mx, mmu in self.memory]
        keep = torch.randperm(len(x), generator=self.generator)[:per_experience]
        x = x[keep]
        self.memory.append((x.cpu(), encode_means(strategy.model, x).cpu()))


def make(mem_size: int = 200, alpha: float = 1.0, seed: int = 0):
    return LatentReplayPlugin(mem_size, alpha, seed)
