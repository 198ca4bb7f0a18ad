"""The VAE (``vae``), its encoder/decoder families (``architectures``, appendix C) and its losses:
the negative ELBO and the Rosetta term of eq. 1 (``losses``).

May import: ``config``, ``errors``; never ``training``, ``tracking`` or ``experiments``."""
