"""The Language Confusion Benchmark as lm-eval tasks: the loader on the released CSVs, the
generated task files, group values equal to the official 'all' rows, and oracle runs through
`lm_eval` against a scripted server on loopback (real text in the desired language -> LPR 1,
English -> 0, half and half -> the value the official averaging gives, computed here)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from support.env import REPO, SHARED_DATA, run_cli
from support.loopback import ScriptedServer, last_user_message

from lm_eval_ext import families, languages
from lm_eval_ext.families import lcb
from lm_eval_ext.metrics import confusion
from lm_eval_ext.reporting import confusion_csv

REF = Path(__file__).parent / "reference" / "lcb"


# ------------------------------------------------------------------ data and tasks
def test_the_loader_reads_every_released_file_and_keys_on_the_source_column(shared_data):
    counts = {}
    for setting in lcb.SETTINGS:
        for lang in lcb.LANGS[setting]:
            rows = lcb.docs(shared_data, setting, lang)
            assert {r["language"] for r in rows} == {lang}
            for r in rows:
                counts[(setting, r["source"])] = counts.get((setting, r["source"]), 0) + 1
    assert sum(counts.values()) == 6586
    assert sum(n for (s, _), n in counts.items() if s == "monolingual") == 2400
    # sources are the CSV's, not the folder names (aya/ -> aya_human_annotated)
    assert {src for s, src in counts if s == "monolingual"} == {"aya_human_annotated", "dolly_human_edited",
                                                                 "okapi", "native_prompts"}
    assert {src for s, src in counts if s == "crosslingual"} == {"okapi", "sharegpt", "complex_prompts"}
    assert counts[("crosslingual", "complex_prompts")] == 14 * 99


def test_bad_data_files_are_named(tmp_path, shared_data):
    (tmp_path / "lcb" / "monolingual" / "native").mkdir(parents=True)
    bad = tmp_path / "lcb" / "monolingual" / "native" / "ko.csv"
    bad.write_text("prompt,source,language\n안녕하세요,native_prompts,ja\n", encoding="utf-8")
    with pytest.raises(families.DataFormatError, match=r"ko.csv:2: column language is 'ja', expected 'ko'"):
        lcb.docs(tmp_path, "monolingual", "ko")
    bad.write_text("prompt,language\nx,ko\n", encoding="utf-8")
    with pytest.raises(families.DataFormatError, match=r"ko.csv:1: missing column\(s\) source"):
        lcb.docs(tmp_path, "monolingual", "ko")
    with pytest.raises(families.DataNotFoundError, match="LCB monolingual has no language 'sw'"):
        lcb.required_files("monolingual", "sw")
    with pytest.raises(families.DataNotFoundError, match="no hub dataset"):
        lcb.load_hub(setting="monolingual", lang="de")


def test_generated_task_files_are_up_to_date():
    proc = run_cli(["python", str(REPO / "tasks" / "lcb" / "_generate.py"), "--check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_group_value_is_the_official_all_row():
    """The per-language task aggregation (source means) and lm-eval's unweighted group mean over the
    language tasks reproduce the official ("all", language) and ("all", "all") rows of every model
    in the reference, LPR and WPR, within 1e-9: no results hook needed."""
    from lm_eval.api.metrics import aggregate_subtask_metrics

    words = confusion.english_words(str(SHARED_DATA / "lcb" / "en_words.txt"))
    rows = confusion_csv.read_rows(REF / "slice" / "lcb_outputs_slice.csv")
    reference = {(r["task"], r["model"], r["source"], r["language"]): r
                 for r in json.loads((REF / "reference_metrics.json").read_text(encoding="utf-8"))["rows"]}
    items: dict = {}
    for row in rows:  # what process_results logs per prompt (k = 1)
        s = confusion.score_reply(row["completion"], row["language"], words, strip_thinking=False)
        scored, passed = int(not s.skipped), int(not s.skipped and not s.line_error)
        clean = int(passed)
        items.setdefault((row["task"], row["model"], row["language"]), []).append(
            (row["source"], passed, scored, [], clean - int(s.word_error), clean))
    checked = 0
    for task, model in {(t, m) for t, m, _ in items}:
        per_lang = {lang: v for (t, m, lang), v in items.items() if (t, m) == (task, model)}
        for metric in ("lpr", "wpr"):
            values = []
            for lang, its in per_lang.items():
                if metric == "wpr" and lang not in confusion.WPR_LANGS:
                    continue
                agg = confusion.lpr_aggregation(its) if metric == "lpr" else \
                    confusion.wpr_aggregation([(i[0], i[4], i[5]) for i in its])
                if agg != agg:  # a source without a scored reply: the script says 1.0 there, we NaN
                    values = None
                    break
                assert abs(agg - reference[(task, model, "all", lang)][metric]) <= 1e-9, (task, model, lang, metric)
                values.append(agg)
            if values is None:
                continue
            group = aggregate_subtask_metrics(values, [1] * len(values), False)
            assert abs(group - reference[(task, model, "all", "all")][metric]) <= 1e-9, (task, model, metric)
            checked += 1
    assert checked >= 12  # of 16 (a few cells of the base model have every reply skipped: NaN for us)


# ------------------------------------------------------------------ oracle runs on loopback
TASKS = {  # task -> how the scripted model answers its prompts
    "lcb_monolingual_ar": "desired, an English word in some",
    "lcb_crosslingual_ja": "English",
    "lcb_monolingual_en": "English",
    "lcb_crosslingual_fr": "half and half",
    "lcb_monolingual_de": "thinking cut by the budget",
}
SAMPLED = "lcb_monolingual_ko_k3"  # 3 samples per prompt (tasks/lcb/_generate.py --repeats 3)
LIMIT = 120  # over two sources of each task (files of 100 / 99 prompts, in folder order)


def _flores(code: str, n: int = 60) -> list[str]:
    with open(SHARED_DATA / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh][:n]


def _pick(prompt: str, k: int) -> int:
    return int(hashlib.sha256(prompt.encode("utf-8")).hexdigest(), 16) % k


def _lines(code: str, prompt: str) -> str:
    """Three real sentences of a language, one a line, chosen by the prompt."""
    texts = _flores(code)
    i = _pick(prompt, len(texts) - 3)
    return "\n".join(texts[i: i + 3])


def _english_in_some(prompt: str) -> bool:
    return _pick(prompt, 3) == 0


def _english_half(prompt: str) -> bool:
    return _pick(prompt, 2) == 0


def _reply(task: str, prompt: str) -> str:
    lang = task.rsplit("_", 1)[1]
    code = languages.get(lang).flores
    mode = TASKS[task]
    if mode == "English":
        return _lines("eng_Latn", prompt)
    if mode == "half and half":
        return _lines("eng_Latn" if _english_half(prompt) else code, prompt)
    if mode == "thinking cut by the budget":
        return "<think>The user asks something in German. Let me think about what they want and how"
    text = _lines(code, prompt)
    return text + " computer" if _english_in_some(prompt) else text


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    prompts = {}
    for task in TASKS:
        _, setting, lang = task.split("_")
        for doc in lcb.docs(SHARED_DATA, setting, lang)[:LIMIT]:
            prompts.setdefault(doc["prompt"], set()).add(task)
    assert all(len(t) == 1 for t in prompts.values())  # each prompt belongs to one task here

    sampled = {doc["prompt"] for doc in lcb.docs(SHARED_DATA, "monolingual", "ko")}
    calls: dict = {}

    def policy(kind, payload):
        prompt = last_user_message(payload)
        if prompt in sampled:  # the k=3 task: of the 3 samples of a prompt, one is English
            calls[prompt] = calls.get(prompt, 0) + 1
            return _lines("eng_Latn" if calls[prompt] % 3 == 1 else "kor_Hang", prompt)
        (task,) = prompts[prompt]
        return _reply(task, prompt)

    out = tmp_path_factory.mktemp("lcb_run")
    k3 = out / "k3"
    proc = run_cli(["python", str(REPO / "tasks" / "lcb" / "_generate.py"), "--repeats", "3", "--out", str(k3)])
    assert proc.returncode == 0, proc.stderr
    with ScriptedServer(policy) as server:
        proc = run_cli(["lm_eval", "run", "--model", "local-chat-completions",
                        "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=8",
                        "--tasks", ",".join([*TASKS, SAMPLED]), "--include_path", str(k3), "--limit", str(LIMIT),
                        "--apply_chat_template", "--log_samples", "--output_path", str(out / "runs")])
        assert proc.returncode == 0, proc.stderr[-4000:]
    out = out / "runs"
    (path,) = list(out.rglob("results_*.json"))
    samples = {task: [json.loads(line) for p in out.rglob(f"samples_{task}_*.jsonl")
                      for line in p.read_text(encoding="utf-8").splitlines()] for task in [*TASKS, SAMPLED]}
    return json.loads(path.read_text(encoding="utf-8")), samples, out


def _expected(task: str, passes) -> float:
    """The official averaging, here: per source the share of passing prompts, then the mean over sources."""
    _, setting, lang = task.split("_")
    per_source: dict = {}
    for doc in lcb.docs(SHARED_DATA, setting, lang)[:LIMIT]:
        per_source.setdefault(doc["source"], []).append(passes(doc["prompt"]))
    assert len(per_source) == 2
    rates = [1 - (len(v) - sum(v)) / len(v) for _, v in sorted(per_source.items())]
    return sum(rates) / len(rates)


def test_replies_in_the_desired_language_pass(run):
    results, samples, _ = run
    ar = results["results"]["lcb_monolingual_ar"]
    assert ar["lpr,none"] == 1.0 and ar["scored_replies,none"] == LIMIT
    # WPR: the replies with "computer" fail it, per source, then the mean over the sources
    assert ar["wpr,none"] == pytest.approx(_expected("lcb_monolingual_ar", lambda p: not _english_in_some(p)),
                                           abs=1e-12)
    assert 0 < ar["wpr,none"] < 1
    assert ar["lcpr,none"] == pytest.approx(2 * ar["wpr,none"] / (1 + ar["wpr,none"]), abs=1e-12)
    assert isinstance(ar["lpr_stderr,none"], float) and ar["wpr_stderr,none"] > 0
    assert ar["lang_line_pass,none"] == 1.0 and ar["lang_fidelity,none"] == 1.0
    first = samples["lcb_monolingual_ar"][0]
    assert first["lpr"][:3] == [first["doc"]["source"], 1, 1]


def test_english_replies_fail_but_in_english(run):
    results, samples, _ = run
    assert results["results"]["lcb_monolingual_en"]["lpr,none"] == 1.0
    ja = results["results"]["lcb_crosslingual_ja"]
    assert ja["lpr,none"] == 0.0 and ja["lcpr,none"] == 0.0 and ja["lang_line_pass,none"] == 0.0
    # no reply without a line error: WPR has nothing to count; NaN with the reason (the script: 100%)
    assert math.isnan(ja["wpr,none"])
    reason = results["configs"]["lcb_crosslingual_ja"]["metadata"]["skipped_metrics"]["wpr"]
    assert "no scored replies without a line error in source(s) complex_prompts, okapi" in reason
    # the offending lines are logged: every line of an English reply, labelled en
    bad = samples["lcb_crosslingual_ja"][0]["lpr"][3]
    assert [b[2] for b in bad] == ["en", "en", "en"] and [b[1] for b in bad] == [0, 1, 2]


def test_half_and_half_is_the_official_average(run):
    results, _, _ = run
    fr = results["results"]["lcb_crosslingual_fr"]
    expected = _expected("lcb_crosslingual_fr", lambda p: not _english_half(p))
    assert fr["lpr,none"] == pytest.approx(expected, abs=1e-12)
    assert 0.2 < expected < 0.8


def test_a_reply_cut_while_thinking_is_not_a_perfect_score(run):
    results, _, _ = run
    de = results["results"]["lcb_monolingual_de"]
    assert math.isnan(de["lpr,none"]) and de["scored_replies,none"] == 0
    assert de["unfinished_reasoning,none"] == len(lcb.docs(SHARED_DATA, "monolingual", "de")[:LIMIT]) == 100
    meta = results["configs"]["lcb_monolingual_de"]["metadata"]
    assert "no scored replies in source(s) okapi" in meta["skipped_metrics"]["lpr"]


def test_k_samples_per_prompt_count_as_rows_of_the_official_script(run):
    results, samples, _ = run
    ko = results["results"][SAMPLED]
    assert ko["scored_replies,none"] == 300 and ko["lpr,none"] == pytest.approx(2 / 3, abs=1e-12)
    assert all(s["lpr"][1:3] == [2, 3] for s in samples[SAMPLED])
    meta = results["configs"][SAMPLED]["metadata"]
    assert meta["decoding"] == "samples:3|decoding:sampled(temperature=0.3,top_p=0.75)|max_gen_toks:100"
    assert meta["metric_signatures"]["lpr"].endswith("|samples:3|decoding:sampled(temperature=0.3,top_p=0.75)"
                                                     "|max_gen_toks:100")


def test_signatures_and_decoding_are_recorded(run):
    results, _, _ = run
    meta = results["configs"]["lcb_monolingual_ar"]["metadata"]
    path = confusion.lid_path()
    assert meta["metric_signatures"]["lpr"].startswith(
        f"line-langid:v1|lid:{path.name}@sha256:{confusion.file_sha256(str(path))[:12]}")
    assert meta["decoding"] == "samples:1|decoding:greedy|max_gen_toks:100"
    assert meta["scorer"].startswith("lcb:v1|monolingual|lang:ar|")


def test_the_report_shows_language_confusion_with_cis_sources_and_marked_lines(run, tmp_path):
    from lm_eval_ext.reporting.report import write_report

    _, _, out = run
    report, _ = write_report([out], tmp_path / "report", bootstrap_iters=200)
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    section = md[md.index("## Language confusion"):]
    section = section[: section.index("\n## ", 5)]
    # per language, with a CI over prompts; the mean over languages; per source; an example marked
    assert "| العربية (ar) | 100.0 \\[100.0, 100.0\\] |" in section
    assert "| 日本語 (ja) | 0.0 \\[0.0, 0.0\\] | — |" in section
    # a task whose replies were all cut while thinking: no value, its counts shown
    assert "| Deutsch (de) | — | — | — | 0 | 100 |" in section
    assert "mean over languages (official 'all')" in section
    assert "| complex_prompts |" in section and "| aya_human_annotated |" in section
    assert "✗ \\[en\\]" in section and "(expected ja)" in section
    # the k-samples variant in a table of its own
    assert "monolingual_k3: ×100" in section and "| 한국어 (ko) | 66.7 \\[66.7, 66.7\\] |" in section
    assert 'id="language-confusion"' in html and "<svg" in html[html.index('id="language-confusion"'):]


def test_the_leaderboard_and_compare_take_the_rates(run, tmp_path):
    from lm_eval_ext.reporting import leaderboard
    from lm_eval_ext.reporting.compare import compare_runs
    from lm_eval_ext.reporting.runs import load_runs

    _, _, out = run
    rows, _ = leaderboard.build([out])
    (row,) = rows
    assert row["lcb_monolingual/ar/lpr"] == 1.0 and row["lcb_crosslingual/ja/lpr"] == 0.0
    (base,), _ = load_runs([out])
    compared, _ = compare_runs(base, base, metrics=["lpr"])
    assert {r.langs for r in compared} >= {("ar",), ("ja",), ("fr",)}
    # per language: the results' stderr; the family means (LCB's languages are not parallel): the
    # stderr of a mean over independent languages
    want = {True: "stderr", False: "stderr (languages independent)"}
    odd = [(r.task, r.langs, r.verdict, r.method) for r in compared
           if r.base == r.base and not (r.verdict == "unchanged" and r.method == want[bool(r.langs)])]
    assert not odd, odd
    assert any(not r.langs for r in compared)  # the family rows are there


def test_without_the_extra_the_rates_are_absent_with_the_reason(tmp_path):
    """fastText made unimportable (and lingua, to keep it short): process_results gives no rate, the
    signature is the reason with the pip command, the command stops with exit 2 naming it."""
    import os
    import subprocess
    import sys

    from support.hidden import hidden_env

    code = ("import json\n"
            "from lm_eval_ext.families import lcb\n"
            "from lm_eval_ext.metrics import confusion\n"
            "doc = {'language': 'de', 'source': 'okapi'}\n"
            "print(json.dumps({'values': lcb.process_results(doc, [['Ein Satz auf Deutsch mit genug Wörtern.']]),\n"
            "                  'signature': str(confusion.signature())}))\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **hidden_env("fasttext,lingua")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["values"] == {}
    assert out["signature"].startswith("skipped: fasttext-predict") and 'pip install "lm-eval-ext[confusion]"' in \
        out["signature"]
    cli = run_cli(["lm-eval-ext", "confusion", str(REF / "slice" / "lcb_outputs_slice.csv")],
                  env=hidden_env("fasttext"))
    assert cli.returncode == 2 and 'pip install "lm-eval-ext[confusion]"' in cli.stderr
