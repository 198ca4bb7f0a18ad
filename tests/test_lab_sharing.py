"""A lab's latent space as a registered model: Alice trains on her .h5ad and publishes encoder +
anchors; Bob anchors to ``models:/atlas@champion`` on his own .h5ad (genes in another order);
both embed, through the CLI, MLflow's pyfunc and ``mlflow models serve``."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import anndata  # the [anndata] extra; the dev extra installs it
import numpy as np
import pytest
from conftest import free_port, wait_until_up
from helpers import run_main
from test_anndata import write_atlas

from rosetta_cl.config.options import RunConfig
from rosetta_cl.experiments.train import train
from rosetta_cl.tracking.model_registry import ANCHORS_MODEL_TAG, publish

GENES = tuple(f"g{j}" for j in range(10))
BOB_ORDER = [3, 1, 0, 2, 9, 8, 7, 6, 5, 4]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Alice's store: her VAEs on alice.h5ad, the first published as atlas v1 @champion."""
    root = tmp_path_factory.mktemp("lab")
    before = os.environ.get("ROSETTA_CL_DATA")
    os.environ["ROSETTA_CL_DATA"] = str(root / "cache")  # where pulled versions are kept
    store = f"sqlite:///{root}/mlruns/mlflow.db"
    alice = write_atlas(root / "alice.h5ad", n=300, seed=0)
    bob = write_atlas(root / "bob.h5ad", n=240, seed=1, order=BOB_ORDER)
    result = train(RunConfig(benchmark="data", data=str(alice), quick=True, methods=("vae",),
                             seeds=2, rosetta_points=8, figures="none"), tracking_uri=store)
    published = publish(result.runs[0].run_id, "atlas", alias="champion", tracking_uri=store)
    yield {"root": root, "store": store, "alice": alice, "bob": bob, "alice_runs": result,
           "published": published}
    if before is None:
        os.environ.pop("ROSETTA_CL_DATA", None)
    else:
        os.environ["ROSETTA_CL_DATA"] = before


def alice_order(path: Path) -> np.ndarray:
    adata = anndata.read_h5ad(path)
    return adata[:, list(GENES)].X.toarray().astype(np.float32)


