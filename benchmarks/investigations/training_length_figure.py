"""The epoch curves of ``training_length.py``: per set, the raw LSD to the joint model (median
over 3 templates x 3 seeds) of the VAE and the R-VAE on D1 and D2 against the epochs every model
trained (the plateau rule's point among them), the plateau rule's choice marked.

    python benchmarks/investigations/training_length_figure.py OUT.jsonl [...] -o FIGURE.png
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TICKS = (10, 20, 50, 100, 200)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("jsonl", nargs="+")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    rows = [json.loads(line) for path in args.jsonl for line in open(path) if line.strip()]
    sets = list(dict.fromkeys(r["set"] for r in rows))
    columns = min(4, len(sets))
    n_rows = -(-len(sets) // columns)
    fig, axes = plt.subplots(n_rows, columns, figsize=(3.3 * columns, 2.9 * n_rows),
                             squeeze=False)
    for ax in axes.flat[len(sets):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, sets, strict=False):
        # the plateau's point is a training of that many epochs like the others
        points = sorted({r["epochs"]: r for r in rows if r["set"] == name}.values(),
                        key=lambda r: r["epochs"])
        epochs = [r["epochs"] for r in points]
        for method, colour in (("vae", "tab:gray"), ("rvae", "tab:red")):
            for part, style in (("LSD_D1", "-"), ("LSD_D2", "--")):
                ax.plot(epochs, [r["raw"][method][part] for r in points], style, color=colour,
                        marker="o", ms=3, label=f"{method} {part[-2:]}")
        for r in rows:
            if r["set"] == name and r["rule"] == "plateau":
                ax.axvline(r["epochs"], color="tab:blue", lw=1, alpha=0.6)
                ax.text(r["epochs"], ax.get_ylim()[1], f" plateau {r['epochs']}",
                        color="tab:blue", fontsize=7, va="top")
        ax.set_xscale("log")
        ax.set_xlim(8, 320)
        ax.set_xticks(TICKS, [str(t) for t in TICKS])
        ax.minorticks_off()
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epochs", fontsize=8)
        ax.tick_params(labelsize=7)
    for row in axes:
        row[0].set_ylabel("raw LSD to the joint model", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)


if __name__ == "__main__":
    main()
