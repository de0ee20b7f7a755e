"""``lm-eval-ext report RUN_DIR... -o OUT``: report.md and a self-contained report.html.

Every section is built once here, as a `document.Section`, and rendered twice
(`document.to_markdown`, `document.to_html`): runs, skipped input, one section per
task family (tables with family means, plots), judge and pairwise results, samples,
provenance. A new section is one more function below.

A cell made another way than the first run's is marked ``≠`` under a warning naming the
field and both values; the provenance has per run how its numbers were made (`side_by_side`).
Family means, the spread and the gap carry CIs clustered by item (`tables.mean_intervals`).

The HTML has no script and no external resource: a Content-Security-Policy
forbids both, charts are inline SVG, styles come from ``reports/report.css``
(inlined). Every string from a run (model output, prompts, gold, model names,
folder names) is escaped by the renderers.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

from lm_eval_ext import __version__, files, languages
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.resources import reports_dir
from lm_eval_ext.reporting import (confusion_section, latent_section, long_tail, polymath_section, side_by_side,
                                    svg, translate_test_section)
from lm_eval_ext.reporting.document import (BulletList, Cell, Code, Details, Document, Figures, Heading, Lines,
                                            Paragraph, Pre, Row, Section, Span, Strong, Swatch, Table, to_html,
                                            to_markdown)
from lm_eval_ext.formats.judge_file import JudgeEntry, JudgeResults
from lm_eval_ext.formats.run_folder import Problem, first_response, item_scores, prompt_parts
from lm_eval_ext.reporting.rows import row_key, row_label, tier_of
from lm_eval_ext.reporting.runs import NotComputedNote, Run, kind_of, load_runs, model_columns, sample_lines
from lm_eval_ext.reporting.tables import (BOOKKEEPING_METRICS, HELPER_METRIC_SUFFIXES, MEAN_KINDS, MEAN_LABELS,
                                          Table as ScoreTable, build_tables, is_long_tail, mean_intervals,
                                          metric_label)

DIFFERS = " ≠"  # the mark of a cell made another way than the first column's

TIER_ORDER = [(languages.HIGH, languages.TIER_LABELS[languages.HIGH]),
              (languages.LOW, languages.TIER_LABELS[languages.LOW]),
              ("unknown", "no tier (outside the registry, or not placed by its sources)")]


def unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


# ------------------------------------------------------------------ samples
class Samples:
    """Samples logs read once per (run, task)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        self._cache: dict = {}

    def lines(self, run: Run, task: str) -> list[dict]:
        key = (run.samples.get(task), task)
        if key not in self._cache:
            self._cache[key] = sample_lines(run, task, self.problems)
        return self._cache[key]


def _fmt(v, scale, digits=None) -> str:
    """Values of one table share their digits: 1 decimal for x100 or big numbers, else 3."""
    if v is None:
        return "—"
    v = v * scale
    if digits is None:
        digits = 1 if scale == 100.0 or abs(v) >= 10 else 3
    return f"{v:.{digits}f}"


def _digits(t: ScoreTable) -> int:
    values = [abs(c.score.value * t.scale) for c in t.cells.values()]
    return 1 if t.scale == 100.0 or (values and max(values) >= 10) else 3


