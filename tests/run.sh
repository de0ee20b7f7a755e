#!/usr/bin/env bash
# The test suite, as CI runs it (after `bash install.sh --dev`), offline:
#   1. the modern environment (.venv: newest transformers 5.x, numpy 2.x, ...) runs the
#      whole suite; COMET/BLEURT go through the neural environment as a side environment;
#   2. the neural environment (.venv-neural: the lowest supported versions, with the
#      reference packages unbabel-comet and bleurt-pytorch) runs the COMET/BLEURT tests
#      against those packages in-process, and, at the lowest versions, the tests of what
#      depends on them: data loading (datasets, pyarrow), models and the embedded model's
#      conversion (transformers), statistics (numpy), lm_eval end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export LM_EVAL_EXT_TEST_NEURAL_PYTHON="$PWD/.venv-neural/bin/python"
echo "== modern environment: $(.venv/bin/python -c 'import transformers, numpy; print("transformers", transformers.__version__, "numpy", numpy.__version__)')"
.venv/bin/python -m pytest -q --durations=15 "$@"
echo "== neural environment: $(.venv-neural/bin/python -c 'import transformers, numpy; print("transformers", transformers.__version__, "numpy", numpy.__version__)')"
LM_EVAL_EXT_REQUIRE_NEURAL=1 .venv-neural/bin/python -m pytest -q --durations=10 -m "neural or not slow" "$@" \
  tests/test_flores.py tests/test_neural_side_env.py tests/test_embedded.py \
  tests/test_mgsm_e2e.py tests/test_mgsm_tasks.py tests/test_qa_tasks.py tests/test_qa_scoring.py \
  tests/test_reports.py tests/test_languages.py
