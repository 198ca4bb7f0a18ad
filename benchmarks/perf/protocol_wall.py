"""Benchmark 4: wall time of the whole gaussians8 sequential + reproducibility protocols as
users run them (`run_benchmark`, MLflow tracking and figures on) against the minimal
plain-PyTorch script `plain_protocol.py` doing the same training (paper: 200 epochs, 10 seeds).

    python benchmarks/perf/protocol_wall.py            # target ratio <= 1.3
    python benchmarks/perf/protocol_wall.py --tiny
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plain_protocol
from common import emit, interleaved, median, parser

from rosetta_cl import RunConfig, run_benchmark


def main(argv=None) -> dict:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    args = p.parse_args(argv)
    epochs = args.epochs or (2 if args.tiny else 200)
    seeds = args.seeds or (3 if args.tiny else 10)
    repeats = args.repeats or (1 if args.tiny else 3)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"

        tables = {}

        def ours():
            for protocol in ("sequential", "reproducibility"):
                result = run_benchmark(RunConfig(benchmark="gaussians8", protocol=protocol,
                                                 epochs=epochs, seeds=seeds), tracking_uri=uri)
                tables[protocol] = result.table.as_dict()

        times = interleaved({"plain script": lambda: plain_protocol.run(epochs, seeds),
                             "rosetta-cl": ours}, repeats, warmup=0)
    plain = median(times["plain script"])
    rows = [{"variant": name, "median s": median(t), "ratio": median(t) / plain,
             "repeats": repeats} for name, t in times.items()]
    return emit(f"Protocol wall time, gaussians8 sequential + reproducibility, {epochs} epochs, "
                f"{seeds} seeds (target ratio <= 1.3)", rows, args.json_path,
                {"rosetta-cl tables": tables})


if __name__ == "__main__":
    main()
