"""Bob starts from Alice's model (``train --init-from-anchors``, ``--no-reinit``) or from fresh
weights (the paper's setting), on vector sets through the continual protocol, two parts: Alice's
VAE trains on D1 and selects k anchors; every method then trains on D2 (plus the x_r as data)
either from fresh weights (``--reinit``) or from Alice's weights (``--no-reinit``, the same start
as ``train --init-from-anchors``), with or without the EWC and LwF plugins. Scored after D2 by
the protocol: LSD of each model's latent means to the model trained jointly on D1 u D2 (one
affine map), on D1's and D2's validation points.

Printed per set and setting, medians over seeds: the raw LSD on D1 and D2 for each method and
the R-VAE's normalised to the VAE of the same setting (R-VAE / VAE - 1; negative: the R-VAE is
closer to the joint model).

    python benchmarks/investigations/warm_start.py VECTOR_DIR [--sets wine,...] [--seeds 3]

VECTOR_DIR holds ``vector_sets.py``'s files; ``gaussians8`` is the built-in stream; ``atlas``
is the demo atlas's two labs as one file (Bob's genes in Alice's order, part 0 | 1).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from rosetta_cl import RunConfig, run_benchmark

SETTINGS = {  # name -> (reinit, plugins)
    "fresh": (True, ()),
    "warm": (False, ()),
    "warm+ewc": (False, ("ewc:ewc_lambda=100",)),
    "warm+lwf": (False, ("lwf",)),
}
SPLITS = {"wine": "label:0|1,2", "breast_cancer": "label:0|1", "diabetes": "label:0|1",
          "digits64": "label:0,1,2,3,4|5,6,7,8,9", "atlas": None}


def atlas_file(out: Path) -> Path:
    """The demo atlas's two labs as one .npz: x (Alice's gene order), part 0 (Alice) | 1 (Bob)."""
    import anndata

    from rosetta_cl.data.demo import write_atlas_demo

    data = write_atlas_demo(out / "atlas")
    alice = anndata.read_h5ad(data / "alice.h5ad")
    bob = anndata.read_h5ad(data / "bob.h5ad")[:, list(alice.var_names)]
    x = np.concatenate([np.asarray(alice.X), np.asarray(bob.X)]).astype(np.float32)
    part = np.repeat([0, 1], [alice.n_obs, bob.n_obs])
    path = out / "atlas.npz"
    np.savez(path, x=x, part=part, features=np.array(list(alice.var_names)))
    return path


def config_for(name: str, vectors: Path, out: Path, reinit: bool, plugins, seeds: int
               ) -> RunConfig:
    common = {"protocol": "continual", "methods": ("vae", "rvae"), "seeds": seeds,
              "reinit": reinit, "plugins": tuple(plugins), "figures": "none"}
    if name == "gaussians8":
        return RunConfig(benchmark="gaussians8", **common)
    path = atlas_file(out) if name == "atlas" else vectors / f"{name}.npz"
    return RunConfig(data=str(path), split_by=SPLITS[name], **common)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("vectors")
    parser.add_argument("--sets", default="gaussians8,wine,breast_cancer,diabetes,digits64,atlas")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="warm_start_out")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["ROSETTA_CL_DATA"] = str(out / "cache")
    print("set | setting | VAE LSD D1 | VAE LSD D2 | R-VAE LSD D1 | R-VAE LSD D2 | "
          "R-VAE/VAE-1 D1 | R-VAE/VAE-1 D2 | s", flush=True)
    for name in args.sets.split(","):
        for setting in args.settings.split(","):
            reinit, plugins = SETTINGS[setting]
            config = config_for(name, Path(args.vectors), out, reinit, plugins, args.seeds)
            start = time.perf_counter()
            result = run_benchmark(config, tracking_uri=f"sqlite:///{out}/{name}.db")
            raw = {m: {c.rsplit("/", 1)[-1]: float(np.median(v)) for c, v in cols.items()
                       if c.endswith(("LSD_D1", "LSD_D2"))}
                   for m, cols in result.values.items()}
            vae, rvae = raw["vae"], raw["rvae"]
            rel = [rvae[p] / vae[p] - 1 for p in ("LSD_D1", "LSD_D2")]
            print(f"{name} | {setting} | {vae['LSD_D1']:.3g} | {vae['LSD_D2']:.3g} | "
                  f"{rvae['LSD_D1']:.3g} | {rvae['LSD_D2']:.3g} | {rel[0]:+.2f} | "
                  f"{rel[1]:+.2f} | {time.perf_counter() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
