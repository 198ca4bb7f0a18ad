"""``rosetta-cl train``: models trained on one data file as a whole, no protocol around them.

Alice (no ``--anchors``): plain VAEs, each selecting k Rosetta points after training (logged as
its ``anchors.rosetta``, ready for ``anchors publish``). Bob (``--anchors FILE`` or
``models:/NAME@ALIAS``): R-VAEs (or ``--methods``) anchored to them on his own data, each logged
with its anchor fit, mean ||z_r - mu(x_r)||^2 over the anchors. Every model is a model run
under one parent run; the data's feature names go with each (``features.npz``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from rosetta_cl.config.options import RunConfig, filled
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.runner import (
    chosen_experiment,
    experiment_name,
    open_tracker,
    prepare,
    pull_anchors,
)
from rosetta_cl.metrics.alignment import ALIGNMENT_RULE


@dataclass
class TrainedRun:
    """One trained model: its name, seed, MLflow run (None when untracked) and final metrics."""

    name: str
    seed: int
    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def alignment(self) -> str | None:
        """``aligned`` / ``not aligned`` for an anchored model (``metrics.alignment``), else
        None."""
        if "aligned" not in self.metrics:
            return None
        return "aligned" if self.metrics["aligned"] else "not aligned"


@dataclass
class TrainResult:
    """What :func:`train` returns: the models, their parent run and where the anchors came from."""

    config: RunConfig
    runs: list[TrainedRun]
    parent_run_id: str | None
    anchors_model: str | None  # models:/NAME/VERSION when pulled from the registry
    features: tuple[str, ...] | None
    wall_time_s: float
    init_from: str | None = None  # --init-from-anchors: the version every model started from

    @property
    def smoke(self) -> bool:
        """A ``--quick`` run: a few epochs to check the pipeline, not models to use."""
        return bool(self.config.quick)

    def as_dict(self) -> dict:
        anchored = bool(self.config.anchors)
        return {"data": self.config.data, "methods": list(self.config.methods),
                "parent_run_id": self.parent_run_id, "anchors_model": self.anchors_model,
                "init_from": self.init_from, "smoke": self.smoke,
                "wall_time_s": round(self.wall_time_s, 3),
                "alignment_rule": ALIGNMENT_RULE if anchored else None,
                "runs": [{**vars(r), "alignment": r.alignment} for r in self.runs]}


def train(config: RunConfig, *, tracking_uri: str | None = None, experiment: str | None = None,
          track: bool = True, progress: bool = False,
          init_from_anchors: bool = False) -> TrainResult:
    """Train ``config.seeds`` models of each of ``config.methods`` on all of ``config.data``.

    Without ``config.anchors`` the method must be ``vae`` (Alice's template-like models, which
    select anchors); with them, each model trains on the data plus the anchors' x_r, the R-VAE
    with the anchor term. ``init_from_anchors``: the anchors are a registered version, and
    every model starts from its VAE (fine-tuned, in its architecture) instead of fresh weights
    (Bob has Alice's model here, unlike the paper's setting).
    """
    from rosetta_cl.records import discard
    from rosetta_cl.tracking.model_registry import is_model_uri
    from rosetta_cl.training.trainer import Job, Trainer

    began = time.perf_counter()
    if not config.data:
        raise ConfigError("train needs a data file (.npz, .npy or .h5ad)")
    if config.templates not in (None, 1):
        raise ConfigError(f"templates {config.templates} with train: allowed 1 (train has no "
                          "protocol: it trains on the whole file)")
    config = replace(config, templates=1)
    if config.epochs_rule == "plateau":
        raise ConfigError("--epochs plateau with train: train has no joint model whose loss "
                          "the rule watches; allowed with rosetta-cl run (here give --epochs N)")
    if init_from_anchors and not is_model_uri(config.anchors):
        raise ConfigError(f"--init-from-anchors with anchors {config.anchors or '(none)'}: "
                          "allowed with --anchors models:/NAME@ALIAS or models:/NAME/VERSION "
                          "(a .rosetta file holds no model to start from)")
    if init_from_anchors and config.ensemble:
        raise ConfigError("--init-from-anchors with --ensemble: allowed without --ensemble")
    config, pulled = pull_anchors(config, tracking_uri)
    anchored = bool(config.anchors)
    if not anchored and config.methods != ("vae",):
        raise ConfigError(f"methods {','.join(config.methods)} without --anchors: allowed vae "
                          "(a plain VAE, whose anchors are then selected; give --anchors to "
                          "train anchored methods)")
    if anchored and config.latent_dim is None:  # Bob's latent space is Alice's
        from rosetta_cl.anchors.rosetta_file import read_anchor_file

        config = replace(config, latent_dim=read_anchor_file(filled(config.anchors)).latent_dim)
    config, bench = prepare(config, whole=True, features=pulled.features if pulled else None)
    start = None
    if init_from_anchors and pulled is not None:  # checked before anything is written
        from rosetta_cl.models.vae import load_model

        start = load_model(pulled.folder)
        if start.config.input_dim != bench.input_dim:
            raise ConfigError(f"--init-from-anchors: {pulled.uri} reads {start.config.input_dim}"
                              f" features, {config.data} has {bench.input_dim}; allowed a file "
                              "of the model's width (or with its feature names)")
    tracker = None
    if track:
        tracker = open_tracker(tracking_uri, chosen_experiment(experiment,
                                                               experiment_name(config)))
    trainer = Trainer(bench, config, emit=tracker.write if tracker else discard,
                      progress=progress)
    if start is not None and pulled is not None:
        trainer.start_from(start, pulled.uri)
    experience, anchors = bench.train_stream[0], None
    if anchored:
        from rosetta_cl.anchors.rosetta_file import read_anchor_file

        anchors = read_anchor_file(filled(config.anchors)).anchors()
        experience = trainer.with_anchor_inputs(experience, anchors)  # the x_r join the data
    role = "method" if anchored else "template"
    evaluate = _evaluation(anchors)
    jobs = [Job(method, seed, f"{method}/seed{seed}", role, anchors, trainer.valid_x[0], evaluate)
            for method, seed in trainer.method_runs()]
    ids: list[str | None] = [None] * len(jobs)
    logged: dict[str | None, dict[str, float]] = {}
    if tracker is None:
        parent_id, trained = None, trainer.train_many(experience, jobs)
    else:
        tags = {"protocol": "train", "benchmark": config.benchmark, "role": "parent",
                **(pulled.tags() if pulled else {})}
        params = {**config.as_params(), "data_defaults": bench.derived_defaults or "",
                  **({"init_from": trainer.init_from} if trainer.init_from else {})}
        with tracker.parent(f"train-{experiment_name(config)}", params, tags) as parent_id:
            if pulled is not None:
                pulled.record_use(tracker.client, parent_id)
            trained = trainer.train_many(experience, jobs)
        ids = _child_ids(tracker.client, parent_id, [job.name for job in jobs])
        # each run's last logged values (train/ and val/ loss, recon, kl), as the UI shows them
        logged = {run_id: dict(tracker.client.get_run(run_id).data.metrics)
                  for run_id in ids if run_id}
    runs = [TrainedRun(job.name, job.seed, run_id, {**logged.get(run_id, {}), **done.metrics})
            for job, done, run_id in zip(jobs, trained, ids, strict=True)]
    return TrainResult(config, runs, parent_id, pulled.uri if pulled else None, bench.features,
                       time.perf_counter() - began, trainer.init_from)


def _evaluation(anchors):
    """A trained model's extra metrics: for an anchored model, its anchor fit against the
    anchors' spread and the verdict of the alignment rule (``metrics.alignment``; the feature
    names are logged with every model, ``Trainer.model_arrays``)."""
    from rosetta_cl.metrics.alignment import anchor_alignment
    from rosetta_cl.models.vae import encode_means

    def evaluate(model, latents):
        if anchors is None:
            return {}, {}
        device = next(model.parameters()).device
        mu = encode_means(model, anchors.x.to(device)).cpu().numpy()
        return anchor_alignment(mu, anchors.z.numpy()).metrics(), {}

    return evaluate


def _child_ids(client, parent_id: str, names: list[str]) -> list[str | None]:
    """The model runs of ``parent_id`` by name, in ``names``' order."""
    experiment = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")
    by_name = {r.info.run_name: r.info.run_id for r in runs}
    return [by_name.get(name) for name in names]
