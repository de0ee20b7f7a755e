"""The embedded model's GGUF -> HF conversion (lm_eval_ext.local.embedded) on the
installed transformers (4.57 and 5.x): the converted folder computes the same
logits as transformers' own GGUF loading on real MGSM prompts, and without the
package gguf (lm-eval-ext[embedded]) a cached folder still works while a first
conversion stops with a message naming the extra, exit 2 for the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support.env import SHARED_DATA, run_cli
from support.hidden import hidden_env

from lm_eval_ext.local import embedded

EMBEDDED_PIP = 'pip install "lm-eval-ext[embedded]"'


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The first use of the embedded model, into an empty cache."""
    cache = tmp_path_factory.mktemp("embedded_cache")
    before = os.environ.get("LM_EVAL_EXT_CACHE")
    os.environ["LM_EVAL_EXT_CACHE"] = str(cache)
    try:
        folder = embedded.model_dir()
    finally:
        if before is None:
            os.environ.pop("LM_EVAL_EXT_CACHE")
        else:
            os.environ["LM_EVAL_EXT_CACHE"] = before
    return cache, folder


def _mgsm_questions(n=1):
    out = []
    for lang in ("en", "de", "ja", "sw"):
        with open(SHARED_DATA / "mgsm" / f"mgsm_{lang}.jsonl", encoding="utf-8") as fh:
            out += [json.loads(line)["question"] for line in fh][:n]
    return out


@pytest.mark.slow
def test_converted_folder_gives_the_gguf_models_logits(converted):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache, folder = converted
    major = transformers.__version__.split(".")[0]
    assert folder.name == f"SmolLM2-135M-Instruct-from-gguf-v{embedded.CONVERSION_VERSION}-transformers{major}"
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no temporary folder left behind
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert tokenizer.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tokenizer.eos_token_id
    gguf_tokenizer, gguf_model = embedded.load_gguf(embedded.gguf_path())
    for question in _mgsm_questions():
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                               add_generation_prompt=True)
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        assert ids[0].tolist() == gguf_tokenizer(prompt, add_special_tokens=False).input_ids
        with torch.no_grad():
            want, got = gguf_model(ids).logits, model(ids).logits
        assert got.shape == want.shape == (1, ids.shape[1], 49152)
        assert torch.allclose(got, want, rtol=0, atol=1e-4), (got - want).abs().max()
        assert torch.equal(got[0, -1].argmax(), want[0, -1].argmax())


def _model_dir_without_gguf(cache):
    code = ("from lm_eval_ext.local import embedded\n"
            "try:\n    print('OK', embedded.model_dir())\n"
            "except embedded.EmbeddedModelMissing as err:\n    print('MISSING', err)\n")
    env = {**os.environ, **hidden_env("gguf"), "LM_EVAL_EXT_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


@pytest.mark.slow
def test_without_gguf_a_converted_folder_still_works(converted):
    cache, folder = converted
    assert _model_dir_without_gguf(cache) == f"OK {folder}"


def test_without_gguf_the_first_conversion_names_the_extra(tmp_path):
    out = _model_dir_without_gguf(tmp_path)
    assert out.startswith("MISSING the first use of the embedded model converts SmolLM2-135M-Instruct.Q4_1.gguf: gguf not installed")
    assert EMBEDDED_PIP in out
    assert list(tmp_path.iterdir()) == []
    proc = run_cli(["lm-eval-ext", "demo", "--langs", "en", "--limit", "1", "--output", str(tmp_path / "out")],
                   env={**hidden_env("gguf"), "LM_EVAL_EXT_CACHE": str(tmp_path)}, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert EMBEDDED_PIP in proc.stderr and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr
