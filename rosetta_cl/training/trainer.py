"""The training core every protocol shares: build a model and its method's strategy, train it on
one experience, encode the validation parts, score it, and hand the result on as a
:class:`~rosetta_cl.records.RunRecord` (``emit``). Nothing here writes to MLflow.

Seeds: the template and target use ``config.seed``, the i-th run of every method uses
``config.seed + 1 + i`` (paired across methods).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from tqdm.auto import tqdm

from rosetta_cl.anchors.points import Anchors
from rosetta_cl.anchors.rosetta_file import fingerprint, make_anchor_file, read_anchor_file
from rosetta_cl.config.options import RunConfig, filled, resolve_device
from rosetta_cl.config.threads import intra_op_threads
from rosetta_cl.data.streams import Benchmark, tensor_dataset
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.methods.epoch_metrics import MetricHistory
from rosetta_cl.methods.strategies import RosettaVAEStrategy
from rosetta_cl.metrics.latent import active_units
from rosetta_cl.models.vae import VAE, ModelConfig, encode_means
from rosetta_cl.records import FEATURES_ARRAY, FINGERPRINT_TAG, Emit, Reused, RunRecord, discard
from rosetta_cl.registry import METHODS, make_plugins, parse_plugin
from rosetta_cl.training.divergence import DivergenceGuard, check_history, check_latents
from rosetta_cl.training.ensemble import Objective, train_ensemble
from rosetta_cl.training.executors import LocalExecutor
from rosetta_cl.training.progress import EpochBar, GridBar

# evaluate(model, latents) -> (metrics, arrays): a protocol's scores of one trained model
Evaluate = Callable[[torch.nn.Module, dict], tuple[dict, dict]]
# fields that change no number of a training: left out of its fingerprint
NOT_FINGERPRINTED = ("figures", "plugins_dir")


@dataclass
class Job:
    """One training: ``method`` with ``seed`` as role ``role`` (template, target, method);
    ``config``: its own config where it differs from the trainer's (a tune grid point).
    """

    method: str
    seed: int
    name: str
    role: str
    anchors: Anchors | None = None
    val_x: torch.Tensor | None = None
    evaluate: Evaluate | None = None
    config: RunConfig | None = None

    def on(self, trainer: Trainer) -> Trainer:
        """The trainer this job trains with."""
        return trainer if self.config is None else trainer.with_config(self.config)


# reuse(fingerprint) -> the finished training with that fingerprint, or None
Reuse = Callable[[str], Reused | None]


@dataclass(frozen=True)
class BenchInfo:
    """What a training needs of its benchmark in a worker process (no Avalanche scenario)."""

    parts: tuple[str, ...]
    input_dim: int
    defaults: object
    features: tuple[str, ...] | None = None  # a user file's column names (Trainer.model_arrays)


@dataclass
class Trained:
    """One trained model: what a protocol reads back (the record went to ``emit``)."""

    method: str
    seed: int
    model: torch.nn.Module
    latents: dict[str, np.ndarray]  # mu_<part>: validation latent means of every part
    metrics: dict[str, float]
    anchors: Anchors | None = None  # those the model selected (the template)


@dataclass
class MethodPlan:
    """A protocol between its template and its method runs: what every method x seed trains
    on (``experience``, with ``anchors``, validated on ``val_x``) and is scored with
    (``evaluate``), and the protocol's own ``state`` for scoring the runs afterwards. Split so
    that ``--ensemble --templates N`` can train the runs of every template as one ensemble.
    """

    trainer: Trainer
    experience: Any  # an Avalanche experience
    anchors: Anchors
    val_x: torch.Tensor
    evaluate: Evaluate | None
    started: float  # time.perf_counter() when the protocol began
    state: dict

    def methods(self) -> tuple:
        """The arguments of ``Trainer.train_methods``."""
        return self.experience, self.anchors, self.val_x, self.evaluate


class Trainer:
    """The training core of the protocols: builds, trains and scores the models of one run.

    Every trained model goes to ``emit`` as a :class:`RunRecord` (``records.discard``:
    untracked). ``train`` trains one model, ``train_many`` several (on the executor, side by side
    with Ray), reusing what ``reuse`` finds by fingerprint.

    Parameters
    ----------
    bench : Benchmark
        The data.
    config : RunConfig
        A resolved config.
    emit : callable, optional
        Receives each :class:`RunRecord` (None: discarded).
    progress : bool or GridBar, default False
        Progress bars.
    executor : Executor, optional
        Where trainings run (None: here).
    reuse : callable, optional
        fingerprint -> a finished training of an interrupted run, or None.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, Trainer
    >>> from rosetta_cl.experiments.runner import prepare
    >>> config, bench = prepare(RunConfig(methods=("vae",), seeds=1, epochs=2, subsample=200))
    >>> records = []
    >>> trainer = Trainer(bench, config, emit=records.append)
    >>> trained = trainer.train("vae", 1, bench.train_stream[0], name="vae_1", role="method")
    >>> records[0].name, len(records[0].history["train/loss"]), tuple(trained.latents)
    ('vae_1', 2, ...)
    """

    def __init__(self, bench: Benchmark, config: RunConfig, emit: Emit | None = None,
                 progress: bool | GridBar = False, executor=None, reuse: Reuse | None = None):
        self.bench, self.config = bench, config
        # a GridBar: the caller's bar over its whole grid; True: a bar per batch of trainings
        self.grid = progress if isinstance(progress, GridBar) else None
        self.progress = self.grid.show if self.grid else bool(progress)
        self.emit = emit or discard
        self.executor = executor or LocalExecutor()  # executors.LocalExecutor / RayExecutor
        self.reuse = reuse  # --resume: finished trainings found in the store
        self.device = resolve_device(config.device)
        # The template and target share one architecture; the methods' may differ (Table 10).
        self.model_configs = {
            "template": self._model_config(filled(config.template_arch),
                                           config.template_arch_variant),
            "method": self._model_config(filled(config.arch), config.arch_variant),
        }
        self.model_configs["target"] = self.model_configs["template"]
        valid = [dataset_tensors(e.dataset) for e in bench.valid_stream]  # one pass per split
        self.valid_x = [x for x, _ in valid]
        self.valid_y = [y for _, y in valid]
        self.files: list[str] = []  # files the protocol's own run should hold (--anchors)
        # train --init-from-anchors: every method model starts from these weights (the anchors'
        # registered VAE, named by init_from) instead of fresh ones
        self.initial_weights: dict[str, torch.Tensor] | None = None
        self.init_from: str | None = None

    def with_config(self, config: RunConfig) -> Trainer:
        """Copy this trainer (benchmark, validation tensors, emit) under another config, e.g. one
        grid point of ``tune``: the validation data are not read again.
        """
        other = copy.copy(self)
        other.config, other.files = config, []
        other.model_configs = {
            "template": other._model_config(filled(config.template_arch),
                                            config.template_arch_variant),
            "method": other._model_config(filled(config.arch), config.arch_variant)}
        other.model_configs["target"] = other.model_configs["template"]
        return other

    def _model_config(self, arch: str, variant: str) -> ModelConfig:
        defaults = self.bench.defaults
        return ModelConfig(
            input_dim=self.bench.input_dim, latent_dim=filled(self.config.latent_dim),
            hidden=defaults.hidden_for(arch), covariance=self.config.covariance,
            likelihood=defaults.likelihood,
            obs_scale=self.config.obs_scale if defaults.likelihood == "gaussian" else None,
            arch=arch, arch_variant=variant, image_shape=defaults.image_shape)

    def tags(self, role: str, method: str, seed: int) -> dict:
        return {"protocol": self.config.protocol, "benchmark": self.config.benchmark,
                "role": role, "method": method, "seed": seed}

    def params(self, method: str, seed: int, role: str) -> dict:
        model_config = self.model_configs[role]
        plugins = {f"plugin.{name}": str(options) for name, options in
                   map(parse_plugin, self.config.plugins)} if role == "method" else {}
        objective = METHODS[method].objective
        beta = {"beta_used": str(objective(self.config)[0])} if objective else {}
        init = {"init_from": self.init_from} if self.init_from and role == "method" else {}
        return {**self.config.as_params(), **plugins, "method": method, "run_seed": str(seed),
                **beta, **init, **{f"model.{k}": str(v) for k, v in vars(model_config).items()}}

    def start_from(self, model, source: str) -> None:
        """Every method model starts from ``model``'s weights (its architecture replaces the
        config's), e.g. the anchors' registered VAE: ``train --init-from-anchors``.
        """
        self.model_configs["method"] = copy.deepcopy(model.config)
        self.initial_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.init_from = source

    def train(self, method: str, seed: int, experience, *, name: str, role: str,
              anchors: Anchors | None = None, val_x=None, evaluate: Evaluate | None = None
              ) -> Trained:
        """A fresh model seeded with ``seed``, trained with ``method`` on one experience, then
        encoded and scored (``evaluate``); its record goes to ``emit``.
        """
        job = Job(method, seed, name, role, anchors, val_x, evaluate)
        return self.train_many(experience, [job], bar=False)[0]

    def train_many(self, experience, jobs: list[Job], bar: bool = True) -> list[Trained]:
        """Every job on ``experience``, in job order: a job whose fingerprint ``reuse`` finds
        is read back, not trained; the others run on the executor (this process, or Ray tasks
        side by side). Each new record goes to ``emit`` in job order, here in the driver.
        """
        found = {i: self.reuse(self.fingerprint(job)) for i, job in enumerate(jobs)
                 } if self.reuse else {}
        todo = [job for i, job in enumerate(jobs) if found.get(i) is None]
        if isinstance(self.executor, LocalExecutor):
            done = (self._train_here(experience, job) for job in todo)
        else:
            shared = (self.portable(), dataset_tensors(experience.dataset))
            done = self._emitted(self.executor.map(train_job, shared, todo))
        results = []
        runs = self.grid or GridBar(len(jobs), self.progress and bar)
        for i, job in enumerate(jobs):
            reused = found.get(i)
            results.append(self._from_store(job, reused) if reused is not None else next(done))
            runs.update(name=job.name + (" (reused)" if reused is not None else ""))
        if runs is not self.grid:
            runs.close()
        return results

    def _emitted(self, outputs):
        for record, trained in outputs:
            self.emit(record)
            yield trained

    def _from_store(self, job: Job, reused: Reused) -> Trained:
        model = reused.model.to(self.device)
        metrics = job.evaluate(model, reused.latents)[0] if job.evaluate else {}
        metrics = {**metrics, "active_units": float(units_of(reused.latents))}
        return Trained(job.method, job.seed, model, reused.latents, metrics, reused.anchors)

    def fingerprint(self, job: Job) -> str:
        """What makes a training's numbers: the config (less figures and folders), the model
        config, method, seed, role and name. Tagged on its run; ``--resume`` looks it up.
        """
        trainer = job.on(self)
        config = {k: v for k, v in trainer.config.as_dict().items()
                  if k not in NOT_FINGERPRINTED}
        payload = {"config": config, "model": vars(trainer.model_configs[job.role]),
                   "method": job.method, "seed": job.seed, "role": job.role, "name": job.name,
                   **({"init_from": self.init_from} if self.init_from else {})}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def portable(self) -> Trainer:
        """A copy to send to a worker process: no Avalanche scenario, executor or emit."""
        other = copy.copy(self)
        # a worker reads only the parts, input size and defaults of its benchmark
        other.bench = BenchInfo(tuple(self.bench.parts), self.bench.input_dim,  # type: ignore[assignment]
                                self.bench.defaults, self.bench.features)
        other.emit, other.progress, other.executor, other.reuse = discard, False, None, None
        other.grid = None
        return other

    def _train_here(self, experience, job: Job) -> Trained:
        return job.on(self)._train(job.method, job.seed, experience, name=job.name, role=job.role,
                           anchors=job.anchors, val_x=job.val_x, evaluate=job.evaluate)

    def _train(self, method: str, seed: int, experience, *, name: str, role: str,
               anchors: Anchors | None = None, val_x=None, evaluate: Evaluate | None = None
               ) -> Trained:
        # the thread rule (config.threads), here too: a Ray worker or tune's grid point lands
        # here without passing through the runner's
        with intra_op_threads(filled(self.config.threads)):
            return self._train_threaded(method, seed, experience, name=name, role=role,
                                        anchors=anchors, val_x=val_x, evaluate=evaluate)

    def _train_threaded(self, method: str, seed: int, experience, *, name: str, role: str,
                        anchors: Anchors | None = None, val_x=None,
                        evaluate: Evaluate | None = None) -> Trained:
        started = time.time()
        torch.manual_seed(seed)
        model = VAE(self.model_configs[role])
        if role == "method" and self.initial_weights is not None:
            model.load_state_dict(self.initial_weights)
        model = model.to(self.device)
        history = MetricHistory()
        common = {"lr": self.config.lr, "train_mb_size": self.config.batch_size,
                  "train_epochs": self.config.epochs, "device": self.device, "seed": seed,
                  "loggers": [history], "val_x": val_x,
                  "plugins": self.watch(name, seed)}
        if role == "method":  # --plugin: fresh instances for every trained model
            common["plugins"] += make_plugins(self.config.plugins)
        if role == "template":
            strategy = self.template_strategy(model, common)
        else:
            strategy = METHODS[method].make(model, self.config, anchors, **common)
        strategy.train(experience)
        selected = strategy.rosetta.anchors if role == "template" else None
        return self.finish(name, method, seed, role, model, history.values,
                           anchors if selected is None else selected, evaluate,
                           selected=selected, experience=experience,
                           times=(started, history.times))

    def watch(self, name: str, seed: int) -> list:
        """The plugins every trained model runs with, here or in a protocol's own loop (the
        continual stream): its progress bar and the divergence guard.
        """
        return [EpochBar(name, self.progress),
                DivergenceGuard(f"{name} (seed {seed})", self.config.lr)]

    def template_strategy(self, model, common: dict):
        return RosettaVAEStrategy(model=model, k=filled(self.config.rosetta_points), rho=0.0,
                                  select=True, selection=self.config.selection, **common)

    def finish(self, name: str, method: str, seed: int, role: str, model, history: dict,
               anchors: Anchors | None, evaluate: Evaluate | None, *,
               selected: Anchors | None = None, experience=None,
               times: tuple[float, list[float]] | None = None) -> Trained:
        """Encode the validation parts, score, and emit the model's record: its history, its
        ``latents.npz``, the model, ``evaluate``'s metrics and arrays, and (a template) the
        anchors it selected with their portable ``.rosetta`` file. ``times``: when the training
        began and each epoch ended (``records.RunRecord``).
        """
        check_history(f"{name} (seed {seed})", history, self.config.lr)
        latents = {f"mu_{part}": encode_means(model, x).cpu().numpy()
                   for part, x in zip(self.bench.parts, self.valid_x, strict=True)}
        check_latents(f"{name} (seed {seed})", filled(self.config.epochs), latents,
                      self.config.lr)
        arrays = self.model_arrays(model, latents, anchors)
        metrics, more = evaluate(model, latents) if evaluate else ({}, {})
        metrics = {**metrics, "active_units": float(units_of(latents))}
        arrays.update(more)
        tags = {**self.tags(role, method, seed),
                FINGERPRINT_TAG: self.fingerprint(Job(method, seed, name, role))}
        started, epoch_times = times or (None, [])
        record = RunRecord(name, self.params(method, seed, role), tags,
                           history=dict(history), metrics=metrics, arrays=arrays, model=model,
                           anchors=selected, started=started, epoch_times=list(epoch_times))
        if selected is not None:  # built only when written (it re-reads and hashes D1)
            record.anchor_file = lambda: self.anchor_file(model, selected, experience, seed)
        self.emit(record)
        return Trained(method, seed, model, latents, metrics, selected)

    def train_methods(self, experience, anchors: Anchors, val_x,
                      evaluate: Evaluate | None = None) -> list[Trained]:
        """Every (method, seed) run of the protocol: one model at a time through the method's
        strategy, or with ``config.ensemble`` each method's seeds as one vectorised ensemble
        (same arithmetic, see ``ensemble``). In ``method_runs`` order.
        """
        if not self.config.ensemble:
            return self.train_many(experience, [
                Job(method, seed, f"{method}/seed{seed}", "method", anchors, val_x, evaluate)
                for method, seed in self.method_runs()])
        plan = MethodPlan(self, experience, anchors, val_x, evaluate, time.perf_counter(), {})
        return train_ensembles([plan])[0]

    def ensemble_objective(self, method: str, anchors: Anchors | None) -> Objective:
        """What ``method``'s ensemble minimises (its registered objective, this config's
        anchor term).
        """
        objective = METHODS[method].objective
        assert objective is not None  # check_ensemble refuses methods without one
        beta, rho = objective(self.config)
        return Objective(beta, rho, anchors, self.config.anchor_fit, self.config.anchor_decoder)

    def model_arrays(self, model, latents: dict, anchors: Anchors | None) -> dict:
        """A trained model's arrays: ``latents.npz`` and, when the data name their columns (an
        ``.h5ad``'s var_names, an ``.npz``'s features), ``features.npz`` (what ``anchors
        publish`` gives the version, so ``embed`` puts another lab's columns in this order).
        """
        arrays = {"latents.npz": self.latent_arrays(model, latents, anchors)}
        if self.bench.features is not None:
            arrays[FEATURES_ARRAY] = {"features": np.array(self.bench.features, dtype=str)}
        return arrays

    def latent_arrays(self, model, latents: dict, anchors: Anchors | None) -> dict:
        """``latents.npz``: the validation latent means ``mu_<part>`` and labels ``y_<part>``,
        and ``rosetta_mu``, where this model puts the Rosetta points' inputs (for the figures).
        """
        arrays = {**latents, **{f"y_{p}": y.numpy() for p, y in zip(self.bench.parts,
                                                                    self.valid_y, strict=True)}}
        if anchors is not None and len(anchors):
            arrays["rosetta_mu"] = encode_means(model, anchors.x.to(self.device)).cpu().numpy()
        return arrays

    def anchor_file(self, model, anchors: Anchors, experience, seed: int):
        """The template's anchors as a portable ``.rosetta`` file (what Alice shares)."""
        x, _ = dataset_tensors(experience.dataset)
        config = model.config
        return make_anchor_file(
            anchors.x, anchors.z, input_shape=config.image_shape or (config.input_dim,),
            selection={"method": self.config.selection, "k": self.config.rosetta_points,
                       "seed": seed},
            template={k: list(v) if isinstance(v, tuple) else v
                      for k, v in asdict(config).items()},
            source={"benchmark": self.config.benchmark, "part": self.bench.parts[0],
                    "split_seed": self.config.seed, "subsample": self.config.subsample,
                    "n": len(x), "fingerprint": fingerprint(x)})

    def template(self) -> tuple[Anchors, dict | None]:
        """Template VAE on D1; its RosettaPlugin selects the anchors after training.

        Returns (anchors, the template's latent means of the validation parts).

        With ``config.anchors`` (a ``.rosetta`` file: Bob's workflow) no template is trained:
        the file's anchors are used (the file goes to the protocol's run) and the template
        latents are None.
        """
        if self.config.anchors:
            self.files.append(self.config.anchors)
            return read_anchor_file(self.config.anchors).anchors(), None
        trained = self.train("vae", self.config.seed, self.bench.train_stream[0],
                             name="template", role="template", val_x=self.valid_x[0])
        assert trained.anchors is not None  # a template's plugin selects them
        return trained.anchors, trained.latents

    def with_anchor_inputs(self, experience, anchors: Anchors):
        """The experience's data plus the x_r (label -1): what every method trains on."""
        extra = tensor_dataset(anchors.x.numpy(), np.full(len(anchors), -1))
        return benchmark_from_datasets(train=[experience.dataset.concat(extra)]).train_stream[0]

    def method_data(self, anchors: Anchors):
        """What the methods train on, and their validation inputs: D2 u x_r (sequential) or
        D1 u x_r (reproducibility).
        """
        part = 1 if self.config.protocol == "sequential" else 0
        return (self.with_anchor_inputs(self.bench.train_stream[part], anchors),
                self.valid_x[part])

    def method_runs(self) -> list[tuple[str, int]]:
        return [(m, self.config.seed + 1 + i) for m in self.config.methods
                for i in range(filled(self.config.seeds))]


def train_methods_over(plans: list[MethodPlan]) -> list[list[Trained]]:
    """The method runs of several templates' plans (``--templates``): with ``--ensemble``, each
    method's runs of every template as one vectorised ensemble (:func:`train_ensembles`); else,
    or when the templates' data differ in size, each plan's own ``train_methods``. Per plan, in
    ``method_runs`` order.
    """
    if not plans[0].trainer.config.ensemble:
        return [plan.trainer.train_methods(*plan.methods()) for plan in plans]
    data = [dataset_tensors(plan.experience.dataset)[0] for plan in plans]
    shapes = {(x.shape, p.val_x.shape, p.anchors.x.shape) for x, p in zip(data, plans, strict=True)}
    if len(shapes) != 1:
        return [plan.trainer.train_methods(*plan.methods()) for plan in plans]
    return train_ensembles(plans, data)


def train_ensembles(plans: list[MethodPlan], data: list[torch.Tensor] | None = None
                    ) -> list[list[Trained]]:
    """Each method's seeds of every plan as one vectorised ensemble (``--ensemble``; the same
    arithmetic as the strategies, see ``ensemble``): member (template t, seed) trains on plan t's
    data with its anchors and validation set. Per plan, in ``method_runs`` order.
    """
    trainers = [plan.trainer for plan in plans]
    first = trainers[0]
    if data is None:  # each plan's training inputs (read once by the caller when it has them)
        data = [dataset_tensors(plan.experience.dataset)[0] for plan in plans]
    several = len(plans) > 1  # one data set per template; else the one shared by every member
    results: list[list[Trained]] = [[] for _ in plans]
    for method in first.config.methods:
        members = [(t, seed) for t, trainer in enumerate(trainers)
                   for m, seed in trainer.method_runs() if m == method]
        which = [t for t, _ in members]
        started = time.time()
        with tqdm(total=first.config.epochs, desc=f"{method} x{len(members)}", leave=False,
                  disable=None if first.progress else True) as bar, \
                intra_op_threads(filled(first.config.threads)):
            runs = train_ensemble(
                first.model_configs["method"], [seed for _, seed in members],
                torch.stack(data) if several else data[0],
                objective=first.ensemble_objective(method, plans[0].anchors),
                epochs=filled(first.config.epochs), batch_size=first.config.batch_size,
                lr=first.config.lr, device=first.device,
                val_x=torch.stack([plan.val_x for plan in plans]) if several else plans[0].val_x,
                on_epoch=lambda _: bar.update(),
                member_anchors=[plans[t].anchors for t in which] if several else None,
                data_index=which if several else None)
        for (t, seed), run in zip(members, runs, strict=True):
            plan = plans[t]
            results[t].append(plan.trainer.finish(
                f"{method}/seed{seed}", method, seed, "method", run.model, run.history,
                plan.anchors, plan.evaluate, times=(started, run.epoch_times)))
        if first.grid:
            over = f" over {len(plans)} templates" if several else ""
            first.grid.update(len(runs), name=f"{method} x{len(runs)}{over} (ensemble)")
    return results


def units_of(latents: dict[str, np.ndarray]) -> int:
    """Active units of a model over every validation part's latent means."""
    return active_units(np.concatenate([latents[k] for k in sorted(latents)
                                        if k.startswith("mu_")]))


def train_job(shared: tuple[Trainer, tuple], job: Job) -> tuple[RunRecord, Trained]:
    """One training in a worker process (``executors``): the experience is rebuilt from its
    tensors (training reads only those), the record is kept instead of emitted and comes back
    with the result, on the CPU, its anchor file already built.
    """
    portable, (x, y) = shared
    experience = benchmark_from_datasets(train=[tensor_dataset(x, y)]).train_stream[0]
    trainer, records = copy.copy(portable), list[RunRecord]()
    trainer.emit = records.append
    trainer.device = resolve_device(trainer.config.device)  # the worker's own devices
    trained = trainer._train_here(experience, job)
    record = records[0]
    if record.anchor_file is not None:
        anchor_file = record.anchor_file()
        record.anchor_file = lambda: anchor_file
    trained.model = record.model = trained.model.cpu()
    return record, trained
