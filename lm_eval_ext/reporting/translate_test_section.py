"""The report's translate-test section: how much of a model's non-English gap is language
understanding, how much reasoning it can only do in English (Shi et al. 2023; Etxaniz et al.
2023, self-translate).

Shown for each family of `ROWS` when the report's columns of one model (one model identity;
the report merges that model's run folders into one column) hold its native results and
self-translate results. A stage 2 that answered another model's translations is its own block,
"<model> answering <other>'s translations", beside the model's native results. Per language:
native, English-CoT (MGSM) and self-translate accuracy under the family's reference metric
(`Family.reference_metric`: MGSM ``exact_match,strict-match``, XQuAD ``exact_match,clean``), each
with the number of items it is over, the English native score as the ceiling, the gap
self-translate minus native with a paired bootstrap 95% CI over the items both scored (paired by
item id, from the samples logs; `metrics.bootstrap.paired_bootstrap`) and its n, and the
stage-1 translation quality (corpus chrF++ of the translations the self-translate items used).
One grouped bar chart.
"""

from __future__ import annotations

from dataclasses import dataclass

from lm_eval_ext import families, languages
from lm_eval_ext.families import self_translate as st
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting import svg
from lm_eval_ext.reporting.document import Cell, Code, Figures, Heading, Paragraph, Row, Section, Table
from lm_eval_ext.formats.run_folder import item_scores
from lm_eval_ext.reporting.rows import lang_label, tier_of
from lm_eval_ext.reporting.runs import Run


@dataclass(frozen=True)
class Protocol:
    source: str  # the family
    native: str  # task pattern of the native prompt
    english_cot: str | None  # the question in l, reasoning in English (MGSM only)
    item_key: str  # the doc field that names an item in every task (pairs the items)


ROWS = (
    Protocol("mgsm", "mgsm_native_cot_{lang}", "mgsm_en_cot_{lang}", "item_id"),
    Protocol("xquad", "xquad_{lang}", None, "id"),
)


def _value(runs: list[Run], task: str, metric: str) -> tuple[Run, float, int | None] | None:
    """(run, value, items) of `task`'s metric: the newest among one model's columns."""
    for run in sorted(runs, key=lambda r: r.results_files[-1].name, reverse=True):
        for cell in run.cells:
            if cell.task == task and cell.metric == metric:
                return run, cell.score.value, cell.score.n
    return None


def _by_item(run: Run, lines_of, task: str, metric: str, key: str) -> dict | None:
    """{item id: score} of one task's samples log (the one per-item reader, then doc ids -> item ids)."""
    if task not in run.samples:
        return None
    lines = lines_of(run, task)
    scores = item_scores(lines, metric)
    if not scores:
        return None
    filt = metric.partition(",")[2]
    ids = {line.get("doc_id"): (line.get("doc") or {}).get(key) for line in lines if line.get("filter") == filt}
    return {str(ids[d]): v for d, v in scores.items() if ids.get(d) is not None}


def _fmt(v, scale=1.0, digits=3) -> str:
    return "—" if v is None else f"{v * scale:.{digits}f}"


def _with_n(found) -> str:
    """A value and the number of items it is over (the columns of a row may differ: --limit)."""
    if not found:
        return "—"
    return _fmt(found[1]) + (f" (n={found[2]})" if isinstance(found[2], int) else "")


