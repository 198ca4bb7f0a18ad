"""Tensor-backed minibatches: an experience's data is read once into tensors on the training
device, then every epoch slices those tensors (no per-item ``__getitem__`` in the hot loop)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


def dataset_tensors(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """(x, y) of a whole (Avalanche) dataset of (x, y, ...) items, read in one pass; x as float32
    (streams may hold large image sets as float16)."""
    size = len(dataset)  # type: ignore[arg-type]  # Avalanche datasets are sized
    loader = DataLoader(dataset, batch_size=max(size, 1), shuffle=False)
    batch = next(iter(loader))
    return batch[0].float(), batch[1]


class TensorBatches:
    """Iterable of ``[x, y, task]`` minibatches sliced from tensors, reshuffled every epoch."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, shuffle: bool = True,
                 generator: torch.Generator | None = None):
        self.x, self.y = x, y
        self.t = torch.zeros(len(x), dtype=torch.long, device=x.device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
            for i in range(0, n, self.batch_size):
                idx = order[i : i + self.batch_size]
                yield [self.x[idx], self.y[idx], self.t[idx]]
        else:
            for i in range(0, n, self.batch_size):
                sl = slice(i, i + self.batch_size)
                yield [self.x[sl], self.y[sl], self.t[sl]]
