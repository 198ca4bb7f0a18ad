"""The continual protocol: streams of more than two experiences, anchors accumulated."""

import pytest
from avalanche.core import SupervisedPlugin
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig, run_benchmark
from rosetta_cl.cli import main


def test_five_experience_stream_reports_every_part_seen(store):
    result = run_benchmark(RunConfig(benchmark="digits5", protocol="continual", quick=True,
                                     seeds=2, epochs=1, rosetta_points=4), tracking_uri=store)
    expected = [f"after_D{t}/LSD_D{j}" for t in range(2, 6) for j in range(1, t + 1)]
    assert result.table.columns == expected
    for column in expected:
        assert result.table.normalized["vae"][column].median == 0.0
        assert all(len(result.values[m][column]) == 2 for m in ("vae", "bvae", "rvae"))
    recon = result.extra["recon"]["rvae"]
    assert set(recon) == {f"after_D{t}/recon_D{j}" for t in range(1, 6) for j in range(1, t + 1)}
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("digits5").experiment_id])
    names = {r.info.run_name for r in runs}
    assert {"target@D2", "target@D5", "rvae/seed1", "continual-digits5"} <= names
    history = client.get_metric_history(
        next(r for r in runs if r.info.run_name == "rvae/seed1").info.run_id, "after_D5/LSD_D1")
    assert len(history) == 1
    # printed (compact): a row per column, medians only, 80 columns wide at most
    printed = result.table.markdown(compact=True).splitlines()
    assert printed[4:6] == ["| column | vae | bvae | rvae |", "|---|---|---|---|"]
    assert max(len(line) for line in printed) <= 80, printed
    assert len([line for line in printed if line.startswith("| after_D")]) == 2 * len(expected)
    # the logged summary.md keeps the paper layout with quartiles
    assert result.table.markdown().splitlines()[3].startswith("| method | after_D2/LSD_D1 |")


@pytest.mark.parametrize("mode", ["all", "latest", "reselect"])
def test_each_accumulation_mode_runs(mode):
    result = run_benchmark(RunConfig(benchmark="digits5", protocol="continual", quick=True,
                                     seeds=1, epochs=1, rosetta_points=3, methods=("vae", "rvae"),
                                     accumulate=mode, subsample=60), track=False)
    assert result.config.accumulate == mode
    assert result.table.raw["rvae"]["after_D3/LSD_D2"].median > 0


def test_two_experience_protocols_refuse_longer_streams(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "digits5"])
    assert exit_info.value.code == 2
    assert "digits5 has 5 experiences; the sequential protocol uses 2 (use --protocol " \
           "continual)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "digits5", "--protocol", "continual", "--accumulate", "some"])
    assert "accumulate 'some': allowed all, latest, reselect" in capsys.readouterr().err


class NaNLoss(SupervisedPlugin):
    """Makes the loss NaN in the third epoch of a method's training (targets have no --plugin)."""

    def __init__(self):
        super().__init__()
        self.epochs = 0

    def after_training_epoch(self, strategy, **kwargs):
        self.epochs += 1

    def before_backward(self, strategy, **kwargs):
        if self.epochs >= 2:
            strategy.loss = strategy.loss * float("nan")


def test_a_diverging_stream_run_stops_with_the_one_line_error(store, capsys, monkeypatch):
    """The continual protocol's method runs go through the trainer's divergence guard."""
    from mlflow.tracking import MlflowClient

    from rosetta_cl.registry import PLUGINS, PluginSpec

    monkeypatch.setitem(PLUGINS, "nan_loss", PluginSpec("nan_loss", lambda: NaNLoss(),
                                                        "test: NaN loss", {}))
    with pytest.raises(SystemExit) as exit_:
        main(["run", "digits5", "--protocol", "continual", "--quick", "--subsample", "60",
              "--seeds", "1", "--epochs", "2", "-k", "3", "--methods", "vae", "--plugin",
              "nan_loss", "--figures", "none", "--tracking-uri", store])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    (error,) = [line for line in err.splitlines()  # not our notice, nor the progress lines
                if not line.startswith(("created a new MLflow", "trained "))]
    assert error.startswith("Error: training diverged: vae/seed1 (seed 1), epoch 3"), error
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("digits5").experiment_id
    runs = client.search_runs([experiment])
    assert runs and "RUNNING" not in {r.info.status for r in runs}
    assert {r.info.status for r in runs if r.data.tags.get("role") == "parent"} == {"FAILED"}