class Report:
    def __init__(self, runs: list[Run], problems: list[Problem], max_samples: int = 20,
                 bootstrap_iters: int = bootstrap.DEFAULT_ITERS):
        self.runs = runs
        self.problems = problems
        self.max_samples = max_samples
        self.iters = bootstrap_iters
        self.samples = Samples(problems)
        for run in runs:  # read every samples log now, so their problems reach the skipped list
            for task in run.samples:
                self.samples.lines(run, task)
        self.tables = build_tables(runs, problems)
        self.digits = {id(t): _digits(t) for t in self.tables}
        self.cis: dict = {}  # (family, metric, langs, run index) -> (lo, hi)
        for t in self.tables:
            if is_long_tail(t.rows):  # its view shows values and means, not per-row CIs (406 x metrics bootstraps)
                continue
            for (langs, i), cell in t.cells.items():
                ci = self._ci(runs[i], cell)
                if ci:
                    self.cis[(t.family, t.metric, langs, i)] = ci
        self.families: dict[str, list[ScoreTable]] = {}
        for t in self.tables:
            self.families.setdefault(t.family, []).append(t)
        # (id(table), run index) -> {kind: Interval} of the family means
        self.mean_cis = {(id(t), i): mean_intervals(t, i, self.samples.lines, self.iters)
                         for t in self.tables for i in range(len(runs))}
        # cells made another way than the first run's: (id(table), langs, run index) -> (task, differences)
        self.differs = side_by_side.differing_cells(runs, self.tables)

    def _ci(self, run: Run, cell):
        if cell.ci is not None:  # judge scores: the judge's own bootstrap CI
            return cell.ci
        if not cell.sample_metric or cell.task not in run.samples:
            return None
        scores = item_scores(self.samples.lines(run, cell.task), cell.metric)
        if not scores:
            return None
        _, lo, hi = bootstrap.bootstrap_ci(list(scores.values()), iters=self.iters)
        return lo, hi

    # ------------------------------------------------------------- the document
    def document(self) -> Document:
        sections = [self.runs_section()]
        if any(kind_of(p) == "warning" for p in self.problems):
            sections.append(self.skipped_section())
        latent = latent_section.families(self.runs)  # shown in their own section below
        sections += [self.family_section(family, tables) for family, tables in self.families.items()
                     if family not in latent]
        sections += polymath_section.sections(self.runs, self.samples.lines, self.iters)
        sections += translate_test_section.sections(self.runs, self.samples.lines, self.iters)
        sections += confusion_section.sections(self.runs, self.samples.lines, self.iters)
        sections += [s for s in (latent_section.section(self.runs),) if s is not None]
        judge = judge_section(self.runs)
        if judge is not None:
            sections.append(judge)
        sections += [self.samples_section(), self.provenance_section()]
        now = f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC}"
        return Document(
            page_title="lm-eval-ext report", heading="Multilingual evaluation report",
            subtitle=f"{len(self.runs)} run(s) · generated {now} by lm-eval-ext {__version__}",
            sections=sections,
            footer=f"Statistics: {bootstrap.signature(self.iters)}; means over languages: "
                   f"{bootstrap.signature(self.iters, over_languages=bootstrap.CLUSTER_ITEM)} for parallel items, "
                   f"else {bootstrap.signature(self.iters, over_languages=bootstrap.INDEPENDENT)}. Means are unweighted "
                   "over the languages every run has; the gap is English minus the non-English mean; the spread is "
                   "the best minus the worst language.",
            css=(reports_dir() / "report.css").read_text(encoding="utf-8"),
        )

    def markdown(self) -> str:
        return to_markdown(self.document())

    def html(self) -> str:
        return to_html(self.document())

    # ------------------------------------------------------------- sections
    def runs_section(self) -> Section:
        rows = []
        for i, r in enumerate(self.runs):
            args = [Code(r.model_args)]
            if r.model_identity.request_only:  # shown, but the same model with other values is this column
                keys = ", ".join(dict.fromkeys(k for k, _ in r.model_identity.request_only))
                args.append(Span(f" (request settings, not identity: {keys})", "muted"))
            folders = [Code(str(f)) for f in r.folders]
            where = [x for k, f in enumerate(folders) for x in ((", ", f) if k else (f,))]
            if r.note:
                where.append(Span(f" · {r.note}", "muted"))
            rows.append(Row([Cell([Swatch(svg.color(i)), r.label]), Cell(r.model), Cell(args), Cell(r.date),
                             Cell(where)]))
        blocks = [Table(["column", "model", "model args", "date", "folder"], rows, cls="runs"),
                  Paragraph("One column per model (model identity: backend, checkpoint and the model arguments "
                            "that change what it answers; README). Results of one model in several folders merge, "
                            "the newest result of a task winning where both were produced the same way.", cls="muted")]
        notes = [p for p in unique(self.problems) if isinstance(p, NotComputedNote)]
        if notes:  # one line per run and reason (the results say which metrics and why)
            label = {str(f): r.label for r in self.runs for f in r.results_files}
            blocks.append(Paragraph("Not computed (NaN in the results, which record why):"))
            blocks.append(BulletList([[label.get(p.where, p.where), f": {p.what}"] for p in notes]))
        return Section("Runs", "runs", blocks)

    def skipped_section(self) -> Section:
        items = [[Code(p.where), f": {p.what}"] for p in unique(self.problems) if kind_of(p) == "warning"]
        return Section("Skipped and incomplete input", "skipped", [BulletList(items)], nav="skipped", cls="warn")

    def family_section(self, family: str, tables: list[ScoreTable]) -> Section:
        if is_long_tail(tables[0].rows):  # FLORES-200: a view that reads at 406 rows
            return long_tail.section(self, family, tables)
        t0 = tables[0]
        title = [t0.title, " ", Code(family)] if t0.title != family else family
        blocks = [*side_by_side.warnings(self.runs, tables, self.differs, DIFFERS), self.score_table(t0),
                  self.plots(tables)]
        if len(tables) > 1:
            blocks.append(Details(f"{len(tables) - 1} more metric(s)", [self.score_table(t) for t in tables[1:]]))
        return Section(title, f"fam-{family}", blocks, nav=t0.title, cls="family")

    def cell_text(self, t: ScoreTable, langs, i) -> str:
        cell = t.cells.get((langs, i))
        if cell is None:
            return "—"
        s, d = t.scale, self.digits[id(t)]
        ci = self.cis.get((t.family, t.metric, langs, i))
        main = _fmt(cell.score.value, s, d)
        mark = DIFFERS if (id(t), langs, i) in self.differs else ""
        if ci:
            return f"{main} [{_fmt(ci[0], s, d)}, {_fmt(ci[1], s, d)}]{mark}"
        if cell.score.stderr is not None:
            return f"{main} ± {_fmt(cell.score.stderr, s, d)}{mark}"
        return main + mark

    def mean_text(self, t: ScoreTable, kind: str, i: int) -> str:
        v = t.means.get((kind, i))
        if v is None:
            return "—"
        s, d = t.scale, self.digits[id(t)]
        ci = self.mean_cis.get((id(t), i), {}).get(kind)
        mark = DIFFERS if any(key[0] == id(t) and key[2] == i for key in self.differs) else ""
        text = _fmt(v, s, d) + (f" [{_fmt(ci.lo, s, d)}, {_fmt(ci.hi, s, d)}]" if ci else "")
        return text + mark

    def unit_note(self, t: ScoreTable) -> str:
        note = "×100; " if t.scale == 100.0 else ""
        if t.metric.startswith("judge/"):
            return note + ("cells: LLM-judge mean over the judged items [bootstrap 95% CI]; parse failures excluded "
                           "(see the Judge section)")
        return note + "cells: value [bootstrap 95% CI] from samples logs, else value ± stderr from results"

    def score_table(self, t: ScoreTable) -> Table:
        n = len(self.runs)
        rows = []
        for tier, tier_label in TIER_ORDER:
            tier_rows = [r for r in t.rows if r and tier_of(r) == tier]
            if tier_rows:
                rows.append(Row([Cell(tier_label, header=True, colspan=n + 1)], cls="tier"))
                rows += [self._row(t, langs, row_label(langs)) for langs in tier_rows]
        rows += [self._row(t, langs, t.family) for langs in t.rows if not langs]
        means = []
        for kind in MEAN_KINDS:
            vals = [t.means.get((kind, i)) for i in range(n)]
            if any(v is not None for v in vals):
                means.append(Row([Cell(MEAN_LABELS[kind], header=True)]
                                 + [Cell(self.mean_text(t, kind, i)) for i in range(n)], cls="mean"))
        if means:
            rows.append(Row([Cell("family means (over languages in every run)", header=True, colspan=n + 1)], cls="tier"))
            rows += means
        arrow = "higher is better" if t.higher_is_better else "lower is better"
        caption = [Strong(metric_label(t.metric)), f" · {arrow} · {self.unit_note(t)}"]
        note = side_by_side.mean_note(self.mean_cis.get((id(t), i), {}) for i in range(n))
        if note:
            caption.append(f" · {note}")
        if any(key[0] == id(t) for key in self.differs):
            caption.append(Span(f" ·{DIFFERS} made another way than the first column (see the warning)", "muted"))
        if t.partial:
            caption.append(Span(" * not in every run; left out of the means", "muted"))
        return Table(["language", *(r.label for r in self.runs)], rows, caption=caption, cls="scores")

    def _row(self, t: ScoreTable, langs, label) -> Row:
        vals = [t.value(langs, i) for i in range(len(self.runs))]
        present = [v for v in vals if v is not None]
        best = (max(present) if t.higher_is_better else min(present)) if len(present) > 1 else None
        cells = [Cell(self.cell_text(t, langs, i), cls="best" if best is not None and v == best else "")
                 for i, v in enumerate(vals)]
        star = " *" if langs in t.partial else ""
        return Row([Cell(f"{label}{star}", header=True), *cells])

    def plots(self, tables: list[ScoreTable]) -> Figures:
        t0 = tables[0]
        names = [r.label for r in self.runs]
        out = []
        single = [r for r in t0.rows if r]
        if single and not t0.is_pair:
            cats = [row_key(r) for r in single]
            series = [(names[i], [None if t0.value(r, i) is None else t0.value(r, i) * t0.scale for r in single])
                      for i in range(len(self.runs))]
            out.append(svg.bars(cats, series, "per language"))
        for t in tables:
            if t.is_pair:
                out += self._heatmaps(t)
        # two different metrics (not one metric under two filters), neither a bookkeeping share
        shown = [t for t in tables if any(t.rows) and t.metric.partition(",")[0] not in BOOKKEEPING_METRICS]
        seconds = [t for t in shown[1:] if shown and t.metric.partition(",")[0] != shown[0].metric.partition(",")[0]]
        if shown and seconds:
            a, b = shown[0], seconds[0]
            pts = []
            for i, run in enumerate(self.runs):
                for r in a.rows:
                    va, vb = a.value(r, i), b.value(r, i)
                    if va is not None and vb is not None:
                        pts.append((va * a.scale, vb * b.scale, i, f"{run.label} · {row_key(r)}"))
            if pts:
                out.append(svg.scatter(pts, metric_label(a.metric), metric_label(b.metric),
                                       "two metrics per language and model"))
        return Figures(out, svg.legend(names) if out else "")

    def _heatmaps(self, t: ScoreTable) -> list[str]:
        pairs = [r for r in t.rows if len(r) == 2]
        # a metric reported once per unordered pair: a square, mirrored matrix
        pair_set = set(pairs)
        symmetric = not any((b, a) in pair_set for a, b in pairs if a != b)

        def order(codes):
            return sorted(codes, key=lambda c: (tier_of((c,)) != languages.HIGH, c))

        if symmetric:
            rows = cols = order({c for p in pairs for c in p})
        else:
            rows, cols = order({p[0] for p in pairs}), order({p[1] for p in pairs})
        vals = [c.score.value * t.scale for c in t.cells.values() if len(c.langs) == 2]
        vmin, vmax = min(vals + [0.0]), max(vals + [1.0])
        out = []
        for i, run in enumerate(self.runs):
            cells = {(rows.index(p[0]), cols.index(p[1])): t.value(p, i) * t.scale
                     for p in pairs if t.value(p, i) is not None}
            if not cells:
                continue
            if symmetric:
                cells.update({(b, a): v for (a, b), v in list(cells.items())})
            axes = ("language", "language") if symmetric else ("context / source", "question / target")
            out.append(svg.heatmap(rows, cols, cells, f"{metric_label(t.metric)} · {run.label}", vmin, vmax, *axes))
        return out

    def samples_section(self) -> Section:
        tasks = list(dict.fromkeys(task for run in self.runs for task in run.samples))
        if not tasks:
            return Section("Samples", "samples", [Paragraph(
                [Span("No samples logs in these runs (run lm_eval with ", "muted"), Code("--log_samples"),
                 Span(").", "muted")])], nav="samples")
        blocks = [Paragraph(f"First {self.max_samples} items per task and run. Model text is shown as text, never "
                            "interpreted.", cls="muted")]
        info_of = {}
        for run in self.runs:
            for name, info in run.tasks.items():
                info_of.setdefault(name, info)
        by_family: dict[str, list[str]] = {}
        for task in tasks:
            by_family.setdefault(info_of[task].family, []).append(task)
        for family, names in by_family.items():
            names.sort(key=lambda n: (tier_of(info_of[n].langs) != languages.HIGH, info_of[n].langs, n))
            blocks.append(Heading(family, 3))
            if is_long_tail({info_of[n].langs for n in names}):
                names, note = long_tail.extremes(self, family, names, info_of)
                blocks.append(Paragraph(note, cls="muted"))
            for k, task in enumerate(names):
                info = info_of[task]
                label = row_label(info.langs) if info.langs else task
                inner = []
                for run in self.runs:
                    if task in run.samples:
                        inner += self.sample_table(run, task)
                blocks.append(Details([Code(task), f" · {label}"], inner, open=k == 0, cls="task"))
        return Section("Samples", "samples", blocks, nav="samples")

    def sample_table(self, run: Run, task: str) -> list:
        by_doc: dict = {}
        for doc in self.samples.lines(run, task):
            by_doc.setdefault(doc.get("doc_id"), []).append(doc)
        rows = []
        for doc_id in list(by_doc)[: self.max_samples]:
            docs = by_doc[doc_id]
            first = docs[0]
            rows.append(Row([
                Cell(str(doc_id)),
                Cell(Pre(_prompt_text(first), fold="prompt")),
                Cell(Pre(_output_text(first))),
                Cell(Lines([[Span(d.get("filter", "none"), "filt"), f" {_filtered_text(d)}"] for d in docs])),
                Cell(Pre(_short(first.get("target")))),
                Cell(Lines([[Span(d.get("filter", "none"), "filt"), f" {_scores_text(d)}"] for d in docs])),
            ]))
        out = [Heading(run.label, 4), Table(["#", "prompt", "model output", "extracted answer", "gold", "score"], rows,
                                            cls="samples")]
        more = len(by_doc) - self.max_samples
        if more > 0:
            out.append(Paragraph(f"{more} more item(s) in {run.samples[task].name}", cls="muted"))
        return out

    def provenance_section(self) -> Section:
        blocks = []
        for i, r in enumerate(self.runs):
            rows = []
            for k, v in provenance(r):
                if isinstance(v, dict):
                    rows.append(Row([Cell(k, header=True), Cell(", ".join(f"{a} {b}" for a, b in v.items()), cls="small")]))
                else:
                    rows.append(Row([Cell(k, header=True), Cell("" if v is None else str(v))]))
            blocks += [Heading([Swatch(svg.color(i)), r.label], 3), Table([], rows, cls="kv"),
                       side_by_side.made_table(r)]
            scorers = r.scorers()
            if scorers:
                blocks += [Paragraph(Strong("scorer signatures")), BulletList(
                    [[Code(sig), Span(f" ({_short_list(tasks)})", "muted")] for sig, tasks in _group_by_value(scorers).items()],
                    cls="sigs")]
        return Section("Provenance", "provenance", blocks, nav="provenance")



