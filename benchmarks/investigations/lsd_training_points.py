"""LSD on the training points beside LSD on the validation points, for finished sequential runs.

The paper does not say on which points its LSD is measured; ours is on the validation split of
each part (60/40). This re-reads a finished `rosetta-cl run` (its target and method models, as
logged) and measures the same LSD (one affine map fitted on all points of both parts, onto the
target's latent means) on the training points of D1 and D2, then normalises both to the median
VAE of the same points. Nothing is retrained: the data split is rebuilt from the run's params.

    python benchmarks/investigations/lsd_training_points.py RUN_ID [RUN_ID ...] \\
        --tracking-uri sqlite:///mlruns/mlflow.db --data-dir DIR
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.experiments.runner import prepare
from rosetta_cl.metrics.latent import lsd_split
from rosetta_cl.models.vae import encode_means
from rosetta_cl.tracking.store import load_run_model


def points(bench, split: str) -> list[torch.Tensor]:
    stream = bench.train_stream if split == "train" else bench.valid_stream
    return [dataset_tensors(experience.dataset)[0].float() for experience in stream]


def lsd_of(model, target_means, xs, parts) -> dict[str, float]:
    source = np.concatenate([encode_means(model, x).numpy() for x in xs])
    sizes = np.cumsum([0] + [len(x) for x in xs])
    rows = np.arange(len(source))
    groups = {p: (rows >= lo) & (rows < hi)
              for p, lo, hi in zip(parts, sizes[:-1], sizes[1:], strict=True)}
    return lsd_split(source, target_means, groups)


def report(client, run_id: str, data_dir: str | None) -> None:
    params = client.get_run(run_id).data.params
    config = RunConfig(benchmark=params["benchmark"], seed=int(params["seed"]),
                       subsample=int(params["subsample"]) if params["subsample"] != "None"
                       else None, data_dir=data_dir, arch=params["arch"],
                       latent_dim=int(params["latent_dim"]))
    _, bench = prepare(config)
    experiment = client.get_run(run_id).info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}'",
                                  max_results=1000)
    target = next(c for c in children if c.data.tags.get("role") == "target")
    target_model = load_run_model(client, target.info.run_id)
    per_split: dict[str, dict[str, dict[str, list[float]]]] = {}
    for split in ("valid", "train"):
        xs = points(bench, split)
        target_means = np.concatenate([encode_means(target_model, x).numpy() for x in xs])
        for child in children:
            if child.data.tags.get("role") != "method":
                continue
            method = child.data.tags["method"]
            model = load_run_model(client, child.info.run_id)
            for part, value in lsd_of(model, target_means, xs, bench.parts).items():
                per_split.setdefault(split, {}).setdefault(method, {}).setdefault(
                    part, []).append(value)
    sizes = {split: [len(x) for x in points(bench, split)] for split in ("valid", "train")}
    print(f"run {run_id}: {params['benchmark']} k={params['rosetta_points']}, points per part "
          f"valid {sizes['valid']}, train {sizes['train']}")
    print("normalised LSD (median over runs / median VAE - 1), D1 / D2:")
    for method in per_split["valid"]:
        cells = []
        for split in ("valid", "train"):
            ref = per_split[split]["vae"]
            ours = per_split[split][method]
            cells.append(" / ".join(f"{np.median(ours[p]) / np.median(ref[p]) - 1:+.3f}"
                                    for p in bench.parts))
        print(f"  {method:<5} validation {cells[0]}   training {cells[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_ids", nargs="+")
    parser.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    client = MlflowClient(args.tracking_uri)
    for run_id in args.run_ids:
        report(client, run_id, args.data_dir)


if __name__ == "__main__":
    main()
