"""Extensions: an installed package's entry point and a file in plugins/ are both found and
usable from `rosetta-cl run`; broken plugins and clashes are clear errors naming the source."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run_main
from mlflow.tracking import MlflowClient

from rosetta_cl import extensions, registry

REPO_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test starts from the built-ins and leaves them as they were."""
    tables = extensions._tables()  # methods, benchmarks, plugins, metrics, protocols
    saved = [dict(t) for t in tables]
    loaded = set(extensions._loaded)
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)
    extensions._loaded.clear()
    extensions._loaded.update(loaded)



SPY = '''
from avalanche.core import SupervisedPlugin
from rosetta_cl.registry import PluginSpec, register_plugin

CALLS = []

class Spy(SupervisedPlugin):
    def __init__(self, tag):
        super().__init__()
        self.tag = tag

    def after_training_exp(self, strategy, **kwargs):
        CALLS.append(self.tag)

def register():
    register_plugin(PluginSpec("spy", lambda tag="x": Spy(tag), "records trainings", {"tag": "x"}))
'''


@pytest.fixture
def installed_package(tmp_path, monkeypatch):
    """A distribution with a `rosetta_cl.plugins` entry point, importable from sys.path."""
    site = tmp_path / "site"
    (site / "spyplugin").mkdir(parents=True)
    (site / "spyplugin" / "__init__.py").write_text(SPY)
    info = site / "spyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rosetta_cl.plugins]\nspy = spyplugin:register\n")
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("spyplugin", None)


def test_installed_plugin_is_found_and_used_by_run(installed_package, store, capsys):
    code, out, _ = run_main(["plugins"], capsys)
    assert code == 0 and "spy" in out and "entry point spy (spyplugin:register)" in out
    code, out, err = run_main(["run", "gaussians8", "--quick", "--seeds", "1", "--epochs", "1",
                               "--plugin", "spy:tag=hello", "--json"], capsys)
    assert code == 0, err
    import spyplugin

    assert spyplugin.CALLS == ["hello"] * 3  # one per method model (not template/target)
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("gaussians8").experiment_id],
                              "tags.role = 'method'")
    assert {r.data.params["plugin.spy"] for r in runs} == {"{'tag': 'hello'}"}
    assert json.loads(out)["config"]["plugins"] == ["spy:tag=hello"]


def test_shipped_plugin_ewc_runs_in_the_continual_protocol_from_anywhere(capsys, store):
    """Shipped plugins come with the package (its own entry point), not from ./plugins: the
    `store` fixture runs this from a temp dir."""
    code, out, err = run_main([
        "run", "digits5", "--protocol", "continual", "--quick", "--seeds", "1", "--epochs", "1",
        "--methods", "rvae", "--no-reinit", "--subsample", "60", "-k", "3",
        "--plugin", "ewc:ewc_lambda=1000", "--json"], capsys)
    assert code == 0, err
    assert registry.PLUGINS["ewc"].source == "entry point contrib (rosetta_cl.contrib:register)"
    with_ewc = json.loads(out)["values"]["rvae"]
    code, out, _ = run_main([
        "run", "digits5", "--protocol", "continual", "--quick", "--seeds", "1", "--epochs", "1",
        "--methods", "rvae", "--no-reinit", "--subsample", "60", "-k", "3", "--json"], capsys)
    assert json.loads(out)["values"]["rvae"] != with_ewc  # the penalty changed the training


