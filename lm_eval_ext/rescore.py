"""``lm-eval-ext rescore RUN_DIR --metrics comet,bleurt``: neural metrics for a finished run.

For runs made where no GPU or checkpoint was available: reads the run folder
with the same reader as report, leaderboard and compare (`lm_eval_ext.runs`:
results files merged, the newest winning per task; truncated or corrupt files
and bad log lines reported and skipped), scores the logged translations of
every FLORES task (``filtered_resps``, what BLEU was computed on) with the
metrics asked for (`lm_eval_ext.metrics.neural`, cache included), and writes a
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

from lm_eval_ext import files
from lm_eval_ext.metrics import neural as neural_metrics
from lm_eval_ext.runs import RESULTS_RE, Problem, Run, load_runs, read_samples

FILTER = "translation"


class RescoreError(RuntimeError):
    pass


def triples_of(samples: list[dict], path: Path) -> list[tuple[str, str, str]]:
    out = []
    for s in samples:
        if s.get("filter", FILTER) != FILTER:
            continue
        doc, resps = s.get("doc") or {}, s.get("filtered_resps")
        if (not isinstance(doc, dict) or not isinstance(resps, list) or not resps
                or not isinstance(doc.get("source"), str) or not isinstance(doc.get("reference"), str)):
            raise RescoreError(f"{path}: doc {s.get('doc_id')} lacks doc.source/doc.reference/filtered_resps")
        out.append((doc["source"], str(resps[0]), doc["reference"]))
    if not out:
        raise RescoreError(f"{path}: no samples of filter {FILTER!r}")
    return out


def _leaves(name: str, subtasks: dict, seen=()) -> list[str]:
    out = []
    for child in subtasks.get(name, []):
        if child in seen:
            continue
        out.extend(_leaves(child, subtasks, (*seen, name)) if child in subtasks else [child])
    return out


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def flores_tasks(run: Run) -> list[str]:
    configs = run.data.get("configs") or {}
    return [t for t, info in run.tasks.items() if not info.is_group
            and ((configs.get(t) or {}).get("dataset_kwargs") or {}).get("family") == "flores"]


def rescore_run(run: Run, metrics: list[str], problems: list[Problem]) -> tuple[Path | None, bool]:
    """(the new results file or None when nothing new was computed, whether everything asked was)."""
    tasks = flores_tasks(run)
    if not tasks:
        problems.append(Problem(str(run.path), "no FLORES task in this run; nothing to rescore"))
        return None, False
    doc = copy.deepcopy(run.data)
    configs, results = doc.setdefault("configs", {}), doc["results"]
    computed: list[tuple[str, str]] = []
    carried: dict[str, list[str]] = {}
    complete = True
    for task in tasks:
        path = run.samples.get(task)
        if path is None:
            problems.append(Problem(str(run.path), f"task {task}: no samples_{task}_*.jsonl; rescoring needs a run "
                                                   "made with --log_samples; task not rescored"))
            complete = False
            continue
        bad: list[Problem] = []
        lines = read_samples(path, bad)
        if bad:
            problems.extend(bad)
            problems.append(Problem(str(path), f"task {task} not rescored: its log has unreadable lines, and a "
                                               "score over part of the items is not the task's score"))
            complete = False
            continue
        try:
            triples = triples_of(lines, path)
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
            value = neural_metrics.system_score(metric, items)
            key = f"{metric},{FILTER}"
            if _finite(value):
                entry[key] = value
                entry[f"{metric}_stderr,{FILTER}"] = "N/A"
                sigs[metric] = neural_metrics.signature(metric)
                skipped.pop(metric, None)
                computed.append((task, metric))
                continue
            complete = False
            reason = neural_metrics.SKIPPED.get(metric, "not computed")
            if _finite(entry.get(key)):  # never hide an earlier valid value behind a NaN
                carried.setdefault(task, []).append(metric)
                problems.append(Problem(task, f"{metric} could not be computed now ({reason}); the earlier value "
                                              f"{entry[key]:.4f} is carried forward"))
            else:
                entry[key] = float("nan")
                entry[f"{metric}_stderr,{FILTER}"] = "N/A"
                sigs[metric] = neural_metrics.signature(metric)
                skipped[metric] = reason
                problems.append(Problem(task, f"{metric} could not be computed ({reason})"))
        meta.update(metric_signatures=sigs, skipped_metrics=skipped)
        configs[task] = {**(configs.get(task) or {}), "metadata": meta}
    if not computed:
        return None, False
    subtasks = doc.get("group_subtasks") or {}
    for group in subtasks:
        leaves = [t for t in _leaves(group, subtasks) if isinstance(results.get(t), dict)]
        for metric in {m for _, m in computed}:
            key = f"{metric},{FILTER}"
            values = [results[t][key] for t in leaves if isinstance(results[t].get(key), (int, float))]
            if values and isinstance(results.get(group), dict) and key in results[group]:
                results[group][key] = sum(values) / len(values)  # NaN stays NaN: one skipped language shows
    doc["lm_eval_ext_rescore"] = {
        "rescored_from": [p.name for p in run.results_files],
        "metrics": metrics,
        "tasks": sorted({t for t, _ in computed}),
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
    unknown = [m for m in metrics if m not in neural_metrics.METRICS]
    if unknown or not metrics:
        print(f"lm-eval-ext rescore: error: unknown metric(s) {unknown}; choose from "
              f"{','.join(neural_metrics.METRICS)}", file=sys.stderr)
        return 2
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
        print(f"{metric}: {neural_metrics.signature(metric)}")
    return 0 if complete and written else 2
