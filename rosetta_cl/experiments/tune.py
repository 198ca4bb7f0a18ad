"""Hyperparameter selection as in the paper's appendix B: short runs over a grid, best by
validation performance.

For the protocol's training data (sequential: D2 u x_r, reproducibility: D1 u x_r), a template
VAE on D1, trained as in the protocols (the benchmark's epochs), gives the anchors; then every
method of ``--methods`` that names a tuned field (``MethodSpec.tuned``: the beta-VAE's beta,
the R-VAE's rho) is trained for each value of that field's grid (``beta_grid``, ``rho_grid``;
20 epochs by default), each grid point with its own config. Every grid point is scored by the
same yardstick (``criterion``):

- ``elbo+template`` (default): the negative ELBO with beta = 1 on the method's validation split
  plus the template-agreement term 0.5 * mean ||z_t(x) - mu(x)||^2 over D1's validation points
  (held out from the anchors and from every method's training data), z_t the template's latent
  means: -log N(z_t; mu(x), I), i.e. the template's embedding scored as an observation with the
  prior's unit scale. With ``anchor_fit = "affine"`` the residual after the best affine map.
  This is what the paper's results need from "best validation performance": the ELBO alone
  can never prefer rho > 0 (the anchor term only costs ELBO), so it tunes the R-VAE into a VAE.
- ``elbo``: the validation negative ELBO alone (the criterion before issue 13).

A method's own objective would not do as a yardstick: it rewards beta = 0 (no KL term). The
chosen values are tagged on the MLflow parent run (``tune.best_beta``, ``tune.best_rho``), where
``rosetta-cl run --from-tune RUN_ID`` reads them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from rosetta_cl.config.options import RunConfig, filled
from rosetta_cl.config.threads import intra_op_threads
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.runner import (
    check_resume,
    chosen_experiment,
    executing,
    experiment_name,
    open_tracker,
    prepare,
    pull_anchors,
)
from rosetta_cl.models.losses import anchor_residual
from rosetta_cl.models.vae import elbo_terms, encode_means
from rosetta_cl.protocols import PROTOCOLS
from rosetta_cl.registry import METHODS
from rosetta_cl.tracking.store import open_client
from rosetta_cl.tracking.writer import NullTracker
from rosetta_cl.training.executors import ExecutorOptions, check_executor
from rosetta_cl.training.progress import GridBar
from rosetta_cl.training.trainer import Job, Trainer

PAPER_BETA_GRID = "0:2.5:25"
PAPER_RHO_GRID = "0:0.75:15"
TUNE_EPOCHS = 20
QUICK_GRID_POINTS = 3
BEST_TAGS = {"beta": "tune.best_beta", "rho": "tune.best_rho"}
FLAT = 0.01  # a grid whose scores all lie within 1% of the best's size barely separates them


def plural_seeds(n) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")
CRITERIA = ("elbo+template", "elbo")


def parse_grid(text: str, name: str) -> tuple[float, ...]:
    """Parse a grid: ``start:step:stop`` (stop included, as in the paper's 0:2.5:25) or ``a,b,c``.

    Parameters
    ----------
    text : str
        The grid.
    name : str
        The option it came from, for the error message.

    Returns
    -------
    tuple of float
        The values.

    Raises
    ------
    rosetta_cl.ConfigError
        If ``text`` is not a grid.

    Examples
    --------
    >>> from rosetta_cl import parse_grid
    >>> parse_grid("0:2.5:10", "rho"), parse_grid("1,2", "beta")
    ((0.0, 2.5, 5.0, 7.5, 10.0), (1.0, 2.0))
    """
    try:
        if ":" in text:
            start, step, stop = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            values = tuple(round(start + i * step, 10) for i in range(count))
        else:
            values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name} grid {text!r}: allowed start:step:stop with step > 0 and "
                          "stop >= start (e.g. 0:2.5:25), or a comma list (e.g. 0,1,2)") from None
    if not values or min(values) < 0:
        raise ConfigError(f"{name} grid {text!r}: needs at least one value, all >= 0")
    return values


def validation_nelbo(model, x: torch.Tensor, seed: int = 0) -> float:
    """Mean negative ELBO (beta = 1) over ``x``, one seeded posterior sample per point."""
    return sum(elbo_terms(model, x, seed))


def template_fit(model, x: torch.Tensor, template_mu: torch.Tensor, fit: str = "exact") -> float:
    """0.5 * mean ||z_t(x) - mu(x)||^2 over ``x`` (``template_mu`` = the template's means z_t;
    ``fit="affine"``: after the best affine map from mu to z_t).
    """
    mu = encode_means(model, x).to(torch.float64).cpu()
    residual = anchor_residual(mu, torch.as_tensor(template_mu, dtype=torch.float64), fit)
    return float(0.5 * residual.pow(2).sum(-1).mean())


@dataclass
class TuneResult:
    """What :func:`tune` returns: each grid's criterion per value, and the values chosen.

    Parameters
    ----------
    config : RunConfig
        The resolved config tuned.
    grids : dict
        ``beta`` / ``rho`` -> value -> criterion (lower wins).
    best : dict[str, float]
        The chosen value per field.
    wall_time_s : float
        Wall-clock time.
    parent_run_id : str, optional
        The tuning's MLflow run (None when untracked).
    criterion : str, default "elbo+template"
        What was minimised.
    parts : dict, optional
        Field -> value -> the criterion's terms.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, tune
    >>> result = tune(RunConfig(methods=("vae", "rvae"), seeds=1, epochs=1, subsample=200),
    ...               rho_grid=(0.0, 1.5), track=False)
    >>> sorted(result.grids["rho"])
    [0.0, 1.5]
    """

    config: RunConfig
    grids: dict[str, dict[float, float]]  # "beta" / "rho" -> value -> criterion (lower wins)
    best: dict[str, float]
    wall_time_s: float
    parent_run_id: str | None = None
    criterion: str = "elbo+template"
    parts: dict[str, dict[float, dict[str, float]]] | None = None  # value -> its terms

    def notes(self) -> list[str]:
        """What a pick does not say by itself, per grid: a value at the grid's edge (the best
        may lie beyond it), the margin over the runner-up, and whether the whole grid's scores
        lie within ``FLAT`` of the best's size (the grid barely separates its values).
        """
        notes = []
        for name, grid in self.grids.items():
            if len(grid) < 2:
                continue
            values = sorted(grid)
            best = self.best[name]
            ranked = sorted(grid, key=grid.__getitem__)
            runner_up = ranked[1]
            scores = list(grid.values())
            spread = max(scores) - min(scores)
            line = (f"{name}={best:g} beat {name}={runner_up:g} by "
                    f"{grid[runner_up] - grid[best]:.3g}; all {len(grid)} scores within "
                    f"{spread:.3g}")
            margin = grid[runner_up] - grid[best]
            if margin <= FLAT * spread:
                line += f" (a near tie: the margin is {margin / spread:.2%} of that range)"
            if spread <= FLAT * abs(grid[best]):
                line += (f" ({spread / abs(grid[best]):.2%} of the best): the grid barely "
                         f"separates them ({plural_seeds(self.config.seeds)} per point; "
                         "--seeds N averages more)")
            notes.append(line)
            # the grid's edge, unless it is the parameter's bound (rho = 0: no anchor term)
            if len(grid) > 2 and best in (values[0], values[-1]) and best != 0:
                edge = "largest" if best == values[-1] else "smallest"
                notes.append(f"{name}={best:g} is the grid's {edge} value: the best may lie "
                             f"beyond it (widen --{name}-grid)")
        return notes

    def as_dict(self) -> dict:
        return {"benchmark": self.config.benchmark, "protocol": self.config.protocol,
                "epochs": self.config.epochs, "parent_run_id": self.parent_run_id,
                "wall_time_s": round(self.wall_time_s, 3), "best": self.best,
                "criterion": self.criterion, "notes": self.notes(),
                "grids": {k: [{"value": v, "score": s, **(self.parts or {}).get(k, {}).get(v, {})}
                              for v, s in grid.items()] for k, grid in self.grids.items()}}


def tune(config: RunConfig, beta_grid=None, rho_grid=None, *, tracking_uri: str | None = None,
         experiment: str | None = None, track: bool = True, progress: bool = False,
         criterion: str = "elbo+template", executor: ExecutorOptions | None = None,
         resume: bool = False) -> TuneResult:
    """Pick beta (beta-VAE) and rho (R-VAE) for a benchmark and protocol by a grid search.

    Parameters
    ----------
    config : RunConfig
        The benchmark and protocol to tune for (its methods say which grids run).
    beta_grid : sequence of float, optional
        beta values (default: the paper's 0:2.5:25).
    rho_grid : sequence of float, optional
        rho values (default: the paper's).
    tracking_uri : str, optional
        MLflow store.
    experiment : str, optional
        MLflow experiment.
    track : bool, default True
        Log to MLflow.
    progress : bool, default False
        Progress bars.
    criterion : str, default "elbo+template"
        ``elbo+template`` (validation ELBO plus the distance to the template) or ``elbo``.
    executor : ExecutorOptions, optional
        Where the trainings run (with Ray, every grid point x seed side by side).
    resume : bool, default False
        Finish the interrupted tuning of the same command.

    Returns
    -------
    TuneResult
        The criterion per grid value and the values chosen.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, tune
    >>> result = tune(RunConfig(methods=("vae", "rvae"), seeds=1, epochs=1, subsample=200),
    ...               rho_grid=(0.0, 1.5), track=False)
    >>> list(result.best)
    ['rho']
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"criterion {criterion!r}: allowed {', '.join(CRITERIA)}")
    check_executor(executor)
    beta_grid = tuple(beta_grid or parse_grid(PAPER_BETA_GRID, "beta"))
    rho_grid = tuple(rho_grid or parse_grid(PAPER_RHO_GRID, "rho"))
    start = time.perf_counter()
    if config.epochs is None and not config.quick:  # quick: the benchmark's quick epochs
        config = replace(config, epochs=TUNE_EPOCHS)
    if config.quick:
        beta_grid, rho_grid = beta_grid[:QUICK_GRID_POINTS], rho_grid[:QUICK_GRID_POINTS]
    if config.ensemble:
        raise ConfigError("--ensemble with tune: allowed with `rosetta-cl run` (tune trains one "
                          "model per grid point and seed)")
    if config.protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {config.protocol!r}: allowed {', '.join(PROTOCOLS)}")
    if config.epochs_rule == "plateau":
        raise ConfigError("--epochs plateau with tune: tune compares grid points at one short "
                          "length (20 epochs unless --epochs N); allowed with rosetta-cl run")
    grids_of = {"beta": beta_grid, "rho": rho_grid}
    tuned = _tuned_methods(config.methods, grids_of)
    protocol = config.protocol
    # Resolved as "sequential": the RV rule (seeds > latent dim) does not apply to tuning.
    config, pulled = pull_anchors(config, tracking_uri)  # anchors = models:/NAME@ALIAS
    if config.templates not in (None, 1):
        raise ConfigError(f"templates {config.templates} with tune: allowed 1 (grid points are "
                          "scored against one template; run the picks with --templates)")
    config, bench = prepare(replace(config, methods=tuple(tuned), seeds=config.seeds or 1,
                                    protocol="sequential", templates=1),
                            features=pulled.features if pulled else None)
    config = replace(config, protocol=protocol)
    check_resume(config, resume, track)
    with intra_op_threads(filled(config.threads)), executing(executor) as run_on:
        return _tune(config, bench, beta_grid, rho_grid, grids_of, tuned, tracking_uri,
                     experiment, track, progress, criterion, run_on, resume, start,
                     pulled.tags() if pulled else {})


def _tune(config, bench, beta_grid, rho_grid, grids_of, tuned, tracking_uri, experiment, track,
          progress, criterion, executor, resume, start, anchor_tags) -> TuneResult:
    tracker = (open_tracker(tracking_uri, chosen_experiment(experiment, experiment_name(config)))
               if track
               else NullTracker())
    grids: dict[str, dict[float, float]] = {field: {} for field in tuned.values()}
    parts: dict[str, dict[float, dict[str, float]]] = {field: {} for field in tuned.values()}
    with tracker.parent(f"tune-{config.benchmark}", {
            **config.as_params(), "beta_grid": ",".join(map(str, beta_grid)),
            "rho_grid": ",".join(map(str, rho_grid)), "criterion": criterion},
            {"role": "tune", "benchmark": config.benchmark, "protocol": config.protocol,
             **anchor_tags},
            resume=resume):
        # the template is trained as in the protocols (the benchmark's epochs): its anchors and
        # latents are what the tuned values will be used with; only the grid points are short
        full = bench.defaults.quick_epochs if config.quick else bench.defaults.epochs
        n_points = sum(len(grids_of[field]) for field in tuned.values())
        bar = GridBar((0 if config.anchors else 1) + n_points * config.seeds, progress)
        trainer = Trainer(bench, replace(config, epochs=full), tracker.write, bar, executor,
                          tracker.reuse if tracker.resumed else None)
        anchors, template = trainer.template()
        for path in trainer.files:
            tracker.log_file(path)
        seeds = [config.seed + 1 + i for i in range(config.seeds)]
        if criterion == "elbo+template" and template is None:
            raise ConfigError("criterion 'elbo+template' with --anchors: the template's "
                              "latents are unknown; allowed criterion: elbo")
        experience, val_x = trainer.method_data(anchors)
        evaluate = _scorer(criterion, val_x, trainer.valid_x[0], template, config)
        points = [(method, field, value) for method, field in tuned.items()
                  for value in grids_of[field]]
        jobs = [Job(method, seed, f"{field}={value}/seed{seed}", "method", anchors, val_x,
                    evaluate, replace(config, **{field: value}))
                for method, field, value in points for seed in seeds]
        trained = iter(trainer.train_many(experience, jobs))  # side by side with --executor ray
        for _, field, value in points:
            runs = [next(trained).metrics for _ in seeds]
            parts[field][value] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]
                                   if k != "active_units"}  # the score's terms only
            grids[field][value] = parts[field][value]["score"]
        bar.close()
        best = {name: min(grid, key=grid.__getitem__) for name, grid in grids.items()}
        result = TuneResult(config, grids, best, time.perf_counter() - start,
                            tracker.parent_run_id, criterion, parts)
        tracker.set_tags({BEST_TAGS[k]: v for k, v in best.items()})
        tracker.log_text(json.dumps(result.as_dict(), indent=2), "tune.json")
    return result


