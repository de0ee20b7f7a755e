"""XQuAD and MLQA end to end through the real `lm_eval` CLI: scripted replies
from an OpenAI-compatible server on loopback (exact metric values, computed
independently with the official scripts in tests/reference/), and a tiny local
HF model (zero-shot chat and k-shot)."""

import json
from pathlib import Path

import pytest
from support.env import run_cli
from support.loopback import ScriptedServer, last_user_message
from support.qa_data import build_data_dir, read_jsonl, xquad_rows
from reference import mlqa_extended, squad_v1_1

from lm_eval_ext import languages
from lm_eval_ext.languages import MLQA_LANGS, XQUAD_LANGS

LIMIT = 3
EXTRA_TASKS = ("xquad_de_zh", "xquad_th_en", "mlqa_ar_hi", "mlqa_zh_es")
PREFIX = {"en": "the", "es": "los", "de": "die", "vi": "những", "el": "το", "ro": "o",
          "ar": "ال", "hi": "यह", "zh": "的", "ru": "это", "th": "ที่", "tr": "bir"}


@pytest.fixture(scope="module")
def data_dir(shared_data, tmp_path_factory):
    return build_data_dir(shared_data, tmp_path_factory.mktemp("qa_e2e_data"))


@pytest.fixture(scope="module")
def items(shared_data):
    """lang -> first LIMIT XQuAD rows (MLQA test items are the same, see qa_data)."""
    return {lang: xquad_rows(shared_data, lang)[:LIMIT + 8] for lang in XQUAD_LANGS}


