"""Numbers about latent spaces and runs: the paper's LSD and RV and the other latent metrics
(``latent``, re-exported here: plugins import ``rosetta_cl.metrics``), the summary tables
normalised to the VAE (``summary``) and forgetting / backward transfer (``transfer``).

May import: numpy only (no other subpackage)."""

from rosetta_cl.metrics.latent import (  # noqa: F401  (the public metric functions)
    Scores,
    cka_scores,
    fit_linear_map,
    linear_cka,
    linear_map_analysis,
    linear_map_scores,
    lsd,
    lsd_per_point,
    lsd_scores,
    lsd_split,
    mcc_scores,
    mean_correlation,
    procrustes_map,
    procrustes_per_point,
    procrustes_scores,
    rv,
    rv_per_point,
)
