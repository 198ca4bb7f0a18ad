"""What training length does to the verdicts (issue 36): the sequential protocol's LSD of the
VAE and the R-VAE at fixed epoch counts and at the paper's plateau rule (``--epochs plateau``,
``rosetta_cl.training.plateau``), over 3 templates x 3 seeds (the protocol's defaults), with
``--ensemble``, untracked.

``--protocol reproducibility``: RV over 10 retrainings on D1 instead (one template), the
R-VAE's difference to the VAE's and both latent spreads.

One JSON line per (set, epochs) goes to OUT (for the figure, ``training_length_figure.py``) and a
table row to stdout: the R-VAE's LSD normalised to the VAE (median, D1 / D2), on how many
templates it beats the VAE, and both methods' raw medians. Every point trains its own models
from scratch for that many epochs (template, target and methods alike).

    python benchmarks/investigations/vector_sets.py vectors
    python benchmarks/investigations/training_length.py vectors OUT.jsonl \\
        [--sets gaussians8,digits,wine,...] [--epochs 20,50,100,200,plateau]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from rosetta_cl import RunConfig, run_benchmark

SPLITS = {"wine": "label:0|1,2", "breast_cancer": "label:0|1", "diabetes": "label:0|1",
          "digits64": "label:0,1,2,3,4|5,6,7,8,9"}


def config_for(name: str, vectors: Path, protocol: str = "sequential") -> RunConfig:
    common = {"methods": ("vae", "rvae"), "ensemble": True, "figures": "none",
              "protocol": protocol}
    if name == "mnist2k":
        return RunConfig(benchmark="mnist", subsample=2000, arch="mlp", **common)
    if name in SPLITS:
        return RunConfig(data=str(vectors / f"{name}.npz"), split_by=SPLITS[name], **common)
    return RunConfig(benchmark=name, **common)


def rv_point(result, epochs) -> dict:
    """One (set, epochs) point of the reproducibility protocol: RV per method (one value per
    template: over its 10 retrainings) and the R-VAE's difference to the VAE's, with the
    latent spread (RV is not scale-free)."""
    rv = {m: statistics.median(cols["RV"]) for m, cols in result.values.items()}
    return {"epochs": result.config.epochs, "rule": str(epochs), "rv": rv,
            "rvae_minus_vae": rv["rvae"] - rv["vae"],
            "latent_spread": result.extra.get("latent_spread"),
            "plateau": result.extra.get("plateau")}


def point(result, epochs) -> dict:
    """One (set, epochs) point: medians over templates x seeds, per-template wins."""
    raw = {m: {c: statistics.median(v) for c, v in cols.items()}
           for m, cols in result.values.items()}
    row = {"epochs": result.config.epochs, "rule": str(epochs), "raw": raw,
           "plateau": result.extra.get("plateau"),
           "rvae_vs_vae": {c: raw["rvae"][c] / raw["vae"][c] - 1 for c in ("LSD_D1", "LSD_D2")}}
    wins = {}
    n_seeds, n_templates = result.config.seeds, result.config.templates
    for part in ("LSD_D1", "LSD_D2"):  # per-run values come template after template
        vae, rvae = result.values["vae"][part], result.values["rvae"][part]
        won = sum(statistics.median(rvae[t * n_seeds:(t + 1) * n_seeds])
                  < statistics.median(vae[t * n_seeds:(t + 1) * n_seeds])
                  for t in range(n_templates))
        wins[part] = f"{won} of {n_templates}"
    row["rvae_wins"] = wins
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("vectors")
    parser.add_argument("out")
    parser.add_argument("--sets", default="gaussians8,digits,wine,breast_cancer,diabetes,digits64")
    parser.add_argument("--epochs", default="20,50,100,200,plateau")
    parser.add_argument("--protocol", default="sequential",
                        help="sequential (LSD) | reproducibility (RV over 10 retrainings)")
    args = parser.parse_args()
    if args.protocol == "reproducibility":
        return rv_main(args)
    print("set | epochs | R-VAE vs VAE D1 / D2 | R-VAE wins (templates) D1 / D2 | "
          "raw VAE D1 / D2 | raw R-VAE D1 / D2 | s", flush=True)
    for name in args.sets.split(","):
        base = config_for(name, Path(args.vectors))
        for text in args.epochs.split(","):
            config = (replace(base, epochs_rule="plateau") if text == "plateau"
                      else replace(base, epochs=int(text)))
            start = time.perf_counter()
            result = run_benchmark(config, track=False)
            row = {"set": name, **point(result, text), "wall_s": time.perf_counter() - start}
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            rel, raw, wins = row["rvae_vs_vae"], row["raw"], row["rvae_wins"]
            label = f"plateau -> {row['epochs']}" if text == "plateau" else text
            print(f"{name} | {label} | {rel['LSD_D1']:+.2f} / {rel['LSD_D2']:+.2f} | "
                  f"{wins['LSD_D1']} / {wins['LSD_D2']} | "
                  f"{raw['vae']['LSD_D1']:.3g} / {raw['vae']['LSD_D2']:.3g} | "
                  f"{raw['rvae']['LSD_D1']:.3g} / {raw['rvae']['LSD_D2']:.3g} | "
                  f"{row['wall_s']:.0f}", flush=True)


def rv_main(args) -> None:
    print("set | epochs | RV VAE | RV R-VAE | R-VAE - VAE | latent spread VAE / R-VAE | s",
          flush=True)
    for name in args.sets.split(","):
        base = config_for(name, Path(args.vectors), "reproducibility")
        for text in args.epochs.split(","):
            config = (replace(base, epochs_rule="plateau") if text == "plateau"
                      else replace(base, epochs=int(text)))
            start = time.perf_counter()
            row = {"set": name, "protocol": "reproducibility",
                   **rv_point(run_benchmark(config, track=False), text),
                   "wall_s": time.perf_counter() - start}
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            spread = row["latent_spread"] or {}
            label = f"plateau -> {row['epochs']}" if text == "plateau" else text
            print(f"{name} | {label} | {row['rv']['vae']:.3g} | {row['rv']['rvae']:.3g} | "
                  f"{row['rvae_minus_vae']:+.2f} | {spread.get('vae', float('nan')):.3g} / "
                  f"{spread.get('rvae', float('nan')):.3g} | {row['wall_s']:.0f}", flush=True)


if __name__ == "__main__":
    main()
