"""LLM-judge scoring against a scripted OpenAI-compatible server on loopback:
protocols, strict parsing, faults and retries, the cache, kill -9 resumption,
the request budget, pairwise comparison, key hygiene and the reports."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.env import run_cli
from support.judge_runs import flores_task, qa_task, write_run
from support.loopback import Fault, ScriptedServer, last_user_message

from lm_eval_ext import languages
from lm_eval_ext.judge import protocols as P
from lm_eval_ext.judge.pairwise import combine_orders
from lm_eval_ext.judge.pipeline import spearman

SENTINEL = "sk-SENTINEL-7f3a9c2e-do-not-leak"
N_QA, N_MT = 8, 6


# ------------------------------------------------------------------ run folders
def _qa_reply(i, doc):
    gold = doc["answers"]["text"][0]
    if i % 4 == 1:
        return f"It is {gold}."  # paraphrase: exact match 0, equivalent
    if i % 4 == 2:
        return "Napoleon Bonaparte"  # wrong
    return gold


def _mt_reply(i, doc):
    if i % 3 == 0:
        return doc["reference"]
    if i % 3 == 1:
        words = doc["reference"].split()
        return " ".join(words[: len(words) // 2])  # half a translation
    return doc["source"]  # untranslated: the wrong language


def _mt_reply_b(i, doc):
    return doc["source"] if i % 2 == 0 else doc["reference"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data):
    base = tmp_path_factory.mktemp("judge_runs")
    tasks = {
        "xquad_de": qa_task(shared_data, "de", N_QA, _qa_reply),
        "xquad_en": qa_task(shared_data, "en", N_QA, _qa_reply),
        "flores_eng_Latn-deu_Latn": flores_task(shared_data, "eng_Latn", "deu_Latn", N_MT, _mt_reply),
        "flores_eng_Latn-swh_Latn": flores_task(shared_data, "eng_Latn", "swh_Latn", N_MT, _mt_reply),
    }
    b_tasks = {"xquad_de": qa_task(shared_data, "de", N_QA, lambda i, d: "Napoleon Bonaparte" if i % 2 else d["answers"]["text"][0]),
               "flores_eng_Latn-deu_Latn": flores_task(shared_data, "eng_Latn", "deu_Latn", N_MT, _mt_reply_b)}
    return {"a": base / "model_a", "b": base / "model_b", "tasks": tasks, "b_tasks": b_tasks, "base": base}


def fresh_run(runs, tmp_path, which="a") -> Path:
    tasks = runs["tasks"] if which == "a" else runs["b_tasks"]
    return write_run(tmp_path / f"run_{which}", f"org/model-{which}", tasks)


# ------------------------------------------------------------------ the scripted judge
def _block(prompt, label):
    m = re.search(re.escape(label) + r'\s*\n"""\n(.*?)\n"""', prompt, re.S)
    return m.group(1) if m else None


UNPARSABLE_ALWAYS = 2  # QA item index whose judge never answers in format -> parse failure
UNPARSABLE_ONCE = 3  # QA item index whose judge needs the reminder once


def oracle(prompt: str) -> str:
    """A deterministic judge that reads its own prompt."""
    if "Gold answers:" in prompt:
        golds = re.findall(r'"([^"]*)"', prompt.split("Gold answers:")[1].split("\n")[0])
        cand = _block(prompt, "Candidate answer:")
        return "Same entity.\nVerdict: " + ("yes" if any(g in cand for g in golds) else "no")
    if "translation to score:" in prompt:
        ref = _block(prompt, "human reference translation:")
        cand = _block(prompt, "translation to score:")
        norm = lambda x: " ".join(x.split())  # noqa: E731
        score = 95 if norm(cand) == norm(ref) else (50 if cand.strip() and norm(ref).startswith(norm(cand)) else 5)
        return f"Assessment done.\nScore: {score}"
    if "[Response A]" in prompt:
        ref = prompt.split("[Reference answer]\n")[1].split("\n\n[Response A]")[0]
        a = prompt.split("[Response A]\n")[1].split("\n\n[Response B]")[0]
        b = prompt.split("[Response B]\n")[1].split("\n\nExplain")[0]
        if (ref in a) == (ref in b):
            return "[[A]]" if "Napoleon" not in a else "[[B]]"  # order-biased: disagreement across orders
        return "A is right. [[A]]" if ref in a else "B is right. [[B]]"
    raise AssertionError("unexpected judge prompt")


def expected_qa(lang_docs):
    """(mean over parsed items, parse failures) of the oracle on the QA replies."""
    scores = [float(i % 4 != 2) for i in range(N_QA) if i != UNPARSABLE_ALWAYS]
    return sum(scores) / len(scores)


def expected_da():
    return sum({0: 95, 1: 50, 2: 5}[i % 3] for i in range(N_MT)) / N_MT


class Judge:
    """Scripted judge server state: faults on first attempts, format slips, per-prompt attempt log."""

    def __init__(self, faults=(), delay=0.0, qa_docs=None, hold_after=None):
        self.faults = list(faults)  # assigned to the first distinct prompts that arrive
        self.assigned = {}
        self.times = {}
        self.delay = delay
        # requests after the first `hold_after` wait for `release`: an interrupt test then stops the
        # client mid-run however slowly the test itself gets scheduled on a busy machine
        self.hold_after = hold_after
        self.release = threading.Event()
        self.arrived = 0
        self.lock = threading.Lock()
        self.qa_questions = qa_docs or {}

    def __call__(self, kind, payload):
        msgs = payload["messages"]
        first = msgs[0]["content"]
        with self.lock:
            self.times.setdefault(first, []).append(time.monotonic())
            attempt = len(self.times[first])
            self.arrived += 1
            held = self.hold_after is not None and self.arrived > self.hold_after
            if first not in self.assigned and self.faults and len(msgs) == 1:
                self.assigned[first] = self.faults.pop(0)
        if held:
            self.release.wait(60)
        if self.delay:
            time.sleep(self.delay)
        fault = self.assigned.get(first)
        if fault is not None and attempt == 1:
            return fault
        idx = self.qa_questions.get(next((q for q in self.qa_questions if q in first), None))
        if idx == UNPARSABLE_ALWAYS:
            return "Looks fine to me."
        if idx == UNPARSABLE_ONCE and len(msgs) == 1:
            return "The answer is equivalent."  # no verdict line; the reminder fixes it
        return oracle(first)


@pytest.fixture(scope="module")
def qa_questions(runs):
    return {s["doc"]["question"]: s["doc_id"] for t in ("xquad_de", "xquad_en") for s in runs["tasks"][t]["samples"]}


def judge_cli(run_dir, server, cache, *extra, env_key=True):
    args = ["lm-eval-ext", "judge", str(run_dir), "--judge-url", server.base_url, "--judge-model", "scripted",
            "--cache", str(cache), "--backoff", "0.01", "--timeout", "2", "--no-progress", *extra]
    env = {"JUDGE_KEY": SENTINEL}
    if env_key:
        args += ["--api-key-env", "JUDGE_KEY"]
    return run_cli(args, env=env, timeout=300)


def results_of(run_dir: Path, prefix="judge_results_") -> dict:
    files = sorted(run_dir.glob(f"{prefix}*.json"))
    assert files, f"no {prefix}*.json in {run_dir}"
    return json.loads(files[-1].read_text())


def numbers(doc):
    return {(t, p): (e["mean"], e["n"], e["parse_failures"], e["n_items"])
            for t, per in doc["tasks"].items() for p, e in per.items()}


# ------------------------------------------------------------------ unit-level behaviour
@pytest.mark.parametrize("protocol,reply,expected", [
    ("da", "Good.\nScore: 85", 85.0),
    ("da", "**Score:** 0", 0.0),
    ("da", "Score: 101", None),
    ("da", "Score: 85\nThanks!", None),  # not the last line
    ("da", "I would give it 85.", None),
    ("qa_equiv", "Same.\nVerdict: YES", 1.0),
    ("qa_equiv", "Verdict: no", 0.0),
    ("qa_equiv", "Verdict: maybe", None),
    ("math_cot", "Checks out.\nCorrect: yes\nSupported: yes", 1.0),
    ("math_cot", "Correct: yes\nSupported: no", 0.0),
    ("math_cot", "Correct: yes", None),
    ("grade", "Fine.\nRating: [[7]]", 7.0),
    ("grade", "Rating: [[11]]", None),
    ("grade", "Rating: 7", None),
    ("da", "<think>Score: 3</think>\nScore: 70", 70.0),
    ("da", "<think>unfinished reasoning Score: 3", None),
])
def test_strict_parsers(protocol, reply, expected):
    got = P.parse(protocol, reply)
    assert (None if got is None else got["score"]) == expected


def test_pairwise_parser_and_order_rule():
    assert P.parse("pairwise", "B wins. [[B]]") == {"verdict": "B"}
    assert P.parse("pairwise", "[[A]] or maybe [[B]]") is None  # ambiguous
    assert P.parse("pairwise", "A is better") is None
    assert combine_orders("A", "B") == "win" and combine_orders("B", "A") == "loss"
    assert combine_orders("A", "A") == "tie" and combine_orders("C", "C") == "tie" and combine_orders("A", "C") == "tie"


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    x, y = [1, 2, 2, 3, 5, 4, 9], [10, 30, 20, 20, 50, 40, 40]
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_every_prompt_names_the_response_language_and_penalises_others(runs):
    seen = set()
    for task, t in runs["tasks"].items():
        s = t["samples"][0]
        family = "flores" if "flores" in task else "xquad"
        langs = ((s["doc"].get("src_lang"), s["doc"].get("tgt_lang")) if "flores" in task else (s["doc"]["ctx_lang"],))
        langs = tuple(languages.get(c).code for c in langs)
        for proto in ([P.choose(task, family, s["doc"], [])] + ["grade"]):
            fields, resp_lang = P.fields_for(proto, task, langs, s)
            prompt = P.template(proto).render(**fields)
            L = languages.get(resp_lang)
            assert f"{L.name} ({L.native_name})" in prompt, (task, proto)
            assert re.search(r"another language|any other language|other language", prompt), proto
            seen.add(proto)
    assert seen == {"da", "qa_equiv", "grade"}
    # the math protocol: MGSM English CoT answers in English, native CoT in the item's language
    s = {"doc": {"question": "Q?", "answer_number": 3.0, "lang": "te"}, "resps": [["x"]]}
    assert P.fields_for("math_cot", "mgsm_en_cot_te", ("te",), s)[1] == "en"
    assert P.fields_for("math_cot", "mgsm_native_cot_te", ("te",), s)[1] == "te"
    assert "Telugu (తెలుగు)" in P.template("math_cot").render(**P.fields_for("math_cot", "mgsm_native_cot_te", ("te",), s)[0])


def test_retry_after_header_forms():
    import email.utils

    from lm_eval_ext.judge.client import retry_after_seconds

    assert retry_after_seconds("3") == 3.0 and retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    in_5s = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.5 <= retry_after_seconds(in_5s) <= 5.0


def test_template_versions_are_content_addressed():
    t = P.template("da")
    assert re.fullmatch(r"da\.v1#[0-9a-f]{8}", t.version)
    assert P.PromptTemplate("da", 1, t.text + " ").version != t.version


# ------------------------------------------------------------------ end to end, scripted server
@pytest.fixture(scope="module")
def judged(runs, qa_questions, tmp_path_factory):
    """One judged run with faults on the first attempt of four items, then a rerun."""
    tmp = tmp_path_factory.mktemp("judged")
    run_dir = fresh_run(runs, tmp)
    cache = tmp / "cache.sqlite"
    faults = [Fault(status=500, delay=5),  # slower than --timeout 2: a timeout
              Fault(status=429, headers={"Retry-After": "1"}), Fault(status=500), Fault(status=200, body="{not json")]
    judge = Judge(faults, qa_docs=qa_questions)
    with ScriptedServer(judge) as server:
        first = judge_cli(run_dir, server, cache, "--concurrency", "4")
        n_first = len(server.requests)
        headers = list(server.headers)
        second = judge_cli(run_dir, server, cache, "--concurrency", "4")
        n_second = len(server.requests) - n_first
    return dict(run_dir=run_dir, cache=cache, first=first, second=second, n_first=n_first, n_second=n_second,
                judge=judge, headers=headers, files=sorted(run_dir.glob("judge_results_*.json")))


def test_judge_numbers_faults_and_parse_failures(judged, runs):
    p = judged["first"]
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(judged["files"][0].read_text())
    assert doc["complete"] is True
    qa = doc["tasks"]["xquad_de"]["qa_equiv"]
    assert qa["mean"] == pytest.approx(expected_qa(None))
    assert (qa["n"], qa["parse_failures"], qa["n_items"]) == (N_QA - 1, 1, N_QA)
    assert qa["parse_failure_doc_ids"] == [UNPARSABLE_ALWAYS]  # listed, and not scored as 0
    assert qa["retried_with_reminder"] == 2  # the slip that the reminder fixed, and the failure
    assert qa["ci95"][0] <= qa["mean"] <= qa["ci95"][1]
    assert qa["template_version"] == P.template("qa_equiv").version
    da = doc["tasks"]["flores_eng_Latn-swh_Latn"]["da"]
    assert da["mean"] == pytest.approx(expected_da()) and da["n"] == N_MT and da["parse_failures"] == 0
    assert da["langs"] == ["en", "sw"] and da["response_lang"] == "sw"
    # the judge agrees with chrF++ on the ranking: visible per language
    assert da["agreement"]["reference_metric"] == "chrf,none" and da["agreement"]["rho"] > 0.8
    assert doc["tasks"]["xquad_en"]["qa_equiv"]["agreement"]["reference_metric"] == "exact_match,none"
    # every fault was retried, and each reason is counted
    req = doc["requests"]
    assert req["retry_reasons"] == {"timeout": 1, "http_429": 1, "http_500": 1, "malformed": 1}
    n_items = 2 * N_QA + 2 * N_MT
    # one request per item, plus one per fault, plus the reminders (2 QA languages x 2 items)
    assert judged["n_first"] == req["http_requests"] == n_items + 4 + 4
    assert req["cache_hits"] == 0 and req["cache_misses"] == n_items + 4
    # Retry-After: 1 was honoured (backoff base is 0.01 s)
    gaps = [t[1] - t[0] for t in judged["judge"].times.values() if len(t) > 1]
    assert max(gaps) >= 0.95
    # per-sample file
    lines = [json.loads(x) for x in (judged["run_dir"] / qa["samples_file"]).read_text().splitlines()]
    bad = [x for x in lines if x["status"] == "parse_failure"]
    assert len(bad) == 1 and bad[0]["score"] is None and len(bad[0]["judge_replies"]) == 2
    assert doc["provenance"]["templates"]["qa_equiv"] == qa["template_version"]
    assert doc["provenance"]["judge"]["model"] == "scripted"


def test_rerun_costs_zero_calls_and_gives_the_same_numbers(judged):
    assert judged["second"].returncode == 0, judged["second"].stderr[-2000:]
    assert judged["n_second"] == 0
    a, b = (json.loads(f.read_text()) for f in judged["files"])
    assert numbers(a) == numbers(b)
    assert b["requests"]["http_requests"] == 0 and b["requests"]["cache_misses"] == 0
    assert b["requests"]["cache_hits"] == a["requests"]["cache_misses"]


def test_api_key_is_sent_but_never_written(judged):
    assert all(h.get("Authorization") == f"Bearer {SENTINEL}" for h in judged["headers"])
    outputs = [judged["first"].stdout, judged["first"].stderr, judged["second"].stdout, judged["second"].stderr]
    files = [f for f in judged["run_dir"].rglob("*") if f.is_file()]
    files += [f for f in judged["cache"].parent.glob(judged["cache"].name + "*")]  # sqlite + WAL + shm
    assert any(f.name.startswith("judge_samples_") for f in files)
    for f in files:
        assert SENTINEL.encode() not in f.read_bytes(), f
    for text in outputs:
        assert SENTINEL not in text


def test_reports_pick_up_judge_metrics(judged, tmp_path):
    run_dir = judged["run_dir"]
    out = tmp_path / "report"
    p = run_cli(["lm-eval-ext", "report", str(run_dir), "-o", str(out)])
    assert p.returncode == 0, p.stderr[-2000:]
    md = (out / "report.md").read_text()
    assert "judge/qa_equiv" in md and "judge/da" in md
    assert "## Judge" in md and "Spearman" in md
    # the parse failure is listed by doc id
    row = next(line for line in md.splitlines() if line.startswith("| xquad_de | Deutsch (de) | judge/qa_equiv"))
    assert "| 7/8 | 1 (doc 2) |" in row and "exact_match,none" in row
    da_row = next(line for line in md.splitlines() if line.startswith("| flores_eng_Latn-swh_Latn |"))
    assert re.search(r"\| chrf,none \| \+0\.\d\d \(n 6\) \|$", da_row)
    html = (out / "report.html").read_text()
    assert "judge/da" in html
    p = run_cli(["lm-eval-ext", "leaderboard", str(run_dir), "--format", "json"])
    assert p.returncode == 0, p.stderr[-2000:]
    (row,) = json.loads(p.stdout)["rows"]
    assert row["xquad/de/judge/qa_equiv"] == pytest.approx(expected_qa(None))
    assert row["flores/en-sw/judge/da"] == pytest.approx(expected_da())
    p = run_cli(["lm-eval-ext", "compare", str(run_dir), str(run_dir), "--metric", "judge/da", "--format", "md"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "judge/da" in p.stdout and "normal approximation" not in p.stderr  # paired over judged items


# ------------------------------------------------------------------ interruption and budget
def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_numbers(runs, qa_questions, tmp_path):
    # reference: an uninterrupted run in its own cache
    ref_dir = fresh_run(runs, tmp_path / "ref")
    with ScriptedServer(Judge(qa_docs=qa_questions)) as server:
        p = judge_cli(ref_dir, server, tmp_path / "ref.sqlite")
        assert p.returncode == 0, p.stderr[-2000:]
        total = len(server.requests)
    run_dir = fresh_run(runs, tmp_path / "killed")
    cache = tmp_path / "killed.sqlite"
    judge = Judge(delay=0.1, qa_docs=qa_questions, hold_after=12)
    with ScriptedServer(judge) as server:
        bindir = Path(sys.executable).parent
        proc = subprocess.Popen(
            [str(bindir / "lm-eval-ext"), "judge", str(run_dir), "--judge-url", server.base_url, "--judge-model",
             "scripted", "--cache", str(cache), "--concurrency", "2", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(server.requests) < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        judge.release.set()
        before = len(server.requests)
        assert proc.returncode == -signal.SIGKILL and 12 <= before < total
        assert not list(run_dir.glob("judge_results_*.json"))  # killed before writing: only the cache holds work
        p = judge_cli(run_dir, server, cache, env_key=False)
        assert p.returncode == 0, p.stderr[-2000:]
        after = len(server.requests) - before
    doc = results_of(run_dir)
    # replies that arrived before the kill were not asked again (at most the 2 in flight were lost)
    assert doc["requests"]["cache_hits"] >= before - 2
    assert after <= total - (before - 2)
    assert numbers(doc) == numbers(results_of(ref_dir))


def test_budget_guard_stops_then_resume_completes(runs, qa_questions, tmp_path):
    run_dir = fresh_run(runs, tmp_path)
    cache = tmp_path / "c.sqlite"
    with ScriptedServer(Judge(qa_docs=qa_questions)) as server:
        p = judge_cli(run_dir, server, cache, "--max-requests", "5", "--concurrency", "1")
        assert p.returncode == 3, p.stderr[-2000:]
        assert len(server.requests) == 5
        assert "budget" in p.stderr
        doc = results_of(run_dir)
        assert doc["complete"] is False and doc["requests"]["budget_exhausted"] is True
        judged_n = sum(e["n"] + e["parse_failures"] for per in doc["tasks"].values() for e in per.values())
        not_judged = sum(e["not_judged"] for per in doc["tasks"].values() for e in per.values())
        assert judged_n <= 5 and judged_n + not_judged == 2 * N_QA + 2 * N_MT
        time.sleep(0.01)
        p = judge_cli(run_dir, server, cache)
        assert p.returncode == 0, p.stderr[-2000:]
        doc = results_of(run_dir)
        assert doc["complete"] is True and doc["requests"]["cache_hits"] == 5


def test_unauthorised_stops_with_a_clear_error(runs, tmp_path):
    run_dir = fresh_run(runs, tmp_path)
    with ScriptedServer(lambda k, p: Fault(status=401, body='{"error": "bad key"}')) as server:
        p = judge_cli(run_dir, server, tmp_path / "c.sqlite")
        assert p.returncode == 2
        assert "HTTP 401" in p.stderr and SENTINEL not in p.stderr
        assert len(server.requests) <= 8  # stops instead of trying every item


def test_missing_key_variable_is_an_error(runs, tmp_path):
    run_dir = fresh_run(runs, tmp_path)
    p = run_cli(["lm-eval-ext", "judge", str(run_dir), "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "x",
                 "--api-key-env", "NO_SUCH_VAR_FOR_JUDGE"], env={"NO_SUCH_VAR_FOR_JUDGE": ""})
    assert p.returncode == 2 and "NO_SUCH_VAR_FOR_JUDGE" in p.stderr


# ------------------------------------------------------------------ pairwise
def test_pairwise_both_orders_win_tie_loss_per_language(runs, tmp_path):
    a = fresh_run(runs, tmp_path, "a")
    b = fresh_run(runs, tmp_path, "b")
    with ScriptedServer(lambda k, p: oracle(last_user_message(p))) as server:
        p = judge_cli(a, server, tmp_path / "c.sqlite", "--pairwise", str(b), "--tasks", "xquad_*")
        assert p.returncode == 0, p.stderr[-2000:]
        n_req = len(server.requests)
    doc = results_of(a, "judge_pairwise_")
    de = doc["languages"]["de"]
    # A: gold, paraphrase, wrong, gold (repeating); B: gold on even items, wrong on odd items.
    # i%4==0: both gold -> order-biased judge -> tie; 1: A right, B wrong -> win; 2: A wrong, B gold -> loss;
    # 3: A gold, B wrong -> win
    assert (de["win"], de["tie"], de["loss"]) == (4, 2, 2)
    assert de["order_disagreements"] == 2 and de["parse_failures"] == 0
    # both orders of every item; where both runs replied the same text the two orders are one prompt (asked once)
    assert n_req == 2 * N_QA - 2
    assert doc["tasks"]["xquad_de"]["win_rate"] == pytest.approx((4 + 0.5 * 2) / 8)
    p = run_cli(["lm-eval-ext", "report", str(a), "-o", str(tmp_path / "report")])
    assert p.returncode == 0, p.stderr[-2000:]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| org/model-b | de | 4 | 2 | 2 | 0.625 \\[" in md  # brackets escaped: no Markdown link from run text


def test_protocol_choice_and_overrides():
    assert P.choose("flores_eng_Latn-deu_Latn", "flores", {}, []) == "da"
    assert P.choose("mlqa_de_ar", "mlqa", {}, []) == "qa_equiv"
    assert P.choose("mgsm_direct_bn", "mgsm_direct", {}, []) == "math_cot"
    assert P.choose("my_task", "my_task", {"source": "s", "reference": "r"}, []) == "da"  # by doc fields
    assert P.choose("summaries_de", "summaries", {}, []) == "grade"
    over = P.parse_overrides(["grade", "flores_*=da"])
    assert P.choose("flores_eng_Latn-deu_Latn", "flores", {}, over) == "da"  # the last matching override wins
    assert P.choose("xquad_de", "xquad", {}, over) == "grade"
    with pytest.raises(ValueError, match="unknown protocol 'gemba'"):
        P.parse_overrides(["flores_*=gemba"])


def test_unreachable_server_retries_then_counts_failed_requests(runs, tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = fresh_run(runs, tmp_path)
    p = run_cli(["lm-eval-ext", "judge", str(run_dir), "--judge-url", f"http://127.0.0.1:{port}/v1",
                 "--judge-model", "x", "--cache", str(tmp_path / "c.sqlite"), "--max-retries", "1", "--backoff", "0.01",
                 "--tasks", "xquad_de", "--no-progress"])
    assert p.returncode == 3, p.stderr[-2000:]
    doc = results_of(run_dir)
    e = doc["tasks"]["xquad_de"]["qa_equiv"]
    assert doc["complete"] is False and e["request_failures"] == N_QA and e["n"] == 0 and e["mean"] is None
    assert doc["requests"]["retry_reasons"] == {"connection": N_QA} and doc["requests"]["failed_requests"] == N_QA
    # nothing was cached: a rerun against a live server asks again
    with ScriptedServer(lambda k, pl: oracle(last_user_message(pl))) as server:
        p = judge_cli(run_dir, server, tmp_path / "c.sqlite", "--tasks", "xquad_de")
        assert p.returncode == 0 and len(server.requests) == N_QA


def _ctrl_c_as_at_a_terminal():
    # A job started in the background by a non-interactive shell (`nohup ... &`, some CI runners)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: give the
    # child the disposition it has when a user presses Ctrl-C at a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_writes_partial_results_and_resumes(runs, qa_questions, tmp_path):
    run_dir = fresh_run(runs, tmp_path)
    cache = tmp_path / "c.sqlite"
    judge = Judge(delay=0.1, qa_docs=qa_questions, hold_after=8)
    with ScriptedServer(judge) as server:
        bindir = Path(sys.executable).parent
        proc = subprocess.Popen(
            [str(bindir / "lm-eval-ext"), "judge", str(run_dir), "--judge-url", server.base_url, "--judge-model",
             "scripted", "--cache", str(cache), "--concurrency", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_ctrl_c_as_at_a_terminal)
        deadline = time.monotonic() + 120
        while len(server.requests) < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        judge.release.set()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-2000:]
        assert "rerun the same command to resume" in err
        assert "judge:" in err and ("req/s" in err or "s/req" in err) and "<" in err  # progress: rate and ETA
        doc = results_of(run_dir)
        assert doc["complete"] is False
        done = sum(e["n"] + e["parse_failures"] for per in doc["tasks"].values() for e in per.values())
        assert done >= 4
        p = judge_cli(run_dir, server, cache, env_key=False)
        assert p.returncode == 0 and results_of(run_dir)["complete"] is True


def test_bad_items_and_non_generative_tasks_are_named_not_judged(runs, tmp_path):
    import copy

    flores = copy.deepcopy(runs["tasks"]["flores_eng_Latn-deu_Latn"])
    for s in flores["samples"][:2]:
        del s["doc"]["reference"]
    mc = copy.deepcopy(runs["tasks"]["xquad_de"])
    for s in mc["samples"]:
        s["resps"] = [[[-1.25, False]], [[-0.5, True]]]  # a loglikelihood task's log
    run_dir = write_run(tmp_path / "run", "org/model-x", {"flores_eng_Latn-deu_Latn": flores, "mcq_de": mc})
    with ScriptedServer(lambda k, p: oracle(last_user_message(p))) as server:
        p = judge_cli(run_dir, server, tmp_path / "c.sqlite")
        assert p.returncode == 0, p.stderr[-2000:]
        assert len(server.requests) == N_MT - 2
    doc = results_of(run_dir)
    e = doc["tasks"]["flores_eng_Latn-deu_Latn"]["da"]
    assert (e["invalid_items"], e["n"], e["n_items"]) == (2, N_MT - 2, N_MT)
    assert "mcq_de" not in doc["tasks"]
    assert re.search(r"samples_flores_eng_Latn-deu_Latn_.*2 item\(s\) cannot be judged with protocol da "
                     r"\(first: doc_id 0: doc field 'reference' missing", p.stderr)
    assert re.search(r"samples_mcq_de_.*no generated text.*task mcq_de not judged", p.stderr)
