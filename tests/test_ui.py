"""`rosetta-cl ui` serves the store's runs over HTTP on 127.0.0.1."""

import json
import urllib.request

import pytest

from rosetta_cl import RunConfig, run_benchmark


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_ui_serves_runs_of_a_benchmark(store, tmp_path, mlflow_ui):
    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1),
                           tracking_uri=store)
    with mlflow_ui(store, tmp_path) as base:
        experiments = post(f"{base}/ajax-api/2.0/mlflow/experiments/search", {"max_results": 10})
        exp = next(e for e in experiments["experiments"] if e["name"] == "gaussians8")
        runs = post(f"{base}/ajax-api/2.0/mlflow/runs/search",
                    {"experiment_ids": [exp["experiment_id"]], "max_results": 50})["runs"]
        ids = {r["info"]["run_id"] for r in runs}
        assert result.parent_run_id in ids and len(runs) == 6  # parent, template, target, 3 methods
        rvae = next(r for r in runs if r["info"]["run_name"] == "rvae/seed1")
        assert {m["key"] for m in rvae["data"]["metrics"]} >= {"LSD_D1", "LSD_D2"}
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            assert response.status == 200 and b"<html" in response.read().lower()

