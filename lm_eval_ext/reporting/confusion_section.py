"""The report's Language confusion section (the Language Confusion Benchmark, `families.lcb`).

For every run with ``lcb_<setting>_<lang>`` results: per language LPR, WPR and LCPR for the
monolingual and the cross-lingual setting, each with a bootstrap 95% CI over prompts (resampled
within each source, from the samples log; without one: ± the results' stderr), the scored
replies and those cut inside a thinking block; the mean over languages (the official 'all'
row; LCPR of it = harmonic mean of the two means); per source the official ``(source, "all")``
means; a chart of LPR per language; and a few confused replies per language, as scored
(reasoning stripped, cut at ``\\nQ:``), each line in the wrong language marked with the label
lid.176 gave it (the labels logged at scoring time, never recomputed here).
"""

from __future__ import annotations

import numpy as np

from lm_eval_ext.families import lcb
from lm_eval_ext.metrics import bootstrap, confusion
from lm_eval_ext.reporting import svg
from lm_eval_ext.reporting.document import (Cell, Code, Details, Figures, Heading, Paragraph, Pre, Row, Section,
                                            Span, Table)
from lm_eval_ext.reporting.rows import lang_label
from lm_eval_ext.reporting.runs import Run

EXAMPLES_PER_LANGUAGE = 2
RATES = lcb.AGGREGATIONS


def _variants(run: Run) -> dict[tuple[str, str], dict[str, str]]:
    """(variant, setting) -> {language: task} of the run's LCB tasks, from their configs; the variant
    is what follows the language in the task name ("" for ours, "_k5" for k samples per prompt)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for name, info in run.tasks.items():
        family = info.ours
        kwargs = info.config.get("dataset_kwargs") or {}
        if info.is_group or family is None or family.name != lcb.FAMILY.name:
            continue
        setting, lang = kwargs.get("setting"), kwargs.get("lang")
        prefix = f"lcb_{setting}_{lang}"
        if setting in lcb.SETTINGS and isinstance(lang, str):
            variant = name[len(prefix):] if name.startswith(prefix) else f" ({name})"
            out.setdefault((variant, setting), {})[lang] = name
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], lcb.SETTINGS.index(kv[0][1]))))


def _cells(run: Run) -> dict:
    """(task, metric) -> Score of the run's LCB tasks."""
    return {(c.task, c.metric.partition(",")[0]): c.score for c in run.cells
            if c.task.startswith("lcb_") and c.metric.endswith(f",{lcb.FILTER}")}


def _items(lines: list[dict], metric: str) -> list:
    """The per-prompt tuples a metric logged (lists in JSON)."""
    return [line[metric] for line in lines if isinstance(line.get(metric), list) and len(line[metric]) >= 3]


def _ci(items: list, metric: str, iters: int) -> tuple[float, float] | None:
    """Percentile bootstrap 95% CI of a task's rate, prompts resampled within each source."""
    if len(items) < 2:
        return None
    values = confusion.resampled(items, RATES[metric], iters, bootstrap.DEFAULT_SEED)
    if len(values) < 2:
        return None
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(lo), float(hi)


def _pct(v) -> str:
    return "—" if v is None or v != v else f"{100 * v:.1f}"


def _with_ci(v, ci, stderr) -> str:
    if v is None or v != v:
        return "—"
    if ci:
        return f"{_pct(v)} [{_pct(ci[0])}, {_pct(ci[1])}]"
    if stderr is not None:
        return f"{_pct(v)} ± {_pct(stderr)}"
    return _pct(v)


def _per_source(items_by_lang: dict[str, list]) -> dict[str, dict[str, float]]:
    """The official (source, "all") rows: per (source, language) cell the rate, then per source the
    mean over its languages; LPR and WPR."""
    out: dict[str, dict[str, float]] = {}
    for metric in ("lpr", "wpr"):
        cells: dict[str, list[float]] = {}
        for lang, items in sorted(items_by_lang.items()):
            for source in sorted({str(i[0]) for i in items.get(metric, [])}):
                value = RATES[metric]([i for i in items[metric] if str(i[0]) == source])
                if value == value:
                    cells.setdefault(source, []).append(value)
        for source, values in cells.items():
            out.setdefault(source, {})[metric] = sum(values) / len(values)
    return out


def _example(line: dict, lang: str) -> Pre | None:
    """The first confused reply of a logged prompt: its scored text, offending lines marked."""
    bad = line.get("lpr")[3] if isinstance(line.get("lpr"), list) and len(line["lpr"]) > 3 else None
    if not bad:
        return None
    resps = line.get("resps")
    while isinstance(resps, list) and resps and isinstance(resps[0], list):
        resps = resps[0]
    k = bad[0][0]
    if not isinstance(resps, list) or not (0 <= k < len(resps)):
        return None
    marks = {b[1]: b[2] for b in bad if b[0] == k}
    text = confusion.scored_text(str(resps[k]))
    out = []
    for i, row in enumerate(text.split("\n")):
        out.append(f"✗ [{marks[i]}] {row}" if i in marks else f"   {row}")
    return Pre(f"(expected {lang})\n" + "\n".join(out))


