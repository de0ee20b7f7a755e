"""lm-eval-ext: multilingual tasks, scorers and reports for lm-evaluation-harness.

Kept import-free: ``lm_eval_ext.pth`` imports this package at every Python
start (see ``_autoload``).
"""

__version__ = "0.1.0"
