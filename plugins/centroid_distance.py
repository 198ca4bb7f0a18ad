"""An example local plugin: a latent metric, registered from this folder.

Every ``*.py`` file of ``plugins/`` is imported when rosetta-cl runs in the repository root (or
with ``--plugins-dir plugins``). This one adds the metric ``centroid_distance``: how far apart a
model's and the reference model's latent centroids are, per part, with no map fitted (a
translation is the one thing LSD, CKA, Procrustes and MCC all forgive). Use it with
``rosetta-cl run gaussians8 --quick --metrics lsd,centroid_distance``.
"""

import numpy as np

from rosetta_cl.metrics.latent import Scores
from rosetta_cl.registry import MetricSpec, register_metric


def centroid_distance(source, target, groups) -> Scores:
    source, target = np.asarray(source, float), np.asarray(target, float)
    return Scores({g: float(np.linalg.norm(source[m].mean(0) - target[m].mean(0)))
                   for g, m in groups.items()})


register_metric(MetricSpec("centroid_distance", "pairwise", centroid_distance,
                           "distance between the latent centroids, per part (example local "
                           "plugin)", column="CENTROID"))
