"""One model's runs merged (`reporting.runs`: a folder's results files, the report's columns,
the leaderboard's rows).

Runs of one model identity (and, for a self-translate stage 2, one stage-1 model) merge: newest
first, a run joins the first merged run it is comparable with on every task both hold
(`comparability.task_differences`), else it stays apart, marked with the difference. In a merged
run a task's result, samples log, judge entries and latent-language pair come from the newest run
holding it, so every per-item number stays the one of the invocation that produced the result shown.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lm_eval_ext.formats.run_folder import Problem, stamp
from lm_eval_ext.reporting import comparability

if TYPE_CHECKING:
    from lm_eval_ext.reporting.runs import Run

# the sections of a results document keyed by task (or group): merged per task, the winner's entry
_PER_TASK = ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "task_hashes", "groups",
             "group_subtasks")


def subset(run: Run, tasks: set[str]) -> Run:
    """A run of some of `run`'s tasks (and the groups over them)."""
    subtasks = run.data.get("group_subtasks") or {}
    keep = set(tasks) | {g for g, leaves in subtasks.items() if isinstance(leaves, list) and set(leaves) & tasks}
    data = {k: ({t: v for t, v in run.data[k].items() if t in keep} if k in _PER_TASK and isinstance(run.data[k], dict)
                else run.data[k]) for k in run.data}
    undefined_tasks = {k: t for k, t in run.undefined_tasks.items() if t in keep}
    return replace(run, results_files=list(run.results_files), data=data,
                   tasks={t: i for t, i in run.tasks.items() if t in keep},
                   cells=[c for c in run.cells if c.task in keep],
                   samples={t: p for t, p in run.samples.items() if t in keep},
                   sources={t: p for t, p in run.sources.items() if t in keep},
                   undefined={k: v for k, v in run.undefined.items() if k in undefined_tasks},
                   undefined_tasks=undefined_tasks, judge=[], pairwise=[], parts=[],
                   latent={t: v for t, v in run.latent.items() if t in keep})



def _newest(run: Run) -> str:
    return max((stamp(p) or "" for p in run.results_files), default="")


def merge_same_model(runs: list[Run], problems: list[Problem]) -> list[Run]:
    """Runs of one model identity (and stage-1 origin) merged: newest first, a run joins the
    first merged run it is comparable with on every task both hold, else it stays apart (marked
    with the difference). In each merged run a task's result, samples log and judge entries come
    from the newest run holding it. Output in the order of the runs' first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        other = run.answering
        groups.setdefault((run.model_identity.key, other.key if other else None), []).append(i)
    merged: list[tuple[int, Run]] = []
    for indices in groups.values():
        order = sorted(indices, key=lambda i: (_newest(runs[i]), i), reverse=True)  # later input breaks ties
        columns: list[list[int]] = []
        for i in order:
            run, apart = runs[i], []
            for col in columns:
                diffs = _differences([runs[j] for j in col], run)
                if not diffs:
                    col.append(i)
                    break
                apart.append((runs[col[0]], diffs))
            else:
                columns.append([i])
                for other, (task, diffs) in apart:
                    why = f"{task}: {'; '.join(map(str, diffs))}"
                    run.note = (run.note + "; " if run.note else "") + (
                        f"same model as {_where(other)}, not merged: {why}")
                    problems.append(Problem(_where(run), f"same model ({run.title}) as {_where(other)}, but {why}; "
                                                         "not merged: both shown, marked"))
        merged += [(min(col), _merge([runs[j] for j in col], problems)) for col in columns]
    return [run for _, run in sorted(merged, key=lambda x: x[0])]


def _where(run: Run) -> str:
    return ", ".join(str(f) for f in run.results_files) if len(run.results_files) <= 2 else str(run.path)


def _differences(column: list[Run], run: Run):
    """(task, differences) of the first task `run` shares with a run of `column` that was produced
    another way; None when every shared task is comparable."""
    for member in column:
        for task in sorted(set(member.tasks) & set(run.tasks)):
            if member.tasks[task].is_group:
                continue
            diffs = comparability.task_differences(member, task, run, task)
            if diffs:
                return task, diffs
    return None


def _merge(column: list[Run], problems: list[Problem]) -> Run:
    """One run of a model from `column` (newest first): per task everything from the newest run holding it."""
    if len(column) == 1:
        return column[0]
    winners: dict[str, Run] = {}
    for run in column:
        for task in run.tasks:
            winners.setdefault(task, run)
    newest = column[0]
    data = {k: v for k, v in newest.data.items() if k not in _PER_TASK}
    for key in _PER_TASK:
        section: dict = {}
        for run in column:  # newest first: a name no winner has comes from the newest run holding it
            for name, value in (run.data.get(key) or {}).items() if isinstance(run.data.get(key), dict) else ():
                if winners.get(name, run) is run:
                    section.setdefault(name, value)
        if section or any(key in run.data for run in column):
            data[key] = section
    files = sorted({f for run in column for f in run.results_files}, key=lambda p: (p.name, str(p)))
    oldest_first = list(reversed(column))
    out = replace(newest, results_files=files, data=data, _identity=newest.model_identity, label="",
                  parts=[p for run in column for p in (run.parts or [run])],
                  tasks={t: r.tasks[t] for t, r in winners.items()},
                  cells=[c for r in oldest_first for c in r.cells if winners.get(c.task) is r],
                  samples={t: r.samples[t] for t, r in winners.items() if t in r.samples},
                  sources={t: r.sources[t] for t, r in winners.items() if t in r.sources},
                  latent={t: r.latent[t] for t, r in winners.items() if t in r.latent},
                  undefined={}, undefined_tasks={}, judge=[], pairwise=[])
    for r in oldest_first:
        for key, task in r.undefined_tasks.items():
            if winners.get(task) is r:
                out.undefined_tasks[key] = task
                out.undefined[key] = r.undefined[key]
        for f, doc in r.judge:
            mine = {t: per for t, per in doc.tasks.items() if winners.get(t) is r}
            if mine:
                out.judge.append((f, replace(doc, tasks=mine)))
        out.pairwise += r.pairwise
    out.judge.sort(key=lambda x: x[0].name)
    out.note = "; ".join(r.note for r in column if r.note)
    for r in column[1:]:
        replaced = sorted(t for t in r.tasks if winners[t] is not r and not r.tasks[t].is_group
                          and winners[t].sources.get(t, Path()).parent != r.sources.get(t, Path()).parent)
        if replaced:
            by = sorted({str(winners[t].sources.get(t, winners[t].path)) for t in replaced})
            problems.append(Problem(_where(r), f"{len(replaced)} task(s) ({', '.join(replaced[:6])}"
                                               f"{' …' if len(replaced) > 6 else ''}) replaced by the newer result "
                                               f"of the same model, produced the same way, in {', '.join(by)}"))
    return out


def same_identity(runs: list[Run]) -> list[tuple[Run, Run]]:
    """(older, newer) for every run whose run id a newer run also has; newer = later results file
    date (input order breaks ties)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.identity, []).append(run)
    out = []
    for same in groups.values():
        if len(same) > 1:
            newest = max(reversed(same), key=_newest)
            out += [(r, newest) for r in same if r is not newest]
    return out
