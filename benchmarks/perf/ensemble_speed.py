"""Benchmark 5: M seeds trained as one vectorised ensemble (`--ensemble`) against M sequential runs.

Part 1, training: the R-VAE (anchor term, per-epoch validation) on gaussians8's D2 for seeds
1..M, as M `RosettaVAEStrategy` runs one after the other (the default path) and as one
`train_ensemble` call; interleaved; also how far apart the two are (latent means on the
validation data, per-epoch metrics): they replay the same random streams, so only float
rounding separates them. Over 200 epochs training amplifies rounding differences, so the
yardstick is how far the sequential runs move when their initial weights are scaled by
(1 + 1e-7), i.e. perturbed at float32 rounding level (printed beside it).
Part 2, protocol: the whole gaussians8 sequential + reproducibility protocols through
`run_benchmark` (MLflow tracking and figures on, as users run them) with and without
`ensemble=True`.

    python benchmarks/perf/ensemble_speed.py          # M = 10, 200 epochs (target >= 4x)
    python benchmarks/perf/ensemble_speed.py --tiny
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, interleaved, median, parser
from loop_overhead import setup

from rosetta_cl import RunConfig, run_benchmark
from rosetta_cl.models.vae import encode_means
from rosetta_cl.training.ensemble import Objective, train_ensemble


def sequential(config, x, val_x, anchors, seeds, epochs, rho=1.5, perturb=0.0):
    """(models, per-epoch histories) of the strategies, one seed after the other; ``perturb``
    scales every initial weight by (1 + perturb)."""
    from avalanche.benchmarks.scenarios import benchmark_from_datasets

    from rosetta_cl.data.streams import tensor_dataset
    from rosetta_cl.methods.epoch_metrics import MetricHistory
    from rosetta_cl.methods.strategies import RosettaVAEStrategy
    from rosetta_cl.models.vae import VAE

    experience = benchmark_from_datasets(
        train=[tensor_dataset(x.numpy(), torch.zeros(len(x)).numpy())]).train_stream[0]
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        model, history = VAE(config), MetricHistory()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(1 + perturb)
        RosettaVAEStrategy(model=model, k=len(anchors), rho=rho, anchors=anchors, select=False,
                           train_epochs=epochs, val_x=val_x, seed=seed,
                           loggers=[history]).train(experience)
        out.append((model, history.values))
    return out


def ensemble(config, x, val_x, anchors, seeds, epochs, rho=1.5):
    runs = train_ensemble(config, seeds, x, objective=Objective(1.0, rho, anchors),
                          epochs=epochs, val_x=val_x)
    return [(run.model, run.history) for run in runs]


def differences(a, b, val_x) -> tuple[float, float, float]:
    """(max |mu_a - mu_b| on val_x, max |mu| there, max |metric_a - metric_b| over epochs)."""
    mu = max(float((encode_means(ma, val_x) - encode_means(mb, val_x)).abs().max())
             for (ma, _), (mb, _) in zip(a, b, strict=True))
    scale = max(float(encode_means(m, val_x).abs().max()) for m, _ in a)
    metric = max(abs(p - q) for (_, ha), (_, hb) in zip(a, b, strict=True) for name in hb
                 for p, q in zip(ha[name], hb[name], strict=True))
    return mu, scale, metric


def main(argv=None) -> dict:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=None, help="M (default 10)")
    p.add_argument("--protocol-repeats", type=int, default=None,
                   help="repeats of part 2 (default 1; 0 skips it)")
    args = p.parse_args(argv)
    members = args.members or (3 if args.tiny else 10)
    epochs = 2 if args.tiny else 200
    repeats = args.repeats or (1 if args.tiny else 3)
    protocol_repeats = 1 if args.protocol_repeats is None else args.protocol_repeats
    config, x, val_x, anchors = setup("gaussians8", 100 if args.tiny else None)
    seeds = list(range(1, members + 1))
    last = {}

    def variant(name, fn):
        def call():
            last[name] = fn(config, x, val_x, anchors, seeds, epochs)
        return call

    times = interleaved({"sequential": variant("sequential", sequential),
                         "ensemble": variant("ensemble", ensemble)}, repeats, warmup=0)
    mu_diff, mu_scale, metric_diff = differences(last["sequential"], last["ensemble"], val_x)
    perturbed = sequential(config, x, val_x, anchors, seeds, epochs, perturb=1e-7)
    rounding_mu, _, rounding_metric = differences(last["sequential"], perturbed, val_x)
    seq, ens = median(times["sequential"]), median(times["ensemble"])
    rows = [{"part": f"training, R-VAE x {members} seeds, {len(x)} points", "sequential s": seq,
             "ensemble s": ens, "speed-up": seq / ens, "repeats": repeats}]
    if protocol_repeats:
        with tempfile.TemporaryDirectory() as tmp:
            uri = f"sqlite:///{tmp}/mlflow.db"
            tables = {}

            def protocols(ensemble_flag):
                def call():
                    for protocol in ("sequential", "reproducibility"):
                        config = RunConfig(benchmark="gaussians8", protocol=protocol,
                                           epochs=epochs, seeds=members, ensemble=ensemble_flag,
                                           figures="pca" if args.tiny else "auto")
                        result = run_benchmark(config, tracking_uri=uri)
                        tables[ensemble_flag, protocol] = result.table.markdown()
                return call

            wall = interleaved({"sequential": protocols(False), "ensemble": protocols(True)},
                               protocol_repeats, warmup=0)
        seq, ens = median(wall["sequential"]), median(wall["ensemble"])
        rows.append({"part": f"protocols, sequential + reproducibility, 3 methods x {members}"
                             " seeds", "sequential s": seq, "ensemble s": ens,
                     "speed-up": seq / ens, "repeats": protocol_repeats})
        for (flag, protocol), table in sorted(tables.items()):
            print(f"{protocol}, {'ensemble' if flag else 'sequential'}:\n{table}\n")
    result = emit(f"Many seeds at once, gaussians8, {epochs} epochs (target speed-up >= 4x)",
                  rows, args.json_path, {"max |mu_ensemble - mu_sequential|": mu_diff,
                                         "max |mu|": mu_scale,
                                         "max |metric difference|": metric_diff,
                                         "rounding yardstick: max |mu difference|": rounding_mu,
                                         "rounding yardstick: max |metric difference|":
                                             rounding_metric})
    print(f"\nensemble vs sequential after {epochs} epochs: max |mu difference| {mu_diff:.3g} "
          f"(max |mu| {mu_scale:.3g}), max per-epoch metric difference {metric_diff:.3g}; "
          f"sequential vs sequential with weights perturbed by 1e-7: {rounding_mu:.3g} and "
          f"{rounding_metric:.3g}")
    return result


if __name__ == "__main__":
    main()
