"""``lm-eval-ext compare BASELINE CANDIDATE``: the CI regression board.

For every task and language present in both runs (by default each family's
primary metric: the first one lm-eval lists), it reports

- delta = candidate - baseline (raw metric units);
- a 95% CI of the delta: a paired bootstrap over the items both runs scored,
  from the samples logs (``--log_samples``); when a run has no samples log for
  the task (or the metric has no per-item score), a normal approximation from
  the stderrs in the results, ``delta ± 1.96·sqrt(se_b² + se_c²)``, with a warning;
- a verdict, with ``t = --threshold`` (raw units; direction from lm-eval's
  ``higher_is_better``): *regressed* when the change is worse than ``t`` and the
  CI lies entirely on the worse side of 0; *improved* symmetrically; otherwise
  *unchanged*. ``--no-significance`` judges by the threshold alone;
- *missing*: a task, language and metric the baseline has and the candidate
  does not (or has no number for); it fails the gate unless ``--allow-missing``.

Exit status: 0 the gate passed, 1 the gate failed (a regression or a missing
result), 2 unusable input, usage or an output that cannot be written (never 1).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting.document import md_cell
from lm_eval_ext.formats.run_folder import Problem, item_scores
from lm_eval_ext.reporting.rows import row_key
from lm_eval_ext.reporting.runs import Run, judge_item_scores, load_runs, sample_lines
from lm_eval_ext.reporting.tables import HELPER_METRIC_SUFFIXES, metric_label

REGRESSED, IMPROVED, UNCHANGED, MISSING = "regressed", "improved", "unchanged", "missing"
FAILING = (REGRESSED, MISSING)


class CompareError(ValueError):
    pass


@dataclass
class Row:
    task: str
    family: str
    langs: tuple
    metric: str
    base: float
    cand: float | None  # None: missing in the candidate
    delta: float | None
    lo: float | None
    hi: float | None
    n: int | None
    method: str  # "paired bootstrap" | "stderr" | "none"
    higher_is_better: bool
    verdict: str = UNCHANGED


def _one_run(path, role, problems) -> Run:
    runs, _ = load_runs([path], problems)
    if not runs:
        raise CompareError(f"{role} {path}: no usable lm-eval results ("
                           + "; ".join(str(p) for p in problems if str(path) in p.where) + ")")
    if len(runs) > 1:
        raise CompareError(f"{role} {path}: holds {len(runs)} runs ({', '.join(str(r.path) for r in runs)}); "
                           "give one run folder")
    return runs[0]


def _selected(run: Run, metrics: list[str] | None, all_metrics: bool) -> set[tuple[str, str]]:
    """(family, metric key) pairs to compare."""
    primary: dict[str, str] = {}
    every: set[tuple[str, str]] = set()
    for cell in run.cells:
        name = cell.metric.partition(",")[0]
        if name.endswith(HELPER_METRIC_SUFFIXES):
            continue
        every.add((cell.family, cell.metric))
        primary.setdefault(cell.family, cell.metric)
    if metrics:
        want = set(metrics)
        return {(f, m) for f, m in every
                if m.partition(",")[0] in want or m in want or m.replace(",", ":") in want}
    if all_metrics:
        return every
    return set(primary.items())


def compare_runs(base: Run, cand: Run, threshold: float = 0.01, metrics=None, all_metrics=False,
                 significance=True, iters: int = bootstrap.DEFAULT_ITERS, problems=None,
                 allow_missing: bool = False) -> tuple[list[Row], list[Problem]]:
    problems = [] if problems is None else problems
    sel = _selected(base, metrics, all_metrics) | _selected(cand, metrics, all_metrics)
    cand_cells = {(c.task, c.langs, c.metric): c for c in cand.cells}
    base_keys = set()
    rows: list[Row] = []
    for c in base.cells:
        if (c.family, c.metric) not in sel:
            continue
        key = (c.task, c.langs, c.metric)
        base_keys.add(key)
        other = cand_cells.get(key)
        hib = base.tasks[c.task].higher_is_better.get(c.metric.partition(",")[0], True) is not False
        if other is None:
            why = cand.undefined.get((c.family, c.langs, c.metric))
            what = (f"the candidate has no {c.task} / {row_key(c.langs)} / {metric_label(c.metric)} "
                    f"({'undefined: ' + why if why else 'the baseline has'})")
            if allow_missing:
                problems.append(Problem(str(cand.path), f"{what}; not compared (--allow-missing)"))
            else:
                problems.append(Problem(str(cand.path), f"{what}; the gate fails (--allow-missing to accept)"))
                rows.append(Row(c.task, c.family, c.langs, c.metric, c.score.value, None, None, None, None, None,
                                "none", hib, MISSING))
            continue
        delta = other.score.value - c.score.value
        lo = hi = n = None
        method = "none"
        if c.sample_metric and c.task in base.samples and c.task in cand.samples:
            b = item_scores(sample_lines(base, c.task, problems), c.metric)
            k = item_scores(sample_lines(cand, c.task, problems), c.metric)
            if b and k and set(b) & set(k):
                delta, lo, hi, n = bootstrap.paired_bootstrap(b, k, iters=iters)
                method = "paired bootstrap"
                if len(set(b) ^ set(k)):
                    problems.append(Problem(f"{c.task}", f"{len(set(b) ^ set(k))} item(s) scored in one run only; "
                                                         f"the paired bootstrap uses the {n} shared items"))
        elif c.metric.startswith("judge/"):  # judge scores: paired over the items both runs' judges parsed
            b, k = judge_item_scores(base, c.task, c.metric), judge_item_scores(cand, c.task, c.metric)
            if b and k and set(b) & set(k):
                delta, lo, hi, n = bootstrap.paired_bootstrap(b, k, iters=iters)
                method = "paired bootstrap"
        if method == "none":
            missing = [r.path for r in (base, cand) if c.task not in r.samples]
            why = (f"no samples log in {', '.join(map(str, missing))}" if missing
                   else "no per-item scores of this metric in the samples logs")
            if c.score.stderr is not None and other.score.stderr is not None:
                se = math.sqrt(c.score.stderr ** 2 + other.score.stderr ** 2)
                lo, hi = delta - 1.96 * se, delta + 1.96 * se
                method = "stderr"
                problems.append(Problem(c.task, f"{why}: CI from the results' stderr (normal approximation)"))
            else:
                problems.append(Problem(c.task, f"{why}, and no stderr in the results: no CI; verdict by threshold only"))
        row = Row(c.task, c.family, c.langs, c.metric, c.score.value, other.score.value, delta, lo, hi, n, method, hib)
        row.verdict = verdict(row, threshold, significance)
        rows.append(row)
    sel_families = {f for f, _ in sel}
    for c in cand.cells:
        if c.family in sel_families and (c.task, c.langs, c.metric) not in base_keys and (c.family, c.metric) in sel:
            problems.append(Problem(str(base.path), f"the baseline has no {c.task} / {row_key(c.langs)} / "
                                                    f"{metric_label(c.metric)} (the candidate has); not compared"))
    rows.sort(key=lambda r: (r.family, r.langs, r.task, r.metric))
    return rows, problems


def verdict(row: Row, threshold: float, significance: bool = True) -> str:
    sign = 1.0 if row.higher_is_better else -1.0
    d = sign * row.delta
    if row.lo is not None and row.hi is not None:
        lo, hi = sorted((sign * row.lo, sign * row.hi))
    else:
        lo = hi = d
    if d < -threshold and (not significance or hi < 0):
        return REGRESSED
    if d > threshold and (not significance or lo > 0):
        return IMPROVED
    return UNCHANGED


# -------------------------------------------------------------------- outputs
def _n(v, digits=4) -> str:
    return "—" if v is None else f"{v:+.{digits}f}"


def _v(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def _ci(r: Row) -> str:
    return "—" if r.lo is None else f"[{r.lo:+.4f}, {r.hi:+.4f}]"


def to_table(rows: list[Row], base: Run, cand: Run, threshold: float) -> str:
    head = ["task", "lang", "metric", "baseline", "candidate", "delta", "95% CI", "CI from", "verdict"]
    body = [[r.task, row_key(r.langs), metric_label(r.metric), _v(r.base), _v(r.cand), _n(r.delta), _ci(r),
             r.method, r.verdict.upper() if r.verdict in FAILING else r.verdict] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
    lines = [f"baseline:  {base.label}  ({base.path})", f"candidate: {cand.label}  ({cand.path})",
             f"threshold: {threshold}", ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in body]
    lines.append("")
    lines.append(summary(rows))
    return "\n".join(lines) + "\n"


def summary(rows: list[Row]) -> str:
    counts = {v: sum(r.verdict == v for r in rows) for v in (REGRESSED, IMPROVED, UNCHANGED, MISSING)}
    compared = len(rows) - counts[MISSING]
    text = (f"{compared} compared: {counts[REGRESSED]} regressed, {counts[IMPROVED]} improved, "
            f"{counts[UNCHANGED]} unchanged")
    if counts[MISSING]:
        text += f"; {counts[MISSING]} missing in the candidate"
    return text


def to_markdown(rows: list[Row], base: Run, cand: Run, threshold: float, problems: list[Problem]) -> str:
    icon = {REGRESSED: "🔴 regressed", IMPROVED: "🟢 improved", UNCHANGED: "⚪ unchanged",
            MISSING: "🔴 missing in candidate"}
    out = ["## lm-eval-ext regression board", "",
           f"Baseline **{md_cell(base.label)}** vs candidate **{md_cell(cand.label)}**; threshold {threshold}; "
           f"CI: {bootstrap.signature()} (paired over items) or results stderr.", "", summary(rows), "",
           "| task | lang | metric | baseline | candidate | delta | 95% CI | verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r.verdict not in FAILING, r.verdict != IMPROVED, r.family, r.langs)):
        out.append(f"| {md_cell(r.task)} | {md_cell(row_key(r.langs))} | {md_cell(metric_label(r.metric))} | "
                   f"{_v(r.base)} | {_v(r.cand)} | {_n(r.delta)} | {_ci(r)} | {icon[r.verdict]} |")
    seen = set()
    notes = [p for p in problems if not (p in seen or seen.add(p))]
    if notes:
        out += ["", "<details><summary>Warnings</summary>", ""] + [f"- {md_cell(p)}" for p in notes] + ["", "</details>"]
    return "\n".join(out) + "\n"


def to_junit(rows: list[Row], base: Run, cand: Run, threshold: float) -> str:
    fails = sum(r.verdict in FAILING for r in rows)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="lm-eval-ext compare" tests="{len(rows)}" failures="{fails}">',
           f'<testsuite name={quoteattr(f"{base.label} -> {cand.label}")} tests="{len(rows)}" failures="{fails}">']
    for r in rows:
        name = f"{r.task}/{row_key(r.langs)}/{metric_label(r.metric)}"
        if r.verdict == MISSING:
            msg = f"missing: the baseline has {r.base:.4f}, the candidate has no result"
        else:
            msg = (f"{r.verdict}: {r.base:.4f} -> {r.cand:.4f} (delta {r.delta:+.4f}, 95% CI {_ci(r)}, "
                   f"{r.method}, threshold {threshold})")
        out.append(f'<testcase classname={quoteattr(r.family)} name={quoteattr(name)}>')
        if r.verdict in FAILING:
            out.append(f'<failure message={quoteattr(msg)} type="{r.verdict}">{xml_escape(msg)}</failure>')
        else:
            out.append(f"<system-out>{xml_escape(msg)}</system-out>")
        out.append("</testcase>")
    out += ["</testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def run_compare(args, out=sys.stdout, err=sys.stderr) -> int:
    from lm_eval_ext import files

    problems: list[Problem] = []
    try:
        for path in (args.markdown, args.junit):  # before any work: a bad output path is a usage error
            if path:
                files.prepare_output(path)
        base = _one_run(args.baseline, "baseline", problems)
        cand = _one_run(args.candidate, "candidate", problems)
    except (CompareError, files.OutputError) as e:
        print(f"lm-eval-ext compare: error: {e}", file=err)
        return ExitCode.BAD_INPUT
    base.label = base.label or "baseline"
    rows, problems = compare_runs(base, cand, threshold=args.threshold, metrics=args.metric,
                                  all_metrics=args.all_metrics, significance=not args.no_significance,
                                  iters=args.bootstrap_iters, problems=problems, allow_missing=args.allow_missing)
    seen = set()
    for p in problems:
        if p not in seen:
            seen.add(p)
            print(f"lm-eval-ext compare: warning: {p}", file=err)
    if not rows:
        print("lm-eval-ext compare: error: no task and language present in both runs", file=err)
        return ExitCode.BAD_INPUT
    renders = {
        "table": lambda: to_table(rows, base, cand, args.threshold),
        "md": lambda: to_markdown(rows, base, cand, args.threshold, problems),
        "junit": lambda: to_junit(rows, base, cand, args.threshold),
    }
    for path, fmt in ((args.markdown, "md"), (args.junit, "junit")):
        if path:
            files.write_output(path, renders[fmt]())  # OutputError: exit 2 (cli)
    out.write(renders[args.format]())
    return ExitCode.REGRESSED if any(r.verdict in FAILING for r in rows) else ExitCode.OK
