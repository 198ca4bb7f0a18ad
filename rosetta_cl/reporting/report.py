"""``rosetta-cl report``: a self-contained HTML (and Markdown) report of runs, built from what
the MLflow store holds (tables, figures, configs, links to the runs), logged back to the runs.

Works against any tracking URI the MLflow client can read, a remote ``http://`` server too:
everything is fetched with ``MlflowClient``. Figures missing from a run (``--figures none``, or a
run older than the figures) are drawn first, from its logged latents (``run_figures``).
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rosetta_cl.errors import ConfigError
from rosetta_cl.reporting.run_figures import FIGURES, build_figures, child_runs, download
from rosetta_cl.tracking.artifacts import log_artifact
from rosetta_cl.tracking.store import quiet_downloads

REPORT_ROLES = ("parent", "spec", "grid")
LOCAL_UI = "http://127.0.0.1:5000"  # what `rosetta-cl ui` serves by default
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
# shown per model run beside the tables' metrics: the latent spread (read RV and LSD against it:
# a collapse shrinks both), the last validation -ELBO and the linear map's summary
SHOWN_VALUES = ("latent_spread_D1", "val/loss", "map_identity_gap", "map_bias_norm")
SPREAD = "latent_spread_D1_median/"  # the protocol run's median spread per method
SMOKE = ("SMOKE OUTPUT (--quick): few epochs and seeds on small data, barely trained models; it "
         "shows that the pipeline works, not what the methods do.")
CAPTIONS = {  # a figure's file name -> what it shows
    "grid_raw": "Latent means of the validation points, each model in its own 2-D view "
                "(columns: the reference model, then each method; rows: seeds).",
    "grid_linear": "Each model mapped onto the reference by its best affine map (the map LSD "
                   "measures), in the reference's view: the closer to the reference column, "
                   "the lower the LSD.",
    "box": "Median (line) and IQR (box) over runs of the table's normalised metric per method; "
           "0 is the VAE's median, lower is better for LSD and RV.",
    "map_spectra": "Eigenvalues of P in the polar decomposition A = UP of each run's affine map "
                   "onto the joint model (all 1: a rotation; paper Figure 6, top).",
    "map_identity_gap": "||I - A/||A||_2||_F per run: 0 when the map only scales, i.e. the axes "
                        "agree with the joint model's (paper Figure 6, bottom).",
    "map_bias_norm": "||b||, the shift of each run's affine map onto the joint model "
                     "(paper Figure 7).",
}


@dataclass
class Figure:
    title: str
    png: bytes
    file: str  # name under the report's figures/ folder


@dataclass
class Section:
    level: int
    title: str
    link: str
    params: dict[str, str]
    tables: list[str]  # Markdown
    figures: list[Figure]
    runs: list[tuple[str, str, dict[str, float]]] = field(default_factory=list)  # name, link
    gallery: list[Figure] = field(default_factory=list)  # every model run's latents.png
    notes: list[str] = field(default_factory=list)  # the smoke banner, the latent spread

    @property
    def smoke(self) -> bool:
        return self.params.get("quick") == "True"


def resolve_runs(client, target: str) -> list:
    """The runs a report covers: one run by id, or every top-level protocol/spec run of an
    experiment by name (newest first).
    """
    from mlflow.exceptions import MlflowException

    if RUN_ID.match(target):
        try:
            run = client.get_run(target)
        except MlflowException as exc:
            raise ConfigError(f"run {target}: not in this store ({exc.error_code})") from None
        role = run.data.tags.get("role")
        if role not in REPORT_ROLES:
            raise ConfigError(f"run {target} has role {role!r}: give a protocol or spec run "
                              f"(role {', '.join(REPORT_ROLES)}) or an experiment name")
        return [run]
    experiment = client.get_experiment_by_name(target)
    if experiment is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ConfigError(f"{target!r} is neither a run id nor an experiment; experiments: "
                          f"{', '.join(names) or 'none'}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                              max_results=5000)
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags
           and r.data.tags.get("role") in ("parent", "spec") and r.info.status == "FINISHED"]
    if not top:
        raise ConfigError(f"experiment {target!r} has no finished protocol or spec runs")
    return top


def run_link(base: str, run) -> str:
    return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"


def _text(client, run_id: str, name: str, tmp: str) -> str | None:
    path = download(client, run_id, name, tmp)
    return None if path is None else path.read_text()


def _pngs(client, run_id: str, folder: str | None, tmp: str) -> list[tuple[str, bytes]]:
    out = []
    for artifact in client.list_artifacts(run_id, folder):
        if artifact.path.endswith(".png"):
            with quiet_downloads():
                path = client.download_artifacts(run_id, artifact.path, str(Path(tmp) / run_id))
            out.append((artifact.path, Path(path).read_bytes()))
    return out


def _has_figures(client, run) -> bool:
    return any(a.path == FIGURES for a in client.list_artifacts(run.info.run_id))


def _sections(client, run, base: str, level: int, tmp: str) -> list[Section]:
    rid = run.info.run_id
    role = run.data.tags.get("role")
    name = run.data.tags.get("mlflow.runName", rid)
    tables = [t for t in (_text(client, rid, n, tmp) for n in ("table.md", "summary.md")) if t]
    figs = [Figure(f"{name}: {caption(p)}", png, f"{rid[:8]}_{Path(p).name}")
            for p, png in _pngs(client, rid, FIGURES, tmp)]
    section = Section(level, f"{name} ({role})", run_link(base, run), dict(run.data.params),
                      tables, figs)
    if section.smoke:
        section.notes.append(SMOKE)
    spread = {k.removeprefix(SPREAD): v for k, v in run.data.metrics.items()
              if k.startswith(SPREAD)}
    if spread:
        section.notes.append("Latent spread (median over runs of the total variance of mu on "
                             "D1; read RV and LSD against it, a collapse shrinks both): "
                             + ", ".join(f"{m} {v:.3g}" for m, v in spread.items()) + ".")
    children = child_runs(client, run)
    if role == "spec":
        grids = [s for grid in children for s in _sections(client, grid, base, level + 1, tmp)]
        if len(grids) == 1:  # one column: the spec's table and box plot are the grid's
            grids[0].tables = []
            grids[0].figures = [f for f in grids[0].figures if not f.file.endswith("_box.png")]
        return [section] + grids
    for child in children:
        metrics = {k: v for k, v in child.data.metrics.items() if shown_metric(k)}
        child_name = child.data.tags.get("mlflow.runName", child.info.run_id)
        section.runs.append((child_name, run_link(base, child), metrics))
        for path, png in _pngs(client, child.info.run_id, None, tmp):
            if path == "latents.png":
                section.gallery.append(Figure(f"{child_name}: latent means in its own view",
                                              png, f"{child.info.run_id[:8]}_latents.png"))
    return [section]


def caption(path: str) -> str:
    """A figure's caption from its file name (``figures/grid_raw.png``)."""
    stem = Path(path).stem
    return CAPTIONS.get(stem, stem.replace("_", " "))


