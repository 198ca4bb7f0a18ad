"""Many seeds at once: the M runs of one method trained as one vectorised ensemble (``--ensemble``).

The members' parameters are stacked (``torch.func.stack_module_state``) and one
``vmap(functional_call(...))`` computes all M losses per minibatch; one Adam steps the stacked
parameters. That is M independent trainings: member m's loss depends only on its own slice of
the parameters, and Adam is elementwise.

Each member replays the random stream of the sequential strategy run with its seed: weights drawn
after ``torch.manual_seed(seed)``, the one number the strategy's DataLoader iterator draws (its
base seed), its own shuffling generator, its reparameterisation noise in every step and its
validation noise after every epoch. So member m equals the sequential run with seed m up to float
rounding (``tests/test_ensemble.py``). Avalanche plugins are not supported: they need a strategy
per model.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.models.losses import anchor_loss, negative_elbo
from rosetta_cl.models.vae import VAE, ModelConfig


@dataclass(frozen=True)
class Objective:
    """What one method minimises: the negative ELBO plus the weighted Rosetta term.

    Parameters
    ----------
    beta : float, default 1.0
        KL weight (1: VAE).
    rho : float, default 0.0
        Weight of the Rosetta term (0, or no anchors: no term).
    anchors : Anchors, optional
        The anchors (x_r, z_r).
    fit : str, default "exact"
        The term's encoder part, as in :func:`rosetta_term`.
    decoder : str, default "squared"
        The term's decoder part, as in :func:`anchor_loss`.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import Anchors, Objective
    >>> objective = Objective(rho=1.5, anchors=Anchors(torch.zeros(8, 5), torch.zeros(8, 2)))
    >>> objective.beta, objective.rho
    (1.0, 1.5)
    """

    beta: float = 1.0
    rho: float = 0.0
    anchors: Anchors | None = None
    fit: str = "exact"  # see losses.anchor_residual
    decoder: str = "squared"  # eq. 1's decoder term: squared | nll | none (losses.decoder_term)

    @property
    def anchored(self) -> bool:
        return self.rho != 0 and self.anchors is not None and len(self.anchors) > 0


@dataclass
class EnsembleRun:
    """One ensemble member after training: its seed, its model and its per-epoch metrics.

    Parameters
    ----------
    seed : int
        The member's seed.
    model : VAE
        The trained model (a plain :class:`VAE`).
    history : dict[str, list of float]
        Per-epoch metrics under the strategies' names (``train/loss``, ``train/recon``,
        ``train/kl``, [``train/rosetta``], [``val/loss``, ``val/recon``, ``val/kl``]), epoch e
        at index e - 1.
    epoch_times : list of float
        When each epoch ended (``time.time()``).

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import ModelConfig, train_ensemble
    >>> run = train_ensemble(ModelConfig(input_dim=5), [1], torch.randn(100, 5), epochs=2)[0]
    >>> run.seed, len(run.history["train/loss"]), len(run.epoch_times)
    (1, 2, 2)
    """

    seed: int
    model: VAE
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_times: list[float] = field(default_factory=list)  # wall clock at each epoch's end


class _Terms(nn.Module):
    """One member's per-minibatch terms, as a module so ``functional_call`` can swap in a slice
    of the stacked parameters: [loss, recon, kl(, rosetta)], loss = recon + beta kl (+ rosetta).
    """

    def __init__(self, model: VAE, objective: Objective, batch_size: int):
        super().__init__()
        self.model, self.objective, self.batch_size = model, objective, batch_size

    def forward(self, x: Tensor, eps: Tensor, anchor_x: Tensor | None = None,
                anchor_z: Tensor | None = None) -> Tensor:
        parts = negative_elbo(self.model(x, eps), self.objective.beta)
        if anchor_x is None:
            return torch.stack([parts.loss, parts.recon, parts.kl])
        assert anchor_z is not None  # given with anchor_x
        term = anchor_loss(self.model, anchor_x, anchor_z, self.objective.rho, self.batch_size,
                           fit=self.objective.fit, decoder=self.objective.decoder)
        return torch.stack([parts.loss + term, parts.recon, parts.kl, term])


def _noise_generator(seed: int, device: torch.device) -> torch.Generator:
    """The generator the sequential run's sampling noise comes from, at the point training starts.

    Call right after the member's weights were drawn (after ``torch.manual_seed(seed)``). On the
    CPU that is the global generator after the strategy's DataLoader drew its base seed; on CUDA
    the device generator, which weight init (done on the CPU) never touched.
    """
    if device.type == "cpu":
        torch.empty((), dtype=torch.int64).random_()  # the DataLoader iterator's base-seed draw
        generator = torch.Generator()
        generator.set_state(torch.get_rng_state())
        return generator
    return torch.Generator(device=device).manual_seed(seed)


def train_ensemble(config: ModelConfig, seeds: Sequence[int], x: Tensor, *,
                   objective: Objective = Objective(), epochs: int = 1, batch_size: int = 128,
                   lr: float = 1e-3, device: str | torch.device = "cpu",
                   val_x: Tensor | None = None, val_batch_size: int = 8192,
                   on_epoch: Callable[[int], None] | None = None,
                   member_anchors: Sequence[Anchors] | None = None,
                   data_index: Sequence[int] | None = None) -> list[EnsembleRun]:
    """Train one fresh ``VAE(config)`` per seed on ``x`` as one vectorised ensemble (vmap).

    Same arithmetic as the ``METHODS`` strategies with ``train_epochs=epochs`` and
    ``train_mb_size=batch_size``: Adam(lr), seeded reshuffling every epoch, the Rosetta term on
    every minibatch (weighted by k / batch_size), the validation loss after every epoch.

    Parameters
    ----------
    config : ModelConfig
        Every member's shape.
    seeds : sequence of int
        One member per seed (its initialisation and shuffling).
    x : torch.Tensor, shape (N, input_dim) or (T, N, input_dim)
        Training data: shared, or T sets (``--templates``: each template's data), member m
        training on set ``data_index[m]``.
    objective : Objective, default Objective()
        beta, rho and anchors (default: the plain VAE).
    epochs : int, default 1
        Epochs.
    batch_size : int, default 128
        Minibatch size.
    lr : float, default 1e-3
        Adam's learning rate.
    device : str or torch.device, default "cpu"
        Training device.
    val_x : torch.Tensor, optional
        Validation data for the ``val/*`` metrics, shared or T sets (as ``x``).
    val_batch_size : int, default 8192
        Rows per validation batch.
    on_epoch : callable, optional
        Called with the epoch number after each epoch (progress bars).
    member_anchors : sequence of Anchors, optional
        One set of anchors per member (the same k), instead of ``objective.anchors`` for all.
    data_index : sequence of int, optional
        With T sets of data: the set each member trains and validates on.

    Returns
    -------
    list of EnsembleRun
        One per seed, in order.

    Examples
    --------
    >>> import torch
    >>> from rosetta_cl import Anchors, ModelConfig, Objective, train_ensemble
    >>> x = torch.randn(100, 5)
    >>> anchored = Objective(rho=1.5, anchors=Anchors(x[:8], torch.zeros(8, 2)))
    >>> runs = train_ensemble(ModelConfig(input_dim=5), [1, 2, 3], x, objective=anchored)
    >>> [run.seed for run in runs], sorted(runs[0].history)
    ([1, 2, 3], ['train/kl', 'train/loss', 'train/recon', 'train/rosetta'])
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: an ensemble needs at least one seed")
    device = torch.device(device)
    members, noise, shuffles = [], [], []
    for seed in seeds:
        torch.manual_seed(seed)
        members.append(_Terms(VAE(config).to(device), objective, batch_size))
        noise.append(_noise_generator(seed, device))
        shuffles.append(torch.Generator().manual_seed(seed))
    params, buffers = stack_module_state(members)
    params = {name: p.detach().requires_grad_() for name, p in params.items()}
    base = copy.deepcopy(members[0]).to("meta")
    if member_anchors is not None and objective.rho != 0:  # each member its own anchors
        if len(member_anchors) != len(seeds):
            raise ValueError("member_anchors: one set of anchors per seed")
        anchor_args: tuple[Tensor, ...] = (
            torch.stack([a.x for a in member_anchors]).to(device),
            torch.stack([a.z for a in member_anchors]).to(device))
    elif objective.anchors is not None and objective.anchored:  # the same for every member
        anchors = objective.anchors.to(device)
        anchor_args = tuple(a.expand(len(seeds), *a.shape) for a in (anchors.x, anchors.z))
    else:
        anchor_args = ()

    def train_terms(p, b, xb, eps, *anchor_batch):
        return functional_call(base, (p, b), (xb, eps, *anchor_batch))

    def val_terms(p, b, xb, eps):
        return functional_call(base, (p, b), (xb, eps))

    sets = None  # member -> its data set, when there are several
    if x.dim() == 3:
        if data_index is None or len(data_index) != len(seeds):
            raise ValueError("x with several data sets needs data_index: one set per seed")
        sets = torch.as_tensor(list(data_index), device=device)
    train_step = vmap(train_terms)
    validate = vmap(val_terms, in_dims=(0, 0, 0 if sets is not None else None, 0))
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    x = x.to(device)
    n, d = x.shape[-2], config.latent_dim
    names = ["train/loss", "train/recon", "train/kl"] + (["train/rosetta"] if anchor_args else [])
    rows: list[Tensor] = []  # per epoch: (M, terms) on the device; one host sync at the end
    epoch_times: list[float] = []
    for epoch in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(device)
        sums = torch.zeros(len(seeds), len(names), device=device)
        for i in range(0, n, batch_size):
            index = orders[:, i : i + batch_size]
            eps = torch.stack([torch.randn(index.shape[1], d, generator=g, device=device)
                               for g in noise])
            optimizer.zero_grad()
            batch = x[sets[:, None], index] if sets is not None else x[index]
            terms = train_step(params, buffers, batch, eps, *anchor_args)
            terms[:, 0].sum().backward()
            optimizer.step()
            weighted = terms.detach() * index.shape[1]
            sums = sums + weighted
        row = sums / n
        if val_x is not None:
            row = torch.cat([row, _validation(validate, params, buffers, val_x, noise, d, device,
                                              val_batch_size, sets)], dim=1)
        rows.append(row)
        epoch_times.append(time.time())
        if on_epoch is not None:
            on_epoch(epoch + 1)
    if val_x is not None:
        names += ["val/loss", "val/recon", "val/kl"]
    table = torch.stack(rows).cpu() if rows else torch.empty(0, len(seeds), len(names))
    runs = []
    with torch.no_grad():
        for m, (seed, member) in enumerate(zip(seeds, members, strict=True)):
            for name, parameter in member.named_parameters():
                parameter.copy_(params[name][m])
            history = {name: table[:, m, j].tolist() for j, name in enumerate(names)}
            runs.append(EnsembleRun(seed, member.model, history, epoch_times))
    return runs


@torch.inference_mode()
def _validation(validate, params, buffers, val_x: Tensor, noise, d: int, device,
                batch_size: int, sets: Tensor | None = None) -> Tensor:
    """(M, 3) mean [loss, recon, kl] over ``val_x`` (shared, or T sets: member m's is
    ``sets[m]``), in chunks like the strategies' metric.
    """
    totals = torch.zeros(len(noise), 3, device=device)
    n = val_x.shape[-2]
    for i in range(0, n, batch_size):
        xb = val_x[..., i : i + batch_size, :].to(device)
        if sets is not None:
            xb = xb[sets]  # (M, chunk, D)
        rows = xb.shape[-2]
        eps = torch.stack([torch.randn(rows, d, generator=g, device=device) for g in noise])
        batch = validate(params, buffers, xb, eps) * rows
        totals = totals + batch
    return totals / n
