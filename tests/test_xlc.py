"""Cross-lingual consistency (xlc_mgsm, lm-eval-ext consistency): hand-computed
values on constructed records, and end to end through lm_eval with a loopback
OpenAI-compatible server whose scripted replies give known numbers."""

import json
import logging
import math
from itertools import combinations
from pathlib import Path

import pytest
from support.env import run_cli
from support.loopback import ScriptedServer, last_user_message

from lm_eval_ext import families, languages
from lm_eval_ext.families import xlc
from lm_eval_ext.languages import MGSM_LANGS
from lm_eval_ext.metrics.consistency import Record, compute

MGSM = families.get("mgsm").parallel  # MGSM's consistency adapter
EQ = MGSM.equal  # equal numbers; "[no answer]" equals nothing


def recs(table):
    """{lang: [(answer, correct), ...]} -> records, item k = position k."""
    return [Record(str(k), lang, a, c) for lang, row in table.items() for k, (a, c) in enumerate(row)]


def nan_eq(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


# ------------------------------------------------------------ constructed cases
def test_all_correct():
    r = recs({x: [("1", True), ("2", True), ("3", True)] for x in ("de", "en", "fr")})
    m = compute(r, ("de", "en", "fr"), EQ)
    assert all(m[f"accuracy_{x}"] == 1 for x in ("de", "en", "fr"))
    assert m["agreement_de_en"] == m["consistency_en_fr"] == m["agreement_mean"] == m["consistency_mean"] == 1
    assert (m["correct_all"], m["correct_none"], m["correct_some"]) == (1, 0, 0)


def test_all_wrong():
    # de and en give the same wrong number on item 0; fr never answers
    r = recs({"de": [("7", False), ("8", False)], "en": [("7", False), ("9", False)],
              "fr": [(MGSM.extract("keine Zahl", "fr", {}, "strict"), False)] * 2})
    m = compute(r, ("de", "en", "fr"), EQ)
    assert m["accuracy_de"] == 0
    assert m["agreement_de_en"] == 0.5  # same wrong answer counts as agreement
    assert m["agreement_de_fr"] == 0 and m["agreement_en_fr"] == 0  # no answer agrees with nothing
    assert m["agreement_mean"] == pytest.approx(0.5 / 3)
    assert math.isnan(m["consistency_de_en"])  # |C1 ∪ C2| = 0: undefined
    assert math.isnan(m["consistency_mean"])
    assert (m["correct_all"], m["correct_none"], m["correct_some"]) == (0, 1, 0)


def test_disjoint_correct():
    # de right on items 0, 1; en on 2, 3; fr on 0, 2
    g = ["10", "20", "30", "40"]
    right = {"de": {0, 1}, "en": {2, 3}, "fr": {0, 2}}
    r = [Record(str(k), x, g[k] if k in right[x] else "99", k in right[x]) for x in right for k in range(4)]
    m = compute(r, ("de", "en", "fr"), EQ)
    assert m["consistency_de_en"] == 0  # |{} | / |{0,1,2,3}|
    assert m["consistency_de_fr"] == pytest.approx(1 / 3)  # |{0}| / |{0,1,2}|
    assert m["consistency_en_fr"] == pytest.approx(1 / 3)  # |{2}| / |{0,2,3}|
    assert m["consistency_mean"] == pytest.approx(2 / 9)
    assert m["consistency_with_en_mean"] == pytest.approx((0 + 1 / 3) / 2)
    # wrong answers are all "99": de/en agree exactly where both are wrong... never (disjoint) -> 0
    assert m["agreement_de_en"] == 0
    assert m["agreement_de_fr"] == pytest.approx(2 / 4)  # item 0 (10=10), item 3 (99=99)
    assert m["agreement_with_en_mean"] == pytest.approx((0 + 2 / 4) / 2)  # en-fr: item 2 (30), item 1 (99)
    assert (m["correct_all"], m["correct_none"], m["correct_some"]) == (0, 0, 1)
    assert m["accuracy_mean"] == pytest.approx(0.5)


def test_missing_language_and_items_are_named_and_nan(caplog):
    r = recs({"de": [("1", True), ("2", True), ("3", False)], "en": [("1", True), ("5", False)]})
    with caplog.at_level(logging.WARNING, logger="lm_eval_ext.metrics.consistency"):
        m = compute(r, ("de", "en", "fr"), EQ)
    assert math.isnan(m["accuracy_fr"]) and math.isnan(m["agreement_de_fr"]) and math.isnan(m["consistency_en_fr"])
    assert math.isnan(m["correct_all"])  # fr answered nothing: no item is answered in every language
    assert "fr" in caplog.text
    # the de-en pair uses items 0 and 1 (item 2 has no English answer)
    assert m["agreement_de_en"] == 0.5 and m["consistency_de_en"] == 0.5
    assert m["agreement_mean"] == 0.5  # mean over the pairs with a value
    m2 = compute(r, ("de", "en"), EQ)
    assert m2["correct_all"] == 0.5 and m2["correct_some"] == 0.5  # items 0, 1 only
    assert "not answered in every language" in caplog.text


def test_aggregation_functions_by_name_match_compute():
    g = ["1", "2", "3"]
    r = [Record(str(k), x, g[k] if (k + i) % 2 else "0", bool((k + i) % 2), 1.0)
         for i, x in enumerate(MGSM_LANGS) for k in range(3)]
    m = compute(r, MGSM_LANGS, EQ)
    rows = [list(x) for x in r]  # as read back from a samples log
    for entry in xlc.metric_list("mgsm"):
        fn = getattr(xlc, entry["aggregation"].rsplit(".", 1)[1])
        assert nan_eq(fn(rows), m[entry["metric"]]), entry["metric"]
    names = {e["metric"] for e in xlc.metric_list("mgsm")}
    assert len([n for n in names if n.startswith("agreement_") and not n.endswith("mean")]) == 55
    assert "agreement_de_en" in names and "agreement_en_de" not in names
    with pytest.raises(AttributeError):
        xlc.mgsm__agreement_de_xx  # noqa: B018


def test_generated_task_file_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("xlc_gen", Path(xlc.__file__).parents[2] / "tasks/xlc/_generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0


# ---------------------------------------------------------------- end to end
N_ITEMS = 3
HIGH = set(languages.of_tier(languages.HIGH, MGSM_LANGS))


def _jsonl(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def scripted_answer(lang: str, k: int, gold: int):
    """(number or None, reply in English?) the scripted model gives:
    item 0 right everywhere; item 1 right in high-resource languages, gold+1 (bn sw)
    or gold+2 (te th) elsewhere; item 2 right in English only, gold+5 in de es fr bn sw te th,
    no number (an English sentence) in ja ru zh."""
    if k == 0:
        return gold, False
    if k == 1:
        return (gold, False) if lang in HIGH else (gold + (1 if lang in ("bn", "sw") else 2), False)
    if lang == "en":
        return gold, False
    if lang in ("ja", "ru", "zh"):
        return None, True
    return gold + 5, False


def _reply(lang, k, gold):
    number, english = scripted_answer(lang, k, gold)
    if number is None:
        return "I am not sure how to solve this problem, sorry about that."
    L = languages.get(lang)
    return f"{L.mgsm.cot_cue} {L.mgsm.answer_sentence.format(number)}"


@pytest.fixture(scope="module")
def items(shared_data):
    out = {}
    for lang in MGSM_LANGS:
        for k, row in enumerate(_jsonl(shared_data / "mgsm" / f"mgsm_{lang}.jsonl")[:N_ITEMS]):
            out[row["question"]] = (lang, k, row["answer_number"])
    return out


def _policy(items):
    def policy(kind, payload):
        prompt = last_user_message(payload)
        (lang, k, gold), = [v for q, v in items.items() if q in prompt]
        return _reply(lang, k, gold)
    return policy


def expected():
    """Hand-computed from the script above (both filters: every reply ends in the sentence)."""
    right = {x: {k for k in range(N_ITEMS) if scripted_answer(x, k, 0)[0] == 0} for x in MGSM_LANGS}
    answer = {x: [scripted_answer(x, k, 0)[0] for k in range(N_ITEMS)] for x in MGSM_LANGS}
    out = {f"accuracy_{x}": len(right[x]) / N_ITEMS for x in MGSM_LANGS}
    for a, b in combinations(MGSM_LANGS, 2):
        out[f"agreement_{a}_{b}"] = sum(
            answer[a][k] is not None and answer[a][k] == answer[b][k] for k in range(N_ITEMS)) / N_ITEMS
        out[f"consistency_{a}_{b}"] = len(right[a] & right[b]) / len(right[a] | right[b])
    return out


def test_expected_values_by_hand():
    e = expected()
    # spot checks of the script, by hand
    assert e["accuracy_en"] == 1 and e["accuracy_de"] == 2 / 3 and e["accuracy_bn"] == 1 / 3
    assert e["consistency_de_en"] == 2 / 3 and e["consistency_bn_en"] == 1 / 3 and e["consistency_bn_sw"] == 1
    assert e["agreement_bn_sw"] == 1 and e["agreement_bn_te"] == 2 / 3 and e["agreement_ja_zh"] == 2 / 3
    assert e["agreement_de_ja"] == 2 / 3 and e["agreement_de_en"] == 2 / 3


@pytest.fixture(scope="module")
def runs_dir(items, tmp_path_factory):
    """One scripted server; xlc_mgsm (3 items x 11 languages) and the 11
    mgsm_native_cot tasks (3 items each) in two lm_eval runs."""
    out = tmp_path_factory.mktemp("xlc_runs")
    with ScriptedServer(_policy(items)) as server:
        common = ["--model", "local-chat-completions",
                  "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
                  "--apply_chat_template", "--log_samples"]
        p1 = run_cli(["lm_eval", "run", "--tasks", "xlc_mgsm", "--limit", str(N_ITEMS * len(MGSM_LANGS)),
                      "--output_path", str(out / "xlc"), *common])
        assert p1.returncode == 0, p1.stderr[-3000:]
        xlc_requests = list(server.requests)
        p2 = run_cli(["lm_eval", "run", "--tasks", "mgsm_native_cot", "--limit", str(N_ITEMS),
                      "--output_path", str(out / "per_lang"), *common])
        assert p2.returncode == 0, p2.stderr[-3000:]
        per_lang_requests = server.requests[len(xlc_requests):]
    return out, xlc_requests, per_lang_requests


def _results(folder: Path) -> dict:
    (path,) = list(folder.rglob("results_*.json"))
    return json.loads(path.read_text())


def test_xlc_mgsm_end_to_end_known_numbers(runs_dir):
    out, xlc_requests, per_lang_requests = runs_dir
    assert len(xlc_requests) == N_ITEMS * len(MGSM_LANGS)
    # same prompts as the per-language native-CoT tasks: system instruction + user text
    strip = lambda reqs: sorted(json.dumps(p["messages"], ensure_ascii=False) for _, p in reqs)  # noqa: E731
    assert strip(xlc_requests) == strip(per_lang_requests)
    res = _results(out / "xlc")["results"]["xlc_mgsm"]
    e = expected()
    for filt in ("strict-match", "flexible-extract"):
        for name, value in e.items():
            assert res[f"{name},{filt}"] == pytest.approx(value, abs=1e-12), (name, filt)
        assert res[f"agreement_mean,{filt}"] == pytest.approx(
            sum(v for k, v in e.items() if k.startswith("agreement_")) / 55, abs=1e-12)
        assert res[f"consistency_mean,{filt}"] == pytest.approx(
            sum(v for k, v in e.items() if k.startswith("consistency_")) / 55, abs=1e-12)
        # item 0 right everywhere, items 1 and 2 right in some languages only
        assert (res[f"correct_all,{filt}"], res[f"correct_none,{filt}"]) == (pytest.approx(1 / 3), 0)
        assert res[f"correct_some,{filt}"] == pytest.approx(2 / 3)
        # the English replies of ja ru zh on item 2 are in the wrong language
        for x in MGSM_LANGS:
            want = 2 / 3 if x in ("ja", "ru", "zh") else 1.0
            assert res[f"lang_fidelity_{x},{filt}"] == pytest.approx(want), x


def test_posthoc_command_equals_the_task(runs_dir, tmp_path):
    out, _, _ = runs_dir
    proc = run_cli(["lm-eval-ext", "consistency", str(out / "per_lang"), "--json", str(tmp_path / "c.json")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "consistency" in proc.stdout and "| de |" in proc.stdout
    (entry,) = json.loads((tmp_path / "c.json").read_text())
    assert entry["family"] == "mgsm_native_cot" and entry["missing_langs"] == []
    task = _results(out / "xlc")["results"]["xlc_mgsm"]
    for filt, metrics in entry["metrics"].items():
        for name, value in metrics.items():
            got = task[f"{name},{filt}"]
            assert (value is None and math.isnan(got)) or value == pytest.approx(got, abs=1e-12), (name, filt)
    assert len(entry["metrics"]["strict-match"]) == len([k for k in task if k.endswith(",strict-match")
                                                         and "_stderr" not in k])


def test_per_language_fidelity_metrics_in_mgsm(runs_dir):
    out, _, _ = runs_dir
    res = _results(out / "per_lang")["results"]
    filt = "strict-match"
    for x in MGSM_LANGS:
        r = res[f"mgsm_native_cot_{x}"]
        want = 2 / 3 if x in ("ja", "ru", "zh") else 1.0
        assert r[f"lang_fidelity,{filt}"] == pytest.approx(want), x
        assert r[f"lang_undecidable,{filt}"] == 0
        # accuracy among the replies in the question's language
        acc = expected()[f"accuracy_{x}"]
        in_lang = acc * N_ITEMS / (want * N_ITEMS)
        assert r[f"exact_match_in_lang,{filt}"] == pytest.approx(in_lang), x
    assert "lang_fidelity,strict-match" in res["mgsm_native_cot"]


def test_report_reads_the_xlc_run_as_matrices(runs_dir, tmp_path):
    from lm_eval_ext.reporting import runs

    out, _, _ = runs_dir
    loaded, problems = runs.load_runs([out / "xlc"])
    (run,) = loaded
    cells = {(c.metric, c.langs) for c in run.cells}
    assert ("agreement,strict-match", ("de", "en")) in cells
    assert ("accuracy,strict-match", ("sw",)) in cells
    assert ("agreement_mean,strict-match", ()) in cells
    from lm_eval_ext.reporting.report import write_report

    write_report([str(out / "xlc"), str(out / "per_lang")], str(tmp_path / "rep"), max_samples=5, bootstrap_iters=200)
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "agreement" in text and "lang_fidelity" in text


def test_missing_language_file_named_before_the_model_loads(tmp_path, shared_data):
    from lm_eval_ext import families

    (tmp_path / "mgsm").mkdir()
    for lang in MGSM_LANGS:
        for name in (f"mgsm_{lang}.jsonl", f"mgsm_{lang}.train.jsonl"):
            if name != "mgsm_te.jsonl":
                (tmp_path / "mgsm" / name).write_bytes((shared_data / "mgsm" / name).read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(families.DATA_DIR_ENV, str(tmp_path))
        with pytest.raises(families.DataNotFoundError) as err:
            families.check_available(task="xlc_mgsm", family="xlc", source="mgsm")
    assert str(tmp_path / "mgsm" / "mgsm_te.jsonl") in str(err.value) and "xlc_mgsm" in str(err.value)


@pytest.mark.slow
def test_tiny_model_same_replies_and_numbers_as_per_language_tasks(tmp_path, tiny_model_dir):
    """A real (tiny, random, greedy) HF model through lm-eval's `hf` backend, 2-shot plain text:
    xlc_mgsm on items 0-1 and mgsm_native_cot_<l> on items 0-1 in one run get the same prompts (the
    doc's own language's exemplars) and the same replies, and the post-hoc command over the
    per-language logs gives the task's numbers. (0-shot chat prompts: the loopback test.)"""
    n = 2
    samples = {"xlc_mgsm": list(range(n * len(MGSM_LANGS)))}
    samples.update({f"mgsm_native_cot_{x}": list(range(n)) for x in MGSM_LANGS})
    proc = run_cli(["lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
                    "--tasks", "xlc_mgsm,mgsm_native_cot", "--samples", json.dumps(samples),
                    "--num_fewshot", "2", "--batch_size", "8", "--gen_kwargs", "max_gen_toks=8",
                    "--log_samples", "--output_path", str(tmp_path / "run")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = {p.parent for p in (tmp_path / "run").rglob("results_*.json")}
    def prompt_and_reply(s):
        return s["arguments"]["gen_args_0"]["arg_0"], s["resps"][0][0]

    xlc_out = {(s["doc"]["xlc_item"], s["doc"]["xlc_lang"]): prompt_and_reply(s)
               for s in _jsonl(next(folder.glob("samples_xlc_mgsm_*.jsonl")))}
    per_lang = {}
    for x in MGSM_LANGS:
        for s in _jsonl(next(folder.glob(f"samples_mgsm_native_cot_{x}_*.jsonl"))):
            per_lang[(str(s["doc"]["item_id"]), x)] = prompt_and_reply(s)
    assert len(xlc_out) == n * len(MGSM_LANGS) and xlc_out == per_lang
    # the German prompt holds the first two German exemplars
    de_prompt = xlc_out[("0", "de")][0]
    assert de_prompt.count("Frage:") == 3 and de_prompt.count("Die Antwort ist") >= 2
    proc = run_cli(["lm-eval-ext", "consistency", str(folder), "--json", str(tmp_path / "c.json")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (entry,) = json.loads((tmp_path / "c.json").read_text())
    task = _results(tmp_path / "run")["results"]["xlc_mgsm"]
    for filt, metrics in entry["metrics"].items():
        for name, value in metrics.items():
            got = task[f"{name},{filt}"]
            assert (value is None and math.isnan(got)) or value == pytest.approx(got, abs=1e-12), (name, filt)


# ------------------------------------------------------------------- xlc_xquad
XQ = families.get("xquad").parallel  # XQuAD's consistency adapter


def test_xquad_correct_is_mlqa_exact_match_and_agreement_normalizes_per_language():
    row = {"answers": {"text": ["Denver Broncos", "the Broncos"]}, "ctx_lang": "en"}
    assert XQ.correct(row, "The Denver Broncos.") and XQ.correct(row, "broncos")  # article, case, punctuation
    assert not XQ.correct(row, "Denver") and not XQ.correct(row, "")
    eq = XQ.equal
    assert eq("the Denver Broncos", "en", "die Denver Broncos", "de")  # each language's own articles
    assert eq("Denver Broncos.", "es", "«Denver Broncos»", "ro")
    assert eq("丹佛 野马", "zh", "丹佛野马", "zh")  # spaces ignored
    assert not eq("die Denver Broncos", "en", "Denver Broncos", "en")  # "die" is no English article
    assert not eq("Broncos", "en", "Denver Broncos", "de")
    assert not eq("", "en", "", "de")  # no answer agrees with nothing
    # through compute(): en/de agree on item 0 and are both right; zh is right on item 1 only
    r = [Record("0", "en", "The Broncos", True), Record("0", "de", "die Broncos", True),
         Record("0", "zh", "野马", False), Record("1", "en", "", False),
         Record("1", "de", "1905", False), Record("1", "zh", "1905年", True)]
    m = compute(r, ("de", "en", "zh"), XQ.equal)
    assert m["agreement_de_en"] == 0.5 and m["agreement_de_zh"] == 0 and m["agreement_en_zh"] == 0
    assert m["consistency_de_en"] == 1 and m["consistency_de_zh"] == 0 and m["consistency_en_zh"] == 0
    assert (m["correct_all"], m["correct_none"], m["correct_some"]) == (0, 0, 1)
    with pytest.raises(ValueError, match="zero-shot"):
        XQ.exemplars(None, "de")


XQ_ITEMS = 3
XQUAD_LANGS = languages.XQUAD_LANGS
XQ_HIGH = set(languages.of_tier(languages.HIGH, XQUAD_LANGS))
UNSURE = "I am not sure, the context does not say this clearly."


def xquad_reply(rows, lang, k):
    """Item 0: the gold span everywhere. Item 1: the gold span in high-resource
    languages, the English gold span in the others. Item 2: the English gold in
    English, an English sentence in de es ru, nothing in the others."""
    gold, en_gold = rows[lang][k]["answers"]["text"][0], rows["en"][k]["answers"]["text"][0]
    if k == 0 or (k == 1 and lang in XQ_HIGH) or (k == 2 and lang == "en"):
        return gold
    if k == 1:
        return en_gold
    return UNSURE if lang in ("de", "es", "ru") else ""


@pytest.fixture(scope="module")
def xquad_rows(shared_data):
    return {x: _jsonl(shared_data / "xquad" / f"xquad.{x}.jsonl")[:XQ_ITEMS] for x in XQUAD_LANGS}


@pytest.fixture(scope="module")
def xquad_run(xquad_rows, tmp_path_factory):
    """One lm_eval run: xlc_xquad (3 items x 12 languages) and xquad_<l> (3 items each)."""
    out = tmp_path_factory.mktemp("xlc_xquad")
    questions = {xquad_rows[x][k]["question"]: (x, k) for x in XQUAD_LANGS for k in range(XQ_ITEMS)}

    def policy(kind, payload):
        prompt = last_user_message(payload)
        (lang, k), = [v for q, v in questions.items() if q in prompt]
        return xquad_reply(xquad_rows, lang, k)

    samples = {"xlc_xquad": list(range(XQ_ITEMS * len(XQUAD_LANGS)))}
    samples.update({f"xquad_{x}": list(range(XQ_ITEMS)) for x in XQUAD_LANGS})
    with ScriptedServer(policy) as server:
        proc = run_cli(["lm_eval", "run", "--model", "local-chat-completions",
                        "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
                        "--tasks", "xlc_xquad,xquad_all", "--samples", json.dumps(samples),
                        "--apply_chat_template", "--log_samples", "--output_path", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = {p.parent for p in out.rglob("results_*.json")}
    return folder


def test_xlc_xquad_end_to_end_equals_the_official_script_and_the_posthoc_command(xquad_run, xquad_rows, tmp_path):
    from reference import mlqa_extended

    folder = xquad_run
    task = json.loads(next(folder.glob("results_*.json")).read_text())["results"]["xlc_xquad"]
    # the same prompts and replies as the per-language tasks
    xlc_out = {(s["doc"]["xlc_item"], s["doc"]["xlc_lang"]): (s["arguments"]["gen_args_0"]["arg_0"],
                                                              s["filtered_resps"][0])
               for s in _jsonl(next(folder.glob("samples_xlc_xquad_*.jsonl")))}
    per_lang = {}
    for x in XQUAD_LANGS:
        for s in _jsonl(next(folder.glob(f"samples_xquad_{x}_*.jsonl"))):
            per_lang[(s["doc"]["id"], x)] = (s["arguments"]["gen_args_0"]["arg_0"], s["filtered_resps"][0])
    assert len(xlc_out) == XQ_ITEMS * len(XQUAD_LANGS) and xlc_out == per_lang
    # expected numbers, independently: the official MLQA script's exact match and normalization
    answer = {x: [xquad_reply(xquad_rows, x, k) for k in range(XQ_ITEMS)] for x in XQUAD_LANGS}
    right = {x: {k for k in range(XQ_ITEMS) if mlqa_extended.metric_max_over_ground_truths(
        mlqa_extended.exact_match_score, answer[x][k], xquad_rows[x][k]["answers"]["text"], x)} for x in XQUAD_LANGS}
    norm = {x: ["".join(mlqa_extended.normalize_answer(a, x).split()) for a in answer[x]] for x in XQUAD_LANGS}
    for x in XQUAD_LANGS:
        assert task[f"accuracy_{x},clean"] == pytest.approx(len(right[x]) / XQ_ITEMS), x
    assert right["en"] == {0, 1, 2} and right["de"] == {0, 1} and all(0 in right[x] for x in XQUAD_LANGS)
    assert len({task[f"consistency_{a}_{b},clean"] for a, b in combinations(XQUAD_LANGS, 2)}) >= 2  # can fail
    for a, b in combinations(XQUAD_LANGS, 2):
        agree = sum(bool(norm[a][k]) and norm[a][k] == norm[b][k] for k in range(XQ_ITEMS)) / XQ_ITEMS
        union = right[a] | right[b]
        assert task[f"agreement_{a}_{b},clean"] == pytest.approx(agree, abs=1e-12), (a, b)
        assert task[f"consistency_{a}_{b},clean"] == pytest.approx(len(right[a] & right[b]) / len(union)), (a, b)
    # the English sentence agrees across de es ru (wrong, equal); empty replies agree with nothing
    assert task["agreement_de_es,clean"] >= 1 / 3 and task["agreement_ar_zh,clean"] <= 2 / 3
    # fidelity: the English sentence of de es ru is in the wrong language (short spans: undecidable
    # or judged, as the identifier says; the post-hoc equality below checks them against xquad_<l>)
    assert all(task[f"lang_fidelity_{x},clean"] < 1 for x in ("de", "es", "ru"))
    # post-hoc over the xquad_<l> logs gives the task's numbers
    proc = run_cli(["lm-eval-ext", "consistency", str(folder), "--json", str(tmp_path / "c.json")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    entries = {e["family"]: e for e in json.loads((tmp_path / "c.json").read_text())}
    entry = entries["xquad"]
    assert entry["missing_langs"] == [] and list(entry["metrics"]) == ["clean"]
    for name, value in entry["metrics"]["clean"].items():
        got = task[f"{name},clean"]
        assert (value is None and math.isnan(got)) or value == pytest.approx(got, abs=1e-12), name
    assert len(entry["metrics"]["clean"]) == len([k for k in task if k.endswith(",clean") and "_stderr" not in k])
