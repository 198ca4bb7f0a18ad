"""What people look at after a run: figures from arrays (``figures``) and from MLflow runs
(``run_figures``, 2-D views from ``embedding``), the HTML/Markdown report (``report``) and the
plain verdict lines with the paper's values (``verdict``).

May import: ``tracking``, ``metrics``, ``config``; never ``training`` or ``experiments``."""
