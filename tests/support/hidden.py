"""Environment for a subprocess in which some installed packages look absent
(tests/support/hide_packages/sitecustomize.py): the tests of optional extras."""

from __future__ import annotations

import os
from pathlib import Path

HIDE_DIR = Path(__file__).resolve().parent / "hide_packages"


def hidden_env(names: str) -> dict:
    """Variables to add to a subprocess's environment: `names` (comma-separated
    top-level modules, e.g. "lingua,MeCab") cannot be imported there."""
    path = os.pathsep.join(p for p in (str(HIDE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "LM_EVAL_EXT_TEST_HIDE": names}
