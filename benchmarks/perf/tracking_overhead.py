"""Benchmark 3: what MLflow tracking adds to a run: the gaussians8 sequential protocol (template,
target, VAE / beta-VAE / R-VAE; 200 epochs) with logging on (per-epoch metrics, parameters,
latents, models, anchors, summary; figures off) against the same run with logging off, and
the figures drawn after training as a third variant.

    python benchmarks/perf/tracking_overhead.py        # target: <= 2% extra
    python benchmarks/perf/tracking_overhead.py --tiny
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, interleaved, median, parser

from rosetta_cl import RunConfig, run_benchmark


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    repeats = args.repeats or (1 if args.tiny else 5)
    config = RunConfig(benchmark="gaussians8", seeds=1, epochs=2 if args.tiny else 200,
                       subsample=100 if args.tiny else None, figures="none")
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        times = interleaved({
            "off": lambda: run_benchmark(config, track=False),
            "on": lambda: run_benchmark(config, tracking_uri=uri),
            "on + figures": lambda: run_benchmark(replace(config, figures="auto"),
                                                  tracking_uri=uri),
        }, repeats)
    off = median(times["off"])
    rows = [{"variant": name, "median s": median(t), "extra vs off": median(t) / off - 1,
             "repeats": repeats} for name, t in times.items()]
    return emit(f"Tracking overhead, gaussians8 sequential, 5 models x {config.epochs} epochs "
                "(target: logging <= +2%)", rows, args.json_path)


if __name__ == "__main__":
    main()
