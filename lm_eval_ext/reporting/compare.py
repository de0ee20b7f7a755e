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
  does not (or has no number for); it fails the gate unless ``--allow-missing``;
- *not comparable*: the task was made another way in the two runs (task version,
  scorer or metric signature, few-shot count, chat template, gen_kwargs, ...:
  `reporting.comparability`); the row says which field and both values, it fails
  the gate with exit 4 unless ``--allow-incomparable`` (then it is listed, not gated).

Per family and metric, rows of statistics over the languages both runs have: the
mean (``@all``), the best-minus-worst spread (``@spread``) and the English gap
(``@gap_en``), with a paired bootstrap that resamples items jointly across languages
when the family's items are parallel (``Family.item_key``, ``ci:cluster-item``), else
each language's items. They are shown; ``--gate means`` / ``--gate parity`` gate them
(parity regresses when the spread or the English advantage grows).

Exit status (`ExitCode.worst`): 2 unusable input, usage or an output that cannot be
written; else 4 a gated task is not comparable; else 1 the gate failed (a regression
or a missing result); else 0.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import numpy as np

from lm_eval_ext import missing as reasons
from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting import comparability
from lm_eval_ext.reporting.document import md_cell
from lm_eval_ext.formats.run_folder import Problem, item_scores
from lm_eval_ext.reporting.rows import row_key
from lm_eval_ext.reporting.runs import Run, judge_item_scores, kind_of, load_runs, sample_lines
from lm_eval_ext.reporting.tables import (HELPER_METRIC_SUFFIXES, family_means, item_key_of, keyed_item_scores,
                                          mean_statistics, metric_label)

REGRESSED, IMPROVED, UNCHANGED, MISSING = "regressed", "improved", "unchanged", "missing"
NOT_COMPARABLE = "not comparable"
FAILING = (REGRESSED, MISSING)
FAMILY_KINDS = ("all", "spread", "gap_en")  # statistics over a family's languages, in row order
GATES = {"all": "means", "spread": "parity", "gap_en": "parity"}


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
    kind: str = ""  # "": a language row; "all", "spread", "gap_en": a statistic over the family's languages
    gated: bool = True  # whether its verdict counts for the exit status
    incomparable: str = ""  # what differs: "task version 1.1 vs 2.0; ..."
    differences: list = field(default_factory=list)  # the comparability.Difference behind it

    @property
    def lang(self) -> str:
        return f"@{self.kind}" if self.kind else row_key(self.langs)


def _one_run(path, role, problems) -> Run:
    runs, _ = load_runs([path], problems)
    if not runs:
        raise CompareError(f"{role} {path}: no usable lm-eval results ("
                           + "; ".join(str(p) for p in problems if str(path) in p.where) + ")")
    if len(runs) > 1:
        raise CompareError(f"{role} {path}: holds {len(runs)} runs ({'; '.join(_what_differs(runs))}); give one "
                           f"run folder, or one results file of the run meant (e.g. {runs[0].results_files[-1]})")
    return runs[0]


def _what_differs(runs: list[Run]) -> list[str]:
    """Each run named by what sets it apart from the others (model, model name, model args; else
    its folder), with its results files."""
    fields = (("model", lambda r: r.model_type), ("model name", lambda r: r.model),
              ("model args", lambda r: r.model_args or "none"), ("folder", lambda r: str(r.path)))
    differing = [(name, get) for name, get in fields[:3] if len({get(r) for r in runs}) > 1] or fields[3:]
    return [", ".join(f"{name} {get(r)}" for name, get in differing)
            + f" in {', '.join(f.name for f in r.results_files)}" for r in runs]


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


class _Lines:
    """Samples logs read once per (run, task), each checked against its results file (`runs.sample_lines`)."""

    def __init__(self, problems):
        self.problems, self._cache = problems, {}

    def __call__(self, run: Run, task: str) -> list[dict]:
        key = (id(run), task)
        if key not in self._cache:
            self._cache[key] = sample_lines(run, task, self.problems)
        return self._cache[key]


def _incomparable(base: Run, cand: Run, task: str, metric_key: str) -> list:
    """What differs between the two runs' task for this metric ([] = comparable)."""
    return comparability.task_differences(base, task, cand, task, metrics=[metric_key.partition(",")[0]])


