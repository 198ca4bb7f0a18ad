"""Figures drawn from what MLflow holds, and `rosetta-cl report` built from them."""

import os
import re
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from mlflow.tracking import MlflowClient

from rosetta_cl import RunConfig, run_benchmark
from rosetta_cl.cli import main
from rosetta_cl.errors import ConfigError
from rosetta_cl.experiments.specs import load_spec, run_spec
from rosetta_cl.reporting.embedding import Projection, choose_projection
from rosetta_cl.reporting.figures import Panel, legend_handles
from rosetta_cl.reporting.report import CAPTIONS, build_report
from rosetta_cl.reporting.run_figures import ModelRun, build_figures, child_runs, class_names

SPECS = Path(__file__).resolve().parents[1] / "rosetta_cl" / "paper_specs"
_RUNS = {}


def quick_spec(name, store):
    if name not in _RUNS:
        _RUNS[name] = run_spec(load_spec(SPECS / f"{name}.toml"), quick=True,
                               overrides={"seeds": 2} if "sequential" in name else None,
                               tracking_uri=store)
    return _RUNS[name]


def artifacts(client, run_id, folder=None):
    return {a.path for a in client.list_artifacts(run_id, folder)}


def png(client, run_id, path, tmp_path):
    image = imread(client.download_artifacts(run_id, path, str(tmp_path)))
    return image.shape


def test_projection_rules_and_pca_is_a_deterministic_rotation():
    assert choose_projection("auto", 2, quick=False) == "identity"
    assert choose_projection("auto", 8, quick=True) == "pca"
    assert choose_projection("auto", 8, quick=False) == "umap"
    with pytest.raises(ConfigError, match="projection 'tsne': allowed auto, identity, pca, umap"):
        choose_projection("tsne", 8, quick=False)
    with pytest.raises(ConfigError, match="needs latent dim 2, got 8"):
        choose_projection("identity", 8, quick=False)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 5)) * [5, 2, 0.1, 0.1, 0.1]
    xy = Projection("pca").fit_transform(z)
    assert np.allclose(Projection("pca").fit_transform(z), xy)
    # the two kept axes carry the two large variances, distances within them are kept
    assert xy.var(0) == pytest.approx(z[:, :2].var(0), rel=0.02)
    assert np.allclose(Projection("identity").fit_transform(z[:, :2]), z[:, :2])


def test_sequential_run_logs_every_figure(store, tmp_path):
    """gaussians8 (2-D latents: identity view): every model run has latents.png, the parent
    the two grids, the three linear-map figures and the box plot."""
    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=2),
                           tracking_uri=store)
    client = MlflowClient(store)
    parent = result.parent_run_id
    assert artifacts(client, parent, "figures") == {f"figures/{n}.png" for n in (
        "grid_raw", "grid_linear", "map_spectra", "map_identity_gap", "map_bias_norm", "box")}
    children = child_runs(client, client.get_run(parent))
    assert len(children) == 8  # template, target, 3 methods x 2 seeds
    for child in children:
        assert "latents.png" in artifacts(client, child.info.run_id)
    # the grids: 4 columns (target, R-VAE, VAE, beta-VAE) by 2 seeds, wider than tall
    h, w, _ = png(client, parent, "figures/grid_linear.png", tmp_path)
    assert w > 1.5 * h
    # rosetta_mu: where each method puts the template's x_r (the R-VAE's are pulled to z_r)
    with np.load(client.download_artifacts(children[-1].info.run_id, "latents.npz",
                                            str(tmp_path)), allow_pickle=False) as f:
        assert f["rosetta_mu"].shape == (result.config.rosetta_points, 2)


