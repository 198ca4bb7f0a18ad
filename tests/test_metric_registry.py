"""Metrics as a registry: chosen with --metrics or a spec's ``metrics = [...]``, logged per model
run, tabulated with their own normalisation, shown in reports; a local plugin adds one."""

import textwrap

import numpy as np
import pytest
from helpers import run_main
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig, linear_cka, mean_correlation, run_benchmark
from rosetta_cl.experiments.specs import load_spec, run_spec
from rosetta_cl.reporting.report import build_report

QUICK = {"benchmark": "gaussians8", "quick": True, "seeds": 2, "epochs": 2, "figures": "none"}



def latents(client, run, tmp_path, key="mu_D1"):
    path = client.download_artifacts(run.info.run_id, "latents.npz", str(tmp_path))
    with np.load(path, allow_pickle=False) as f:
        return f[key] if key else {k: f[k] for k in f.files}


@pytest.mark.slow
def test_sequential_extra_metrics_logged_tabulated_and_reported(store, tmp_path):
    config = RunConfig(**QUICK, metrics=("lsd", "linear_map", "cka", "procrustes", "mcc"))
    result = run_benchmark(config, tracking_uri=store, experiment="metrics")
    table = result.table
    assert table.columns == ["LSD_D1", "LSD_D2", "CKA_D1", "CKA_D2", "PROCRUSTES_D1",
                             "PROCRUSTES_D2", "MCC_D1", "MCC_D2"]
    assert table.kind("CKA_D1") == "difference" and table.kind("PROCRUSTES_D2") == "ratio"
    assert table.normalized["vae"]["CKA_D1"].median == 0.0
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("metrics").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    target = latents(client, by_name["target"], tmp_path / "t", None)
    for method in ("vae", "rvae"):
        run = by_name[f"{method}/seed1"]
        mine = latents(client, run, tmp_path / method, None)
        assert run.data.metrics["CKA_D2"] == pytest.approx(
            linear_cka(mine["mu_D2"], target["mu_D2"]), rel=1e-9)
        assert run.data.metrics["MCC_D1"] == pytest.approx(
            mean_correlation(mine["mu_D1"], target["mu_D1"]), rel=1e-9)
        # Procrustes is LSD with fewer maps allowed: never below it
        assert run.data.metrics["PROCRUSTES_D1"] >= run.data.metrics["LSD_D1"] - 1e-12
        assert run.data.params["metrics"] == "lsd,linear_map,cka,procrustes,mcc"
    report = build_report("metrics", tmp_path / "report", tracking_uri=store,
                          projection="pca", log=False)
    text = (report.parent / "report.md").read_text()
    assert "CKA_D1" in text and "MCC_D2" in text and "PROCRUSTES_D1" in text


@pytest.mark.slow
def test_reproducibility_pairwise_metrics_compare_with_the_template(store, tmp_path):
    config = RunConfig(**{**QUICK, "seeds": 3}, protocol="reproducibility", metrics=("rv", "cka"))
    result = run_benchmark(config, tracking_uri=store, experiment="rep-metrics")
    assert result.table.columns == ["RV", "CKA_D1"]
    assert result.table.n["vae"] > 3  # RV is per point; CKA per run (3 here)
    assert len(result.values["rvae"]["CKA_D1"]) == 3
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("rep-metrics").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    template = latents(client, by_name["template"], tmp_path / "t")
    run = by_name["rvae/seed2"]
    assert run.data.metrics["CKA_D1"] == pytest.approx(
        linear_cka(latents(client, run, tmp_path / "r"), template), rel=1e-9)
    parent = by_name["reproducibility-gaussians8"]
    assert {"RV/vae", "RV/rvae", "CKA_D1_norm_median/rvae"} <= set(parent.data.metrics)


