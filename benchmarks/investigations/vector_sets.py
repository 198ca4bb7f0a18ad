"""The real vector data sets the user-data defaults are checked on, written as the ``.npz``
files ``rosetta-cl run FILE.npz --split-by RULE`` reads (``x`` float32, ``y`` labels).

Every set ships with scikit-learn (no download), each split by class:

    python benchmarks/investigations/vector_sets.py OUT_DIR    # writes OUT_DIR/<name>.npz

name            rows x features   split (D1 | D2)                 units
wine            178 x 13          label:0|1,2                     z-scores
breast_cancer   569 x 30          label:0|1                       z-scores
diabetes        442 x 10          label:0|1 (progression above    z-scores
                                  its median)
digits64        1797 x 64         label:0,1,2,3,4|5,6,7,8,9       z-scores (8x8 digits as vectors)
digits01        1797 x 64         the same                        pixels / 16, in [0, 1]
digits_global   1797 x 64         the same                        pixels / 16, centred, over one
                                                                  global std (mean variance 1)
minmax_<name>   as <name>         as <name>                       each feature min-max to [0, 1]

z-scores: each feature minus its mean over its std (over the whole file), as a user with
features in different units does before saving. The digits in three units separate what the
units do from what the data are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn import datasets

BASE_SPLITS = {
    "wine": "label:0|1,2",
    "breast_cancer": "label:0|1",
    "diabetes": "label:0|1",
    "digits64": "label:0,1,2,3,4|5,6,7,8,9",
}
SPLITS = {
    **BASE_SPLITS,
    "digits01": BASE_SPLITS["digits64"],
    "digits_global": BASE_SPLITS["digits64"],
    **{f"minmax_{name}": rule for name, rule in BASE_SPLITS.items()},
}


def raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "wine":
        return datasets.load_wine(return_X_y=True)
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "diabetes":
        x, target = datasets.load_diabetes(return_X_y=True, scaled=False)
        return x, (target > np.median(target)).astype(np.int64)
    x, y = datasets.load_digits(return_X_y=True)
    return x / 16.0, y


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    base = name.removeprefix("minmax_")
    x, y = raw("digits64" if base in ("digits01", "digits_global") else base)
    if name.startswith("minmax_"):
        low, high = x.min(0), x.max(0)
        x = (x - low) / np.where(high > low, high - low, 1.0)
    elif name == "digits_global":
        x = (x - x.mean(0)) / np.sqrt(x.var(0).mean())
    elif name != "digits01":
        std = x.std(0)
        x = (x - x.mean(0)) / np.where(std > 0, std, 1.0)
    return x.astype(np.float32), np.asarray(y, dtype=np.int64)


def main(out: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    for name, rule in SPLITS.items():
        x, y = load(name)
        np.savez(Path(out) / f"{name}.npz", x=x, y=y)
        print(f"{name}: {x.shape[0]} x {x.shape[1]}, --split-by '{rule}'")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "vector_sets")