@pytest.mark.slow
def test_walkthrough_publish_pull_anchor_embed_serve(lab, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store, bob = lab["store"], lab["bob"]
    assert lab["published"].uri == "models:/atlas/1"
    # Bob: R-VAEs on his own file, no split, anchored to the registered version
    code, out, err = run_main(["train", str(bob), "--anchors", "models:/atlas@champion",
                               "--method", "rvae", "--quick", "--seeds", "2", "--json",
                               "--tracking-uri", store], capsys)
    assert code == 0, err
    bob_runs = json.loads(out)
    assert bob_runs["anchors_model"] == "models:/atlas/1" and bob_runs["methods"] == ["rvae"]
    assert all(np.isfinite(r["metrics"]["anchor_fit"]) for r in bob_runs["runs"])
    # the alignment verdict of every run, its rule, and that --quick is a smoke run
    assert bob_runs["smoke"] is True and "10% of the anchors' spread" in bob_runs["alignment_rule"]
    for r in bob_runs["runs"]:
        m = r["metrics"]
        assert {"train/loss", "val/loss", "val/recon", "val/kl", "active_units"} <= set(m)
        assert m["anchor_fit_ratio"] == pytest.approx(m["anchor_fit"] / m["anchor_spread"])
        assert r["alignment"] == ("aligned" if m["anchor_fit_ratio"] <= 0.1 else "not aligned")
        assert m["aligned"] == float(r["alignment"] == "aligned")
    # the registry: the version, its lineage, and Bob's run pointing at it
    from mlflow import MlflowClient

    client = MlflowClient(store)
    version = client.get_model_version("atlas", "1")
    assert version.tags["rosetta.source_run"] == lab["alice_runs"].runs[0].run_id
    assert version.tags["rosetta.k"] == "8" and version.tags["rosetta.features"] == "10"
    assert str(client.get_model_version_by_alias("atlas", "champion").version) == "1"
    bob_parent = client.get_run(bob_runs["parent_run_id"])
    assert bob_parent.data.tags[ANCHORS_MODEL_TAG] == "models:/atlas/1"
    # MLflow's lineage: the version is Alice's logged model, an input of Bob's run
    model_id = version.tags["rosetta.model_id"]
    assert [m.model_id for m in bob_parent.inputs.model_inputs] == [model_id]
    assert client.get_logged_model(model_id).source_run_id == lab["alice_runs"].runs[0].run_id
    # embed three ways: the CLI (Bob's gene order, matched by name), pyfunc, the served model
    code, _, err = run_main(["embed", "models:/atlas@champion", str(bob), "-o", "bob.h5ad",
                             "--tracking-uri", store], capsys)
    assert code == 0, err
    cli_z = anndata.read_h5ad("bob.h5ad").obsm["X_rosetta"]
    x = alice_order(bob)
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    pyfunc_z = mlflow.pyfunc.load_model("models:/atlas@champion").predict(x)
    np.testing.assert_array_equal(pyfunc_z, cli_z)
    served = serve_and_predict(store, x[:20], lab["root"])
    np.testing.assert_allclose(served, cli_z[:20], rtol=0, atol=1e-6)  # JSON's float text


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "share-a-latent-space.md"


def serve_and_predict(store: str, rows: np.ndarray, cwd: Path) -> np.ndarray:
    """The guide's serving command exactly as written (only the port swapped for a free one),
    run in the folder whose ./mlruns/mlflow.db is the store, with neither MLFLOW_TRACKING_URI
    set nor this environment's bin on PATH; post rows to /invocations, return the predictions,
    stop it, and check that no other database appeared."""
    import re
    import shlex

    command = re.search(r"^(rosetta-cl serve .*) &$", GUIDE.read_text(), flags=re.M).group(1)
    argv = shlex.split(command)
    assert argv[:3] == ["rosetta-cl", "serve", "models:/atlas@champion"]
    port = free_port()
    argv[argv.index("-p") + 1] = str(port)
    assert store == f"sqlite:///{cwd}/mlruns/mlflow.db"  # the project's default store
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != str(Path(sys.executable).parent))
    before = sorted(cwd.rglob("*.db"))
    server = subprocess.Popen([sys.executable, "-m", "rosetta_cl", *argv[1:]], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/ping", server, "rosetta-cl serve", timeout=120)
        request = urllib.request.Request(f"{base}/invocations",
                                         data=json.dumps({"inputs": rows.tolist()}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    assert sorted(cwd.rglob("*.db")) == before  # no stray ./mlflow.db
    return np.asarray(predictions, dtype=np.float64)


def test_serve_refuses_an_unknown_model_or_a_public_address(lab, capsys, monkeypatch):
    monkeypatch.chdir(lab["root"])
    for args, message in (
            (["serve", "models:/atlas@nope"], "serve models:/atlas@nope: model 'atlas' has no "
                                              "alias 'nope' (its aliases: champion)"),
            (["serve", "models:/atlas@champion", "-h", "0.0.0.0"],
             "--host 0.0.0.0: the model server has no authentication"),
            (["serve", "models:/atlas@champion", "-p", "0"], "port 0: allowed 1-65535")):
        code, _, err = run_main([*args, "--tracking-uri", lab["store"]], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_gene_order_does_not_change_the_latents(lab, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = lab["store"]
    shuffled = write_atlas(tmp_path / "shuffled.h5ad", n=300, seed=0, order=BOB_ORDER)
    for name, path in (("alice.npz", lab["alice"]), ("shuffled.npz", shuffled)):
        code, _, err = run_main(["embed", "models:/atlas/1", str(path), "-o", name,
                                 "--tracking-uri", store], capsys)
        assert code == 0, err
    with np.load("alice.npz") as a, np.load("shuffled.npz") as b:
        np.testing.assert_array_equal(a["z"], b["z"])
        assert a["obs_names"][0] == "cell0"
    umask = os.umask(0o022)
    os.umask(umask)
    assert Path("alice.npz").stat().st_mode & 0o777 == 0o666 & ~umask  # it was 0600


def test_a_missing_gene_is_refused_in_one_line(lab, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    adata = anndata.read_h5ad(lab["bob"])
    adata[:, [g for g in adata.var_names if g != "g7"]].copy().write_h5ad("no_g7.h5ad")
    for args in (["embed", "models:/atlas/1", "no_g7.h5ad", "-o", "z.npz"],
                 ["train", "no_g7.h5ad", "--anchors", "models:/atlas/1", "--quick"]):
        code, _, err = run_main([*args, "--tracking-uri", lab["store"]], capsys)
        assert code == 2 and "lacks 1 of the model's 10 features: g7" in err, err
        assert len(err.strip().splitlines()) == 1
    assert not Path("z.npz").exists()


def test_bad_model_references_are_one_line_errors(lab, tmp_path, capsys, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    store = lab["store"]
    client = MlflowClient(store)  # a registered version that is no Rosetta encoder
    run = client.create_run(client.create_experiment("plain"))
    client.log_text(run.info.run_id, "not a model", "plain/readme.txt")
    client.create_registered_model("plain")
    client.create_model_version("plain", f"{run.info.artifact_uri}/plain", run_id=run.info.run_id)
    np.savez("wide.npz", x=np.ones((20, 11), dtype=np.float32))
    from rosetta_cl import VAE, ModelConfig, save_model

    save_model(VAE(ModelConfig(input_dim=5)), "five_inputs")  # a model without feature names
    np.savez("unnamed.npz", x=np.ones((20, 10), dtype=np.float32))
    cases = [
        (["embed", "models:/nope/1", str(lab["bob"])], "no registered model 'nope'"),
        (["embed", "models:/atlas@staging", str(lab["bob"])],
         "model 'atlas' has no alias 'staging' (its aliases: champion)"),
        (["embed", "models:/atlas/9", str(lab["bob"])],
         "model 'atlas' has no version 9 (its versions: 1)"),
        (["embed", "models:/plain/1", str(lab["bob"])], "models:/plain/1 is not a Rosetta encoder"),
        (["embed", "models:/atlas/1", "unnamed.npz"],
         "unnamed.npz has 10 unnamed columns; the model reads 10 named features"),
        # the width said at once (naming the columns then gave a second error, the width)
        (["embed", lab["alice_runs"].runs[0].run_id, "wide.npz"],
         "data file wide.npz has 11 unnamed columns; the model reads 10 named features (g0, g1, "
         "g2, ...), matched by name: give the file a column for each of those names"),
        (["train", "wide.npz", "--anchors", "models:/atlas/1", "--quick"],
         "has 11 unnamed columns"),
        (["embed", "five_inputs", "wide.npz"], "has 11 features; the model reads 5"),
        (["anchors", "publish", lab["alice_runs"].parent_run_id, "--name", "x"],
         "holds no model"),
        (["anchors", "publish", lab["alice_runs"].runs[0].run_id, "--name", "bad name"],
         "--name 'bad name': allowed letters"),
        (["anchors", "publish", lab["alice_runs"].runs[0].run_id, "--name", "x", "--alias",
          "latest"], "--alias 'latest'"),
        (["train", str(lab["bob"]), "--methods", "rvae", "--quick"],
         "methods rvae without --anchors: allowed vae"),
        (["train", str(lab["bob"]), "--method", "rvae", "--methods", "vae"],
         "--method and --methods: give one of them"),
        (["train", str(lab["bob"]), "--method", "nope", "--anchors", "models:/atlas/1"],
         "unknown method 'nope'"),
    ]
    for args, message in cases:
        if args[0] == "embed":
            args = [*args, "-o", "out.npz"]
        code, _, err = run_main([*args, "--tracking-uri", store], capsys)
        assert code == 2 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not Path("out.npz").exists()
    assert [m.name for m in client.search_registered_models()] == ["atlas", "plain"]


@pytest.mark.slow
def test_run_and_anchors_select_take_a_registered_version_and_h5ad(lab, tmp_path, capsys,
                                                                   monkeypatch):
    """The protocol command anchors to models:/ too (tagged with the version), and anchors are
    selected from an .h5ad's matrix."""
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    store = lab["store"]
    code, out, err = run_main(["run", str(lab["bob"]), "--split-by", "obs:batch=A,B|C",
                               "--anchors", "models:/atlas@champion", "--quick", "--methods",
                               "vae,rvae", "--figures", "none", "--json", "--tracking-uri",
                               store], capsys)
    assert code == 0, err
    parent = MlflowClient(store).get_run(json.loads(out)["parent_run_id"])
    assert parent.data.tags[ANCHORS_MODEL_TAG] == "models:/atlas/1"
    Path("bob.toml").write_text(f"""[run]
benchmark = "data"
data = "{lab['bob']}"
split_by = "obs:batch=A,B|C"
anchors = "models:/atlas@champion"
methods = ["vae", "rvae"]
figures = "none"
""")
    code, out, err = run_main(["run", "bob.toml", "--quick", "--json", "--tracking-uri", store],
                              capsys)
    assert code == 0, err
    spec_run = MlflowClient(store).get_run(json.loads(out)["parent_run_id"])
    assert spec_run.data.tags[ANCHORS_MODEL_TAG] == "models:/atlas/1"
    code, out, err = run_main(["anchors", "select", "--model", lab["alice_runs"].runs[1].run_id,
                               "--data", str(lab["alice"]), "--layer", "log1p", "-k", "5",
                               "-o", "alice.rosetta", "--tracking-uri", store], capsys)
    assert code == 0 and "5 anchors" in out, err


@pytest.mark.slow
def test_a_version_published_from_a_protocol_run_matches_genes_by_name(lab, tmp_path, capsys,
                                                                       monkeypatch):
    """A protocol run on an .h5ad logs var_names with its template and every model run, so the
    version published from it embeds Bob's shuffled genes in Alice's order (it was tagged
    'unnamed' and embedded them as they came)."""
    monkeypatch.chdir(tmp_path)
    store = lab["store"]
    code, out, err = run_main(["run", str(lab["alice"]), "--split-by", "obs:batch=A,B|C",
                               "--quick", "--figures", "none", "--methods", "vae,rvae",
                               "--seeds", "1", "--templates", "1", "--json",
                               "--tracking-uri", store], capsys)
    assert code == 0, err
    parent = json.loads(out)["parent_run_id"]
    from mlflow import MlflowClient

    client = MlflowClient(store)
    children = client.search_runs([client.get_run(parent).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent}'")
    assert children and all("features.npz" in {a.path for a in client.list_artifacts(
        run.info.run_id)} for run in children if "model" in {a.path for a in
                                                             client.list_artifacts(run.info.run_id)})
    code, out, err = run_main(["anchors", "publish", parent, "--name", "protocol-atlas",
                               "--require-features", "--tracking-uri", store], capsys)
    assert code == 0, err
    assert "features: 10 named" in out
    assert client.get_model_version("protocol-atlas", "1").tags["rosetta.features"] == "10"
    shuffled = write_atlas(tmp_path / "shuffled.h5ad", n=300, seed=0, order=BOB_ORDER)
    for name, path in (("alice.npz", lab["alice"]), ("shuffled.npz", shuffled)):
        code, _, err = run_main(["embed", "models:/protocol-atlas/1", str(path), "-o", name,
                                 "--tracking-uri", store], capsys)
        assert code == 0, err
    with np.load("alice.npz") as a, np.load("shuffled.npz") as b:
        np.testing.assert_array_equal(a["z"], b["z"])


@pytest.mark.slow
def test_publishing_an_unnamed_run_says_so_or_is_refused_when_asked(store, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    np.savez("plain.npz", x=x)
    result = train(RunConfig(data="plain.npz", methods=("vae",), seeds=1, quick=True,
                             rosetta_points=8, figures="none"), tracking_uri=store)
    run_id = result.runs[0].run_id
    capsys.readouterr()  # the store's creation lines
    code, out, err = run_main(["anchors", "publish", run_id, "--name", "plain",
                               "--require-features", "--tracking-uri", store], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"run {run_id} has no feature names" in err
    from mlflow import MlflowClient

    client = MlflowClient(store)
    assert client.search_registered_models("name = 'plain'") == []  # nothing registered
    code, out, err = run_main(["anchors", "publish", run_id, "--name", "plain",
                               "--tracking-uri", store], capsys)
    assert code == 0, err
    assert "features: unnamed" in out
    assert client.get_model_version("plain", "1").tags["rosetta.features"] == "unnamed"


@pytest.mark.slow
def test_bob_is_told_whether_he_is_in_alices_space(store, tmp_path, capsys):
    """The text output: per run the fit against the spread and its verdict, per method a line,
    the rule; a --quick run says it is a smoke run; the next step embeds with an aligned model
    (none aligned: train longer). On the demo atlas (four cell types), R-VAEs trained for the
    default 200 epochs are aligned; a VAE given the x_r as data (no anchor term) is not."""
    from rosetta_cl.data.demo import write_atlas_demo

    data = write_atlas_demo(tmp_path / "data")
    alice = train(RunConfig(data=str(data / "alice.h5ad"), methods=("vae",), seeds=1,
                            quick=True, rosetta_points=16, figures="none"), tracking_uri=store)
    publish(alice.runs[0].run_id, "atlas", alias="champion", tracking_uri=store)
    bob = str(data / "bob.h5ad")
    args = ["train", bob, "--anchors", "models:/atlas@champion", "--seeds", "2",
            "--tracking-uri", store]
    code, out, err = run_main([*args, "--methods", "rvae,vae"], capsys)
    assert code == 0, err
    assert "rvae: in the anchors' space (aligned on 2 of 2 seeds)" in out, out
    assert "vae: NOT in the anchors' space (aligned on 0 of 2 seeds)" in out, out
    assert "rule: aligned when the anchor fit" in out and "smoke run" not in out
    first_aligned = next(line.split("run ")[1].split()[0] for line in out.splitlines()
                         if line.startswith("  rvae/") and line.endswith(": aligned"))
    assert f"next: rosetta-cl embed runs:/{first_aligned} {bob} -o OUT" in out
    code, out, err = run_main([*args, "--quick"], capsys)
    assert code == 0, err
    assert "smoke run (--quick: 3 epochs)" in out
    assert "next: no model is aligned yet: train longer" in out  # 3 epochs are not enough


def test_a_worker_copy_of_the_trainer_keeps_the_feature_names(tmp_path):
    """Ray workers get `Trainer.portable()`: without the names its runs died ('BenchInfo' has
    no 'features') and could not log features.npz."""
    from rosetta_cl.experiments.runner import prepare
    from rosetta_cl.training.trainer import Trainer

    config, bench = prepare(RunConfig(data=str(write_atlas(tmp_path / "a.h5ad")), quick=True,
                                      split_by="obs:batch=A,B|C"))
    trainer = Trainer(bench, config)
    portable = trainer.portable()
    assert portable.bench.features == bench.features == GENES


@pytest.mark.slow
def test_init_from_anchors_starts_every_model_from_the_published_vae(lab, tmp_path, capsys,
                                                                     monkeypatch):
    """`train --init-from-anchors`: with a vanishing learning rate every model ends where it
    started, i.e. at the published VAE's weights (a fresh start would be far from them)."""
    import torch

    from rosetta_cl.models.vae import load_model
    from rosetta_cl.tracking.model_registry import pull

    monkeypatch.chdir(tmp_path)
    store = lab["store"]
    args = ["train", str(lab["bob"]), "--anchors", "models:/atlas@champion", "--seeds", "2",
            "--epochs", "1", "--lr", "1e-12", "--json", "--tracking-uri", store]
    code, out, err = run_main([*args, "--init-from-anchors"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["init_from"] == "models:/atlas/1"
    alice = load_model(pull("models:/atlas@champion", store).folder).state_dict()
    from mlflow import MlflowClient

    client = MlflowClient(store)
    for run in result["runs"]:
        assert client.get_run(run["run_id"]).data.params["init_from"] == "models:/atlas/1"
        folder = client.download_artifacts(run["run_id"], "model", str(tmp_path / run["name"]
                                                                       .replace("/", "_")))
        bob = load_model(folder).state_dict()
        assert all(torch.allclose(bob[k], alice[k], atol=1e-6) for k in alice)
    code, out, err = run_main(args, capsys)  # fresh weights: not Alice's
    fresh = json.loads(out)["runs"][0]["run_id"]
    folder = client.download_artifacts(fresh, "model", str(tmp_path / "fresh"))
    assert not all(torch.allclose(load_model(folder).state_dict()[k], alice[k], atol=1e-3)
                   for k in alice)


def test_init_from_anchors_is_refused_without_a_registered_model(lab, tmp_path, capsys,
                                                                  monkeypatch):
    import shutil

    from rosetta_cl.tracking.model_registry import pull

    monkeypatch.chdir(tmp_path)
    shutil.copyfile(pull("models:/atlas/1", lab["store"]).anchors, "alice.rosetta")
    for extra, message in (
            (["--anchors", "alice.rosetta"], "--init-from-anchors with anchors alice.rosetta: "
                                             "allowed with --anchors models:/NAME@ALIAS"),
            (["--anchors", "models:/atlas/1", "--ensemble"],
             "--init-from-anchors with --ensemble: allowed without --ensemble")):
        code, _, err = run_main(["train", str(lab["bob"]), "--init-from-anchors", *extra,
                                 "--tracking-uri", lab["store"]], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
