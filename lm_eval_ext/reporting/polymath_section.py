"""The report's PolyMath section: the benchmark's own numbers per language.

For each run and each PolyMath task set in it (``polymath``, ``polymath_forcing_raw``,
``polymath_forcing_en``, a sampled ``polymath_k<K>``): a table of the languages (tier order)
by the four levels' accuracy, DW-ACC with its 95% CI, the release's rounded DW-ACC, the share of
replies cut off inside their thinking, and the language consistency of the answer and the
thinking parts (ours; the release's langdetect rule where it ran); and one bar chart of DW-ACC.

DW-ACC comes from the run's group results (`families.polymath.group_values` through the
plugin) and is computed from the four levels here when the run has no group (the same
function). Its CI is a stratified bootstrap over the problems of each level from the samples
logs (`metrics.bootstrap.stratified_bootstrap_ci`), else the normal interval of the group's
standard error.
"""

from __future__ import annotations

import math

from lm_eval_ext import languages
from lm_eval_ext.families import polymath
from lm_eval_ext.formats.run_folder import item_scores
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting import svg
from lm_eval_ext.reporting.document import Cell, Code, Figures, Heading, Paragraph, Row, Section, Table
from lm_eval_ext.reporting.rows import lang_label, lang_sort_key
from lm_eval_ext.reporting.runs import Run

F = polymath.FILTER
COLUMNS = (("truncated_in_thinking", "cut off in thinking"), ("lang_fidelity", "answer in language (ours)"),
           ("thinking_lang_fidelity", "thinking in language (ours)"),
           ("answer_lang_cons_langdetect", "answer consistency (release, langdetect)"),
           ("thinking_lang_cons_langdetect", "thinking consistency (release, langdetect)"))


def _prefixes(run: Run) -> dict[str, dict[str, dict[str, object]]]:
    """{task-set prefix: {lang: {level: task name}}} of the PolyMath leaves in a run."""
    out: dict = {}
    for name, info in run.tasks.items():
        if info.is_group or (info.config.get("dataset_kwargs") or {}).get("family") != polymath.FAMILY.name:
            continue
        parts = polymath.task_parts(name)
        if parts is None:
            continue
        lang, level = parts
        out.setdefault(name[: -len(f"_{lang}_{level}")], {}).setdefault(lang, {})[level] = name
    return out


def _metric(run: Run, task: str, metric: str) -> float | None:
    for cell in run.cells:
        if cell.task == task and cell.metric == f"{metric},{F}":
            return cell.score.value
    return None


def _group(run: Run, name: str, metric: str) -> float | None:
    value = ((run.data.get("groups") or {}).get(name) or {}).get(f"{metric},{F}")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def _fmt(v, digits=3) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def dw_acc_ci(run: Run, lines_of, levels: dict[str, str], iters: int):
    """(DW-ACC, low, high) from the samples logs of the four levels; None without them."""
    strata = {}
    for level, task in levels.items():
        if task not in run.samples:
            return None
        scores = item_scores(lines_of(run, task), f"acc,{F}")
        if not scores:
            return None
        strata[level] = list(scores.values())
    total = sum(polymath.WEIGHTS.values())
    return bootstrap.stratified_bootstrap_ci(strata, {k: w / total for k, w in polymath.WEIGHTS.items()}, iters=iters)


def sections(runs: list[Run], lines_of, iters: int = bootstrap.DEFAULT_ITERS) -> list[Section]:
    blocks: list = []
    for run in runs:
        for prefix, by_lang in sorted(_prefixes(run).items()):
            rows, cats, values = [], [], []
            for lang in sorted(by_lang, key=lambda c: lang_sort_key((c,))):
                levels = by_lang[lang]
                accs = {lvl: _metric(run, levels[lvl], "acc") if lvl in levels else None for lvl in polymath.LEVELS}
                complete = all(a is not None and not math.isnan(a) for a in accs.values())
                dw = _group(run, f"{prefix}_{lang}", "dw_acc")
                if dw is None and complete:
                    dw = polymath.dw_acc(accs)
                official = _group(run, f"{prefix}_{lang}", "dw_acc_official")
                if official is None and complete:
                    official = polymath.dw_acc_official(accs)
                ci = dw_acc_ci(run, lines_of, levels, iters) if complete and len(levels) == 4 else None
                if ci is None and dw is not None:
                    se = _group(run, f"{prefix}_{lang}", "dw_acc_stderr")
                    ci = (dw, dw - 1.96 * se, dw + 1.96 * se) if se is not None else None
                ci_text = f"{_fmt(dw)} [{ci[1]:.3f}, {ci[2]:.3f}]" if ci and dw is not None else _fmt(dw)
                extra = [_mean(_metric(run, t, m) for t in levels.values()) for m, _ in COLUMNS]
                rows.append(Row([Cell(lang_label(lang), header=True),
                                 *[Cell(_fmt(accs[lvl])) for lvl in polymath.LEVELS],
                                 Cell(ci_text), Cell(_fmt(official, 3)), *[Cell(_fmt(v)) for v in extra]]))
                cats.append(lang)
                values.append(dw)
            if not rows:
                continue
            overall = _group(run, prefix, "dw_acc")
            if overall is None and all(v is not None for v in values) and len(values) == len(polymath.FAMILY.languages):
                overall = sum(values) / len(values)
            blocks.append(Heading([run.label or run.model, " · ", Code(prefix)], 3))
            blocks.append(Paragraph(
                f"DW-ACC over the {len(values)} languages here: {_fmt(_mean(values))}"
                + (f" (the run's {prefix} group: {_fmt(overall)})" if overall is not None else "")
                + f". 95% CI: stratified bootstrap over each level's problems ({bootstrap.signature(iters)}), or "
                  "±1.96 standard errors of the group where the run has no samples logs."))
            head = ["language", *polymath.LEVELS, "DW-ACC [95% CI]", "DW-ACC (release rounding)",
                    *[label for _, label in COLUMNS]]
            blocks.append(Table(head, rows, caption=f"{prefix}: accuracy (acc,{F}) per level", cls="scores"))
            blocks.append(Figures([svg.bars(cats, [(run.label or run.model, values)], f"{prefix} DW-ACC")]))
    if not blocks:
        return []
    intro = Paragraph([
        "PolyMath (QwenLM/PolyMath): DW-ACC = (1·low + 2·medium + 4·high + 8·top) / 15 per language; the "
        "release rounds each level to 0.1% first. Consistency: the share of replies whose answer part (and "
        "thinking part) is in the expected language, by our identifier (", Code("lang_fidelity"),
        ") and, where langdetect is installed, by the release's rule. Languages in tier order "
        f"({languages.TIER_LABELS[languages.HIGH]} first)."])
    return [Section("PolyMath", "polymath", [intro, *blocks], nav="PolyMath")]
