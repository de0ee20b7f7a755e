"""``lm-eval-ext rescore RUN_DIR --metrics comet,bleurt``: neural metrics for a finished run.

For runs made where no GPU or checkpoint was available: reads the run folder
with the same reader as report, leaderboard and compare (`reporting.runs`:
results files merged, the newest winning per task; truncated or corrupt files
and bad log lines reported and skipped), scores the logged translations of
every task whose family can be rescored (the registry's `Rescore`: FLORES's
``filtered_resps``, what BLEU was computed on) with the
metrics asked for (`lm_eval_ext.runtime.neural`, cache included), and writes a
NEW results file beside the old ones (atomically): the run's merged results
with the rescored task metrics, the group means recomputed the way the groups
define them (mean over their language tasks), the new signatures in each task's
``metadata.metric_signatures`` and an ``lm_eval_ext_rescore`` record. Existing
files are never modified; reports read the newer file as winning per task.

A metric that cannot be computed now never hides a value computed before: the
earlier value (and its signature) is carried forward, and recorded as such. A
rescore that computes nothing new writes nothing. A task whose samples log has
unreadable lines is not rescored (a score over part of its items would be
reported as the task's). Exit status: 0 everything asked was computed, 2
something could not be (named on stderr; what was computed is written).
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime
from pathlib import Path

from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext import files
from lm_eval_ext.missing import NotComputed
from lm_eval_ext.families.base import RescoreError
from lm_eval_ext.runtime import neural
from lm_eval_ext.formats.run_folder import RESCORE_RECORD, RESULTS_RE, Problem
from lm_eval_ext.reporting.runs import Run, load_runs, sample_lines


def _leaves(name: str, subtasks: dict, seen=()) -> list[str]:
    out = []
    for child in subtasks.get(name, []):
        if child in seen:
            continue
        out.extend(_leaves(child, subtasks, (*seen, name)) if child in subtasks else [child])
    return out


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rescorable_tasks(run: Run) -> dict:
    """{task: its family's `Rescore`} of the run's tasks whose family can be rescored."""
    out = {}
    for task, info in run.tasks.items():
        family = info.ours
        if not info.is_group and family is not None and family.rescore is not None:
            out[task] = family.rescore
    return out


def rescore_run(run: Run, metrics: list[str], problems: list[Problem]) -> tuple[Path | None, bool]:
    """(the new results file or None when nothing new was computed, whether everything asked was)."""
    tasks = rescorable_tasks(run)
    if not tasks:
        problems.append(Problem(str(run.path), "no FLORES task in this run; nothing to rescore"))
        return None, False
    doc = copy.deepcopy(run.data)
    configs, results = doc.setdefault("configs", {}), doc["results"]
    computed: list[tuple[str, str, str]] = []  # (task, metric, filter)
    carried: dict[str, list[str]] = {}
    complete = True
    for task, rescore in tasks.items():
        path = run.samples.get(task)
        if path is None:
            problems.append(Problem(str(run.path), f"task {task}: no samples_{task}_*.jsonl; rescoring needs a run "
                                                   "made with --log_samples; task not rescored"))
            complete = False
            continue
        bad: list[Problem] = []
        lines = sample_lines(run, task, bad)
        if bad:
            problems.extend(bad)
            problems.append(Problem(str(path), f"task {task} not rescored: its log has unreadable lines, and a "
                                               "score over part of the items is not the task's score"))
            complete = False
            continue
        try:
            triples = rescore.triples(lines, path)
        except RescoreError as err:
            problems.append(Problem(str(path), f"{err}; task {task} not rescored"))
            complete = False
            continue
        meta = dict((configs.setdefault(task, {}) or {}).get("metadata") or {})
        sigs = dict(meta.get("metric_signatures") or {})
        skipped = dict(meta.get("skipped_metrics") or {})
        entry = results.setdefault(task, {})
        for metric in metrics:
            items = triples if metric == "comet" else [("", h, r) for _, h, r in triples]
            value = neural.score(metric, items)
            key = f"{metric},{rescore.filter}"
            if _finite(value):
                entry[key] = value
                entry[f"{metric}_stderr,{rescore.filter}"] = "N/A"
                sigs[metric] = str(neural.signature(metric))
                skipped.pop(metric, None)
                computed.append((task, metric, rescore.filter))
                continue
            complete = False
            reason = value.skip.reason if isinstance(value, NotComputed) else "not computed"
            if _finite(entry.get(key)):  # never hide an earlier valid value behind a NaN
                carried.setdefault(task, []).append(metric)
                problems.append(Problem(task, f"{metric} could not be computed now ({reason}); the earlier value "
                                              f"{entry[key]:.4f} is carried forward"))
            else:
                entry[key] = float("nan")
                entry[f"{metric}_stderr,{rescore.filter}"] = "N/A"
                sigs[metric] = str(neural.outcome(metric, value))
                skipped[metric] = reason
                problems.append(Problem(task, f"{metric} could not be computed ({reason})"))
        meta.update(metric_signatures=sigs, skipped_metrics=skipped)
        configs[task] = {**(configs.get(task) or {}), "metadata": meta}
    if not computed:
        return None, False
    subtasks = doc.get("group_subtasks") or {}
    for group in subtasks:
        leaves = [t for t in _leaves(group, subtasks) if isinstance(results.get(t), dict)]
        for metric, filt in {(m, f) for _, m, f in computed}:
            key = f"{metric},{filt}"
            values = [results[t][key] for t in leaves if isinstance(results[t].get(key), (int, float))]
            if values and isinstance(results.get(group), dict) and key in results[group]:
                results[group][key] = sum(values) / len(values)  # NaN stays NaN: one skipped language shows
    doc[RESCORE_RECORD] = {
        "rescored_from": [p.name for p in run.results_files],
        # the samples log behind every task's numbers (the reader pairs them with this file)
        "samples": {t: p.name for t, p in sorted(run.samples.items())},
        "metrics": metrics,
        "tasks": sorted({t for t, _, _ in computed}),
        "carried_forward": carried,
        "at": datetime.now().isoformat(timespec="seconds"),
    }
    return _write_results(run.path, doc), complete


def _write_results(folder: Path, doc: dict) -> Path:
    newest = max((m["date"] for p in folder.glob("results_*.json") if (m := RESULTS_RE.match(p.name))), default="")
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")
    if stamp <= newest:  # keep the rescored file the newest (a clock behind the run's)
        stamp = newest + "1"
    out = folder / f"results_{stamp}.json"
    if out.exists():
        raise RescoreError(f"{out} exists; not overwriting")
    files.write_atomic(out, json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    return out


def run_rescore(args) -> int:
    import sys

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in neural.METRICS]
    if unknown or not metrics:
        print(f"lm-eval-ext rescore: error: unknown metric(s) {unknown}; choose from "
              f"{','.join(neural.METRICS)}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    problems: list[Problem] = []
    runs, _ = load_runs([args.run_dir], problems)
    written, complete = [], bool(runs)
    for run in runs:
        path, done = rescore_run(run, metrics, problems)
        complete = complete and done
        if path is None:
            problems.append(Problem(str(run.path), "nothing new was computed; no results file written (earlier "
                                                   "results stay as they are)"))
        else:
            written.append(path)
    for p in dict.fromkeys(problems):
        print(f"lm-eval-ext rescore: {'warning' if written else 'error'}: {p}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    for metric in metrics:
        print(f"{metric}: {neural.signature(metric)}")
    return ExitCode.OK if complete and written else ExitCode.BAD_INPUT