def provenance(r: Run):
    cfg = r.config
    other = r.answering
    return [
        ("model", r.model), ("model type", r.model_type), ("model args", r.model_args),
        ("model identity", r.model_identity.describe()),
        ("request settings (not identity)", r.model_identity.describe_requests() or "none"),
        *([("translations answered", f"{other.name}'s ({other.describe()})")] if other is not None else []),
        ("run id", r.identity), ("folder", ", ".join(str(f) for f in r.folders)),
        ("results files", ", ".join(str(p) if len(r.folders) > 1 else p.name for p in r.results_files)),
        ("lm-eval version", r.lm_eval_version or "not recorded"),
        ("lm-eval-ext version", r.ext_version or f"not recorded in the run (report made with {__version__})"),
        ("date", r.date), ("git hash", r.git_hash or "not recorded"),
        ("limit", cfg.get("limit")), ("batch size", cfg.get("batch_size")),
        ("chat template sha", r.data.get("chat_template_sha") or ""),
        ("task versions", r.task_versions),
    ]


# ------------------------------------------------------------------ judge
def _judge_rows(run: Run):
    """(task, protocol, entry, file, document) of the run's newest judge entry per task and protocol,
    in row order."""
    latest = {}
    for f, doc in run.judge:
        for task, per in doc.tasks.items():
            for proto, e in per.items():
                latest[(task, proto)] = (e, f, doc)
    info = run.tasks
    return sorted(((t, p, e, f, d) for (t, p), (e, f, d) in latest.items()),
                  key=lambda x: (x[1], tier_of(info[x[0]].langs if x[0] in info else ()) != languages.HIGH,
                                 info[x[0]].langs if x[0] in info else (), x[0]))


