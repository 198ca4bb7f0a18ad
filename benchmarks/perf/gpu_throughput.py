"""Benchmark 6: throughput on the training device: the MNIST sequential protocol at full size
(images per second of training, GPU utilisation sampled with nvidia-smi every 0.5 s) and
FAISS k-means on the GPU against the CPU (N = 60,000 latent means, d 16, k 64).

Measures whatever device it runs on (`--device auto`: CUDA when present) and says which; on a
machine without a GPU the utilisation and FAISS-GPU entries are "n/a".

    python benchmarks/perf/gpu_throughput.py                  # mnist, conv, 200 epochs, 10 seeds
    python benchmarks/perf/gpu_throughput.py --epochs 20 --seeds 3
    python benchmarks/perf/gpu_throughput.py --tiny           # digits, 1 epoch: checks it works
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, median, parser
from selection_speed import latent_means

from rosetta_cl import RunConfig, run_benchmark
from rosetta_cl.anchors.selectors import kmeans_faiss
from rosetta_cl.config.options import resolve_device
from rosetta_cl.experiments.runner import prepare


class Utilisation:
    """Samples GPU utilisation (%) with nvidia-smi in a background thread."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.samples = interval, []
        self.available = shutil.which("nvidia-smi") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True,
                                 text=True, check=False)
            if out.returncode == 0 and out.stdout.strip():
                self.samples.append(float(out.stdout.split()[0]))
            self._stop.wait(self.interval)

    def __enter__(self):
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.available:
            self._thread.join()


def images_trained(config: RunConfig, bench) -> int:
    """Training examples processed by the sequential protocol: template on D1, target on
    D1 u D2, every method and seed on D2 u x_r, each for ``config.epochs``."""
    n1, n2 = (len(e.dataset) for e in bench.train_stream)
    per_epoch = n1 + (n1 + n2) + len(config.methods) * config.seeds * (n2 + config.rosetta_points)
    return per_epoch * config.epochs


def faiss_rows(tiny: bool) -> list[dict]:
    z = latent_means(6000 if tiny else 60_000, 16)
    rows = []
    for where in ("cpu", "gpu"):
        if where == "gpu" and not _faiss_gpus():
            rows.append({"part": f"FAISS k-means, N {len(z)}, d 16, k 64, on gpu",
                         "value": "n/a (no FAISS GPU here)", "unit": ""})
            continue
        times = []
        for _ in range(1 if tiny else 5):
            start = time.perf_counter()
            kmeans_faiss(z, 64, seed=0, gpu=where == "gpu")
            times.append(time.perf_counter() - start)
        rows.append({"part": f"FAISS k-means, N {len(z)}, d 16, k 64, on {where}",
                     "value": median(times), "unit": "s (median)"})
    return rows


def _faiss_gpus() -> int:
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def main(argv=None) -> dict:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--subsample", type=int, default=None)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    config = RunConfig(
        benchmark="digits" if args.tiny else "mnist", protocol="sequential", device=str(device),
        epochs=args.epochs or (1 if args.tiny else 200),
        seeds=args.seeds or (2 if args.tiny else 10),
        subsample=args.subsample or (100 if args.tiny else None), data_dir=args.data_dir,
        rosetta_points=8 if args.tiny else None, figures="none")
    config, bench = prepare(config)
    images = images_trained(config, bench)
    with tempfile.TemporaryDirectory() as tmp, Utilisation() as gpu:
        start = time.perf_counter()
        run_benchmark(config, tracking_uri=f"sqlite:///{tmp}/mlflow.db")
        wall = time.perf_counter() - start
    utilisation = (f"{median(gpu.samples):.0f} (mean {sum(gpu.samples) / len(gpu.samples):.0f})"
                   if gpu.samples else "n/a (no nvidia-smi)")
    rows = [
        {"part": f"{config.benchmark} sequential protocol, {config.arch}, {config.epochs} epochs, "
                 f"{config.seeds} seeds, on {device}", "value": wall, "unit": "s wall"},
        {"part": "training images per second (whole protocol)", "value": images / wall,
         "unit": "images/s"},
        {"part": "GPU utilisation during the protocol", "value": utilisation,
         "unit": "% (median of samples)"},
        *faiss_rows(args.tiny),
    ]
    return emit(f"Throughput on {device}", rows, args.json_path, {"images": images})


if __name__ == "__main__":
    main()
