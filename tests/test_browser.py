"""The MLflow UI workflow in a real browser: `rosetta-cl ui` over a store holding a finished
benchmark, driven by headless Chromium (Debian's package) through Playwright's Python package."""

import os
import re
import shutil
from pathlib import Path

import pytest

from rosetta_cl import RunConfig, run_benchmark

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no browser: Debian's chromium is not installed (apt-get install chromium; "
                    ".ci/run does it)")
    return path


@pytest.mark.slow
def test_compare_two_methods_and_see_a_figure(store, tmp_path, mlflow_ui):
    chromium = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright's Python package is not installed")
    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=2),
                           tracking_uri=store)
    shots = Path(os.environ.get("ROSETTA_CL_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with mlflow_ui(store, tmp_path) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        expect = sync_api.expect
        # the experiment list -> the experiment
        page.goto(f"{base}/#/experiments")
        page.get_by_role("link", name="gaussians8", exact=True).click()
        # nested runs: expand the parent, then tick one R-VAE and one VAE run
        page.get_by_text("sequential-gaussians8", exact=True).wait_for()
        expand = page.locator("[data-testid='runs-table-expand-button'], "
                              "button[aria-label*='xpand' i]").first
        if expand.count():
            expand.click()
        for name in ("rvae/seed1", "vae/seed1"):
            row = page.locator("[role='row']", has=page.get_by_text(name, exact=True))
            row.locator("input[type='checkbox'], [role='checkbox']").first.click()
        page.get_by_role("button", name=re.compile("^Compare")).click()
        # the compare view: both runs, their LSD metrics
        expect(page.get_by_text("LSD_D1", exact=True).first).to_be_visible()
        expect(page.get_by_text("LSD_D2", exact=True).first).to_be_visible()
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        # a logged figure: the R-VAE run's latent plot in the artifact viewer
        run_ids = {name: run_id for name, run_id in _runs(store, result.parent_run_id)}
        page.goto(f"{base}/#/experiments/{_experiment_id(store, result.parent_run_id)}/runs/"
                  f"{run_ids['rvae/seed1']}/artifacts/latents.png")
        image = page.locator("img[src*='latents.png'], img[src^='blob:']").first
        expect(image).to_be_visible()
        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 100
        page.screenshot(path=str(shots / "figure.png"), full_page=True)
        browser.close()


def _runs(store, parent_id):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_id}'")
    return [(r.data.tags["mlflow.runName"], r.info.run_id) for r in children]


def _experiment_id(store, run_id):
    from mlflow.tracking import MlflowClient

    return MlflowClient(store).get_run(run_id).info.experiment_id
