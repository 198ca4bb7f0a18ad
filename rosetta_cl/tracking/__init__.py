"""MLflow, and only here: the store (``store``: URIs, clients, locks, experiments), the one
writer of runs (``writer``), logged models (``mlflow_model``), artifacts written whole
(``artifacts``), liveness and heartbeats (``liveness``), ``--resume`` (``resume``), signals
(``interrupts``), the UI server (``server``) and the Avalanche logger (``mlflow_logger``).

May import: ``training.records``, ``models``, ``anchors``, ``config``, ``errors``; never
``training.trainer``, ``protocols`` or ``experiments``."""
