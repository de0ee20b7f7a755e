"""``lm-eval-ext leaderboard RUN_DIR... --csv OUT.csv``: one row per model (`runs.model_columns`:
the runs of one model identity merged across folders, as the report's columns).

Column scheme (stable; documented in reports/README.md):

identifying columns first, always in this order::

    run_id, model, model_type, model_args, date, lm_eval_version,
    lm_eval_ext_version, git_hash, n_tasks, run_dir

then score columns ``<task family>/<row>/<metric>``, sorted:

- ``<row>`` a language code (``de``), a pair ``<ctx>-<q>`` / ``<src>-<tgt>``
  (``de-en``), ``-`` for a task without a language (``<family>`` is then the
  task name); a family of more than 40 rows that each pair a language with English
  (FLORES-200: 406 directions; `tables.is_long_tail`) has its means and groups only,
  unless ``--per-language`` asks for every row (2,800 columns help no one);
- ``@all``, ``@high``, ``@low``, ``@non_en``: unweighted means over the run's own
  rows of the family; ``@gap_en``: English row minus the non-English mean;
  ``@spread``: best minus worst row (the two parity numbers: ``@spread``, ``@gap_en``);
- ``@group``: lm-eval's own group aggregate (``<family>`` is then the group);
- ``<metric>`` is ``name:filter`` (``exact_match:strict-match``), or ``name`` for
  lm-eval's ``none`` filter.

Values are raw (accuracy 0-1, BLEU 0-100), full precision; an empty cell means
the run has no such number. ``model`` is the model as recorded, or ``<model> answering
<other model>'s translations`` for a self-translate stage 2 that read another model's stage 1;
``run_dir`` the folder(s) the row's results come from. ``run_id`` is the first 12 hex digits of
SHA-256 over the model identity (`model_identity`; request-only settings such as
``num_concurrent`` are not part of it) and, per task, how its result was produced (version,
few-shot, generation settings, scorer): merging into an existing CSV replaces a row with the
same run_id instead of adding a second.

A column never mixes numbers made different ways. Every value has the signature of how
it was made (`comparability.column_signature`: task version, scorer and metric
signatures, few-shot count, chat template, gen_kwargs, sample count, ...); the first row
under the header, ``run_id`` = ``#signature``, holds each column's. A run whose value
would land in a column of another signature gets a column of its own,
``<column>~<first 8 hex digits of SHA-256 of its signature>``. Merges hold a
lock on ``<csv>.lock`` and replace the file atomically; a file that cannot be
read exactly is never overwritten. Text cells that a spreadsheet would take for
a formula are written with a leading single quote (see reports/README.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from pathlib import Path

from lm_eval_ext import __version__, files
from lm_eval_ext.reporting.document import md_cell
from lm_eval_ext.formats.run_folder import LEGACY_METRICS, Problem
from lm_eval_ext.reporting.comparability import column_signature
from lm_eval_ext.reporting.rows import row_key
from lm_eval_ext.reporting.merge import same_identity
from lm_eval_ext.reporting.runs import Run, kind_of, load_runs, model_columns
from lm_eval_ext.reporting.tables import HELPER_METRIC_SUFFIXES, family_means, is_long_tail, metric_column
from lm_eval_ext.signature import Signature

ID_COLUMNS = ["run_id", "model", "model_type", "model_args", "date", "lm_eval_version",
              "lm_eval_ext_version", "git_hash", "n_tasks", "run_dir"]
SIGNATURE_ROW = "#signature"  # run_id of the row that holds each column's signature
SIGNATURES = "__signatures__"  # a row's {column: signature of its value} (not a column)
_SUFFIX = re.compile(r"~[0-9a-f]{8}$")


def many_rows(run: Run) -> dict[str, int]:
    """Families of `run` shown by their means only (`tables.is_long_tail`): {family: rows}."""
    rows: dict[str, set] = {}
    for cell in run.cells:
        if cell.langs:
            rows.setdefault(cell.family, set()).add(cell.langs)
    return {f: len(r) for f, r in rows.items() if is_long_tail(r)}


def run_row(run: Run, per_language: bool = False) -> dict:
    hidden = set() if per_language else set(many_rows(run))
    row = {
        "run_id": run.identity, "model": run.title, "model_type": run.model_type, "model_args": run.model_args,
        "date": run.date, "lm_eval_version": run.lm_eval_version, "lm_eval_ext_version": run.ext_version,
        "git_hash": run.git_hash, "n_tasks": str(sum(1 for t in run.tasks.values() if not t.is_group)),
        "run_dir": "; ".join(str(f) for f in run.folders),
    }
    sigs: dict[str, str] = {}
    fam: dict[tuple[str, str], dict] = {}
    fam_tasks: dict[tuple[str, str], set] = {}
    for cell in run.cells:
        metric = metric_column(cell.metric)
        name = cell.metric.partition(",")[0]
        if not (cell.langs and cell.family in hidden):  # a long tail: its means, tiers and groups only
            column = f"{cell.family}/{row_key(cell.langs)}/{metric}"
            row[column] = cell.score.value
            sigs[column] = column_signature(run, [cell.task], name)
        if cell.langs and not name.endswith(HELPER_METRIC_SUFFIXES):
            fam.setdefault((cell.family, metric), {})[cell.langs] = cell.score.value
            fam_tasks.setdefault((cell.family, metric), set()).add((cell.task, name))
    for (family, metric), vals in fam.items():  # the run's own rows, in results order
        tasks = fam_tasks[(family, metric)]
        sig = column_signature(run, [t for t, _ in tasks], next(iter(tasks))[1])
        for kind, v in family_means(vals).items():
            if v is not None:
                row[f"{family}/@{kind}/{metric}"] = v
                sigs[f"{family}/@{kind}/{metric}"] = sig
    subtasks = run.data.get("group_subtasks") or {}
    for name, entry in (run.data.get("groups") or {}).items():
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            if "," not in key or key.partition(",")[0].endswith("_stderr"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                column = f"{name}/@group/{metric_column(key)}"
                row[column] = float(value)
                sigs[column] = column_signature(run, subtasks.get(name) or [name], key.partition(",")[0])
    row[SIGNATURES] = sigs
    return row


def canonical(column: str) -> str:
    """A score column without the signature suffix a separate column got."""
    return _SUFFIX.sub("", column)


def place(rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """The rows with every value in a column of its own signature, and {column: signature}.
    In row order, a value goes to the column of its name that holds its signature, else to the
    column of its name if no row holds it yet, else to ``<name>~<sha-256 prefix of the signature>``.
    A value of unknown signature (a file written before signatures existed) has signature ''."""
    owner: dict[str, str] = {}  # column -> signature
    out = []
    for row in rows:
        sigs = row.get(SIGNATURES) or {}
        placed = {k: v for k, v in row.items() if k in ID_COLUMNS}
        placed_sigs = {}
        for column, value in row.items():
            if column in ID_COLUMNS or column == SIGNATURES:
                continue
            sig = sigs.get(column, "")
            name = canonical(column)
            target = name if owner.get(name, sig) == sig else f"{name}~{Signature.parse(sig).short()}"
            owner.setdefault(target, sig)
            placed[target] = value
            placed_sigs[target] = sig
        placed[SIGNATURES] = placed_sigs
        out.append(placed)
    return out, owner


def columns_of(rows: list[dict]) -> list[str]:
    scores = sorted({k for r in rows for k in r if k not in ID_COLUMNS and k != SIGNATURES})
    return ID_COLUMNS + scores


class LeaderboardError(ValueError):
    """An existing leaderboard CSV that cannot be read: it is never overwritten."""


# OWASP CSV injection: a cell a spreadsheet would read as a formula (or whose leading
# quote a spreadsheet would eat) gets a leading single quote; the quote itself is escaped
# the same way, so reading our own file back is exact.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralize(text: str) -> str:
    """A text cell as written to the CSV: inert in a spreadsheet."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def unneutralize(cell: str) -> str:
    """The text behind a cell written by `neutralize` (other cells unchanged)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def _value(column: str, cell: str):
    """A cell read back: identifying columns are text; score columns numbers when they are."""
    text = unneutralize(cell)
    if column not in ID_COLUMNS and _NUMBER_RE.match(text):
        return float(text)
    return text


def current_column(column: str) -> str:
    """A score column of a board written before a metric was renamed, under its name now
    (``xquad/de/f1:clean`` -> ``xquad/de/f1_qa:clean``), so its rows line up with new runs'. Our
    tasks' metrics always name their filter; lm-eval's own (``mlqa/de-en/f1``) do not, and stay."""
    head, _, metric = column.rpartition("/")
    name, _, filt = metric.partition(":")
    owner = head.partition("/")[0]
    for new, (old, fams) in LEGACY_METRICS.items():
        if name == old and filt and any(owner == f or owner.startswith(f + "_") for f in fams):
            return f"{head}/{new}:{filt}"
    return column


def read_csv(path: Path) -> list[dict]:
    """Rows of an existing leaderboard (UTF-8, with or without BOM), each with the signatures of
    its values (the ``#signature`` row; '' for a file written before it). Anything that cannot be
    read exactly raises LeaderboardError: merging would then drop rows."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise LeaderboardError(f"{path}: existing leaderboard cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise LeaderboardError(
            f"{path}: existing leaderboard is not UTF-8 (byte 0x{raw[err.start]:02x} on line {line}; saved by a "
            "spreadsheet in another encoding? save it as \"CSV UTF-8\")") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict] = []
    signatures: dict[str, str] = {}
    try:
        header = [unneutralize(c) for c in next(reader, [])]
        if not header:
            return []  # an empty file: a new leaderboard
        if "run_id" not in header:
            raise LeaderboardError(f"{path}: line 1 has no run_id column; not an lm-eval-ext leaderboard")
        dup = sorted({c for c in header if header.count(c) > 1})
        if dup:
            raise LeaderboardError(f"{path}: line 1 repeats column(s) {', '.join(dup)}")
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines a spreadsheet may add
            if len(cells) > len(header):
                raise LeaderboardError(f"{path}: line {reader.line_num} has {len(cells)} cells, the header "
                                       f"{len(header)}")
            if unneutralize(cells[header.index("run_id")] if header.index("run_id") < len(cells) else "") \
                    == SIGNATURE_ROW:
                signatures = {current_column(c): unneutralize(v) for c, v in zip(header, cells)
                              if c not in ID_COLUMNS and v}
                continue
            row = {c: _value(c, v) for c, v in zip(header, cells) if v != ""}
            for old in [c for c in row if current_column(c) != c]:  # a board from before a rename
                value = row.pop(old)
                row.setdefault(current_column(old), value)
            if not row.get("run_id"):
                raise LeaderboardError(f"{path}: line {reader.line_num} has no run_id")
            rows.append(row)
    except csv.Error as err:
        raise LeaderboardError(f"{path}: line {reader.line_num} is not valid CSV ({err})") from None
    for row in rows:
        row[SIGNATURES] = {c: signatures.get(c, "") for c in row if c not in ID_COLUMNS}
    return rows


