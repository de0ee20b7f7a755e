#!/usr/bin/env bash
# The test suite, as CI runs it (after `bash install.sh --dev`), offline:
#   1. the modern environment (.venv: newest transformers 5.x, numpy 2.x, ...) runs the
#      whole suite; COMET/BLEURT go through the neural environment as a side environment;
#   2. the neural environment (.venv-neural: the lowest supported versions, with the
#      reference packages unbabel-comet and bleurt-pytorch) runs the COMET/BLEURT tests
#      against those packages in-process, and the fast core tests at the lowest versions.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export LM_EVAL_EXT_TEST_NEURAL_PYTHON="$PWD/.venv-neural/bin/python"
echo "== modern environment: $(.venv/bin/python -c 'import transformers, numpy; print("transformers", transformers.__version__, "numpy", numpy.__version__)')"
.venv/bin/python -m pytest -q "$@"
echo "== neural environment: $(.venv-neural/bin/python -c 'import transformers, numpy; print("transformers", transformers.__version__, "numpy", numpy.__version__)')"
LM_EVAL_EXT_REQUIRE_NEURAL=1 .venv-neural/bin/python -m pytest -q -m "neural or not slow" "$@"
