"""The training core every protocol uses: the trainer (``trainer``: jobs, records, worker path),
vectorised ensembles (``ensemble``), the divergence guard (``divergence``), per-epoch metrics
(``epoch_metrics``), executors (``executors``: here or Ray) and run records (``records``: what
training hands to tracking).

May import: ``data``, ``models``, ``anchors``, ``methods``, ``metrics``, ``config``; never
``tracking`` (records go out through an ``emit`` callback) or ``experiments``."""
