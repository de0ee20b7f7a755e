"""PolyMath without a model: the real data, the generated tasks, the reasoning split, the
answer extraction, DW-ACC, and the plugin's group and filter hooks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import types

import pytest

from lm_eval_ext import families, languages, plugin, resources
from lm_eval_ext.families import polymath
from lm_eval_ext.families.base import RENDERED_PROMPTS
from lm_eval_ext.languages import POLYMATH_LANGS
from lm_eval_ext.metrics import math_answer
from lm_eval_ext.metrics.reasoning import prompt_opens_thinking, split, strip_reasoning


# ------------------------------------------------------------------------------ data
def test_every_file_loads_and_items_are_parallel(shared_data):
    by_item: dict[str, set] = {}
    for lang in POLYMATH_LANGS:
        for level in polymath.LEVELS:
            docs = polymath.read_level(shared_data, lang, level)
            assert len(docs) == 125
            for doc in docs:
                assert doc["lang"] == lang and doc["level"] == level and doc["question"].strip()
                by_item.setdefault(doc["item_id"], set()).add(doc["answer"])
    assert len(by_item) == 500
    # the same problem in every language: one gold per item id
    assert all(len(golds) == 1 for golds in by_item.values())
    # level low is MGSM-like: its first German item is MGSM's first
    mgsm_de = json.loads((shared_data / "mgsm" / "mgsm_de.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert polymath.read_level(shared_data, "de", "low")[0]["answer"] == str(mgsm_de["answer_number"])


def test_bad_rows_name_the_file_and_row(tmp_path):
    folder = tmp_path / "polymath"
    folder.mkdir()
    (folder / "polymath_de.low.jsonl").write_text(
        json.dumps({"id": "low-de-0", "question": "q", "answer": "1"}) + "\n"
        + json.dumps({"id": "low-fr-1", "question": "q", "answer": "2"}) + "\n", encoding="utf-8")
    with pytest.raises(families.DataFormatError, match=r"polymath_de\.low\.jsonl, row 2: id 'low-fr-1'"):
        polymath.read_level(tmp_path, "de", "low")
    with pytest.raises(families.DataNotFoundError, match="no language 'xx'"):
        polymath.required_files("xx", "low")


# ----------------------------------------------------------------------------- tasks
def test_generated_files_are_fresh_and_cover_modes_languages_levels():
    proc = subprocess.run([sys.executable, str(resources.tasks_dir() / "polymath" / "_generate.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = plugin.task_index()
    for mode in polymath.MODES:
        p = "polymath" if mode == "native" else f"polymath_{mode}"
        assert sorted(plugin.leaf_tasks(p)) == sorted(f"{p}_{lang}_{level}" for lang in POLYMATH_LANGS
                                                      for level in polymath.LEVELS)
        assert plugin.leaf_tasks(f"{p}_de") == [f"{p}_de_{level}" for level in polymath.LEVELS]
        assert len(plugin.leaf_tasks(f"{p}_top")) == 18
        hrl, url = plugin.leaf_tasks(f"{p}_hrl"), plugin.leaf_tasks(f"{p}_url")
        assert {t.split("_")[-2] for t in url} == set(languages.of_tier(languages.LOW, POLYMATH_LANGS))
        assert len(hrl) + len(url) == 72
    assert index["polymath_de_low"].cfg["dataset_kwargs"]["family"] == "polymath"


def test_prompts_are_the_release_strings_on_real_questions(shared_data):
    from lm_eval.tasks import TaskManager

    tasks = TaskManager().load(["polymath_de_low", "polymath_forcing_en_ja_top", "polymath_forcing_raw_sw_high"])["tasks"]
    de = tasks["polymath_de_low"]
    doc = de.eval_docs[0]
    assert de.doc_to_text(doc) == doc["question"] + "\nHinweis: Bitte setzen Sie die endgültige Antwort in $\\boxed\\{\\}$."
    ja = tasks["polymath_forcing_en_ja_top"]
    text = ja.doc_to_text(ja.eval_docs[3])
    assert text.endswith("\n注意：最終的な答えを $\\boxed\\{\\}$ に入れてください。\n英語を使って考え、回答してください。")
    sw = tasks["polymath_forcing_raw_sw_high"]
    assert sw.doc_to_text(sw.eval_docs[0]).endswith("$\\boxed\\{\\}$.\nTumia Kiswahili kufikiri na kujibu.")
    assert de.config.generation_kwargs["max_gen_toks"] == polymath.MAX_GEN_TOKS and de.config.generation_kwargs["until"] == []
    assert polymath.FAMILY.reply_language({"lang": "ja", "mode": "forcing_en"}) == "en"


def test_sampled_task_set_records_k(tmp_path):
    script = resources.tasks_dir() / "polymath" / "_generate.py"
    proc = subprocess.run([sys.executable, str(script), "--samples", "4", "--temperature", "0.7", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import yaml

    cfg = yaml.safe_load((tmp_path / "native_k4" / "polymath_k4_de_top.yaml").read_text(encoding="utf-8").split("\n", 1)[1]
                         .replace("!function ", ""))
    assert cfg["repeats"] == 4 and cfg["generation_kwargs"]["do_sample"] is True
    assert cfg["generation_kwargs"]["temperature"] == 0.7 and cfg["metadata"]["samples"] == 4
    assert polymath.task_parts("polymath_k4_de_top") == ("de", "top")


# ------------------------------------------------------------------- reasoning split
@pytest.mark.parametrize("reply,prompt,expected", [
    ("<think>Denken.</think>\nAntwort \\boxed{3}", None, ("Denken.", " \nAntwort \\boxed{3}", False)),
    ("rechnen...</think>\\boxed{3}", None, ("rechnen...", "\\boxed{3}", False)),  # the template opened it
    ("<think>rechnen \\boxed{4}", None, ("rechnen \\boxed{4}", "", True)),  # cut off inside
    ("\\boxed{3}", None, (None, "\\boxed{3}", False)),  # no thinking part
    # R1/QwQ: the rendered prompt opens the block; a cut-off reply carries no tag at all
    ("so x = 4, \\boxed{4}? wait", "<|User|>Q<|Assistant|><think>\n", ("so x = 4, \\boxed{4}? wait", "", True)),
    ("so x = 3</think>\\boxed{3}", "<|User|>Q<|Assistant|><think>\n", ("so x = 3", "\\boxed{3}", False)),
    # Qwen3 with thinking switched off: the prompt closes an empty block
    ("\\boxed{3}", "<|im_start|>assistant\n<think>\n\n</think>\n\n", (None, "\\boxed{3}", False)),
])
def test_split(reply, prompt, expected):
    assert tuple(split(reply, prompt)) == expected
    assert strip_reasoning(reply) == split(reply).answer


def test_prompt_open_tag_in_chat_messages():
    from lm_eval.models.api_models import JsonChatStr

    user = [{"role": "user", "content": "Q <think>"}]
    prefill = user + [{"role": "assistant", "content": "<think>\n"}]
    assert not prompt_opens_thinking(user) and prompt_opens_thinking(prefill)
    assert prompt_opens_thinking(JsonChatStr(json.dumps(prefill))) and not prompt_opens_thinking(JsonChatStr(json.dumps(user)))
    assert prompt_opens_thinking(json.dumps(prefill))


def test_the_filter_reads_the_prompts_the_plugin_passes():
    f = polymath.AnswerFilter(lang="de", mode="native")
    replies = [["x = 4 \\boxed{4}"], ["<think>a</think>\\boxed{5}"]]
    docs = [{}, {}]
    assert [str(r[0]) for r in f.apply(replies, docs)] == ["4", "5"]  # no prompts: the first reads as an answer
    token = RENDERED_PROMPTS.set(("<|Assistant|><think>\n", "<|Assistant|>"))
    try:
        out = f.apply(replies, docs)
    finally:
        RENDERED_PROMPTS.reset(token)
    assert str(out[0][0]) == polymath.CUT_OFF and out[0][0].truncated and out[0][0].thinking == "x = 4 \\boxed{4}"
    assert str(out[1][0]) == "5" and out[1][0].reply_lang == "de"


# ------------------------------------------------------------------------ extraction
@pytest.mark.parametrize("text,boxed", [
    ("Die Antwort ist $\\boxed{18}$.", "18"),
    ("\\boxed{1} und \\boxed{2}", "1"),  # the first
    ("\\boxed { \\frac{1}{2} }", "\\frac{1}{2}"),  # spaces removed, as the release does
    ("\\boxed{\\frac{1}{2}", None),  # never closed
    ("\\boxed{1 \\boxed{2}", "2"),  # an unclosed box is skipped
    ("\\fbox{3}", None),
    ("kein Kasten", None),
])
def test_first_boxed_is_the_release_rule(text, boxed):
    assert math_answer.first_boxed(text) == boxed


def test_first_boxed_is_linear_on_a_million_unclosed_boxes():
    import time

    start = time.perf_counter()
    assert math_answer.first_boxed("\\boxed{" * 200_000) is None
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------- DW-ACC
def _leaf(acc, stderr=0.01, filt="boxed"):
    return {f"acc,{filt}": acc, f"acc_stderr,{filt}": stderr}


def test_dw_acc_weights_levels_1_2_4_8_and_rounds_like_the_release():
    accs = {"low": 0.9, "medium": 0.6, "high": 0.3333, "top": 0.1}
    leaves = {f"polymath_de_{lvl}": _leaf(a) for lvl, a in accs.items()}
    values = polymath.group_values("polymath_de", leaves)
    assert values["dw_acc,boxed"] == pytest.approx((0.9 + 2 * 0.6 + 4 * 0.3333 + 8 * 0.1) / 15)
    # the release: each level to 0.1 % first (33.3), the weighted sum to 0.1 % again
    assert values["dw_acc_official,boxed"] == pytest.approx(round((90 + 120 + 4 * 33.3 + 80) / 15, 1) / 100)
    assert values["dw_acc_stderr,boxed"] == pytest.approx(math.sqrt(sum((w / 15) ** 2 for w in (1, 2, 4, 8))) * 0.01)
    # the mean over languages, not over items: a second language with other sizes weighs the same
    leaves.update({f"polymath_ja_{lvl}": _leaf(1.0) for lvl in polymath.LEVELS})
    both = polymath.group_values("polymath", leaves)
    assert both["dw_acc,boxed"] == pytest.approx((values["dw_acc,boxed"] + 1.0) / 2)
    # a level group: lm-eval's mean over languages is its value
    assert polymath.group_values("polymath_low", {f"polymath_{c}_low": _leaf(1.0) for c in ("de", "ja")}) == {}
    # a missing level: NaN, never a mean of what is there
    del leaves["polymath_ja_top"]
    assert math.isnan(polymath.group_values("polymath", leaves)["dw_acc,boxed"])


def test_group_hook_replaces_lm_evals_value_and_refuses_another_shape(monkeypatch):
    import lm_eval.evaluator_utils as evaluator_utils
    from lm_eval.api.group import Group
    from lm_eval.config.group import AggMetricConfig

    assert evaluator_utils.aggregate_groups._lm_eval_ext_patched  # installed by the autoload hook
    tasks = {f"polymath_de_{lvl}": types.SimpleNamespace(task_name=f"polymath_de_{lvl}") for lvl in polymath.LEVELS}

    group = Group("polymath_de", aggregate_metric_list=[AggMetricConfig("dw_acc", weight_by_size=False)])
    monkeypatch.setattr(Group, "get_all_tasks", lambda self, recursive=True: list(tasks.values()))
    results = evaluator_utils.EvalAcc()
    results.groups = {"polymath_de": group}
    accs = {"low": 1.0, "medium": 0.5, "high": 0.5, "top": 0.0}
    for lvl, a in accs.items():
        name = f"polymath_de_{lvl}"
        results.metrics[name] = {"name": name, "sample_len": 125, **_leaf(a)}
        results.configs[name] = {"dataset_kwargs": {"family": "polymath"}}
    evaluator_utils.aggregate_groups(results)
    assert results.metrics["polymath_de"]["dw_acc,boxed"] == pytest.approx((1 + 1 + 2 + 0) / 15)

    monkeypatch.setattr(plugin, "UNPATCHED", {})
    module = types.ModuleType("lm_eval.evaluator_utils")
    module.aggregate_groups = lambda groups, metrics: None  # another shape
    plugin.patch_group_values(module)
    assert plugin.GROUP_VALUES in plugin.UNPATCHED and "results" in plugin.UNPATCHED[plugin.GROUP_VALUES]
    filt = types.ModuleType("lm_eval.api.filter")
    plugin.patch_filter_prompts(filt)
    assert "no FilterEnsemble" in plugin.UNPATCHED[plugin.FILTER_PROMPTS]


def test_without_the_group_hook_dw_acc_is_nan_with_the_reason(monkeypatch):
    monkeypatch.setattr(plugin, "UNPATCHED", {plugin.GROUP_VALUES: "lm-eval 9: aggregate_groups: missing"})
    cfg = {"dataset_kwargs": {"family": "polymath", "lang": "de", "level": "low", "mode": "native"},
           "metric_list": [{"metric": "acc"}], "metadata": {"group_metrics": ["dw_acc", "dw_acc_official"]},
           "generation_kwargs": {}}
    result = types.SimpleNamespace(configs={"polymath_de_low": cfg}, metrics={"polymath_de_low": {"acc,boxed": 1.0}})
    plugin.annotate_results(result, {}, 0)
    meta = result.configs["polymath_de_low"]["metadata"]
    assert "group value not computed: lm-eval 9" in meta["skipped_metrics"]["dw_acc"]
    assert math.isnan(result.metrics["polymath_de_low"]["dw_acc,boxed"])  # so lm-eval's group mean is NaN too


def test_the_installed_lm_eval_has_the_new_patch_points():
    import lm_eval.api.filter as lm_filter

    assert plugin.UNPATCHED == {} and lm_filter.FilterEnsemble._lm_eval_ext_patched


def test_checks_run_from_threads_with_a_deadline():
    from lm_eval_ext.runtime import math_check

    out = {}

    def work(key, pred, gold):
        out[key] = math_check.check(pred, gold, deadline_s=30.0)

    threads = [threading.Thread(target=work, args=(k, p, g)) for k, p, g in (
        ("frac", "\\frac{2}{4}", "$\\frac{1}{2}$"), ("interval", "[2,3)", "$[2, 3)$"), ("wrong", "\\sqrt{3}", "$\\sqrt{2}$"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out["frac"].equal and out["interval"].equal and not out["wrong"].equal
    # a tower of exponents: killed at its deadline, wrong and counted, and the next check still works
    slow = math_check.check("9^{9^{9}}", "9", deadline_s=1.0)
    assert slow == math_check.Verdict(False, timed_out=True)
    assert math_check.check("\\sqrt{8}", "$2\\sqrt{2}$").equal


def test_without_math_verify_acc_is_nan_with_the_reason_never_a_partial_number():
    """math-verify hidden (tests/support/hide_packages): numbers could still be compared, but a
    partial acc would be a wrong number, so acc is left out on every document and skipped."""
    from support.hidden import hidden_env

    code = ("import json\n"
            "from lm_eval_ext.families import polymath\n"
            "doc = {'lang': 'de', 'answer': '18', 'level': 'low'}\n"
            "out = polymath.process_results(doc, [[polymath.extract('\\\\boxed{18}', None, 'de')]])\n"
            "meta = {}\n"
            "polymath.annotate('polymath_de_low', {'generation_kwargs': {}}, meta, None, None, 0)\n"
            "print(json.dumps({'keys': sorted(out), 'acc': str(meta['metric_signatures']['acc'])}))\n")
    import os

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **hidden_env("math_verify")}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "acc" not in got["keys"] and "check_timeout" not in got["keys"] and "truncated_in_thinking" in got["keys"]
    assert got["acc"].startswith("skipped: math-verify not installed") and 'pip install "lm-eval-ext[math]"' in got["acc"]