def compare_runs(base: Run, cand: Run, threshold: float = 0.01, metrics=None, all_metrics=False,
                 significance=True, iters: int = bootstrap.DEFAULT_ITERS, problems=None,
                 allow_missing: bool = False, allow_incomparable: bool = False,
                 gates: tuple[str, ...] = ()) -> tuple[list[Row], list[Problem]]:
    problems = [] if problems is None else problems
    lines = _Lines(problems)
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
            b = item_scores(lines(base, c.task), c.metric)
            k = item_scores(lines(cand, c.task), c.metric)
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
            why = (reasons.no_samples_log(", ".join(map(str, missing))) if missing
                   else reasons.no_item_scores(metric_label(c.metric)))
            if c.score.stderr is not None and other.score.stderr is not None:
                se = math.sqrt(c.score.stderr ** 2 + other.score.stderr ** 2)
                lo, hi = delta - 1.96 * se, delta + 1.96 * se
                method = "stderr"
                problems.append(Problem(c.task, f"{why}: CI from the results' stderr (normal approximation)"))
            else:
                problems.append(Problem(c.task, f"{why}, and no stderr in the results: no CI; verdict by threshold only"))
        row = Row(c.task, c.family, c.langs, c.metric, c.score.value, other.score.value, delta, lo, hi, n, method, hib)
        row.verdict = verdict(row, threshold, significance)
        row.differences = _incomparable(base, cand, c.task, c.metric)
        row.incomparable = comparability.differences_text(row.differences)
        if row.incomparable:
            row.verdict, row.gated = NOT_COMPARABLE, not allow_incomparable
        rows.append(row)
    sel_families = {f for f, _ in sel}
    for c in cand.cells:
        if c.family in sel_families and (c.task, c.langs, c.metric) not in base_keys and (c.family, c.metric) in sel:
            problems.append(Problem(str(base.path), f"the baseline has no {c.task} / {row_key(c.langs)} / "
                                                    f"{metric_label(c.metric)} (the candidate has); not compared"))
    rows += _family_rows(rows, base, cand, threshold, significance, iters, lines, allow_incomparable, set(gates))
    rows.sort(key=lambda r: (r.family, r.metric if r.kind else "", bool(r.kind),
                             FAMILY_KINDS.index(r.kind) if r.kind else 0, r.langs, r.task, r.metric))
    return rows, problems


