"""The defaults of a user's own file, derived from the file by one written rule (README, "Your
own data"), each choice said with its reason.

The rule (:func:`derive_defaults`):

- **likelihood**: every value in [0, 1] -> Bernoulli (images, proportions); otherwise Gaussian
  with a learned per-feature noise. Inputs are used in the file's own units, never rescaled:
  the models' training depends on those units (the Gaussian noise starts at std 1, the anchor
  term's decoder part is a squared error in input units), and every rescaling we measured
  (z-scores, one global scale, min-max to [0, 1]) made the R-VAE worse on some data set or
  collapsed the latent space (README, "Your own data").
- **image shape** from the array's rank ((N, H, W) or (N, C, H, W)); vectors otherwise.
- **latent dim** 2 and **k** 16 Rosetta points, k capped at D1's training points (60% of D1):
  no latent size, k or rho derived from the data's width or size measured better on every data
  set we could build, so these stay constants (the measurements are in the README).

:meth:`DataDefaults.describe` says every pick in one line; ``run`` prints it and logs it as the
parent run's ``data_defaults`` param. Command-line options override any of it as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rosetta_cl.data.defaults import TRAIN_FRACTION, BenchmarkDefaults

USER_LATENT_DIM = 2
USER_ROSETTA_POINTS = 16


@dataclass(frozen=True)
class DataDefaults:
    """What the rule picked for one file, and why (one reason per pick)."""

    defaults: BenchmarkDefaults
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return "; ".join(self.reasons)


def derive_defaults(x: np.ndarray, part: np.ndarray) -> DataDefaults:
    """The rule above for inputs ``x`` (N, ...) split into experiences ``part`` (0 = D1)."""
    low, high = float(x.min()), float(x.max())
    in_unit = low >= 0 and high <= 1
    reasons = [f"values in [{low:.3g}, {high:.3g}]: " + (
        "Bernoulli likelihood" if in_unit else "Gaussian likelihood with learned noise")]
    shape = None
    if x.ndim == 3:
        shape = (1, *x.shape[1:])
    elif x.ndim == 4:
        shape = tuple(x.shape[1:])
    width = int(np.prod(x.shape[1:]))
    reasons.append(f"{'images ' + 'x'.join(map(str, shape)) if shape else 'vectors'} of {width}"
                   f" features, latent dim {USER_LATENT_DIM}")
    n_train = round(TRAIN_FRACTION * int((part == 0).sum()))
    k = max(1, min(USER_ROSETTA_POINTS, n_train))
    reasons.append(f"k {k}" + ("" if k == USER_ROSETTA_POINTS else
                               f" (all {n_train} training points of D1)"))
    defaults = BenchmarkDefaults(latent_dim=USER_LATENT_DIM, rosetta_points=k, epochs=200,
                                 hidden=(256, 128),
                                 likelihood="bernoulli" if in_unit else "gaussian",
                                 quick_epochs=3, image_shape=shape)
    return DataDefaults(defaults, tuple(reasons))
