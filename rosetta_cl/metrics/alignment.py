"""Whether a model sits in the anchors' latent space: its anchor fit against their spread.

The rule, stated before it was measured (issue 35): the **anchor fit** is the mean over the
anchors of ||z_r - mu(x_r)||^2 (the model's latent means of the anchor inputs against their
targets, no map in between); the **spread** is the mean ||z_r - mean(z)||^2 of the targets
themselves. A model is **aligned** when fit <= ``ALIGNED_FRACTION`` x spread: its means of the
anchor inputs keep at least 90% of the anchors' variance where the anchors put it (an R^2 of at
least 0.9 of the identity map). A model that put every x_r at the anchors' centroid would score
fit = spread (ratio 1); one in another space, rotated or scaled, typically more than 1.

The anchors are in the model's training data, so this says the model was pulled into the space
at those k points; it cannot say how well points far from them follow (the lab's data would be
needed for that, and Bob has only his).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALIGNED_FRACTION = 0.1  # aligned when the anchor fit is at most this fraction of the spread
ALIGNMENT_RULE = (f"aligned when the anchor fit (mean ||z_r - mu(x_r)||^2) is at most "
                  f"{ALIGNED_FRACTION:.0%} of the anchors' spread (mean ||z_r - mean z||^2)")


@dataclass(frozen=True)
class Alignment:
    """A model's anchor fit, the anchors' spread, their ratio, and the verdict of the rule."""

    fit: float
    spread: float

    @property
    def ratio(self) -> float:
        return self.fit / self.spread if self.spread > 0 else float("inf")

    @property
    def aligned(self) -> bool:
        return bool(np.isfinite(self.fit)) and self.ratio <= ALIGNED_FRACTION

    @property
    def verdict(self) -> str:
        return "aligned" if self.aligned else "not aligned"

    def metrics(self) -> dict[str, float]:
        """What a run logs: ``anchor_fit``, ``anchor_spread``, ``anchor_fit_ratio``, ``aligned``
        (1 or 0)."""
        return {"anchor_fit": self.fit, "anchor_spread": self.spread,
                "anchor_fit_ratio": self.ratio, "aligned": float(self.aligned)}


def anchor_alignment(mu: np.ndarray, z: np.ndarray) -> Alignment:
    """The rule on a model's anchor means ``mu`` (R, d) and the anchors' targets ``z`` (R, d).

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> a = anchor_alignment(z + 0.1, z)  # spread 2, fit 0.02
    >>> round(a.ratio, 3), a.verdict
    (0.01, 'aligned')
    >>> anchor_alignment(z[::-1], z).verdict  # each anchor where another one belongs
    'not aligned'
    """
    mu, z = np.asarray(mu, dtype=np.float64), np.asarray(z, dtype=np.float64)
    fit = float(((mu - z) ** 2).sum(1).mean())
    spread = float(((z - z.mean(0)) ** 2).sum(1).mean())
    return Alignment(fit, spread)