BAD = [
    (["--metrics", "rv"], ("metric 'rv' with protocol 'sequential': allowed lsd, linear_map, "
                           "cka, procrustes, mcc")),
    (["--metrics", "lsd,nope"], "unknown metric 'nope': allowed lsd"),
    (["--metrics", "cka,cka"], "metrics cka,cka: each metric may appear once"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[a[1] for a, _ in BAD])
def test_bad_metrics_are_one_line_errors(store, tmp_path, capsys, args, message):
    code, _, err = run_main(["run", "gaussians8", *args], capsys)
    lines = [line for line in err.splitlines() if line.startswith("Error")]
    assert code == 2 and lines and message in lines[0], err
    assert not (tmp_path / "mlruns").exists()  # refused before anything was logged


def test_pairwise_metric_with_anchor_file_in_reproducibility_is_refused(store, tmp_path, capsys):
    from rosetta_cl.anchors.rosetta_file import make_anchor_file, write_anchor_file

    path = write_anchor_file(make_anchor_file(np.zeros((4, 5)), np.zeros((4, 2)) + [[0, 1]]),
                             tmp_path / "a.rosetta")
    code, _, err = run_main(["run", "gaussians8", "--protocol", "reproducibility", "--anchors",
                             str(path), "--metrics", "rv,cka"], capsys)
    assert code == 2 and "metric 'cka' with --anchors in the reproducibility protocol" in err
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_spec_selects_metrics_and_labels_their_columns(tmp_path):
    spec_file = tmp_path / "cka.toml"
    spec_file.write_text(textwrap.dedent("""
        title = "LSD and MCC against k"
        [run]
        benchmark = "gaussians8"
        metrics = ["lsd", "mcc"]
        seeds = 2
        figures = "none"
        [vary]
        field = "rosetta_points"
        values = [4, 8]
        [quick]
        epochs = 2
    """))
    result = run_spec(load_spec(spec_file), quick=True, track=False)
    assert result.table.columns == ["k=4 D1", "k=4 D2", "k=4 MCC_D1", "k=4 MCC_D2",
                                    "k=8 D1", "k=8 D2", "k=8 MCC_D1", "k=8 MCC_D2"]
    assert result.table.kinds["k=8 MCC_D1"] == "difference"
    assert "difference for k=4 MCC_D1" in result.table.markdown()


PLUGIN = '''
import numpy as np

from rosetta_cl.metrics.latent import Scores
from rosetta_cl.registry import MetricSpec, register_metric


def mean_shift(source, target, groups):
    """Distance between the two spaces' centroids, per group (no map at all)."""
    return Scores({g: float(np.linalg.norm(source[m].mean(0) - target[m].mean(0)))
                   for g, m in groups.items()})


register_metric(MetricSpec("mean_shift", "pairwise", mean_shift, "centroid distance",
                           column="SHIFT"))
'''


@pytest.mark.slow
def test_local_plugin_registers_a_metric_used_by_a_run(store, tmp_path, capsys):
    folder = tmp_path / "my_plugins"
    folder.mkdir()
    (folder / "shift_metric.py").write_text(PLUGIN)
    code, out, _ = run_main(["plugins", "--plugins-dir", str(folder)], capsys)
    assert code == 0 and "mean_shift" in out and "shift_metric.py" in out
    result = run_benchmark(RunConfig(**QUICK, metrics=("lsd", "mean_shift"),
                                     plugins_dir=str(folder)), track=False)
    assert result.table.columns == ["LSD_D1", "LSD_D2", "SHIFT_D1", "SHIFT_D2"]
    assert all(v >= 0 for v in result.values["rvae"]["SHIFT_D2"])


def test_labels_follow_the_lead_metric_not_lsd_or_rv():
    """CKA or MCC can lead a table: its labels come from the registry's normalisation."""
    import numpy as np

    from rosetta_cl.metrics.summary import summarize
    from rosetta_cl.reporting.run_figures import _normalised_label

    table = summarize({"vae": {"CKA_D1": np.array([0.5, 0.6])},
                       "rvae": {"CKA_D1": np.array([0.7, 0.8])}}, "CKA", {"CKA_D1": "difference"})
    assert table.as_dict()["normalization"] == "difference vs median VAE"
    assert _normalised_label("CKA") == "CKA minus the median VAE's"
    assert _normalised_label("LSD") == "LSD relative to the median VAE"


def test_a_retraining_metric_without_a_column_is_logged_not_tabulated():
    """``column=None`` means logged, not tabulated; the reproducibility protocol used to put it
    in the table under the key None."""
    from rosetta_cl import METRICS, MetricSpec, register_metric, rv_per_point

    register_metric(MetricSpec("rv_untabulated", "retraining", rv_per_point, "RV, logged only"))
    try:
        config = RunConfig(**{**QUICK, "seeds": 3}, protocol="reproducibility",
                           methods=("vae", "rvae"), metrics=("rv", "rv_untabulated"))
        result = run_benchmark(config, track=False)
    finally:
        METRICS.pop("rv_untabulated")
    assert result.table.columns == ["RV"]
    assert set(result.metrics) == {"RV/vae", "RV/rvae", "rv_untabulated/vae",
                                   "rv_untabulated/rvae"}
    assert result.metrics["rv_untabulated/vae"] == result.metrics["RV/vae"]