def shown_metric(name: str) -> bool:
    """A model run's metric the report lists: a tabulated metric's value (registry columns, e.g.
    LSD_D1, CKA_D2, also after an experience: after_D3/LSD_D1) or the linear map's summary.
    """
    from rosetta_cl.registry import METRICS

    name = name.split("/", 1)[1] if name.startswith("after_") and "/" in name else name
    return name in SHOWN_VALUES or any(name == spec.column or name.startswith(f"{spec.column}_")
                                       for spec in METRICS.values() if spec.column)


def build_report(target: str, out_dir: str | Path, *, tracking_uri: str | None = None,
                 projection: str = "auto", log: bool = True) -> Path:
    """Write an HTML and a Markdown report of runs, and log them to every run reported on.

    Parameters
    ----------
    target : str
        A run id, or an experiment name (its latest runs).
    out_dir : str or pathlib.Path
        Folder for ``report.html`` (images inlined), ``report.md`` and ``figures/``.
    tracking_uri : str, optional
        MLflow store.
    projection : str, default "auto"
        2-D view of latent spaces wider than 2.
    log : bool, default True
        Also log both files to each run (``report/``).

    Returns
    -------
    pathlib.Path
        The HTML file.

    Examples
    --------
    >>> from rosetta_cl import RunConfig, build_report, run_benchmark
    >>> result = run_benchmark(RunConfig(methods=("vae", "rvae"), seeds=2, epochs=2, subsample=200,
    ...                                  figures="none"), tracking_uri="sqlite:///mlruns.db")
    >>> build_report(result.parent_run_id, "report", tracking_uri="sqlite:///mlruns.db").name
    'report.html'
    """
    from rosetta_cl.tracking.artifacts import check_output
    from rosetta_cl.tracking.store import open_client

    check_output(out_dir, "report folder")
    client = open_client(tracking_uri, write=log)
    uri = client.tracking_uri
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (
            any(out_dir.iterdir()) and not (out_dir / "report.html").exists())):
        raise ConfigError(f"output {out_dir}: exists and is not an earlier report; give an "
                          "empty or new folder")
    runs = resolve_runs(client, target)
    for run in runs:
        if not _has_figures(client, run):
            build_figures(client, run.info.run_id, projection)
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else LOCAL_UI
    with tempfile.TemporaryDirectory() as tmp:
        sections = [s for run in runs for s in _sections(client, run, base, 2, tmp)]
    title = f"rosetta-cl report: {target}"
    note = ("" if base != LOCAL_UI else
            f"Run links point at `rosetta-cl ui --tracking-uri {uri}` (default {LOCAL_UI}).")
    # write everything to a fresh folder, then swap it in: an earlier report is replaced whole
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a report folder is for sharing
    (staging / "figures").mkdir()
    for section in sections:
        for fig in section.figures + section.gallery:
            (staging / "figures" / fig.file).write_bytes(fig.png)
    (staging / "report.md").write_text(markdown(title, note, uri, sections))
    (staging / "report.html").write_text(to_html(title, note, uri, sections))
    if out_dir.exists():
        old = out_dir.with_name(f"{staging.name}-old")
        os.replace(out_dir, old)
        os.replace(staging, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(staging, out_dir)
    if log:
        for run in runs:
            log_artifact(client, run.info.run_id, out_dir / "report.html", "report")
            log_artifact(client, run.info.run_id, out_dir / "report.md", "report")
    return out_dir / "report.html"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _metric_cells(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())) or "-"


