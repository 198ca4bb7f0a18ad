"""Benchmark 8: `--executor ray` against `--executor local`, whole commands as users type them
(process start, Ray start-up, data, training, MLflow writes; a fresh store per command).

    python benchmarks/perf/ray_throughput.py             # gaussians8 (200 epochs, 10 seeds) +
                                                         # a digits spec; target ray >= 1.6x
    python benchmarks/perf/ray_throughput.py --tiny      # seconds: checks it works (CI)
    python benchmarks/perf/ray_throughput.py --gpu       # MNIST conv trainings per GPU at 1, 2,
                                                         # 4, 8 at once: images/s, GPU busy %

Both executors must print the same table (checked: the benchmark fails otherwise). Workloads
run interleaved (local, ray, ray, local, ...), medians of ``--repeats``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, interleaved, median, parser

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "rosetta_cl.cli"]
WORKLOADS = {
    "gaussians8 sequential, 200 epochs, 10 seeds": ["run", "gaussians8", "--figures", "none"],
    "digits spec table8 (k = 16, 64), 20 epochs, 3 seeds": [
        "run", "table8_n_rosetta_points_sequential_digits",
        "--quick", "--epochs", "20", "--figures", "none"],
}
TINY = {
    "gaussians8 sequential, 2 epochs, 2 seeds": ["run", "gaussians8", "--epochs", "2",
                                                 "--seeds", "2", "--figures", "none"],
}


def command(args: list[str], executor: list[str], tables: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        out = subprocess.run(CLI + args + executor + ["--json"], env=env, capture_output=True,
                             text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{' '.join(args + executor)} failed: {out.stderr[-2000:]}")
    tables.append(json.loads(out.stdout)["table"])


def cpu_rows(workloads: dict, repeats: int) -> list[dict]:
    rows = []
    for name, args in workloads.items():
        tables = {"local": [], "ray": []}
        times = interleaved({
            "local": lambda a=args, t=tables: command(a, ["--executor", "local"], t["local"]),
            "ray": lambda a=args, t=tables: command(a, ["--executor", "ray"], t["ray"])},
            repeats, warmup=0)
        same = all(t == tables["local"][0] for t in tables["local"] + tables["ray"])
        if not same:
            raise SystemExit(f"{name}: local and ray printed different tables")
        local, ray = median(times["local"]), median(times["ray"])
        rows.append({"workload": name, "local s": local, "ray s": ray,
                     "speed-up": local / ray, "same table": same, "repeats": repeats})
    return rows


def gpu_rows(concurrency=(1, 2, 4, 8), epochs: int = 2) -> list[dict]:
    """MNIST conv VAEs on one GPU: the sequential protocol with N seeds of the VAE, each
    training 1/N of the GPU, so N train at once (the template and target before them alone).
    Images/s = every training's epochs x its training images / the command's wall time."""
    import torch

    from rosetta_cl.registry import BENCHMARKS

    if not torch.cuda.is_available():
        raise SystemExit("--gpu: no CUDA device here")
    bench = BENCHMARKS["mnist"].make(0)
    d1, d2 = (len(e.dataset) for e in bench.train_stream)
    rows, base = [], None
    for n in concurrency:
        busy: list[float] = []
        stop = threading.Event()

        def sample(busy=busy, stop=stop):
            while not stop.is_set():
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, check=False)
                if out.returncode == 0 and out.stdout.strip():
                    busy.append(float(out.stdout.split()[0]))
                time.sleep(0.5)

        thread = threading.Thread(target=sample, daemon=True)
        args = ["run", "mnist", "--methods", "vae", "--seeds", str(n), "--epochs", str(epochs),
                "--device", "cuda", "--figures", "none"]
        executor = ["--executor", "ray", "--cpus-per-training", "1", "--gpus-per-training",
                    f"{1 / n:.4f}"]
        thread.start()
        start = time.perf_counter()
        command(args, executor, [])
        wall = time.perf_counter() - start
        stop.set()
        thread.join()
        k = 64  # the x_r added to the methods' data
        images = epochs * (d1 + (d1 + d2) + n * (d2 + k))  # template, target, N methods
        rate = images / wall
        base = base or rate
        rows.append({"trainings at once": n, "images/s": rate, "x one at a time": rate / base,
                     "GPU busy % (median)": median(busy) if busy else float("nan"),
                     "wall s": wall})
    return rows


def main(argv=None) -> dict:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--gpu", action="store_true", help="the GPU sweep instead of the CPU table")
    args = p.parse_args(argv)
    if args.gpu:
        return emit("ray on one GPU: MNIST conv trainings side by side", gpu_rows(),
                    args.json_path)
    repeats = args.repeats or (1 if args.tiny else 3)
    rows = cpu_rows(TINY if args.tiny else WORKLOADS, repeats)
    return emit("--executor ray vs local (whole commands, interleaved, medians)", rows,
                args.json_path)


if __name__ == "__main__":
    main()