def _judge_cells(run: Run, task, e: JudgeEntry) -> list[str]:
    langs = run.tasks[task].langs if task in run.tasks else tuple(e.langs or ())
    mean = "—" if e.mean is None else f"{e.mean:.3g}"
    if e.ci95:
        mean += f" [{e.ci95[0]:.3g}, {e.ci95[1]:.3g}]"
    pf = str(e.parse_failures)
    if e.parse_failure_doc_ids:
        ids = e.parse_failure_doc_ids
        pf += " (doc " + ", ".join(map(str, ids[:10])) + (" …" if len(ids) > 10 else "") + ")"
    other = e.request_failures + e.not_judged + e.invalid_items
    agree = e.agreement or {}
    rho = agree.get("rho")
    rho_text = "—" if rho is None else f"{rho:+.2f}"
    if agree.get("n") is not None:
        rho_text += f" (n {agree['n']})"
    return [task, row_label(langs), f"judge/{e.protocol}", mean, f"{e.n}/{e.n_items}", pf,
            str(other), str(agree.get("reference_metric") or "—"), rho_text]


JUDGE_HEAD = ["task", "language", "metric", "mean [95% CI]", "judged/items", "parse failures", "not judged",
              "reference metric", "Spearman ρ (judge vs reference)"]
JUDGE_NOTE = ("Parse failures (replies without a score in the required format after one reminder) are not scored; "
              "they are listed here and left out of the mean. Spearman ρ: rank correlation, per language, between the "
              "judge's score and the task's reference metric over the same items; a judge blind in one language shows "
              "a low ρ there. — means undefined (fewer than 3 items or a constant score).")