def _family_rows(rows: list[Row], base: Run, cand: Run, threshold, significance, iters, lines, allow_incomparable,
                 gates: set) -> list[Row]:
    """Per (family, metric) with two language rows or more in both runs: the mean, the spread and
    the English gap of each run over those rows, and their paired change (`FAMILY_KINDS`)."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if not r.kind and r.langs and r.cand is not None:
            groups.setdefault((r.family, r.metric), []).append(r)
    out = []
    for (family, metric), members in groups.items():
        members.sort(key=lambda r: r.langs)
        if len({r.langs for r in members}) != len(members) or len(members) < 2:
            continue  # one row per language (two tasks of one language: no family statistic)
        langs = [r.langs for r in members]
        base_means = family_means({r.langs: r.base for r in members})
        cand_means = family_means({r.langs: r.cand for r in members})
        stats = {k: f for k, f in mean_statistics(langs).items() if k in FAMILY_KINDS}
        estimates, method, n = _family_estimates(members, base, cand, stats, iters, lines)
        hib = members[0].higher_is_better
        incomparable = comparability.summary_text([r.differences for r in members])
        for kind in FAMILY_KINDS:
            if kind not in stats or base_means.get(kind) is None or cand_means.get(kind) is None:
                continue
            delta = cand_means[kind] - base_means[kind]
            est = estimates.get(kind)
            row = Row(family, family, (), metric, base_means[kind], cand_means[kind], delta,
                      None if est is None else est[0], None if est is None else est[1], n,
                      method if est is not None else "none",
                      {"all": hib, "spread": False, "gap_en": not hib}[kind], kind=kind,
                      gated=GATES[kind] in gates)
            row.verdict = verdict(row, threshold, significance)
            if incomparable:
                row.incomparable, row.verdict = incomparable, NOT_COMPARABLE
                row.gated = row.gated and not allow_incomparable
            out.append(row)
    return out


def _family_estimates(members: list[Row], base: Run, cand: Run, stats: dict, iters, lines):
    """{kind: (lo, hi)} of the paired changes, the method and the item count: a bootstrap over the
    per-item scores (items resampled jointly across languages when the family's items are parallel),
    else from the results' stderrs (languages independent), else {}."""
    keys = [item_key_of(base, r.task) for r in members]
    clustered = all(k is not None for k in keys)
    b_rows, c_rows = {}, {}
    for r, key in zip(members, keys):
        b = keyed_item_scores(lines(base, r.task), r.metric, key) if r.task in base.samples else None
        c = keyed_item_scores(lines(cand, r.task), r.metric, key) if r.task in cand.samples else None
        if not b or not c or not set(b) & set(c):
            b_rows = None
            break
        b_rows[r.langs], c_rows[r.langs] = b, c
    if b_rows is not None:
        est = bootstrap.rows_bootstrap(c_rows, stats, clustered, baseline=b_rows, iters=iters)
        how = "clustered by item" if clustered else "languages independent"
        return {k: (e.lo, e.hi) for k, e in est.items()}, f"paired bootstrap ({how})", \
            next(iter(est.values())).n if est else None
    b_cells = {(c.task, c.langs, c.metric): c for c in base.cells}
    k_cells = {(c.task, c.langs, c.metric): c for c in cand.cells}
    ses = []
    for r in members:
        sb, sc = b_cells[(r.task, r.langs, r.metric)].score.stderr, k_cells[(r.task, r.langs, r.metric)].score.stderr
        if sb is None or sc is None:
            return {}, "none", None
        ses.append(math.hypot(sb, sc))
    means_b = family_means({r.langs: r.base for r in members})
    means_c = family_means({r.langs: r.cand for r in members})
    out = {}
    for kind, f in stats.items():
        if means_b.get(kind) is None or means_c.get(kind) is None:
            continue
        if kind == "spread":  # the best and worst rows of each run, independent
            vb, vc = [r.base for r in members], [r.cand for r in members]
            parts = [b_cells[(members[i].task, members[i].langs, members[i].metric)].score.stderr
                     for i in (vb.index(max(vb)), vb.index(min(vb)))]
            parts += [k_cells[(members[i].task, members[i].langs, members[i].metric)].score.stderr
                      for i in (vc.index(max(vc)), vc.index(min(vc)))]
            se = math.sqrt(sum(p * p for p in parts))
        else:
            weights = f(np.eye(len(members)))  # a weighted sum: the statistic of unit vectors
            se = math.sqrt(sum((w * s) ** 2 for w, s in zip(weights, ses)))
        delta = means_c[kind] - means_b[kind]
        out[kind] = (delta - 1.96 * se, delta + 1.96 * se)
    return out, "stderr (languages independent)", None


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


def failing(r: Row) -> bool:
    """Whether a row fails the gate (a gated regression, missing result or incomparable task)."""
    return r.gated and (r.verdict in FAILING or r.verdict == NOT_COMPARABLE)


def verdict_text(r: Row) -> str:
    """The verdict as shown: ``not comparable: task version 1.1 vs 2.0``; failing verdicts in
    capitals; a statistic row that is not gated says so."""
    if r.verdict == NOT_COMPARABLE:
        text = f"{NOT_COMPARABLE}: {r.incomparable}"
        return text if r.gated else f"{text} (listed, not gated: --allow-incomparable)"
    text = r.verdict.upper() if failing(r) else r.verdict
    return text if r.gated or r.verdict == UNCHANGED else f"{text} (not gated)"


def _versions(base: Run, cand: Run) -> str:
    return (f"lm-eval {base.lm_eval_version or '?'} vs {cand.lm_eval_version or '?'} "
            "(shown, not compared: task hashes and signatures decide)")


def to_table(rows: list[Row], base: Run, cand: Run, threshold: float) -> str:
    head = ["task", "lang", "metric", "baseline", "candidate", "delta", "95% CI", "CI from", "verdict"]
    body = [[r.task, r.lang, metric_label(r.metric), _v(r.base), _v(r.cand), _n(r.delta), _ci(r),
             r.method, verdict_text(r)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
    lines = [f"baseline:  {base.label}  ({base.path})", f"candidate: {cand.label}  ({cand.path})",
             f"threshold: {threshold}", _versions(base, cand), ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in body]
    lines.append("")
    lines.append(summary(rows))
    return "\n".join(lines) + "\n"


def summary(rows: list[Row]) -> str:
    """Counts over the language rows; then the gated statistic rows that fail."""
    langs = [r for r in rows if not r.kind]
    counts = {v: sum(r.verdict == v for r in langs) for v in (REGRESSED, IMPROVED, UNCHANGED, MISSING, NOT_COMPARABLE)}
    compared = len(langs) - counts[MISSING] - counts[NOT_COMPARABLE]
    text = (f"{compared} compared: {counts[REGRESSED]} regressed, {counts[IMPROVED]} improved, "
            f"{counts[UNCHANGED]} unchanged")
    if counts[MISSING]:
        text += f"; {counts[MISSING]} missing in the candidate"
    if counts[NOT_COMPARABLE]:
        gated = sum(r.gated for r in langs if r.verdict == NOT_COMPARABLE)
        text += (f"; {counts[NOT_COMPARABLE]} not comparable"
                 + ("" if gated else " (listed, not gated)"))
    stats = [r for r in rows if r.kind and failing(r)]
    if stats:
        text += f"; {len(stats)} gated family statistic(s) failing ({', '.join(f'{r.family} {r.lang}' for r in stats)})"
    return text


def to_markdown(rows: list[Row], base: Run, cand: Run, threshold: float, problems: list[Problem]) -> str:
    icon = {REGRESSED: "🔴", IMPROVED: "🟢", UNCHANGED: "⚪", MISSING: "🔴", NOT_COMPARABLE: "🟠"}
    out = ["## lm-eval-ext regression board", "",
           f"Baseline **{md_cell(base.label)}** vs candidate **{md_cell(cand.label)}**; threshold {threshold}; "
           f"CI: {bootstrap.signature()} (paired over items) or results stderr; family rows (@all, @spread, "
           f"@gap_en): {bootstrap.signature(over_languages=bootstrap.CLUSTER_ITEM)} for parallel items. "
           f"{md_cell(_versions(base, cand))}.", "", summary(rows), "",
           "| task | lang | metric | baseline | candidate | delta | 95% CI | verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (not failing(r), r.verdict != IMPROVED, bool(r.kind), r.family, r.langs)):
        text = verdict_text(r)
        if r.verdict == MISSING:
            text = text.replace("MISSING", "MISSING in candidate")
        out.append(f"| {md_cell(r.task)} | {md_cell(r.lang)} | {md_cell(metric_label(r.metric))} | "
                   f"{_v(r.base)} | {_v(r.cand)} | {_n(r.delta)} | {_ci(r)} | {icon[r.verdict]} {md_cell(text)} |")
    seen = set()
    notes = [p for p in problems if not (p in seen or seen.add(p))]
    if notes:
        out += ["", "<details><summary>Warnings</summary>", ""] + [f"- {md_cell(p)}" for p in notes] + ["", "</details>"]
    return "\n".join(out) + "\n"


def to_junit(rows: list[Row], base: Run, cand: Run, threshold: float) -> str:
    """One test case per gated row and per incomparable row (listed as skipped with
    --allow-incomparable); a failure of type regressed, missing or not-comparable."""
    rows = [r for r in rows if r.gated or r.verdict == NOT_COMPARABLE]
    fails = sum(failing(r) for r in rows)
    skipped = sum(not r.gated for r in rows)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="lm-eval-ext compare" tests="{len(rows)}" failures="{fails}">',
           f'<testsuite name={quoteattr(f"{base.label} -> {cand.label}")} tests="{len(rows)}" failures="{fails}" '
           f'skipped="{skipped}">']
    for r in rows:
        name = f"{r.task}/{r.lang}/{metric_label(r.metric)}"
        if r.verdict == MISSING:
            msg = f"missing: the baseline has {r.base:.4f}, the candidate has no result"
        elif r.verdict == NOT_COMPARABLE:
            msg = f"{NOT_COMPARABLE}: {r.incomparable}"
        else:
            msg = (f"{r.verdict}: {r.base:.4f} -> {r.cand:.4f} (delta {r.delta:+.4f}, 95% CI {_ci(r)}, "
                   f"{r.method}, threshold {threshold})")
        out.append(f'<testcase classname={quoteattr(r.family)} name={quoteattr(name)}>')
        if failing(r):
            kind = "not-comparable" if r.verdict == NOT_COMPARABLE else r.verdict
            out.append(f'<failure message={quoteattr(msg)} type="{kind}">{xml_escape(msg)}</failure>')
        elif not r.gated:
            out.append(f"<skipped message={quoteattr(msg + ' (--allow-incomparable)')}/>")
        else:
            out.append(f"<system-out>{xml_escape(msg)}</system-out>")
        out.append("</testcase>")
    out += ["</testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def run_compare(args, out=None, err=None) -> int:
    from lm_eval_ext import files

    out, err = out or sys.stdout, err or sys.stderr  # the streams of the call, not of the import

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
                                  iters=args.bootstrap_iters, problems=problems, allow_missing=args.allow_missing,
                                  allow_incomparable=getattr(args, "allow_incomparable", False),
                                  gates=tuple(getattr(args, "gate", None) or ()))
    seen = set()
    for p in problems:
        if p not in seen:
            seen.add(p)
            print(f"lm-eval-ext compare: {kind_of(p)}: {p}", file=err)
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
    return ExitCode.worst(
        ExitCode.NOT_COMPARABLE if any(failing(r) and r.verdict == NOT_COMPARABLE for r in rows) else ExitCode.OK,
        ExitCode.REGRESSED if any(failing(r) and r.verdict in FAILING for r in rows) else ExitCode.OK)
