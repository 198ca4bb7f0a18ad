"""Many rosetta-cl processes on one store at once (issue 18): nothing lost, nothing doubled."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import CLI
from mlflow.tracking import MlflowClient

from rosetta_cl.tracking.store import quiet_downloads

SPEC = (Path(__file__).parents[1] / "rosetta_cl" / "paper_specs"
        / "table6_n_rosetta_points_sequential_gaussians8.toml")
TINY = ["--quick", "--seeds", "1", "--methods", "rvae", "--epochs", "1", "--figures", "none"]


def start(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(CLI + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_eight_processes_on_a_fresh_store_all_land_once(tmp_path):
    """8 processes started at once on a store that does not exist yet: 5 protocol runs and a
    spec (3 runs and the spec into one experiment none of them has created yet, 2 runs into the
    benchmark's), a tune grid and a `runs clean`. Unlocked, MLflow's schema migration raced and
    8 of 8 failed ("duplicate column name", "table _alembic_tmp_... already exists"); the lock
    beside the database (tracking.store_lock) makes it run once."""
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    runs = [["run", "gaussians8", *TINY, "--seed", str(i), "--json", "--tracking-uri", uri,
             *(["--experiment", "shared"] if i < 3 else [])] for i in range(5)]
    spec = ["run", str(SPEC), *TINY, "--json", "--tracking-uri", uri, "--experiment", "shared"]
    tune = ["tune", "gaussians8", "--quick", "--epochs", "1", "--beta-grid", "1",
            "--rho-grid", "1", "--json", "--tracking-uri", uri]
    clean = ["runs", "clean", "--tracking-uri", uri]
    procs = [start(args, tmp_path) for args in (*runs, spec, tune, clean)]
    outs = [(p, *p.communicate(timeout=600)) for p in procs]
    for proc, _out, err in outs:
        assert proc.returncode == 0, err[-3000:]

    client = MlflowClient(uri)
    names = [e.name for e in client.search_experiments()]
    assert sorted(names) == ["Default", "gaussians8", "shared"]  # none created twice
    parents = [json.loads(out)["parent_run_id"] for _, out, _ in outs[:5]]
    assert len(set(parents)) == 5
    for seed, parent_id in enumerate(parents):
        parent = client.get_run(parent_id)
        assert parent.info.status == "FINISHED"
        assert "LSD_D1_raw_median/rvae" in parent.data.metrics
        children = client.search_runs([parent.info.experiment_id],
                                      f"tags.mlflow.parentRunId = '{parent_id}'")
        # the i-th method run uses seed + 1 + i (training.py)
        assert sorted(c.info.run_name for c in children) == [f"rvae/seed{seed + 1}", "target",
                                                             "template"]
        for child in children:
            assert child.info.status == "FINISHED"
            with quiet_downloads():
                path = client.download_artifacts(child.info.run_id, "latents.npz",
                                                 str(tmp_path))
            with np.load(path, allow_pickle=False) as f:
                assert np.isfinite(f["mu_D1"]).all() and len(f["mu_D1"]) > 0
    spec_run = client.get_run(json.loads(outs[5][1])["parent_run_id"])
    assert spec_run.info.status == "FINISHED"
    grid = client.search_runs([spec_run.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{spec_run.info.run_id}'")
    assert sorted(g.info.run_name for g in grid) == ["k=4", "k=8"]  # the spec's quick values
    for point in grid:
        models = client.search_runs([spec_run.info.experiment_id],
                                    f"tags.mlflow.parentRunId = '{point.info.run_id}'")
        assert len(models) == 3 and {m.info.status for m in models} == {"FINISHED"}
    # each experiment holds exactly its own top-level runs: 3 runs + the spec; 2 runs + tune
    for name, expected in (("shared", 4), ("gaussians8", 3)):
        experiment = client.get_experiment_by_name(name).experiment_id
        top = client.search_runs([experiment], max_results=1000)
        top = [r for r in top if "mlflow.parentRunId" not in r.data.tags]
        assert len(top) == expected, [r.info.run_name for r in top]
    everything = [r for e in ("shared", "gaussians8") for r in client.search_runs(
        [client.get_experiment_by_name(e).experiment_id], max_results=1000)]
    assert {r.info.status for r in everything} == {"FINISHED"}
    # 5 protocol runs x 4 (parent, template, target, rvae) + the spec's 9 (parent, 2 grid
    # points x (1 + 3 models)) + the tune grid's 4 (parent, template, one run per grid value)
    assert len(everything) == 5 * 4 + 9 + 4
    assert Path(tmp_path / "store" / "mlflow.db.lock").exists()
