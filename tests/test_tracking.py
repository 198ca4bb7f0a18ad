"""MLflow logging read back from a real SQLite store."""

import itertools
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig, lsd_split, run_benchmark


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
    config = RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=3)
    result = run_benchmark(config, tracking_uri=uri, experiment="test-seq")
    return uri, result


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=100)


def test_parent_and_child_runs_with_params_tags_and_metrics(sequential_run):
    uri, result = sequential_run
    client, runs = runs_of(uri, "test-seq")
    parents = [r for r in runs if r.data.tags["role"] == "parent"]
    children = [r for r in runs if r.data.tags["role"] != "parent"]
    assert len(parents) == 1 and parents[0].info.run_id == result.parent_run_id
    # template + target + 3 methods x 2 seeds, all nested under the parent, all finished
    assert len(children) == 8
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {result.parent_run_id}
    assert {r.info.status for r in runs} == {"FINISHED"}
    methods = [r for r in children if r.data.tags["role"] == "method"]
    assert sorted((r.data.tags["method"], r.data.tags["seed"]) for r in methods) == sorted(
        (m, str(s)) for m in ("vae", "bvae", "rvae") for s in (1, 2))
    for r in methods:
        assert {"LSD_D1", "LSD_D2"} <= set(r.data.metrics)
        assert r.data.params["rho"] == "1.5" and r.data.params["epochs"] == "3"
        assert r.data.tags["protocol"] == "sequential" and r.data.tags["benchmark"] == "gaussians8"
        assert "git_commit" in r.data.tags
    # per-epoch training curves: one point per epoch
    history = client.get_metric_history(methods[0].info.run_id, "train/loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert len(client.get_metric_history(methods[0].info.run_id, "val/loss")) == 3


def test_artifacts_and_metrics_recomputable_from_logged_latents(sequential_run, tmp_path):
    uri, _result = sequential_run
    client, runs = runs_of(uri, "test-seq")
    by_name = {r.info.run_name: r for r in runs}
    parent = by_name["sequential-gaussians8"]
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.md", "summary.csv", "summary.json"} <= names
    template = by_name["template"]
    assert "anchors.npz" in {a.path for a in client.list_artifacts(template.info.run_id)}
    rvae = by_name["rvae/seed1"]
    assert "latents.npz" in {a.path for a in client.list_artifacts(rvae.info.run_id)}
    def get(run, path):
        return client.download_artifacts(run.info.run_id, path, str(tmp_path))

    with np.load(get(rvae, "latents.npz"), allow_pickle=False) as f:
        source = np.concatenate([f["mu_D1"], f["mu_D2"]])
    with np.load(get(by_name["target"], "latents.npz"), allow_pickle=False) as f:
        target = np.concatenate([f["mu_D1"], f["mu_D2"]])
        n1 = len(f["mu_D1"])
    idx = np.arange(len(target))
    recomputed = lsd_split(source, target, {"D1": idx < n1, "D2": idx >= n1})
    assert recomputed["D1"] == pytest.approx(rvae.data.metrics["LSD_D1"], rel=1e-6)
    assert recomputed["D2"] == pytest.approx(rvae.data.metrics["LSD_D2"], rel=1e-6)
    with np.load(get(template, "anchors.npz"), allow_pickle=False) as f:
        assert f["x"].shape == (8, 5) and f["z"].shape == (8, 2)
    from rosetta_cl.tracking.store import load_run_model
    model = load_run_model(client, rvae.info.run_id)
    assert model.config.latent_dim == 2


def test_same_seed_same_numbers_on_cpu():
    config = RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=2)
    a = run_benchmark(config, track=False)
    b = run_benchmark(config, track=False)
    assert a.values == b.values
    assert np.array_equal(a.anchors.z.numpy(), b.anchors.z.numpy())


