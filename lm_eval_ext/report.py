"""``lm-eval-ext report RUN_DIR... -o OUT``: report.md and a self-contained report.html.

The HTML has no script and no external resource: a Content-Security-Policy
forbids both, charts are inline SVG, styles come from ``reports/report.css``
(inlined). Every string from a run (model output, prompts, gold, model names,
folder names) is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import sys
from html import escape
from pathlib import Path

from lm_eval_ext import __version__, files, languages, svg
from lm_eval_ext.metrics import bootstrap as stats
from lm_eval_ext.plugin import reports_dir
from lm_eval_ext.runs import Problem, Run, load_runs, prompt_parts, read_samples, row_key, row_label, tier_of
from lm_eval_ext.tables import (BOOKKEEPING_METRICS, HELPER_METRIC_SUFFIXES, MEAN_KINDS, MEAN_LABELS, Table, build_tables,
                                md_cell, metric_label)

TIER_ORDER = [(languages.HIGH, languages.TIER_LABELS[languages.HIGH]),
              (languages.LOW, languages.TIER_LABELS[languages.LOW]),
              ("unknown", "not in the language registry")]


def h(text) -> str:
    return escape("" if text is None else str(text), quote=True)


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
        key = (id(run), task)
        if key not in self._cache:
            path = run.samples.get(task)
            self._cache[key] = read_samples(path, self.problems) if path else []
        return self._cache[key]

    def scores(self, run: Run, task: str, metric_key: str) -> list[float] | None:
        name, _, filt = metric_key.partition(",")
        out = []
        for doc in self.lines(run, task):
            if doc.get("filter", "none") != filt or name not in doc:
                continue
            v = doc[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return None  # corpus-level metric: no per-sample score
            out.append(float(v))
        return out or None


def _ci(samples: Samples, run: Run, cell, iters: int):
    if cell.ci is not None:  # judge scores: the judge's own bootstrap CI
        return cell.ci
    if not cell.sample_metric or cell.task not in run.samples:
        return None
    scores = samples.scores(run, cell.task, cell.metric)
    if not scores:
        return None
    _, lo, hi = stats.bootstrap_ci(scores, iters=iters)
    return lo, hi


def _fmt(v, scale, digits=None) -> str:
    """Values of one table share their digits: 1 decimal for x100 or big numbers, else 3."""
    if v is None:
        return "—"
    v = v * scale
    if digits is None:
        digits = 1 if scale == 100.0 or abs(v) >= 10 else 3
    return f"{v:.{digits}f}"


def _digits(t: Table) -> int:
    digits = getattr(t, "_digits", None)
    if digits is None:
        values = [abs(c.score.value * t.scale) for c in t.cells.values()]
        digits = t._digits = 1 if t.scale == 100.0 or (values and max(values) >= 10) else 3
    return digits


class Report:
    def __init__(self, runs: list[Run], problems: list[Problem], max_samples: int = 20,
                 bootstrap_iters: int = stats.DEFAULT_ITERS):
        self.runs = runs
        self.problems = problems
        self.max_samples = max_samples
        self.iters = bootstrap_iters
        self.samples = Samples(problems)
        for run in runs:  # read every samples log now, so their problems reach the skipped list
            for task in run.samples:
                self.samples.lines(run, task)
        self.tables = build_tables(runs, problems)
        self.cis: dict = {}  # (family, metric, langs, run index) -> (lo, hi)
        for t in self.tables:
            for (langs, i), cell in t.cells.items():
                ci = _ci(self.samples, runs[i], cell, self.iters)
                if ci:
                    self.cis[(t.family, t.metric, langs, i)] = ci
        self.families: dict[str, list[Table]] = {}
        for t in self.tables:
            self.families.setdefault(t.family, []).append(t)

    # ------------------------------------------------------------- text cells
    def cell_text(self, t: Table, langs, i, md=False) -> str:
        cell = t.cells.get((langs, i))
        if cell is None:
            return "—"
        s, d = t.scale, _digits(t)
        ci = self.cis.get((t.family, t.metric, langs, i))
        main = _fmt(cell.score.value, s, d)
        if ci:
            return f"{main} [{_fmt(ci[0], s, d)}, {_fmt(ci[1], s, d)}]"
        if cell.score.stderr is not None:
            return f"{main} ± {_fmt(cell.score.stderr, s, d)}"
        return main

    def unit_note(self, t: Table) -> str:
        note = "×100; " if t.scale == 100.0 else ""
        if t.metric.startswith("judge/"):
            return note + ("cells: LLM-judge mean over the judged items [bootstrap 95% CI]; parse failures excluded "
                           "(see the Judge section)")
        return note + "cells: value [bootstrap 95% CI] from samples logs, else value ± stderr from results"

    # --------------------------------------------------------------- markdown
    def markdown(self) -> str:
        out = ["# lm-eval-ext report", "",
               f"Generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC} by lm-eval-ext {__version__}.", ""]
        out += ["## Runs", "", "| column | model | folder |", "|---|---|---|"]
        out += [f"| {md_cell(r.label)} | {md_cell(r.model)} | {md_cell(r.path)} |" for r in self.runs]
        out.append("")
        if self.problems:
            out += ["## Skipped and incomplete input", ""]
            out += [f"- {md_cell(p.where)}: {md_cell(p.what)}" for p in unique(self.problems)]
            out.append("")
        for family, tables in self.families.items():
            out += [f"## {md_cell(tables[0].title)}" + (f" ({md_cell(family)})" if tables[0].title != family else ""), ""]
            for t in tables:
                out += self._md_table(t)
        out += judge_markdown(self.runs)
        out += ["## Provenance", ""]
        for r in self.runs:
            out += [f"### {md_cell(r.label)}", ""]
            out += [f"- **{k}**: {md_cell(v)}" for k, v in self.provenance(r) if not isinstance(v, dict)]
            scorers = r.scorers()
            if scorers:
                out.append("- **scorer signatures**:")
                for sig, tasks in _group_by_value(scorers).items():
                    out.append(f"  - `{sig.replace('`', chr(39))}` ({md_cell(_short_list(tasks))})")
            out.append("")
        out += [f"Statistics: {stats.signature(self.iters)}.", ""]
        return "\n".join(out)

    def _md_table(self, t: Table) -> list[str]:
        head = ["language", "tier"] + [r.label for r in self.runs]
        out = [f"**{md_cell(metric_label(t.metric))}** ({self.unit_note(t)})", "",
               "| " + " | ".join(md_cell(x) for x in head) + " |", "|" + "---|" * len(head)]
        for langs in t.rows:
            mark = " *" if langs in t.partial else ""
            out.append("| " + " | ".join([md_cell(row_label(langs)) + mark, tier_of(langs) if langs else ""]
                                         + [self.cell_text(t, langs, i) for i in range(len(self.runs))]) + " |")
        if t.means:
            for kind in MEAN_KINDS:
                vals = [t.means.get((kind, i)) for i in range(len(self.runs))]
                if all(v is None for v in vals):
                    continue
                out.append("| " + " | ".join([f"**{MEAN_LABELS[kind]}**", ""] + [_fmt(v, t.scale, _digits(t)) for v in vals]) + " |")
        if t.partial:
            out += ["", "\\* not in every run; left out of the means."]
        out.append("")
        return out

    # ------------------------------------------------------------------ html
    def provenance(self, r: Run):
        cfg = r.config
        return [
            ("model", r.model), ("model type", r.model_type), ("model args", r.model_args),
            ("run id", r.identity), ("folder", r.path),
            ("results files", ", ".join(p.name for p in r.results_files)),
            ("lm-eval version", r.lm_eval_version or "not recorded"),
            ("lm-eval-ext version", r.ext_version or f"not recorded in the run (report made with {__version__})"),
            ("date", r.date), ("git hash", r.git_hash or "not recorded"),
            ("limit", cfg.get("limit")), ("batch size", cfg.get("batch_size")),
            ("chat template sha", r.data.get("chat_template_sha") or ""),
            ("task versions", r.task_versions),
        ]

    def html(self) -> str:
        css = (reports_dir() / "report.css").read_text(encoding="utf-8")
        parts = [
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>lm-eval-ext report</title>", f"<style>{css}</style></head><body>",
            "<header><h1>Multilingual evaluation report</h1>",
            f"<p class=\"sub\">{len(self.runs)} run(s) · generated "
            f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC} by lm-eval-ext {h(__version__)}</p>",
            self._nav(), "</header><main>",
        ]
        parts.append(self._runs_html())
        if self.problems:
            items = "".join(f"<li><code>{h(p.where)}</code>: {h(p.what)}</li>" for p in unique(self.problems))
            parts.append(f"<section id=\"skipped\" class=\"warn\"><h2>Skipped and incomplete input</h2><ul>{items}</ul></section>")
        for family, tables in self.families.items():
            parts.append(self._family_html(family, tables))
        parts.append(judge_html(self.runs))
        parts.append(self._samples_html())
        parts.append(self._provenance_html())
        parts.append(f"<footer>Statistics: {h(stats.signature(self.iters))}. Means are unweighted over the languages "
                     "every run has; the gap is English minus the non-English mean.</footer></main></body></html>")
        return "".join(parts)

    def _nav(self) -> str:
        links = "".join(f"<a href=\"#fam-{h(f)}\">{h(ts[0].title)}</a>" for f, ts in self.families.items())
        extra = "<a href=\"#samples\">samples</a><a href=\"#provenance\">provenance</a>"
        if any(r.judge or r.pairwise for r in self.runs):
            extra = "<a href=\"#judge\">judge</a>" + extra
        if self.problems:
            extra = "<a href=\"#skipped\" class=\"bad\">skipped</a>" + extra
        return f"<nav>{links}{extra}</nav>"

    def _runs_html(self) -> str:
        rows = "".join(
            f"<tr><td><span class=\"sw\" style=\"background:{svg.color(i)}\"></span>{h(r.label)}</td>"
            f"<td>{h(r.model)}</td><td><code>{h(r.model_args)}</code></td><td>{h(r.date)}</td></tr>"
            for i, r in enumerate(self.runs))
        return ("<section><h2>Runs</h2><table class=\"runs\"><thead><tr><th>column</th><th>model</th>"
                f"<th>model args</th><th>date</th></tr></thead><tbody>{rows}</tbody></table></section>")

    def _table_html(self, t: Table) -> str:
        n = len(self.runs)
        head = "".join(f"<th>{h(r.label)}</th>" for r in self.runs)
        body = []
        for tier, tier_label in TIER_ORDER:
            rows = [r for r in t.rows if r and tier_of(r) == tier]
            if not rows:
                continue
            body.append(f"<tr class=\"tier\"><th colspan=\"{n + 1}\">{h(tier_label)}</th></tr>")
            for langs in rows:
                body.append(self._row_html(t, langs, row_label(langs)))
        for langs in [r for r in t.rows if not r]:
            body.append(self._row_html(t, langs, t.family))
        mean_rows = []
        for kind in MEAN_KINDS:
            vals = [t.means.get((kind, i)) for i in range(n)]
            if all(v is None for v in vals):
                continue
            tds = "".join(f"<td>{_fmt(v, t.scale, _digits(t))}</td>" for v in vals)
            mean_rows.append(f"<tr class=\"mean\"><th>{h(MEAN_LABELS[kind])}</th>{tds}</tr>")
        if mean_rows:
            body.append(f"<tr class=\"tier\"><th colspan=\"{n + 1}\">family means (over languages in every run)</th></tr>")
            body += mean_rows
        note = " <span class=\"muted\">* not in every run; left out of the means</span>" if t.partial else ""
        arrow = "higher is better" if t.higher_is_better else "lower is better"
        return (f"<table class=\"scores\"><caption><b>{h(metric_label(t.metric))}</b> · {arrow} · "
                f"{h(self.unit_note(t))}{note}</caption><thead><tr><th>language</th>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>")

    def _row_html(self, t: Table, langs, label) -> str:
        vals = [t.value(langs, i) for i in range(len(self.runs))]
        present = [v for v in vals if v is not None]
        best = (max(present) if t.higher_is_better else min(present)) if len(present) > 1 else None
        tds = []
        for i, v in enumerate(vals):
            cls = " class=\"best\"" if best is not None and v == best else ""
            tds.append(f"<td{cls}>{h(self.cell_text(t, langs, i))}</td>")
        star = " *" if langs in t.partial else ""
        return f"<tr><th>{h(label)}{star}</th>{''.join(tds)}</tr>"

    def _family_html(self, family: str, tables: list[Table]) -> str:
        t0 = tables[0]
        title = h(t0.title) + (f" <code>{h(family)}</code>" if t0.title != family else "")
        out = [f"<section id=\"fam-{h(family)}\" class=\"family\"><h2>{title}</h2>", self._table_html(t0)]
        out.append(self._plots_html(tables))
        if len(tables) > 1:
            out.append(f"<details><summary>{len(tables) - 1} more metric(s)</summary>")
            out += [self._table_html(t) for t in tables[1:]]
            out.append("</details>")
        out.append("</section>")
        return "".join(out)

    def _plots_html(self, tables: list[Table]) -> str:
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
            if not t.is_pair:
                continue
            pairs = [r for r in t.rows if len(r) == 2]
            # a symmetric pair metric (consistency) reported once per unordered pair: a square, mirrored matrix
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
            for i, run in enumerate(self.runs):
                cells = {(rows.index(p[0]), cols.index(p[1])): t.value(p, i) * t.scale
                         for p in pairs if t.value(p, i) is not None}
                if not cells:
                    continue
                if symmetric:
                    cells.update({(b, a): v for (a, b), v in list(cells.items())})
                axes = ("language", "language") if symmetric else ("context / source", "question / target")
                out.append(svg.heatmap(rows, cols, cells, f"{metric_label(t.metric)} · {run.label}", vmin, vmax, *axes))
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
        if not out:
            return ""
        return f"<div class=\"plots\">{''.join(out)}</div>{svg.legend(names)}"

    # ---------------------------------------------------------- sample browser
    def _samples_html(self) -> str:
        tasks: dict[str, None] = {}
        for run in self.runs:
            for task in run.samples:
                tasks[task] = None
        if not tasks:
            return ("<section id=\"samples\"><h2>Samples</h2><p class=\"muted\">No samples logs in these runs "
                    "(run lm_eval with <code>--log_samples</code>).</p></section>")
        out = [f"<section id=\"samples\"><h2>Samples</h2><p class=\"muted\">First {self.max_samples} items per "
               "task and run. Model text is shown as text, never interpreted.</p>"]
        info_of = {}
        for run in self.runs:
            for name, info in run.tasks.items():
                info_of.setdefault(name, info)
        by_family: dict[str, list[str]] = {}
        for task in tasks:
            by_family.setdefault(info_of[task].family, []).append(task)
        for family, names in by_family.items():
            names.sort(key=lambda n: (tier_of(info_of[n].langs) != languages.HIGH, info_of[n].langs, n))
            out.append(f"<h3>{h(family)}</h3>")
            for k, task in enumerate(names):
                info = info_of[task]
                label = row_label(info.langs) if info.langs else task
                opened = " open" if k == 0 else ""
                out.append(f"<details class=\"task\"{opened}><summary><code>{h(task)}</code> · {h(label)}</summary>")
                for run in self.runs:
                    if task in run.samples:
                        out.append(self._sample_table(run, task))
                out.append("</details>")
        out.append("</section>")
        return "".join(out)

    def _sample_table(self, run: Run, task: str) -> str:
        lines = self.samples.lines(run, task)
        by_doc: dict = {}
        for doc in lines:
            by_doc.setdefault(doc.get("doc_id"), []).append(doc)
        rows = []
        for doc_id in list(by_doc)[: self.max_samples]:
            docs = by_doc[doc_id]
            first = docs[0]
            prompt = _prompt_text(first)
            output = _output_text(first)
            extracted = "".join(
                f"<div><span class=\"filt\">{h(d.get('filter', 'none'))}</span> {h(_short(d.get('filtered_resps')))}</div>"
                for d in docs)
            scores = "".join(
                f"<div><span class=\"filt\">{h(d.get('filter', 'none'))}</span> {h(_scores_text(d))}</div>"
                for d in docs)
            rows.append(
                f"<tr><td>{h(doc_id)}</td><td><details><summary>prompt</summary><pre>{h(prompt)}</pre></details></td>"
                f"<td><pre>{h(output)}</pre></td><td>{extracted}</td><td><pre>{h(_short(first.get('target')))}</pre></td>"
                f"<td>{scores}</td></tr>")
        more = len(by_doc) - self.max_samples
        tail = f"<p class=\"muted\">{more} more item(s) in {h(run.samples[task].name)}</p>" if more > 0 else ""
        return (f"<h4>{h(run.label)}</h4><table class=\"samples\"><thead><tr><th>#</th><th>prompt</th>"
                "<th>model output</th><th>extracted answer</th><th>gold</th><th>score</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>{tail}")

    def _provenance_html(self) -> str:
        out = ["<section id=\"provenance\"><h2>Provenance</h2>"]
        for i, r in enumerate(self.runs):
            rows = []
            for k, v in self.provenance(r):
                if isinstance(v, dict):
                    v = ", ".join(f"{a} {b}" for a, b in v.items())
                    rows.append(f"<tr><th>{h(k)}</th><td class=\"small\">{h(v)}</td></tr>")
                else:
                    rows.append(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>")
            scorers = r.scorers()
            if scorers:
                items = "".join(f"<li><code>{h(sig)}</code> <span class=\"muted\">({h(_short_list(ts))})</span></li>"
                                for sig, ts in _group_by_value(scorers).items())
                rows.append(f"<tr><th>scorer signatures</th><td><ul class=\"sigs\">{items}</ul></td></tr>")
            out.append(f"<h3><span class=\"sw\" style=\"background:{svg.color(i)}\"></span>{h(r.label)}</h3>"
                       f"<table class=\"kv\">{''.join(rows)}</table>")
        out.append("</section>")
        return "".join(out)


# ------------------------------------------------------------------ judge
def _judge_rows(run: Run):
    """(task, entry, file) of the run's newest judge entry per task and protocol, in row order."""
    latest = {}
    for f, doc in run.judge:
        for task, per in doc["tasks"].items():
            for proto, e in (per or {}).items():
                if isinstance(e, dict):
                    latest[(task, proto)] = (e, f, doc)
    info = run.tasks
    return sorted(((t, p, e, f, d) for (t, p), (e, f, d) in latest.items()),
                  key=lambda x: (x[1], tier_of(info[x[0]].langs if x[0] in info else ()) != languages.HIGH,
                                 info[x[0]].langs if x[0] in info else (), x[0]))


