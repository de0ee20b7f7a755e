"""Deprecated: moved to `lm_eval_ext.families.qa` (this path works for one more release)."""

from lm_eval_ext._deprecated import forward, omitting_none

__getattr__ = forward(__name__, "lm_eval_ext.families.qa")

# old task files aggregate with lm-eval's plain mean: no None values (see omitting_none)
from lm_eval_ext.families.qa import process_results as _process_results  # noqa: E402

process_results = omitting_none(_process_results)
