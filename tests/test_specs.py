"""Benchmark specs: every spec in benchmarks/ runs with --quick; its table has the paper's
layout, the VAE row is 0 by construction, and the cells are recomputed from the logged latents."""

from pathlib import Path

import numpy as np
import pytest
from helpers import run_main
from mlflow.tracking import MlflowClient

from rosetta_cl.cli import main
from rosetta_cl.cli.output import spec_run_text
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.specs import load_spec, run_spec
from rosetta_cl.metrics.latent import lsd_split, rv_per_point

SPECS = sorted((Path(__file__).parents[1] / "rosetta_cl" / "paper_specs").glob("*.toml"))
_RESULTS = {}


def quick_result(path, store, data_dir=None):
    """Run a spec once per session (several tests read the same result)."""
    if path.stem not in _RESULTS:
        # figures are tested in test_figures.py; here they would only cost time
        overrides = {"figures": "none", **({"data_dir": str(data_dir)} if data_dir else {})}
        _RESULTS[path.stem] = run_spec(load_spec(path), quick=True, overrides=overrides,
                                       tracking_uri=store)
    return _RESULTS[path.stem]


def test_every_paper_table_has_a_spec():
    names = {p.stem for p in SPECS}
    for n in range(1, 11):
        assert any(name.startswith(f"table{n}_") for name in names), n
    assert {"table1_reproducibility_gaussians8", "table2_sequential_mnist",
            "table2_sequential_birdsong", "table2_sequential_chairs",
            "table5_n_rosetta_points_reproducibility_birdsong",
            "table8_n_rosetta_points_sequential_birdsong", "table9_selection_method",
            "table10_architecture_birdsong"} <= names


ON_DISK = ("mnist", "birdsong", "chairs")  # benchmarks read from a data dir


@pytest.mark.parametrize("path", [p for p in SPECS if not any(d in p.stem for d in ON_DISK)],
                         ids=lambda p: p.stem)
def test_spec_runs_quick_with_paper_layout(path, session_store):
    check_layout(path, quick_result(path, session_store), session_store)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SPECS if "birdsong" in p.stem or "chairs" in p.stem],
                         ids=lambda p: p.stem)
def test_birdsong_and_chairs_specs_run_quick_on_fixtures(path, session_store, request):
    """The paper's birdsong and 3D Chairs tables, on fixture files in the real formats."""
    data = request.getfixturevalue("birdsong_dir" if "birdsong" in path.stem else "chairs_dir")
    result = quick_result(path, session_store, data)
    check_layout(path, result, session_store)
    assert result.spec.run["benchmark"] in path.stem


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SPECS if "mnist" in p.stem], ids=lambda p: p.stem)
def test_mnist_spec_runs_quick_with_paper_layout(path, session_store, mnist_dir):
    check_layout(path, quick_result(path, session_store, mnist_dir), session_store)


def check_layout(path, result, store):
    spec = result.spec
    table = result.table
    configs = spec.configs(quick=True)
    protocol = configs[0][1].protocol
    sequential = protocol in ("sequential", "continual")  # LSD tables
    assert table.metric == ("LSD" if sequential else "RV")
    per_config = {"sequential": 2, "reproducibility": 1, "continual": 5}[protocol]
    assert len(table.columns) == len(configs) * per_config
    assert list(table.normalized) == list(spec.run["methods"])  # rows = methods, in order
    for column in table.columns:
        vae = table.normalized["vae"][column]
        assert (vae.median, vae.q25 <= 0 <= vae.q75) == (0.0, True)
        for method in table.raw:  # normalised = raw / median VAE - 1 (LSD), raw - median (RV)
            raw, ref = table.raw[method][column].median, table.raw["vae"][column].median
            expected = raw / ref - 1 if sequential else raw - ref
            assert table.normalized[method][column].median == pytest.approx(expected, abs=1e-12)
    client = MlflowClient(store)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["spec"] == spec.name
    assert {a.path for a in client.list_artifacts(result.parent_run_id)} >= {"table.md",
                                                                             "table.json"}
    text = client.download_artifacts(result.parent_run_id, "table.md")
    assert table.columns[-1] in Path(text).read_text()  # the logged table keeps every column
    printed = spec_run_text(result, "rosetta-cl ui")  # what the terminal gets
    assert printed.startswith("--quick: SMOKE OUTPUT")
    assert max(map(len, printed.splitlines())) <= 100
    assert all(f"| {c} |" in printed or f"| {c} " in printed for c in table.columns)


