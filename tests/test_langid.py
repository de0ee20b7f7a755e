"""Output-language identification on real sentences of every registry language,
undecidable replies, and the MGSM per-sample fidelity values."""

import json
import math

import pytest

from lm_eval_ext import languages
from lm_eval_ext.families import mgsm
from lm_eval_ext.metrics import langid


def _texts(path, field, n):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)[field] for line in fh][:n]


# Indonesian and Malay are two standards of one language: lingua takes 3 of 40 FLORES sentences of
# each for the other (measured; 9 and 5 of the 60-character cuts), and nothing else
CLOSE_PAIR = {"id": "ms", "ms": "id"}


@pytest.mark.parametrize("code", sorted(languages.LANGUAGES))
def test_flores_sentences_identified_per_language(shared_data, code):
    """40 real FLORES devtest sentences per language, whole and cut to 60 characters."""
    texts = _texts(shared_data / "flores" / f"{languages.get(code).flores}.devtest.jsonl", "text", 40)
    whole = [langid.detect(t) for t in texts]
    short = [langid.detect(t[:60]) for t in texts]
    if code in CLOSE_PAIR:
        assert sum(p == code for p in whole) >= 37 and sum(p == code for p in short) >= 31, (code, whole, short)
        assert sum(p in (code, CLOSE_PAIR[code]) for p in whole) == 40, (code, whole)
        return
    assert sum(p == code for p in whole) >= 38, (code, whole)
    assert sum(p == code for p in short) >= 34, (code, short)


@pytest.mark.parametrize("code", languages.MGSM_LANGS)
def test_mgsm_questions_and_the_registry_answer_sentence(shared_data, code):
    texts = _texts(shared_data / "mgsm" / f"mgsm_{code}.jsonl", "question", 30)
    assert sum(langid.detect(t) == code for t in texts) >= 29
    # a native-CoT reply ending in the exemplars' answer sentence is judged by its words, not its digits
    L = languages.get(code)
    reply = f"{texts[0]}\n{L.mgsm.cot_cue} {L.mgsm.answer_sentence.format(42)}"
    assert langid.fidelity(reply, code) == 1.0
    assert langid.fidelity(reply, "en" if code != "en" else "de") == 0.0


@pytest.mark.parametrize("reply", ["42", "  18.5 ", "$1,234", "Jibu", "18 dollars", "**18**", "<think>Let me think about it carefully.</think>18", ""])
def test_too_short_replies_are_undecidable(reply):
    assert langid.detect(reply) is None
    assert langid.fidelity(reply, "de") is None
    # lang_fidelity None: every document emits every key (data-parallel gathers), the mean skips it
    assert langid.fidelity_metrics(reply, "de") == {"lang_undecidable": 1.0, "lang_fidelity": None,
                                                    "lang_line_pass": None}


def test_think_blocks_and_numbers_are_ignored():
    reply = "<think>The user wants the answer in German, let me compute it.</think>Die Antwort ist 42, ganz sicher."
    assert langid.detect(reply) == "de"
    assert langid.fidelity_metrics(reply, "de") == {"lang_undecidable": 0.0, "lang_fidelity": 1.0,
                                                    "lang_line_pass": 1.0}


def test_codes_map_to_the_registry():
    assert langid.to_registry_code("zh-Hant") == "zh"
    assert langid.to_registry_code("deu_Latn") == "de"
    assert langid.to_registry_code("PT") == "pt"  # outside the registry: kept, never equal to es
    assert langid.to_registry_code(None) is None


def test_mgsm_process_results_fidelity_and_in_language_accuracy():
    doc = {"lang": "de", "answer_number": 18.0}
    de = "Sie hat 16 - 3 - 4 = 9 Eier übrig. Die Antwort ist 18."
    en = "She has 16 - 3 - 4 = 9 eggs left. The answer is 18."

    def run(reply, mode):
        answer = mgsm.AnswerFilter(lang="de", mode=mode, strategy="flexible").apply([[reply]], [doc])[0][0]
        assert answer == "18" and json.dumps(answer) == '"18"'  # logged as the plain string
        return mgsm.process_results(doc, [answer])

    assert run(de, "native_cot") == {"exact_match": 1.0, "exact_match_non_en": 1.0, "lang_undecidable": 0.0,
                                     "lang_fidelity": 1.0, "lang_line_pass": 1.0, "exact_match_in_lang": 1.0}
    # right answer, wrong language: not counted among the in-language replies
    r = run(en, "native_cot")
    assert r["lang_fidelity"] == 0.0 and r["exact_match_in_lang"] is None and r["exact_match"] == 1.0
    assert r["lang_line_pass"] == 0.0
    # en-CoT expects English
    assert run(en, "en_cot")["lang_fidelity"] == 1.0 and "exact_match_in_lang" not in run(en, "en_cot")
    # direct: a bare number is undecidable
    assert run("18", "direct") == {"exact_match": 1.0, "exact_match_non_en": 1.0, "lang_undecidable": 1.0,
                                   "lang_fidelity": None, "lang_line_pass": None}
    # native-CoT, undecidable: neither fidelity nor in-language accuracy applies
    assert run("18", "native_cot") == {"exact_match": 1.0, "exact_match_non_en": 1.0, "lang_undecidable": 1.0,
                                       "lang_fidelity": None, "lang_line_pass": None, "exact_match_in_lang": None}
    # a plain string (someone else's filter) gets exact_match only
    assert mgsm.process_results(doc, ["18"]) == {"exact_match": 1.0, "exact_match_non_en": 1.0}