def test_broken_plugin_file_names_the_file(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    code, _, err = run_main(["run", "gaussians8", "--plugins-dir", str(tmp_path)], capsys)
    assert code == 2 and str(tmp_path / "broken.py") in err
    assert "ModuleNotFoundError" in err and err.count("\n") == 1


def test_clash_names_both_sources(tmp_path, capsys):
    (tmp_path / "a.py").write_text(SPY + "\nregister()\n")
    (tmp_path / "b.py").write_text(SPY + "\nregister()\n")
    code, _, err = run_main(["plugins", "--plugins-dir", str(tmp_path)], capsys)
    assert code == 2 and "clashes" in err and "a.py" in err


def test_bad_plugin_options(capsys):
    code, _, err = run_main(["run", "gaussians8", "--plugin", "ewc:ewc_lambda=lots"], capsys)
    assert code == 2 and "plugin ewc option ewc_lambda='lots': expected float" in err
    code, _, err = run_main(["run", "gaussians8", "--plugin", "ewc:speed=3"], capsys)
    assert code == 2 and "allowed ewc_lambda=<float>" in err



def test_shipped_plugins_add_their_terms_from_the_second_experience(capsys):
    """Shipped combinations with a stock avalanche strategy: each adds nothing to the loss in
    the first experience and a positive term from the second on (after its first step for the
    weight penalties, which start at zero); replay keeps at most mem_size stored points."""
    import numpy as np
    import torch
    from avalanche.core import SupervisedPlugin
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from rosetta_cl import VAE, ModelConfig
    from rosetta_cl.data.streams import BenchmarkDefaults, gaussians8_data, make_benchmark

    extensions.load_extensions()
    x, y, part = gaussians8_data(n_per_gaussian=30, seed=0)
    bench = make_benchmark("tiny", x, y, part, 0, ("D1", "D2"),
                           BenchmarkDefaults(2, 4, 2, (16,), "gaussian"))

    class Added(SupervisedPlugin):  # runs after the plugin under test: loss - ELBO
        def __init__(self):
            super().__init__()
            self.extra = []

        def before_backward(self, strategy, **kwargs):
            out = strategy.mb_output
            elbo = out.recon_nll.mean() + out.kl.mean()
            self.extra.append((strategy.clock.train_exp_counter,
                               float(strategy.loss.detach() - elbo.detach())))

    for name, options in (("lwf", {"alpha": 5.0}), ("replay", {"mem_size": 50}),
                          ("si", {"si_lambda": 1e4}), ("generative_replay", {"alpha": 1.0}),
                          ("ewc", {"ewc_lambda": 100.0})):
        torch.manual_seed(0)
        model = VAE(ModelConfig(5, 2, (16,)))
        plugin, spy = registry.PLUGINS[name].make(**options), Added()
        strategy = Naive(model=model, optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                         criterion=lambda out, y: out.recon_nll.mean() + out.kl.mean(),
                         train_mb_size=32, train_epochs=2, plugins=[plugin, spy],
                         evaluator=EvaluationPlugin())
        for experience in bench.train_stream:
            strategy.train(experience)
        first = [v for e, v in spy.extra if e == 0]
        second = [v for e, v in spy.extra if e == 1]
        assert np.allclose(first, 0, atol=1e-5) and all(v > 0 for v in second[1:]), name
        if name == "replay":
            assert sum(len(m) for m, _ in plugin.memory) <= 50


def test_si_refuses_a_model_reinitialised_between_experiences(capsys, store):
    """SI's penalty pulls towards the last experience's weights: with --reinit (the continual
    protocol's default) that is meaningless, so it stops with a one-line error."""
    args = ["run", "digits5", "--protocol", "continual", "--quick", "--seeds", "1", "--epochs",
            "1", "--methods", "rvae", "--subsample", "60", "-k", "3", "--plugins-dir",
            str(REPO_PLUGINS), "--plugin", "si"]
    code, _, err = run_main(args, capsys)  # refused before training (issue 18)
    assert code == 2 and err.strip().splitlines()[-1] == (
        "Error: --plugin si with --reinit (the continual default): si protects the previous "
        "experience's weights, which --reinit throws away; allowed with --no-reinit")
    assert not (Path(store.removeprefix("sqlite:///")).exists())
    code, _, err = run_main([*args, "--no-reinit"], capsys)
    assert code == 0, err


def test_unknown_plugin_names_the_shipped_ones_and_the_local_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./plugins here
    code, _, err = run_main(["run", "gaussians8", "--plugin", "nope"], capsys)
    assert code == 2 and "unknown plugin 'nope': allowed" in err
    for name in ("ewc", "si", "lwf", "replay", "generative_replay"):
        assert name in err
    assert "--plugins-dir DIR" in err and err.count("\n") == 1


def test_the_local_plugins_folder_example_registers_a_metric(capsys):
    code, out, _ = run_main(["plugins", "--plugins-dir", str(REPO_PLUGINS)], capsys)
    assert code == 0 and "centroid_distance" in out
    from rosetta_cl.registry import METRICS

    scores = METRICS["centroid_distance"].compute(
        [[0.0, 0.0], [2.0, 0.0]], [[3.0, 4.0], [5.0, 4.0]], {"D1": [True, True]})
    assert scores.groups == {"D1": 5.0}


@pytest.mark.parametrize(("args", "message"), [
    (["run", "gaussians8", "--plugin", "ewc:ewc_lambda=100"],
     "--plugin ewc with the sequential protocol: each method trains on one experience there, so "
     "ewc (it acts on what earlier experiences left) would do nothing; allowed with --protocol "
     "continual"),
    (["run", "gaussians8", "--protocol", "reproducibility", "--plugin", "lwf"],
     "--plugin lwf with the reproducibility protocol"),
    (["run", "digits5", "--protocol", "continual", "--plugin", "ewc"],
     "--plugin ewc with --reinit (the continual default): ewc protects the previous "
     "experience's weights, which --reinit throws away; allowed with --no-reinit"),
    (["train", "data.npz", "--plugin", "replay"],
     "--plugin replay with train: train fits one experience, so replay (it acts on what earlier "
     "experiences left) would do nothing; allowed with rosetta-cl run DATA --protocol continual"),
])
def test_a_plugin_that_would_idle_is_refused_naming_the_fix(args, message, store, capsys):
    """EWC on the default sequential protocol exited 0 and the output never named it."""
    np.savez("data.npz", x=np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32))
    code, _, err = run_main([*args, "--quick"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not Path(store.removeprefix("sqlite:///")).exists()  # refused before any run


def test_the_output_names_a_plugin_used_on_the_sequential_protocol(store, capsys):
    """A plugin that acts on one experience (here a local one) is named in the output of every
    protocol, not only the continual one's."""
    from avalanche.core import SupervisedPlugin

    registry.register_plugin(registry.PluginSpec("noop", lambda: SupervisedPlugin(),
                                                 "does nothing, on purpose", {}))
    try:
        code, out, err = run_main(["run", "gaussians8", "--quick", "--seeds", "1", "--templates",
                                   "1", "--epochs", "1", "--plugin", "noop", "--figures", "none",
                                   "--tracking-uri", store], capsys)
    finally:
        registry.PLUGINS.pop("noop")
    assert code == 0, err
    assert "every method trains with plugins: noop" in out