def test_reproducibility_protocol_reports_rv(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = RunConfig(benchmark="gaussians8", protocol="reproducibility", quick=True,
                       seeds=3, epochs=2, methods=("vae", "rvae"))
    result = run_benchmark(config, tracking_uri=uri, experiment="test-rep")
    table = result.as_dict()["table"]
    assert table["metric"] == "RV" and [r["method"] for r in table["rows"]] == ["vae", "rvae"]
    assert table["rows"][0]["RV"]["normalized"]["median"] == 0.0
    assert table["rows"][0]["n"] == 800  # one value per D1 validation point
    _client, runs = runs_of(uri, "test-rep")
    parent = next(r for r in runs if r.data.tags["role"] == "parent")
    assert {"RV/vae", "RV/rvae"} <= set(parent.data.metrics)
    assert np.isfinite(parent.data.metrics["RV/rvae"])


def test_lean_evaluation_plugin_logs_what_avalanches_does():
    """The strategies' evaluator skips callbacks nobody listens to; the per-epoch values it
    hands the loggers are exactly those of Avalanche's EvaluationPlugin."""
    import torch
    from avalanche.logging import BaseLogger
    from avalanche.training.plugins import EvaluationPlugin

    from rosetta_cl import VAE, ModelConfig
    from rosetta_cl.data.streams import BenchmarkDefaults, gaussians8_data, make_benchmark
    from rosetta_cl.methods.epoch_metrics import EpochLossMetrics, LeanEvaluationPlugin
    from rosetta_cl.methods.strategies import VAEStrategy

    class Recorder(BaseLogger):
        def __init__(self):
            super().__init__()
            self.values = []

        def log_single_metric(self, name, value, x_plot):
            self.values.append((name, round(float(value), 6), x_plot))

    x, y, part = gaussians8_data(n_per_gaussian=30, seed=0)
    bench = make_benchmark("tiny", x, y, part, 0, ("D1", "D2"),
                           BenchmarkDefaults(2, 4, 2, (16,), "gaussian"))
    val_x = torch.as_tensor(x[:40], dtype=torch.float32)
    logged = []
    for evaluator_class in (EvaluationPlugin, LeanEvaluationPlugin):
        recorder = Recorder()
        evaluator = evaluator_class(EpochLossMetrics(val_x), loggers=[recorder])
        torch.manual_seed(0)
        strategy = VAEStrategy(model=VAE(ModelConfig(5, 2, (16,))), train_epochs=3,
                               train_mb_size=16, evaluator=evaluator, seed=0)
        strategy.train(bench.train_stream[0])
        logged.append(recorder.values)
    assert logged[0] == logged[1] and len(logged[1]) == 3 * 6  # 3 epochs x train/val metrics
    lean = LeanEvaluationPlugin(EpochLossMetrics(val_x), loggers=[Recorder()])
    assert not hasattr(lean, "before_forward") and hasattr(lean, "after_training_epoch")


@pytest.mark.parametrize("name", ["../../../escape", "..", "a/b c?#"])
def test_experiment_names_never_leave_the_store(name, tmp_path):
    """`--experiment '../../../escape'` wrote its artifacts outside the store (a bug): the
    artifact folder is now the name with path characters replaced, inside the store's root."""
    from rosetta_cl.tracking.store import artifact_folder

    store = tmp_path / "deep" / "er" / "store"
    uri = f"sqlite:///{store}/mlflow.db"
    config = RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1, methods=("vae",),
                       figures="none")
    result = run_benchmark(config, tracking_uri=uri, experiment=name)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)  # the name itself is kept as given
    assert experiment is not None
    assert experiment.artifact_location == (store / "artifacts" / artifact_folder(name)).as_uri()
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert written and all(p.is_relative_to(store) for p in written), written
    assert (store / "artifacts" / artifact_folder(name) / result.parent_run_id).is_dir()
    assert "/" not in artifact_folder(name) and artifact_folder(name).strip(".")


def test_a_new_store_is_said_once_on_stderr(tmp_path, capsys):
    """A store created in folders that did not exist was created silently; now one stderr line
    says where (a store that exists is not mentioned)."""
    from rosetta_cl.tracking.store import check_store

    db = tmp_path / "not" / "yet" / "mlflow.db"
    check_store(f"sqlite:///{db}")
    said = [line for line in capsys.readouterr().err.splitlines() if "MLflow store" in line]
    assert said == [f"created a new MLflow store at {db.resolve()}"]  # (the CLI silences
    check_store(f"sqlite:///{db}")  # MLflow's own INFO lines; this test calls it directly)
    assert "created a new" not in capsys.readouterr().err