def sections(runs: list[Run], lines_of, iters: int = bootstrap.DEFAULT_ITERS) -> list[Section]:
    """The Language confusion section, or none when no run has LCB results."""
    blocks: list = []
    for run in runs:
        scores = _cells(run)
        if not scores:
            continue
        blocks.append(Heading([run.label, " ", Code(run.model)], 3))
        chart_cats: list[str] = []
        chart: dict[str, list] = {}
        for (variant, setting), tasks in _variants(run).items():
            langs = [lang for lang in lcb.LANGS[setting] if (tasks.get(lang), "scored_replies") in scores]
            if not langs:
                continue
            setting_label = f"{setting}{variant}"
            rows, examples, items_by_lang, means = [], [], {}, {"lpr": [], "wpr": []}
            for lang in langs:
                task = tasks[lang]
                lines = lines_of(run, task) if task in run.samples else []
                items = {m: _items(lines, m) for m in RATES}
                items_by_lang[lang] = items
                cells = []
                for metric in RATES:
                    score = scores.get((task, metric))
                    if score is None:
                        cells.append("—")
                        continue
                    ci = _ci(items[metric], metric, iters) if items[metric] else None
                    cells.append(_with_ci(score.value, ci, score.stderr))
                    if metric in means and score.value == score.value:
                        means[metric].append(score.value)
                n = scores.get((task, "scored_replies"))
                cut = scores.get((task, "unfinished_reasoning"))
                rows.append(Row([Cell(lang_label(lang), header=True), *(Cell(c) for c in cells),
                                 Cell("—" if n is None else f"{n.value:.0f}"),
                                 Cell("—" if cut is None else f"{cut.value:.0f}")]))
                shown = [ex for ex in (_example(line, lang) for line in lines) if ex][:EXAMPLES_PER_LANGUAGE]
                if shown:
                    examples.append(Details([lang_label(lang), f" · {len(shown)} confused repl{'y' if len(shown) == 1 else 'ies'}"],
                                            [Table(["reply as scored (✗ = a line in another language, lid.176's label)"],
                                                   [Row([Cell(p)]) for p in shown], cls="samples")]))
                if lang not in chart_cats:
                    chart_cats.append(lang)
                if (task, "lpr") in scores:
                    chart.setdefault(setting_label, {})[lang] = scores[(task, "lpr")].value
            lpr = sum(means["lpr"]) / len(means["lpr"]) if len(means["lpr"]) == len(langs) else None
            wpr = sum(means["wpr"]) / len(means["wpr"]) if means["wpr"] else None
            rows.append(Row([Cell("mean over languages (official 'all')", header=True), Cell(_pct(lpr)), Cell(_pct(wpr)),
                             Cell(_pct(confusion.lcpr(lpr, wpr) if lpr is not None else None)), Cell(""), Cell("")],
                            cls="mean"))
            blocks.append(Table(["language", "LPR", "WPR", "LCPR", "scored replies", "cut while thinking"], rows,
                                caption=f"{setting_label}: ×100, [bootstrap 95% CI over prompts within sources]",
                                cls="scores"))
            per_source = _per_source(items_by_lang)
            if per_source:
                blocks.append(Table(["source", "LPR", "WPR"],
                                    [Row([Cell(s, header=True), Cell(_pct(v.get("lpr"))), Cell(_pct(v.get("wpr")))])
                                     for s, v in sorted(per_source.items())],
                                    caption=f"{setting_label}: per source, the mean over its languages (the official "
                                            "(source, all) rows; from the samples log)", cls="scores"))
            blocks += examples
        if chart:
            series = [(f"LPR {s}", [100 * chart[s][c] if c in chart[s] and chart[s][c] == chart[s][c] else None
                                    for c in chart_cats]) for s in chart]
            blocks.append(Figures([svg.bars(chart_cats, series, f"LPR per language · {run.label}")],
                                  svg.legend([name for name, _ in series])))
    if not blocks:
        return []
    intro = Paragraph([
        "Does the model answer in the language it was asked in? The Language Confusion Benchmark (Marchisio et "
        "al. 2024), scored as its official script does: ", Span("LPR", "filt"), " = share of replies whose every "
        "line (of 5+ tokens) is in the desired language (fastText lid.176), ", Span("WPR", "filt"), " = share of "
        "those without an English word (ar hi ja ko ru zh), ", Span("LCPR", "filt"), " = their harmonic mean (LPR "
        "where WPR is undefined). Values per source, then the mean over sources; a task with a source without "
        "a scored reply has no value (tasks/lcb/README.md)."])
    return [Section("Language confusion", "language-confusion", [intro, *blocks], nav="language confusion")]
