"""Does Bob's anchored model live in Alice's published latent space? (docs: Paper vs ours,
"Sharing a latent space between labs").

For each demo-atlas seed: Alice trains one VAE on alice.h5ad (defaults, k 16) and publishes it;
Bob trains VAEs (the x_r as ordinary data) and R-VAEs anchored to models:/atlas@champion on
bob.h5ad (3 seeds each), from fresh weights and from Alice's VAE (``--init-from-anchors``).
Printed per method and start, medians over Bob's seeds: the anchor fit (mean ||z_r -
mu(x_r)||^2), how many are aligned (fit <= 10% of the anchors' spread), the mean squared
distance between Bob's and Alice's latent means of Bob's cells with no map at all (the same
space?), and their LSD (up to one affine map).

    python benchmarks/investigations/lab_sharing.py OUT_DIR [--seeds 0,1]
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from rosetta_cl import RunConfig, lsd, publish
from rosetta_cl.data.demo import write_atlas_demo
from rosetta_cl.experiments.embed import embed
from rosetta_cl.experiments.train import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    os.environ["ROSETTA_CL_DATA"] = str(out / "cache")
    for seed in (int(s) for s in args.seeds.split(",")):
        data = write_atlas_demo(out / f"atlas{seed}", seed=seed)
        uri = f"sqlite:///{out}/store{seed}.db"
        alice = train(RunConfig(data=str(data / "alice.h5ad"), methods=("vae",), seeds=1,
                                rosetta_points=16), tracking_uri=uri)
        publish(alice.runs[0].run_id, "atlas", alias="champion", tracking_uri=uri)
        bob_config = RunConfig(data=str(data / "bob.h5ad"), methods=("vae", "rvae"), seeds=3,
                               anchors="models:/atlas@champion")
        fresh = train(bob_config, tracking_uri=uri)
        warm = train(bob_config, tracking_uri=uri, init_from_anchors=True)
        reference = embed("models:/atlas/1", str(data / "bob.h5ad"), str(out / "ref.npz"),
                          force=True, tracking_uri=uri)
        z_alice = np.load(reference.path)["z"]
        rows: dict[str, list] = {}
        for start, bob in (("fresh", fresh), ("from Alice's VAE", warm)):
            for run in bob.runs:
                mine = embed(run.run_id, str(data / "bob.h5ad"), str(out / "mine.npz"),
                             force=True, tracking_uri=uri)
                z = np.load(mine.path)["z"]
                rows.setdefault(f"{run.name.split('/')[0]:<5} {start}", []).append(
                    (run.metrics["anchor_fit"], run.metrics["aligned"],
                     float(((z - z_alice) ** 2).sum(1).mean()), lsd(z, z_alice)))
        for method, values in rows.items():
            fit, _, dist, distortion = np.median(np.array(values), axis=0)
            aligned = int(sum(v[1] for v in values))
            print(f"seed {seed} {method:<22} anchor fit {fit:.4g} | aligned {aligned}/"
                  f"{len(values)} | distance to Alice's means {dist:.4g} | LSD {distortion:.4g}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