def merge(existing: list[dict], new: list[dict]) -> list[dict]:
    by_id = {r["run_id"]: r for r in existing}
    order = list(by_id)
    for r in new:
        if r["run_id"] not in by_id:
            order.append(r["run_id"])
        by_id[r["run_id"]] = r
    return [by_id[i] for i in order]


def update_csv(path: Path, new: list[dict]) -> list[dict]:
    """Merge `new` rows into the CSV at `path` (created if missing) under an exclusive lock,
    and replace the file atomically: concurrent merges all land, a crash leaves the old file.
    Raises LeaderboardError (unreadable file, left as it was) or OutputError."""
    path = files.prepare_output(Path(path))
    try:
        with files.locked(path):
            existing = read_csv(path) if path.exists() else []
            rows = merge(existing, new)
            files.write_output(path, to_csv(rows))
    except OSError as err:  # the lock file itself (a read-only folder)
        if isinstance(err, files.OutputError):
            raise
        raise files.OutputError(f"{path}: cannot be locked for writing ({err.strerror or err})") from None
    return rows


def dedupe(runs: list[Run], problems: list[Problem]) -> list[Run]:
    """One row per run id: of runs with the same run id the newest (by results date) is kept."""
    dropped = set()
    for older, newer in same_identity(runs):
        dropped.add(id(older))
        problems.append(Problem(str(older.path), f"same run id (model identity, tasks produced the same way) as "
                                                 f"{newer.path}; one row per run id: the newer one is kept"))
    return [r for r in runs if id(r) not in dropped]


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    if isinstance(v, int):
        return str(v)
    return "" if v is None else neutralize(str(v))


