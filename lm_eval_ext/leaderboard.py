"""``lm-eval-ext leaderboard RUN_DIR... --csv OUT.csv``: one row per run.

Column scheme (stable; documented in reports/README.md):

identifying columns first, always in this order::

    run_id, model, model_type, model_args, date, lm_eval_version,
    lm_eval_ext_version, git_hash, n_tasks, run_dir

then score columns ``<task family>/<row>/<metric>``, sorted:

- ``<row>`` a language code (``de``), a pair ``<ctx>-<q>`` / ``<src>-<tgt>``
  (``de-en``), ``-`` for a task without a language (``<family>`` is then the
  task name);
- ``@all``, ``@high``, ``@low``, ``@non_en``: unweighted means over the run's own
  rows of the family; ``@gap_en``: English row minus the non-English mean;
- ``@group``: lm-eval's own group aggregate (``<family>`` is then the group);
- ``<metric>`` is ``name:filter`` (``exact_match:strict-match``), or ``name`` for
  lm-eval's ``none`` filter.

Values are raw (accuracy 0-1, BLEU 0-100), full precision; an empty cell means
the run has no such number. ``run_id`` is the first 12 hex digits of SHA-256 over
(model type, model, model args, task versions): merging into an existing CSV
replaces a row with the same run_id instead of adding a second.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

from lm_eval_ext import __version__, languages
from lm_eval_ext.runs import Problem, Run, is_english, load_runs, row_key, tier_of
from lm_eval_ext.tables import HELPER_METRIC_SUFFIXES, metric_column

ID_COLUMNS = ["run_id", "model", "model_type", "model_args", "date", "lm_eval_version",
              "lm_eval_ext_version", "git_hash", "n_tasks", "run_dir"]


def _mean(v):
    return sum(v) / len(v) if v else None


def run_row(run: Run) -> dict:
    row = {
        "run_id": run.identity, "model": run.model, "model_type": run.model_type, "model_args": run.model_args,
        "date": run.date, "lm_eval_version": run.lm_eval_version, "lm_eval_ext_version": run.ext_version,
        "git_hash": run.git_hash, "n_tasks": str(sum(1 for t in run.tasks.values() if not t.is_group)),
        "run_dir": str(run.path),
    }
    fam: dict[tuple[str, str], dict] = {}
    for cell in run.cells:
        metric = metric_column(cell.metric)
        row[f"{cell.family}/{row_key(cell.langs)}/{metric}"] = cell.score.value
        if cell.langs and not cell.metric.partition(",")[0].endswith(HELPER_METRIC_SUFFIXES):
            fam.setdefault((cell.family, metric), {})[cell.langs] = cell.score.value
    for (family, metric), vals in fam.items():
        non_en = [v for r, v in vals.items() if not is_english(r)]
        en = [v for r, v in vals.items() if is_english(r)]
        means = {
            "@all": _mean(list(vals.values())),
            "@high": _mean([v for r, v in vals.items() if tier_of(r) == languages.HIGH]),
            "@low": _mean([v for r, v in vals.items() if tier_of(r) == languages.LOW]),
            "@non_en": _mean(non_en),
            "@gap_en": (en[0] - _mean(non_en)) if en and non_en else None,
        }
        for k, v in means.items():
            if v is not None:
                row[f"{family}/{k}/{metric}"] = v
    for name, entry in (run.data.get("groups") or {}).items():
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            if "," not in key or key.partition(",")[0].endswith("_stderr"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                row[f"{name}/@group/{metric_column(key)}"] = float(value)
    return row


def columns_of(rows: list[dict]) -> list[str]:
    scores = sorted({k for r in rows for k in r if k not in ID_COLUMNS})
    return ID_COLUMNS + scores


def read_csv(path: Path, problems: list[Problem]) -> list[dict]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        problems.append(Problem(str(path), f"existing leaderboard cannot be read ({err}); starting a new one"))
        return []
    good = []
    for i, r in enumerate(rows, 2):
        if not r.get("run_id"):
            problems.append(Problem(str(path), f"line {i} has no run_id; dropped"))
            continue
        good.append({k: v for k, v in r.items() if k is not None and v not in (None, "")})
    return good


def merge(existing: list[dict], new: list[dict]) -> list[dict]:
    by_id = {r["run_id"]: r for r in existing}
    order = [r["run_id"] for r in existing]
    for r in new:
        if r["run_id"] not in by_id:
            order.append(r["run_id"])
        by_id[r["run_id"]] = r
    return [by_id[i] for i in order]


def dedupe(runs: list[Run], problems: list[Problem]) -> list[Run]:
    """One run per identity: the newest (by its results file name) is kept."""
    keep: dict[str, Run] = {}
    for run in runs:
        other = keep.get(run.identity)
        if other is None:
            keep[run.identity] = run
            continue
        newer, older = (run, other) if run.results_files[-1].name >= other.results_files[-1].name else (other, run)
        keep[run.identity] = newer
        problems.append(Problem(str(older.path), f"same run identity (model, model args, task versions) as "
                                                 f"{newer.path}; the newer one is kept in the leaderboard"))
    return list(keep.values())


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else str(v)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = columns_of(rows)
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: _fmt(r.get(c)) for c in cols})
    return buf.getvalue()


def to_json(rows: list[dict]) -> str:
    def conv(v):
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v

    cols = columns_of(rows)
    out = {"columns": cols, "rows": [{c: (r[c] if c in ID_COLUMNS else conv(r[c])) for c in cols if c in r} for r in rows],
           "scheme": "<family>/<lang|pair|-|@all|@high|@low|@non_en|@gap_en|@group>/<metric[:filter]>",
           "lm_eval_ext_version": __version__}
    return json.dumps(out, indent=1, ensure_ascii=False)


def to_markdown(rows: list[dict]) -> str:
    """Compact view: model and the family means over all languages (and lm-eval groups)."""
    cols = [c for c in columns_of(rows) if "/@all/" in c or "/@group/" in c]
    cols = [c for c in cols if not c.split("/")[-1].partition(":")[0].endswith(HELPER_METRIC_SUFFIXES)]

    def cell(v):
        if v in (None, ""):
            return "—"
        try:
            return f"{float(v):.4g}"
        except ValueError:
            return str(v)

    def md(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    head = ["model", "model args", "run_id"] + cols
    lines = ["| " + " | ".join(md(h) for h in head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([md(r.get("model", "")), md(r.get("model_args", "")), md(r["run_id"])]
                                        + [cell(r.get(c)) for c in cols]) + " |")
    return "\n".join(lines) + "\n"


def build(paths, csv_path=None, err=sys.stderr) -> tuple[list[dict], list[Problem]]:
    runs, problems = load_runs(paths)
    runs = dedupe(runs, problems)
    new = [run_row(r) for r in runs]
    existing = read_csv(Path(csv_path), problems) if csv_path and Path(csv_path).exists() else []
    rows = merge(existing, new)
    seen = set()
    for p in problems:
        if p not in seen:
            seen.add(p)
            print(f"lm-eval-ext leaderboard: warning: {p}", file=err)
    return rows, problems