PAIR_HEAD = ["versus (B)", "language", "win", "tie", "loss", "win rate (tie = ½) [95% CI]", "order flips",
             "parse failures"]


def _pair_rows(run: Run):
    for f, doc in run.pairwise:
        for lang, e in doc.languages.items():
            wr = "—" if e.win_rate is None else f"{e.win_rate:.3f}"
            if e.win_rate_ci95:
                wr += f" [{e.win_rate_ci95[0]:.3f}, {e.win_rate_ci95[1]:.3f}]"
            yield [str(doc.run_b.get("model", "?")), lang, str(e.win), str(e.tie),
                   str(e.loss), wr, str(e.order_disagreements), str(e.parse_failures)]


def _judge_provenance(doc: JudgeResults) -> str:
    prov = doc.provenance
    j = prov.get("judge") if isinstance(prov.get("judge"), dict) else {}
    templates = prov.get("templates") if isinstance(prov.get("templates"), dict) else {}
    tpl = ", ".join(f"{v}" for v in templates.values())
    sampling = json.dumps(prov.get("sampling"), sort_keys=True, ensure_ascii=False)
    return f"judge {j.get('model')} ({j.get('backend')}), sampling {sampling}, templates {tpl}, {prov.get('date')}"


def judge_section(runs: list[Run]) -> Section | None:
    if not any(r.judge or r.pairwise for r in runs):
        return None
    blocks = [Paragraph(JUDGE_NOTE, cls="muted")]
    for r in runs:
        rows = _judge_rows(r)
        if rows:
            blocks += [Heading(r.label, 3),
                       Table(JUDGE_HEAD, [Row([Cell(c) for c in _judge_cells(r, t, e)]) for t, _, e, _, _ in rows],
                             cls="scores"),
                       BulletList([[Code(f.name), f": {_judge_provenance(d)}"]
                                   for f, d in {f: d for _, _, _, f, d in rows}.items()], cls="sigs")]
        prow = list(_pair_rows(r))
        if prow:
            blocks += [Heading(f"{r.label}: pairwise (A = this run)", 3),
                       Table(PAIR_HEAD, [Row([Cell(c) for c in row]) for row in prow], cls="scores")]
    return Section("Judge", "judge", blocks, nav="judge")


