"""A run made before the QA metric `f1` became `f1_qa` (tests/fixtures/run_before_f1_qa: results,
samples and a leaderboard CSV written by the code of that time) reads under today's names in the
run-folder reader, the leaderboard (an existing CSV too), compare and the judge's reference
metric: boards built on older runs keep lining up with new runs."""

from __future__ import annotations

import csv
import json

from support.env import REPO, run_cli

from lm_eval_ext.formats.run_folder import item_scores, read_samples
from lm_eval_ext.reporting.compare import compare_runs
from lm_eval_ext.reporting.leaderboard import read_csv
from lm_eval_ext.reporting.runs import load_runs

OLD = REPO / "tests" / "fixtures" / "run_before_f1_qa"


def _raw() -> dict:
    (path,) = (OLD / "old-run").glob("results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_reader_compare_and_judge_see_f1_qa():
    raw = _raw()
    assert "f1,clean" in raw["results"]["xquad_th"] and "f1_qa,clean" not in raw["results"]["xquad_th"]
    (run,), problems = load_runs([OLD])
    assert not problems
    keys = {c.metric for c in run.cells}
    assert "f1_qa,clean" in keys and "f1,clean" not in keys and "f1_squad,clean" in keys
    for task in ("xquad_el", "xquad_ro", "xquad_th", "xquad_url"):
        entry = run.data["results"][task]
        assert entry["f1_qa,clean"] == raw["results"][task]["f1,clean"]
        assert entry["f1_qa_stderr,clean"] == raw["results"][task]["f1_stderr,clean"]
    assert run.data["groups"]["xquad_url"]["f1_qa,clean"] == raw["groups"]["xquad_url"]["f1,clean"]
    assert run.data["higher_is_better"]["xquad_th"]["f1_qa"] is True
    lines = read_samples(run.samples["xquad_th"])
    assert item_scores(lines, "f1_qa,clean") == {s["doc_id"]: s["f1"] for s in lines}
    rows, _ = compare_runs(run, run, threshold=0.02, all_metrics=True)
    f1 = [r for r in rows if r.metric == "f1_qa,clean" and not r.kind]  # the language rows
    assert len(f1) == 3 and {r.method for r in f1} == {"paired bootstrap"}  # per item, from the old samples
    assert {r.kind for r in rows if r.metric == "f1_qa,clean" and r.kind} == {"all", "spread"}

    from lm_eval_ext.judge.pipeline import reference_metric

    key, values = reference_metric(run, "xquad_th", lines)
    assert key == "exact_match,clean" and len(values) == 3


def test_the_leaderboard_maps_old_columns_of_a_run_and_of_an_existing_csv(tmp_path):
    with open(OLD / "leaderboard.csv", encoding="utf-8") as fh:
        old = next(csv.DictReader(fh))
    assert "xquad/th/f1:clean" in old and "xquad_url/@group/f1:clean" in old
    (row,) = read_csv(OLD / "leaderboard.csv")
    assert row["xquad/th/f1_qa:clean"] == float(old["xquad/th/f1:clean"])
    assert row["xquad_url/@group/f1_qa:clean"] == float(old["xquad_url/@group/f1:clean"])
    assert not [c for c in row if c.endswith("/f1:clean")]

    board = tmp_path / "board.csv"
    with open(OLD / "leaderboard.csv", encoding="utf-8") as fh:  # the old row, as another run's
        text = fh.read().replace(old["run_id"], "0123456789ab")
    board.write_text(text, encoding="utf-8")
    proc = run_cli(["lm-eval-ext", "leaderboard", str(OLD), "--csv", str(board)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(board, encoding="utf-8") as fh:
        merged = [r for r in csv.DictReader(fh) if r["run_id"] != "#signature"]
    assert len(merged) == 2 and not [c for c in merged[0] if c.endswith("/f1:clean")]
    # the old board has no #signature row: its column keeps its values under the name now, and the
    # run read now gets a column of its own beside it (reporting/leaderboard.py, signatures)
    cols = [c for c in merged[0] if c.split("~")[0] == "xquad/th/f1_qa:clean"]
    assert "xquad/th/f1_qa:clean" in cols
    values = {row["run_id"]: next(row[c] for c in cols if row[c]) for row in merged}
    assert set(values.values()) == {old["xquad/th/f1:clean"]}
