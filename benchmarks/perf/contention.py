"""Benchmark: one training alone against two at once, by intra-op thread count (the thread rule).

Each training runs in its own process (as two `rosetta-cl` commands side by side would):
the worker imports, builds its benchmark and trainer, says it is ready, waits for the go, then
trains one VAE (``Trainer.train``, the protocols' path) and reports the seconds of that
training alone. ``alone``: one worker; ``pair``: two workers started together. Variants per
workload: threads 1 (the rule) and threads = the cores (torch's default, what ran before the
rule), each alone and in a pair, interleaved (the order reversed every repeat); medians.

Workloads (the rule is chosen from them): gaussians8 MLP (the main job's model), digits MLP,
conv and resnet (8x8 images), and MNIST-shaped batches (synthetic 28x28 images, 2,000 per part)
through the MLP, conv and resnet.

    python benchmarks/perf/contention.py               # all workloads, 3 repeats
    python benchmarks/perf/contention.py --only gaussians8-mlp,mnist-conv
    python benchmarks/perf/contention.py --tiny        # seconds, for CI

Targets (2 cores): with the rule, a pair takes at most 1.3x one alone, and one alone is no
slower than with the default threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, median, parser

# workload -> (benchmark, arch, epochs, subsample); "mnist-shaped" benchmarks are synthetic
WORKLOADS = {  # epochs: about 2 s of training alone on the 2-core machine
    "gaussians8-mlp": ("gaussians8", "mlp", 100, None),
    "digits-mlp": ("digits", "mlp", 120, None),
    "digits-conv": ("digits", "conv", 60, None),
    "digits-resnet": ("digits", "resnet", 25, None),
    "mnist-mlp": ("mnist-shaped", "mlp", 16, 2000),
    "mnist-conv": ("mnist-shaped", "conv", 3, 2000),
    "mnist-resnet": ("mnist-shaped", "resnet", 1, 2000),
}


def mnist_shaped(seed: int, subsample: int):
    """MNIST's shapes and defaults with random pixels: the cost of a training does not depend
    on the values."""
    import numpy as np

    from rosetta_cl.data.defaults import MNIST_DEFAULTS
    from rosetta_cl.data.streams import make_benchmark

    rng = np.random.default_rng(seed)
    n = 2 * subsample
    x = (rng.random((n, 784)) < 0.2).astype(np.float32)
    y = rng.integers(0, 10, n)
    return make_benchmark("mnist", x, y, (y >= 5).astype(np.int64), seed, ("D1", "D2"),
                          MNIST_DEFAULTS, "MNIST-shaped random images", subsample)


def worker(name: str, threads: int, folder: str, tiny: bool) -> None:
    """One training in this process, timed after the go (``folder/go``)."""
    from rosetta_cl import RunConfig
    from rosetta_cl.experiments.runner import prepare
    from rosetta_cl.training.trainer import Trainer

    benchmark, arch, epochs, subsample = WORKLOADS[name]
    if tiny:
        epochs, subsample = 1, 100
    benches = None
    if benchmark == "mnist-shaped":
        benches = {("mnist", 0, subsample, None, None): mnist_shaped(0, subsample)}
        benchmark = "mnist"
    config, bench = prepare(RunConfig(benchmark=benchmark, arch=arch, methods=("vae",), seeds=1,
                                      epochs=epochs, subsample=subsample, threads=threads),
                            benches)
    trainer = Trainer(bench, config)
    Path(folder, f"ready-{os.getpid()}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.01)
    start = time.perf_counter()
    trainer.train("vae", 1, bench.train_stream[0], name="timed", role="method")
    print(json.dumps({"seconds": time.perf_counter() - start}))


def together(name: str, threads: int, count: int, tiny: bool) -> list[float]:
    """Seconds of each of ``count`` workers training at once."""
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                                "MKL_NUM_THREADS")}
        command = [sys.executable, __file__, "--worker", name, str(threads), folder]
        procs = [subprocess.Popen(command + (["--tiny"] if tiny else []), env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(count)]
        while len(list(Path(folder).glob("ready-*"))) < count:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a {name} worker died before training")
            time.sleep(0.05)
        Path(folder, "go").touch()
        outs = [p.communicate()[0] for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a {name} worker failed")
    return [json.loads(out.strip().splitlines()[-1])["seconds"] for out in outs]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", default=None, help="comma-separated workloads")
    p.add_argument("--worker", nargs=3, default=None, help=argparse_hidden())
    args = p.parse_args()
    if args.worker:
        name, threads, folder = args.worker
        worker(name, int(threads), folder, args.tiny)
        return
    names = args.only.split(",") if args.only else list(WORKLOADS)
    if args.tiny:
        names = names[:1] if not args.only else names
    repeats = args.repeats or (1 if args.tiny else 3)
    cores = os.cpu_count() or 1
    counts = (1, 2)
    thread_options = sorted({1, cores})
    rows = []
    for name in names:
        times: dict[tuple[int, int], list[float]] = {}
        variants = [(t, c) for t in thread_options for c in counts]
        for r in range(repeats):
            for threads, count in (variants if r % 2 == 0 else variants[::-1]):
                runs = together(name, threads, count, args.tiny)
                times.setdefault((threads, count), []).append(median(runs))
        for threads in thread_options:
            alone, pair = median(times[(threads, 1)]), median(times[(threads, 2)])
            rows.append({"workload": name, "threads": threads, "alone_s": alone,
                         "pair_s": pair, "pair/alone": pair / alone,
                         "alone/rule_alone": alone / median(times[(1, 1)])})
        print(json.dumps(rows[-len(thread_options):]), file=sys.stderr, flush=True)
    emit(f"Contention: one training alone vs two at once ({cores} cores, {repeats} repeats)",
         rows, args.json_path, {"cores": cores, "repeats": repeats})


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