def _judge_cells(run: Run, task, e) -> list[str]:
    langs = run.tasks[task].langs if task in run.tasks else tuple(e.get("langs") or ())
    mean = "—" if e.get("mean") is None else f"{e['mean']:.3g}"
    if e.get("ci95"):
        mean += f" [{e['ci95'][0]:.3g}, {e['ci95'][1]:.3g}]"
    pf = str(e.get("parse_failures", 0))
    if e.get("parse_failure_doc_ids"):
        ids = e["parse_failure_doc_ids"]
        pf += " (doc " + ", ".join(map(str, ids[:10])) + (" …" if len(ids) > 10 else "") + ")"
    other = (e.get("request_failures") or 0) + (e.get("not_judged") or 0) + (e.get("invalid_items") or 0)
    agree = e.get("agreement") or {}
    rho = agree.get("rho")
    rho_text = "—" if rho is None else f"{rho:+.2f}"
    if agree.get("n") is not None:
        rho_text += f" (n {agree['n']})"
    return [task, row_label(langs), f"judge/{e.get('protocol')}", mean, f"{e.get('n')}/{e.get('n_items')}", pf,
            str(other), str(agree.get("reference_metric") or "—"), rho_text]


JUDGE_HEAD = ["task", "language", "metric", "mean [95% CI]", "judged/items", "parse failures", "not judged",
              "reference metric", "Spearman ρ (judge vs reference)"]
