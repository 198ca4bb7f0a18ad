"""The allowed values of options whose code lives in other subpackages (architectures, the
anchor term, the RosettaPlugin's accumulation, anchor selectors, figure views), declared here,
without those imports, so that a run's options are checked before anything heavy is imported
and ``config`` imports no other subpackage. The modules that use the values import them from
here (``anchors.selectors`` checks its registry has exactly these names).
"""

from rosetta_cl.config.constraints import OneOf

ARCHITECTURES = ("mlp", "conv", "resnet")
"""Encoder/decoder families (``--arch``): ``mlp``; ``conv`` and ``resnet`` need images."""
VARIANTS = ("simple", "same", "complex")
"""Architecture sizes (``--arch-variant``, the paper's appendix F): smaller, the same, larger."""
# the rules of an (arch, arch_variant) pair, for ModelConfig and the run config alike
ARCH_CONSTRAINTS = {"arch": OneOf("arch", ARCHITECTURES),
                    "arch_variant": OneOf("arch variant", VARIANTS)}
ANCHOR_FITS = ("exact", "affine")  # the R-VAE anchor term's encoder part (losses.anchor_residual)
DECODER_TERMS = ("squared", "nll", "none")  # its decoder part (losses.decoder_term)
ACCUMULATE = ("all", "latest", "reselect")  # RosettaPlugin: what happens to earlier anchors
SELECTIONS = ("kmeans", "agglomerative", "gmm", "random")  # anchors.selectors.SELECTORS' names
PROJECTIONS = ("auto", "identity", "pca", "umap")  # reporting.embedding: 2-D views of figures