# ------------------------------------------------------------------ text helpers
def _group_by_value(d: dict) -> dict:
    out: dict = {}
    for k, v in d.items():
        out.setdefault(v, []).append(k)
    return out


def _short_list(items, n=6) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _short(value, limit=2000) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


def _filtered_text(doc: dict) -> str:
    """The extracted answer (lm-eval 0.5 logs it one list deeper than 0.4.x); other values as they are."""
    value = doc.get("filtered_resps")
    text = first_response(value)
    return _short(value if text is None else text)


def _prompt_text(doc: dict) -> str:
    return "\n⟶ ".join(prompt_parts(doc))


def _output_text(doc: dict) -> str:
    resps = doc.get("resps")
    while isinstance(resps, list) and len(resps) == 1:
        resps = resps[0]
    return resps if isinstance(resps, str) else repr(resps)


def _scores_text(doc: dict) -> str:
    names = doc.get("metrics") or []
    out = []
    for n in names:
        if n.endswith(HELPER_METRIC_SUFFIXES):
            continue
        v = doc.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{n} {v:g}")
    return ", ".join(out)


def write_report(paths, out_dir, max_samples: int = 20, bootstrap_iters: int = bootstrap.DEFAULT_ITERS,
                 err=None) -> tuple[Report, list[Problem]]:
    err = err or sys.stderr  # the stream of the call, not of the import
    runs, problems = load_runs(paths)
    runs = model_columns(runs, problems)  # one column per model
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise files.OutputError(f"{out}: is a file; -o names the folder for report.md and report.html")
    report = Report(runs, problems, max_samples=max_samples, bootstrap_iters=bootstrap_iters)
    doc = report.document()
    files.write_output(out / "report.md", to_markdown(doc))
    files.write_output(out / "report.html", to_html(doc))
    for p in unique(problems):
        print(f"lm-eval-ext report: {kind_of(p)}: {p}", file=err)
    return report, problems
