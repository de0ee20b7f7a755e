"""PolyMath end to end through the real `lm_eval` CLI: scripted servers on loopback (oracle,
mixed, never-closing thinking) and a tiny real model whose chat template opens <think> in the
prompt; then the report, the leaderboard, compare, the judge and the consistency task on the
same run folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from support.env import run_cli
from support.hidden import hidden_env
from support.loopback import ScriptedServer, last_user_message

from lm_eval_ext.families import polymath
from lm_eval_ext.languages import POLYMATH_LANGS
from lm_eval_ext.metrics import langid

# thinking in another language than the question's for these (English; German for English)
WRONG_THINKING = ("en", "zh", "ar", "de", "ja", "ru", "sw", "te", "th")


@pytest.fixture(scope="module")
def items(shared_data):
    """question text -> doc, and (item_id, lang) -> doc, of every language and level."""
    by_question, by_item = {}, {}
    for lang in POLYMATH_LANGS:
        for level in polymath.LEVELS:
            for doc in polymath.read_level(shared_data, lang, level):
                by_question[doc["question"]] = doc
                by_item[(doc["item_id"], lang)] = doc
    return by_question, by_item


def _doc_of(payload, by_question) -> dict:
    """The doc of a prompt: the question, then the note (and in forcing modes the control line)."""
    prompt = last_user_message(payload)
    return by_question.get(prompt.rsplit("\n", 1)[0]) or by_question[prompt.rsplit("\n", 2)[0]]


def gold_box(doc) -> str:
    return "\\boxed{" + doc["answer"].replace("$", "") + "}"


def thinking_of(doc, by_item) -> str:
    """The question itself in the question's language, or the same problem in another language."""
    if doc["lang"] in WRONG_THINKING:
        other = "de" if doc["lang"] == "en" else "en"
        return by_item[(doc["item_id"], other)]["question"]
    return doc["question"]


def _results(out: Path) -> dict:
    (path,) = list(out.rglob("results_*.json"))
    return json.loads(path.read_text(encoding="utf-8"))


def _samples(out: Path, task: str) -> list[dict]:
    (path,) = list(out.rglob(f"samples_{task}_*.jsonl"))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# runs that assert no language-identification value leave lingua out (its models take ~1 GB and
# seconds to load in every lm_eval process): those metrics are then NaN with the reason
NO_LINGUA = hidden_env("lingua")


def _run(server, tasks: str, limit: int, out: Path, *extra, env=None) -> dict:
    proc = run_cli(["lm_eval", "run", "--model", "local-chat-completions",
                    "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=8",
                    "--tasks", tasks, "--limit", str(limit), "--apply_chat_template", "--log_samples",
                    "--output_path", str(out), *extra], env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return _results(out)


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory, items):
    """Every reply: a thinking part (the question, or the same problem in another language for
    WRONG_THINKING), then the question again and the gold in \\boxed{}."""
    by_question, by_item = items

    def policy(kind, payload):
        doc = _doc_of(payload, by_question)
        return f"<think>{thinking_of(doc, by_item)}</think>\n{doc['question']}\n\n$${gold_box(doc)}$$"

    out = tmp_path_factory.mktemp("polymath_oracle")
    with ScriptedServer(policy) as server:
        return out, _run(server, "polymath", 1, out)


