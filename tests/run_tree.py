"""What a set of rosetta-cl commands leaves in MLflow, as plain JSON: every run by its path of run
names (parent/child/...), with its params, its rosetta-cl tags, its metric names and its
artifact paths. Values that change from run to run (run ids, times, temp paths, the commit) are
left out; metric *values* too (they differ across CPUs; bit-identity is checked separately).

``python tests/run_tree.py OUT.json`` runs :data:`COMMANDS` on a fresh store in a temp dir and
writes the tree: ``tests/data/run_tree_before.json`` is the tree main wrote before issue 14's
restructuring, and ``test_run_tree.py`` checks the code still writes exactly that.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

COMMANDS = [
    ["run", "gaussians8", "--quick", "--seeds", "2", "--experiment", "seq"],
    ["run", "gaussians8", "--quick", "--protocol", "reproducibility", "--experiment", "rep"],
    ["run", "gaussians8", "--quick", "--seeds", "2", "--ensemble", "--experiment", "ens",
     "--figures", "none"],
    ["run", "digits5", "--quick", "--protocol", "continual", "--seeds", "1", "--experiment",
     "cont", "--figures", "none"],
    ["run", "table6_n_rosetta_points_sequential_gaussians8", "--quick",
     "--seeds", "1", "--experiment", "spec", "--figures", "none"],
    ["tune", "gaussians8", "--quick", "--experiment", "tune"],
]
TAGS = ("role", "method", "seed", "protocol", "benchmark", "spec", "column", "tune.best_beta",
        "tune.best_rho")
VOLATILE_PARAMS = ("plugins_dir",)  # absolute paths of the temp dir


def artifact_paths(client, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out += artifact_paths(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(out)


def run_tree(uri: str) -> dict:
    """{experiment: {run path: {params, tags, metrics, artifacts}}} of every run in ``uri``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    tree = {}
    for experiment in client.search_experiments():
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        if not runs:
            continue
        by_id = {r.info.run_id: r for r in runs}

        def path(run, by_id=by_id):
            parent = run.data.tags.get("mlflow.parentRunId")
            name = run.info.run_name
            return f"{path(by_id[parent])}/{name}" if parent in by_id else name

        tree[experiment.name] = {
            path(r): {"status": r.info.status,
                      "params": {k: v for k, v in sorted(r.data.params.items())
                                 if k not in VOLATILE_PARAMS},
                      "tags": {k: r.data.tags[k] for k in TAGS if k in r.data.tags},
                      "metrics": sorted(r.data.metrics),
                      "artifacts": artifact_paths(client, r.info.run_id)}
            for r in sorted(runs, key=path)}
    return dict(sorted(tree.items()))


def write_tree(out: str, commands=COMMANDS) -> dict:
    from rosetta_cl.cli import main

    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
            for command in commands:
                args = [a.replace("{repo}", str(repo)) for a in command]
                try:
                    main([*args, "--tracking-uri", uri])
                except SystemExit as exit_:
                    assert exit_.code == 0, (args, exit_.code)
            tree = run_tree(uri)
        finally:
            os.chdir(cwd)
    Path(out).write_text(json.dumps(tree, indent=1, sort_keys=True) + "\n")
    return tree


if __name__ == "__main__":
    write_tree(sys.argv[1])
