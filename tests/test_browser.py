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
    """A user's path: experiment -> runs -> tick two methods -> Compare -> their LSD metrics and
    latent plots. Screenshots go to $ROSETTA_CL_SCREENSHOTS (default: the test's temp dir)."""
    chromium = chromium_path()
    from playwright import sync_api  # the dev extra installs it
    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=2),
                           tracking_uri=store)
    shots = Path(os.environ.get("ROSETTA_CL_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with mlflow_ui(store, tmp_path) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        expect = sync_api.expect
        # a fresh profile: the experiment list -> the experiment -> its runs table (MLflow 3.17
        # alone opens GenAI's Overview here; the page `rosetta-cl ui` serves sets the view)
        page.goto(f"{base}/#/experiments")
        page.get_by_role("link", name="gaussians8", exact=True).click()
        expect(page.get_by_text("sequential-gaussians8", exact=True)).to_be_visible()
        expect(page.get_by_text("Token Usage")).to_have_count(0)
        assert page.evaluate("localStorage.getItem('mlflow.workflowType_v1')") == \
            '"machine_learning"'
        page.screenshot(path=str(shots / "runs-table.png"))
        # nested runs: expand the parent run, tick one R-VAE and one VAE run, compare them
        parent = page.locator("[role='row']",
                              has=page.get_by_text("sequential-gaussians8", exact=True))
        parent.locator("[col-id='attributes.`Run Name`'] button").first.click()
        for name in ("rvae/seed1", "vae/seed1"):
            row = page.locator("[role='row']", has=page.get_by_text(name, exact=True))
            row.locator("input.ag-checkbox-input").click()
        page.get_by_role("button", name=re.compile("^Compare")).first.click()
        expect(page).to_have_url(re.compile("compare-runs"))
        ids = dict(_runs(store, result.parent_run_id))
        assert ids["rvae/seed1"] in page.url and ids["vae/seed1"] in page.url
        # the compare view: both runs' LSD metrics ...
        for metric in ("LSD_D1", "LSD_D2", "map_identity_gap"):
            expect(page.get_by_text(metric, exact=True).first).to_be_visible()
        page.get_by_text("LSD_D1", exact=True).first.evaluate("e => e.scrollIntoView()")
        page.screenshot(path=str(shots / "compare-metrics.png"))
        # ... and a logged figure: both runs' latent plots, previewed side by side
        artifact = page.get_by_text("latents.png", exact=True).first
        artifact.dispatch_event("click")  # the sticky preview pane covers it for a real click
        images = page.locator("img[alt='latents.png']")
        expect(images).to_have_count(2)
        for i in range(2):
            expect(images.nth(i)).to_be_visible()
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth") > 300
        artifact.evaluate("e => e.scrollIntoView()")
        images.first.evaluate("e => e.scrollIntoView()")
        page.screenshot(path=str(shots / "compare-figures.png"))
        browser.close()


def _runs(store, parent_id):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_id}'")
    return [(r.data.tags["mlflow.runName"], r.info.run_id) for r in children]
