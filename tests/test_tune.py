"""Hyperparameter selection (appendix B): grids, choice by validation loss, --from-tune."""

import pytest
import torch
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig
from rosetta_cl.cli import main
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.tune import parse_grid, tune, validation_nelbo
from rosetta_cl.models.vae import VAE, ModelConfig


def test_paper_grids():
    betas = parse_grid("0:2.5:25", "beta")
    rhos = parse_grid("0:0.75:15", "rho")
    assert len(betas) == 11 and betas[0] == 0 and betas[-1] == 25
    assert len(rhos) == 21 and rhos[1] == 0.75 and rhos[-1] == 15
    assert parse_grid("1, 2,4", "rho") == (1.0, 2.0, 4.0)


@pytest.mark.parametrize("text", ["0:0:5", "5:1:0", "a:b:c", "", "-1,2", "1:2"])
def test_bad_grids(text):
    with pytest.raises(ConfigError, match="grid"):
        parse_grid(text, "rho")


def test_validation_nelbo_is_seeded():
    model = VAE(ModelConfig(5, 2))
    x = torch.randn(50, 5)
    assert validation_nelbo(model, x, seed=3) == validation_nelbo(model, x, seed=3)
    assert model.training  # mode restored


def test_template_fit_is_half_the_mean_squared_distance_and_affine_blind():
    from rosetta_cl.experiments.tune import template_fit

    model = VAE(ModelConfig(5, 2))
    x = torch.randn(40, 5)
    with torch.no_grad():
        mu = model.encode(x)
    assert template_fit(model, x, mu + 2.0) == pytest.approx(0.5 * 8.0, rel=1e-5)
    shifted = mu @ torch.tensor([[2.0, 1.0], [0.0, -1.0]]) + 3.0  # an affine image of mu
    assert template_fit(model, x, shifted, "affine") == pytest.approx(0.0, abs=1e-6)
    assert template_fit(model, x, shifted) > 1.0


def test_default_criterion_adds_the_template_fit_and_can_prefer_rho(store):
    """The score is validation -ELBO + template fit; anchoring (rho > 0) lowers the template
    fit, which the ELBO alone never rewards. Tune's defaults (20 epochs) on gaussians8: the
    README's measured grid (rho 0: 1.82 + 2.53, rho 0.75: 2.67 + 0.04)."""
    config = RunConfig(benchmark="gaussians8", seeds=1)
    result = tune(config, (2.5,), (0.0, 0.75), tracking_uri=store)
    assert result.criterion == "elbo+template" and result.config.epochs == 20
    rho = result.parts["rho"]
    for value, terms in rho.items():
        assert terms["score"] == pytest.approx(terms["val_nelbo"] + terms["template_fit"])
        assert result.grids["rho"][value] == terms["score"]
    assert rho[0.75]["template_fit"] < 0.1 * rho[0.0]["template_fit"]
    assert rho[0.75]["val_nelbo"] > rho[0.0]["val_nelbo"]  # the price in ELBO
    assert result.best["rho"] == 0.75
    elbo = tune(config, (2.5,), (0.0, 0.75), track=False, criterion="elbo")
    assert elbo.best["rho"] == 0.0  # the ELBO alone prefers no anchors
    assert set(elbo.parts["rho"][0.0]) == {"val_nelbo", "score"}
    assert elbo.as_dict()["criterion"] == "elbo"


def test_bad_criterion(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "gaussians8", "--criterion", "loss"])
    assert exit_info.value.code == 2
    assert "criterion 'loss': allowed elbo+template, elbo" in capsys.readouterr().err


def test_tune_picks_the_minimum_and_run_uses_it(store, capsys):
    result = tune(RunConfig(benchmark="gaussians8", quick=True, epochs=2),
                  (0.0, 1.0, 2.5), (0.0, 1.5), tracking_uri=store)
    assert list(result.grids["beta"]) == [0.0, 1.0, 2.5] and list(result.grids["rho"]) == [0, 1.5]
    for name, grid in result.grids.items():
        assert result.best[name] == min(grid, key=grid.get)
    client = MlflowClient(store)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags["tune.best_beta"] == str(result.best["beta"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    assert len(children) == 1 + 3 + 2  # template + grid points
    scored = [c for c in children if c.data.tags["role"] == "method"]
    assert all("val_nelbo" in c.data.metrics for c in scored)

    with pytest.raises(SystemExit):
        main(["run", "gaussians8", "--quick", "--epochs", "1", "--seeds", "2", "--json",
              "--from-tune", result.parent_run_id, "--beta", "7", "--tracking-uri", store])
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["config"]["rho"] == result.best["rho"]
    assert summary["config"]["beta"] == 7.0  # the command line wins over the tune run


def test_from_tune_needs_a_tune_run(store, capsys):
    from rosetta_cl import run_benchmark

    plain = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, epochs=1, seeds=2),
                          tracking_uri=store)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "gaussians8", "--from-tune", plain.parent_run_id, "--tracking-uri", store])
    assert exit_info.value.code == 2
    assert "not a finished `rosetta-cl tune` run" in capsys.readouterr().err


def test_tune_reproducibility_without_tracking():
    result = tune(RunConfig(benchmark="gaussians8", protocol="reproducibility", quick=True,
                            epochs=1), (1.0,), (0.0, 0.75), track=False)
    assert result.config.protocol == "reproducibility" and result.parent_run_id is None
    assert result.best == {"beta": 1.0, "rho": min(result.grids["rho"],
                                                   key=result.grids["rho"].get)}


def test_tune_takes_the_tuned_field_from_each_method():
    """Methods name the field tune chooses for them (MethodSpec.tuned); no method is special."""
    from rosetta_cl import METHODS

    assert (METHODS["bvae"].tuned, METHODS["rvae"].tuned, METHODS["vae"].tuned) == (
        "beta", "rho", None)
    result = tune(RunConfig(benchmark="gaussians8", quick=True, epochs=1, methods=("vae", "rvae")),
                  rho_grid=(0.0, 1.5), track=False)
    assert set(result.grids) == {"rho"} and set(result.grids["rho"]) == {0.0, 1.5}
    assert set(result.best) == {"rho"}
    message = "methods vae: none has a tuned value; allowed bvae, rvae"
    with pytest.raises(ConfigError, match=message):
        tune(RunConfig(benchmark="gaussians8", quick=True, methods=("vae",)), track=False)


def test_tune_says_when_a_pick_is_at_the_grid_edge_or_a_near_tie():
    """`tune wine.npz` picked beta 25 (the grid's edge) from a near tie and said neither."""
    from rosetta_cl.experiments.tune import TuneResult

    config = RunConfig(seeds=1)
    result = TuneResult(config, {"beta": {2.5: 30.0, 12.5: 28.0, 25.0: 27.999},
                                 "rho": {0.0: 10.0, 0.75: 10.02, 1.5: 10.05}},
                        {"beta": 25.0, "rho": 0.0}, 1.0)
    notes = result.notes()
    assert notes[0].startswith("beta=25 beat beta=12.5 by 0.001; all 3 scores within 2")
    assert "a near tie: the margin is 0.05% of that range" in notes[0]
    assert notes[1] == ("beta=25 is the grid's largest value: the best may lie beyond it "
                        "(widen --beta-grid)")
    # rho = 0 is the parameter's bound, not an edge to widen; its scores lie within 0.5%
    assert notes[2].startswith("rho=0 beat rho=0.75 by 0.02; all 3 scores within 0.05 (0.50% "
                               "of the best): the grid barely separates them (1 seed per point")
    assert len(notes) == 3 and result.as_dict()["notes"] == notes
