"""Deprecated: moved to `lm_eval_ext.metrics.qa` (this path works for one more release)."""

from lm_eval_ext._deprecated import forward

__getattr__ = forward(__name__, "lm_eval_ext.metrics.qa")
