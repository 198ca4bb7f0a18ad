"""One invocation end to end: a protocol run (``runner``), a spec file's grid (``specs``) and
``tune`` (appendix B's grid search); each opens the MLflow parent run and hands records to
``tracking``.

May import: every subpackage except ``cli``."""