def test_oracle_scores_one_everywhere_and_thinking_consistency_follows_the_thinking_language(oracle_run, items):
    out, res = oracle_run
    by_question, by_item = items
    assert len([t for t in res["results"] if polymath.task_parts(t)]) == 72
    for task, metrics in res["results"].items():
        if polymath.task_parts(task) is None:
            continue
        assert metrics["acc,boxed"] == 1.0 and metrics["truncated_in_thinking,boxed"] == 0.0, task
    for lang in POLYMATH_LANGS:
        group = res["groups"][f"polymath_{lang}"]
        assert group["dw_acc,boxed"] == 1.0 and group["dw_acc_official,boxed"] == 1.0, lang
        # the thinking part: 0 where it is in another language; the value our identifier gives the
        # same texts (computed here) where it is in the question's language
        expected = [langid.fidelity(thinking_of(by_item[(f"{level}-0", lang)], by_item), lang)
                    for level in polymath.LEVELS]
        decided = [v for v in expected if v is not None]
        if lang in WRONG_THINKING:
            assert decided and all(v == 0.0 for v in decided), (lang, expected)
        assert group["thinking_lang_fidelity,boxed"] == pytest.approx(sum(decided) / len(decided)), lang
    assert res["groups"]["polymath"]["dw_acc,boxed"] == 1.0
    assert res["groups"]["polymath_url"]["dw_acc,boxed"] == 1.0
    # the release's langdetect rule: its value where langdetect is installed, else NaN and why
    from lm_eval_ext.metrics import langdetect_rule

    meta = res["configs"]["polymath_de_low"]["metadata"]
    cons = res["results"]["polymath_de_low"]["answer_lang_cons_langdetect,boxed"]
    if langdetect_rule.unavailable():
        assert "langdetect not installed" in meta["skipped_metrics"]["answer_lang_cons_langdetect"]
        assert math.isnan(cons)
    else:
        assert cons == float(langdetect_rule.consistent(f"{by_item[('low-0', 'de')]['question']}\n\n$$x$$", "de"))
    assert meta["metric_signatures"]["acc"].endswith("samples:1|avg@1|decoding:greedy")
    # the samples log keeps the thinking part and the answer part apart
    line = _samples(out, "polymath_sw_medium")[0]
    doc = by_item[("medium-0", "sw")]
    assert line["reply_thinking"] == [by_item[("medium-0", "en")]["question"].strip()]
    assert line["reply_answer"][0].strip().startswith(doc["question"][:40]) and line["reply_truncated"] == [False]
    assert line["filtered_resps"] == [[doc["answer"].replace("$", "").replace(" ", "")]]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, items):
    """de: right at low and medium, a wrong number at high, no box at top; ja: thinking never
    closed (cut off); sw: right with a unit after the number (\\text{}), English thinking."""
    by_question, by_item = items

    def policy(kind, payload):
        doc = _doc_of(payload, by_question)
        lang, level = doc["lang"], doc["level"]
        if lang == "ja":
            return f"<think>{doc['question']} まず考えます。\\boxed{{{doc['answer']}}}か？"
        if lang == "sw":
            english = by_item[(doc["item_id"], "en")]["question"]
            return f"<think>{english}</think>Jibu ni $\\boxed{{{doc['answer'].replace('$', '')}\\text{{ dola}}}}$."
        if level in ("low", "medium"):
            return f"<think>{doc['question']}</think>Die Antwort ist ${gold_box(doc)}$."
        if level == "high":
            return f"<think>{doc['question']}</think>Die Antwort ist $\\boxed{{{int(doc['answer']) + 1}}}$."
        return f"<think>{doc['question']}</think>Die Antwort ist {doc['answer']}."

    out = tmp_path_factory.mktemp("polymath_mixed")
    with ScriptedServer(policy) as server:
        return out, _run(server, "polymath_de,polymath_ja,polymath_sw", 2, out)


def test_mixed_server_values_computed_here(mixed_run):
    out, res = mixed_run
    r, g = res["results"], res["groups"]
    levels = {"low": 1.0, "medium": 1.0, "high": 0.0, "top": 0.0}
    for level, acc in levels.items():
        assert r[f"polymath_de_{level}"]["acc,boxed"] == acc
    assert r["polymath_de_top"]["no_answer,boxed"] == 1.0
    assert g["polymath_de"]["dw_acc,boxed"] == pytest.approx((1 * 1 + 2 * 1) / 15)
    assert g["polymath_de"]["dw_acc_official,boxed"] == pytest.approx(20.0 / 100)
    # a server that never closes its thinking: 0, counted; the \boxed{} inside the thinking is never read
    for level in polymath.LEVELS:
        assert r[f"polymath_ja_{level}"]["acc,boxed"] == 0.0
        assert r[f"polymath_ja_{level}"]["truncated_in_thinking,boxed"] == 1.0
    assert g["polymath_ja"]["dw_acc,boxed"] == 0.0 and g["polymath_ja"]["truncated_in_thinking,boxed"] == 1.0
    assert all(line["filtered_resps"] == [[polymath.CUT_OFF]] for line in _samples(out, "polymath_ja_low"))
    # a unit after the number is still the number
    assert g["polymath_sw"]["dw_acc,boxed"] == 1.0
    assert g["polymath_sw"]["thinking_lang_fidelity,boxed"] == 0.0


