"""Optional extras really absent: lingua (lm-eval-ext[langid]), MeCab (lm-eval-ext[ja]) and fastText
(lm-eval-ext[confusion]: lang_line_pass) made unimportable in a subprocess (tests/support/hide_packages), the
same code and the same scripted replies run with and without them. Without an
extra its metrics are NaN with the reason in the results and one log line with
the pip command; every other number equals the normal run's."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from support.env import SHARED_DATA, run_cli
from support.hidden import hidden_env
from support.loopback import ScriptedServer, last_user_message

from lm_eval_ext import languages
from lm_eval_ext.families import flores
from lm_eval_ext.languages import MGSM_LANGS

HIDDEN = "lingua,MeCab,fasttext"
LANGID_PIP = 'pip install "lm-eval-ext[langid]"'
JA_PIP = 'pip install "lm-eval-ext[ja]"'
CONFUSION_PIP = 'pip install "lm-eval-ext[confusion]"'
LIMIT = 2
FLORES_TASKS = ("flores_eng_Latn-jpn_Jpan", "flores_eng_Latn-deu_Latn")
TASKS = ("mgsm_native_cot_url", "xquad_de", *FLORES_TASKS, "xlc_mgsm")


def _jsonl(path, n):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()][:n]


def test_the_hiding_folder_makes_the_packages_absent():
    code = ("import importlib.util, json\n"
            "out = {}\n"
            "for name in ('lingua', 'MeCab', 'sacrebleu'):\n"
            "    try:\n"
            "        __import__(name); out[name] = 'imported'\n"
            "    except ImportError as err:\n"
            "        out[name] = type(err).__name__\n"
            "out['find_spec'] = importlib.util.find_spec('lingua') is None\n"
            "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **hidden_env(HIDDEN)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"lingua": "ModuleNotFoundError", "MeCab": "ModuleNotFoundError",
                                       "sacrebleu": "imported", "find_spec": True}


# ------------------------------------------------------------- unit paths
UNIT_SCRIPT = r'''
import json, math, sys
from lm_eval_ext.families import flores, mgsm, xlc
from lm_eval_ext.metrics import langid, mt

data = json.loads(sys.stdin.read())
out = {"signature": str(langid.signature())}
try:
    out["detect"] = langid.detect(data["de"])
except langid.LangidUnavailable as err:
    out["detect"] = "LangidUnavailable: " + str(err)
out["fidelity_metrics"] = langid.fidelity_metrics(data["de"], "de")
doc = {"lang": "de", "answer_number": data["gold"]}
answer = mgsm.AnswerFilter(lang="de", mode="native_cot", strategy="flexible").apply([[data["reply"]]], [doc])[0][0]
out["mgsm"] = mgsm.process_results(doc, [answer])
xdoc = dict(data["xlc_doc"])
xanswer = xlc.AnswerFilter(source="mgsm", strategy="flexible").apply([[data["reply"]]], [xdoc])[0][0]
out["xlc_record"] = list(xlc.process_results(xdoc, [xanswer])["accuracy_de"])
fdoc = data["flores_doc"]
hyp = flores.TranslationFilter(src_lang=fdoc["src_lang"], tgt_lang=fdoc["tgt_lang"]).apply([[fdoc["reference"]]], [fdoc])[0][0]
out["flores_keys"] = sorted(flores.process_results(fdoc, [hyp]))
scores = {}
for tgt, items in data["corpora"].items():
    items = [tuple(i) for i in items]
    scores[tgt] = {"bleu": mt.bleu(items), "chrfpp": mt.chrfpp(items),
                   "bleu_stderr": mt.bootstrap_stderr("bleu", items, 50),
                   "signature": str(mt.runtime_signatures(tgt)["bleu"])}
out["corpora"] = {t: {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in s.items()}
                  for t, s in scores.items()}
print(json.dumps(out, ensure_ascii=False))
'''


def _unit_inputs():
    de_q = _jsonl(SHARED_DATA / "mgsm" / "mgsm_de.jsonl", 1)[0]
    L = languages.get("de")
    reply = f"{de_q['question']}\n{L.mgsm.cot_cue} {L.mgsm.answer_sentence.format(de_q['answer_number'])}"
    eng = [r["text"] for r in _jsonl(SHARED_DATA / "flores" / "eng_Latn.devtest.jsonl", 6)]
    corpora = {}
    for tgt in ("jpn_Jpan", "deu_Latn"):
        refs = [r["text"] for r in _jsonl(SHARED_DATA / "flores" / f"{tgt}.devtest.jsonl", 6)]
        hyps = [ref if k % 2 == 0 else ref[: len(ref) // 2] for k, ref in enumerate(refs)]
        corpora[tgt] = [[h, r, tgt] for h, r in zip(hyps, refs)]
    flores_doc = {"id": 1, "source": eng[0], "reference": corpora["deu_Latn"][0][1],
                  "src_lang": "eng_Latn", "tgt_lang": "deu_Latn", "split": "devtest"}
    xlc_doc = {"xlc_source": "mgsm", "xlc_lang": "de", "xlc_item": "0", "xlc_row": de_q}
    return {"de": de_q["question"], "gold": de_q["answer_number"], "reply": reply,
            "corpora": corpora, "flores_doc": flores_doc, "xlc_doc": xlc_doc}


def _run_unit(env_extra):
    proc = subprocess.run([sys.executable, "-c", UNIT_SCRIPT], input=json.dumps(_unit_inputs()),
                          env={**os.environ, **env_extra}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), proc.stderr


def test_unit_paths_without_lingua_and_mecab_equal_the_normal_ones_but_for_their_metrics():
    normal, normal_log = _run_unit({})
    hidden, log = _run_unit(hidden_env(HIDDEN))
    # normal: lingua's installed version, the language, both metrics, in-language accuracy
    from importlib.metadata import version

    assert normal["signature"].startswith(f"langid:lingua-{version('lingua-language-detector')}|languages:all")
    assert normal["detect"] == "de"
    assert normal["fidelity_metrics"] == {"lang_undecidable": 0.0, "lang_fidelity": 1.0, "lang_line_pass": 1.0}
    assert normal["mgsm"] == {"exact_match": 1.0, "exact_match_non_en": 1.0, "lang_undecidable": 0.0,
                              "lang_fidelity": 1.0, "lang_line_pass": 1.0, "exact_match_in_lang": 1.0}
    assert normal["xlc_record"][-1] == 1.0
    assert {"lang_fidelity", "lang_undecidable", "lang_line_pass"} <= set(normal["flores_keys"])
    assert "tok:ja-mecab" in normal["corpora"]["jpn_Jpan"]["signature"]
    assert LANGID_PIP not in normal_log and JA_PIP not in normal_log
    # without lingua: a reason naming the package and the extra, never an ImportError
    assert hidden["signature"].startswith("skipped: lingua-language-detector not installed")
    assert LANGID_PIP in hidden["signature"]
    assert hidden["detect"].startswith("LangidUnavailable: lingua-language-detector not installed")
    assert hidden["fidelity_metrics"] == {}
    assert hidden["mgsm"] == {"exact_match": 1.0, "exact_match_non_en": 1.0}
    assert hidden["xlc_record"][:-1] == normal["xlc_record"][:-1] and hidden["xlc_record"][-1] is None
    assert set(normal["flores_keys"]) - set(hidden["flores_keys"]) == {"lang_fidelity", "lang_undecidable",
                                                                         "lang_line_pass"}
    # without MeCab: Japanese BLEU is NaN with the reason, never another tokenizer's number
    ja, de = hidden["corpora"]["jpn_Jpan"], hidden["corpora"]["deu_Latn"]
    assert ja["bleu"] is None and ja["bleu_stderr"] is None
    assert ja["signature"].startswith("skipped: mecab-python3 and ipadic not installed") and JA_PIP in ja["signature"]
    assert normal["corpora"]["jpn_Jpan"]["bleu"] > 0
    assert ja["chrfpp"] == normal["corpora"]["jpn_Jpan"]["chrfpp"]
    assert de == normal["corpora"]["deu_Latn"]
    # the log: once per process each, naming the package and the pip command
    assert log.count(LANGID_PIP) == 1 and log.count(JA_PIP) == 1 and log.count(CONFUSION_PIP) == 1, log[-3000:]
    assert "Traceback" not in log


# ------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def replies():
    """Prompt text -> scripted reply, from the real data: MGSM (xlc too) in the
    question's language with its answer sentence, right on item 0 and wrong on
    item 1; XQuAD the gold span plus context text; FLORES the reference,
    the second sentence cut in half."""
    table = {}
    for lang in MGSM_LANGS:
        L = languages.get(lang)
        for k, row in enumerate(_jsonl(SHARED_DATA / "mgsm" / f"mgsm_{lang}.jsonl", LIMIT)):
            number = row["answer_number"] + 7 * k
            table[row["question"]] = f"{row['question']}\n{L.mgsm.cot_cue} " \
                                     f"{L.mgsm.answer_sentence.format(number)}"
    for row in _jsonl(SHARED_DATA / "xquad" / "xquad.de.jsonl", LIMIT):
        table[row["question"]] = f"{row['answers']['text'][0]}\n{row['context'][:200]}"
    eng = [r["text"] for r in _jsonl(SHARED_DATA / "flores" / "eng_Latn.devtest.jsonl", LIMIT)]
    for task in FLORES_TASKS:
        tgt = task.split("-")[1]
        for k, ref in enumerate(r["text"] for r in _jsonl(SHARED_DATA / "flores" / f"{tgt}.devtest.jsonl", LIMIT)):
            table[(eng[k], flores.language_name(tgt))] = ref if k == 0 else ref[: len(ref) // 2]
    return table


def _policy(table):
    def policy(kind, payload):
        prompt = last_user_message(payload)
        system = " ".join(m["content"] for m in payload.get("messages", []) if m["role"] == "system")
        found = [reply for key, reply in table.items()
                 if (key[0] in prompt and f"to {key[1]}." in system if isinstance(key, tuple) else key in prompt)]
        assert len(found) == 1, prompt[:300]
        return found[0]
    return policy


@pytest.fixture(scope="module")
def both_runs(replies, tmp_path_factory):
    out = tmp_path_factory.mktemp("optional_runs")
    env = {"LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off",
           "LM_EVAL_EXT_FLORES200_SPM": str(out / "no-flores200.model")}
    runs = {}
    with ScriptedServer(_policy(replies)) as server:
        for name, extra in (("normal", {}), ("hidden", hidden_env(HIDDEN))):
            proc = run_cli([
                "lm_eval", "run", "--model", "local-chat-completions",
                "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
                "--tasks", ",".join(TASKS), "--limit", str(LIMIT), "--apply_chat_template",
                "--log_samples", "--output_path", str(out / name),
            ], env={**env, **extra})
            assert proc.returncode == 0, proc.stderr[-4000:]
            (path,) = list((out / name).rglob("results_*.json"))
            runs[name] = (json.loads(path.read_text()), proc.stderr)
    runs["folder"] = out
    return runs


LANGID_METRICS = {"lang_fidelity", "lang_undecidable", "lang_line_pass"}  # lang_line_pass: the confusion extra
EXPECTED_SKIPPED = {
    **{f"mgsm_native_cot_{x}": LANGID_METRICS | {"exact_match_in_lang"} for x in languages.of_tier(languages.LOW, MGSM_LANGS)},
    "xquad_de": LANGID_METRICS,
    "flores_eng_Latn-jpn_Jpan": LANGID_METRICS | {"bleu"},
    "flores_eng_Latn-deu_Latn": LANGID_METRICS,
    "xlc_mgsm": {f"lang_fidelity_{x}" for x in MGSM_LANGS},
}
ALWAYS_SKIPPED = {"flores_eng_Latn-jpn_Jpan": {"spbleu", "comet", "bleurt"},
                  "flores_eng_Latn-deu_Latn": {"spbleu", "comet", "bleurt"}}


def _metric(key):
    return key.split(",")[0].removesuffix("_stderr")


def _same(a, b):
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


def test_lm_eval_without_lingua_and_mecab_nan_with_reason_and_the_rest_equal(both_runs):
    (normal, normal_log), (hidden, log) = both_runs["normal"], both_runs["hidden"]
    assert set(normal["results"]) == set(hidden["results"])
    for task, skipped in EXPECTED_SKIPPED.items():
        always = ALWAYS_SKIPPED.get(task, set())
        n_meta, h_meta = normal["configs"][task]["metadata"], hidden["configs"][task]["metadata"]
        assert set(n_meta["skipped_metrics"]) == always, task
        assert set(h_meta["skipped_metrics"]) == skipped | always, task
        for metric in skipped:
            reason = h_meta["skipped_metrics"][metric]
            pip, package = {"bleu": (JA_PIP, "mecab-python3"), "lang_line_pass": (CONFUSION_PIP, "fasttext-predict")}.get(
                metric, (LANGID_PIP, "lingua-language-detector"))
            assert pip in reason and package in reason, (task, metric, reason)
        # the installed lingua version, the language-ID model file's hash in the normal run's signatures
        from importlib.metadata import version

        assert all(n_meta["metric_signatures"][m].startswith(f"langid:lingua-{version('lingua-language-detector')}|")
                   for m in skipped if m not in ("bleu", "lang_line_pass")), task
        if "lang_line_pass" in skipped:
            assert n_meta["metric_signatures"]["lang_line_pass"].startswith("line-langid:v1|lid:lid.176.ftz@sha256:")
        n_res, h_res = normal["results"][task], hidden["results"][task]
        filters = {k.split(",")[1] for k in n_res if "," in k}
        decided = 0
        for filt in filters:
            for metric in skipped:
                assert math.isnan(h_res[f"{metric},{filt}"]), (task, metric, filt)
                value = n_res.get(f"{metric},{filt}")
                decided += isinstance(value, float) and not math.isnan(value)
        assert decided, task  # the normal run had numbers where the hidden one has NaN
        # everything else: equal to the normal run, key for key
        others = {k for k in n_res if "," in k and _metric(k) not in skipped}
        assert others == {k for k in h_res if "," in k and _metric(k) not in skipped}, task
        for key in others:
            assert _same(n_res[key], h_res[key]), (task, key, n_res[key], h_res[key])
    # groups average NaN into NaN, the rest as before
    g_n, g_h = normal["results"]["mgsm_native_cot_url"], hidden["results"]["mgsm_native_cot_url"]
    assert math.isnan(g_h["lang_fidelity,strict-match"]) and g_n["lang_fidelity,strict-match"] == 1.0
    assert g_h["exact_match,strict-match"] == g_n["exact_match,strict-match"] == 0.5
    # logs: one line per missing part with the pip command, none in the normal run
    assert log.count(LANGID_PIP) == 1 and log.count(JA_PIP) == 1 and log.count(CONFUSION_PIP) == 1, log[-4000:]
    assert LANGID_PIP not in normal_log and JA_PIP not in normal_log and CONFUSION_PIP not in normal_log
    assert "ImportError" not in log and "Traceback" not in log


def test_report_and_leaderboard_note_each_missing_part_once_per_run(both_runs, tmp_path):
    """A run without lingua, MeCab, the confusion extra, the flores200 model, COMET and BLEURT: one note per reason
    (its metrics, how many tasks, the reason the results record), never a warning per cell."""
    hidden, _ = both_runs["hidden"]
    reasons = {r for cfg in hidden["configs"].values() for r in (cfg["metadata"].get("skipped_metrics") or {}).values()}
    assert len(reasons) == 6  # lingua, MeCab, the confusion extra, the flores200 model, COMET off, BLEURT off
    folder = both_runs["folder"] / "hidden"
    p = run_cli(["lm-eval-ext", "leaderboard", str(folder), "--format", "json"])
    assert p.returncode == 0, p.stderr
    notes = [line for line in p.stderr.splitlines() if ": note: " in line]
    assert len(notes) == len(reasons) and all(any(r in n for n in notes) for r in reasons), notes
    (langid_note,) = [n for n in notes if LANGID_PIP in n]
    n_tasks = sum(any(LANGID_PIP in r for r in (cfg["metadata"].get("skipped_metrics") or {}).values())
                  for cfg in hidden["configs"].values())
    assert n_tasks == len(EXPECTED_SKIPPED)
    assert ": lang_fidelity, lang_undecidable, exact_match_in_lang, lang_fidelity_<l> (11 languages): not computed " \
           f"({n_tasks} task(s)), lingua-language-detector not installed" in langid_note
    skipped = {m for cfg in hidden["configs"].values() for m in cfg["metadata"].get("skipped_metrics") or {}}
    cell_warnings = [line for line in p.stderr.splitlines() if "cell skipped" in line]
    assert not [w for w in cell_warnings if any(f" metric {m}," in w for m in skipped)], cell_warnings
    # the report: a short note under the runs, not in the list of skipped input
    out = tmp_path / "report"
    p = run_cli(["lm-eval-ext", "report", str(folder), "-o", str(out)])
    assert p.returncode == 0, p.stderr
    assert f"{len(reasons)} note(s) on metrics not computed" in p.stdout
    md = (out / "report.md").read_text(encoding="utf-8")
    runs_section = md.split("## Runs", 1)[1].split("\n## ", 1)[0]
    assert "Not computed (NaN in the results, which record why):" in runs_section
    assert runs_section.count("not computed (") == len(reasons)
    assert not any(f"metric {m}," in md for m in skipped)


# ------------------------------------------------ look-alike and failing packages
# The PyPI package `lingua` (a gettext toolset) has a top-level `lingua` module too.
LOOKALIKE = ('"""Lingua is a package with tools to extract translatable texts from your code '
             '(a stand-in for the PyPI package lingua 4.x)."""\n__version__ = "4.15.0"\n')
