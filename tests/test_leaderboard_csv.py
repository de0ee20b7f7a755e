"""The leaderboard CSV as a file many CI jobs update and people open in
spreadsheets: concurrent merges, a crash mid-write, files re-saved by a
spreadsheet, formula injection, Markdown escaping, one message per rule.

Run folders are lm-eval-shaped folders of real XQuAD items (tests/support/judge_runs.py)."""

from __future__ import annotations

import csv
import io
import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from support.env import run_cli
from support.judge_runs import qa_task, write_run

N_ITEMS = 4
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _reply(lang):
    def reply(i, doc):  # German right on 3 of 4 items, English on 1 of 4: a negative English gap
        right = i < (3 if lang == "de" else 1)
        return doc["answers"]["text"][0] if right else "no idea"
    return reply


@pytest.fixture(scope="module")
def tasks(shared_data):
    return {f"xquad_{lang}": qa_task(shared_data, lang, N_ITEMS, _reply(lang)) for lang in ("de", "en")}


def make_runs(base: Path, tasks, models) -> list[Path]:
    return [write_run(base / f"run{i}", model, tasks) for i, model in enumerate(models)]


def leaderboard(*args, **kw):
    return run_cli(["lm-eval-ext", "leaderboard", *map(str, args)], **kw)


def rows_of(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["run_id"] != "#signature"]  # the columns' signatures