def test_figures_none_then_report_draws_them_from_mlflow(store, tmp_path, capsys):
    """`--figures none` logs no figure; `rosetta-cl report` then draws them from the logged
    latents (PCA for a quick 8-d digits run), writes HTML + Markdown and logs them back."""
    result = run_benchmark(RunConfig(benchmark="digits", protocol="reproducibility", quick=True,
                                     seeds=9, epochs=1, subsample=60, rosetta_points=8,
                                     figures="none"),
                           tracking_uri=store)
    client = MlflowClient(store)
    parent = result.parent_run_id
    assert "figures" not in artifacts(client, parent)
    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", parent, "-o", str(out), "--tracking-uri", store])
    assert exit_info.value.code == 0
    assert artifacts(client, parent, "figures") == {"figures/grid_raw.png",
                                                     "figures/grid_linear.png", "figures/box.png"}
    html = (out / "report.html").read_text()
    # 3 protocol figures + 28 runs' latent plots (template + 3 methods x 9 seeds), all inlined
    assert html.count("<img ") == 3 + 28 and "data:image/png;base64," in html
    assert "RV, normalised to median VAE" in html and parent in html
    assert "<p class='smoke'>SMOKE OUTPUT (--quick)" in html  # a smoke run says so
    assert "Latent spread (median over runs" in html and "rvae " in html  # beside RV
    rows = re.findall(r"<tr><td><a href='[^']+'>([^<]+)</a></td><td>([^<]*)</td></tr>", html)
    assert len(rows) == 28 and all(cells != "-" for _, cells in rows)  # metrics of every run
    assert all("latent_spread_D1 " in cells for name, cells in rows if name != "template")
    assert all(f": {html_escape(CAPTIONS[n])}</figcaption>" in html
               for n in ("grid_raw", "grid_linear", "box"))
    experiment = client.get_experiment(client.get_run(parent).info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # classic UI
    md = (out / "report.md").read_text()
    for name in re.findall(r"\(figures/([^)]+)\)", md):
        assert (out / "figures" / name).stat().st_size > 1000
    assert artifacts(client, parent, "report") == {"report/report.html", "report/report.md"}
    assert "report:" in capsys.readouterr().out
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700: reports are shared


def test_spec_report_has_tables_box_plot_and_every_grid(store, tmp_path):
    result = quick_spec("table1_reproducibility_gaussians8", store)
    client = MlflowClient(store)
    assert "figures/box.png" in artifacts(client, result.parent_run_id, "figures")
    path = build_report("table1_reproducibility_gaussians8", tmp_path / "r", tracking_uri=store)
    html = path.read_text()
    title = load_spec(SPECS / "table1_reproducibility_gaussians8.toml").title
    assert f"<h4>{title}</h4>" in html and "<table>" in html
    assert html.count("(grid)</h3>") == 1 and "(spec)</h2>" in html
    # one column: the table and its box plot once (the spec's), not again for its grid run
    assert html.count(f": {html_escape(CAPTIONS['box'])}</figcaption>") == 1
    assert html.count("RV, normalised to median VAE") == 1
    links = re.findall(r"href='([^']+)'", html)
    assert any(result.parent_run_id in link for link in links)
    assert all(link.startswith("http://127.0.0.1:5000/#/experiments/") for link in links)
    assert "Run links point at <code>rosetta-cl ui --tracking-uri " in html  # no raw backticks


def test_report_errors_are_one_line_and_never_overwrite_other_files(store, tmp_path, capsys):
    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1,
                                     figures="none"), tracking_uri=store)
    client = MlflowClient(store)
    child = child_runs(client, client.get_run(result.parent_run_id))[0].info.run_id
    cases = [
        (["nosuch"], "'nosuch' is neither a run id nor an experiment; experiments: "),
        ([child], f"run {child} has role 'template': give a protocol or spec run"),
        ([result.parent_run_id, "--figures", "tsne"], "figures 'tsne': allowed auto"),
    ]
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "mine.txt").write_text("keep me")
    cases.append(([result.parent_run_id, "-o", str(precious)],
                  f"output {precious}: exists and is not an earlier report"))
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["report", *args, "--tracking-uri", store])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and err[-1].startswith(f"Error: {message}"), err
    assert (precious / "mine.txt").read_text() == "keep me"
    # a second report into the same folder replaces the first one whole
    out = tmp_path / "again"
    build_report(result.parent_run_id, out, tracking_uri=store, log=False)
    (out / "figures" / "stale.png").write_bytes(b"x")
    build_report(result.parent_run_id, out, tracking_uri=store, log=False)
    assert not (out / "figures" / "stale.png").exists() and (out / "report.html").exists()


def test_build_figures_refuses_a_model_run(store):
    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1,
                                     figures="none"), tracking_uri=store)
    client = MlflowClient(store)
    child = child_runs(client, client.get_run(result.parent_run_id))[-1].info.run_id
    with pytest.raises(ConfigError, match="role 'method' has no figures"):
        build_figures(client, child)


@pytest.mark.slow
def test_report_against_a_remote_tracking_server(store, tmp_path, mlflow_ui):
    """Runs logged over HTTP (artifacts through the server's proxy), report read over HTTP."""
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with mlflow_ui(store, server_dir) as base:
        result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=1, epochs=1),
                               tracking_uri=base)
        client = MlflowClient(base)
        assert client.get_run(result.parent_run_id).info.artifact_uri.startswith(
            "mlflow-artifacts:")
        html = build_report(result.parent_run_id, tmp_path / "rep", tracking_uri=base).read_text()
        # 6 protocol figures + the latent plots of template, target and 3 method runs
        assert html.count("<img ") == 6 + 5
        assert f"href='{base}/#/experiments/" in html
        assert artifacts(client, result.parent_run_id, "report") == {
            "report/report.html", "report/report.md"}


def test_latent_figures_have_a_legend_of_classes_with_their_parts():
    latents = {"mu_D1": np.zeros((4, 2)), "y_D1": np.array([0, 1, 1, 0]),
               "mu_D2": np.zeros((3, 2)), "y_D2": np.array([5, 6, 5])}
    model = ModelRun("id", "vae/seed1", "method", "vae", 1, latents)
    names = class_names(model, ["D1", "D2"])
    assert names == {0: "0 (D1)", 1: "1 (D1)", 5: "5 (D2)", 6: "6 (D2)"}
    panel = Panel(np.zeros((7, 2)), np.array([0, 1, 1, 0, 5, 6, 5]), "", np.zeros((2, 2)), names)
    labels = [h.get_label() for h in legend_handles(panel)]
    assert labels == ["0 (D1)", "1 (D1)", "5 (D2)", "6 (D2)", "Rosetta points"]
    many = Panel(np.zeros((12, 2)), np.arange(12), names={i: str(i) for i in range(12)})
    assert [h.get_label() for h in legend_handles(many)] == ["12 classes, colour = class mod 10"]
