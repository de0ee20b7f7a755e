#!/usr/bin/env bash
# On a GPU image that cannot fetch anything: install lm-eval-ext from the wheels that
# benchmarks/gpu_wheels.sh put in .whl/ (carried to the machine), nothing else.
#
#   bash benchmarks/gpu_install.sh            into the image's python3 (PYTHON=... for another)
#
# - .whl/main: installed with --no-deps over the image's own packages, then `pip check`
#   (when the image's pyarrow/fsspec do not suit datasets 5.2, the carried 5.0.1 is taken; a
#   broken requirement of one of the image's own packages is reported, one of ours stops);
# - .whl/neural, when carried: COMET/BLEURT with their own pins (transformers 4.57,
#   huggingface-hub 0.36, torchmetrics 0.10) into an overlay folder .whl-env/neural, and
#   .whl-env/neural-python, an interpreter that sees the overlay before the image's packages:
#   set LM_EVAL_EXT_NEURAL_PYTHON to it (the side environment of README "Neural metrics").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_BREAK_SYSTEM_PACKAGES=1  # a throwaway image's Python may be marked externally managed
PIP="$PY -m pip --disable-pip-version-check"
$PIP install -q --no-deps --no-index .whl/main/*.whl
if ! $PIP check > .whl/pip-check.txt 2>&1; then
  if grep -qi '^datasets ' .whl/pip-check.txt; then
    echo "gpu_install.sh: $(grep -i '^datasets ' .whl/pip-check.txt | head -1); taking datasets 5.0.1" >&2
    $PIP install -q --no-deps --no-index .whl/alt/datasets-*.whl
  fi
  if ! $PIP check > .whl/pip-check.txt 2>&1; then
    # only a broken requirement of what we installed stops here; the image's own are reported
    ours=$(ls .whl/main | sed 's/-.*//; s/_/-/g' | sort -u | paste -sd'|')
    if sed 's/_/-/g' .whl/pip-check.txt | grep -Eiq "^($ours) "; then cat .whl/pip-check.txt >&2; exit 1; fi
    echo "gpu_install.sh: pip check names only the image's own packages (not ours):" >&2
  fi
fi
cat .whl/pip-check.txt
if [ -d .whl/neural ]; then
  rm -rf .whl-env && mkdir -p .whl-env
  $PIP install -q --no-deps --no-index --target .whl-env/neural .whl/neural/*.whl
  printf '#!/bin/sh\n# the COMET/BLEURT pins first, then this Python'"'"'s own packages\nPYTHONPATH=%s exec %s "$@"\n' \
    "$PWD/.whl-env/neural" "$($PY -c 'import sys; print(sys.executable)')" > .whl-env/neural-python
  chmod +x .whl-env/neural-python
  .whl-env/neural-python -c 'import comet, bleurt_pytorch, transformers, numpy; print("neural-python: transformers", transformers.__version__, "numpy", numpy.__version__)'
fi
$PY -c 'import torch, transformers, numpy, huggingface_hub, lm_eval, lm_eval_ext; print("python:", "torch", torch.__version__, "transformers", transformers.__version__, "numpy", numpy.__version__, "huggingface-hub", huggingface_hub.__version__, "lm-eval", lm_eval.__version__, "lm-eval-ext", lm_eval_ext.__version__, "cuda", torch.cuda.is_available())'