def _runs(client, parent_id, **tags):
    filters = [f"tags.mlflow.parentRunId = '{parent_id}'"]
    filters += [f"tags.{k} = '{v}'" for k, v in tags.items()]
    return client.search_runs([client.get_run(parent_id).info.experiment_id],
                              " and ".join(filters))


def _latents(client, run):
    with np.load(client.download_artifacts(run.info.run_id, "latents.npz")) as f:
        return dict(f)


def test_sequential_cell_recomputed_from_logged_latents(session_store):
    path = next(p for p in SPECS if p.stem == "table2_sequential_gaussians8")
    result = quick_result(path, session_store)
    client = MlflowClient(session_store)
    (grid,) = _runs(client, result.parent_run_id)
    (target,) = _runs(client, grid.info.run_id, role="target")
    mu_target = _latents(client, target)
    target_all = np.concatenate([mu_target["mu_D1"], mu_target["mu_D2"]])
    n1 = len(mu_target["mu_D1"])
    groups = {"D1": np.arange(len(target_all)) < n1, "D2": np.arange(len(target_all)) >= n1}
    medians = {}
    for method in ("vae", "rvae"):
        runs = _runs(client, grid.info.run_id, role="method", method=method)
        assert len(runs) == result.results[0][1].config.seeds
        values = []
        for run in runs:
            mu = _latents(client, run)
            values.append(lsd_split(np.concatenate([mu["mu_D1"], mu["mu_D2"]]), target_all,
                                    groups)["D1"])
        medians[method] = float(np.median(values))
    assert result.table.raw["rvae"]["D1"].median == pytest.approx(medians["rvae"], rel=1e-9)
    assert result.table.normalized["rvae"]["D1"].median == pytest.approx(
        medians["rvae"] / medians["vae"] - 1, rel=1e-9)


def test_reproducibility_cell_recomputed_from_logged_latents(session_store):
    path = next(p for p in SPECS if p.stem == "table1_reproducibility_gaussians8")
    result = quick_result(path, session_store)
    client = MlflowClient(session_store)
    (grid,) = _runs(client, result.parent_run_id)
    runs = _runs(client, grid.info.run_id, role="method", method="rvae")
    runs = sorted(runs, key=lambda r: int(r.data.tags["seed"]))
    means = np.stack([_latents(client, r)["mu_D1"] for r in runs])
    assert result.table.raw["rvae"]["RV"].median == pytest.approx(
        float(np.median(rv_per_point(means))), rel=1e-9)


def test_paper_values_print_beside_ours(tmp_path):
    spec = tmp_path / "mine.toml"
    spec.write_text('title = "t"\n[run]\nbenchmark = "gaussians8"\nmethods = ["vae", "rvae"]\n'
                    'seeds = 2\nepochs = 1\n[paper]\nsource = "test"\n'
                    '[paper.values.rvae]\nD1 = -0.5\n')
    result = run_spec(load_spec(spec), quick=True, track=False)
    text = result.table.markdown()
    assert "[paper -0.5]" in text and text.count("[paper -") == 1
    assert "[paper x]: the paper's normalised median (test)" in text
    assert result.as_dict()["table"]["paper"] == {"rvae": {"D1": -0.5}}


def _fake_result(medians: dict[str, dict[str, float]], metric: str = "LSD"):
    """A ProtocolResult whose table has these raw medians (every run equal to its median)."""
    from rosetta_cl.metrics.summary import summarize
    from rosetta_cl.training.results import ProtocolResult

    values = {m: {c: np.full(3, v) for c, v in cols.items()} for m, cols in medians.items()}
    return ProtocolResult(None, summarize(values, metric), {}, None, 0.0)


