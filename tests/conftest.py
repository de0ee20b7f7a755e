"""Fixtures. Helpers live in tests/support (`support.env`: data, commands, side environment).
Tests read the real benchmark data in ../shared/data and never touch the network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support.env import SHARED_DATA, SIDE_PYTHON, in_neural_python, reference_packages_here

if not (SHARED_DATA / "mgsm").is_dir():  # fail loudly: tests must run on the real data
    raise RuntimeError(f"benchmark data not found at {SHARED_DATA} (set LM_EVAL_EXT_TEST_DATA)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


def pytest_configure(config):
    config.addinivalue_line("markers", "neural: needs unbabel-comet and bleurt-pytorch in this interpreter")
    import os

    if os.environ.get("LM_EVAL_EXT_REQUIRE_NEURAL") == "1" and not reference_packages_here():
        raise pytest.UsageError("LM_EVAL_EXT_REQUIRE_NEURAL=1 but unbabel-comet/bleurt-pytorch are not importable")


def pytest_collection_modifyitems(config, items):
    if reference_packages_here():
        return
    skip = pytest.mark.skip(reason="needs unbabel-comet/bleurt-pytorch in this interpreter: runs in the neural "
                                   "environment (tests/run.sh)")
    for item in items:
        if "neural" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def neural_python() -> str:
    """The interpreter that has the reference packages: this one, else the side
    environment (mandatory in CI, skipped elsewhere when not configured)."""
    import os

    if reference_packages_here():
        return sys.executable
    if SIDE_PYTHON:
        return SIDE_PYTHON
    if os.environ.get("CI"):
        pytest.fail("no unbabel-comet here and LM_EVAL_EXT_TEST_NEURAL_PYTHON is not set (tests/run.sh sets it)")
    pytest.skip("no unbabel-comet here; set LM_EVAL_EXT_TEST_NEURAL_PYTHON to a side environment's python")


@pytest.fixture(scope="session")
def mt_models(tmp_path_factory, neural_python) -> dict:
    """Tiny real-architecture COMET and BLEURT checkpoints (support/tiny_mt_models.py),
    built where the reference packages are."""
    import json

    out = tmp_path_factory.mktemp("mt_models")
    if neural_python == sys.executable:
        from support.tiny_mt_models import build_with_reference

        return build_with_reference(SHARED_DATA, out)
    in_neural_python(neural_python, "build", str(SHARED_DATA), str(out))
    return {k: Path(v) for k, v in json.loads((out / "paths.json").read_text()).items()}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init Llama with a BPE tokenizer trained on real MGSM questions (support.tiny_models)."""
    from support.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny_model"))

