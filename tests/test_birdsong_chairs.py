"""The birdsong and 3D Chairs readers on files the tests write in the real formats (AVA's
syllable HDF5 files; the 3D Chairs release's PNG folders), their splits, their one-line errors,
and a quick run of each stream end to end."""

import shutil

import h5py
import numpy as np
import pytest
from helpers import cli_process
from mlflow.tracking import MlflowClient
from PIL import Image

from rosetta_cl.cli import main
from rosetta_cl.data import chairs as chairs_data
from rosetta_cl.data.birdsong import find_birds, parse_bird_split, read_birdsong
from rosetta_cl.data.chairs import CACHE, chair_halves, load_chairs
from rosetta_cl.data.demo import write_birdsong_demo, write_chairs_demo
from rosetta_cl.data.streams import birdsong, chairs
from rosetta_cl.data.tensors import dataset_tensors
from rosetta_cl.errors import ConfigError


@pytest.fixture
def birds(tmp_path):
    return write_birdsong_demo(tmp_path / "birds", birds=4, syllables_per_bird=30, side=16)


@pytest.fixture
def renders(tmp_path):
    return write_chairs_demo(tmp_path / "chairs", chairs=4, azimuths=4, size=96)


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- birdsong -------------------------------------------------------------------------------


def test_birdsong_reads_every_bird_as_float16_in_unit_range(birds):
    data = read_birdsong(birds)
    assert data.birds == ("bird01", "bird02", "bird03", "bird04")
    assert data.x.shape == (120, 16 * 16) and data.x.dtype == np.float16
    assert data.shape == (16, 16)
    assert 0 <= data.x.min() and data.x.max() <= 1
    assert np.bincount(data.bird).tolist() == [30, 30, 30, 30]
    # the values are the files' (to float16 precision), bird by bird, session by session
    with h5py.File(birds / "bird02" / "session1" / "syllables_0000.hdf5") as f:
        first = f["specs"][0].reshape(-1)
    np.testing.assert_allclose(data.x[30].astype(np.float32), first, atol=1e-3)


def test_birdsong_split_by_bird(birds):
    default = birdsong(0, data_dir=birds)
    assert default.parts == ("D1", "D2") and "bird01,bird02 | bird03,bird04" in default.description
    birds_d1 = {int(b) for b in dataset_tensors(default.train_stream[0].dataset)[1]}
    birds_d2 = {int(b) for b in dataset_tensors(default.valid_stream[1].dataset)[1]}
    assert birds_d1 == {0, 1} and birds_d2 == {2, 3}  # the first half of the birds | the rest
    x, _ = dataset_tensors(default.train_stream[0].dataset)
    assert x.dtype.is_floating_point and str(x.dtype) == "torch.float32"  # training reads float32
    chosen = birdsong(0, data_dir=birds, split_by="bird:bird04|bird01,bird03")
    assert {int(b) for b in dataset_tensors(chosen.train_stream[0].dataset)[1]} == {3}
    assert {int(b) for b in dataset_tensors(chosen.train_stream[1].dataset)[1]} == {0, 2}
    assert parse_bird_split(None, ("a", "b", "c")) == [[0], [1, 2]]


@pytest.mark.parametrize("rule, message", [
    ("bird:bird01|nobody", "no bird 'nobody'; birds here: bird01, bird02, bird03, bird04"),
    ("bird:bird01|bird01,bird02", "bird 'bird01' is in two experiences"),
    ("bird:bird01", "at least two non-empty sets of birds"),
    ("half", "allowed bird:A,B|C,D"),
])
def test_birdsong_bad_split_is_one_line(birds, rule, message):
    with pytest.raises(ConfigError) as exc:
        birdsong(0, data_dir=birds, split_by=rule)
    assert message in one_line(exc)


def test_birdsong_truncated_file_is_one_line(birds):
    path = birds / "bird03" / "session2" / "syllables_0000.hdf5"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ConfigError) as exc:
        read_birdsong(birds)
    assert f"{path} is not a readable HDF5 file" in one_line(exc)


def test_birdsong_truncated_data_is_one_line(birds):
    """A header that opens but data cut short: the read fails, named."""
    path = birds / "bird02" / "session1" / "syllables_0000.hdf5"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 4000])
    with pytest.raises(ConfigError) as exc:
        read_birdsong(birds)
    assert str(path) in one_line(exc)


def test_birdsong_missing_specs_dataset(birds):
    path = birds / "bird01" / "session2" / "syllables_0000.hdf5"
    with h5py.File(path, "a") as f:
        del f["specs"]
    with pytest.raises(ConfigError) as exc:
        read_birdsong(birds)
    assert f"{path} has no 'specs' dataset (has audio_filenames, offsets, onsets)" in one_line(exc)