# ---------------------------------------------------- a real model, the template opens <think>
@pytest.fixture(scope="module")
def thinking_template_model(tiny_model_dir, tmp_path_factory):
    """The tiny model with an R1/QwQ-style template: the assistant turn starts inside <think>."""
    import shutil

    out = tmp_path_factory.mktemp("tiny_think") / "model"
    shutil.copytree(tiny_model_dir, out)
    opening = "<|im_start|>assistant\n{% endif %}"
    jinja = out / "chat_template.jinja"  # transformers 5 keeps the template beside the tokenizer config
    if jinja.is_file():
        jinja.write_text(jinja.read_text(encoding="utf-8").replace(opening, "<|im_start|>assistant\n<think>\n{% endif %}"),
                         encoding="utf-8")
    config = out / "tokenizer_config.json"
    cfg = json.loads(config.read_text(encoding="utf-8"))
    if cfg.get("chat_template"):
        cfg["chat_template"] = cfg["chat_template"].replace(opening, "<|im_start|>assistant\n<think>\n{% endif %}")
        config.write_text(json.dumps(cfg), encoding="utf-8")
    assert "<think>" in (jinja.read_text(encoding="utf-8") if jinja.is_file() else cfg["chat_template"])
    return out


@pytest.mark.parametrize("opens", [True, False], ids=["template-opens-think", "plain-template"])
def test_hf_model_whose_template_opens_thinking_is_cut_off_inside_it(tiny_model_dir, thinking_template_model, tmp_path,
                                                                     opens):
    """The random tiny model never writes </think>: with the template that opened the block its
    replies are thinking cut off (0, counted); with the plain template the same kind of reply is
    an answer without a box. Only the rendered prompt tells the two apart."""
    model = thinking_template_model if opens else tiny_model_dir
    proc = run_cli(["lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
                    "--tasks", "polymath_de_low", "--limit", "2", "--apply_chat_template", "--gen_kwargs",
                    "max_gen_toks=6", "--log_samples", "--output_path", str(tmp_path), "--batch_size", "2"], env=NO_LINGUA)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = _results(tmp_path)["results"]["polymath_de_low"]
    assert r["acc,boxed"] == 0.0
    assert r["truncated_in_thinking,boxed"] == (1.0 if opens else 0.0)
    lines = _samples(tmp_path, "polymath_de_low")
    assert all(("<think>" in str(line["arguments"])) == opens for line in lines)
    assert all((line["reply_thinking"] == [line["resps"][0][0]]) == opens for line in lines)


# ---------------------------------------- report, leaderboard, compare and judge on the same runs
def _run_dir(out: Path) -> Path:
    (path,) = list(out.rglob("results_*.json"))
    return path.parent


