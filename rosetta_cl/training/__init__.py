"""The training core every protocol uses: the trainer (``trainer``: jobs, records, worker path),
what a protocol returns and how it scores a model (``results``), vectorised ensembles
(``ensemble``), the divergence guard (``divergence``), executors (``executors``: here or Ray)
and progress bars (``progress``). Run records (what training hands to tracking) are
``rosetta_cl.records``.

May import: ``data``, ``models``, ``anchors``, ``methods``, ``metrics``, ``config``; never
``tracking`` (records go out through an ``emit`` callback) or ``experiments``."""