def to_csv(rows: list[dict]) -> str:
    """The header, the ``#signature`` row, one row per run (values `place`d by signature)."""
    rows, signatures = place(rows)
    buf = io.StringIO()
    cols = columns_of(rows)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralize(c) for c in cols])
    head = {"run_id": SIGNATURE_ROW, "model": "(how each column's values were made: lm-eval-ext signatures)",
            **signatures}
    w.writerow([_fmt(head.get(c)) for c in cols])
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in cols])
    return buf.getvalue()


def to_json(rows: list[dict]) -> str:
    def conv(v):
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v

    rows, signatures = place(rows)
    cols = columns_of(rows)
    out = {"columns": cols, "rows": [{c: (r[c] if c in ID_COLUMNS else conv(r[c])) for c in cols if c in r} for r in rows],
           "signatures": {c: signatures[c] for c in cols if c in signatures},
           "scheme": "<family>/<lang|pair|-|@all|@high|@low|@non_en|@gap_en|@spread|@group>/<metric[:filter]>"
                     "[~<signature id>]",
           "lm_eval_ext_version": __version__}
    return json.dumps(out, indent=1, ensure_ascii=False)


def to_markdown(rows: list[dict]) -> str:
    """Compact view: model and the family means over all languages (and lm-eval groups)."""
    rows, _ = place(rows)
    cols = [c for c in columns_of(rows) if "/@all/" in c or "/@group/" in c]
    cols = [c for c in cols if not c.split("/")[-1].partition(":")[0].endswith(HELPER_METRIC_SUFFIXES)]

    def cell(v):
        if v in (None, ""):
            return "—"
        try:
            return f"{float(v):.4g}"
        except ValueError:
            return md_cell(v)

    head = ["model", "model args", "run_id"] + cols
    lines = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([md_cell(r.get("model", "")), md_cell(r.get("model_args", "")),
                                        md_cell(r["run_id"])] + [cell(r.get(c)) for c in cols]) + " |")
    return "\n".join(lines) + "\n"


def build(paths, err=None, per_language: bool = False) -> tuple[list[dict], list[Problem]]:
    """Rows of the usable runs among `paths` (one per model, `runs.model_columns`); problems printed to `err`."""
    err = err or sys.stderr  # the stream of the call, not of the import
    runs, problems = load_runs(paths)
    runs = dedupe(model_columns(runs, problems), problems)
    for p in dict.fromkeys(problems):
        print(f"lm-eval-ext leaderboard: {kind_of(p)}: {p}", file=err)
    if not per_language:
        many = {f: n for r in runs for f, n in many_rows(r).items()}
        for family, n in sorted(many.items()):
            print(f"lm-eval-ext leaderboard: note: {family} has {n} language rows: its means, tiers and groups are "
                  "columns, each row is not (--per-language adds them)", file=err)
    return [run_row(r, per_language) for r in runs], problems