# lingua-language-detector's API, whose detector fails after two replies (a language model that
# cannot be loaded mid-run); `BUILD_FAILS` fails when the detector is built
FAILING = '''
class _Iso:
    name = "DE"

class _Language:
    iso_code_639_1 = _Iso()

class _Detector:
    calls = 0
    def detect_language_of(self, text):
        _Detector.calls += 1
        if _Detector.calls > 2:
            raise RuntimeError("the language model of Latin-script languages cannot be loaded")
        return _Language()

class _Builder:
    def build(self):
        if BUILD_FAILS:
            raise MemoryError("cannot allocate the language models")
        return _Detector()

class LanguageDetectorBuilder:
    @staticmethod
    def from_all_languages():
        return _Builder()

BUILD_FAILS = False
'''
SHADOW_TASKS = ("mgsm_native_cot_sw", "xquad_de", "xlc_mgsm")

PROBE = r'''
import json
from lm_eval_ext import optional
from lm_eval_ext.metrics import langid
print(json.dumps({"missing": optional.missing("langid"), "unavailable": langid.unavailable(),
                  "metrics": langid.fidelity_metrics("Das ist ein deutscher Satz.", "de")}))
'''


def _probe(env_extra):
    proc = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env_extra},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), proc.stderr


def test_a_look_alike_or_broken_lingua_is_a_reason_not_an_import_error(tmp_path):
    from support.shadowing import shadowing_env

    # the PyPI `lingua` installed instead of lingua-language-detector: found by distribution
    out, log = _probe(shadowing_env(tmp_path / "pypi", {"lingua": LOOKALIKE}, ("lingua", "4.15.0"),
                                    hide_distributions="lingua-language-detector"))
    assert out["missing"].startswith("lingua-language-detector not installed (lingua-language-detector not found; "
                                     "the module lingua here is from lingua, another package)")
    # lingua's metrics are left out (NaN with the reason); lang_line_pass is fastText's, not lingua's
    assert LANGID_PIP in out["missing"] and out["unavailable"] == out["missing"]
    assert not {"lang_fidelity", "lang_undecidable"} & set(out["metrics"])
    # a `lingua` module shadowing the installed one: found by the API we use
    out, log = _probe(shadowing_env(tmp_path / "path", {"lingua": LOOKALIKE}))
    where = tmp_path / "path" / "lingua" / "__init__.py"
    assert out["missing"].startswith(f"lingua-language-detector not usable: the module 'lingua' imported here "
                                     f"({where}) has no 'LanguageDetectorBuilder'"), out
    assert not {"lang_fidelity", "lang_undecidable"} & set(out["metrics"]) and log.count(LANGID_PIP) == 1
    # the API there, but the detector cannot be built
    out, log = _probe(shadowing_env(tmp_path / "build", {"lingua": FAILING.replace("BUILD_FAILS = False",
                                                                                   "BUILD_FAILS = True")}))
    assert out["missing"] is None
    assert out["unavailable"].startswith("lingua-language-detector failed (MemoryError: cannot allocate the "
                                         "language models)") and LANGID_PIP in out["unavailable"]
    assert not {"lang_fidelity", "lang_undecidable"} & set(out["metrics"]) and "Traceback" not in log