def _tuned_methods(methods, grids: dict) -> dict[str, str]:
    """Method -> the field tune chooses for it, for the methods of ``methods`` that have one."""
    tuned = {m: field for m in methods if m in METHODS
             and (field := METHODS[m].tuned) is not None and field in grids}
    fields = list(tuned.values())
    if not tuned:
        allowed = ", ".join(m for m, spec in METHODS.items() if spec.tuned in grids)
        raise ConfigError(f"methods {','.join(methods)}: none has a tuned value; allowed "
                          f"{allowed}")
    if len(set(fields)) < len(fields):
        raise ConfigError(f"methods {','.join(tuned)}: two of them tune the same field; tune "
                          "them one at a time with --methods")
    return tuned


def _scorer(criterion: str, val_x, template_x, template, config):
    """evaluate(model, latents) -> ({val_nelbo[, template_fit], score}, {}) of one grid run."""

    def evaluate(model, latents):
        terms = {"val_nelbo": validation_nelbo(model, val_x, seed=config.seed)}
        if criterion == "elbo+template":
            terms["template_fit"] = template_fit(model, template_x, template["mu_D1"],
                                                 config.anchor_fit)
        return {**terms, "score": sum(terms.values())}, {}

    return evaluate


def read_tuned(run_id: str, tracking_uri: str | None = None) -> dict[str, float]:
    """The beta and rho a tune run chose (those it tuned), from its MLflow tags."""
    from mlflow.exceptions import MlflowException

    client = open_client(tracking_uri, write=False)
    try:
        tags = client.get_run(run_id).data.tags
    except MlflowException:
        raise ConfigError(f"--from-tune {run_id!r}: no such run in {client.tracking_uri}") from None
    if not any(tag in tags for tag in BEST_TAGS.values()):
        raise ConfigError(f"--from-tune {run_id!r}: not a finished `rosetta-cl tune` run (no "
                          f"{BEST_TAGS['beta']} / {BEST_TAGS['rho']} tags)")
    return {name: float(tags[tag]) for name, tag in BEST_TAGS.items() if tag in tags}
