"""What the report shows of comparability (`reporting.comparability`): which cells set side
by side were made another way than the first column's, the warning that names the field and
both values, the per-run table of how the numbers were made, and the note on how the family
means' CIs were computed."""

from __future__ import annotations

from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting import comparability
from lm_eval_ext.reporting.document import Cell, Code, Paragraph, Row, Span, Strong, Table
from lm_eval_ext.reporting.tables import STDERR_INDEPENDENT


def differing_cells(runs, tables) -> dict:
    """{(id(table), langs, run index): (task, [Difference])} for every cell whose task was made
    another way than the first run's cell of the same row (for the table's metric)."""
    out = {}
    for t in tables:
        name = t.metric.partition(",")[0]
        for (langs, i), cell in t.cells.items():
            ref = t.cells.get((langs, 0))
            if i == 0 or ref is None:
                continue
            diffs = comparability.task_differences(runs[0], ref.task, runs[i], cell.task, metrics=[name])
            if diffs:
                out[(id(t), langs, i)] = (cell.task, diffs)
    return out


def warnings(runs, tables, differs: dict, mark: str) -> list:
    """One marked warning paragraph per run whose cells among a family's tables were made another
    way than the first run's: the fields, the first run's value, then this run's."""
    per_run: dict = {}
    ids = {id(t) for t in tables}
    for (tid, _, i), (task, diffs) in differs.items():
        if tid in ids:
            per_run.setdefault(i, {}).setdefault(task, diffs)
    return [Paragraph([Strong("⚠ not comparable side by side"), f" (cells marked{mark}): ",
                       f"{runs[0].label} vs {runs[i].label}: {comparability.summary_text(list(tasks.values()))} ",
                       Span(f"({_short_list(tasks)})", "muted")], cls="warn")
            for i, tasks in sorted(per_run.items())]


def mean_note(intervals) -> str:
    """How the family means' CIs of a table were computed (`tables.mean_intervals` per run)."""
    methods = {ci.method for per_run in intervals for ci in per_run.values()}
    words = {bootstrap.CLUSTER_ITEM: "items resampled jointly across languages (parallel items; ci:cluster-item)",
             bootstrap.INDEPENDENT: "each language's items resampled independently (items not parallel)",
             STDERR_INDEPENDENT: "normal approximation from the languages' stderrs, languages independent"}
    return ("family means [95% CI]: " + "; ".join(words[m] for m in sorted(methods))) if methods else ""


def made_table(run) -> Table:
    """How the run's numbers were made: each field's values and the tasks that have each (a field
    with a value per task, such as the scorer or the task hash, in one line)."""
    grouped: dict = {}
    for task, info in run.tasks.items():
        if info.is_group:
            continue
        for field, value in comparability.provenance(run, task).items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
            grouped.setdefault(field, {}).setdefault(value, []).append(task)
    rows = []
    n_tasks = sum(not info.is_group for info in run.tasks.values())
    for field, values in grouped.items():
        if len(values) > 3:  # per task (language): scorers are listed below, hashes in the results
            rows.append(Row([Cell(field, header=True), Cell(Span(f"{len(values)} values, per task", "muted")),
                             Cell(Span(_short_list(t for ts in values.values() for t in ts), "muted"))]))
            continue
        for value, tasks in values.items():
            shown = [Code(value)] if field in ("scorer", "task hash", "gen_kwargs") or " signature" in field else value
            rows.append(Row([Cell(field, header=True), Cell(shown),
                             Cell(Span("all tasks" if len(tasks) == n_tasks else _short_list(tasks), "muted"))]))
    return Table(["how the numbers were made", "value", "tasks"], rows,
                 caption="compared field by field before columns are set side by side (lm-eval version: shown only)",
                 cls="kv")


def _short_list(items, n=6) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