def markdown(title: str, note: str, uri: str, sections: list[Section]) -> str:
    lines = [f"# {title}", "", f"Tracking URI: `{uri}`. {note}".rstrip(), ""]
    for s in sections:
        lines += [f"{'#' * s.level} {s.title}", "", f"[open in MLflow]({s.link})", ""]
        lines += [f"**{n}**" if n == SMOKE else n for n in s.notes] + ([""] if s.notes else [])
        for table in s.tables:
            lines += [table.strip(), ""]
        lines += [f"![{f.title}](figures/{f.file})" for f in s.figures] + [""]
        if s.runs:
            lines += ["| run | metrics |", "|---|---|"]
            lines += [f"| [{n}]({link}) | {_metric_cells(m)} |" for n, link, m in s.runs] + [""]
        if s.gallery:
            lines += [f"![{f.title}](figures/{f.file})" for f in s.gallery] + [""]
        lines += ["<details><summary>config</summary>", "", "| param | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(s.params.items())] + ["", "</details>", ""]
    return "\n".join(lines)


def _md_table_to_html(text: str) -> str:
    """Our summary/table Markdown (headings, paragraphs, pipe tables) as HTML."""
    out: list[str] = []
    rows: list[str] = []

    def cells(row: str) -> list[str]:
        return [c.strip() for c in row.strip().strip("|").split("|")]

    def flush():
        if rows:
            head, *body = [r for r in rows if not set(r.replace("|", "")) <= set("-: ")]
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells(head))
                       + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>"
                                                            for c in cells(r)) + "</tr>"
                                           for r in body) + "</table>")
            rows.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            rows.append(line)
            continue
        flush()
        if line.startswith("#"):
            out.append(f"<h4>{html.escape(line.lstrip('#').strip())}</h4>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)


def _img(fig: Figure, css: str = "") -> str:
    data = base64.b64encode(fig.png).decode()
    return (f'<figure class="{css}"><img alt="{html.escape(fig.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(fig.title)}'
            "</figcaption></figure>")


STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;
font-size:13px}figure{display:inline-block;margin:4px;vertical-align:top}
figure img{max-width:100%}figure.small img{width:260px}figcaption{font-size:12px;color:#555}
figure{max-width:48%}figure.small{max-width:280px}
.smoke{background:#fff3cd;border:1px solid #e0b000;padding:6px 10px;font-weight:bold}"""


def _code_spans(text: str) -> str:
    """Markdown `code` spans as HTML <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def to_html(title: str, note: str, uri: str, sections: list[Section]) -> str:
    e = html.escape
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>"),
             f"<p>Tracking URI: <code>{e(uri)}</code>. {_code_spans(e(note))}</p>"]
    for s in sections:
        h = f"h{min(s.level, 6)}"
        parts.append(f"<{h}>{e(s.title)}</{h}><p><a href='{e(s.link)}'>open in MLflow</a></p>")
        parts += [f"<p class='smoke'>{e(n)}</p>" if n == SMOKE else f"<p>{e(n)}</p>"
                  for n in s.notes]
        parts += [_md_table_to_html(t) for t in s.tables]
        parts += [_img(f) for f in s.figures]
        if s.runs:
            parts.append("<table><tr><th>run</th><th>metrics</th></tr>" + "".join(
                f"<tr><td><a href='{e(link)}'>{e(n)}</a></td><td>{e(_metric_cells(m))}</td></tr>"
                for n, link, m in s.runs) + "</table>")
        if s.gallery:
            parts.append("<details><summary>latent means of every model run</summary>"
                         + "".join(_img(f, "small") for f in s.gallery) + "</details>")
        parts.append("<details><summary>config</summary><table>" + "".join(
            f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in sorted(s.params.items()))
            + "</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
