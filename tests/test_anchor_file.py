"""The portable anchor file: round trip, refusal of bad files, fit checks, merge, the CLI, and
Alice and Bob in separate processes sharing only the file."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from helpers import cli_process, run_main
from mlflow.tracking import MlflowClient
from safetensors.numpy import save_file

from rosetta_cl.anchors.rosetta_file import (
    check_fits,
    make_anchor_file,
    merge_anchor_files,
    read_anchor_file,
    select_anchor_file,
    write_anchor_file,
)
from rosetta_cl.errors import ConfigError
from rosetta_cl.models.vae import VAE, ModelConfig, save_model


def sample_file(k=5, shape=(1, 2, 3), d=2, seed=0):
    rng = np.random.default_rng(seed)
    return make_anchor_file(rng.random((k, *shape)), rng.normal(size=(k, d)),
                            selection={"method": "kmeans", "k": k, "seed": 0},
                            template={"latent_dim": d}, source={"fingerprint": "abc"})



def test_round_trip_keeps_arrays_and_metadata(tmp_path):
    original = sample_file()
    path = write_anchor_file(original, tmp_path / "a.rosetta")
    loaded = read_anchor_file(path)
    assert np.array_equal(loaded.x, original.x) and np.array_equal(loaded.z, original.z)
    assert loaded.x.dtype == np.float32 and loaded.input_shape == (1, 2, 3)
    info = loaded.info()
    assert info["k"] == 5 and info["latent_dim"] == 2 and info["dtype"] == "float32"
    assert info["selection"]["method"] == "kmeans" and info["source"]["fingerprint"] == "abc"
    assert info["rosetta_cl_version"] and info["created"].endswith("+00:00")
    assert info["checksum"] == original.checksum
    anchors = loaded.anchors()  # flattened for the models
    assert anchors.x.shape == (5, 6) and anchors.z.shape == (5, 2)


def test_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.rosetta"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ConfigError, match="not a readable anchor file"):
        read_anchor_file(path)
    npz = tmp_path / "evil.npz.rosetta"  # an npz with an object array: still not safetensors
    np.savez(npz.with_suffix(""), x=np.array([Payload()], dtype=object))
    os.replace(npz.with_suffix("").with_suffix(".npz"), npz)
    with pytest.raises(ConfigError, match="not a readable anchor file"):
        read_anchor_file(npz)
    assert not marker.exists()


def test_truncated_file(tmp_path):
    path = write_anchor_file(sample_file(), tmp_path / "a.rosetta")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="truncated"):
        read_anchor_file(path)


def test_tampered_arrays_fail_the_checksum(tmp_path):
    path = write_anchor_file(sample_file(), tmp_path / "a.rosetta")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one bit of the last float of z
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="checksum mismatch"):
        read_anchor_file(path)


def _raw(path, x, z, **metadata):
    info = {"k": len(z), "latent_dim": z.shape[1], "input_shape": list(x.shape[1:]),
            "checksum": "0"}
    meta = {"format": "rosetta-anchors", "format_version": "1", "info": json.dumps(info)}
    save_file({"x": x, "z": z}, str(path), metadata={**meta, **metadata})
    return path


def test_unknown_version_other_format_and_bad_metadata(tmp_path):
    x, z = np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32)
    with pytest.raises(ConfigError, match="unknown format version '99'"):
        read_anchor_file(_raw(tmp_path / "v.rosetta", x, z, format_version="99"))
    with pytest.raises(ConfigError, match="format 'weights'"):
        read_anchor_file(_raw(tmp_path / "f.rosetta", x, z, format="weights"))
    with pytest.raises(ConfigError, match="metadata is missing or malformed"):
        read_anchor_file(_raw(tmp_path / "m.rosetta", x, z, info="{"))
    info = json.dumps({"k": 3, "latent_dim": 2, "input_shape": [3], "checksum": "0"})
    with pytest.raises(ConfigError, match=r"metadata says float32 \(3, 3\)"):
        read_anchor_file(_raw(tmp_path / "s.rosetta", x, z, info=info))


def test_nan_is_refused_on_write(tmp_path):
    bad = sample_file()
    bad.z[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN or inf"):
        write_anchor_file(bad, tmp_path / "a.rosetta")
    assert not list(tmp_path.iterdir())  # no partial file left


def test_check_fits():
    anchors = sample_file(shape=(5,), d=2)
    check_fits(anchors, 5, 2, "m")
    with pytest.raises(ConfigError, match=r"input shape \(5,\) do not fit m \(64 inputs\)"):
        check_fits(anchors, 64, 2, "m")
    with pytest.raises(ConfigError, match="latent dim 2 do not fit m"):
        check_fits(anchors, 5, 8, "m")


def test_merge():
    a, b = sample_file(seed=0), sample_file(seed=1)
    merged = merge_anchor_files([a, b, a], ["a", "b", "a2"])  # a twice: duplicates dropped
    assert merged.k == 10 and [m["file"] for m in merged.merged_from] == ["a", "b", "a2"]
    clash = sample_file(seed=0)
    clash.z = clash.z + 1.0  # same inputs, other targets: not one latent space
    with pytest.raises(ConfigError, match="different latent targets"):
        merge_anchor_files([a, clash], ["a", "clash"])
    with pytest.raises(ConfigError, match="cannot merge c"):
        merge_anchor_files([a, sample_file(d=3)], ["a", "c"])


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    model = VAE(ModelConfig(5, 2))
    return save_model(model, tmp_path / "alice_model")


def test_cli_select_inspect_merge(model_dir, tmp_path, capsys, store):
    out_a = tmp_path / "a.rosetta"
    code, out, err = run_main(["anchors", "select", "--model", str(model_dir), "--benchmark",
                               "gaussians8", "-k", "8", "-o", str(out_a)], capsys)
    assert code == 0, err
    assert "wrote" in out and "8 anchors" in out
    loaded = read_anchor_file(out_a)
    assert loaded.source["benchmark"] == "gaussians8" and loaded.source["n"] == 1200
    assert loaded.template["input_dim"] == 5 and len(loaded.source["fingerprint"]) == 64
    code, out, _ = run_main(["anchors", "inspect", str(out_a), "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["k"] == 8 and len(summary["z_std_per_dim"]) == 2

    data = tmp_path / "mine.npz"
    np.savez(data, x=np.random.default_rng(0).normal(size=(100, 5)))
    out_b = tmp_path / "b.rosetta"
    code, _, err = run_main(["anchors", "select", "--model", str(model_dir), "--data", str(data),
                             "-k", "4", "--selection", "gmm", "-o", str(out_b)], capsys)
    assert code == 0, err
    code, out, _ = run_main(["anchors", "merge", str(out_a), str(out_b), "-o",
                             str(tmp_path / "ab.rosetta")], capsys)
    assert code == 0 and read_anchor_file(tmp_path / "ab.rosetta").k == 12

    before = out_a.read_bytes()  # an existing output is never overwritten without --force
    code, _, err = run_main(["anchors", "select", "--model", str(model_dir), "--benchmark",
                             "gaussians8", "-k", "3", "-o", str(out_a)], capsys)
    assert code == 2 and "exists; pass --force" in err and out_a.read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--benchmark", "digits"], "(64 inputs) does not fit the model (5 inputs)"),
    (["--benchmark", "nope"], "unknown benchmark 'nope'"),
    (["--benchmark", "gaussians8", "--part", "D3"], "part 'D3': allowed D1, D2"),
    ([], "exactly one of --benchmark B or --data FILE"),
    (["--benchmark", "gaussians8", "--data", "x.npy"], "exactly one of"),
])
def test_cli_select_errors(args, message, model_dir, tmp_path, capsys):
    code, _, err = run_main(["anchors", "select", "--model", str(model_dir), "-k", "4", "-o",
                             str(tmp_path / "o.rosetta"), *args], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_user_data_errors(model_dir, tmp_path, capsys):
    cases = {"nan.npy": np.array([[np.nan] * 5]), "rank.npy": np.zeros(5),
             "obj.npy": None, "nox.npz": None}
    np.save(tmp_path / "nan.npy", cases["nan.npy"])
    np.save(tmp_path / "rank.npy", cases["rank.npy"])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "nox.npz", y=np.zeros(3))
    expected = {"nan.npy": "NaN/inf", "rank.npy": "allowed (N, D) vectors",
                "obj.npy": "pickled data is never loaded", "nox.npz": "no array x"}
    for name, message in expected.items():
        code, _, err = run_main(["anchors", "select", "--model", str(model_dir), "--data",
                                 str(tmp_path / name), "-k", "1", "-o",
                                 str(tmp_path / "o.rosetta")], capsys)
        assert code == 2 and message in err, (name, err)


def test_run_with_anchors_that_do_not_fit(tmp_path, capsys, store):
    path = write_anchor_file(sample_file(shape=(5,), d=2), tmp_path / "a.rosetta")
    code, _, err = run_main(["run", "digits", "--anchors", str(path)], capsys)
    assert code == 2 and "do not fit benchmark digits (64 inputs)" in err
    code, _, err = run_main(["run", "gaussians8", "--anchors", str(path), "--latent-dim", "3"],
                            capsys)
    assert code == 2 and "use --latent-dim 2" in err
    assert not (tmp_path / "mlruns").exists()


def test_select_anchor_file_uses_the_nearest_member_rule(model_dir):
    from rosetta_cl.models.vae import load_model

    model = load_model(model_dir)
    x = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    anchors = select_anchor_file(model, x, 6, seed=0)
    assert anchors.k == 6 and len({row.tobytes() for row in anchors.x}) == 6
    assert anchors.source["n"] == 300


def cli(args, cwd):
    out = cli_process(args, cwd, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # Bob trains on Ray (see tests/test_ray.py)
def test_alice_and_bob_share_only_the_anchor_file(tmp_path):
    """Alice trains on D1 and exports anchors; Bob, in another process with another store,
    trains fresh models on D2 with only the file; his R-VAE recovers the joint model's latent
    space better than a plain VAE on the same seeds (digits, 200 epochs)."""
    alice, bob, shared = tmp_path / "alice", tmp_path / "bob", tmp_path / "shared"
    for d in (alice, bob, shared):
        d.mkdir()
    summary = json.loads(cli(["run", "digits", "--methods", "vae", "--seeds", "1", "--json",
                              "--templates", "1", "--figures", "none"],
                             alice))
    client = MlflowClient(f"sqlite:///{alice}/mlruns/mlflow.db")
    (template,) = client.search_runs(
        [client.get_run(summary["parent_run_id"]).info.experiment_id],
        "tags.role = 'template'")
    cli(["anchors", "select", "--model", template.info.run_id, "--benchmark", "digits",
         "-k", "64", "-o", str(shared / "alice.rosetta")], alice)
    assert {a.path for a in client.list_artifacts(template.info.run_id, "anchor_files")} == {
        "anchor_files/alice.rosetta"}

    # Bob's 7 trainings side by side on Ray (same numbers as local: tests/test_ray.py)
    result = json.loads(cli(["run", "digits", "--anchors", str(shared / "alice.rosetta"),
                             "--methods", "vae,rvae", "--seeds", "3", "--templates", "1", "--json",
                             "--figures", "none",
                             "--executor", "ray"],
                            bob))
    values = result["values"]
    bob_d1, vae_d1 = np.median(values["rvae"]["LSD_D1"]), np.median(values["vae"]["LSD_D1"])
    print(f"Bob LSD_D1 rvae {values['rvae']['LSD_D1']} vae {values['vae']['LSD_D1']}; "
          f"LSD_D2 rvae {values['rvae']['LSD_D2']} vae {values['vae']['LSD_D2']}")
    assert bob_d1 < 0.9 * vae_d1
    assert "template_to_target_LSD_D1" not in result  # Bob trained no template
    assert not (bob / "mlruns" / "mlflow.db").samefile(alice / "mlruns" / "mlflow.db")


def test_template_run_logs_a_portable_anchor_file(store):
    from rosetta_cl import RunConfig, run_benchmark

    run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1,
                            methods=("rvae",)), tracking_uri=store)
    client = MlflowClient(store)
    (template,) = client.search_runs(
        [client.get_experiment_by_name("gaussians8").experiment_id], "tags.role = 'template'")
    shared = read_anchor_file(client.download_artifacts(template.info.run_id, "anchors.rosetta"))
    with np.load(client.download_artifacts(template.info.run_id, "anchors.npz")) as plain:
        assert np.array_equal(shared.x, plain["x"]) and np.array_equal(shared.z, plain["z"])
    assert shared.k == 8 and shared.source["benchmark"] == "gaussians8"
    assert shared.source["n"] == 1200 and shared.selection["method"] == "kmeans"


@pytest.mark.slow
def test_select_accepts_the_printed_parent_run(tmp_path, capsys, store):
    """`rosetta-cl run` prints the parent run id; `anchors select --model <it>` uses its template
    (the VAE on D1), logs the file there, and says so; no download progress bars."""
    code, out, err = run_main(["run", "gaussians8", "--quick", "--seeds", "1", "--methods", "vae",
                               "--figures", "none", "--json"], capsys)
    assert code == 0, err
    parent = json.loads(out)["parent_run_id"]
    code, out, err = run_main(["anchors", "select", "--model", parent, "--benchmark",
                               "gaussians8", "-k", "4", "-o", str(tmp_path / "a.rosetta")], capsys)
    assert code == 0, err
    client = MlflowClient(store)
    (template,) = client.search_runs([client.get_run(parent).info.experiment_id],
                                     "tags.role = 'template'")
    assert f"model: the template run {template.info.run_id} of protocol run {parent}" in out
    assert {a.path for a in client.list_artifacts(template.info.run_id, "anchor_files")} == {
        "anchor_files/a.rosetta"}
    assert "Downloading" not in err and "%|" not in err