def test_cells_whose_sign_differs_from_the_paper_are_marked():
    from rosetta_cl.experiments.specs import Spec, spec_table

    spec = Spec("s", "t", {"benchmark": "gaussians8"}, paper={"source": "Table 2", "values": {
        "bvae": {"D1": -0.056, "D2": -0.06}, "rvae": {"D1": -0.049, "D2": -0.303}}})
    raw = {"vae": {"LSD_D1": 0.4, "LSD_D2": 0.5}, "bvae": {"LSD_D1": 0.3, "LSD_D2": 0.6},
           "rvae": {"LSD_D1": 0.8, "LSD_D2": 0.25}}
    table = spec_table(spec, [("", _fake_result(raw))])
    text = table.markdown()
    # bvae D1 -0.25 agrees; bvae D2 +0.2 and rvae D1 +1 disagree; rvae D2 -0.5 agrees
    assert ("| bvae | -0.25 [-0.25, -0.25] (-0.25, -0.25) [paper -0.056] | 0.2 [0.2, 0.2] "
            "(0.2, 0.2) [paper -0.06] ! |") in text
    assert ("| rvae | 1 [1, 1] (1, 1) [paper -0.049] ! | -0.5 [-0.5, -0.5] (-0.5, -0.5) "
            "[paper -0.303] |") in text
    assert "sign differs from the paper's (2 here)" in text and "Table 2" in text
    assert [(m, c) for m, c, _, _ in table.disagreements()] == [("bvae", "D2"), ("rvae", "D1")]
    assert len(table.as_dict()["sign_disagreements"]) == 2
    assert text.count("[paper -") == 4  # the raw table carries no paper values


def test_paper_normalised_to_a_reference_rvae_column():
    """Tables 9 and 10 normalise every R-VAE to the R-VAE of one column group."""
    from rosetta_cl.experiments.specs import Spec, spec_table

    spec = Spec("s", "t", {"benchmark": "digits"}, vary_field="selection",
                vary_values=("kmeans", "random"),
                paper={"relative_to": "selection=kmeans", "dataset": "birdsong",
                       "values": {"rvae": {"selection=random D2": 12.063,
                                           "selection=random D1": 0.073}}})
    results = [("selection=kmeans", _fake_result({"vae": {"LSD_D1": 1.0, "LSD_D2": 1.0},
                                                  "rvae": {"LSD_D1": 0.5, "LSD_D2": 0.4}})),
               ("selection=random", _fake_result({"vae": {"LSD_D1": 1.0, "LSD_D2": 1.0},
                                                  "rvae": {"LSD_D1": 0.45, "LSD_D2": 0.6}}))]
    table = spec_table(spec, results)
    assert table.relative["rvae"]["selection=kmeans D1"].median == 0.0
    assert table.relative["rvae"]["selection=random D2"].median == pytest.approx(0.5)
    assert table.relative["rvae"]["selection=random D1"].median == pytest.approx(-0.1)
    text = table.markdown()
    assert "normalised to the median rvae at selection=kmeans" in text
    assert "[paper 12.1]" in text and "[paper 0.073] !" in text
    assert "values are for birdsong" in text


def test_every_shipped_paper_value_names_a_column_of_its_full_grid():
    for path in SPECS:
        spec = load_spec(path)  # load_spec refuses unknown methods and columns
        if path.stem.startswith("table"):
            assert spec.paper.get("values"), path.stem


def test_cli_runs_a_spec_and_overrides_apply(store, capsys, tmp_path):
    spec = tmp_path / "k.toml"
    spec.write_text('[run]\nbenchmark = "gaussians8"\nmethods = ["vae", "rvae"]\n'
                    '[vary]\nfield = "rosetta_points"\nvalues = [2, 4, 8]\n'
                    '[quick]\nvalues = [2, 4]\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(spec), "--quick", "--seeds", "2", "--epochs", "1",
              "--tracking-uri", store])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    # every column, in order, in tables split to fit 100 characters
    heads = [c for line in out.splitlines() if line.startswith("| method |")
             for c in line.strip("| ").split(" | ")[1:]]
    assert heads[:4] == ["k=2 D1", "k=2 D2", "k=4 D1", "k=4 D2"]
    assert "k=8" not in out  # the quick values replaced the full grid
    client = MlflowClient(store)
    grids = client.search_runs([client.get_experiment_by_name("k").experiment_id],
                               "tags.role = 'grid'")
    assert sorted(r.data.params["rosetta_points"] for r in grids) == ["2", "4"]
    assert {r.data.params["seeds"] for r in grids} == {"2"}  # the command line won