JUDGE_NOTE = ("Parse failures (replies without a score in the required format after one reminder) are not scored; "
              "they are listed here and left out of the mean. Spearman ρ: rank correlation, per language, between the "
              "judge's score and the task's reference metric over the same items; a judge blind in one language shows "
              "a low ρ there. — means undefined (fewer than 3 items or a constant score).")


def _pair_rows(run: Run):
    for f, doc in run.pairwise:
        for lang, e in (doc.get("languages") or {}).items():
            wr = "—" if e.get("win_rate") is None else f"{e['win_rate']:.3f}"
            if e.get("win_rate_ci95"):
                wr += f" [{e['win_rate_ci95'][0]:.3f}, {e['win_rate_ci95'][1]:.3f}]"
            yield [str((doc.get("run_b") or {}).get("model", "?")), lang, str(e.get("win")), str(e.get("tie")),
                   str(e.get("loss")), wr, str(e.get("order_disagreements")), str(e.get("parse_failures"))]


PAIR_HEAD = ["versus (B)", "language", "win", "tie", "loss", "win rate (tie = ½) [95% CI]", "order flips",
             "parse failures"]


def _judge_provenance(doc: dict) -> str:
    prov = doc.get("provenance") or {}
    j = prov.get("judge") if isinstance(prov.get("judge"), dict) else {}
    templates = prov.get("templates") if isinstance(prov.get("templates"), dict) else {}
    tpl = ", ".join(f"{v}" for v in templates.values())
    return (f"judge {j.get('model')} ({j.get('backend')}), sampling {json_compact(prov.get('sampling'))}, "
            f"templates {tpl}, {prov.get('date')}")


