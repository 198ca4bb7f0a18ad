"""The thread policy: how many intra-op threads every training (and its scoring) uses.

**The rule: one intra-op thread per training, for every architecture**, whatever the machine
has or the environment says (``OMP_NUM_THREADS`` unset, 1 or 2 give the same table), unless
``--threads N`` (``RunConfig.threads``) says otherwise. The count covers torch's intra-op pool,
the BLAS of numpy (the metrics' least squares) and the OpenMP runtimes (FAISS k-means), and
is recorded in each run's params (``threads``).

Why one (``benchmarks/perf/contention.py``, table in ``docs/results/performance.md``): on the
project's 2-core machine two trainings with two threads each run 4.6-27x slower side by side
(OpenMP's threads spin-wait on each other's cores), with one thread each 0.97-1.08x of one
alone. A second thread pays only while nothing else runs, and only on the larger models
(MNIST-sized: 1.3-1.7x faster alone; the 8 Gaussians and digits MLPs: within 7%), and two
trainings side by side with one thread each finish more trainings per second than one at a time
with two. ``--threads 2`` buys the speed back on a machine left to one run of a large model.
The count also fixes the arithmetic: a matrix product or a sum split over two threads rounds
differently from one thread, and 200 epochs amplify that rounding into another table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

THREADS_PER_TRAINING = 1  # the rule, for every architecture (see the module docstring)


def default_threads(arch: str | None = None) -> int:
    """The rule's thread count for a training of ``arch``: one for every architecture (a second
    thread pays only on large models with nothing else running; see the module docstring)."""
    return THREADS_PER_TRAINING


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` threads in torch, numpy's BLAS and OpenMP (FAISS); restored
    after it."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(before)
