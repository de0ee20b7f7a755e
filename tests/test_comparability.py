"""Comparable or refused: compare, the report and the leaderboard set side by side only numbers
made the same way; means over parallel languages get CIs clustered by item.

A scripted model answers MGSM (direct), one FLORES pair and MLQA through a real
OpenAI-compatible server on loopback, in real lm_eval runs that differ in one setting each:
the baseline (chat template, 0-shot), a 3-shot run, a run without the chat template, a worse
model (a regression). Two candidates are the baseline's folder with one recorded fact changed,
as another machine or release would write it (offline, no second task version or sacreBLEU
tokenizer can be installed): the MGSM task version, and the FLORES BLEU signature (the real
string sacreBLEU writes for another tokenizer)."""

from __future__ import annotations

import itertools
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from support.env import SHARED_DATA, run_cli
from support.loopback import ScriptedServer, last_user_message
from support.qa_data import build_data_dir, read_jsonl
from lm_eval_ext.metrics import bootstrap

LIMIT = 6
MGSM = ("en", "de", "sw")
# items answered right (the first k) per model and language: nested, so items are correlated
# across languages (an item right in sw is right everywhere), as real models' items are
RIGHT = {"model-a": {"en": 6, "de": 5, "sw": 3}, "model-b": {"en": 6, "de": 0, "sw": 3}}
MLQA_RIGHT = {"de": 4, "en": 2}
MLQA = ("de", "en")


def _gold(data: Path):
    """prompt text -> (model-independent key, answers) for every item the runs ask."""
    out = {}
    for lang in MGSM:
        for i, row in enumerate(read_jsonl(data / "mgsm" / f"mgsm_{lang}.jsonl")[:LIMIT]):
            out[row["question"].strip()] = ("mgsm", lang, i, str(int(row["answer_number"])))
    for i, row in enumerate(read_jsonl(data / "flores" / "deu_Latn.devtest.jsonl")[:LIMIT]):
        english = read_jsonl(data / "flores" / "eng_Latn.devtest.jsonl")[i]["text"]
        out[english] = ("flores", "de", i, row["text"])
    for lang in MLQA:
        for i, row in enumerate(read_jsonl(data / "mlqa" / f"mlqa.{lang}.{lang}.test.jsonl")[:LIMIT]):
            out[row["question"]] = ("mlqa", lang, i, row["answers"]["text"][0])
    return out


def _policy(gold):
    def policy(kind, payload):
        text = last_user_message(payload) if kind == "chat" else payload.get("prompt", "")
        text = text if isinstance(text, str) else json.dumps(text)
        model = payload.get("model")
        # the last question in the prompt is the one asked (few-shot prompts quote earlier ones)
        found = max(((text.rfind(q), v) for q, v in gold.items() if q in text), default=None)
        if found is None:
            return "0"
        family, lang, i, answer = found[1]
        if family == "flores":
            return answer
        if family == "mlqa":
            return answer if i < MLQA_RIGHT[lang] else "Paris"
        return answer if i < RIGHT[model][lang] else str(int(answer) + 1)

    return policy


TASKS = ",".join([f"mgsm_direct_{c}" for c in MGSM] + ["flores_eng_Latn-deu_Latn"]
                 + [f"mlqa_{c}_{c}" for c in MLQA])


