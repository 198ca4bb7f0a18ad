"""The paper's stopping rule (appendix B) as `--epochs plateau`: the joint model trains until its
validation loss plateaus; every model then trains that many epochs."""

import json

import numpy as np
import pytest
from helpers import run_main

from rosetta_cl import RunConfig, run_benchmark
from rosetta_cl.training.plateau import MAX_EPOCHS, TOLERANCE, WINDOW, plateau_epoch


def test_the_rule_fires_at_the_first_epoch_whose_window_no_longer_improves():
    losses = [100.0 / (e + 1) for e in range(30)] + [3.2] * 30  # falls, then flat
    e = plateau_epoch(losses)
    assert e == 31 + WINDOW  # epoch 31 is the last improvement; epochs 32-41 add < 0.1%
    before, recent = min(losses[:e - WINDOW]), min(losses[e - WINDOW:e])
    assert before - recent < TOLERANCE * before
    # one epoch earlier the window still held epoch 30's improvement
    assert plateau_epoch(losses[:e - 1]) is None
    # a rising (overfitting) loss has plateaued as soon as the window is full
    assert plateau_epoch([5.0, 4.0] + [4.5 + 0.1 * i for i in range(20)]) == 2 + WINDOW
    assert plateau_epoch([1.0] * WINDOW) is None  # not enough epochs to judge


def test_plateau_epochs_are_chosen_once_and_used_by_every_model():
    config = RunConfig(methods=("vae", "rvae"), seeds=1, templates=1, subsample=200,
                       epochs_rule="plateau")
    result = run_benchmark(config, track=False)
    plateau = result.extra["plateau"]
    epochs = plateau["epochs"]
    assert result.config.epochs == epochs and plateau["plateaued"]
    assert WINDOW < epochs < MAX_EPOCHS
    assert plateau_epoch(plateau["val_loss"]) == epochs  # the recorded curve gives the number
    # the same config with that fixed number gives the same table: nothing else changed
    fixed = run_benchmark(RunConfig(methods=("vae", "rvae"), seeds=1, templates=1,
                                    subsample=200, epochs=epochs), track=False)
    for method in ("vae", "rvae"):
        np.testing.assert_array_equal(result.values[method]["LSD_D1"],
                                      fixed.values[method]["LSD_D1"])


@pytest.mark.slow
def test_run_epochs_plateau_prints_and_logs_the_epochs_it_chose(store, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (150, 5)), rng.normal(3, 1, (150, 5))])
    np.savez("mine.npz", x=x.astype(np.float32), y=np.repeat([0, 1], 150))
    code, out, err = run_main(["run", "mine.npz", "--split-by", "label:0|1", "--epochs",
                               "plateau", "--seeds", "1", "--templates", "1", "--methods",
                               "vae,rvae", "--figures", "none", "--tracking-uri", store], capsys)
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("epochs: plateau -> "))
    epochs = int(line.split()[3])
    assert f"{epochs} epochs" in out and "| rvae |" in out
    from mlflow import MlflowClient

    client = MlflowClient(store)
    parent = client.search_runs([client.get_experiment_by_name("mine").experiment_id],
                                "tags.role = 'parent'")[0]
    assert parent.data.params["epochs"] == str(epochs)
    assert parent.data.params["epochs_rule"] == "plateau"
    path = client.download_artifacts(parent.info.run_id, "summary.json", str(tmp_path))
    with open(path) as f:
        plateau = json.load(f)["plateau"]
    assert plateau["epochs"] == epochs and len(plateau["val_loss"]) >= epochs


@pytest.mark.parametrize(("args", "message"), [
    (["run", "gaussians8", "--epochs", "soon"], "'soon': allowed an integer or plateau"),
    (["train", "data.npz", "--epochs", "plateau"], "--epochs plateau with train"),
    (["tune", "gaussians8", "--epochs", "plateau"], "--epochs plateau with tune"),
    (["run", "table2_sequential_digits", "--epochs", "plateau"],
     "--epochs plateau with spec table2_sequential_digits"),
])
def test_epochs_plateau_is_refused_where_there_is_no_joint_model_to_watch(args, message, store,
                                                                          capsys):
    np.savez("data.npz", x=np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32))
    code, _, err = run_main(args, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