def test_undecidable_samples_leave_report_scores_intact(tmp_path):
    """runs.item_scores skips samples without the key (an undecidable reply)."""
    from lm_eval_ext.formats.run_folder import item_scores, read_samples

    path = tmp_path / "samples_mgsm_direct_de_2026-01-01T00-00-00.000000.jsonl"
    rows = [{"doc_id": 0, "filter": "strict-match", "lang_undecidable": 1.0},
            {"doc_id": 1, "filter": "strict-match", "lang_undecidable": 0.0, "lang_fidelity": 0.0},
            {"doc_id": 2, "filter": "strict-match", "lang_undecidable": 0.0, "lang_fidelity": 1.0}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert item_scores(read_samples(path), "lang_fidelity,strict-match") == {1: 0.0, 2: 1.0}
    assert item_scores(read_samples(path), "lang_undecidable,strict-match") == {0: 1.0, 1: 0.0, 2: 0.0}


def test_every_generative_task_of_ours_reports_lang_fidelity():
    """Every generate_until task under tasks/ lists lang_fidelity, lang_undecidable and lang_line_pass
    (the consistency tasks: lang_fidelity_<l> per language) and says how they are computed."""
    from lm_eval.tasks._index import Kind
    from lm_eval.tasks._yaml_loader import load_yaml

    from lm_eval_ext import plugin

    index = plugin.task_index()
    checked = set()
    for name, entry in index.items():
        if entry.kind != Kind.TASK:
            continue
        cfg = load_yaml(entry.yaml_path, resolve_func=False)
        if cfg.get("output_type") != "generate_until":
            continue
        metrics = {m["metric"] for m in cfg.get("metric_list", [])}
        if name.startswith("xlc_"):
            langs = cfg["metadata"]["langs"]
            assert {f"lang_fidelity_{x}" for x in langs} <= metrics, name
        else:
            assert {"lang_fidelity", "lang_undecidable", "lang_line_pass"} <= metrics, name
            languages.get(cfg["metadata"]["reply_lang"])  # a registry language
        assert cfg["metadata"]["fidelity_scorer"] == langid.SIGNATURE, name
        checked.add(name.split("_")[0])
    assert checked == {"mgsm", "xquad", "mlqa", "flores", "xlc", "lcb", "polymath"}


def test_the_none_skipping_mean_is_found_by_identity_not_by_name(tmp_path):
    """One "does not apply" rule (lm_eval_ext.missing): the YAMLs' aggregation path names the one
    None-skipping mean, found by identity even when lm-eval loads langid.py a second time from its
    file; a stranger function of the same name is not taken for it."""
    import importlib.util

    from lm_eval_ext import missing, plugin

    spec = importlib.util.spec_from_file_location("second_copy_of_langid", langid.__file__)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert copy is not langid and missing.skips_none(copy.mean_decidable)
    assert missing.skips_none(langid.mean_decidable) and langid.MEAN_DECIDABLE.endswith(".mean_decidable")
    impostor = tmp_path / "langid.py"
    impostor.write_text("def mean_decidable(values):\n    return sum(values) / len(values)\n")
    spec = importlib.util.spec_from_file_location("someone.langid", impostor)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    assert not missing.skips_none(other.mean_decidable)
    # the plugin's standard error applies to ours only
    metrics = {"lang_fidelity,none": 0.5, "lang_fidelity_stderr,none": "N/A"}

    class Task:
        def __init__(self, fn):
            self.fn = fn

        def aggregation(self):
            return {"lang_fidelity": self.fn}

    for fn, want in ((copy.mean_decidable, True), (other.mean_decidable, False)):
        m = dict(metrics)
        plugin.decidable_means(m, {"task": Task(fn), "raw_metrics": {("lang_fidelity", "none"): [1.0, None, 0.0]}}, 100)
        assert (m["lang_fidelity_stderr,none"] != "N/A") is want, (fn, m)
    assert missing.mean_applicable([1.0, None, 0.0]) == 0.5 and math.isnan(missing.mean_applicable([None]))
