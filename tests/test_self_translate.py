"""Self-translate (stage 1: the model translates into English; stage 2: it answers the English
text) for MGSM and XQuAD, through the real `lm_eval` CLI twice (route b) and through
`lm-eval-ext self-translate` (route a). A loopback server plays both stages from the real
data: a perfect translator and solver, and a half-wrong one whose numbers are computed here
independently (sacreBLEU directly, the official QA scripts in tests/reference/)."""

import json
import re
from pathlib import Path

import pytest
import sacrebleu
from support.env import REPO, run_cli
from support.loopback import ScriptedServer, last_user_message
from support.qa_data import read_jsonl
from reference import mlqa_extended, squad_v1_1

from lm_eval_ext import languages
from lm_eval_ext.families import self_translate as st

MGSM_LANGS = st.languages_of("mgsm")
XQUAD_LANGS = st.languages_of("xquad")
STAGE1_LIMIT = 8  # MGSM: 8 questions; XQuAD: paragraph 0 and its first 7 questions
ITEMS = 7  # stage 2 (XQuAD's first paragraph has more than 8 questions)
SETTING = st.SETTING


# ------------------------------------------------------------------ the data, read here
class Data:
    """The real MGSM and XQuAD items: what a stage-1 prompt holds -> the English text of the
    same item; what a stage-2 prompt holds -> the item."""

    def __init__(self, root: Path):
        self.mgsm = {c: read_jsonl(root / "mgsm" / f"mgsm_{c}.jsonl") for c in ("en", *MGSM_LANGS)}
        self.xquad = {c: read_jsonl(root / "xquad" / f"xquad.{c}.jsonl") for c in ("en", *XQUAD_LANGS)}
        for c, rows in self.mgsm.items():  # the exemplar-style prefix is not in the test split
            assert not any(r["question"].startswith(languages.get(c).mgsm.question + " ") for r in rows[:ITEMS])

    def paragraph0(self, lang) -> int:
        rows = self.xquad[lang]
        return sum(1 for r in rows if r["context"] == rows[0]["context"])


def mapped(i: int, half: bool) -> int:
    """The item whose English text the translator returns for item i: every second item is
    mistranslated (the next item's English text) by the half-wrong translator."""
    return i + 1 if half and i % 2 == 1 else i


def solver_wrong(j: int, half: bool) -> bool:
    """The half-wrong solver answers every third (English) item wrongly."""
    return half and j % 3 == 2


def policy(data: Data, half: bool):
    mgsm_src = {r["question"]: (c, i) for c in MGSM_LANGS for i, r in enumerate(data.mgsm[c][:ITEMS + 2])}
    xq_ctx = {data.xquad[c][0]["context"]: c for c in XQUAD_LANGS}
    xq_q = {r["question"]: (c, i) for c in XQUAD_LANGS for i, r in enumerate(data.xquad[c][:ITEMS + 2])}
    en_mgsm = {r["question"]: j for j, r in enumerate(data.mgsm["en"][:ITEMS + 3])}
    en_xq = {r["question"]: j for j, r in enumerate(data.xquad["en"][:ITEMS + 3])}

    def reply(kind, payload):
        prompt = last_user_message(payload)
        m = re.fullmatch(r"(.+?): (.*)\nEnglish:", prompt, re.S)
        if m:  # stage 1
            text = m[2]
            if text in mgsm_src:
                c, i = mgsm_src[text]
                return data.mgsm["en"][mapped(i, half)]["question"]
            if text in xq_ctx:
                return data.xquad["en"][0]["context"]
            c, i = xq_q[text]
            return data.xquad["en"][mapped(i, half)]["question"]
        m = re.fullmatch(r"Question: (.*)\nStep-by-Step Answer:", prompt, re.S)
        if m:  # stage 2, MGSM: the English CoT prompt
            j = en_mgsm[m[1]]
            gold = data.mgsm["en"][j]["answer_number"]
            number = gold + 1 if solver_wrong(j, half) else gold
            return f"Let me think. {number} it is. The answer is {number}."
        m = re.fullmatch(r"Context: (.*)\nQuestion: (.*)\nAnswer:", prompt, re.S)
        assert m, prompt
        assert m[1] == data.xquad["en"][0]["context"]
        j = en_xq[m[2]]
        return "Mount Everest" if solver_wrong(j, half) else data.xquad["en"][j]["answers"]["text"][0]

    return reply


