"""The paper's figures drawn from arrays (matplotlib, Agg backend: no display needed).

Every function takes plain numbers and returns a matplotlib Figure; reading runs from MLflow and
projecting latents to 2-D live in ``run_figures`` and ``embedding``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

METHOD_COLORS = {"target": "#444444", "template": "#444444", "rvae": "#d62728",
                 "vae": "#1f77b4", "bvae": "#2ca02c"}
METHOD_NAMES = {"rvae": "R-VAE", "vae": "VAE", "bvae": "beta-VAE"}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def method_color(method: str, index: int = 0) -> str:
    return METHOD_COLORS.get(method, f"C{(index + 4) % 10}")


@dataclass
class Panel:
    """One 2-D latent view: points coloured by label, Rosetta points marked."""

    xy: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,) integer class (or cluster) of each point
    title: str = ""
    rosetta_xy: np.ndarray | None = None  # (k, 2)
    names: dict[int, str] | None = None  # label -> legend text, e.g. {5: "5 (D2)"}


MAX_LEGEND_CLASSES = 10  # tab10: more classes would share colours; the legend says so


def legend_handles(panel: Panel) -> list:
    """Legend entries: one marker per class in its colour (named with its part, e.g. "3 (D1)")
    and the Rosetta points' star."""
    from matplotlib.lines import Line2D

    cmap = plt.get_cmap("tab10")
    handles = []
    names = panel.names or {}
    if names and len(names) <= MAX_LEGEND_CLASSES:
        handles += [Line2D([], [], ls="", marker="o", ms=4, color=cmap(label % 10), label=text)
                    for label, text in sorted(names.items())]
    elif names:
        handles.append(Line2D([], [], ls="", label=f"{len(names)} classes, colour = class "
                                                   "mod 10"))
    if panel.rosetta_xy is not None and len(panel.rosetta_xy):
        handles.append(Line2D([], [], ls="", marker="*", ms=9, color="black",
                              markeredgecolor="white", label="Rosetta points"))
    return handles


def draw_panel(ax, panel: Panel) -> None:
    labels = np.asarray(panel.labels)
    ax.scatter(panel.xy[:, 0], panel.xy[:, 1], c=labels % 10, cmap="tab10", vmin=0, vmax=9,
               s=4, alpha=0.6, linewidths=0, rasterized=True)
    if panel.rosetta_xy is not None and len(panel.rosetta_xy):
        ax.scatter(panel.rosetta_xy[:, 0], panel.rosetta_xy[:, 1], marker="*", s=70,
                   c="black", edgecolors="white", linewidths=0.5, label="Rosetta points")
    ax.set_title(panel.title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def latent_figure(panel: Panel, caption: str = "") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.2, 4.2), layout="constrained")
    draw_panel(ax, panel)
    handles = legend_handles(panel)
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=7, title="class (part)",
                   title_fontsize=7)
    if caption:
        fig.supxlabel(caption, fontsize=7)
    return fig


def grid_figure(columns: Sequence[tuple[str, Sequence[Panel]]], title: str) -> plt.Figure:
    """Columns (e.g. target | R-VAE | VAE | beta-VAE) of panels, one row per seed; a column
    with fewer panels (the single target) leaves its lower cells empty."""
    rows = max(len(panels) for _, panels in columns)
    fig, axes = plt.subplots(rows, len(columns), figsize=(2.6 * len(columns), 2.5 * rows),
                             squeeze=False, layout="constrained")
    for j, (name, panels) in enumerate(columns):
        for i in range(rows):
            ax = axes[i, j]
            if i < len(panels):
                draw_panel(ax, panels[i])
            else:
                ax.axis("off")
        axes[0, j].set_title(f"{name}\n{axes[0, j].get_title()}", fontsize=9)
    shown = [p for _, panels in columns for p in panels]
    anchored = [p for p in shown if p.rosetta_xy is not None and len(p.rosetta_xy)]
    handles = legend_handles((anchored or shown)[0]) if shown else []
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=7, title="class (part)",
                   title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def spectra_figure(spectra: dict[str, list[np.ndarray]], title: str) -> plt.Figure:
    """Eigenvalues of P (A = UP) per method, one line per run, sorted (paper Figure 6, top)."""
    fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
    for i, (method, runs) in enumerate(spectra.items()):
        for r, eig in enumerate(runs):
            eig = np.sort(np.asarray(eig))[::-1]
            ax.plot(np.arange(1, len(eig) + 1), eig, "-o", ms=3, lw=1, alpha=0.7,
                    color=method_color(method, i), label=method_name(method) if r == 0 else None)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue of P (A = UP)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def per_run_figure(values: dict[str, Sequence[float]], ylabel: str, title: str) -> plt.Figure:
    """One dot per run and the median per method (paper Figures 6 bottom and 7)."""
    fig, ax = plt.subplots(figsize=(4.2, 3.4), layout="constrained")
    rng = np.random.default_rng(0)
    for i, (method, runs) in enumerate(values.items()):
        v = np.asarray(runs, dtype=float)
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=16,
                   color=method_color(method, i), alpha=0.8)
        if len(v):
            ax.hlines(np.median(v), i - 0.3, i + 0.3, color="black", lw=1.5)
    ax.set_xticks(range(len(values)), [method_name(m) for m in values])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return fig


def box_figure(stats: dict[str, dict[str, dict]], ylabel: str, title: str) -> plt.Figure:
    """``stats[column][method] = {"median", "q25", "q75"}``: boxes are the IQR, the line the
    median, as in the paper's tables (no whiskers: the tables report only these)."""
    columns = list(stats)
    methods = list(dict.fromkeys(m for col in stats.values() for m in col))
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(columns) * max(len(methods), 1) / 2), 3.6),
                           layout="constrained")
    for i, method in enumerate(methods):
        boxes, positions = [], []
        for c, column in enumerate(columns):
            s = stats[column].get(method)
            if s is None:
                continue
            boxes.append({"med": s["median"], "q1": s["q25"], "q3": s["q75"],
                          "whislo": s["q25"], "whishi": s["q75"], "fliers": [],
                          "label": method_name(method)})
            positions.append(c + (i - (len(methods) - 1) / 2) * width)
        if not boxes:
            continue
        color = method_color(method, i)
        ax.bxp(boxes, positions=positions, widths=width * 0.85, patch_artist=True,
               showcaps=False, boxprops={"facecolor": color, "alpha": 0.55, "edgecolor": color},
               medianprops={"color": "black"}, manage_ticks=False)
        ax.plot([], [], "s", color=color, alpha=0.55, label=method_name(method))
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(columns)), columns, fontsize=8, rotation=20 if len(columns) > 4 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def save(fig: plt.Figure, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
