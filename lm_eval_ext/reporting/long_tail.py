"""A family section for many language rows (FLORES-200: 406 directions), readable at that size.

A family of more than `tables.MANY_ROWS` rows that pair a language with English
(`tables.is_long_tail`) does not get the per-row table and heatmaps of the other families
(hundreds of rows, a 204 x 204 grid with 406 filled cells). Instead:

- a summary per direction (X → English, English → X): the mean over all its rows, per NLLB
  resource level and per script of the non-English language, with the number of rows;
- ranked bar charts of the headline metric (the family's reference metric, chrF++ for FLORES),
  one bar per direction coloured by NLLB level, with the lowest directions named: the long tail;
- every row in one table the reader can reorder (`document.SortableTable`: grouped by level and
  script, by language, or by any run's metric) without a script in the page.

The family means (all / high / low / ...) are the tables' own (`tables.family_means`).
"""

from __future__ import annotations

from functools import lru_cache

from lm_eval_ext import families, languages
from lm_eval_ext.reporting import svg
from lm_eval_ext.reporting.document import (Cell, Code, Details, Figures, Paragraph, Row, Section, SortableTable,
                                            Strong, Table)
from lm_eval_ext.reporting.rows import row_key, row_label
from lm_eval_ext.reporting.tables import BOOKKEEPING_METRICS, MEAN_KINDS, MEAN_LABELS, metric_label

TIER_COLORS = {"high": "#4e79a7", "low": "#f28e2b", "very_low": "#e15759", "unplaced": "#bab0ac", "unknown": "#bab0ac"}
TAIL = 10  # lowest rows named under each chart
FEW = 3  # scripts with fewer rows share one summary row
SAMPLED_EXTREMES = 6  # the samples section shows this many lowest and highest rows
MAX_CHART_RUNS = 4


def _other(langs: tuple[str, ...]) -> str | None:
    rest = [c for c in langs if c != "en"]
    return rest[0] if rest else (langs[0] if langs else None)


@lru_cache(maxsize=4096)
def _fact(code: str | None, name: str) -> str:
    try:
        return getattr(languages.get(code), name) or "unknown"
    except KeyError:
        return "unknown"


def kind_of(langs: tuple[str, ...]) -> str:
    if len(langs) == 2 and langs[-1] == "en" and langs[0] != "en":
        return "X → English"
    if len(langs) == 2 and langs[0] == "en" and langs[-1] != "en":
        return "English → X"
    return "other" if len(langs) == 2 else "languages"


def tier_of(langs) -> str:
    return _fact(_other(langs), "nllb_tier")


def script_of(langs) -> str:
    return _fact(_other(langs), "script")


def _tier_rank(tier: str) -> int:
    order = list(languages.NLLB_TIERS)
    return order.index(tier) if tier in order else len(order)


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def headline(family: str, tables: list):
    """The family's reference metric (FLORES: chrF++) when it has a table, else its first."""
    fam = families.FAMILIES.get(family)
    ref = fam.reference_metric if fam is not None else None
    return next((t for t in tables if t.metric == ref), tables[0])


def section(report, family: str, tables: list) -> Section:
    t = headline(family, tables)
    runs = report.runs
    rows = [r for r in t.rows if r]
    kinds = sorted({kind_of(r) for r in rows}, key=lambda k: ("X → English", "English → X", "other", "languages").index(k))
    fmt = lambda v, table=t: "—" if v is None else f"{v * table.scale:.{report.digits[id(table)]}f}"  # noqa: E731
    blocks = [Paragraph([f"{len(rows)} rows (" + ", ".join(f"{sum(1 for r in rows if kind_of(r) == k)} {k}"
                                                             for k in kinds) + "). Headline metric ",
                         Strong(metric_label(t.metric)), ": means by NLLB resource level and script, the ranked "
                         "rows (the long tail at the right), then every row in a table you can reorder. Levels: "
                         "the NLLB team's public bitext counts (tasks/flores/README.md)."], cls="muted"),
              summary_table(t, rows, kinds, runs, fmt), Figures(*charts(t, rows, kinds, runs))]
    blocks.append(sortable(family, tables, t, rows, runs, report))
    others = [x for x in tables if x is not t]
    if others:
        blocks.append(Details(f"{len(others)} more metric(s): means by level and script",
                              [summary_table(x, [r for r in x.rows if r], kinds, runs,
                                             lambda v, table=x: "—" if v is None else
                                             f"{v * table.scale:.{report.digits[id(table)]}f}") for x in others]))
    title = [t.title, " ", Code(family)] if t.title != family else family
    return Section(title, f"fam-{family}", blocks, nav=t.title, cls="family")