@pytest.fixture(scope="module")
def shadowed_runs(replies, tmp_path_factory):
    """lm_eval end to end with the PyPI look-alike installed instead of lingua-language-detector,
    and with a detector that fails after two replies."""
    from support.shadowing import shadowing_env

    out = tmp_path_factory.mktemp("shadowed_runs")
    cases = {"lookalike": shadowing_env(out / "pypi", {"lingua": LOOKALIKE}, ("lingua", "4.15.0"),
                                        hide_distributions="lingua-language-detector"),
             "failing": shadowing_env(out / "failing", {"lingua": FAILING})}
    runs = {}
    with ScriptedServer(_policy(replies)) as server:
        for name, extra in cases.items():
            proc = run_cli([
                "lm_eval", "run", "--model", "local-chat-completions",
                "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
                "--tasks", ",".join(SHADOW_TASKS), "--limit", str(LIMIT), "--apply_chat_template",
                "--log_samples", "--output_path", str(out / name),
            ], env={"LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off", **extra})
            assert proc.returncode == 0, proc.stderr[-4000:]
            (path,) = list((out / name).rglob("results_*.json"))
            runs[name] = (json.loads(path.read_text()), proc.stderr)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("case, reason", [
    ("lookalike", "lingua-language-detector not installed (lingua-language-detector not found; the module lingua "
                  "here is from lingua, another package)"),
    ("failing", "lingua-language-detector failed (RuntimeError: the language model of Latin-script languages "
                "cannot be loaded)"),
])
def test_a_look_alike_or_failing_lingua_costs_its_metrics_not_the_run(both_runs, shadowed_runs, case, reason):
    normal, _ = both_runs["normal"]
    run, log = shadowed_runs[case]
    for task in SHADOW_TASKS:
        skipped = EXPECTED_SKIPPED[task]
        meta = run["configs"][task]["metadata"]
        assert set(meta["skipped_metrics"]) == skipped, task
        assert all(meta["skipped_metrics"][m].startswith(reason) and LANGID_PIP in meta["skipped_metrics"][m]
                   for m in skipped), meta["skipped_metrics"]
        n_res, res = normal["results"][task], run["results"][task]
        filters = {k.split(",")[1] for k in n_res if "," in k}
        for filt in filters:  # NaN, never a mean over the replies judged before the failure
            for metric in skipped:
                assert math.isnan(res[f"{metric},{filt}"]), (task, metric, filt)
        others = {k for k in n_res if "," in k and _metric(k) not in skipped}
        assert others == {k for k in res if "," in k and _metric(k) not in skipped}, task
        for key in others:
            assert _same(n_res[key], res[key]), (task, key, n_res[key], res[key])
    assert log.count(LANGID_PIP) == 1, log[-4000:]
    assert "ImportError" not in log and "Traceback" not in log
