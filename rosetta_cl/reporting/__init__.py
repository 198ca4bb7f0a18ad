"""What people look at after a run: figures from arrays (``figures``) and from MLflow runs
(``run_figures``, 2-D views from ``embedding``), and the HTML/Markdown report (``report``).

May import: ``tracking``, ``metrics``, ``config``; never ``training`` or ``experiments``."""
