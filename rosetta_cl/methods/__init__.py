"""The methods as Avalanche strategies: VAE, beta-VAE, R-VAE (``strategies``); registered in
``registry.METHODS``.

May import: ``models``, ``anchors``, ``training.epoch_metrics``, ``config``; never ``tracking``."""
