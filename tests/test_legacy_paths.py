"""The module paths of the previous release keep working for one release: task YAMLs
users copied name them (``!function lm_eval_ext.mgsm.AnswerFilter``). Each old module
warns with its new path and hands out the new objects; task files written with the
old paths (tests/legacy_tasks: today's generated files as the previous release wrote
them, under other task names) run through lm_eval with the same numbers as ours."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA, run_cli
from loopback import ScriptedServer, last_user_message

from lm_eval_ext import languages

LEGACY = Path(__file__).resolve().parent / "legacy_tasks"
OLD_PATHS = {
    "lm_eval_ext.data": ("lm_eval_ext.families", ["load", "check_available", "DataNotFoundError", "read_jsonl"]),
    "lm_eval_ext.mgsm": ("lm_eval_ext.families.mgsm", ["AnswerFilter", "extract"]),
    "lm_eval_ext.qa": ("lm_eval_ext.families.qa", ["AnswerFilter", "OtherArticleSampler"]),
    "lm_eval_ext.flores": ("lm_eval_ext.families.flores", ["TranslationFilter", "FloresSampler"]),
    "lm_eval_ext.xlc": ("lm_eval_ext.families.xlc", ["AnswerFilter", "SameLanguageSampler", "process_results", "compute"]),
    "lm_eval_ext.mt_metrics": ("lm_eval_ext.metrics.mt", ["bleu", "spbleu", "chrfpp", "bootstrap_stderr"]),
    "lm_eval_ext.neural_metrics": ("lm_eval_ext.metrics.neural", ["comet", "bleurt", "signature"]),
    "lm_eval_ext.langid": ("lm_eval_ext.metrics.langid", ["fidelity_metrics", "METRIC_LIST", "SIGNATURE"]),
    "lm_eval_ext.numbers": ("lm_eval_ext.metrics.numbers", ["find_numbers", "canonical", "strip_reasoning"]),
    "lm_eval_ext.qa_scoring": ("lm_eval_ext.metrics.qa", ["score", "signature", "mlqa_tokens"]),
    "lm_eval_ext.discovery": ("lm_eval_ext.plugin", ["tasks_dir", "reports_dir", "task_index"]),
}
PAIRS = {  # legacy task -> ours
    "legacy_mgsm_native_cot_de": "mgsm_native_cot_de",
    "legacy_xquad_de": "xquad_de",
    "legacy_flores_eng_Latn-deu_Latn": "flores_eng_Latn-deu_Latn",
    "legacy_xlc_mgsm": "xlc_mgsm",
}
LIMIT = 3


@pytest.mark.parametrize("old", OLD_PATHS)
def test_an_old_module_path_warns_and_hands_out_the_new_objects(old):
    new, names = OLD_PATHS[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated .* use {new}"):
        module = importlib.import_module(old)
    for name in names:
        found = getattr(module, name)
        home = next(m for m in (new, "lm_eval_ext.families.base", "lm_eval_ext.metrics.consistency",
                                "lm_eval_ext.metrics.reasoning") if hasattr(importlib.import_module(m), name))
        assert found is getattr(importlib.import_module(home), name), (old, name)
    with pytest.raises(AttributeError, match="moved to"):
        module.no_such_name  # noqa: B018


def test_old_process_results_leave_out_what_does_not_apply():
    """Old task files aggregate lang_fidelity and exact_match_in_lang with lm-eval's plain mean:
    through an old path a metric that does not apply is left out (the previous release's
    contract), where the new path logs None for langid.mean_decidable."""
    from lm_eval_ext.families import mgsm as new_mgsm

    for name in ("lm_eval_ext.mgsm", "lm_eval_ext.qa", "lm_eval_ext.flores"):
        sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning):
        old_mgsm = importlib.import_module("lm_eval_ext.mgsm")
    doc = {"lang": "de", "answer_number": 18.0}
    for reply, absent in (("18", {"lang_fidelity", "exact_match_in_lang"}),
                          ("She has 9 eggs left. The answer is 18.", {"exact_match_in_lang"})):
        answer = new_mgsm.AnswerFilter(lang="de", mode="native_cot", strategy="flexible").apply([[reply]], [doc])[0][0]
        now = new_mgsm.process_results(doc, [answer])
        assert {k for k, v in now.items() if v is None} == absent
        assert old_mgsm.process_results(doc, [answer]) == {k: v for k, v in now.items() if v is not None}


def test_the_old_consistency_aggregations_by_name():
    sys.modules.pop("lm_eval_ext.xlc", None)
    with pytest.warns(DeprecationWarning):
        xlc = importlib.import_module("lm_eval_ext.xlc")
    from lm_eval_ext.metrics.consistency import Record

    records = [Record("0", "de", "1", True), Record("0", "en", "1", True), Record("1", "de", "2", False),
               Record("1", "en", "3", True)]
    assert xlc.mgsm__agreement_de_en(records) == 0.5 and xlc.mgsm__consistency_de_en(records) == 0.5
    with pytest.raises(AttributeError):
        xlc.mgsm__agreement_de_xx  # noqa: B018


def _jsonl(path, n):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()][:n]


@pytest.fixture(scope="module")
def replies():
    """Prompt text -> reply: MGSM right on item 0 and wrong on the others; XQuAD the gold span;
    FLORES the reference, the second sentence cut in half."""
    table = {}
    for lang in ("bn", "de"):  # the xlc documents of --limit 3: bn 0, de 0, en 0
        for k, row in enumerate(_jsonl(SHARED_DATA / "mgsm" / f"mgsm_{lang}.jsonl", LIMIT)):
            table[row["question"]] = languages.get(lang).mgsm.answer_sentence.format(row["answer_number"] + k)
    for row in _jsonl(SHARED_DATA / "mgsm" / "mgsm_en.jsonl", 1):
        table[row["question"]] = f"The answer is {row['answer_number']}."
    for row in _jsonl(SHARED_DATA / "xquad" / "xquad.de.jsonl", LIMIT):
        table[row["question"]] = f"Antwort: {row['answers']['text'][0]}"
    eng = [r["text"] for r in _jsonl(SHARED_DATA / "flores" / "eng_Latn.devtest.jsonl", LIMIT)]
    deu = [r["text"] for r in _jsonl(SHARED_DATA / "flores" / "deu_Latn.devtest.jsonl", LIMIT)]
    for k, (src, ref) in enumerate(zip(eng, deu)):
        table[src] = ref if k != 1 else ref[: len(ref) // 2]
    return table


def test_task_files_with_the_old_paths_run_and_score_as_ours(replies, tmp_path):
    def policy(kind, payload):
        prompt = last_user_message(payload)
        (reply,) = [r for key, r in replies.items() if key in prompt]
        return reply

    env = {"LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off",
           "LM_EVAL_EXT_FLORES200_SPM": str(tmp_path / "no-flores200.model")}
    with ScriptedServer(policy) as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
            "--include_path", str(LEGACY), "--tasks", ",".join([*PAIRS, *PAIRS.values()]), "--limit", str(LIMIT),
            "--apply_chat_template", "--output_path", str(tmp_path / "out"),
        ], env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (path,) = list((tmp_path / "out").rglob("results_*.json"))
    doc = json.loads(path.read_text())
    results, configs = doc["results"], doc["configs"]
    for legacy, ours in PAIRS.items():
        old, new = results[legacy], results[ours]
        keys = {k for k in new if "," in k}
        assert keys and keys == {k for k in old if "," in k}, legacy
        for key in keys:
            a, b = old[key], new[key]
            assert (isinstance(a, float) and math.isnan(a) and math.isnan(b)) or a == b, (legacy, key, a, b)
        assert configs[legacy]["metadata"]["scorer"] == configs[ours]["metadata"]["scorer"]
    # the runs were scored, not empty: MGSM item 0 right, items 1-2 wrong; XQuAD all right
    assert results["legacy_mgsm_native_cot_de"]["exact_match,strict-match"] == pytest.approx(1 / 3)
    assert results["legacy_xquad_de"]["exact_match,clean"] == 1.0
    assert 0 < results["legacy_flores_eng_Latn-deu_Latn"]["chrfpp,translation"] < 100
    assert results["legacy_xlc_mgsm"]["accuracy_de,strict-match"] == 1.0
