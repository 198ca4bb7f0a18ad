"""The paper's metrics as plain functions on arrays.

- Latent space distortion: ``LSD = min_{A,b} E ||A mu(x) + b - mu'(x)||^2`` (least squares).
- Retraining variability: ``RV = E_x log det Cov_runs(mu_i(x))`` over M retrainings.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _as64(a) -> np.ndarray:
    a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64)
    return a


def fit_linear_map(source, target) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (A, b) minimising ||source @ A.T + b - target||^2; A is (d_target, d_source)."""
    source, target = _as64(source), _as64(target)
    design = np.hstack([source, np.ones((len(source), 1))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef[:-1].T, coef[-1]


def lsd_per_point(source, target, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared residual ||A mu(x) + b - mu'(x)||^2 of every point."""
    residual = _as64(source) @ A.T + b - _as64(target)
    return (residual**2).sum(1)


def lsd(source, target) -> float:
    """Latent space distortion of ``source`` latents relative to ``target`` latents."""
    A, b = fit_linear_map(source, target)
    return float(lsd_per_point(source, target, A, b).mean())


def lsd_split(source, target, groups: Mapping[str, np.ndarray]) -> dict[str, float]:
    """LSD per group (e.g. D1, D2) under ONE linear map fitted on all rows together.

    ``groups`` maps a name to a boolean mask (or index array) over the rows.
    """
    A, b = fit_linear_map(source, target)
    per_point = lsd_per_point(source, target, A, b)
    return {name: float(per_point[np.asarray(mask)].mean()) for name, mask in groups.items()}


def rv_per_point(means) -> np.ndarray:
    """log det of the across-run covariance of each point's latent mean.

    ``means`` is (M runs, N points, d). The covariance uses the unbiased (M - 1) estimator. It has
    rank at most M - 1, so when d >= M it is singular for every point and the result is -inf
    (exactly, rather than a round-off-sized finite number); identical runs also give -inf.
    """
    means = _as64(means)
    if means.ndim != 3:
        raise ValueError(f"means must be (runs, points, dim), got shape {means.shape}")
    m, n, d = means.shape
    if m < 2:
        raise ValueError(f"retraining variability needs at least 2 runs, got {m}")
    if d >= m:
        return np.full(n, -np.inf)
    centred = means - means.mean(0, keepdims=True)
    cov = np.einsum("mni,mnj->nij", centred, centred) / (m - 1)
    sign, logdet = np.linalg.slogdet(cov)
    return np.where(sign > 0, logdet, -np.inf)


def rv(means) -> float:
    """Retraining variability: mean over points of :func:`rv_per_point`."""
    return float(np.mean(rv_per_point(means)))


def linear_map_analysis(A: np.ndarray, b: np.ndarray) -> dict:
    """The paper's appendix I/J view of a fitted map ``mu' ~ A mu + b``.

    With the polar decomposition A = U P (U orthogonal, P symmetric positive semi-definite), the
    eigenvalues of P are A's singular values: all equal means A is a scaled rotation. Returns
    ``P_eigenvalues`` (descending), ``identity_gap`` = ||I - A / ||A||_2||_F (0 only when A is a
    positive multiple of the identity: the two latent spaces agree up to scale, with no rotation,
    reflection or shear) and ``bias_norm`` = ||b||.
    """
    A, b = _as64(A), _as64(b)
    singular = np.linalg.svd(A, compute_uv=False)
    top = singular[0] if singular.size and singular[0] > 0 else 1.0
    identity = np.eye(*A.shape)
    return {"P_eigenvalues": singular,
            "identity_gap": float(np.linalg.norm(identity - A / top)),
            "bias_norm": float(np.linalg.norm(b))}