def json_compact(x) -> str:
    import json as _json

    return _json.dumps(x, sort_keys=True, ensure_ascii=False)


def judge_markdown(runs: list[Run]) -> list[str]:
    if not any(r.judge or r.pairwise for r in runs):
        return []
    out = ["## Judge", "", JUDGE_NOTE, ""]
    for r in runs:
        rows = _judge_rows(r)
        if rows:
            out += [f"### {md_cell(r.label)}", ""]
            out += ["| " + " | ".join(JUDGE_HEAD) + " |", "|" + "---|" * len(JUDGE_HEAD)]
            out += ["| " + " | ".join(md_cell(c) for c in _judge_cells(r, t, e)) + " |" for t, _, e, _, _ in rows]
            out.append("")
            for f in dict.fromkeys(f for _, _, _, f, _ in rows):
                doc = next(d for _, _, _, ff, d in rows if ff == f)
                out.append(f"- `{md_cell(f.name)}`: {md_cell(_judge_provenance(doc))}")
            out.append("")
        prow = list(_pair_rows(r))
        if prow:
            out += [f"### {md_cell(r.label)}: pairwise (A = this run)", ""]
            out += ["| " + " | ".join(PAIR_HEAD) + " |", "|" + "---|" * len(PAIR_HEAD)]
            out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in prow]
            out.append("")
    return out


