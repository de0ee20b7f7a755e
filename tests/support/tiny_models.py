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


def mgsm_questions(per_language: int = 40) -> list[str]:
    texts = []
    for path in sorted((SHARED_DATA / "mgsm").glob("mgsm_*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            texts += [json.loads(line)["question"] for line in fh][:per_language]
    return texts


def build_tiny_decoder(kind: str, tokenizer_dir: Path, out: Path) -> Path:
    """A random-init decoder of another architecture than the tiny Llama, with the tokenizer of
    `tokenizer_dir`, saved as an HF folder:

    - ``gpt2``: tied embeddings, LayerNorm with bias (``transformer.ln_f``), learned absolute positions;
    - ``gemma2``: RMSNorm scaled by (1 + w), embeddings scaled by sqrt(hidden), final logit soft-capping;
    - ``opt-post-ln``: OPT with the layer norm after each block (OPT-350m's layout): no final norm."""
    import shutil

    import torch
    from transformers import AutoTokenizer, Gemma2Config, Gemma2ForCausalLM, GPT2Config, GPT2LMHeadModel, OPTConfig, \
        OPTForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    special = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=3, n_head=4, n_positions=1024,
                                           **special))
    elif kind == "gemma2":
        model = Gemma2ForCausalLM(Gemma2Config(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, max_position_embeddings=1024, final_logit_softcapping=30.0, **special))
    elif kind == "opt-post-ln":
        model = OPTForCausalLM(OPTConfig(vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=2,
                                         num_attention_heads=4, word_embed_proj_dim=32, do_layer_norm_before=False,
                                         max_position_embeddings=1024, **special))
    else:
        raise ValueError(kind)
    out.mkdir(parents=True, exist_ok=True)
    for f in Path(tokenizer_dir).iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, out / f.name)
    model.save_pretrained(out)
    return out


def build_byte_tokenizer(out: Path) -> Path:
    """A byte-level BPE tokenizer without merges: every character of a non-Latin script is
    several one-byte tokens (so no Chinese word has a whole character as its first token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.save_pretrained(out)
    return out


def train_sentencepiece(out: Path, vocab_size: int = 2000):
    """A SentencePiece unigram model with byte fallback, trained here on real MGSM questions (all
    11 languages; character coverage below 1, so rare CJK characters fall back to bytes), and the
    Hugging Face fast tokenizer over the same pieces and scores, as Llama 2's tokenizer.json wraps
    its model (``▁`` for the space, a ``▁`` prepended, ``<0xNN>`` byte pieces). Returns (the
    SentencePieceProcessor, the HF tokenizer)."""
    import sentencepiece as spm
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(mgsm_questions()), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(out / "sp"), vocab_size=vocab_size,
                                   model_type="unigram", byte_fallback=True, character_coverage=0.995,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(out / "sp.model"))
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    tok = Tokenizer(models.Unigram(pieces, unk_id=sp.unk_id(), byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    return sp, fast
