"""``lm-eval-ext confusion FILE.csv [--json OUT]``: score completions made elsewhere, in the
Language Confusion Benchmark's outputs format (columns ``task, model, source, language,
completion``; any other column is ignored), exactly as the official ``compute_metrics.py`` does
(its ``max(1, ...)`` edge cases included), and print its table string for string.

``--json OUT`` writes every row as ``{task, model, source, language, lpr, wpr, lcpr}`` (``wpr`` and
``lcpr`` null where undefined; LCPR is ours, `metrics.confusion.lcpr`), the 'all' aggregates
included as the script prints them. A file that cannot be read the official way is an error naming
the file, line and column (exit 2).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from lm_eval_ext import files
from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.metrics import confusion

COLUMNS = ("task", "model", "source", "language", "completion")
HEADER = "\t".join(("task", "model", "source", "language", "lpr", "wpr"))


class CsvError(ValueError):
    """A file that cannot be scored, with the file, line and column."""


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of an outputs file; CsvError naming the file, line and column of the first defect."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise CsvError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise CsvError(f"{path}:{line}: column {column} (byte {column}): not UTF-8 "
                       f"(byte 0x{raw[err.start]:02x})") from None
    # the official script opens the file in text mode: universal newlines (CR LF and CR read as LF,
    # inside quoted completions too)
    reader = csv.reader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n"), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise CsvError(f"{path}:1: header: {err}") from None
    if not header:
        raise CsvError(f"{path}:1: empty file (expected a header with the columns {', '.join(COLUMNS)})")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CsvError(f"{path}:1: header lacks the column(s) {', '.join(missing)} "
                       f"(has {', '.join(header)}; needs {', '.join(COLUMNS)})")
    index = {c: header.index(c) for c in COLUMNS}
    rows = []
    start = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise CsvError(f"{path}:{start}: {err}") from None
        if fields:  # the csv module's blank line
            if len(fields) != len(header):
                column = min(len(fields), len(header)) + 1
                name = header[column - 1] if column <= len(header) else "(none)"
                raise CsvError(f"{path}:{start}: column {column} ({name}): the record has {len(fields)} fields, "
                               f"the header {len(header)}")
            row = {c: fields[i] for c, i in index.items()}
            for c in ("task", "model", "language"):
                if not row[c].strip():
                    raise CsvError(f"{path}:{start}: column {index[c] + 1} ({c}) is empty")
            rows.append(row)
        start = reader.line_num + 1
    if not rows:
        raise CsvError(f"{path}: no rows after the header")
    return rows


def score_rows(rows: list[dict[str, str]], words: frozenset[str], strip_thinking: bool = False) -> list[dict]:
    """Every (task, model) group through the official averaging, groups in sorted order:
    ``{task, model, source, language, acc, lpr, wpr}`` (wpr None where the script has no key)."""
    groups: dict[tuple[str, str], dict[tuple[str, str], confusion.Counts]] = {}
    for row in sorted(rows, key=lambda r: (r["task"], r["model"])):
        cells = groups.setdefault((row["task"], row["model"]), {})
        counts = cells.setdefault((row["source"], row["language"]), confusion.Counts())
        counts.add(confusion.score_reply(row["completion"], row["language"], words, strip_thinking))
    out = []
    for (task, model), cells in sorted(groups.items()):
        for source, lang, m in confusion.compute_all(cells):
            out.append({"task": task, "model": model, "source": source, "language": lang,
                        "acc": m.get("acc"), "lpr": m.get("lpr"), "wpr": m.get("wpr")})
    return out


def _percent(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.2%}"


def table(scored: list[dict], with_lcpr: bool = False) -> str:
    """The official table (``with_lcpr``: one more column, ours)."""
    lines = [HEADER + ("\tlcpr" if with_lcpr else "")]
    for r in scored:
        cells = [r["task"], r["model"], r["source"], r["language"], _percent(r["lpr"]), _percent(r["wpr"])]
        if with_lcpr:
            cells.append(_percent(confusion.lcpr(r["lpr"], r["wpr"])))
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def json_rows(scored: list[dict]) -> list[dict]:
    return [{"task": r["task"], "model": r["model"], "source": r["source"], "language": r["language"],
             "lpr": r["lpr"], "wpr": r["wpr"], "lcpr": confusion.lcpr(r["lpr"], r["wpr"]) if r["wpr"] is not None
             else None} for r in scored]


def run(args, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    reason = confusion.unavailable()
    if reason:
        print(f"lm-eval-ext confusion: error: {reason}", file=err)
        return ExitCode.BAD_INPUT
    words_file = Path(args.words) if args.words else confusion.words_path()
    if words_file is None or not words_file.is_file():
        print("lm-eval-ext confusion: error: the LCB English word list "
              + (f"{words_file} was not found" if words_file else "is not set")
              + f" (--words FILE, {confusion.WORDS_ENV}, or LM_EVAL_EXT_DATA_DIR with lcb/en_words.txt: the "
              "benchmark repository's `words` file)", file=err)
        return ExitCode.BAD_INPUT
    try:
        rows = read_rows(Path(args.file))
    except CsvError as e:
        print(f"lm-eval-ext confusion: error: {e}", file=err)
        return ExitCode.BAD_INPUT
    if args.json:
        files.prepare_output(Path(args.json))
    scored = score_rows(rows, confusion.english_words(str(words_file)), strip_thinking=args.strip_reasoning)
    out.write(table(scored, with_lcpr=args.lcpr))
    if args.json:
        files.write_output(Path(args.json), json.dumps(json_rows(scored), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {args.json} ({len(scored)} rows)", file=err)
    return ExitCode.OK


def add_parser(sub, func) -> None:
    p = sub.add_parser("confusion", help="Language Confusion Benchmark scores (LPR, WPR) of completions in the "
                       "benchmark's outputs format, as its official scorer prints them",
                       description="Reads a CSV with the columns task, model, source, language, completion (the "
                       "benchmark's outputs/*.csv) and prints the official compute_metrics.py table (its 'all' "
                       "rows and its 100%% for an empty denominator included). Needs lm-eval-ext[confusion].")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--json", metavar="OUT", help="also write the rows {task, model, source, language, lpr, wpr, lcpr}")
    p.add_argument("--words", metavar="FILE", help=f"the benchmark's English word list (default: ${confusion.WORDS_ENV}, "
                   "else $LM_EVAL_EXT_DATA_DIR/lcb/en_words.txt)")
    p.add_argument("--lcpr", action="store_true", help="print one more column: LCPR (ours, not the official script's)")
    p.add_argument("--strip-reasoning", action="store_true", help="strip <think> blocks first (the official "
                   "script does not)")
    p.set_defaults(func=func)
