"""Shared fixtures. Tests read the real benchmark data in ../shared/data and
never touch the network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", REPO.parent / "shared" / "data")).resolve()

# Offline, and our tasks read the local copy: set before anything imports datasets.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["LM_EVAL_EXT_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if not (SHARED_DATA / "mgsm").is_dir():  # fail loudly: tests must run on the real data
    raise RuntimeError(f"benchmark data not found at {SHARED_DATA} (set LM_EVAL_EXT_TEST_DATA)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


def run_cli(args, env=None, timeout=900, cwd=None) -> subprocess.CompletedProcess:
    """Run a console command (lm_eval, lm-eval-ext) as a user would, in this venv."""
    bindir = Path(sys.executable).parent
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(bindir / args[0]), *args[1:]],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init Llama of a few hundred thousand parameters with a byte-level
    BPE tokenizer trained here on real MGSM questions (all 11 languages), saved
    as an ordinary HF folder that lm-eval's `hf` model loads."""
    import json

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny_model")
    texts = []
    for path in sorted((SHARED_DATA / "mgsm").glob("mgsm_*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            texts += [json.loads(line)["question"] for line in fh][:40]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=1024, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out
