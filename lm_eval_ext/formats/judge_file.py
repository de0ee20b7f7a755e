"""The files ``lm-eval-ext judge`` writes into a run folder: the one definition of their format.

- ``judge_results_<date>.json`` (`JudgeResults`): per task and protocol a `JudgeEntry` (mean with
  bootstrap CI, counts of what could not be judged, agreement with the task's reference metric),
  pooled per language row, the request counts and the provenance (judge, sampling, templates,
  the run judged);
- ``judge_pairwise_<date>.json`` (`PairwiseResults`): run A against run B, per task and per
  language a `PairEntry` (wins, ties, losses, win rate with CI);
- ``judge_samples_<task>_<date>.jsonl`` / ``judge_pairwise_samples_<task>_<date>.jsonl``: one
  line per judged item (written by the judge, read by `reporting.runs.judge_item_scores`).

The judge writes with `write`, the run-folder reader reads with `read`; the report reads the
typed entries. Every file carries ``"format": "lm-eval-ext/judge-results"`` and a
``format_version`` (`VERSION`); files written before the field existed (version 0) read the
same. An entry of the wrong shape is a `Problem` and is skipped; the rest of the file is used.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from lm_eval_ext import files
from lm_eval_ext.formats.run_folder import DATE_PATTERN, Problem, number, open_regular, type_name
from lm_eval_ext.signature import Signature

FORMAT = "lm-eval-ext/judge-results"
VERSION = 1  # 1: the format fields; 0: files written before them (same content)

RESULTS_PREFIX = "judge_results_"
PAIRWISE_PREFIX = "judge_pairwise_"
RESULTS_RE = re.compile(rf"^judge_results_(?P<date>{DATE_PATTERN})\.json$")
PAIRWISE_RE = re.compile(rf"^judge_pairwise_(?P<date>{DATE_PATTERN})\.json$")


def results_name(stamp: str) -> str:
    return f"{RESULTS_PREFIX}{stamp}.json"


def pairwise_name(stamp: str) -> str:
    return f"{PAIRWISE_PREFIX}{stamp}.json"


def samples_name(task: str, stamp: str) -> str:
    return f"judge_samples_{task}_{stamp}.jsonl"


def pairwise_samples_name(task: str, stamp: str) -> str:
    return f"judge_pairwise_samples_{task}_{stamp}.jsonl"


# ------------------------------------------------------------------ entries
_COUNT = "count"
_NUMBER = "number"
_CI = "ci"


@dataclass
class JudgeEntry:
    """One task and protocol of a judge results file (or one language row, pooled: then only
    the statistics are set)."""

    protocol: str = ""
    metric: str = ""
    template_version: str | None = None
    response_lang: str | None = None
    n_items: int = 0
    n: int = 0  # items with a parsed score
    mean: float | None = None
    ci95: list | None = None
    stderr: float | None = None
    scale: str = ""
    parse_failures: int = 0
    request_failures: int = 0
    not_judged: int = 0
    invalid_items: int = 0
    retried_with_reminder: int = 0
    parse_failure_doc_ids: list = field(default_factory=list)
    answer_correct_rate: float | None = None  # math_cot only
    family: str | None = None
    langs: list = field(default_factory=list)
    reference_metric: str | None = None
    agreement: dict | None = None  # {method, reference_metric, n, rho}
    samples_file: str | None = None

    KINDS = {"mean": _NUMBER, "stderr": _NUMBER, "answer_correct_rate": _NUMBER, "ci95": _CI,
             "n": _COUNT, "n_items": _COUNT, "parse_failures": _COUNT, "request_failures": _COUNT,
             "not_judged": _COUNT, "invalid_items": _COUNT, "retried_with_reminder": _COUNT}
    POOLED = ("mean", "ci95", "n", "parse_failures", "n_items")  # the fields of a language row

    def to_json(self) -> dict:
        out = asdict(self)
        if out["answer_correct_rate"] is None:
            del out["answer_correct_rate"]
        return out

    def pooled(self) -> dict:
        return {key: getattr(self, key) for key in self.POOLED}


@dataclass
class PairEntry:
    """One task (or language row) of a pairwise file: A against B."""

    n_items: int = 0
    n: int = 0
    win: int = 0
    tie: int = 0
    loss: int = 0
    order_disagreements: int = 0  # a tie that is not [[C]] in both orders: the verdict flipped with the order
    parse_failures: int = 0
    request_failures: int = 0
    not_judged: int = 0
    win_rate: float | None = None
    win_rate_ci95: list | None = None
    family: str | None = None
    langs: list | None = None
    template_version: str | None = None
    samples_file: str | None = None

    KINDS = {"win_rate": _NUMBER, "win_rate_ci95": _CI, "n": _COUNT, "n_items": _COUNT, "win": _COUNT,
             "tie": _COUNT, "loss": _COUNT, "order_disagreements": _COUNT, "parse_failures": _COUNT,
             "request_failures": _COUNT, "not_judged": _COUNT}
    TASK_ONLY = ("family", "langs", "template_version", "samples_file")

    def to_json(self, task_level: bool = True) -> dict:
        out = asdict(self)
        return out if task_level else {k: v for k, v in out.items() if k not in self.TASK_ONLY}


def _finite(x) -> bool:
    return number(x) is not None and math.isfinite(x)


def _entry_problem(entry, kinds: dict) -> str | None:
    if not isinstance(entry, dict):
        return f"is {type_name(entry)}, not an object"
    for key, kind in kinds.items():
        v = entry.get(key)
        if v is None:
            continue
        if kind == _NUMBER and not _finite(v):
            return f"'{key}' is {v!r}, not a number"
        if kind == _CI and not (isinstance(v, list) and len(v) == 2 and all(_finite(x) for x in v)):
            return f"'{key}' is {v!r}, not a pair of numbers"
        if kind == _COUNT and (isinstance(v, bool) or not isinstance(v, int)):
            return f"'{key}' is {v!r}, not a count"
    agreement = entry.get("agreement")
    if agreement is not None and (not isinstance(agreement, dict) or not (
            agreement.get("rho") is None or _finite(agreement.get("rho")))):
        return f"'agreement' is {agreement!r}, not an object with a numeric rho"
    if not isinstance(entry.get("parse_failure_doc_ids", []), list):
        return "'parse_failure_doc_ids' is not a list"
    return None


def _typed(cls, entry: dict):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in entry.items() if k in known})


# ------------------------------------------------------------------ files
@dataclass
class JudgeResults:
    tasks: dict  # {task: {protocol: JudgeEntry}}
    languages: dict  # {protocol: {row key: JudgeEntry (pooled fields)}}
    complete: bool = True
    requests: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    format_version: int = VERSION

    def to_json(self) -> dict:
        return {"format": FORMAT, "format_version": VERSION, "complete": self.complete,
                "tasks": {t: {p: e.to_json() for p, e in per.items()} for t, per in self.tasks.items()},
                "languages": {p: {k: e.pooled() for k, e in rows.items()} for p, rows in self.languages.items()},
                "requests": self.requests, "provenance": self.provenance}

    def signature(self, protocol: str, entry: "JudgeEntry | None" = None) -> str:
        """How a ``judge/<protocol>`` score was made: judge model and backend, template
        version, sampling, statistics (from the provenance; what is not recorded is left out)."""
        prov = self.provenance
        judge = prov.get("judge") if isinstance(prov.get("judge"), dict) else {}
        templates = prov.get("templates") if isinstance(prov.get("templates"), dict) else {}
        version = (entry.template_version if entry is not None else None) or templates.get(protocol)
        sampling = prov.get("sampling")
        return str(Signature.of(
            ("judge", judge.get("model") or "unknown"), ("backend", judge.get("backend")) if judge.get("backend") else None,
            ("template", f"{protocol}@{version}") if version else ("template", protocol),
            ("sampling", json.dumps(sampling, sort_keys=True, separators=(",", "=")))
            if isinstance(sampling, dict) else None,
            ("statistics", f"({prov['statistics']})") if isinstance(prov.get("statistics"), str) else None,
        ))

    @property
    def run(self) -> dict:
        """The judged run as the provenance names it (path, model, run_id, results_files)."""
        run = self.provenance.get("run")
        return run if isinstance(run, dict) else {}


@dataclass
class PairwiseResults:
    tasks: dict  # {task: PairEntry}
    languages: dict  # {row key: PairEntry}
    run_a: dict = field(default_factory=dict)
    run_b: dict = field(default_factory=dict)
    complete: bool = True
    requests: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    format_version: int = VERSION

    def to_json(self) -> dict:
        return {"format": FORMAT, "format_version": VERSION, "complete": self.complete,
                "run_a": self.run_a, "run_b": self.run_b,
                "tasks": {t: e.to_json() for t, e in self.tasks.items()},
                "languages": {k: e.to_json(task_level=False) for k, e in self.languages.items()},
                "requests": self.requests, "provenance": self.provenance}

    @property
    def run(self) -> dict:
        run = self.provenance.get("run")
        return run if isinstance(run, dict) else {}


def write(path: Path, doc: JudgeResults | PairwiseResults) -> None:
    files.write_atomic(path, json.dumps(doc.to_json(), indent=2, ensure_ascii=False))


def read(path: Path, problems: list[Problem]) -> JudgeResults | PairwiseResults | None:
    """The judge file at `path` (its kind from its name), entries of the wrong shape reported and
    skipped; None (and a Problem) when the file cannot be used at all."""
    pairwise = bool(PAIRWISE_RE.match(path.name))
    try:
        with open_regular(path) as fh:  # never a FIFO named like a judge file: it would block
            doc = json.loads(fh.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        problems.append(Problem(str(path), f"judge results cannot be read ({err}); skipped"))
        return None
    section = "languages" if pairwise else "tasks"
    if not isinstance(doc, dict) or not isinstance(doc.get(section), dict):
        problems.append(Problem(str(path), f"no '{section}' object: not a judge results file; skipped"))
        return None
    version = doc.get("format_version", 0)
    if doc.get("format", FORMAT) != FORMAT or isinstance(version, bool) or not isinstance(version, int) \
            or version > VERSION:
        problems.append(Problem(str(path), f"format {doc.get('format')!r} version {version!r} is not one this "
                                           f"lm-eval-ext reads ({FORMAT} up to {VERSION}); skipped"))
        return None
    meta = {key: doc.get(key) if isinstance(doc.get(key), dict) else {}
            for key in ("provenance", "requests", "run_a", "run_b")}
    complete = bool(doc.get("complete", True))

    def entries(name: str, per, cls) -> dict:
        kept = {}
        for key, entry in per.items():
            why = _entry_problem(entry, cls.KINDS)
            if why:
                problems.append(Problem(str(path), f"{name}.{key} {why}; skipped"))
            else:
                kept[key] = _typed(cls, entry)
        return kept

    if pairwise:
        tasks = doc.get("tasks") if isinstance(doc.get("tasks"), dict) else {}
        return PairwiseResults(tasks=entries("tasks", tasks, PairEntry),
                               languages=entries("languages", doc["languages"], PairEntry),
                               run_a=meta["run_a"], run_b=meta["run_b"], complete=complete,
                               requests=meta["requests"], provenance=meta["provenance"], format_version=version)
    tasks = {}
    for task, per in doc["tasks"].items():
        if not isinstance(per, dict):
            problems.append(Problem(str(path), f"tasks.{task} is {type_name(per)}, not an object; skipped"))
            continue
        kept = entries(f"tasks.{task}", per, JudgeEntry)
        if kept:
            tasks[task] = kept
    pooled = doc.get("languages") if isinstance(doc.get("languages"), dict) else {}
    languages = {p: entries(f"languages.{p}", rows, JudgeEntry) for p, rows in pooled.items() if isinstance(rows, dict)}
    return JudgeResults(tasks=tasks, languages=languages, complete=complete, requests=meta["requests"],
                        provenance=meta["provenance"], format_version=version)
