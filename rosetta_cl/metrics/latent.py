"""Latent-space metrics as plain functions on arrays.

The paper's:

- Latent space distortion: ``LSD = min_{A,b} E ||A mu(x) + b - mu'(x)||^2`` (least squares).
- Retraining variability: ``RV = E_x log det Cov_runs(mu_i(x))`` over M retrainings.

Beside them, three that representation-similarity work uses:

- linear CKA (Kornblith et al. 2019): ``||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)`` on centred latents;
  1 when one space is an orthogonal transform plus isotropic scaling of the other.
- orthogonal-Procrustes distortion: LSD with the map restricted to ``s R mu + b`` (R orthogonal,
  s > 0): what is left once rotations, reflections, one scale and a shift are allowed.
- mean correlation coefficient (MCC, Khemakhem et al. 2020): the mean absolute Pearson
  correlation of latent dimensions after the best one-to-one matching of dimensions.

Each ``*_scores`` function is a pairwise metric as the registry (``registry.METRICS``) uses it:
``(source, target, groups) -> Scores``, one value per group of rows (e.g. D1, D2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


def _as64(a) -> np.ndarray:
    a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64)
    return a


ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016): a unit is active above this variance


def active_units(mu, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Active units (Burda et al. 2016): latent dimensions whose variance over inputs of the
    encoder mean E[z|x] exceeds ``threshold``. 0: a collapsed latent space (every input encodes
    to nearly the same point), where LSD and RV measure nothing.
    """
    return int((np.var(_as64(mu), axis=0) > threshold).sum())