def _half(text, lang):
    if not languages.get(lang).spaced:
        return text[: max(1, len(text) // 2)]
    return " ".join(text.split()[: max(1, len(text.split()) // 2)])


def scripted(items, ctx, q, i):
    """(reply sent by the server, the answer span the task must score)."""
    gold = items[ctx][i]["answers"]["text"][0]
    other = items[ctx][i + 5]["answers"]["text"][0]
    label = languages.get(q).qa.answer
    kind = (i + XQUAD_LANGS.index(ctx) + 2 * XQUAD_LANGS.index(q)) % 8
    if kind == 0:
        return f"{label} {gold}", gold
    if kind == 1:
        return f"«{PREFIX[ctx]} {gold}».", f"{PREFIX[ctx]} {gold}"
    if kind == 2:
        return f"**{_half(gold, ctx)}**\nIt says so in the context.", _half(gold, ctx)
    if kind == 3:
        return f"\n{other}\n", other
    if kind == 4:
        return f"<think>{label} {other}?</think>\n{gold} !!", gold
    if kind == 6:  # the span, then a passage in the context's language: lang_fidelity 1
        return f"{gold}\n{items[ctx][i]['context'][:300]}", gold
    if kind == 7:  # the span, then an English passage: lang_fidelity 0 (1 when ctx is English)
        return f"{gold}\n{items['en'][i]['context'][:300]}", gold
    return "", ""


def expected_fidelity(items, ctx, q, i):
    """lang_fidelity of the scripted reply where it is known by construction:
    1.0 / 0.0, None = undecidable (the empty reply), ... = not asserted
    (short spans: their language is what the identifier says)."""
    kind = (i + XQUAD_LANGS.index(ctx) + 2 * XQUAD_LANGS.index(q)) % 8
    return {5: None, 6: 1.0, 7: float(ctx == "en")}.get(kind, ...)


def expected_scores(core, golds, ctx):
    return {
        "exact_match": float(mlqa_extended.metric_max_over_ground_truths(mlqa_extended.exact_match_score, core, golds, ctx)),
        "f1_qa": float(mlqa_extended.metric_max_over_ground_truths(mlqa_extended.f1_score, core, golds, ctx)),
        "exact_match_squad": float(squad_v1_1.metric_max_over_ground_truths(squad_v1_1.exact_match_score, core, golds)),
        "f1_squad": float(squad_v1_1.metric_max_over_ground_truths(squad_v1_1.f1_score, core, golds)),
    }


def _policy(items):
    questions = {items[lang][i]["question"]: (lang, i) for lang in XQUAD_LANGS for i in range(LIMIT)}
    contexts = {items[lang][0]["context"]: lang for lang in XQUAD_LANGS}

    def policy(kind, payload):
        prompt = last_user_message(payload)
        (q, i), = [v for text, v in questions.items() if text in prompt]
        ctx, = [lang for text, lang in contexts.items() if text in prompt]
        return scripted(items, ctx, q, i)[0]

    return policy


def _pair(task):
    parts = task.split("_")
    return (parts[1], parts[1]) if len(parts) == 2 else (parts[1], parts[2])


def _results(out: Path) -> dict:
    (path,) = list(out.rglob("results_*.json"))
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def loopback_run(tmp_path_factory, data_dir, items):
    out = tmp_path_factory.mktemp("qa_loopback")
    with ScriptedServer(_policy(items)) as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
            "--tasks", ",".join(("xquad_all", "mlqa_all") + EXTRA_TASKS), "--limit", str(LIMIT),
            "--apply_chat_template", "--log_samples", "--output_path", str(out),
        ], env={"LM_EVAL_EXT_DATA_DIR": str(data_dir)})
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, requests


def test_loopback_requests_are_localized(loopback_run, items):
    out, requests = loopback_run
    assert len(requests) == LIMIT * (len(XQUAD_LANGS) + len(MLQA_LANGS) + len(EXTRA_TASKS))
    for kind, payload in requests:
        system, user = payload["messages"][0], payload["messages"][-1]
        assert kind == "chat" and system["role"] == "system"
        (q,) = [c for c in XQUAD_LANGS if any(items[c][i]["question"] in user["content"] for i in range(LIMIT))]
        P = languages.get(q).qa
        assert system["content"].strip() == P.instruction
        assert user["content"].rstrip().endswith(P.answer)
        assert payload["stop"][:2] == ["\n" + P.question, "\n\n"] and "\n" not in payload["stop"]


def test_loopback_metrics_equal_the_official_scripts(loopback_run, items):
    out, _ = loopback_run
    res = _results(out)["results"]
    tasks = [f"xquad_{c}" for c in XQUAD_LANGS] + [f"mlqa_{c}_{c}" for c in MLQA_LANGS] + list(EXTRA_TASKS)
    per_task = {}
    all_fidelity = set()
    for task in tasks:
        ctx, q = _pair(task)
        samples = read_jsonl(next(out.rglob(f"samples_{task}_2*.jsonl")))
        assert sorted(s["doc_id"] for s in samples) == list(range(LIMIT))
        sums = dict.fromkeys(("exact_match", "f1_qa", "exact_match_squad", "f1_squad"), 0.0)
        fidelity = []
        for s in samples:
            i = s["doc_id"]
            reply, core = scripted(items, ctx, q, i)
            assert s["resps"][0][0] == reply
            assert s["filtered_resps"][0] == core, (task, reply)
            assert (s["doc"]["ctx_lang"], s["doc"]["q_lang"]) == (ctx, q)
            want = expected_scores(core, items[ctx][i]["answers"]["text"], ctx)
            for m, v in want.items():
                assert s[m] == pytest.approx(v, abs=1e-9), (task, i, m)
                sums[m] += v
            # output-language fidelity: undecidable replies log lang_fidelity None
            fid = expected_fidelity(items, ctx, q, i)
            assert s["lang_undecidable"] == float(s["lang_fidelity"] is None), (task, i)
            if fid is None:
                assert s["lang_undecidable"] == 1.0, (task, reply)
            elif fid is not ...:
                assert s["lang_fidelity"] == fid, (task, reply)
            if s["lang_fidelity"] is not None:
                fidelity.append(s["lang_fidelity"])
                all_fidelity.add(s["lang_fidelity"])
        per_task[task] = {m: v / LIMIT for m, v in sums.items()}
        for m, v in per_task[task].items():
            assert res[task][f"{m},clean"] == pytest.approx(v, abs=1e-9), (task, m)
        assert res[task]["lang_undecidable,clean"] == pytest.approx((LIMIT - len(fidelity)) / LIMIT, abs=1e-9)
        if fidelity:  # the mean over the decidable replies only
            per_task[task]["lang_fidelity"] = sum(fidelity) / len(fidelity)
            assert res[task]["lang_fidelity,clean"] == pytest.approx(per_task[task]["lang_fidelity"], abs=1e-9)
        else:
            assert "lang_fidelity,clean" not in res[task]

    def mean(names, m):
        return sum(per_task[n][m] for n in names) / len(names)

    hrl = [f"xquad_{c}" for c in languages.of_tier(languages.HIGH, XQUAD_LANGS)]
    url = [f"xquad_{c}" for c in languages.of_tier(languages.LOW, XQUAD_LANGS)]
    for m in ("exact_match", "f1_qa", "exact_match_squad", "f1_squad"):
        # groups: mean over languages (not items)
        assert res["xquad_all"][f"{m},clean"] == pytest.approx(mean(hrl + url, m), abs=1e-9)
        assert res["xquad_hrl"][f"{m},clean"] == pytest.approx(mean(hrl, m), abs=1e-9)
        assert res["xquad_url"][f"{m},clean"] == pytest.approx(mean(url, m), abs=1e-9)
        assert res["mlqa_all"][f"{m},clean"] == pytest.approx(mean([f"mlqa_{c}_{c}" for c in MLQA_LANGS], m), abs=1e-9)
    have = [n for n in hrl + url if "lang_fidelity" in per_task[n]]
    assert res["xquad_all"]["lang_fidelity,clean"] == pytest.approx(mean(have, "lang_fidelity"), abs=1e-9)
    # the scripted replies reach distinct values (the test can fail)
    assert len({round(v["f1_qa"], 6) for v in per_task.values()}) > 3
    assert all_fidelity == {0.0, 1.0}


@pytest.mark.slow
def test_tiny_model_zero_shot_chat_and_two_shot(tmp_path, tiny_model_dir, data_dir):
    env = {"LM_EVAL_EXT_DATA_DIR": str(data_dir)}
    # max_length: lm-eval keeps the last 512 prompt tokens (the model is random; this keeps it fast)
    common = ["--model", "hf", "--model_args", f"pretrained={tiny_model_dir},dtype=float32,max_length=512",
              "--batch_size", "4", "--gen_kwargs", "max_gen_toks=4", "--log_samples"]
    proc = run_cli(["lm_eval", "run", "--tasks", "xquad_all,mlqa_all", "--limit", "1", "--apply_chat_template",
                    "--output_path", str(tmp_path / "chat"), *common], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "chat")
    for c in XQUAD_LANGS:
        row = res["results"][f"xquad_{c}"]
        for m in ("exact_match", "f1_qa", "exact_match_squad", "f1_squad"):
            assert 0.0 <= row[f"{m},clean"] <= 1.0
    assert res["n-shot"]["xquad_de"] == 0 and "f1_qa,clean" in res["results"]["xquad_all"]
    assert {f"mlqa_{c}_{c}" for c in MLQA_LANGS} <= set(res["results"]) and "f1_squad,clean" in res["results"]["mlqa_all"]

    proc = run_cli(["lm_eval", "run", "--tasks", "xquad_th,mlqa_zh_de", "--num_fewshot", "2", "--limit", "1",
                    "--output_path", str(tmp_path / "fewshot"), *common], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "fewshot")
    assert res["n-shot"]["xquad_th"] == 2 and res["n-shot"]["mlqa_zh_de"] == 2
    th = xquad_rows(data_dir, "th")
    for sample in read_jsonl(next((tmp_path / "fewshot").rglob("samples_xquad_th_*.jsonl"))):
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        assert prompt.count("คำถาม:") == 3 and prompt.count("คำตอบ:") == 3
        blocks = prompt.split("\n\n")[1:]  # after the instruction
        assert len(blocks) == 3 and blocks[-1].startswith("บริบท: " + sample["doc"]["context"][:20])
        for block in blocks[:2]:  # exemplars: another article, with their gold answer
            ctx = block.split("\n")[0].removeprefix("บริบท: ")
            (row,) = [r for r in th if r["context"] == ctx and r["question"] in block][:1]
            assert ctx != sample["doc"]["context"] and block.endswith("คำตอบ: " + row["answers"]["text"][0])
    for sample in read_jsonl(next((tmp_path / "fewshot").rglob("samples_mlqa_zh_de_*.jsonl"))):
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        assert prompt.count("Frage:") == 3 and prompt.startswith(languages.get("de").qa.instruction)
        dev_contexts = {r["context"] for r in read_jsonl(data_dir / "mlqa" / "mlqa.zh.de.dev.jsonl")}
        exemplar_contexts = [b.split("\n")[0].removeprefix("Kontext: ") for b in prompt.split("\n\n")[1:3]]
        assert all(c in dev_contexts for c in exemplar_contexts)