def _lm_eval(out: Path, model: str, base_url: str, data: Path, *extra, chat=True, tasks=TASKS) -> Path:
    endpoint = "chat/completions" if chat else "completions"
    args = ["lm_eval", "run", "--model", "local-chat-completions" if chat else "local-completions",
            "--model_args", f"model={model},base_url={base_url}/{endpoint},num_concurrent=2,max_retries=1"
            + ("" if chat else ",tokenized_requests=False,tokenizer_backend=none"),
            "--tasks", tasks, "--limit", str(LIMIT), "--log_samples", "--output_path", str(out), *extra]
    if chat:
        args.append("--apply_chat_template")
    proc = run_cli(args, env={"LM_EVAL_EXT_DATA_DIR": str(data), "LM_EVAL_EXT_COMET": "off",
                              "LM_EVAL_EXT_BLEURT": "off"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _edited_copy(run_dir: Path, dest: Path, edit) -> Path:
    shutil.copytree(run_dir, dest)
    for f in dest.glob("results_*.json"):
        doc = json.loads(f.read_text(encoding="utf-8"))
        edit(doc)
        f.write_text(json.dumps(doc), encoding="utf-8")
    return dest


def _another_version(doc):
    for task in list(doc["versions"]):
        if task.startswith("mgsm_direct"):
            doc["versions"][task] = 2.0
            if task in doc["configs"]:
                doc["configs"][task]["metadata"]["version"] = 2.0


def _another_tokenizer(doc):
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize="intl")
    bleu.corpus_score(["a"], [["a"]])
    for cfg in doc["configs"].values():
        sigs = (cfg.get("metadata") or {}).get("metric_signatures") or {}
        if "bleu" in sigs:
            sigs["bleu"] = str(bleu.get_signature())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("comparability")
    data = build_data_dir(SHARED_DATA, base / "data")
    gold = _gold(data)
    mgsm_only = ",".join(f"mgsm_direct_{c}" for c in MGSM)
    with ScriptedServer(_policy(gold)) as server:
        out = {
            "base": _lm_eval(base / "base", "model-a", server.base_url, data),
            "worse": _lm_eval(base / "worse", "model-b", server.base_url, data),
            "fewshot": _lm_eval(base / "fewshot", "model-a", server.base_url, data, "--num_fewshot", "3",
                                tasks=mgsm_only),
            "nochat": _lm_eval(base / "nochat", "model-a", server.base_url, data, chat=False, tasks=mgsm_only),
        }
    out["version"] = _edited_copy(out["base"], base / "version" / "model-a", _another_version)
    out["tok"] = _edited_copy(out["base"], base / "tok" / "model-a", _another_tokenizer)
    out["tmp"] = base
    return out


def _compare(a, b, *args):
    return run_cli(["lm-eval-ext", "compare", str(a), str(b), "--threshold", "0.1", *args])


def _rows(stdout: str, start: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(start)]


# ---------------------------------------------------------------- compare: exit 4
@pytest.mark.parametrize("candidate, metric, task, says", [
    ("version", [], "mgsm_direct_de", "not comparable: task version 1.1 vs 2.0"),
    ("tok", ["--metric", "bleu"], "flores_eng_Latn-deu_Latn", "not comparable: bleu signature tok:13a vs tok:intl"),
    ("fewshot", [], "mgsm_direct_de", "not comparable: num_fewshot 0 vs 3"),
    ("nochat", [], "mgsm_direct_de", "not comparable: chat template on (applied by the server) vs off"),
])
def test_a_task_made_another_way_is_not_comparable_exit_4(runs, tmp_path, candidate, metric, task, says):
    junit = tmp_path / "board.xml"
    p = _compare(runs["base"], runs[candidate], *metric, "--junit", str(junit))
    assert p.returncode == 4, p.stdout + p.stderr
    (row,) = _rows(p.stdout, task + " ")
    assert says in row, row
    failures = [f for f in ET.parse(junit).getroot().iter("failure") if f.get("type") == "not-comparable"]
    assert any(says in f.get("message") for f in failures)
    # the same in the Markdown board
    md = _compare(runs["base"], runs[candidate], *metric, "--format", "md").stdout
    assert says in md
    # --allow-incomparable: listed, not gated
    allowed = _compare(runs["base"], runs[candidate], *metric, "--allow-incomparable", "--allow-missing",
                       "--junit", str(junit))  # the 3-shot and no-chat runs have MGSM only
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    (row,) = _rows(allowed.stdout, task + " ")
    assert says in row and "not gated" in row
    assert not [f for f in ET.parse(junit).getroot().iter("failure")]


def test_same_settings_other_model_is_comparable_and_a_regression_with_an_incomparable_task_exits_4(runs, tmp_path):
    p = _compare(runs["base"], runs["worse"])  # other model, same settings: verdicts, no refusal
    assert p.returncode == 1, p.stdout + p.stderr
    assert "not comparable" not in p.stdout
    (de,) = _rows(p.stdout, "mgsm_direct_de ")
    assert "REGRESSED" in de
    # the worse model, with the FLORES task scored with another BLEU tokenizer
    cand = _edited_copy(runs["worse"], tmp_path / "worse_tok" / "model-b", _another_tokenizer)
    junit = tmp_path / "board.xml"
    p = _compare(runs["base"], cand, "--all-metrics", "--junit", str(junit))
    assert p.returncode == 4, p.stdout + p.stderr
    (de,) = [r for r in _rows(p.stdout, "mgsm_direct_de ") if "exact_match (strict-match)" in r]
    assert "REGRESSED" in de  # the regression row is still shown
    assert any("bleu (translation)" in r and "not comparable: bleu signature" in r
               for r in _rows(p.stdout, "flores_eng_Latn-deu_Latn "))
    types = {f.get("type") for f in ET.parse(junit).getroot().iter("failure")}
    assert {"regressed", "not-comparable"} <= types


# ---------------------------------------------------------------- report
def test_report_marks_columns_made_another_way_and_has_a_provenance_table(runs, tmp_path):
    out = tmp_path / "rep"
    p = run_cli(["lm-eval-ext", "report", str(runs["base"]), str(runs["fewshot"]), "-o", str(out)])
    assert p.returncode == 0, p.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    heading = next(line for line in md.splitlines() if line.startswith("## ") and "mgsm_direct" in line)
    section = md.split(heading + "\n")[1].split("\n## ")[0]
    assert "⚠ not comparable side by side" in section and "num_fewshot 0 vs 3" in section
    de = next(line for line in section.splitlines() if line.startswith("| Deutsch (de)"))
    assert de.rstrip(" |").endswith("≠")  # the 3-shot column's cell is marked, the first is not
    assert "≠" not in de.split("|")[2]
    prov = md.split("## Provenance")[1]
    assert "how the numbers were made" in prov and "| num_fewshot | 3 |" in prov and "| chat template |" in prov
    assert "lm-eval version" in prov
    # two runs made the same way: no warning
    same = run_cli(["lm-eval-ext", "report", str(runs["base"]), str(runs["worse"]), "-o", str(tmp_path / "same")])
    assert "not comparable side by side" not in (tmp_path / "same" / "report.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- clustered CIs
def test_family_mean_ci_is_clustered_by_item_computed_by_hand(runs):
    """The mean over en/de/sw of exact_match: items are parallel, so the bootstrap resamples
    items jointly. By hand: each item's mean over the languages, and the exact bootstrap
    distribution of their mean (all 6^6 resamples)."""
    from lm_eval_ext.reporting.runs import load_runs
    from lm_eval_ext.reporting.report import Report

    (run,), problems = load_runs([runs["base"]])
    report = Report([run], problems, bootstrap_iters=40000)
    table = next(t for t in report.tables if t.family == "mgsm_direct" and t.metric == "exact_match,strict-match")
    ci = report.mean_cis[(id(table), 0)]["all"]
    assert ci.method == bootstrap.CLUSTER_ITEM
    right = RIGHT["model-a"]
    per_item = [np.mean([float(i < right[c]) for c in MGSM]) for i in range(LIMIT)]  # 1, 1, 1, 2/3, 2/3, 1/3
    exact = [np.mean([per_item[i] for i in idx]) for idx in itertools.product(range(LIMIT), repeat=LIMIT)]
    lo, hi = np.quantile(exact, [0.025, 0.975])
    step = 1 / (LIMIT * len(MGSM))  # one grid step of the mean
    assert ci.lo == pytest.approx(lo, abs=step + 1e-9) and ci.hi == pytest.approx(hi, abs=step + 1e-9)
    # the report shows it on the family-mean row
    text = report.mean_text(table, "all", 0)
    assert text == f"{100 * np.mean(per_item):.1f} [{100 * ci.lo:.1f}, {100 * ci.hi:.1f}]"
    # by hand, the bootstrap sd of the mean: over the items' means (clustered), and as if the three
    # languages were independent samples (the old assumption), which is narrower here
    sd_clustered = np.sqrt(np.var(per_item) / LIMIT)
    sd_independent = np.sqrt(sum(np.var([float(i < right[c]) for i in range(LIMIT)]) / LIMIT for c in MGSM)) / 3
    assert sd_clustered > 1.15 * sd_independent
    assert ci.hi - ci.lo > 2 * 1.96 * sd_independent


def test_a_family_whose_items_are_not_parallel_keeps_the_plain_ci(runs):
    """MLQA declares no item key: its mean over languages resamples each language's own items."""
    from lm_eval_ext import families
    from lm_eval_ext.reporting.runs import load_runs
    from lm_eval_ext.reporting.report import Report

    assert families.get("mlqa").item_key is None and families.get("mgsm").item_key is not None
    (run,), problems = load_runs([runs["base"]])
    report = Report([run], problems, bootstrap_iters=40000)
    table = next(t for t in report.tables if t.family == "mlqa" and t.metric.startswith("exact_match,"))
    ci = report.mean_cis[(id(table), 0)]["all"]
    assert ci.method == bootstrap.INDEPENDENT
    # by hand: the mean of two independent language means; its bootstrap sd
    scores = {c: [float(i < MLQA_RIGHT[c]) for i in range(LIMIT)] for c in MLQA}
    sd = np.sqrt(sum(np.var(v) / LIMIT for v in scores.values())) / 2
    mean = np.mean([np.mean(v) for v in scores.values()])
    assert ci.lo == pytest.approx(mean - 1.96 * sd, abs=0.06) and ci.hi == pytest.approx(mean + 1.96 * sd, abs=0.06)


def test_compare_family_rows_and_the_parity_gate(runs):
    p = _compare(runs["base"], runs["worse"], "--gate", "parity")
    assert p.returncode == 1, p.stdout
    spread = next(r for r in _rows(p.stdout, "mgsm_direct ") if " @spread " in r)
    # model-a: best en 6/6, worst sw 3/6 -> 0.5; model-b: de 0/6 -> 1.0: the spread grew
    assert "0.5000" in spread and "1.0000" in spread and "REGRESSED" in spread
    assert "clustered by item" in spread
    (mean,) = [r for r in _rows(p.stdout, "mgsm_direct ") if " @all " in r]
    assert "(not gated)" in mean  # --gate means not given
    ungated = _compare(runs["base"], runs["worse"], "--metric", "exact_match:strict-match")
    spread = next(r for r in _rows(ungated.stdout, "mgsm_direct ") if " @spread " in r)
    assert "regressed (not gated)" in spread


# ---------------------------------------------------------------- leaderboard
def test_leaderboard_never_puts_two_signatures_in_one_column(runs, tmp_path):
    import csv

    board = tmp_path / "board.csv"
    for run in (runs["base"], runs["tok"]):
        p = run_cli(["lm-eval-ext", "leaderboard", str(run), "--csv", str(board)])
        assert p.returncode == 0, p.stderr
    # tok is base's folder with another BLEU signature: same run_id, so it replaces the row
    rows = list(csv.reader(board.open(encoding="utf-8")))
    assert rows[1][0] == "#signature" and len(rows) == 3
    # a second model made the first way, then the other way: separate BLEU columns
    worse_tok = _edited_copy(runs["worse"], tmp_path / "wt" / "model-b", _another_tokenizer)
    for run in (runs["base"], worse_tok):
        assert run_cli(["lm-eval-ext", "leaderboard", str(run), "--csv", str(board)]).returncode == 0
    header, sigs, *body = list(csv.reader(board.open(encoding="utf-8")))
    bleu = [c for c in header if c.startswith("flores/en-de/bleu:")]
    assert len(bleu) == 2 and bleu[0] == "flores/en-de/bleu:translation" and bleu[1].startswith(bleu[0] + "~")
    for column in bleu:
        values = [r[header.index(column)] for r in body]
        assert sum(v != "" for v in values) == 1  # one signature per column, never two
    assert sigs[header.index(bleu[0])] != sigs[header.index(bleu[1])]
    # chrF++ was made the same way in both: one shared column
    chrf = [c for c in header if c.startswith("flores/en-de/chrfpp:")]
    assert chrf == ["flores/en-de/chrfpp:translation"]
    assert all(r[header.index(chrf[0])] for r in body)
    # the parity columns
    assert "mgsm_direct/@spread/exact_match:strict-match" in header
    assert "mgsm_direct/@gap_en/exact_match:strict-match" in header


@pytest.mark.slow
def test_leaderboard_merge_of_two_comet_signatures_keeps_them_apart(runs, tmp_path, mt_models, neural_python):
    """COMET added after the run (rescore, through the side environment) with two checkpoints:
    two COMET columns, never one."""
    import csv

    board = tmp_path / "board.csv"
    for name, model in (("a", mt_models["comet"]), ("b", tmp_path / "comet_b")):
        if name == "b":
            shutil.copytree(mt_models["comet"], model)  # the same weights at another path: another checkpoint name
        run = tmp_path / name / "model"
        shutil.copytree(runs["base"] if name == "a" else runs["worse"], run)
        env = {"LM_EVAL_EXT_COMET": f"{model};encoder={mt_models['encoder']};batch_size=4",
               "LM_EVAL_EXT_BLEURT": "off", "LM_EVAL_EXT_NEURAL_PYTHON": neural_python}
        p = run_cli(["lm-eval-ext", "rescore", str(run), "--metrics", "comet"], env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        assert run_cli(["lm-eval-ext", "leaderboard", str(run), "--csv", str(board)]).returncode == 0
    header, sigs, *body = list(csv.reader(board.open(encoding="utf-8")))
    comet = [c for c in header if c.startswith("flores/en-de/comet:")]
    assert len(comet) == 2, comet
    assert all(sum(r[header.index(c)] != "" for r in body) == 1 for c in comet)
    assert "#" in sigs[header.index(comet[0])] and sigs[header.index(comet[0])] != sigs[header.index(comet[1])]
