"""--ensemble: the M seeds of a method as one vectorised model give the sequential runs' results."""

import json

import pytest
import torch
from avalanche.benchmarks.scenarios import benchmark_from_datasets
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig, run_benchmark
from rosetta_cl.anchors.points import Anchors
from rosetta_cl.cli import main
from rosetta_cl.data.streams import tensor_dataset
from rosetta_cl.methods.epoch_metrics import MetricHistory
from rosetta_cl.methods.strategies import BetaVAEStrategy, RosettaVAEStrategy
from rosetta_cl.models.vae import VAE, ModelConfig, encode_means
from rosetta_cl.training.ensemble import Objective, train_ensemble


def data(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    return x, torch.randn(90, 5, generator=g), Anchors(x[:6], torch.randn(6, 2, generator=g))


CONFIG = ModelConfig(5, 2, (16, 16), "full", "gaussian", None)


def sequential_run(method, seed, x, val_x, anchors, epochs, **anchor_term):
    torch.manual_seed(seed)
    model, history = VAE(CONFIG), MetricHistory()
    common = {"model": model, "train_epochs": epochs, "val_x": val_x, "seed": seed,
              "loggers": [history], "train_mb_size": 64}
    strategy = (RosettaVAEStrategy(k=len(anchors), rho=1.5, anchors=anchors, select=False,
                                   **anchor_term, **common) if method == "rvae"
                else BetaVAEStrategy(beta=2.5, **common))
    experience = benchmark_from_datasets(
        train=[tensor_dataset(x.numpy(), torch.zeros(len(x)).numpy())]).train_stream[0]
    strategy.train(experience)
    return model, history.values


@pytest.mark.parametrize("method", ["rvae", "bvae"])
def test_members_equal_sequential_runs_up_to_rounding(method):
    x, val_x, anchors = data()
    objective = Objective(1.0, 1.5, anchors) if method == "rvae" else Objective(2.5)
    runs = train_ensemble(CONFIG, [3, 7], x, objective=objective, epochs=4, batch_size=64,
                          val_x=val_x)
    assert [r.seed for r in runs] == [3, 7]
    means = []
    for run in runs:
        model, history = sequential_run(method, run.seed, x, val_x, anchors, 4)
        expected = encode_means(model, val_x)
        means.append(encode_means(run.model, val_x))
        assert torch.allclose(means[-1], expected, atol=1e-5), (means[-1] - expected).abs().max()
        assert set(run.history) == set(history)  # the strategies' metric names, every epoch
        assert ("train/rosetta" in history) == (method == "rvae")
        for name, values in history.items():
            assert run.history[name] == pytest.approx(values, rel=1e-5, abs=1e-6), name
    assert (means[0] - means[1]).abs().max() > 0.01  # the seeds give different models


@pytest.mark.parametrize("anchor_term", [{"decoder": "none"}, {"decoder": "nll"},
                                         {"fit": "affine"}, {"fit": "affine", "decoder": "none"}])
def test_anchor_term_variants_equal_sequential_runs(anchor_term):
    """Without the decoder term, and with the affine fit: the same models in both trainers,
    and another training than the default (exact fit + decoder term)."""
    x, val_x, anchors = data()
    objective = Objective(1.0, 1.5, anchors, anchor_term.get("fit", "exact"),
                          anchor_term.get("decoder", "squared"))
    (run,) = train_ensemble(CONFIG, [5], x, objective=objective, epochs=3, batch_size=64,
                            val_x=val_x)
    model, history = sequential_run("rvae", 5, x, val_x, anchors, 3, **anchor_term)
    assert torch.allclose(encode_means(run.model, val_x), encode_means(model, val_x), atol=1e-5)
    assert run.history["train/rosetta"] == pytest.approx(history["train/rosetta"], rel=1e-5)
    (exact,) = train_ensemble(CONFIG, [5], x, objective=Objective(1.0, 1.5, anchors), epochs=3,
                              batch_size=64)
    assert run.history["train/rosetta"][0] != pytest.approx(exact.history["train/rosetta"][0])


def test_anchor_term_and_beta_change_the_training():
    x, val_x, anchors = data()
    plain, anchored, beta = (train_ensemble(CONFIG, [1], x, objective=o, epochs=2)[0]
                             for o in (Objective(), Objective(1.0, 1.5, anchors),
                                       Objective(4.0)))
    assert "train/rosetta" in anchored.history and "train/rosetta" not in plain.history
    assert anchored.history["train/loss"][-1] > 0
    for other in (anchored, beta):
        assert not torch.allclose(encode_means(plain.model, val_x),
                                  encode_means(other.model, val_x))
    # rho 0 means no anchor term, as the strategies do
    assert "train/rosetta" not in train_ensemble(CONFIG, [1], x, objective=Objective(
        1.0, 0.0, anchors), epochs=1)[0].history


def test_forward_uses_the_given_noise():
    model = VAE(CONFIG)
    x, eps = torch.randn(4, 5), torch.randn(4, 2)
    a, b = model(x, eps), model(x, eps)
    assert torch.equal(a.z, b.z) and torch.equal(a.recon_nll, b.recon_nll)
    assert torch.allclose(a.z, a.mu + (a.scale_tril @ eps.unsqueeze(-1)).squeeze(-1))


@pytest.mark.parametrize("protocol", ["sequential", "reproducibility"])
def test_protocol_with_ensemble_gives_the_sequential_table(protocol):
    config = RunConfig(benchmark="gaussians8", protocol=protocol, quick=True, subsample=200,
                       epochs=3, figures="none")
    seq = run_benchmark(config, track=False)
    ens = run_benchmark(RunConfig(**{**vars(config), "ensemble": True}), track=False)
    assert seq.values.keys() == ens.values.keys()
    for method, columns in seq.values.items():
        for column, values in columns.items():
            assert ens.values[method][column] == pytest.approx(values, rel=1e-4, abs=1e-6)


@pytest.mark.slow
def test_cli_ensemble_logs_every_member_like_a_sequential_run(store, capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "gaussians8", "--quick", "--ensemble", "--epochs", "4", "--figures", "none",
              "--json"])
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    client = MlflowClient(store)
    children = client.search_runs(
        [client.get_experiment_by_name("gaussians8").experiment_id],
        f"tags.mlflow.parentRunId = '{summary['parent_run_id']}' and tags.role = 'method'")
    assert sorted(r.info.run_name for r in children) == sorted(
        f"{m}/seed{s}" for m in ("vae", "bvae", "rvae") for s in (1, 2, 3))
    for run in children:
        assert run.data.params["ensemble"] == "True" and run.info.status == "FINISHED"
        assert "LSD_D1" in run.data.metrics
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
        assert steps == [1, 2, 3, 4]
        assert {"val/loss", "train/kl"} <= set(run.data.metrics)
        assert ("train/rosetta" in run.data.metrics) == run.info.run_name.startswith("rvae")
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"latents.npz", "linear_map.npz"} <= names
        assert client.search_logged_models(  # the model: a logged model of the run
            [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")


@pytest.mark.parametrize("config", [
    ModelConfig(64, 4, (32,), "diag", "bernoulli", None, "conv", image_shape=(1, 8, 8)),
    ModelConfig(5, 2, (16,), "diag", "gaussian", 0.3),
], ids=["conv-diag-bernoulli", "mlp-diag-fixed-scale"])
def test_other_models_vectorise_too(config):
    """Convolutions, the diagonal posterior (its model once failed to build after the vmap
    change), Bernoulli likelihood, fixed observation noise."""
    x = torch.rand(120, config.input_dim, generator=torch.Generator().manual_seed(0))
    run = train_ensemble(config, [5], x, epochs=2, batch_size=64, val_x=x[:40])[0]
    torch.manual_seed(5)
    model = VAE(config)
    experience = benchmark_from_datasets(
        train=[tensor_dataset(x.numpy(), torch.zeros(len(x)).numpy())]).train_stream[0]
    BetaVAEStrategy(model=model, beta=1.0, train_epochs=2, train_mb_size=64, seed=5,
                    val_x=x[:40]).train(experience)
    assert torch.allclose(encode_means(model, x), encode_means(run.model, x), atol=1e-5)