# ------------------------------------------------------------------ item 1: no lost rows
def test_concurrent_merges_of_distinct_runs_keep_every_row(tasks, tmp_path):
    trials, per_trial = 3, 8
    runs = make_runs(tmp_path, tasks, [f"org/model-{i:02d}" for i in range(4 + trials * per_trial)])
    board = tmp_path / "board.csv"
    assert leaderboard(*runs[:4], "--csv", board).returncode == 0
    board.chmod(0o664)  # a board the team's CI jobs share
    lm_eval_ext = str(Path(sys.executable).parent / "lm-eval-ext")
    for trial in range(trials):  # CI jobs finishing together, several times
        batch = runs[4 + trial * per_trial: 4 + (trial + 1) * per_trial]
        procs = [subprocess.Popen([lm_eval_ext, "leaderboard", str(r), "--csv", str(board)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in batch]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        models = [r["model"] for r in rows_of(board)]
        assert len(models) == 4 + (trial + 1) * per_trial, models
        assert sorted(models) == [f"org/model-{i:02d}" for i in range(4 + (trial + 1) * per_trial)]
    assert board.stat().st_mode & 0o777 == 0o664  # the atomic replace keeps the file's permissions


def test_a_board_reached_through_a_link_gets_every_row_and_the_link_stays(tasks, tmp_path):
    """CI jobs point --csv at a link to a shared board, others at the board itself: the rows
    land in the shared file, the link stays a link, and both kinds of writer exclude each other
    (one lock, beside the real file)."""
    runs = make_runs(tmp_path / "runs", tasks, [f"org/model-{i:02d}" for i in range(9)])
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    shared.mkdir()
    mine.mkdir()
    board, link = shared / "board.csv", mine / "board.csv"
    link.symlink_to(Path("..") / "shared" / "board.csv")  # dangling until the first write
    p = leaderboard(runs[0], "--csv", link)
    assert p.returncode == 0, p.stderr
    assert link.is_symlink() and [r["model"] for r in rows_of(board)] == ["org/model-00"]
    lm_eval_ext = str(Path(sys.executable).parent / "lm-eval-ext")
    procs = [subprocess.Popen([lm_eval_ext, "leaderboard", str(r), "--csv", str(link if i % 2 else board)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, r in enumerate(runs[1:])]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert link.is_symlink() and link.resolve() == board.resolve()
    assert sorted(r["model"] for r in rows_of(board)) == [f"org/model-{i:02d}" for i in range(9)]
    assert sorted(f.name for f in mine.iterdir()) == ["board.csv"]  # no private copy, no second lock
    assert sorted(f.name for f in shared.iterdir()) == ["board.csv", "board.csv.lock"]


def test_a_write_that_fails_midway_leaves_the_old_file(tasks, tmp_path):
    runs = make_runs(tmp_path, tasks, [f"org/model-{i}" for i in range(6)])
    board = tmp_path / "board.csv"
    assert leaderboard(*runs[:5], "--csv", board).returncode == 0
    before = board.read_bytes()
    limit = len(before) // 2  # the new file cannot be written in full: a full disk, a crash mid-write

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run([str(Path(sys.executable).parent / "lm-eval-ext"), "leaderboard", str(runs[5]), "--csv",
                        str(board)], preexec_fn=small_files, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert str(board) in p.stderr and "unchanged" in p.stderr and "Traceback" not in p.stderr
    assert board.read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir() if f.is_file()) == ["board.csv", "board.csv.lock"]


# ------------------------------------------------------------------ item 2: spreadsheet files
def test_a_utf8_file_with_a_bom_is_read_and_merged(tasks, tmp_path):
    runs = make_runs(tmp_path, tasks, ["org/modèle-1", "org/modèle-2", "org/modèle-3"])
    board = tmp_path / "board.csv"
    assert leaderboard(*runs[:2], "--csv", board).returncode == 0
    board.write_bytes(b"\xef\xbb\xbf" + board.read_bytes())  # Excel's "CSV UTF-8"
    p = leaderboard(runs[2], "--csv", board)
    assert p.returncode == 0, p.stderr
    assert "dropped" not in p.stderr and "warning" not in p.stderr
    assert [r["model"] for r in rows_of(board)] == ["org/modèle-1", "org/modèle-2", "org/modèle-3"]


def _cp1252(text):
    return text.encode("cp1252")


def _no_run_id_column(text):
    return text.replace("run_id", "id", 1).encode()


def _row_without_run_id(text):
    lines = text.splitlines(keepends=True)
    return (lines[0] + "," + lines[1].split(",", 1)[1] + "".join(lines[2:])).encode()


def _extra_cell(text):
    lines = text.splitlines(keepends=True)
    return (lines[0] + lines[1].rstrip("\n") + ",surplus\n" + "".join(lines[2:])).encode()


def _open_quote(text):
    return (text + '"unterminated,cell\n').encode()


@pytest.mark.parametrize("damage,why", [
    (_cp1252, "is not UTF-8 (byte 0xe8 on line 3"),  # line 2: the signature row
    (_no_run_id_column, "no run_id column"),
    (_row_without_run_id, "line 2 has no run_id"),
    (_extra_cell, "line 2 has"),
    (_open_quote, "is not valid CSV"),
], ids=["cp1252", "no-run_id-column", "row-without-run_id", "extra-cell", "open-quote"])
def test_an_unreadable_csv_is_never_overwritten(tasks, tmp_path, damage, why):
    runs = make_runs(tmp_path, tasks, ["org/modèle-1", "org/modèle-2", "org/modèle-3"])
    board = tmp_path / "board.csv"
    assert leaderboard(*runs[:2], "--csv", board).returncode == 0
    board.write_bytes(damage(board.read_text(encoding="utf-8")))
    before = board.read_bytes()
    p = leaderboard(runs[2], "--csv", board)
    assert p.returncode == 2, p.stderr
    assert str(board) in p.stderr and why in p.stderr and "left as it was" in p.stderr, p.stderr
    assert board.read_bytes() == before


# ------------------------------------------------------------------ item 3: formula injection
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


EVIL_MODEL = '=HYPERLINK("http://evil.example/x","click")'
EVIL_TASK = "@SUM(1+1)"


def test_no_cell_is_a_live_formula_and_numbers_stay_numbers(tasks, shared_data, tmp_path):
    evil_tasks = {**tasks, f"{EVIL_TASK}_sw": qa_task(shared_data, "de", 2, _reply("de"))}
    evil = write_run(tmp_path / "evil", EVIL_MODEL, evil_tasks)
    results = next(evil.glob("results_*.json"))
    doc = json.loads(results.read_text())
    doc["config"]["model_args"] = f"model={EVIL_MODEL},extra=-2+3"
    doc["git_hash"] = "+cmd|' /C calc'!A0"
    doc["lm_eval_version"] = "\t=1+1"
    results.write_text(json.dumps(doc))
    good = write_run(tmp_path / "good", "org/plain", tasks)
    board = tmp_path / "board.csv"
    p = leaderboard(evil, "--csv", board)
    assert p.returncode == 0, p.stderr
    text = board.read_text(encoding="utf-8")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    for cell in cells:
        assert not cell.startswith(FORMULA) or _is_number(cell), repr(cell)
        if cell.startswith("'"):
            assert cell[1:].startswith(FORMULA + ("'",)), repr(cell)
    row = rows_of(board)[0]
    assert row["model"] == "'" + EVIL_MODEL and row["git_hash"] == "'+cmd|' /C calc'!A0"
    assert row["lm_eval_version"] == "'\t=1+1"
    assert f"'{EVIL_TASK}/de/exact_match" in row  # a header from a task name
    gap = row["xquad/@gap_en/exact_match"]
    assert float(gap) == pytest.approx(1 / 4 - 3 / 4) and gap.startswith("-")  # negative numbers stay numbers
    # merging into our own file reads the neutralized cells back exactly: no double quote-prefix
    p = leaderboard(good, "--csv", board)
    assert p.returncode == 0, p.stderr
    rows = rows_of(board)
    assert [r["model"] for r in rows] == ["'" + EVIL_MODEL, "org/plain"]
    assert board.read_text(encoding="utf-8").splitlines()[2] == text.splitlines()[2]  # [1]: the signature row
    assert float(rows[0]["xquad/@gap_en/exact_match"]) == pytest.approx(-0.5)
    j = leaderboard(evil, "--format", "json")
    (jrow,) = json.loads(j.stdout)["rows"]
    assert jrow["model"] == EVIL_MODEL  # JSON is not a spreadsheet: the text as recorded


# ------------------------------------------------------------------ item 8: Markdown
LINK = re.compile(r"(?<!\\)\]\(")  # the middle of [text](url) when the bracket is not escaped


def test_markdown_view_escapes_html_and_links_and_keeps_full_model_names(tasks, tmp_path):
    runs = make_runs(tmp_path, tasks, ['org/<img src=x onerror="alert(1)">', "org/[click](http://evil.example)"])
    p = leaderboard(*runs, "--format", "md")
    assert p.returncode == 0, p.stderr
    assert "<img" not in p.stdout and "&lt;img src=x" in p.stdout
    assert not LINK.search(p.stdout) and "\\[click\\]" in p.stdout
    out = tmp_path / "rep"
    r = run_cli(["lm-eval-ext", "report", *map(str, runs), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "<img" not in md and not LINK.search(md)
    assert "### org/\\[click\\](http://evil.example)" in md  # the heading names the model in full


# ------------------------------------------------------------------ item 17: one rule, one message
def test_two_folders_of_one_run_get_one_message(tasks, tmp_path):
    (a,) = make_runs(tmp_path / "x", tasks, ["org/same"])
    (b,) = make_runs(tmp_path / "y", tasks, ["org/same"])
    p = leaderboard(a, b, "--format", "csv")
    assert p.returncode == 0, p.stderr
    warnings = [line for line in p.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "replaced by the newer result of the same model" in warnings[0], p.stderr
    assert "both are shown" not in p.stderr
    assert len(list(csv.DictReader(io.StringIO(p.stdout)))) == 2  # the signature row and one run


def test_one_model_produced_two_ways_is_shown_twice_marked(tasks, tmp_path):
    """Two folders of one model with the same tasks, one of them run 5-shot: the newer result does
    not replace the older (they were not produced the same way); both are shown, marked with the
    difference: two leaderboard rows, two report columns."""
    (a,) = make_runs(tmp_path / "x", tasks, ["org/same"])
    (b,) = make_runs(tmp_path / "y", tasks, ["org/same"])
    for run, shots in ((a, 0), (b, 5)):  # lm-eval records the count in both places
        rf = next(run.glob("results_*.json"))
        doc = json.loads(rf.read_text())
        doc["n-shot"] = {t: shots for t in doc["results"]}
        for cfg in doc["configs"].values():
            cfg["num_fewshot"] = shots
        rf.write_text(json.dumps(doc))
    p = leaderboard(a, b, "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["rows"]
    assert len(rows) == 2 and len({r["run_id"] for r in rows}) == 2, rows
    assert "not merged" in p.stderr and re.search(r"num_fewshot (5 vs 0|0 vs 5)", p.stderr), p.stderr
    out = tmp_path / "rep"
    p = run_cli(["lm-eval-ext", "report", str(a), str(b), "-o", str(out)])
    assert p.returncode == 0, p.stderr
    runs_table = (out / "report.md").read_text(encoding="utf-8").split("## Runs")[1].split("\n## ")[0]
    columns = [line for line in runs_table.splitlines() if line.startswith("| org/same")]
    assert len(columns) == 2 and sum("not merged: xquad_de: num_fewshot" in line for line in columns) == 1, columns
