"""Issue 14 moved tracking out of the training path: what lands in MLflow must not change. The
tree of runs, their params and tags, metric names and artifact names of the quick commands in
``run_tree.COMMANDS`` (sequential, reproducibility, ensemble, continual, a spec, tune) are
compared with ``data/run_tree_before.json``, written by main before the change."""

import json
from pathlib import Path

import pytest
from run_tree import write_tree

BEFORE = Path(__file__).parent / "data" / "run_tree_before.json"
# params added since the reference was written, with the value every run of it now has
EVERY = ("seq", "ens", "spec", "tune", "rep", "cont")
ADDED_PARAMS = {"metrics": {"seq": "lsd,linear_map", "ens": "lsd,linear_map", "spec":
                            "lsd,linear_map", "tune": "lsd,linear_map", "rep": "rv", "cont": "lsd"},
                # issue 29: the matrix of an .h5ad data file
                "layer": dict.fromkeys(EVERY, "None"), "obsm": dict.fromkeys(EVERY, "None"),
                # issue 34: the thread rule's count and the templates (--quick: one)
                "threads": dict.fromkeys(EVERY, "1"), "templates": dict.fromkeys(EVERY, "1"),
                # issue 36: --epochs N (fixed) or --epochs plateau
                "epochs_rule": dict.fromkeys(EVERY, "fixed")}
# changed on purpose since (issue 26): the continual default accumulate mode; forgetting and
# backward transfer on continual parent runs; the median latent spread per method on protocol
# runs; every model is an MLflow logged model of its run, no longer its run's model/ artifact
# (test_tracking.py checks the logged models)
CHANGED_PARAMS = {"accumulate": "latest"}
ADDED_METRICS = ("forgetting_after_", "bwt_after_", "bwt_lsd_after_", "latent_spread_D1_median/",
                 "active_units")  # issue 34: per model run, and their median / min per method


@pytest.mark.slow
def test_mlflow_contents_unchanged(tmp_path):
    before = json.loads(BEFORE.read_text())
    after = write_tree(str(tmp_path / "after.json"))
    assert sorted(after) == sorted(before)
    for experiment, runs in before.items():
        assert sorted(after[experiment]) == sorted(runs), experiment
        for path, run in runs.items():
            now = after[experiment][path]
            params = dict(now["params"])
            for name, values in ADDED_PARAMS.items():
                if name in params and name not in run["params"]:
                    assert params.pop(name) == values[experiment], (experiment, path)
            expected = {**run["params"], **{k: v for k, v in CHANGED_PARAMS.items()
                                            if k in run["params"]}}
            assert params == expected, (experiment, path)
            for key in ("status", "tags"):
                assert now[key] == run[key], (experiment, path, key)
            assert [m for m in now["metrics"] if not m.startswith(ADDED_METRICS)] == (
                run["metrics"]), (experiment, path)
            assert now["artifacts"] == [a for a in run["artifacts"]
                                        if not a.startswith("model/")], (experiment, path)
    # continual parent runs gained forgetting and backward transfer per experience
    assert any(m.startswith("forgetting_after_D5/")
               for m in after["cont"]["continual-digits5"]["metrics"])
