"""How long a command takes before it does anything: `rosetta-cl --help`, a one-line input error
and `rosetta-cl benchmarks` (target: each < 1.5 s on 2 cores), against the cost of importing what
a training needs (torch, Avalanche, MLflow), which those three commands must not pay.

    python benchmarks/perf/startup.py [--repeats 7]

Each command runs as a fresh process (the console script), interleaved, medians reported.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 1.5
COMMANDS = {
    "rosetta-cl --help": ["--help"],
    "rosetta-cl run gaussians8 --rho -2 (error)": ["run", "gaussians8", "--rho", "-2"],
    "rosetta-cl benchmarks": ["benchmarks"],
}
REFERENCE = {"python -c 'import torch, avalanche, mlflow'":
             [sys.executable, "-W", "ignore", "-c", "import torch, avalanche, mlflow"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    script = shutil.which("rosetta-cl") or sys.exit("rosetta-cl is not installed here")
    runs = {name: [script, *argv] for name, argv in COMMANDS.items()} | REFERENCE
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as cwd:  # no ./plugins, no ./mlruns
        for _ in range(args.repeats):
            for name, command in runs.items():
                start = time.perf_counter()
                subprocess.run(command, cwd=cwd, capture_output=True, check=False)
                times[name].append(time.perf_counter() - start)
    print(f"{'command':50s} {'median s':>9s} {'min s':>7s}  target")
    for name, values in times.items():
        target = "" if name in REFERENCE else ("ok" if statistics.median(values) < TARGET_S
                                               else f"MISSED (< {TARGET_S} s)")
        print(f"{name:50s} {statistics.median(values):9.2f} {min(values):7.2f}  {target}")


if __name__ == "__main__":
    main()
