"""Data sets as Avalanche streams D1 -> D2 (-> ...): one module per built-in data set holding its
reader and stream factory (``mnist``, ``birdsong``, ``chairs``; the synthetic ones and the
factory in ``streams``), a user's own arrays (``user_data``, defaults from ``user_defaults``),
benchmark defaults (``defaults``), tensor helpers (``tensors``), file checks and demo files.

May import: ``config``, ``errors``; never ``training``, ``tracking`` or ``experiments``."""