def lm_eval(server, tasks, out, limit, env=None, extra=(), concurrent=4):
    return run_cli([
        "lm_eval", "run", "--model", "local-chat-completions",
        "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent={concurrent}",
        "--tasks", tasks, "--limit", str(limit), "--apply_chat_template", "--log_samples", "--output_path", str(out),
        *extra], env=env)


def results(out: Path) -> dict:
    merged: dict = {}
    for path in sorted(out.rglob("results_*.json")):
        for key, value in json.loads(path.read_text()).items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) and key in merged else value
    return merged


def samples(out: Path, task: str) -> list[dict]:
    (path,) = list(out.rglob(f"samples_{task}_2*.jsonl"))
    return read_jsonl(path)


def two_step(tmp_path, data, half):
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    with ScriptedServer(policy(data, half)) as server:
        proc = lm_eval(server, "mgsm_self_translate_stage1,xquad_self_translate_stage1", stage1, STAGE1_LIMIT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        proc = lm_eval(server, "mgsm_self_translate,xquad_self_translate", stage2, ITEMS, env={SETTING: str(stage1)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        n_requests = len(server.requests)
    return stage1, stage2, n_requests


@pytest.fixture(scope="module")
def data(shared_data):
    return Data(shared_data)


@pytest.fixture(scope="module")
def perfect(tmp_path_factory, data):
    return two_step(tmp_path_factory.mktemp("st_perfect"), data, half=False)


@pytest.fixture(scope="module")
def half(tmp_path_factory, data):
    return two_step(tmp_path_factory.mktemp("st_half"), data, half=True)


# --------------------------------------------------------------------------- tests
def test_generated_tasks_are_current():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO / "tasks/self_translate/_generate.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_perfect_translator_and_solver_score_one_everywhere(perfect, data):
    stage1, stage2, n_requests = perfect
    # stage 1: MGSM 8 questions, XQuAD paragraph 0 once + 7 questions; stage 2: 7 items each
    assert n_requests == (len(MGSM_LANGS) + len(XQUAD_LANGS)) * (STAGE1_LIMIT + ITEMS)
    r1, r2 = results(stage1)["results"], results(stage2)["results"]
    for c in MGSM_LANGS:
        t1, t2 = r1[f"mgsm_self_translate_stage1_{c}"], r2[f"mgsm_self_translate_{c}"]
        assert t1["chrfpp,translation"] == pytest.approx(100.0) and t1["bleu,translation"] == pytest.approx(100.0)
        assert t1["lang_fidelity,translation"] == 1.0
        for filt in ("strict-match", "flexible-extract"):
            assert t2[f"exact_match,{filt}"] == 1.0 and t2[f"exact_match_non_en,{filt}"] == 1.0
            assert t2[f"translation_chrfpp,{filt}"] == pytest.approx(100.0)
            assert t2[f"translation_bleu,{filt}"] == pytest.approx(100.0)
    for c in XQUAD_LANGS:
        t1, t2 = r1[f"xquad_self_translate_stage1_{c}"], r2[f"xquad_self_translate_{c}"]
        assert t1["chrfpp,translation"] == pytest.approx(100.0) and t1["bleu,translation"] == pytest.approx(100.0)
        for m in ("exact_match", "f1", "exact_match_squad", "f1_squad"):
            assert t2[f"{m},clean"] == 1.0, (c, m)
        assert t2["translation_chrfpp,clean"] == pytest.approx(100.0)
    for group in ("mgsm_self_translate", "mgsm_self_translate_hrl", "mgsm_self_translate_url"):
        assert r2[group]["exact_match,strict-match"] == 1.0
    assert r2["mgsm_self_translate"]["exact_match_non_en,strict-match"] == 1.0
    assert r2["xquad_self_translate"]["f1,clean"] == 1.0
    assert r1["mgsm_self_translate_stage1"]["chrfpp,translation"] == pytest.approx(100.0)
    # the samples log of stage 2 carries the original item, the model's translation and its answer
    s = samples(stage2, "xquad_self_translate_th")[0]
    assert s["doc"]["original_question"] == data.xquad["th"][0]["question"]
    assert s["doc"]["original_context"] == data.xquad["th"][0]["context"]
    assert s["doc"]["question"] == data.xquad["en"][0]["question"] and s["doc"]["ctx_lang"] == "en"
    assert s["filtered_resps"][0] == data.xquad["en"][0]["answers"]["text"][0]
    s = samples(stage2, "mgsm_self_translate_bn")[0]
    assert s["doc"]["original_question"] == data.mgsm["bn"][0]["question"]
    assert s["doc"]["question"] == s["doc"]["reference_question"] == data.mgsm["en"][0]["question"]
    # signatures: sacreBLEU's of this process for the translation metrics
    cfg = results(stage2)["configs"]["mgsm_self_translate_de"]["metadata"]
    assert cfg["metric_signatures"]["translation_chrfpp"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2")
    assert results(stage1)["configs"]["xquad_self_translate_stage1_de"]["metadata"]["metric_signatures"][
        "bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")


def _qa_scores(answer, golds):
    return {
        "exact_match": float(mlqa_extended.metric_max_over_ground_truths(mlqa_extended.exact_match_score, answer, golds, "en")),
        "f1": float(mlqa_extended.metric_max_over_ground_truths(mlqa_extended.f1_score, answer, golds, "en")),
        "exact_match_squad": float(squad_v1_1.metric_max_over_ground_truths(squad_v1_1.exact_match_score, answer, golds)),
        "f1_squad": float(squad_v1_1.metric_max_over_ground_truths(squad_v1_1.f1_score, answer, golds)),
    }


def test_half_wrong_translator_and_solver_give_the_hand_computed_values(half, data):
    stage1, stage2, _ = half
    r1, r2 = results(stage1)["results"], results(stage2)["results"]
    en_q = [r["question"] for r in data.mgsm["en"]]
    hyps = [en_q[mapped(i, True)] for i in range(STAGE1_LIMIT)]
    chrf1 = sacrebleu.corpus_chrf(hyps, [en_q[:STAGE1_LIMIT]], word_order=2).score
    bleu1 = sacrebleu.corpus_bleu(hyps, [en_q[:STAGE1_LIMIT]]).score
    chrf2 = sacrebleu.corpus_chrf(hyps[:ITEMS], [en_q[:ITEMS]], word_order=2).score
    gold = [r["answer_number"] for r in data.mgsm["en"]]
    answers = [gold[mapped(i, True)] + solver_wrong(mapped(i, True), True) for i in range(ITEMS)]
    accuracy = sum(a == g for a, g in zip(answers, gold)) / ITEMS
    assert 0 < accuracy < 1 and 0 < chrf1 < 100
    for c in MGSM_LANGS:
        t1, t2 = r1[f"mgsm_self_translate_stage1_{c}"], r2[f"mgsm_self_translate_{c}"]
        assert t1["chrfpp,translation"] == pytest.approx(chrf1, abs=1e-9)
        assert t1["bleu,translation"] == pytest.approx(bleu1, abs=1e-9)
        for filt in ("strict-match", "flexible-extract"):
            assert t2[f"exact_match,{filt}"] == pytest.approx(accuracy, abs=1e-12)
            assert t2[f"translation_chrfpp,{filt}"] == pytest.approx(chrf2, abs=1e-9)
    assert r2["mgsm_self_translate"]["exact_match,strict-match"] == pytest.approx(accuracy, abs=1e-12)

    en = data.xquad["en"]
    for c in XQUAD_LANGS:
        texts = [en[0]["context"]] + [en[mapped(i, True)]["question"] for i in range(STAGE1_LIMIT - 1)]
        refs = [en[0]["context"]] + [en[i]["question"] for i in range(STAGE1_LIMIT - 1)]
        t1 = r1[f"xquad_self_translate_stage1_{c}"]
        assert t1["chrfpp,translation"] == pytest.approx(
            sacrebleu.corpus_chrf(texts, [refs], word_order=2).score, abs=1e-9)
        assert t1["bleu,translation"] == pytest.approx(sacrebleu.corpus_bleu(texts, [refs]).score, abs=1e-9)
        t2 = r2[f"xquad_self_translate_{c}"]
        # stage 2 used the paragraph once and the first ITEMS questions
        assert t2["translation_chrfpp,clean"] == pytest.approx(
            sacrebleu.corpus_chrf(texts[:ITEMS + 1], [refs[:ITEMS + 1]], word_order=2).score, abs=1e-9)
        sums = dict.fromkeys(("exact_match", "f1", "exact_match_squad", "f1_squad"), 0.0)
        for i in range(ITEMS):
            j = mapped(i, True)
            answer = "Mount Everest" if solver_wrong(j, True) else en[j]["answers"]["text"][0]
            for m, v in _qa_scores(answer, en[i]["answers"]["text"]).items():
                sums[m] += v
        for m, v in sums.items():
            assert t2[f"{m},clean"] == pytest.approx(v / ITEMS, abs=1e-9), (c, m)
        assert 0 < sums["f1"] / ITEMS < 1


def test_reports_leaderboard_compare_and_judge_read_a_self_translate_run(perfect, half, tmp_path):
    _, stage2_perfect, _ = perfect
    _, stage2_half, _ = half
    board = tmp_path / "lb.csv"
    proc = run_cli(["lm-eval-ext", "leaderboard", str(stage2_perfect), "--csv", str(board)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    header = board.read_text(encoding="utf-8").splitlines()[0]
    assert "mgsm_self_translate/de/exact_match:strict-match" in header
    assert "xquad_self_translate/th/f1:clean" in header
    proc = run_cli(["lm-eval-ext", "compare", str(stage2_perfect), str(stage2_half), "--threshold", "0.02",
                    "--markdown", str(tmp_path / "board.md")])
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # the half-wrong run regressed
    assert "mgsm_self_translate" in (tmp_path / "board.md").read_text(encoding="utf-8")
    # consistency: the items of every language, answered from their English translations
    for run, accuracy in ((stage2_perfect, 1.0), (stage2_half, None)):
        proc = run_cli(["lm-eval-ext", "consistency", str(run), "--json", str(tmp_path / "xlc.json")])
        assert proc.returncode == 0, proc.stderr[-2000:]
        found = {e["family"]: e for e in json.loads((tmp_path / "xlc.json").read_text())}
        assert set(found) == {"mgsm_self_translate", "xquad_self_translate"}
        assert found["mgsm_self_translate"]["langs"] == list(MGSM_LANGS)
        assert found["xquad_self_translate"]["langs"] == list(XQUAD_LANGS)
        for entry in found.values():
            for metrics in entry["metrics"].values():
                # every language got the same English texts: the answers agree across languages
                assert metrics["agreement_mean"] == 1.0
                if accuracy is not None:
                    assert metrics["accuracy_mean"] == accuracy

    def judge(kind, payload):
        text = json.dumps(payload)
        if "Supported" in text:
            return "Fine.\nCorrect: yes\nSupported: yes"
        if "Verdict" in text:
            return "Same.\nVerdict: yes"
        return "Good.\nScore: 90"

    with ScriptedServer(judge) as server:
        proc = run_cli(["lm-eval-ext", "judge", str(stage2_perfect), "--judge-url", server.base_url,
                        "--judge-model", "scripted", "--tasks", "mgsm_self_translate_de,xquad_self_translate_de",
                        "--cache", str(tmp_path / "judge.sqlite")])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = list(stage2_perfect.rglob("judge_results_*.json"))
    tasks = json.loads(path.read_text())["tasks"]
    assert set(tasks["mgsm_self_translate_de"]) == {"math_cot"}
    assert set(tasks["xquad_self_translate_de"]) == {"qa_equiv"}


# ------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def mgsm_stage1_de(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("st_bad") / "stage1"
    with ScriptedServer(policy(data, False)) as server:
        proc = lm_eval(server, "mgsm_self_translate_stage1_de", out, 3)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _bad(tasks, limit, env, must, extra=()):
    """Stage 2 against a bad stage-1 setting: lm_eval stops before any model loads (the model
    path does not exist: loading it first would fail differently) with lm-eval's exit status 1
    and our message naming both sides."""
    selection = ["--limit", str(limit)] if limit is not None else []
    proc = run_cli(["lm_eval", "run", "--model", "hf", "--model_args", "pretrained=/nonexistent-model",
                    "--tasks", tasks, *selection, "--output_path", env["OUT"], *extra],
                   env={k: v for k, v in env.items() if k != "OUT"})
    assert proc.returncode == 1
    message = [line for line in proc.stderr.splitlines() if "SelfTranslateError" in line]
    assert message, proc.stderr[-3000:]
    for text in must:
        assert text in message[-1], message[-1]
    return message[-1]


def test_stage2_without_the_setting(tmp_path):
    _bad("mgsm_self_translate_de", 3, {SETTING: "", "OUT": str(tmp_path)},
         ["mgsm_self_translate_de", "mgsm_self_translate_stage1_de", SETTING])


def test_stage2_with_a_missing_folder(tmp_path):
    _bad("mgsm_self_translate_de", 3, {SETTING: str(tmp_path / "nope"), "OUT": str(tmp_path)},
         ["mgsm_self_translate_de", str(tmp_path / "nope"), "not a folder"])


def test_stage2_of_another_language_or_family(mgsm_stage1_de, tmp_path):
    env = {SETTING: str(mgsm_stage1_de), "OUT": str(tmp_path)}
    _bad("mgsm_self_translate_fr", 3, env, ["mgsm_self_translate_fr", str(mgsm_stage1_de),
                                            "no samples log of mgsm_self_translate_stage1_fr",
                                            "mgsm_self_translate_stage1_de"])
    _bad("xquad_self_translate_de", 3, env, ["xquad_self_translate_de", str(mgsm_stage1_de),
                                             "family mgsm, not xquad"])


def test_stage2_asking_for_more_items_than_stage1_translated(mgsm_stage1_de, tmp_path):
    env = {SETTING: str(mgsm_stage1_de), "OUT": str(tmp_path)}
    _bad("mgsm_self_translate_de", 5, env, ["mgsm_self_translate_de", str(mgsm_stage1_de),
                                            "evaluates 5 items", "first 3", "--limit"])


def test_stage1_run_on_other_data(mgsm_stage1_de, tmp_path):
    import shutil

    copy = tmp_path / "stage1"
    shutil.copytree(mgsm_stage1_de, copy)
    (path,) = list(copy.rglob("samples_mgsm_self_translate_stage1_de_*.jsonl"))
    lines = read_jsonl(path)
    lines[1]["doc"]["source"] = "Ein anderer Text."
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    _bad("mgsm_self_translate_de", 3, {SETTING: str(copy), "OUT": str(tmp_path)},
         ["mgsm_self_translate_de", str(path), "other data"])


def test_a_stage1_run_of_another_model_is_a_warning(mgsm_stage1_de, data, tmp_path):
    with ScriptedServer(policy(data, False), model_name="other") as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=other,base_url={server.base_url}/chat/completions",
            "--tasks", "mgsm_self_translate_de", "--limit", "3", "--apply_chat_template",
            "--output_path", str(tmp_path)], env={SETTING: str(mgsm_stage1_de)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not self-translate" in proc.stderr and "scripted" in proc.stderr
    # the result records the stage 1 it answered, and the reports say whose translations these are
    (results_file,) = tmp_path.rglob("results_*.json")
    record = json.loads(results_file.read_text())["configs"]["mgsm_self_translate_de"]["metadata"][st.STAGE1_RECORD]
    (stage1_file,) = mgsm_stage1_de.rglob("results_*.json")
    assert record["results"] == str(stage1_file) and record["model_name"] == "scripted"
    proc = run_cli(["lm-eval-ext", "leaderboard", str(mgsm_stage1_de), str(tmp_path), "--format", "json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(r["model"] for r in json.loads(proc.stdout)["rows"]) == [
        "other answering scripted's translations", "scripted"]
    proc = run_cli(["lm-eval-ext", "report", str(mgsm_stage1_de), str(tmp_path), "-o", str(tmp_path / "rep")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| other answering scripted's translations | other |" in (tmp_path / "rep" / "report.md").read_text()


def test_stage2_with_samples_and_a_results_file_as_the_setting(mgsm_stage1_de, data, tmp_path):
    """lm-eval's --samples picks doc indices: a stage 2 whose selected items were all translated
    runs (the preflight sees the indices, not only --limit); the setting may name the stage-1
    results file itself."""
    (stage1_file,) = mgsm_stage1_de.rglob("results_*.json")
    with ScriptedServer(policy(data, False)) as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions",
            "--tasks", "mgsm_self_translate_de", "--samples", json.dumps({"mgsm_self_translate_de": [0, 2]}),
            "--apply_chat_template", "--log_samples", "--output_path", str(tmp_path / "out")],
            env={SETTING: str(stage1_file)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results_file,) = (tmp_path / "out").rglob("results_*.json")
    doc = json.loads(results_file.read_text())
    assert doc["n-samples"]["mgsm_self_translate_de"]["effective"] == 2
    assert doc["results"]["mgsm_self_translate_de"]["exact_match,strict-match"] == 1.0
    assert doc["configs"]["mgsm_self_translate_de"]["metadata"][st.STAGE1_RECORD]["results"] == str(stage1_file)
    assert {s["doc_id"] for s in samples(tmp_path / "out", "mgsm_self_translate_de")} == {0, 2}
    _bad("mgsm_self_translate_de", None, {SETTING: str(stage1_file), "OUT": str(tmp_path / "bad")},
         ["mgsm_self_translate_de", "--samples selects item(s) 5", "first 3"],
         extra=["--samples", json.dumps({"mgsm_self_translate_de": [0, 5]})])


def test_stage2_refuses_lm_eval_s_request_cache(perfect, half, data, tmp_path):
    """lm-eval keys its request cache by task name, few-shot, template and tokenizer: with
    --cache_requests true a stage 2 would be sent the prompts built from whichever stage 1 filled
    the cache. It is refused before a model loads; `refresh` rebuilds the prompts from the stage
    1 named: its own (uncached) values."""
    cache = {"LM_HARNESS_CACHE_PATH": str(tmp_path / "lm-eval-cache")}
    _bad("mgsm_self_translate_de", ITEMS, {**cache, SETTING: str(perfect[0]), "OUT": str(tmp_path / "bad")},
         ["mgsm_self_translate_de", "--cache_requests true", SETTING], extra=["--cache_requests", "true"])
    gold = [r["answer_number"] for r in data.mgsm["en"]]
    # the perfect solver answers the English text it is sent: right where the translation is right
    half_accuracy = sum(gold[mapped(i, True)] == gold[i] for i in range(ITEMS)) / ITEMS
    assert half_accuracy < 1
    with ScriptedServer(policy(data, False)) as server:  # the stage-2 runs of the fixtures used no cache
        proc = lm_eval(server, "mgsm_self_translate_de", tmp_path / "out", ITEMS,
                       env={**cache, SETTING: str(half[0])}, extra=["--cache_requests", "refresh"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert results(tmp_path / "out")["results"]["mgsm_self_translate_de"]["exact_match,strict-match"] == \
        pytest.approx(half_accuracy, abs=1e-12)


# ------------------------------------------------------------ route (a): one command
@pytest.mark.slow
def test_one_command_with_the_tiny_model(tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    proc = run_cli(["lm-eval-ext", "self-translate", "--model", "hf",
                    "--model_args", f"pretrained={tiny_model_dir},dtype=float32", "--tasks", "mgsm,xquad",
                    "--limit", "2", "--batch_size", "2", "--apply_chat_template",
                    "--gen_kwargs", "max_gen_toks=8", "--output_path", str(out)])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # one model load for both stages (transformers 5 shows one progress bar per load)
    assert proc.stderr.count("Loading weights:   0%") <= 1 and proc.stdout.count("[1/3] loading hf") == 1
    (folder,) = {p.parent for p in out.rglob("results_*.json")}
    from lm_eval_ext.reporting.runs import load_runs

    (run,), problems = load_runs([out])  # stage 1 and stage 2 merge into one run
    assert run.path == folder and run.model_type == "hf"
    for lang in ("de", "th"):
        assert {f"mgsm_self_translate_stage1_{lang}", f"mgsm_self_translate_{lang}",
                f"xquad_self_translate_stage1_{lang}", f"xquad_self_translate_{lang}"} <= set(run.samples)
        # stage 2 answered exactly what stage 1 translated (the cleaned reply)
        first = {s["doc"]["text_id"]: s["filtered_resps"][0]
                 for s in read_jsonl(run.samples[f"xquad_self_translate_stage1_{lang}"])}
        items = read_jsonl(run.samples[f"xquad_self_translate_{lang}"])
        assert len(items) == 2 and len(first) == 3  # paragraph 0 and two questions
        for s in items:
            assert s["doc"]["question"] == first[f"question:{s['doc']['id']}"]
            assert s["doc"]["context"] == first["context:0"]
        mgsm_items = [s for s in read_jsonl(run.samples[f"mgsm_self_translate_{lang}"]) if s["filter"] == "strict-match"]
        assert len(mgsm_items) == 2
    assert run.data["results"]["mgsm_self_translate_de"]["exact_match,strict-match"] in (0.0, 0.5, 1.0)
    # every language selected: lm-eval ran the groups, so their means over languages are there
    for group, key in (("mgsm_self_translate", "exact_match_non_en,strict-match"),
                       ("mgsm_self_translate_url", "exact_match,flexible-extract"), ("xquad_self_translate", "f1,clean"),
                       ("mgsm_self_translate_stage1", "chrfpp,translation")):
        assert key in run.data["results"][group], group
    assert len(run.samples) == 2 * (len(MGSM_LANGS) + len(XQUAD_LANGS))


@pytest.mark.slow
def test_one_command_again_into_its_folder_with_other_request_settings(tmp_path, data):
    """`lm-eval-ext self-translate` into the folder of an earlier run of the same model with other
    request settings (num_concurrent, verify_certificate spelt true / True): stage 2 reads the
    stage 1 just written, the command says the folder already holds a usable stage 1 and
    --reuse-stage1 answers it; leaderboard and report see one model."""
    out = tmp_path / "out"

    def command(server, settings, *extra):
        before = len(server.requests)
        proc = run_cli(["lm-eval-ext", "self-translate", "--model", "local-chat-completions", "--model_args",
                        f"model=scripted,base_url={server.base_url}/chat/completions,{settings}", "--tasks", "mgsm",
                        "--langs", "de", "--limit", "3", "--apply_chat_template", "--output_path", str(out), *extra])
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc, len(server.requests) - before

    with ScriptedServer(policy(data, False)) as server:
        proc, sent = command(server, "num_concurrent=1,verify_certificate=true")
        assert sent == 6 and "already holds" not in proc.stdout  # 3 texts translated, 3 items answered
        proc, sent = command(server, "num_concurrent=2,verify_certificate=True")
        assert sent == 6 and "already holds a usable stage 1 of this model" in proc.stdout, proc.stdout
        proc, sent = command(server, "num_concurrent=3,verify_certificate=True", "--reuse-stage1")
        assert sent == 3 and "reused (--reuse-stage1)" in proc.stdout, proc.stdout
    files = sorted(out.rglob("results_*.json"))
    stage1_files = [f for f in files if "mgsm_self_translate_stage1_de" in json.loads(f.read_text())["results"]]
    assert len(files) == 5 and len(stage1_files) == 2
    records = [json.loads(f.read_text())["configs"].get("mgsm_self_translate_de", {}).get("metadata", {}).get(
        st.STAGE1_RECORD) for f in files]
    # each stage 2 read the stage 1 written just before it; the reused one the newest
    assert [r["results"] for r in records if r] == [str(stage1_files[0]), str(stage1_files[1]), str(stage1_files[1])]
    proc = run_cli(["lm-eval-ext", "leaderboard", str(out), "--format", "json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["model"] for r in json.loads(proc.stdout)["rows"]] == ["scripted"]
    proc = run_cli(["lm-eval-ext", "report", str(out), "-o", str(tmp_path / "rep")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs_table = (tmp_path / "rep" / "report.md").read_text().split("## Runs")[1].split("\n## ")[0]
    assert sum(line.startswith("| scripted |") for line in runs_table.splitlines()) == 1, runs_table


def test_one_command_runs_language_tasks_for_a_subset(tmp_path):
    from lm_eval_ext.local.self_translate import requested, selection

    pairs = selection("mgsm,xquad", "de,th")
    assert requested(pairs, 2, {st.stage2_task(s, c): [0] for s, c in pairs}) == [
        "mgsm_self_translate_de", "mgsm_self_translate_th", "xquad_self_translate_de", "xquad_self_translate_th"]
    pairs = selection("xquad", None)
    assert requested(pairs, 1, {st.stage1_task(s, c): [0] for s, c in pairs}) == ["xquad_self_translate_stage1"]


def test_one_command_bad_input_before_any_model_loads(tmp_path):
    proc = run_cli(["lm-eval-ext", "self-translate", "--model", "hf", "--model_args", "pretrained=/nonexistent",
                    "--tasks", "mgsm,flores", "--output_path", str(tmp_path)])
    assert proc.returncode == 2 and "unknown: flores" in proc.stderr
    proc = run_cli(["lm-eval-ext", "self-translate", "--model", "hf", "--model_args", "pretrained=/nonexistent",
                    "--tasks", "xquad", "--langs", "sw", "--output_path", str(tmp_path)])
    assert proc.returncode == 2 and "no self-translate language sw" in proc.stderr
    proc = run_cli(["lm-eval-ext", "self-translate", "--model", "hf", "--model_args", "pretrained=/nonexistent",
                    "--tasks", "mgsm", "--langs", "de", "--output_path", str(tmp_path)],
                   env={"LM_EVAL_EXT_DATA_DIR": str(tmp_path / "no-data")})
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------ the report section
def test_report_translate_test_section(tmp_path, data):
    """One model (one server) run natively with English CoT, stage 1 and stage 2, each into a
    folder of its own with another num_concurrent (a request setting, not the model): the report
    has one column for the model and shows per language the three accuracies with the items each
    is over, the English ceiling, the paired gap and chrF++."""
    langs, n, n2 = ("de", "sw"), 6, 4  # native over n items, self-translate over n2
    right = {"native": 3, "en_cot": 4}  # items answered right per mode (of n); self-translate: all
    questions = {r["question"]: (c, i) for c in ("en", *langs) for i, r in enumerate(data.mgsm[c][:n])}
    perfect = policy(data, half=False)

    phase = {"now": "self-translate"}

    def reply(kind, payload):
        if phase["now"] == "self-translate":
            return perfect(kind, payload)
        prompt = last_user_message(payload)
        (c, i), = [v for q, v in questions.items() if q in prompt]
        english_cot = c != "en" and prompt.endswith("Step-by-Step Answer:")
        ok = c == "en" or i < right["en_cot" if english_cot else "native"]
        number = data.mgsm[c][i]["answer_number"] + (0 if ok else 1)
        return languages.get("en" if english_cot else c).mgsm.answer_sentence.format(number)

    folders = {k: tmp_path / k for k in ("stage1", "stage2", "native")}
    with ScriptedServer(reply) as server:
        proc = lm_eval(server, ",".join(f"mgsm_self_translate_stage1_{c}" for c in langs), folders["stage1"], n2,
                       concurrent=1)
        assert proc.returncode == 0, proc.stderr[-3000:]
        proc = lm_eval(server, ",".join(f"mgsm_self_translate_{c}" for c in langs), folders["stage2"], n2,
                       env={SETTING: str(folders["stage1"])}, concurrent=2)
        assert proc.returncode == 0, proc.stderr[-3000:]
        phase["now"] = "native"
        tasks = [f"mgsm_native_cot_{c}" for c in ("en", *langs)] + [f"mgsm_en_cot_{c}" for c in langs]
        proc = lm_eval(server, ",".join(tasks), folders["native"], n, concurrent=4)
        assert proc.returncode == 0, proc.stderr[-3000:]
    report = tmp_path / "report"
    proc = run_cli(["lm-eval-ext", "report", *map(str, folders.values()), "-o", str(report)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (report / "report.md").read_text(encoding="utf-8")
    runs_table = md.split("## Runs")[1].split("\n## ")[0]
    assert [line.split("|")[1].strip() for line in runs_table.splitlines() if line.startswith("| scripted")] == [
        "scripted"], runs_table  # one column for the model
    assert "Translate-test: mgsm" in md
    section = md.split("Translate-test: mgsm", 1)[1]
    from lm_eval_ext.metrics import bootstrap
    from lm_eval_ext.reporting.rows import lang_label

    native = {str(i): float(i < right["native"]) for i in range(n2)}  # the items both scored
    delta, lo, hi, pairs = bootstrap.paired_bootstrap(native, {str(i): 1.0 for i in range(n2)})
    assert delta == pytest.approx(0.25) and pairs == n2
    for c in langs:
        row = next(line for line in section.splitlines() if line.startswith(f"| {lang_label(c)}"))
        cells = [x.strip() for x in row.strip("|").split("|")]
        assert cells[1:4] == [f"0.500 (n={n})", f"{right['en_cot'] / n:.3f} (n={n})", f"1.000 (n={n2})"], row
        assert cells[4].replace("\\[", "[").replace("\\]", "]") == f"{delta:+.3f} [{lo:+.3f}, {hi:+.3f}] (n={pairs})"
        assert cells[5] == "100.0"
    assert "English ceiling (mgsm_native_cot_en): 1.000" in section
    html = (report / "report.html").read_text(encoding="utf-8")
    assert 'id="translate-test-mgsm"' in html and "translate-test · scripted" in html
    proc = run_cli(["lm-eval-ext", "leaderboard", *map(str, folders.values()), "--format", "json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout)["rows"]  # one model, one row
    assert row["mgsm_self_translate/de/exact_match:strict-match"] == 1.0
    assert row["mgsm_native_cot/de/exact_match:strict-match"] == 0.5
