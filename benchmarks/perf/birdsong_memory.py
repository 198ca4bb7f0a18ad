"""Peak memory and load time of the birdsong reader for N spectrograms (issue 17: N = 50,000).

    python benchmarks/perf/birdsong_memory.py [--n 50000] [--side 128] [--dir DIR] [--json FILE]

``--tiny`` (300 spectrograms of 16 x 16) only checks that it works (tests/test_perf.py).

Writes N AVA-format 128 x 128 float32 spectrograms (``rosetta_cl.data.demo``, 100 per
``syllables_XXXX.hdf5`` file, 10 birds; 3.3 GB on disk for 50,000) into DIR (default: a temp
dir, removed afterwards), then, each in a fresh process so that peaks do not mix: (1) importing
the reader, (2) reading every spectrogram (``birdsong_data.read_birdsong``), (3) building the
whole ``birdsong`` benchmark (split by bird, 60/40 train/validation, the streams). Peak = the
process's maximum resident set size (``ru_maxrss``); the array sizes are printed beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = {
    "import": "import rosetta_cl.data.birdsong, rosetta_cl.data.streams",
    "read": "from rosetta_cl.data.birdsong import read_birdsong; read_birdsong(ROOT)",
    "benchmark": "from rosetta_cl.data.streams import birdsong; birdsong(0, data_dir=ROOT)",
}
PROBE = """
import resource, sys, time
from pathlib import Path
ROOT = Path(sys.argv[1])
import rosetta_cl.data.birdsong, rosetta_cl.data.streams
start = time.perf_counter()
{step}
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def write(root: Path, n: int, side: int, birds: int = 10) -> float:
    from rosetta_cl.data.demo import write_birdsong_demo

    start = time.perf_counter()
    for b in range(birds):  # one bird at a time: the generator holds one bird's spectrograms
        write_birdsong_demo(root / f"part{b}", birds=1, syllables_per_bird=n // birds,
                            sessions=1, per_file=100, seed=b, side=side)
        (root / f"part{b}" / "bird01").rename(root / f"bird{b + 1:02d}")
        (root / f"part{b}").rmdir()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--dir", default=None, help="Keep the generated files here.")
    parser.add_argument("--tiny", action="store_true", help="300 spectrograms of 16 x 16.")
    parser.add_argument("--json", default=None, metavar="FILE", help="Write the rows here too.")
    args = parser.parse_args()
    if args.tiny:
        args.n, args.side = 300, 16
    root = Path(args.dir or tempfile.mkdtemp(prefix="birdsong_memory_"))
    try:
        if not any(root.glob("bird*/*/*.hdf5")):
            print(f"writing {args.n} spectrograms of {args.side}x{args.side} to {root}: "
                  f"{write(root, args.n, args.side):.1f} s")
        size = sum(p.stat().st_size for p in root.rglob("*.hdf5")) / 2**30
        values = args.n * args.side ** 2
        print(f"on disk {size:.2f} GiB; as float16 {values * 2 / 2**30:.2f} GiB, as float32 "
              f"{values * 4 / 2**30:.2f} GiB")
        print("| step | wall (s) | peak RSS (GiB) |\n|---|---|---|")
        rows = []
        for name, step in STEPS.items():
            out = subprocess.run([sys.executable, "-c", PROBE.format(step=step), str(root)],
                                 capture_output=True, text=True, check=True)
            wall, peak = (float(v) for v in out.stdout.split())
            rows.append({"step": name, "wall_s": wall, "peak_rss_gib": peak})
            print(f"| {name} | {wall:.1f} | {peak:.2f} |")
        if args.json:
            Path(args.json).write_text(json.dumps({"n": args.n, "side": args.side,
                                                   "float16_gib": values * 2 / 2**30,
                                                   "rows": rows}, indent=1))
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
