"""The test environment: the repository, the real benchmark data (../shared/data, never the
network), console commands run as a user runs them, and where COMET/BLEURT's reference
packages live (this interpreter or the neural side environment of tests/run.sh)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", REPO.parent / "shared" / "data")).resolve()

# Offline, and our tasks read the local copy: set before anything imports datasets.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["LM_EVAL_EXT_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The reference packages (unbabel-comet, bleurt-pytorch) pin transformers<5 and
# numpy<2. Tests marked `neural` need them in this interpreter (the neural
# environment of tests/run.sh); a modern environment reaches them through the
# side environment named by LM_EVAL_EXT_TEST_NEURAL_PYTHON (tests/run.sh sets it).
SIDE_PYTHON = os.environ.get("LM_EVAL_EXT_TEST_NEURAL_PYTHON", "").strip()


def reference_packages_here() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("comet", "bleurt_pytorch"))


def side_env() -> dict:
    """Environment variables that route this process's COMET/BLEURT to the side
    environment when the reference packages are not importable here."""
    return {} if reference_packages_here() or not SIDE_PYTHON else {"LM_EVAL_EXT_NEURAL_PYTHON": SIDE_PYTHON}


def in_neural_python(python: str, *args: str, timeout=900) -> None:
    """Run support/tiny_mt_models.py with the interpreter that has the reference packages."""
    proc = subprocess.run([python, str(SUPPORT / "tiny_mt_models.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-4000:]


def run_cli(args, env=None, timeout=900, cwd=None) -> subprocess.CompletedProcess:
    """Run a console command (lm_eval, lm-eval-ext) as a user would, in this venv."""
    bindir = Path(sys.executable).parent
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(bindir / args[0]), *args[1:]],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