def sections(runs: list[Run], lines_of, iters: int = bootstrap.DEFAULT_ITERS) -> list[Section]:
    """One section per family with native and self-translate results of one model; `lines_of(run,
    task)` reads a samples log (the report's cache)."""
    own: dict[str, list[Run]] = {}  # model identity -> its columns answering their own translations
    for run in runs:
        if run.answering is None:
            own.setdefault(run.model_identity.key, []).append(run)
    blocks_of: list[tuple[Run, list[Run]]] = []  # (the column with stage 2, the columns with its native results)
    for run in runs:
        natives = own.get(run.model_identity.key, [])
        if run.answering is None:
            if run is natives[0]:
                blocks_of.append((run, natives))
        else:
            blocks_of.append((run, [run, *natives]))
    out = []
    for proto in ROWS:
        family = families.get(proto.source)
        metric = family.reference_metric
        blocks: list = []
        for head, group in blocks_of:
            stage2 = [head] if head.answering is not None else group
            rows, series = [], {"native": [], "English-CoT": [], "self-translate": []}
            cats = []
            for lang in sorted(st.languages_of(proto.source), key=lambda c: (tier_of((c,)) != languages.HIGH, c)):
                native = _value(group, proto.native.format(lang=lang), metric)
                self_tr = _value(stage2, st.stage2_task(proto.source, lang), metric)
                if native is None or self_tr is None:
                    continue
                en_cot = _value(group, proto.english_cot.format(lang=lang), metric) if proto.english_cot else None
                chrf = _value(stage2, st.stage2_task(proto.source, lang), f"translation_chrfpp,{metric.partition(',')[2]}")
                gap = "—"
                a = _by_item(native[0], lines_of, proto.native.format(lang=lang), metric, proto.item_key)
                b = _by_item(self_tr[0], lines_of, st.stage2_task(proto.source, lang), metric, proto.item_key)
                if a and b and set(a) & set(b):
                    delta, lo, hi, n = bootstrap.paired_bootstrap(a, b, iters=iters)
                    gap = f"{delta:+.3f} [{lo:+.3f}, {hi:+.3f}] (n={n})"
                else:
                    gap = f"{self_tr[1] - native[1]:+.3f} (no paired samples: the difference of the columns)"
                rows.append(Row([Cell(lang_label(lang), header=True), Cell(_with_n(native)),
                                 Cell(_with_n(en_cot)), Cell(_with_n(self_tr)), Cell(gap),
                                 Cell(_fmt(chrf[1], 1.0, 1) if chrf else "—")]))
                cats.append(lang)
                series["native"].append(native[1])
                series["English-CoT"].append(en_cot[1] if en_cot else None)
                series["self-translate"].append(self_tr[1])
            if not rows:
                continue
            ceiling = _value(group, proto.native.format(lang="en"), metric)
            title = head.title if head.answering is not None else head.model
            blocks.append(Heading([title, " ", Code(head.model_type)] if head.model_type else title, 3))
            blocks.append(Paragraph(
                f"English ceiling ({proto.native.format(lang='en')}): {_fmt(ceiling[1]) if ceiling else 'not run'}. "
                f"Metric: {metric}; n = the items a value is over. Gap = self-translate − native, paired bootstrap "
                f"95% CI over the items both scored, n of them ({bootstrap.signature(iters)})."))
            columns = ["language", "native", "English-CoT" if proto.english_cot else "—", "self-translate",
                       "gap self-translate − native [95% CI]", "stage-1 chrF++"]
            blocks.append(Table(columns, rows, caption=f"{proto.source}: {metric}", cls="scores"))
            shown = [(name, vals) for name, vals in series.items() if any(v is not None for v in vals)]
            if ceiling:
                shown.append(("English ceiling", [ceiling[1]] * len(cats)))
            blocks.append(Figures([svg.bars(cats, shown, f"{proto.source} translate-test · {title}")],
                                  svg.legend([name for name, _ in shown])))
        if blocks:
            intro = Paragraph([
                "How much of the non-English gap is understanding the language and how much reasoning the model "
                "can only do in English: the model answers its own English translation of each item (",
                Code(st.stage2_task(proto.source, "LANG")), ", stage 1 ", Code(st.stage1_task(proto.source, "LANG")),
                ")."])
            out.append(Section(f"Translate-test: {proto.source}", f"translate-test-{proto.source}", [intro, *blocks],
                               nav=f"translate-test {proto.source}"))
    return out
