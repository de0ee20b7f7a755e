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


# ------------------------------------------------------- COMET / BLEURT homes
# The reference packages (unbabel-comet, bleurt-pytorch) pin transformers<5 and
# numpy<2. Tests marked `neural` need them in this interpreter (the neural
# environment of tests/run.sh); a modern environment reaches them through the
# side environment named by LM_EVAL_EXT_TEST_NEURAL_PYTHON (tests/run.sh sets it).
SIDE_PYTHON = os.environ.get("LM_EVAL_EXT_TEST_NEURAL_PYTHON", "").strip()


def reference_packages_here() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("comet", "bleurt_pytorch"))


def pytest_configure(config):
    config.addinivalue_line("markers", "neural: needs unbabel-comet and bleurt-pytorch in this interpreter")
    if os.environ.get("LM_EVAL_EXT_REQUIRE_NEURAL") == "1" and not reference_packages_here():
        raise pytest.UsageError("LM_EVAL_EXT_REQUIRE_NEURAL=1 but unbabel-comet/bleurt-pytorch are not importable")


def pytest_collection_modifyitems(config, items):
    if reference_packages_here():
        return
    skip = pytest.mark.skip(reason="needs unbabel-comet/bleurt-pytorch in this interpreter: runs in the neural "
                                   "environment (tests/run.sh)")
    for item in items:
        if "neural" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def neural_python() -> str:
    """The interpreter that has the reference packages: this one, else the side
    environment (mandatory in CI, skipped elsewhere when not configured)."""
    if reference_packages_here():
        return sys.executable
    if SIDE_PYTHON:
        return SIDE_PYTHON
    if os.environ.get("CI"):
        pytest.fail("no unbabel-comet here and LM_EVAL_EXT_TEST_NEURAL_PYTHON is not set (tests/run.sh sets it)")
    pytest.skip("no unbabel-comet here; set LM_EVAL_EXT_TEST_NEURAL_PYTHON to a side environment's python")


def side_env() -> dict:
    """Environment variables that route this process's COMET/BLEURT to the side
    environment when the reference packages are not importable here."""
    return {} if reference_packages_here() or not SIDE_PYTHON else {"LM_EVAL_EXT_NEURAL_PYTHON": SIDE_PYTHON}


def in_neural_python(python: str, *args: str, timeout=900) -> None:
    """Run tests/tiny_mt_models.py with the interpreter that has the reference packages."""
    proc = subprocess.run([python, str(REPO / "tests" / "tiny_mt_models.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="session")
def mt_models(tmp_path_factory, neural_python) -> dict:
    """Tiny real-architecture COMET and BLEURT checkpoints (tests/tiny_mt_models.py),
    built where the reference packages are."""
    import json

    out = tmp_path_factory.mktemp("mt_models")
    if neural_python == sys.executable:
        sys.path.insert(0, str(REPO / "tests"))
        from tiny_mt_models import build_with_reference

        return build_with_reference(SHARED_DATA, out)
    in_neural_python(neural_python, "build", str(SHARED_DATA), str(out))
    return {k: Path(v) for k, v in json.loads((out / "paths.json").read_text()).items()}


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