def test_report_leaderboard_and_compare(oracle_run, mixed_run, tmp_path):
    oracle, mixed = _run_dir(oracle_run[0]), _run_dir(mixed_run[0])
    report = run_cli(["lm-eval-ext", "report", str(oracle), str(mixed), "-o", str(tmp_path / "report")])
    assert report.returncode == 0, report.stderr[-3000:]
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    section = md.split("## PolyMath", 1)[1].split("\n## ", 1)[0]
    # languages x levels with DW-ACC and its CI, both runs; the mixed run's German row computed above
    assert "| Deutsch (de) | 1.000 | 1.000 | 0.000 | 0.000 | 0.200 \\[" in section
    assert section.count("| Deutsch (de) | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 \\[") == 1
    assert "| 日本語 (ja) | 0.000 | 0.000 | 0.000 | 0.000 | 0.000" in section and "<svg" in \
        (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    board = run_cli(["lm-eval-ext", "leaderboard", str(oracle), str(mixed), "--format", "json"])
    assert board.returncode == 0, board.stderr[-2000:]
    rows = {r["run_dir"]: r for r in json.loads(board.stdout)["rows"]}
    assert rows[str(oracle)]["polymath_de/@group/dw_acc:boxed"] == 1.0
    assert rows[str(mixed)]["polymath_de/@group/dw_acc:boxed"] == pytest.approx(0.2)
    assert rows[str(mixed)]["polymath_high/de/acc:boxed"] == 0.0 and rows[str(oracle)]["polymath/@group/dw_acc:boxed"] == 1.0
    gate = run_cli(["lm-eval-ext", "compare", str(oracle), str(mixed), "--allow-missing", "--format", "md"])
    assert gate.returncode == 1, gate.stdout[-2000:] + gate.stderr[-2000:]  # regressed
    regressed = {line.split("|")[1].strip() for line in gate.stdout.splitlines() if line.endswith("regressed |")}
    assert regressed == {"polymath_de_high", "polymath_de_top", *(f"polymath_ja_{lvl}" for lvl in polymath.LEVELS)}


def test_the_judge_reads_the_answer_part_and_the_gold(mixed_run, tmp_path):
    from lm_eval_ext.judge import protocols as P

    run = _run_dir(mixed_run[0])
    with ScriptedServer(lambda kind, payload: "The final answer matches.\nCorrect: yes\nSupported: yes") as judge:
        proc = run_cli(["lm-eval-ext", "judge", str(run), "--judge-url", judge.base_url, "--judge-model", "j",
                        "--tasks", "polymath_de_medium,polymath_sw_low", "--cache", str(tmp_path / "cache.sqlite"),
                        "--no-progress"])
        prompts = [last_user_message(p) for _, p in judge.requests]
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = run.glob("judge_results_*.json")
    doc = json.loads(results.read_text(encoding="utf-8"))
    entry = doc["tasks"]["polymath_de_medium"]["math_cot"]
    assert entry["n"] == 2 and entry["template_version"] == P.template("math_cot").version
    assert len(prompts) == 4
    # the gold (LaTeX) and the answer part reach the judge, the thinking part does not
    pi_third = next(p for p in prompts if "\\frac{\\pi}{3}" in p)
    assert "Die Antwort ist" in pi_third and "</think>" not in pi_third
    assert all("<think>" not in p for p in prompts)


def test_consistency_task_compares_answers_with_the_checker(items, tmp_path):
    """xlc_polymath through the Parallel adapter: the first two problems in all 18 languages.
    Swahili gets problem 0 wrong; Telugu writes problem 1's answer as 3.00 (the same answer)."""
    by_question, _ = items

    def policy(kind, payload):
        doc = _doc_of(payload, by_question)
        if doc["lang"] == "sw" and doc["item_id"] == "low-0":
            return "<think>hesabu</think>\\boxed{17}"
        if doc["lang"] == "te" and doc["item_id"] == "low-1":
            return "\\boxed{3.00}"
        return f"<think>{doc['question']}</think>{gold_box(doc)}"

    with ScriptedServer(policy) as server:
        res = _run(server, "xlc_polymath", 36, tmp_path, env=NO_LINGUA)["results"]["xlc_polymath"]
    assert res["accuracy_sw,boxed"] == 0.5 and res["accuracy_te,boxed"] == 1.0 and res["accuracy_en,boxed"] == 1.0
    assert res["agreement_en_sw,boxed"] == 0.5 and res["consistency_en_sw,boxed"] == 0.5
    assert res["agreement_en_te,boxed"] == 1.0  # "3.00" and "3": the same answer by the checker, not by string
    assert res["correct_all,boxed"] == 0.5 and res["correct_some,boxed"] == 0.5 and res["correct_none,boxed"] == 0.0


def test_self_translate_through_the_registry_entry(items, tmp_path):
    """Stage 1 translates German problems into English (the real English text), stage 2 answers
    the translation with polymath_en's prompt and scorer: right on problems 0 and 1, wrong on 2."""
    import re

    from lm_eval_ext.families import self_translate as st

    by_question, by_item = items

    def policy(kind, payload):
        prompt = last_user_message(payload)
        m = re.fullmatch(r"(.+?): (.*)\nEnglish:", prompt, re.S)
        if m:  # stage 1 (FLORES's prompt)
            return by_item[(by_question[m[2]]["item_id"], "en")]["question"]
        doc = _doc_of(payload, by_question)
        assert doc["lang"] == "en"
        return "\\boxed{0}" if doc["item_id"] == "low-2" else f"<think>ok</think>{gold_box(doc)}"

    with ScriptedServer(policy) as server:
        stage1 = _run(server, st.stage1_task("polymath", "de"), 3, tmp_path / "stage1", env=NO_LINGUA)
        assert stage1["results"]["polymath_self_translate_stage1_de"]["chrfpp,translation"] == 100.0
        stage2 = _run(server, st.stage2_task("polymath", "de"), 3, tmp_path / "stage2",
                      env={**NO_LINGUA, st.SETTING: str(tmp_path / "stage1")})
    r = stage2["results"]["polymath_self_translate_de"]
    assert r["acc,boxed"] == pytest.approx(2 / 3) and r["translation_chrfpp,boxed"] == 100.0
    assert math.isnan(r["dw_acc,boxed"])  # three low problems: DW-ACC needs every level
    assert polymath.dw_acc_of_items([("low", 1.0), ("medium", 1.0), ("high", 0.0), ("top", 0.5), ("top", 0.5)]) \
        == pytest.approx((1 + 2 + 0 + 8 * 0.5) / 15)



def test_sampled_decoding_reports_avg_at_k_and_records_k(items, tmp_path):
    """k = 2 samples per problem (tasks written by the generator's --samples): the first problem
    answered right once and wrong once, the second right twice: acc = avg@2 = (0.5 + 1) / 2."""
    import subprocess
    import sys

    from lm_eval_ext import resources

    by_question, _ = items
    tasks = tmp_path / "sampled"
    proc = subprocess.run([sys.executable, str(resources.tasks_dir() / "polymath" / "_generate.py"), "--samples", "2",
                           "--temperature", "0.6", "--out", str(tasks)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    seen: dict = {}

    def policy(kind, payload):
        doc = _doc_of(payload, by_question)
        n = seen[doc["item_id"]] = seen.get(doc["item_id"], 0) + 1
        assert payload["temperature"] == 0.6
        wrong = doc["item_id"] == "low-0" and n == 2
        return "\\boxed{0}" if wrong else gold_box(doc)

    with ScriptedServer(policy) as server:
        res = _run(server, "polymath_k2_de_low", 2, tmp_path / "out", "--include_path", str(tasks), env=NO_LINGUA)
    assert seen == {"low-0": 2, "low-1": 2}
    r = res["results"]["polymath_k2_de_low"]
    assert r["acc,boxed"] == pytest.approx(0.75)
    sig = res["configs"]["polymath_k2_de_low"]["metadata"]["metric_signatures"]["acc"]
    assert sig.endswith("samples:2|avg@2|decoding:sampled(temperature=0.6,top_p=0.95)")
    assert "sampling_warning" not in res["configs"]["polymath_k2_de_low"]["metadata"]
    line = _samples(tmp_path / "out", "polymath_k2_de_low")[0]
    assert len(line["resps"][0]) == 2 and len(line["reply_answer"]) == 2
