"""Issue 13: why the sequential R-VAE loses to the VAE on low-dimensional data, candidate by
candidate, at full settings (200 epochs, 10 seeds; ``--ensemble`` arithmetic, identical to the
sequential runs up to float rounding).

Each candidate is a set of RunConfig overrides (and optionally 8 Gaussians with another number of
noise dims). For every candidate the VAE and the R-VAE are trained (the VAE again when the
candidate changes its data or model) and the R-VAE's LSD on D1 / D2 is printed normalised to the
VAE of the same candidate (median (q25, q75); negative = better than the VAE), with the raw
medians; ``--protocol reproducibility`` prints the R-VAE's RV minus the VAE's instead.

    python benchmarks/investigations/anchor_candidates.py                       # gaussians8
    python benchmarks/investigations/anchor_candidates.py --benchmark digits --only exact,affine
    python benchmarks/investigations/anchor_candidates.py --protocol reproducibility
    python benchmarks/investigations/anchor_candidates.py --data FILE.npz --split-by label:...
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from rosetta_cl import RunConfig
from rosetta_cl.data.streams import (
    GAUSSIANS8_DEFAULTS,
    GAUSSIANS8_DESCRIPTION,
    gaussians8_data,
    make_benchmark,
)
from rosetta_cl.experiments.runner import prepare
from rosetta_cl.protocols import run_reproducibility, run_sequential

# name -> (RunConfig overrides, noise dims of 8 Gaussians or None). Every candidate but
# "decoder" and "affine+decoder" varies the encoder-only term, the default before issue 13.
ENCODER_ONLY = {"anchor_decoder": "none"}
CANDIDATES = {
    "encoder": (ENCODER_ONLY, None),  # rho (R/B) sum ||z_r - mu(x_r)||^2: the old default
    # eq. 1 read with its decoder term (the default)
    "decoder": ({"anchor_decoder": "squared"}, None),
    "rho/R": ({**ENCODER_ONLY, "rho": 1.5 / 8}, None),  # rho (R/B) mean_r instead of sum_r
    "rho/B": ({**ENCODER_ONLY, "rho": 1.5 / 128}, None),  # ELBO summed over the batch
    "rho x4": ({**ENCODER_ONLY, "rho": 6.0}, None),
    "noise5": (ENCODER_ONLY, 5),  # 2 position + 5 noise dims (appendix C's other reading)
    "latent8": ({**ENCODER_ONLY, "latent_dim": 8}, None),  # as if projected with UMAP
    "learned-noise": ({**ENCODER_ONLY, "_learned": True}, None),  # learned observation noise
    "affine": ({**ENCODER_ONLY, "anchor_fit": "affine"}, None),  # ours: up to an affine map
    "affine+decoder": ({"anchor_fit": "affine", "anchor_decoder": "squared"}, None),
    "decoder rho/R": ({"anchor_decoder": "squared", "rho": 1.5 / 8}, None),
    "decoder rho x4": ({"anchor_decoder": "squared", "rho": 6.0}, None),
    "decoder-nll": ({"anchor_decoder": "nll"}, None),  # -log p(x_r | z_r) instead (ours)
}


def run_candidate(name: str, base: RunConfig, protocol_fn):
    overrides, noise_dims = CANDIDATES[name]
    overrides = dict(overrides)
    learned = overrides.pop("_learned", False)  # obs_scale None = the benchmark's default
    config, bench = prepare(replace(base, **overrides))
    if learned:
        config = replace(config, obs_scale=None)
    if noise_dims is not None:
        x, y, part = gaussians8_data(noise_dims=noise_dims, seed=config.seed)
        bench = make_benchmark("gaussians8", x, y, part, config.seed, ("D1", "D2"),
                               GAUSSIANS8_DEFAULTS, GAUSSIANS8_DESCRIPTION, config.subsample)
    start = time.perf_counter()
    result = protocol_fn(bench, config)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="gaussians8")
    parser.add_argument("--protocol", default="sequential",
                        choices=("sequential", "reproducibility"))
    parser.add_argument("--only", default=",".join(CANDIDATES),
                        help=f"comma-separated candidates: {', '.join(CANDIDATES)}")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--data", default=None)
    parser.add_argument("--split-by", default=None)
    parser.add_argument("--json", default=None, help="write every candidate's table here")
    args = parser.parse_args()
    base = RunConfig(benchmark="data" if args.data else args.benchmark, protocol=args.protocol,
                     methods=("vae", "rvae"), seeds=args.seeds, epochs=args.epochs,
                     data=args.data, split_by=args.split_by, ensemble=True, figures="none")
    protocol_fn = run_sequential if args.protocol == "sequential" else run_reproducibility
    out = {}
    for name in args.only.split(","):
        result, wall = run_candidate(name, base, protocol_fn)
        norm, raw = result.table.normalized["rvae"], result.table.raw
        cells = "  ".join(f"{col} {s.median:+.3f} ({s.q25:+.3f}, {s.q75:+.3f})"
                          for col, s in norm.items())
        raws = "  ".join(f"{col} vae {raw['vae'][col].median:.3f} "
                         f"rvae {raw['rvae'][col].median:.3f}"
                         for col in norm)
        spread = result.extra.get("latent_spread", {})
        print(f"{name:16s} {cells} | raw {raws} | spread D1 vae {spread.get('vae', 0):.2f} "
              f"rvae {spread.get('rvae', 0):.2f} | {wall:.0f} s", flush=True)
        out[name] = {"normalized": {c: s.as_dict() for c, s in norm.items()},
                     "raw": {m: {c: s.as_dict() for c, s in cols.items()}
                             for m, cols in raw.items()},
                     "latent_spread": spread, "wall_time_s": wall}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main()
