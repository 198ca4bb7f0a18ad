"""Run configuration: the four option parts (data, model, training, execution) with their
defaults, help and rules (``options``), the constraint types (``constraints``) and the fixed
choices of options whose code needs torch (``choices``).

May import: ``errors`` and the registries' names only; never torch, Avalanche or MLflow (the CLI
checks options before anything heavy is imported)."""
