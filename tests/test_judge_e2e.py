"""End to end with real models: a real MGSM run (lm_eval, tiny random Llama, --log_samples)
judged through `lm-eval-ext serve` (a real OpenAI-compatible server process serving a
real transformers model on loopback) and through the local `--judge-hf` path.

The tiny model is random, so most judge replies carry no score: the test checks the
accounting (items, parse failures, reminders, requests) and that both paths run the
same templates, not the judge's opinion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.env import run_cli

from lm_eval_ext.judge import protocols as P

TASKS = ["mgsm_native_cot_de", "mgsm_en_cot_sw"]
LIMIT = 3
SENTINEL = "sk-E2E-SENTINEL-4b1d"


@pytest.fixture(scope="module")
def mgsm_run(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("mgsm_run")
    proc = run_cli(["lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
                    "--tasks", ",".join(TASKS), "--limit", str(LIMIT), "--batch_size", "3",
                    "--gen_kwargs", "max_gen_toks=16", "--log_samples", "--output_path", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = list(out.rglob("results_*.json"))
    return results.parent


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    bindir = Path(sys.executable).parent
    proc = subprocess.Popen([str(bindir / "lm-eval-ext"), "serve", "--hf", str(tiny_model_dir), "--port", "0",
                             "--model-name", "tiny-judge"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        pytest.fail(f"server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    yield line.strip().split(" on ")[1]
    proc.terminate()
    proc.wait(timeout=30)


def _results(run_dir: Path) -> dict:
    return json.loads(sorted(run_dir.glob("judge_results_*.json"))[-1].read_text())


def _replies(run_dir: Path, doc: dict) -> dict:
    out = {}
    for task, per in doc["tasks"].items():
        for line in (run_dir / per["math_cot"]["samples_file"]).read_text().splitlines():
            x = json.loads(line)
            out[(task, x["doc_id"])] = x["judge_replies"]
    return out


def _check_accounting(doc: dict, http_requests: int) -> None:
    retried = 0
    for task in TASKS:
        e = doc["tasks"][task]["math_cot"]
        assert e["n_items"] == LIMIT
        assert e["n"] + e["parse_failures"] == LIMIT and e["request_failures"] == e["not_judged"] == 0
        assert len(e["parse_failure_doc_ids"]) == e["parse_failures"]
        assert e["template_version"] == P.template("math_cot").version
        assert e["mean"] is None if e["n"] == 0 else 0 <= e["mean"] <= 1
        retried += e["retried_with_reminder"]
        assert e["retried_with_reminder"] >= e["parse_failures"]
    assert doc["requests"]["cache_misses"] == http_requests == 2 * LIMIT + retried


def test_serve_speaks_the_openai_protocol(server):
    import requests

    models = requests.get(f"{server}/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == ["tiny-judge"]
    r = requests.post(f"{server}/completions", json={"model": "tiny-judge", "prompt": "Die Antwort ist",
                                                     "max_tokens": 5, "temperature": 0}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion" and isinstance(body["choices"][0]["text"], str)
    assert 1 <= body["usage"]["completion_tokens"] <= 5
    again = requests.post(f"{server}/completions", json={"prompt": "Die Antwort ist", "max_tokens": 5}, timeout=120)
    assert again.json()["choices"][0]["text"] == body["choices"][0]["text"]  # greedy: deterministic
    bad = requests.post(f"{server}/chat/completions", json={"messages": "hello"}, timeout=30)
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]


def test_served_model_judges_a_real_run(mgsm_run, server, tmp_path):
    cache = tmp_path / "cache.sqlite"
    proc = run_cli(["lm-eval-ext", "judge", str(mgsm_run), "--judge-url", server, "--judge-model", "tiny-judge",
                    "--api-key-env", "E2E_KEY", "--max-tokens", "24", "--cache", str(cache), "--concurrency", "4"],
                   env={"E2E_KEY": SENTINEL})
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = _results(mgsm_run)
    assert doc["complete"] and doc["provenance"]["judge"]["model"] == "tiny-judge"
    _check_accounting(doc, doc["requests"]["http_requests"])
    replies = _replies(mgsm_run, doc)
    assert all(r and all(isinstance(x, str) for x in r) for r in replies.values())
    # English CoT is expected in English, native CoT in German: the prompts said so
    lines = [json.loads(x) for x in (mgsm_run / doc["tasks"]["mgsm_en_cot_sw"]["math_cot"]["samples_file"]).read_text().splitlines()]
    assert {x["response_lang"] for x in lines} == {"en"}
    for f in list(mgsm_run.iterdir()) + list(tmp_path.iterdir()):
        if f.is_file():
            assert SENTINEL.encode() not in f.read_bytes(), f
    assert SENTINEL not in proc.stdout + proc.stderr
    # the report shows the judge next to exact match
    p = run_cli(["lm-eval-ext", "report", str(mgsm_run), "-o", str(tmp_path / "report")])
    assert p.returncode == 0, p.stderr[-2000:]
    assert "judge/math_cot" in (tmp_path / "report" / "report.md").read_text()
    test_served_model_judges_a_real_run.replies = replies


def test_local_transformers_judge_same_templates_and_replies(mgsm_run, tiny_model_dir, tmp_path):
    served = getattr(test_served_model_judges_a_real_run, "replies", None)
    # batched (left padding) greedy decoding of the same prompts through the same chat template
    proc = run_cli(["lm-eval-ext", "judge", str(mgsm_run), "--judge-hf", str(tiny_model_dir), "--max-tokens", "24",
                    "--batch-size", "4", "--cache", str(tmp_path / "c.sqlite"), "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = _results(mgsm_run)
    assert doc["provenance"]["judge"]["backend"] == "transformers"
    assert doc["provenance"]["judge"]["batch_size"] == 4
    _check_accounting(doc, doc["requests"]["http_requests"])
    if served is not None:
        assert _replies(mgsm_run, doc) == served
