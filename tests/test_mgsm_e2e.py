"""MGSM end to end through the real `lm_eval` CLI."""

import json
import re
import time
from pathlib import Path

import pytest
from support.env import run_cli
from support.loopback import ScriptedServer, last_user_message

from lm_eval_ext import languages
from lm_eval_ext.languages import MGSM_LANGS

LIMIT = 6
# How many of the first LIMIT items each language answers with its own answer
# sentence (strict and flexible both right); item k_L then gets the right number
# without the sentence (flexible right, strict wrong); the rest are wrong.
K = {"bn": 1, "de": 2, "en": 6, "es": 3, "fr": 4, "ja": 2, "ru": 5, "sw": 0, "te": 1, "th": 3, "zh": 4}


def _jsonl(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _native(n: int, code: str) -> str:
    digits = languages.get(code).digits
    return "".join(digits[int(d)] for d in str(n)) if digits else str(n)


@pytest.fixture(scope="module")
def mgsm_items(shared_data):
    """question text -> (lang, index, gold)"""
    items = {}
    for code in MGSM_LANGS:
        for i, row in enumerate(_jsonl(shared_data / "mgsm" / f"mgsm_{code}.jsonl")[:LIMIT]):
            items[row["question"]] = (code, i, row["answer_number"])
    return items


def _policy(items):
    def policy(kind, payload):
        prompt = last_user_message(payload)
        (code, i, gold), = [v for q, v in items.items() if q in prompt]
        L = languages.get(code)
        sentence = L.mgsm.answer_sentence
        if i < K[code]:
            return f"Schritt 1: {_native(gold + 3, code)} - 3. " + sentence.format(_native(gold, code))
        if i == K[code]:
            return f"{sentence.format(_native(gold + 1, code))} ... oder doch {_native(gold, code)}"
        return sentence.format(_native(gold + 7, code))
    return policy


def _expected(strategy):
    per_lang = {c: (K[c] + (strategy == "flexible" and K[c] < LIMIT)) / LIMIT for c in MGSM_LANGS}
    mean = lambda codes: sum(per_lang[c] for c in codes) / len(codes)  # noqa: E731
    return per_lang, {
        "all": mean(MGSM_LANGS),
        "hrl": mean(languages.of_tier(languages.HIGH, MGSM_LANGS)),
        "url": mean(languages.of_tier(languages.LOW, MGSM_LANGS)),
        "non_en": mean([c for c in MGSM_LANGS if c != "en"]),
    }


def _results(out: Path) -> dict:
    (path,) = list(out.rglob("results_*.json"))
    return json.loads(path.read_text())


def test_loopback_endpoint_group_means(tmp_path, mgsm_items):
    with ScriptedServer(_policy(mgsm_items)) as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
            "--tasks", "mgsm_native_cot", "--limit", str(LIMIT), "--apply_chat_template",
            "--log_samples", "--output_path", str(tmp_path),
        ])
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(server.requests) == LIMIT * len(MGSM_LANGS)
        # each request: the localized instruction as system prompt, the localized stops
        kind, payload = server.requests[0]
        assert kind == "chat" and payload["messages"][0]["role"] == "system"
        assert "\n" not in payload["stop"]
    res = _results(tmp_path)["results"]
    for strategy, filt in (("strict", "strict-match"), ("flexible", "flexible-extract")):
        per_lang, means = _expected(strategy)
        for code, value in per_lang.items():
            assert res[f"mgsm_native_cot_{code}"][f"exact_match,{filt}"] == pytest.approx(value, abs=1e-12), code
        # group aggregates = hand-computed means over languages (not over items)
        assert res["mgsm_native_cot"][f"exact_match,{filt}"] == pytest.approx(means["all"], abs=1e-12)
        assert res["mgsm_native_cot"][f"exact_match_non_en,{filt}"] == pytest.approx(means["non_en"], abs=1e-12)
        assert res["mgsm_native_cot_hrl"][f"exact_match,{filt}"] == pytest.approx(means["hrl"], abs=1e-12)
        assert res["mgsm_native_cot_url"][f"exact_match,{filt}"] == pytest.approx(means["url"], abs=1e-12)
    # samples logs carry the extracted answer per filter
    samples = _jsonl(next(tmp_path.rglob("samples_mgsm_native_cot_bn_*.jsonl")))
    strict = [s for s in samples if s["filter"] == "strict-match"]
    assert len(strict) == LIMIT and strict[0]["filtered_resps"][0] == str(strict[0]["doc"]["answer_number"]).removesuffix(".0")


@pytest.mark.slow
def test_tiny_model_zero_shot_chat_and_eight_shot(tmp_path, tiny_model_dir):
    common = ["--model", "hf", "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
              "--limit", "2", "--batch_size", "2", "--gen_kwargs", "max_gen_toks=8", "--log_samples"]
    proc = run_cli(["lm_eval", "run", "--tasks", "mgsm_native_cot", "--apply_chat_template",
                    "--output_path", str(tmp_path / "chat"), *common])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "chat")
    assert {f"mgsm_native_cot_{c}" for c in MGSM_LANGS} <= set(res["results"])
    assert "exact_match,strict-match" in res["results"]["mgsm_native_cot"]
    assert res["n-shot"]["mgsm_native_cot_de"] == 0

    proc = run_cli(["lm_eval", "run", "--tasks", "mgsm_direct_de,mgsm_en_cot_th", "--num_fewshot", "8",
                    "--output_path", str(tmp_path / "fewshot"), *common])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "fewshot")
    assert res["n-shot"]["mgsm_direct_de"] == 8
    sample = _jsonl(next((tmp_path / "fewshot").rglob("samples_mgsm_en_cot_th_*.jsonl")))[0]
    prompt = sample["arguments"]["gen_args_0"]["arg_0"]
    assert prompt.count("โจทย์:") == 9 and prompt.count("Step-by-Step Answer:") == 9
    assert len(re.findall(r"The answer is \d+\.", prompt)) == 8  # English reasoning of the 8 exemplars


def test_missing_language_file_fails_before_the_model_loads(tmp_path, shared_data):
    local = tmp_path / "data" / "mgsm"
    local.mkdir(parents=True)
    for code in MGSM_LANGS:
        if code != "sw":
            for suffix in (".jsonl", ".train.jsonl"):
                (local / f"mgsm_{code}{suffix}").write_bytes((shared_data / "mgsm" / f"mgsm_{code}{suffix}").read_bytes())
    started = time.time()
    proc = run_cli(
        ["lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={tmp_path}/no-such-model",
         "--tasks", "mgsm_native_cot"],
        env={"LM_EVAL_EXT_DATA_DIR": str(tmp_path / "data")},
    )
    assert proc.returncode != 0
    missing = str(local / "mgsm_sw.jsonl")
    assert missing in proc.stderr and "mgsm_native_cot_sw" in proc.stderr
    assert "no-such-model" not in proc.stderr  # the model was never touched
    assert time.time() - started < 120


def test_missing_file_error_from_python_api(tmp_path):
    from lm_eval_ext import families

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(families.DATA_DIR_ENV, str(tmp_path))
        with pytest.raises(families.DataNotFoundError) as err:
            families.load("mgsm", task="mgsm_direct_de", lang="de", mode="direct")
    assert str(tmp_path / "mgsm" / "mgsm_de.jsonl") in str(err.value) and "mgsm_direct_de" in str(err.value)
    with pytest.raises(families.DataNotFoundError, match="MGSM has no language 'xx'"):
        families.check_available(task="t", family="mgsm", lang="xx")
