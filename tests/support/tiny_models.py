"""A tiny real model for fast end-to-end tests: a random-init Llama of a few hundred thousand
parameters with a byte-level BPE tokenizer trained on real MGSM questions (all 11 languages),
saved as an ordinary HF folder that lm-eval's `hf` model loads."""

from __future__ import annotations

import json
from pathlib import Path

from support.env import SHARED_DATA


def build_tiny_llama(out: Path) -> Path:
    """A random-init Llama of a few hundred thousand parameters with a byte-level
    BPE tokenizer trained here on real MGSM questions (all 11 languages), saved
    as an ordinary HF folder that lm-eval's `hf` model loads."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

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