def judge_html(runs: list[Run]) -> str:
    if not any(r.judge or r.pairwise for r in runs):
        return ""
    out = [f"<section id=\"judge\"><h2>Judge</h2><p class=\"muted\">{h(JUDGE_NOTE)}</p>"]
    for r in runs:
        rows = _judge_rows(r)
        if rows:
            head = "".join(f"<th>{h(c)}</th>" for c in JUDGE_HEAD)
            body = "".join("<tr>" + "".join(f"<td>{h(c)}</td>" for c in _judge_cells(r, t, e)) + "</tr>"
                           for t, _, e, _, _ in rows)
            prov = "".join(f"<li><code>{h(f.name)}</code>: {h(_judge_provenance(d))}</li>"
                           for f, d in {f: d for _, _, _, f, d in rows}.items())
            out.append(f"<h3>{h(r.label)}</h3><table class=\"scores\"><thead><tr>{head}</tr></thead>"
                       f"<tbody>{body}</tbody></table><ul class=\"sigs\">{prov}</ul>")
        prow = list(_pair_rows(r))
        if prow:
            head = "".join(f"<th>{h(c)}</th>" for c in PAIR_HEAD)
            body = "".join("<tr>" + "".join(f"<td>{h(c)}</td>" for c in row) + "</tr>" for row in prow)
            out.append(f"<h3>{h(r.label)}: pairwise (A = this run)</h3><table class=\"scores\"><thead><tr>{head}"
                       f"</tr></thead><tbody>{body}</tbody></table>")
    out.append("</section>")
    return "".join(out)


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


def write_report(paths, out_dir, max_samples: int = 20, bootstrap_iters: int = stats.DEFAULT_ITERS,
                 err=sys.stderr) -> tuple[Report, list[Problem]]:
    runs, problems = load_runs(paths)
    first: dict[str, Run] = {}
    for run in runs:  # one rule (runs.same_identity's), the report's consequence: every run is a column
        other = first.setdefault(run.identity, run)
        if other is not run:
            problems.append(Problem(str(run.path), f"same model and model args (and task versions) as {other.path} "
                                                   f"({run.model}); both are shown, labelled by folder"))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise files.OutputError(f"{out}: is a file; -o names the folder for report.md and report.html")
    report = Report(runs, problems, max_samples=max_samples, bootstrap_iters=bootstrap_iters)
    files.write_output(out / "report.md", report.markdown())
    files.write_output(out / "report.html", report.html())
    for p in unique(problems):
        print(f"lm-eval-ext report: warning: {p}", file=err)
    return report, problems
