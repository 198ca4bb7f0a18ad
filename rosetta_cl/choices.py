"""The allowed values of options whose code needs torch or Avalanche (architectures, the anchor
term, the RosettaPlugin's accumulation), declared here, without those imports, so that a run's
options are checked before anything heavy is imported. The modules that use the values import
them from here.
"""

from .constraints import OneOf

ARCHITECTURES = ("mlp", "conv", "resnet")
VARIANTS = ("simple", "same", "complex")
# the rules of an (arch, arch_variant) pair, for ModelConfig and the run config alike
ARCH_CONSTRAINTS = {"arch": OneOf("arch", ARCHITECTURES),
                    "arch_variant": OneOf("arch variant", VARIANTS)}
ANCHOR_FITS = ("exact", "affine")  # the R-VAE anchor term's encoder part (losses.anchor_residual)
DECODER_TERMS = ("squared", "nll", "none")  # its decoder part (losses.decoder_term)
ACCUMULATE = ("all", "latest", "reselect")  # RosettaPlugin: what happens to earlier anchors
