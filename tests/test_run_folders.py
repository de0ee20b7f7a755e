"""Scanning run folders as they are found on shared disks: run folders linked into a scanned
folder, link loops, FIFOs and devices named like lm-eval's files, and results files of an
lm-eval that wrote another format. Every skipped path is named; nothing blocks.

Run folders are lm-eval-shaped folders of real XQuAD items (tests/support/judge_runs.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.env import run_cli
from support.judge_runs import STAMP, qa_task, write_run

TIMEOUT = 120  # a reader blocked on a FIFO would wait forever: the command must finish well within


@pytest.fixture(scope="module")
def tasks(shared_data):
    return {"xquad_de": qa_task(shared_data, "de", 3, lambda i, doc: doc["answers"]["text"][0] if i else "no")}


def models_of(proc) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return sorted(row["model"] for row in json.loads(proc.stdout)["rows"])


def leaderboard_json(*paths):
    return run_cli(["lm-eval-ext", "leaderboard", *map(str, paths), "--format", "json"], timeout=TIMEOUT)


def test_a_linked_run_folder_is_read_and_every_skipped_link_is_named(tasks, tmp_path):
    scanned, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    write_run(scanned / "model-a", "org/model-a", tasks)
    write_run(elsewhere / "model-b", "org/model-b", tasks)
    (scanned / "model-b").symlink_to(elsewhere / "model-b")  # a run folder kept on another disk
    (scanned / "model-a" / "loop").symlink_to("..")  # back up: a loop
    (scanned / "same-as-a").symlink_to("model-a")  # a second path to one folder
    (scanned / "gone").symlink_to(tmp_path / "deleted-run")  # points nowhere
    p = leaderboard_json(scanned)
    assert models_of(p) == ["org/model-a", "org/model-b"]
    warnings = [line for line in p.stderr.splitlines() if "warning:" in line]
    loop = [w for w in warnings if f"{scanned / 'model-a' / 'loop'}:" in w]
    assert len(loop) == 1 and "a loop" in loop[0] and "skipped" in loop[0], warnings
    same = [w for w in warnings if f"{scanned / 'same-as-a'}:" in w]
    assert len(same) == 1 and f"the folder {scanned / 'model-a'} again" in same[0], warnings
    gone = [w for w in warnings if f"{scanned / 'gone'}:" in w]
    assert len(gone) == 1 and "points nowhere" in gone[0], warnings
    # the same through report, which names the linked run's folder as reached
    out = tmp_path / "report"
    p = run_cli(["lm-eval-ext", "report", str(scanned), "-o", str(out)], timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert "(2 run(s)" in p.stdout and "org/model-b" in (out / "report.md").read_text(encoding="utf-8")


def test_a_fifo_or_device_named_like_lm_evals_files_is_named_and_nothing_blocks(tasks, tmp_path):
    run = write_run(tmp_path / "runs" / "model-a", "org/model-a", tasks)
    os.mkfifo(run / "results_2026-02-02T00-00-00.000001.json")
    (run / f"samples_xquad_de_{STAMP}.jsonl").unlink()
    os.mkfifo(run / f"samples_xquad_de_{STAMP}.jsonl")
    os.mkfifo(run / f"judge_results_{STAMP}.json")
    other = tmp_path / "runs" / "model-b"
    other.mkdir()
    (other / "results_2026-03-03T00-00-00.000001.json").symlink_to("/dev/zero")
    p = leaderboard_json(tmp_path / "runs")
    assert models_of(p) == ["org/model-a"]
    for path, kind in ((run / "results_2026-02-02T00-00-00.000001.json", "a FIFO"),
                       (run / f"samples_xquad_de_{STAMP}.jsonl", "a FIFO"),
                       (run / f"judge_results_{STAMP}.json", "a FIFO"),
                       (other / "results_2026-03-03T00-00-00.000001.json", "a character device")):
        assert any(f"{path}:" in line and kind in line for line in p.stderr.splitlines()), (path, p.stderr)
    out = tmp_path / "report"
    p = run_cli(["lm-eval-ext", "report", str(tmp_path / "runs"), "-o", str(out)], timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert f"samples_xquad_de_{STAMP}.jsonl" in p.stderr and "not a regular file" in p.stderr
    # a FIFO given by name is refused, not opened
    fifo = run / "results_2026-02-02T00-00-00.000001.json"
    p = leaderboard_json(fifo)
    assert p.returncode == 2 and f"{fifo}: is a FIFO (named pipe)" in p.stderr, p.stderr


def test_an_lm_eval_0_3_results_file_is_named_unsupported(tmp_path):
    """lm-eval 0.3 wrote ``results.json`` with metric keys without ``,<filter>``: read as 0.4 it
    would be a run without a single score."""
    old = tmp_path / "results.json"
    old.write_text(json.dumps({
        "results": {"xquad_de": {"exact_match": 0.5, "exact_match_stderr": 0.1, "f1": 0.6}},
        "versions": {"xquad_de": 0},
        "config": {"model": "hf-causal", "model_args": "pretrained=org/model", "num_fewshot": 0,
                   "batch_size": 1, "limit": None}}), encoding="utf-8")
    p = leaderboard_json(old)
    assert p.returncode == 2, p.stderr
    assert f"{old}: metric keys without ',<filter>' (an lm-eval 0.3 results file?): not supported" in p.stderr
    p = run_cli(["lm-eval-ext", "report", str(old), "-o", str(tmp_path / "report")], timeout=TIMEOUT)
    assert p.returncode == 2 and "lm-eval 0.3" in p.stderr, p.stderr


def test_compare_names_the_configurations_of_a_folder_by_what_differs(tasks, tmp_path):
    """Two lm_eval invocations with other model args into one folder: compare names them by
    their model args and results files, and a results file of one of them is accepted."""
    folder = write_run(tmp_path / "out" / "model-a", "org/model-a", tasks)
    first = folder / f"results_{STAMP}.json"
    doc = json.loads(first.read_text(encoding="utf-8"))
    doc["config"]["model_args"] += ",temperature=0.7"
    second = folder / "results_2026-02-02T00-00-00.000001.json"
    second.write_text(json.dumps(doc), encoding="utf-8")
    baseline = write_run(tmp_path / "base" / "model-a", "org/model-a", tasks)
    p = run_cli(["lm-eval-ext", "compare", str(baseline), str(folder)], timeout=TIMEOUT)
    assert p.returncode == 2, p.stderr
    assert (f"candidate {folder}: holds 2 runs (model args model=org/model-a in {first.name}; model args "
            f"model=org/model-a,temperature=0.7 in {second.name}); give one run folder, or one results file of the "
            "run meant (e.g. ") in p.stderr, p.stderr
    p = run_cli(["lm-eval-ext", "compare", str(baseline), str(first)], timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