def fit_linear_map(source, target) -> tuple[np.ndarray, np.ndarray]:
    """Fit the least-squares affine map from ``source`` latents to ``target`` latents.

    Parameters
    ----------
    source : array_like, shape (N, d_source)
        Latent means of one model (a torch tensor or a NumPy array).
    target : array_like, shape (N, d_target)
        Latent means of another model for the same N inputs.

    Returns
    -------
    A : numpy.ndarray, shape (d_target, d_source)
        The linear part.
    b : numpy.ndarray, shape (d_target,)
        The offset; together they minimise ``||source @ A.T + b - target||^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import fit_linear_map
    >>> z = np.random.default_rng(0).normal(size=(100, 2))
    >>> A, b = fit_linear_map(z, z @ np.array([[2.0, 0.5], [0.0, 1.0]]).T + 1)
    >>> A.round(3).tolist(), b.round(3).tolist()
    ([[2.0, 0.5], [0.0, 1.0]], [1.0, 1.0])
    """
    source, target = _as64(source), _as64(target)
    design = np.hstack([source, np.ones((len(source), 1))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef[:-1].T, coef[-1]


def lsd_per_point(source, target, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared residual ||A mu(x) + b - mu'(x)||^2 of every point."""
    residual = _as64(source) @ A.T + b - _as64(target)
    return (residual**2).sum(1)


def lsd(source, target) -> float:
    """Latent space distortion (LSD) of ``source`` latents relative to ``target`` latents.

    The mean over points of the squared residual after the best affine map from ``source`` to
    ``target`` (:func:`fit_linear_map`): 0 when the two latent spaces agree up to an affine map.

    Parameters
    ----------
    source : array_like, shape (N, d_source)
        Latent means of the model being scored.
    target : array_like, shape (N, d_target)
        Latent means of the reference model (the joint model in the paper) for the same inputs.

    Returns
    -------
    float
        The mean squared residual, in ``target``'s units.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import lsd
    >>> z = np.random.default_rng(0).normal(size=(100, 2))
    >>> lsd(3 * z + 1, z) < 1e-20  # an affine copy has no distortion
    True
    >>> round(lsd(np.random.default_rng(1).normal(size=(100, 2)), z), 2)
    1.79
    """
    A, b = fit_linear_map(source, target)
    return float(lsd_per_point(source, target, A, b).mean())


def lsd_split(source, target, groups: Mapping[str, np.ndarray]) -> dict[str, float]:
    """LSD per group of rows (e.g. D1, D2) under one affine map fitted on all rows together.

    Parameters
    ----------
    source : array_like, shape (N, d_source)
        Latent means of the model being scored.
    target : array_like, shape (N, d_target)
        Latent means of the reference model for the same inputs.
    groups : Mapping[str, array_like]
        Group name -> boolean mask (or index array) over the N rows.

    Returns
    -------
    dict[str, float]
        Group name -> mean squared residual of its rows.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import lsd_split
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(100, 2))
    >>> noisy = z + np.where(np.arange(100)[:, None] < 50, 0.0, 0.1) * rng.normal(size=z.shape)
    >>> scores = lsd_split(noisy, z, {"D1": np.arange(100) < 50, "D2": np.arange(100) >= 50})
    >>> scores["D1"] < scores["D2"]
    True
    """
    A, b = fit_linear_map(source, target)
    per_point = lsd_per_point(source, target, A, b)
    return {name: float(per_point[np.asarray(mask)].mean()) for name, mask in groups.items()}


def rv_per_point(means) -> np.ndarray:
    """Retraining variability of every point: the log det of its latent mean's covariance over runs.

    The covariance uses the unbiased (M - 1) estimator. It has rank at most M - 1, so when
    d >= M it is singular for every point and the result is -inf (exactly, rather than a
    round-off-sized finite number); identical runs also give -inf.

    Parameters
    ----------
    means : array_like, shape (M, N, d)
        The latent means of N points under M retrainings (M >= 2).

    Returns
    -------
    numpy.ndarray, shape (N,)
        log det of each point's (d, d) covariance across the M runs.

    Raises
    ------
    ValueError
        If ``means`` is not 3-D or holds fewer than two runs.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import rv_per_point
    >>> means = np.random.default_rng(0).normal(size=(5, 100, 2))
    >>> rv_per_point(means).shape
    (100,)
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
    """Retraining variability (RV): the mean over points of :func:`rv_per_point`.

    Parameters
    ----------
    means : array_like, shape (M, N, d)
        The latent means of N points under M retrainings.

    Returns
    -------
    float
        Mean log det of the across-run covariance; lower means more reproducible.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import rv
    >>> means = np.random.default_rng(0).normal(size=(5, 100, 2))
    >>> round(rv(means) - rv(0.1 * means), 3)  # 2 dimensions x log(100)
    9.21
    """
    return float(np.mean(rv_per_point(means)))


def linear_map_analysis(A: np.ndarray, b: np.ndarray) -> dict:
    """Describe a fitted map ``mu' ~ A mu + b`` as in the paper's appendices I and J.

    With the polar decomposition A = U P (U orthogonal, P symmetric positive semi-definite), the
    eigenvalues of P are A's singular values: all equal means A is a scaled rotation.

    Parameters
    ----------
    A : numpy.ndarray, shape (d_target, d_source)
        The linear part (from :func:`fit_linear_map`).
    b : numpy.ndarray, shape (d_target,)
        The offset.

    Returns
    -------
    dict
        ``P_eigenvalues`` (descending), ``identity_gap`` = ||I - A / ||A||_2||_F (0 only when A
        is a positive multiple of the identity: the two latent spaces agree up to scale, with no
        rotation, reflection or shear) and ``bias_norm`` = ||b||.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import linear_map_analysis
    >>> info = linear_map_analysis(2 * np.eye(2), np.zeros(2))
    >>> info["P_eigenvalues"].tolist(), info["identity_gap"], info["bias_norm"]
    ([2.0, 2.0], 0.0, 0.0)
    """
    A, b = _as64(A), _as64(b)
    singular = np.linalg.svd(A, compute_uv=False)
    top = singular[0] if singular.size and singular[0] > 0 else 1.0
    identity = np.eye(*A.shape)
    return {"P_eigenvalues": singular,
            "identity_gap": float(np.linalg.norm(identity - A / top)),
            "bias_norm": float(np.linalg.norm(b))}


def procrustes_map(source, target) -> tuple[float, np.ndarray, np.ndarray]:
    """(s, R, b) minimising ||s source @ R + b - target||^2 with R orthogonal and s >= 0 (the
    closed form: R = U V' from the SVD of the centred cross-covariance, s = trace(S) / ||X||^2).
    Latents of different widths are zero-padded to the wider one.
    """
    source, target = _pad(_as64(source), _as64(target))
    mu_s, mu_t = source.mean(0), target.mean(0)
    x, y = source - mu_s, target - mu_t
    u, singular, vt = np.linalg.svd(x.T @ y)
    rotation = u @ vt
    norm = (x**2).sum()
    scale = float(singular.sum() / norm) if norm > 0 else 0.0
    return scale, rotation, mu_t - scale * mu_s @ rotation


def procrustes_per_point(source, target) -> np.ndarray:
    """Squared residual of every point under the best scaled orthogonal (Procrustes) map.

    Parameters
    ----------
    source : array_like, shape (N, d_source)
        Latent means of the model being scored (zero-padded if narrower than ``target``).
    target : array_like, shape (N, d_target)
        Latent means of the reference model for the same inputs.

    Returns
    -------
    numpy.ndarray, shape (N,)
        ``||s source @ R + b - target||^2`` per point for the best s >= 0, orthogonal R and b.

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import procrustes_per_point
    >>> z = np.random.default_rng(0).normal(size=(100, 2))
    >>> rotated = z @ np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> bool(procrustes_per_point(rotated, z).max() < 1e-20)
    True
    """
    scale, rotation, b = procrustes_map(source, target)
    source, target = _pad(_as64(source), _as64(target))
    return ((scale * source @ rotation + b - target) ** 2).sum(1)


def linear_cka(x, y) -> float:
    """Linear centred kernel alignment (CKA) of two representations of the same rows.

    Parameters
    ----------
    x : array_like, shape (N, d_x)
        One representation (e.g. a model's latent means).
    y : array_like, shape (N, d_y)
        Another representation of the same N rows.

    Returns
    -------
    float
        In [0, 1]; 1 when ``y`` is a scaled rotation of ``x`` (0 when either is constant).

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import linear_cka
    >>> z = np.random.default_rng(0).normal(size=(100, 2))
    >>> round(linear_cka(z, -3 * z), 6)
    1.0
    """
    x, y = _as64(x), _as64(y)
    x, y = x - x.mean(0), y - y.mean(0)
    denominator = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denominator) if denominator > 0 else 0.0


def mean_correlation(x, y) -> float:
    """Mean correlation coefficient (MCC) of matched latent dimensions.

    The mean absolute Pearson correlation over ``min(d_x, d_y)`` one-to-one pairs of dimensions,
    the matching chosen to maximise it. A constant dimension correlates 0.

    Parameters
    ----------
    x : array_like, shape (N, d_x)
        One representation.
    y : array_like, shape (N, d_y)
        Another representation of the same N rows.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from rosetta_cl import mean_correlation
    >>> z = np.random.default_rng(0).normal(size=(100, 2))
    >>> round(mean_correlation(z, -3 * z[:, ::-1]), 6)  # permuted, flipped, scaled
    1.0
    """
    from scipy.optimize import linear_sum_assignment

    x, y = _as64(x), _as64(y)
    x, y = x - x.mean(0), y - y.mean(0)
    norms = np.outer(np.linalg.norm(x, axis=0), np.linalg.norm(y, axis=0))
    corr = np.abs(np.divide(x.T @ y, norms, out=np.zeros_like(norms), where=norms > 0))
    rows, cols = linear_sum_assignment(corr, maximize=True)
    return float(corr[rows, cols].mean())


def _pad(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    width = max(a.shape[1], b.shape[1])
    return (np.pad(a, ((0, 0), (0, width - a.shape[1]))),
            np.pad(b, ((0, 0), (0, width - b.shape[1]))))


@dataclass
class Scores:
    """What a pairwise metric reports for one model against a reference model.

    Parameters
    ----------
    groups : dict[str, float]
        One value per group of rows, each a table column (e.g. ``LSD_D1``).
    values : dict[str, float]
        Other scalars, logged under their own names.
    arrays : dict[str, dict[str, numpy.ndarray]]
        Artifact file name -> named arrays (written as ``.npz``).

    Examples
    --------
    >>> from rosetta_cl import Scores
    >>> Scores(groups={"LSD_D1": 0.1})
    Scores(groups={'LSD_D1': 0.1}, values={}, arrays={})
    """

    groups: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _masks(groups: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(mask) for name, mask in groups.items()}


def lsd_scores(source, target, groups) -> Scores:
    """LSD per group under ONE affine map fitted on all rows (:func:`lsd_split`)."""
    return Scores(lsd_split(source, target, groups))


def linear_map_scores(source, target, groups) -> Scores:
    """The fitted map's analysis (:func:`linear_map_analysis`): ``map_identity_gap``,
    ``map_bias_norm``, ``map_P_eig_<i>`` and the map itself as ``linear_map.npz``.
    """
    A, b = fit_linear_map(source, target)
    analysis = linear_map_analysis(A, b)
    return Scores(values={"map_identity_gap": analysis["identity_gap"],
                          "map_bias_norm": analysis["bias_norm"],
                          **{f"map_P_eig_{i}": float(v)
                             for i, v in enumerate(analysis["P_eigenvalues"])}},
                  arrays={"linear_map.npz": {"A": A, "b": b,
                                             "P_eigenvalues": analysis["P_eigenvalues"]}})


def procrustes_scores(source, target, groups) -> Scores:
    """Orthogonal-Procrustes distortion per group under ONE map fitted on all rows."""
    per_point = procrustes_per_point(source, target)
    return Scores({name: float(per_point[mask].mean()) for name, mask in _masks(groups).items()})


def cka_scores(source, target, groups) -> Scores:
    """Linear CKA within each group."""
    source, target = _as64(source), _as64(target)
    return Scores({name: linear_cka(source[mask], target[mask])
                   for name, mask in _masks(groups).items()})


def mcc_scores(source, target, groups) -> Scores:
    """MCC within each group."""
    source, target = _as64(source), _as64(target)
    return Scores({name: mean_correlation(source[mask], target[mask])
                   for name, mask in _masks(groups).items()})