def test_birdsong_empty_bird_folder(birds):
    (birds / "bird05").mkdir()
    with pytest.raises(ConfigError) as exc:
        read_birdsong(birds)
    assert f"bird folder {birds / 'bird05'} has no *.hdf5 files" in one_line(exc)


def test_birdsong_missing_dir_names_layout_and_source(tmp_path):
    with pytest.raises(ConfigError) as exc:
        find_birds(tmp_path / "nowhere")
    message = one_line(exc)
    assert f"{tmp_path / 'nowhere'} does not exist" in message
    assert "<bird>/[<session>/]syllables_0000.hdf5" in message
    assert "Goffinet et al. 2021" in message and "rosetta-cl demo-data birdsong" in message


@pytest.mark.parametrize("bad, message", [
    (np.nan, "holds NaN or inf values"),
    (1e6, "values up to 1e+06; expected spectrograms scaled to [0, 1]"),
])
def test_birdsong_bad_values(birds, bad, message):
    path = birds / "bird04" / "session2" / "syllables_0000.hdf5"
    with h5py.File(path, "a") as f:
        specs = f["specs"][:]
        specs[0, 0, 0] = bad
        f["specs"][...] = specs
    with pytest.raises(ConfigError) as exc:
        read_birdsong(birds)
    assert message in one_line(exc)


def test_birdsong_unscaled_values_are_scaled_to_unit_range(birds, capsys):
    """Log-spectrograms not yet scaled (here: AVA's values x 40 - 20) are min-max scaled."""
    expected = read_birdsong(birds).x.astype(np.float32)
    for path in birds.rglob("*.hdf5"):
        with h5py.File(path, "a") as f:
            f["specs"][...] = f["specs"][:] * 40 - 20
    data = read_birdsong(birds)
    assert "not AVA's [0, 1]; scaled to [0, 1]" in capsys.readouterr().err
    lo, hi = expected.min(), expected.max()
    np.testing.assert_allclose(data.x.astype(np.float32), (expected - lo) / (hi - lo), atol=2e-3)


def test_birdsong_one_bird_cannot_split(tmp_path):
    root = write_birdsong_demo(tmp_path / "one", birds=1, syllables_per_bird=10, side=16)
    with pytest.raises(ConfigError) as exc:
        birdsong(0, data_dir=root)
    assert "at least 2 bird folders are needed" in one_line(exc)


def test_birdsong_files_of_different_shapes(birds):
    write_birdsong_demo(birds / "extra", birds=1, syllables_per_bird=5, side=8)
    shutil.move(birds / "extra" / "bird01", birds / "bird09")
    shutil.rmtree(birds / "extra")
    with pytest.raises(ConfigError) as exc:
        read_birdsong(birds)
    assert "spectrograms of (8, 8), but earlier files have (16, 16)" in one_line(exc)


# --- 3D Chairs ------------------------------------------------------------------------------


def test_chairs_convert_once_and_cache(renders, monkeypatch):
    data = load_chairs(renders)
    assert data.x.shape == (4 * 8, 64 * 64) and data.x.dtype == np.uint8
    assert data.names == tuple(f"chair_{i:04d}" for i in range(4))
    assert np.bincount(data.chair).tolist() == [8, 8, 8, 8]
    assert data.x.min() < 128 and data.x.max() == 255  # dark chair on a white background
    # the same conversion as Pillow's: luma, box filter to 64 x 64
    first = min((renders / "rendered_chairs" / "chair_0000" / "renders").glob("*.png"))
    with Image.open(first) as image:
        expected = np.asarray(image.convert("L").resize((64, 64), Image.Resampling.BOX))
    np.testing.assert_array_equal(data.x[0].reshape(64, 64), expected)
    cache = renders / CACHE
    with np.load(cache, allow_pickle=False) as f:  # a plain .npz
        assert f["x"].shape == data.x.shape and int(f["count"]) == 32

    def no_conversion(path):
        raise AssertionError("converted again")

    monkeypatch.setattr(chairs_data, "to_grey", no_conversion)
    again = load_chairs(renders)  # from the cache
    np.testing.assert_array_equal(again.x, data.x)
    shutil.rmtree(renders / "rendered_chairs")  # the cache alone is enough
    np.testing.assert_array_equal(load_chairs(renders).x, data.x)


def test_chairs_changed_folder_is_converted_again(renders, capsys):
    load_chairs(renders)
    extra = renders / "rendered_chairs" / "chair_0000" / "renders" / "image_999.png"
    Image.new("RGB", (96, 96), (0, 0, 0)).save(extra)
    data = load_chairs(renders)
    assert "changed since" in capsys.readouterr().err
    assert len(data.x) == 33 and (data.x == 0).all(axis=1).sum() == 1


