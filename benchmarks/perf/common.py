"""Shared helpers of the performance benchmarks: interleaved timing, medians, a printed table.

Timings on these machines are noisy (pauses of 10-100x happen), so every benchmark runs its
variants interleaved (A B A B ..., the order flipped every repeat) in one process, and reports
medians and the ratio of medians. Nothing here asserts a target: the numbers are printed (and
written as JSON with ``--json FILE``); the README's performance section records them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tiny", action="store_true",
                   help="a few seconds: checks that the benchmark works, not its speed")
    p.add_argument("--repeats", type=int, default=None, help="interleaved repeats per variant")
    p.add_argument("--json", dest="json_path", default=None, help="also write results here")
    return p


def interleaved(variants: dict[str, Callable[[], object]], repeats: int,
                warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of every call of every variant: ``warmup`` untimed rounds, then ``repeats``
    rounds, each calling every variant once, the order reversed every other round."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return times


def median(values) -> float:
    return float(statistics.median(values))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{torch.get_num_threads()} torch threads, {cpu}, {gpu}, torch {torch.__version__}, "
            f"Python {platform.python_version()}")


def emit(title: str, rows: list[dict], json_path: str | None, extra: dict | None = None) -> dict:
    """Print ``rows`` (dicts with the same keys) as a Markdown table; optionally write JSON."""
    print(f"## {title}\n\n{machine()}\n")
    if rows:
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(_fmt(row[k]) for k in keys) + " |")
    result = {"title": title, "machine": machine(), "rows": rows, **(extra or {})}
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    return result


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
