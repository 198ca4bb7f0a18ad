"""A lab's own arrays: `rosetta-cl run mine.npz --split-by ...` and its errors."""

import json

import numpy as np
import pytest
from helpers import run_main

from rosetta_cl.data.user_data import user_benchmark


@pytest.fixture
def labelled(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 60)
    x = rng.normal(size=(240, 6)) + 3.0 * y[:, None]
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y)
    return path


def test_run_on_user_arrays_split_by_label(labelled, capsys, store):
    code, out, err = run_main(["run", str(labelled), "--split-by", "label:0,1|2,3", "--quick",
                               "--seeds", "2", "-k", "4", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["benchmark"] == "data" and summary["config"]["data"] == str(labelled)
    assert summary["table"]["rows"][0]["LSD_D1"]["normalized"]["median"] == 0.0
    # the file's defaults and why (user_defaults), in the output and the parent run's params
    assert summary["data_defaults"].startswith("values in [-3.77, 11.8]: ")
    assert "Gaussian likelihood with learned noise" in summary["data_defaults"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiments = {e.name for e in client.search_experiments()}
    assert "mine" in experiments and "data" not in experiments  # named after the file
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.params["data_defaults"] == summary["data_defaults"]


def test_run_prints_the_defaults_it_derived(labelled, capsys, store):
    code, out, err = run_main(["run", str(labelled), "--split-by", "label:0,1|2,3", "--quick",
                               "--seeds", "2", "--figures", "none"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    first = lines[:next(i for i, line in enumerate(lines) if line.startswith("sequential"))]
    said = " ".join(line.strip() for line in first)
    assert said.startswith(f"defaults from {labelled} (options override them): values in [")
    assert said.endswith("latent dim 2; k 16") and all(len(line) <= 100 for line in first)


def test_tune_takes_a_data_file(labelled, capsys, store):
    """`rosetta-cl tune mine.npz --split-by ...` as `run` takes it; its closing line is the
    `run` command that uses the picks."""
    code, out, err = run_main(["tune", str(labelled), "--split-by", "label:0,1|2,3", "--quick",
                               "--epochs", "2"], capsys)
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"  rosetta-cl run {labelled} --split-by 'label:0,1|2,3' --from-tune ")
    run_id = last.rsplit("--from-tune ", 1)[1]
    code, out, err = run_main(["run", str(labelled), "--split-by", "label:0,1|2,3", "--quick",
                               "--seeds", "2", "--figures", "none", "--from-tune", run_id,
                               "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["data"] == str(labelled)


def test_splits(labelled, tmp_path):
    bench = user_benchmark(labelled, "label:0|3", seed=0)  # labels 1, 2 are left out
    sizes = [len(e.dataset) + len(v.dataset) for e, v in zip(bench.train_stream,
                                                             bench.valid_stream, strict=True)]
    assert sizes == [60, 60] and bench.defaults.likelihood == "gaussian"
    half = user_benchmark(labelled, "half", seed=0)
    assert [len(e.dataset) for e in half.train_stream] == [72, 72]
    images = tmp_path / "img.npz"
    rng = np.random.default_rng(0)
    np.savez(images, x=rng.random((50, 8, 8)), part=np.repeat([0, 1], 25))
    bench = user_benchmark(images)  # part array: the default rule
    assert bench.input_dim == 64 and bench.defaults.image_shape == (1, 8, 8)
    assert bench.defaults.likelihood == "bernoulli"


@pytest.mark.parametrize(("arrays", "args", "message"), [
    ({"x": np.full((20, 3), np.nan)}, ["--split-by", "half"], "NaN/inf at row 0, column 0; "
                                                                 "60 in all"),
    ({"x": np.where(np.arange(60).reshape(20, 3) == 17, np.inf, 0.0)}, ["--split-by", "half"],
     "NaN/inf at row 5, column 2; 1 in all"),
    ({"x": np.zeros(20)}, ["--split-by", "half"], "allowed (N, D) vectors"),
    ({"x": np.zeros((4, 2, 2, 2, 2))}, ["--split-by", "half"],
     "x has shape (4, 2, 2, 2, 2); allowed"),
    ({"x": np.full((20, 3), 1e300)}, ["--split-by", "half"], "beyond float32's range"),
    ({"x": np.zeros((20, 3))}, [], "has no part array: give --split-by"),
    # a label the file lacks is named (it said "experience D2 has 0 rows")
    ({"x": np.zeros((20, 3)), "y": np.zeros(20, int)}, ["--split-by", "label:0|1"],
     "label 1 is not in"),
    # a label in two sets is refused (it went silently to the last set)
    ({"x": np.zeros((20, 3)), "y": np.repeat([0, 1, 2, 3], 5)}, ["--split-by", "label:0,1|1,2"],
     "label 1 is in sets 1 and 2; allowed: each label in one set"),
    ({"x": np.zeros((20, 3)), "y": np.repeat([0, 1], 10)}, ["--split-by", "label:0"],
     "give at least two label sets (A|B; quote the rule"),
    ({"x": np.zeros((20, 3)), "y": np.zeros(20)}, ["--split-by", "label:0|1"],
     "y must be 20 integers"),
    ({"x": np.zeros((30, 3)), "part": np.repeat([0, 1, 2], 10)}, [],
     "data has 3 experiences; the sequential protocol uses 2"),
    ({"x": np.zeros((20, 3))}, ["--split-by", "thirds"], "allowed part, label:A|B"),
    ({"x": np.zeros((20, 3))}, ["--split-by", "label:0|1"], "has no y (labels) array"),
    # a readable file whose arrays are named otherwise: say x is missing, nothing about pickle
    ({"X": np.zeros((20, 3)), "labels": np.zeros(20)}, [], "no array x in it (has X, labels)"),
])
def test_bad_user_data_is_one_line_error(arrays, args, message, tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    code, _, err = run_main(["run", str(path), *args, "--tracking-uri",
                             f"sqlite:///{tmp_path}/db.sqlite"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert "pickle" not in err
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"hello\nworld\n", "not a .npy/.npz file (no .npy header"),
    (b"\x80\x04K\x01.", "not a .npy/.npz file (no .npy header"),
    (b"PK\x03\x04broken", "not a readable .npz (File is not a zip file)"),
])
def test_a_file_that_is_not_npy_says_so(content, message, tmp_path, capsys):
    """A text file, a pickle, a broken zip: one line saying it is not .npy/.npz, never numpy's
    cut-off advice to load it with allow_pickle (an option rosetta-cl does not have)."""
    path = tmp_path / "mine.npy"
    path.write_bytes(content)
    code, _, err = run_main(["run", str(path), "--split-by", "half", "--tracking-uri",
                             f"sqlite:///{tmp_path}/db.sqlite"], capsys)
    assert code == 2 and err.startswith(f"Error: data file {path}: ") and err.count("\n") == 1
    assert message in err and "allow_pickle" not in err
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize("name", ["a_directory.npz", "a_directory"])
def test_a_directory_as_data_is_named_as_one(name, tmp_path, capsys, monkeypatch):
    """A directory given as the data file said "does not exist" (named .npz) or "unknown
    benchmark" (named otherwise)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).mkdir()
    code, _, err = run_main(["run", name, "--split-by", "half", "--tracking-uri",
                             f"sqlite:///{tmp_path}/db.sqlite"], capsys)
    assert code == 2 and err.count("\n") == 1 and "is a directory; allowed: a" in err, err
    assert not (tmp_path / "db.sqlite").exists()