def test_chairs_png_that_is_not_an_image_caches_nothing(renders):
    bad = renders / "rendered_chairs" / "chair_0002" / "renders" / "image_003_p020_t270_r096.png"
    bad.write_text("not a png")
    with pytest.raises(ConfigError) as exc:
        load_chairs(renders)
    assert f"{bad} is not a readable image" in one_line(exc)
    assert sorted(p.name for p in renders.iterdir()) == ["rendered_chairs"]  # no cache, no tmp


def test_chairs_truncated_png_caches_nothing(renders):
    bad = min((renders / "rendered_chairs" / "chair_0001" / "renders").glob("*.png"))
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(ConfigError) as exc:
        load_chairs(renders)
    assert f"{bad} is not a readable image" in one_line(exc)
    assert not (renders / CACHE).exists()


def test_chairs_empty_renders_folder(renders):
    (renders / "rendered_chairs" / "chair_0009" / "renders").mkdir(parents=True)
    with pytest.raises(ConfigError) as exc:
        load_chairs(renders)
    assert "chair_0009/renders has no .png renders" in one_line(exc)
    assert not (renders / CACHE).exists()


def test_chairs_missing_dir_names_layout_and_source(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_chairs(tmp_path)
    message = one_line(exc)
    assert f"{tmp_path}/rendered_chairs/<chair id>/renders/*.png" in message
    assert "seeing3Dchairs" in message and "rosetta-cl demo-data chairs" in message


def test_chairs_split_by_chair_is_seeded(renders):
    bench = chairs(3, data_dir=renders)
    sides = [{int(c) for stream in (bench.train_stream, bench.valid_stream)
              for c in dataset_tensors(stream[i].dataset)[1]} for i in (0, 1)]
    assert not sides[0] & sides[1] and sides[0] | sides[1] == {0, 1, 2, 3}  # by chair
    assert len(sides[0]) == len(sides[1]) == 2
    assert chair_halves(10, 3).tolist() == chair_halves(10, 3).tolist()
    assert chair_halves(10, 3).tolist() != chair_halves(10, 4).tolist()
    with pytest.raises(ConfigError) as exc:
        chairs(0, data_dir=renders, split_by="bird:a|b")
    assert "allowed half" in one_line(exc)


# --- the CLI --------------------------------------------------------------------------------


def cli(args, cwd):
    return cli_process(args, cwd)  # ./mlruns


@pytest.mark.parametrize("args, message", [
    (["run", "birdsong", "--data-dir", "EMPTY", "--quick"], "birdsong: no bird folders"),
    (["run", "chairs", "--data-dir", "EMPTY", "--quick"], "chairs: no <chair id>/renders/"),
    (["run", "gaussians8", "--split-by", "half"], ("--split-by 'half' with gaussians8: its D1 | "
     "D2 split is fixed; --split-by applies to --data files and to birdsong (bird:A,B|C,D), "
     "chairs (half)")),
    (["demo-data", "birdsong", "FULL"], "exists and is not empty"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "FULL").mkdir()
    (tmp_path / "FULL" / "keep.txt").write_text("mine")
    out = cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("Error: ") and out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr
    assert (tmp_path / "FULL" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "mlruns").exists() or "demo-data" in args


def test_benchmarks_lists_both_with_what_they_need(capsys):
    main_exit(["benchmarks"])
    out = capsys.readouterr().out
    assert "birdsong" in out and "DIR/<bird>/[<session>/]syllables_*.hdf5" in out
    assert "k=32 (reproducibility 64), 300 epochs, resnet, gaussian likelihood" in out
    assert "chairs" in out and "DIR/rendered_chairs/<chair id>/renders/*.png" in out
    assert "k=128, 300 epochs, conv, bernoulli likelihood; --split-by half" in out


def main_exit(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code in (0, None)


@pytest.mark.slow
def test_birdsong_quick_run_end_to_end(tmp_path, birdsong_dir):
    out = cli(["run", "birdsong", "--data-dir", str(birdsong_dir), "--quick", "--figures",
               "none"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| rvae |" in out.stdout and "latent dim 32, arch resnet" in out.stdout
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("birdsong")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 12 and {r.info.status for r in runs} == {"FINISHED"}
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["benchmark"] == "birdsong"
    assert parent.data.params["rosetta_points"] == "32" and parent.data.params["epochs"] == "1"


@pytest.mark.slow
def test_demo_data_then_chairs_quick_run(tmp_path):
    out = cli(["demo-data", "chairs", "demo", "--size", "4"], tmp_path)
    assert out.returncode == 0 and "rosetta-cl run chairs --data-dir demo --quick" in out.stdout
    assert len(list((tmp_path / "demo" / "rendered_chairs").glob("*/renders/*.png"))) == 4 * 32
    out = cli(["run", "chairs", "--data-dir", "demo", "--quick", "-k", "16", "--seeds", "2",
               "--figures", "none", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "demo" / CACHE).exists()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("chairs").experiment_id])
    assert len(runs) == 9 and {r.info.status for r in runs} == {"FINISHED"}