BAD_SPECS = [
    ("[run]\nbenchmark = 'gaussians8'\nspeed = 3\n", "unknown key 'speed' in [run]"),
    ("[run]\nmethods = ['vae']\n", "[run] must set benchmark"),
    ("[run]\nbenchmark = 'gaussians8'\n[vary]\nfield = 'colour'\nvalues = [1]\n",
     "[vary] field 'colour'"),
    ("[run]\nbenchmark = 'gaussians8'\n[vary]\nfield = 'rho'\nvalues = []\n", "at least one"),
    ("[run]\nbenchmark = 'gaussians8'\n[extra]\n", "unknown key 'extra' in top level"),
    ("[run\nbenchmark = 1", "not valid TOML"),
    ("[run]\nbenchmark = 'gaussians8'\n[paper.values.rvae]\nD3 = 1.0\n",
     "[paper.values.rvae] column 'D3': allowed D1, D2"),
    ("[run]\nbenchmark = 'gaussians8'\nmethods = ['vae']\n[paper.values.rvae]\nD1 = 1.0\n",
     "[paper.values.rvae]: allowed vae"),
    ("[run]\nbenchmark = 'gaussians8'\n[paper.values.rvae]\nD1 = 'low'\n", "must be a number"),
    (("[run]\nbenchmark = 'gaussians8'\nprotocol = 'reproducibility'\n[paper.values.rvae]\n"
      "D1 = 1.0\n"), "column 'D1': allowed RV"),
    (("[run]\nbenchmark = 'gaussians8'\n[vary]\nfield = 'rosetta_points'\nvalues = [4, 8]\n"
      "[paper]\nrelative_to = 'k=2'\n"), "relative_to 'k=2': allowed k=4, k=8"),
    ("[run]\nbenchmark = 'gaussians8'\n[vary]\nfield = 'rho'\nvalues = [-1.0]\n", "rho -1.0"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_bad_spec_is_one_line_error(text, message, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(spec), "--tracking-uri", f"sqlite:///{tmp_path}/db.sqlite"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "db.sqlite").exists()  # nothing was logged


def test_varied_field_cannot_be_overridden(tmp_path, capsys):
    path = next(p for p in SPECS if p.stem == "table9_selection_method")
    with pytest.raises(SystemExit):
        main(["run", str(path), "--selection", "random"])
    assert "selection is varied by spec table9_selection_method" in capsys.readouterr().err


def test_missing_spec_file(capsys):
    with pytest.raises(SystemExit):
        main(["run", "benchmarks/nope.toml"])
    assert "spec file benchmarks/nope.toml does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        load_spec("nope.toml")


def test_shipped_specs_are_found_by_name(tmp_path, capsys, monkeypatch):
    """The specs are package data: by name from any folder, listed, copied out to edit."""
    from rosetta_cl.experiments.spec_file import shipped_specs, spec_path

    names = shipped_specs()
    assert len(names) == len(SPECS) == 21 and "table2_sequential_gaussians8" in names
    assert spec_path("table2_sequential_gaussians8") == names["table2_sequential_gaussians8"]
    assert spec_path("gaussians8") is None and spec_path("x.toml") == Path("x.toml")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main(["specs"], capsys)
    assert code == 0 and "table7_n_rosetta_points_sequential_mnist [Table 7]" in out
    assert max(map(len, out.splitlines())) <= 100
    code, out, _ = run_main(["specs", "copy", "table9_selection_method", "mine"], capsys)
    copied = tmp_path / "mine" / "table9_selection_method.toml"
    assert code == 0 and copied.read_bytes() == names["table9_selection_method"].read_bytes()
    code, _, err = run_main(["specs", "copy", "table9_selection_method", "mine"], capsys)
    assert code == 2 and "exists; pass --force" in err
    code, _, err = run_main(["specs", "copy", "table99"], capsys)
    assert code == 2 and err.startswith("Error: spec 'table99': allowed continual_plugins")


@pytest.mark.slow
def test_a_shipped_spec_runs_by_name_from_an_empty_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, out, err = run_main(["run", "table2_sequential_gaussians8", "--quick", "--figures",
                               "none"], capsys)
    assert code == 0, err
    assert "## Table 2: latent space distortion (LSD) to the joint model on gaussians8" in out
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