def check_real_times(client, run, epochs):
    """A model run spans its training: it starts before the first epoch ends and ends after the
    last; every epoch metric carries the time its epoch ended (not the time it was written)."""
    stamps = [m.timestamp for m in sorted(client.get_metric_history(run.info.run_id,
                                                                    "train/loss"),
                                          key=lambda m: m.step)]
    assert len(stamps) == epochs
    assert run.info.start_time < stamps[0] and stamps[-1] <= run.info.end_time
    assert stamps == sorted(stamps) and len(set(stamps)) == epochs, stamps
    return run.info.start_time, run.info.end_time


def test_runs_keep_their_real_start_end_and_epoch_times(sequential_run):
    uri, _ = sequential_run
    client, runs = runs_of(uri, "test-seq")
    children = sorted((r for r in runs if r.data.tags["role"] != "parent"),
                      key=lambda r: r.info.start_time)
    windows = [check_real_times(client, r, 3) for r in children]
    # trained one after another here: no two trainings overlap in time
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(windows))


def test_ensemble_members_keep_the_ensembles_times(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    config = RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=3, ensemble=True,
                       methods=("vae",), figures="none")
    run_benchmark(config, tracking_uri=uri, experiment="ens")
    client, runs = runs_of(uri, "ens")
    members = [r for r in runs if r.data.tags["role"] == "method"]
    assert len(members) == 2
    windows = {check_real_times(client, r, 3)[0] for r in members}
    assert len(windows) == 1  # trained together: one start


def test_mlflow_experiment_name_is_honoured_and_the_option_wins(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    config = RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1, methods=("vae",),
                       figures="none")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    first = run_benchmark(config, tracking_uri=uri)
    second = run_benchmark(config, tracking_uri=uri, experiment="from-option")
    client = MlflowClient(uri)
    names = {run.parent_run_id: client.get_experiment(
        client.get_run(run.parent_run_id).info.experiment_id).name for run in (first, second)}
    assert names == {first.parent_run_id: "from-env", second.parent_run_id: "from-option"}


def test_each_model_is_an_mlflow_model_that_loads_without_pickle(sequential_run, tmp_path):
    import mlflow.pyfunc
    import torch
    import yaml

    from rosetta_cl.models.vae import encode_means, load_model
    from rosetta_cl.tracking.store import download_model

    uri, _ = sequential_run
    client, runs = runs_of(uri, "test-seq")
    run = next(r for r in runs if r.data.tags.get("role") == "method")
    # a logged model of its run (the experiment's Models tab), READY, with the run's metrics
    (logged,) = client.search_logged_models([run.info.experiment_id],
                                            filter_string=f"source_run_id = '{run.info.run_id}'")
    assert str(logged.status) == "READY" and logged.name == "model"
    assert "LSD_D1" in {m.key for m in logged.metrics or []}
    assert "model" not in {a.path for a in client.list_artifacts(run.info.run_id)}
    local = Path(download_model(client, run.info.run_id, str(tmp_path)))
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert "artifacts/vae/model.safetensors" in files
    assert not any(f.endswith((".pkl", ".pt", ".pickle")) for f in files)
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"  # no cloudpickle
    mlflow.set_tracking_uri(uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    model = load_model(local)
    x = np.random.default_rng(0).normal(size=(7, model.config.input_dim)).astype(np.float32)
    expected = encode_means(model, torch.from_numpy(x)).numpy()
    assert expected.shape == (7, model.config.latent_dim)
    assert np.allclose(pyfunc.predict(x), expected, atol=1e-6)


def test_models_of_older_runs_still_load(tmp_path):
    """Runs logged before models became MLflow models hold model.pt (a plain state dict)."""
    import json
    from dataclasses import asdict

    import torch

    from rosetta_cl.models.vae import VAE, ModelConfig, load_model

    model = VAE(ModelConfig(5, 2, (8,)))
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "model_config.json").write_text(json.dumps(asdict(model.config)))
    loaded = load_model(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 loaded.state_dict().values(), strict=True))


def test_the_model_code_imports_and_saves_without_warnings(tmp_path):
    """MLflow nags about type hints and input examples; a user's run must not show that."""
    import subprocess
    import sys

    code = ("from rosetta_cl.tracking.mlflow_model import save_pyfunc\n"
            "from rosetta_cl.models.vae import VAE, ModelConfig\n"
            f"save_pyfunc(VAE(ModelConfig(5, 2, (8,))), {str(tmp_path / 'm')!r})\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=300)
    assert out.returncode == 0 and out.stderr == "", out.stderr[-2000:]
    assert (tmp_path / "m" / "MLmodel").is_file()
