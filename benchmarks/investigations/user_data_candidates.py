"""Why the sequential R-VAE loses to the VAE on users' vector data, candidate by candidate, over
several templates (the data split, template and target seed: one template's luck moves a
table by more than its IQR).

For every data set (``vector_sets.py`` writes them), candidate and template seed, the VAE and the
R-VAE are trained at full settings (200 epochs, 10 seeds, ``--ensemble``); each line gives the
R-VAE's normalised LSD on D1 / D2 (median (q25, q75); negative = closer to the joint model than
the VAE), the raw medians, the template's own LSD to the target on D1, the latent spreads, and
the D1-D2 separation (centroid distance over the pooled std) of each model. ``--protocol
reproducibility`` gives RV (R-VAE minus VAE) instead. A summary per candidate closes the run:
the median over templates of each cell's median, and on how many templates it is <= 0.

    python benchmarks/investigations/vector_sets.py vector_sets
    python benchmarks/investigations/user_data_candidates.py --dir vector_sets \\
        --sets wine,breast_cancer,diabetes,digits64 --templates 0,1,2,3 --only defaults,nll

Candidates change the run's config (``rho``, ``anchor_decoder``, ...) or, for the ones no option
covers, the anchors' targets or the decoder term through the ``_`` hooks below (investigation
only: nothing here is a rosetta-cl option).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from vector_sets import SPLITS

from rosetta_cl import RunConfig, losses, training, user_data
from rosetta_cl.experiments.runner import prepare
from rosetta_cl.protocols import run_reproducibility, run_sequential

# name -> RunConfig overrides; keys starting with "_" are hooks (see apply_hooks)
CANDIDATES = {
    "defaults": {},
    "rho0.19": {"rho": 0.1875},  # rho / k: each anchor weighs rho data points, not rho * k
    "rho0.5": {"rho": 0.5},
    "k4": {"rosetta_points": 4},
    "k8": {"rosetta_points": 8},
    "k-sqrt": {"_k_sqrt": True},  # k = sqrt(D1's training points), in [4, 64]
    "rho-mass": {"_rho_mass": True},  # the anchors weigh as much as D1 would: rho = n1 B / (n2 k^2)
    "z-mass": {"_z_scale": "mass"},  # z_r * sqrt(n1 / (n1 + n2)): D1's share of the prior
    "z-mass+k-sqrt": {"_z_scale": "mass", "_k_sqrt": True},
    "dec-mean": {"_decoder_scale": "per-feature"},  # decoder term / D (mean over features)
    "dec0.1": {"_decoder_scale": 0.1},
    "nll": {"anchor_decoder": "nll"},  # -log p(x_r | z_r): in nats, scale-free (ours)
    "encoder": {"anchor_decoder": "none"},
    "epochs1000": {"epochs": 1000},
    "latent4": {"latent_dim": 4},
    "latent8": {"latent_dim": 8},
    "gaussian": {"_likelihood": "gaussian"},  # for data in [0, 1]: Gaussian, learned noise
    "gaussian-obs0.3": {"_likelihood": "gaussian", "obs_scale": 0.3},
    "latent8-k64": {"latent_dim": 8, "rosetta_points": 64},  # the digits benchmark's
    "latent2-k64": {"latent_dim": 2, "rosetta_points": 64},
    "latent8-k16": {"latent_dim": 8, "rosetta_points": 16},
}
ORIGINAL = {"template": training.Trainer.template, "decoder_term": losses.decoder_term,
            "derive_defaults": user_data.derive_defaults}


def apply_hooks(hooks: dict, n1: int, n2: int) -> None:
    """Install (or, with no hooks, undo) the investigation-only changes."""
    z_scale = hooks.get("_z_scale")

    def template(self):
        anchors, latents = ORIGINAL["template"](self)
        if z_scale is not None:
            factor = (n1 / (n1 + n2)) ** 0.5 if z_scale == "mass" else float(z_scale)
            anchors = type(anchors)(anchors.x, anchors.z * factor)
        return anchors, latents

    training.Trainer.template = template
    scale = hooks.get("_decoder_scale")

    def decoder_term(model, x, z, kind="squared"):
        term = ORIGINAL["decoder_term"](model, x, z, kind)
        return term / x.shape[1] if scale == "per-feature" else term * (scale or 1.0)

    losses.decoder_term = decoder_term
    likelihood = hooks.get("_likelihood")

    def derive_defaults(x, part):
        derived = ORIGINAL["derive_defaults"](x, part)
        if likelihood is None:
            return derived
        return replace(derived, defaults=replace(derived.defaults, likelihood=likelihood))

    user_data.derive_defaults = derive_defaults


def run_one(name: str, data: str, split: str, template_seed: int, args) -> dict:
    overrides = dict(CANDIDATES[name])
    hooks = {k: overrides.pop(k) for k in list(overrides) if k.startswith("_")}
    apply_hooks({"_likelihood": hooks.get("_likelihood")}, 1, 1)  # before the data is read
    base = RunConfig(benchmark="data", protocol=args.protocol, methods=("vae", "rvae"),
                     seeds=args.seeds, data=data, split_by=split, ensemble=True,
                     figures="none", seed=template_seed)
    config, bench = prepare(replace(base, **overrides))
    n1, n2 = (len(bench.train_stream[i].dataset) for i in (0, 1))
    apply_hooks(hooks, n1, n2)
    if hooks.get("_k_sqrt"):
        config = replace(config, rosetta_points=int(min(64, max(4, round(n1 ** 0.5)))))
    if hooks.get("_rho_mass"):
        config = replace(config, rho=n1 * config.batch_size / (n2 * config.rosetta_points ** 2))
    records = []
    protocol = run_sequential if args.protocol == "sequential" else run_reproducibility
    start = time.perf_counter()
    result = protocol(bench, config, emit=records.append)
    wall = time.perf_counter() - start
    separation = {}
    for record in records:
        latents = record.arrays["latents.npz"]
        if "mu_D2" in latents:
            a, b = latents["mu_D1"], latents["mu_D2"]
            pooled = np.sqrt((a.var(0).sum() + b.var(0).sum()) / 2)
            separation.setdefault(record.name.split("/")[0], []).append(
                float(np.linalg.norm(a.mean(0) - b.mean(0)) / pooled))
    return {"config": config, "result": result, "wall": wall,
            "separation": {k: float(np.median(v)) for k, v in separation.items()}}


def line(data_name: str, name: str, seed: int, run: dict) -> str:
    result, config = run["result"], run["config"]
    norm, raw = result.table.normalized["rvae"], result.table.raw
    cells = " ".join(f"{col} {s.median:+.2f} ({s.q25:+.2f}, {s.q75:+.2f})"
                     for col, s in norm.items())
    raws = " ".join(f"{raw['vae'][c].median:.3g}/{raw['rvae'][c].median:.3g}" for c in norm)
    spread = result.extra.get("latent_spread", {})
    template = result.extra.get("template_to_target_LSD_D1")
    seps = " ".join(f"{k} {v:.2f}" for k, v in run["separation"].items())
    return (f"{data_name:14s} {name:14s} seed {seed} k {config.rosetta_points} rho "
            f"{config.rho:.3g} | {cells} | raw vae/rvae {raws} | template->target D1 "
            f"{'-' if template is None else f'{template:.3g}'} | spread vae "
            f"{spread.get('vae', 0):.2f} rvae {spread.get('rvae', 0):.2f} | separation {seps} |"
            f" {run['wall']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="vector_sets", help="where vector_sets.py wrote them")
    parser.add_argument("--sets", default="wine,breast_cancer,diabetes,digits64")
    parser.add_argument("--only", default="defaults",
                        help=f"comma-separated candidates: {', '.join(CANDIDATES)}")
    parser.add_argument("--templates", default="0,1,2,3", help="template (split) seeds")
    parser.add_argument("--seeds", type=int, default=10, help="runs per method")
    parser.add_argument("--protocol", default="sequential",
                        choices=("sequential", "reproducibility"))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 when two of these run side by side)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    summary: dict[tuple[str, str], dict[str, list[float]]] = {}
    for data_name in args.sets.split(","):
        path = str(Path(args.dir) / f"{data_name}.npz")
        for name in args.only.split(","):
            for seed in (int(s) for s in args.templates.split(",")):
                run = run_one(name, path, SPLITS[data_name], seed, args)
                print(line(data_name, name, seed, run), flush=True)
                for col, s in run["result"].table.normalized["rvae"].items():
                    summary.setdefault((data_name, name), {}).setdefault(col, []).append(s.median)
    print("\nsummary: median over templates of the R-VAE's normalised median [templates <= 0]")
    for (data_name, name), cols in summary.items():
        cells = "  ".join(f"{col} {np.median(v):+.2f} [{sum(x <= 0 for x in v)}/{len(v)}]"
                          for col, v in cols.items())
        print(f"{data_name:14s} {name:14s} {cells}")


if __name__ == "__main__":
    main()
