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



@pytest.mark.slow
def test_the_ui_page_opens_on_runs_and_gives_no_contradicting_advice(store, tmp_path, mlflow_ui):
    """The page sets MLflow's view to the runs table for a browser that has not chosen one (its
    default is GenAI's Overview), and the server does not print MLflow's advice to listen on
    0.0.0.0 (ours: a non-loopback address needs --auth)."""
    from rosetta_cl.tracking.ui_app import DEFAULT_VIEW_SCRIPT

    with mlflow_ui(store, tmp_path) as base:
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            html = response.read().decode()
    assert html.index(DEFAULT_VIEW_SCRIPT) < html.index("<script defer")
    assert 'localStorage.setItem("mlflow.workflowType_v1","\\"machine_learning\\"")' in html
    assert "MLflow UI at http://127.0.0.1" in mlflow_ui.stderr
    assert "0.0.0.0" not in mlflow_ui.stderr and "--allowed-hosts" not in mlflow_ui.stderr
