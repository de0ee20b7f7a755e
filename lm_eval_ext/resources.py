"""Where the package's own files live, and where it keeps its caches.

Ground floor: imports nothing of lm_eval_ext. Every module that needs a task
folder, a report asset, a judge template or a cache directory asks here.

- `tasks_dir`: the task YAMLs (``lm_eval_ext/tasks`` inside a wheel, ``<checkout>/tasks``
  in an editable install or a source checkout);
- `reports_dir`: the report stylesheet, the judge templates, the CI example;
- `cache_root`: ``LM_EVAL_EXT_CACHE`` (default ``~/.cache/lm_eval_ext``): the embedded
  model's converted folder, the judge cache.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LM_EVAL_EXT_CACHE"

_HERE = Path(__file__).resolve().parent


def _packaged_or_checkout(name: str) -> Path:
    packaged = _HERE / name
    return packaged if packaged.is_dir() else _HERE.parent / name


def tasks_dir() -> Path:
    return _packaged_or_checkout("tasks")


def reports_dir() -> Path:
    return _packaged_or_checkout("reports")


def judge_templates_dir() -> Path:
    return reports_dir() / "judge"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "lm_eval_ext")).expanduser()
