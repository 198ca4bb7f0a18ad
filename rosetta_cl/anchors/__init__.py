"""Rosetta points: the anchors themselves (``points``), how they are selected (``selectors``,
FAISS k-means and alternatives), the portable ``.rosetta`` file (``rosetta_file``) and the
Avalanche plugin that selects them and adds eq. 1's term to the loss (``rosetta_plugin``).

May import: ``models``, ``config``, ``errors``; never ``training``, ``tracking`` or
``experiments``."""