def summary_table(t, rows, kinds, runs, fmt) -> Table:
    n = len(runs)
    out = []
    for kind in kinds:
        mine = [r for r in rows if kind_of(r) == kind]
        out.append(Row([Cell(kind, header=True, colspan=n + 2)], cls="tier"))
        groups = [("all", mine)]
        groups += [(languages.NLLB_TIER_LABELS.get(tier, tier), [r for r in mine if tier_of(r) == tier])
                   for tier in sorted({tier_of(r) for r in mine}, key=_tier_rank)]
        count = {s: sum(1 for r in mine if script_of(r) == s) for s in {script_of(r) for r in mine}}
        scripts = sorted(count, key=lambda s: (-count[s], s))
        groups += [(f"script {s}", [r for r in mine if script_of(r) == s]) for s in scripts if count[s] >= FEW]
        few = [s for s in scripts if count[s] < FEW]
        if few:  # one or two languages each: one row (the sortable table has each)
            groups.append((f"other scripts ({' '.join(sorted(few))})", [r for r in mine if script_of(r) in few]))
        for label, members in groups:
            out.append(Row([Cell(label, header=True), Cell(str(len(members)))]
                           + [Cell(fmt(_mean(t.value(r, i) for r in members))) for i in range(n)]))
    means = [Row([Cell(MEAN_LABELS[k], header=True), Cell("")] + [Cell(fmt(t.means.get((k, i)))) for i in range(n)],
                 cls="mean") for k in MEAN_KINDS if any(t.means.get((k, i)) is not None for i in range(n))]
    if means:
        out.append(Row([Cell("family means (registry tiers, over rows in every run)", header=True, colspan=n + 2)],
                       cls="tier"))
        out += means
    arrow = "higher is better" if t.higher_is_better else "lower is better"
    return Table(["group", "rows", *(r.label for r in runs)], out, cls="scores",
                 caption=[Strong(metric_label(t.metric)), f" · {arrow} · unweighted means over the rows with a value"])


def charts(t, rows, kinds, runs) -> tuple[list, str]:
    out, tails = [], []
    for i, run in enumerate(runs[:MAX_CHART_RUNS]):
        for kind in kinds:
            items = [(row_label(r), t.value(r, i) * t.scale, tier_of(r), row_key(r)) for r in rows
                     if kind_of(r) == kind and t.value(r, i) is not None]
            if not items:
                continue
            items.sort(key=lambda x: -x[1] if t.higher_is_better else x[1])
            out.append(svg.ranked(items, f"{metric_label(t.metric)} · {kind} · {run.label} ({len(items)}, ranked)",
                                  TIER_COLORS, TAIL))
            tails.append(f"{kind} · {run.label}: " + ", ".join(f"{key} {v:.1f}" for _, v, _, key in items[-TAIL:]))
    legend = "".join(f'<span class="lg"><span class="sw" style="background:{c}"></span>'
                     f'{svg.esc(languages.NLLB_TIER_LABELS.get(k, k))}</span>'
                     for k, c in TIER_COLORS.items() if k != "unknown")
    legend = f'<div class="legend">{legend}</div>'
    if tails:
        legend += "<p class=\"muted\">Lowest " + str(TAIL) + " (the long tail): " + svg.esc(" · ".join(tails)) + "</p>"
    return out, legend


def sortable(family, tables, t, rows, runs, report) -> SortableTable:
    shown = [t] + [x for x in tables if x is not t and x.metric.partition(",")[0] not in BOOKKEEPING_METRICS]
    head = ["language(s)", "direction", "NLLB level", "script"]
    for x in shown:
        head += [f"{metric_label(x.metric)} · {run.label}" for run in runs]
    body = []
    for r in rows:
        cells = [Cell(row_label(r), header=True), Cell(kind_of(r), cls="muted"), Cell(tier_of(r), cls="muted"),
                 Cell(script_of(r), cls="muted")]
        for x in shown:
            d = report.digits[id(x)]
            cells += [Cell("—" if x.value(r, i) is None else f"{x.value(r, i) * x.scale:.{d}f}") for i in range(len(runs))]
        body.append(Row(cells))

    def ranks(key):
        order = sorted(range(len(rows)), key=key)
        out = [0] * len(rows)
        for rank, idx in enumerate(order):
            out[idx] = rank
        return out

    orders = [("level, script", ranks(lambda k: (kind_of(rows[k]), _tier_rank(tier_of(rows[k])), script_of(rows[k]),
                                                   rows[k]))),
              ("language", ranks(lambda k: (row_key(rows[k]),)))]
    for x in shown:
        sign = -1 if x.higher_is_better else 1
        for i, run in enumerate(runs):
            orders.append((f"{metric_label(x.metric)} · {run.label}",
                           ranks(lambda k, x=x, i=i: (x.value(rows[k], i) is None, sign * (x.value(rows[k], i) or 0.0),
                                                      rows[k]))))
    return SortableTable(f"sort-{family}", head, body, orders,
                         caption="Every row; choose an order (— : no value, last). Markdown lists them by level and "
                                 "script.")


def extremes(report, family: str, names: list[str], info_of: dict) -> tuple[list[str], str]:
    """Of a long-tail family's tasks, those whose samples the report shows: the SAMPLED_EXTREMES
    lowest and highest by the headline metric in the first run (failures are in the tail)."""
    tables = report.families.get(family) or []
    if not tables:
        return names[:2 * SAMPLED_EXTREMES], f"{len(names)} tasks: the first {2 * SAMPLED_EXTREMES} shown"
    t = headline(family, tables)
    scored = sorted((n for n in names if t.value(info_of[n].langs, 0) is not None),
                    key=lambda n: -t.value(info_of[n].langs, 0) * (1 if t.higher_is_better else -1))
    keep = list(dict.fromkeys(scored[-SAMPLED_EXTREMES:] + scored[:SAMPLED_EXTREMES]))
    return keep, (f"{len(names)} tasks: the {SAMPLED_EXTREMES} lowest, then the {SAMPLED_EXTREMES} highest by "
                  f"{metric_label(t.metric)} in {report.runs[0].label}; every item is in the samples logs")
