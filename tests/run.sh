#!/usr/bin/env bash
# The test suite, offline, after `bash install.sh --dev`.
#
#   bash tests/run.sh           what CI runs (.ci/run):
#     1. the modern environment (.venv: newest transformers 5.x, numpy 2.x, ...) runs the whole
#        suite on 2 workers (pytest-xdist, one test file per worker at a time, so a file's
#        module fixtures are built once); COMET/BLEURT go through the neural environment as a
#        side environment;
#     2. the neural environment (.venv-neural: the lowest supported versions, lm-eval 0.4.12, with
#        the reference packages unbabel-comet and bleurt-pytorch) runs the COMET/BLEURT tests
#        in-process and, at the lowest versions, the fast tests of what depends on them (data
#        loading, models, statistics, lm_eval end to end) and the lm-eval-facing tests;
#        slow tests run once, in step 1;
#     3. the lm-eval 0.5 environment (.venv-lm05, tests/constraints-lm05.txt) runs the
#        lm-eval-facing tests (LM_EVAL_FACING: discovery, the patch points, an oracle run over
#        every family against every backend behaviour, groups, self-translate, report).
#   The lm-eval versions CI runs are lm_eval_ext.compat.TESTED, and pyproject.toml admits them.
#   bash tests/run.sh --fast    the development loop (about 2 minutes on 2 cores): step 1's files
#                               without end-to-end runs (FAST_FILES), without slow and neural tests;
#                               with test paths, those files instead.
# Any other argument goes to pytest in every step. Each step prints its ten slowest tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export LM_EVAL_EXT_TEST_NEURAL_PYTHON="$PWD/.venv-neural/bin/python"
# PolyMath's langdetect rule against the release's verdicts: langdetect (opt-in extra) is in the neural environment
export LM_EVAL_EXT_TEST_LANGDETECT_PYTHON="$PWD/.venv-neural/bin/python"
FAST=0
ARGS=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then FAST=1; else ARGS+=("$arg"); fi
done
WORKERS=(-n 2 --dist loadfile)
LM_EVAL_FACING=(tests/test_compat.py tests/test_backends.py tests/test_integration.py tests/test_install.py
  tests/test_families.py tests/test_self_translate.py::test_perfect_translator_and_solver_score_one_everywhere
  tests/test_self_translate.py::test_one_command_runs_language_tasks_for_a_subset)
lm_eval_of() { "$1" -c 'from lm_eval_ext.compat import lm_eval_version as v; print("lm-eval", v())'; }
echo "== modern environment: $(lm_eval_of .venv/bin/python), $(.venv/bin/python -c 'import transformers, numpy; print("transformers", transformers.__version__, "numpy", numpy.__version__)')"
# The fast loop's files: scorers, readers, registries, task configs, patch points, the leaderboard;
# no tiny-model or loopback lm_eval run (the other files: name them to run them)
FAST_FILES=(tests/test_compat.py tests/test_confusion.py tests/test_exit_codes.py tests/test_families.py
  tests/test_integration.py tests/test_judge_transport.py tests/test_langid.py tests/test_languages.py
  tests/test_leaderboard_csv.py tests/test_legacy_runs.py tests/test_mgsm_extraction.py tests/test_mgsm_tasks.py
  tests/test_model_identity.py tests/test_polymath.py tests/test_polymath_checker.py tests/test_qa_scoring.py
  tests/test_qa_tasks.py tests/test_reasoning_blocks.py tests/test_run_folders.py tests/test_signature.py)
if [ "$FAST" = 1 ]; then
  for arg in "${ARGS[@]}"; do
    case "$arg" in tests/*) FAST_FILES=() ;; esac  # test paths given: those instead
  done
  exec .venv/bin/python -m pytest -q "${WORKERS[@]}" --durations=10 -m "not slow and not neural" "${ARGS[@]}" \
    "${FAST_FILES[@]}"
fi
.venv/bin/python -m pytest -q "${WORKERS[@]}" --durations=10 "${ARGS[@]}"
echo "== neural environment: $(lm_eval_of .venv-neural/bin/python), $(.venv-neural/bin/python -c 'import transformers, numpy; print("transformers", transformers.__version__, "numpy", numpy.__version__)')"
LM_EVAL_EXT_REQUIRE_NEURAL=1 .venv-neural/bin/python -m pytest -q "${WORKERS[@]}" --durations=10 -m "neural or not slow" "${ARGS[@]}" \
  tests/test_flores.py tests/test_neural_side_env.py tests/test_embedded.py \
  tests/test_mgsm_e2e.py tests/test_mgsm_tasks.py tests/test_qa_tasks.py tests/test_qa_scoring.py \
  tests/test_reports.py tests/test_languages.py "${LM_EVAL_FACING[@]}"
if [ ! -x .venv-lm05/bin/python ]; then
  echo "tests/run.sh: .venv-lm05 is missing: run bash install.sh --dev" >&2
  exit 2
fi
echo "== lm-eval 0.5 environment: $(lm_eval_of .venv-lm05/bin/python)"
.venv-lm05/bin/python -m pytest -q "${WORKERS[@]}" --durations=10 -m "not slow and not neural" "${ARGS[@]}" \
  "${LM_EVAL_FACING[@]}"
