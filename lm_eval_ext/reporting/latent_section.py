"""The report's Latent language section: which language the model's middle layers favour
(``lm-eval-ext latent-language``; Wendler et al. 2024, "Do Llamas Work in English?").

Shown when a run holds latent-language files (`reporting.runs.latent_unit`). One table of the
English-latent share per language pair and run with its bootstrap 95% CI; per run a table of the
pairs (concepts measured and dropped, the peak layer, the last layer's P(target)), one line chart
per pair of P(target) and P(English) against the relative depth (0 = embeddings, 1 = the last
layer) with CI bands and the middle third shaded, and per-layer values in a collapsed table (the
Markdown report's view of the curves). The numbers are the file's; nothing is recomputed here.
"""

from __future__ import annotations

from lm_eval_ext.formats.latent_language import LatentLanguageResults, PairResult
from lm_eval_ext.reporting import svg
from lm_eval_ext.reporting.document import (BulletList, Cell, Code, Details, Figures, Heading, Paragraph, Pre, Row,
                                            Section, Span, Table)
from lm_eval_ext.reporting.rows import row_label
from lm_eval_ext.reporting.runs import Run

TARGET, ENGLISH = 0, 1  # palette indexes of the two curves

INTRO = ("At every layer (0 = the embeddings) the residual stream at the last prompt position is decoded through "
         "the model's final norm and unembedding (the logit lens); P(target) and P(English) are the probability "
         "masses of the tokens that are prefixes of the concept's word in the target language and in English "
         "(a token that is a prefix of both counts for neither). Concepts: CLDR's names of territories, languages, "
         "weekdays and months. English-latent share: the peak, over the layers between the embeddings and the output "
         "layer where the two words hold at least 1% of the mass, of mean P(en) / (mean P(en) + mean P(target)); "
         "0.5: no layer favours English over the target, near 1: a layer puts almost all of it on English (the "
         "paper's finding for Llama 2), near 0: the target only. The same over the middle third of the depth is "
         "shown beside it. 95% CIs: bootstrap over concepts.")


def families(runs: list[Run]) -> set[str]:
    """The report families (``latent_<task>``) this section shows instead of a generic family table."""
    return {info.family for run in runs for task, info in run.tasks.items() if task in run.latent}


def _latest(run: Run) -> list[tuple[LatentLanguageResults, PairResult]]:
    """(file, pair) per task and pair (the newest file's, `merge`), in (task, pair) order."""
    return [(doc, pair) for _, doc, pair in sorted(run.latent.values(), key=lambda v: (v[1].task, v[2].key))]


def _share(pair: PairResult, name: str = "english_share") -> str:
    s = getattr(pair, name)
    return "—" if not s else f"{s['value']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}]"


def _depth(layers: int) -> list[float]:
    return [i / (layers - 1) for i in range(layers)]


def _chart(doc: LatentLanguageResults, pair: PairResult) -> str:
    xs = _depth(doc.layers)
    lo_hi = {name: ([b[0] for b in pair.ci.get(name, [])] or None, [b[1] for b in pair.ci.get(name, [])] or None)
             for name in ("p_target", "p_english")}
    series = [(f"P({pair.target})", xs, pair.p_target, *lo_hi["p_target"], TARGET),
              ("P(en)", xs, pair.p_english, *lo_hi["p_english"], ENGLISH)]
    third = (1 / 3, 2 / 3)  # shaded: the middle third of the depth
    return svg.lines(series, f"{' → '.join(pair.langs)} · {doc.task} (n {pair.n})",
                     "relative depth (layer / last; grey: middle third)", "probability", shade=third)


def _layer_table(doc: LatentLanguageResults, pair: PairResult) -> Table:
    def v(name, i):
        band = pair.ci.get(name)
        value = getattr(pair, name)[i]
        return f"{value:.3f}" + (f" [{band[i][0]:.3f}, {band[i][1]:.3f}]" if band else "")

    rows = [Row([Cell(str(i), header=True), Cell(f"{i / (doc.layers - 1):.2f}"), Cell(v("p_target", i)),
                 Cell(v("p_english", i)), Cell(v("entropy", i))]) for i in range(doc.layers)]
    return Table(["layer", "depth", f"P({pair.target}) [95% CI]", "P(en) [95% CI]", "entropy, bits [95% CI]"], rows,
                 cls="scores")


def section(runs: list[Run]) -> Section | None:
    shown = [r for r in runs if r.latent]
    if not shown:
        return None
    blocks: list = [Paragraph(INTRO, cls="muted")]
    keys = sorted({(doc.task, pair.key, pair.langs) for r in shown for doc, pair in _latest(r)})
    by_run = [{(doc.task, pair.key): pair for doc, pair in _latest(r)} for r in shown]
    rows = [Row([Cell(f"{row_label(langs)} · {task}", header=True)]
                + [Cell(f"{_share(m[(task, key)])} (n {m[(task, key)].n})" if (task, key) in m else "—")
                   for m in by_run]) for task, key, langs in keys]
    blocks.append(Table(["language pair · task", *(r.label for r in shown)], rows,
                        caption="English-latent share [bootstrap 95% CI over concepts] (n concepts)", cls="scores"))
    for run in shown:
        latest = _latest(run)
        blocks.append(Heading(run.label, 3))
        detail = []
        for doc, pair in latest:
            share = pair.english_share
            peak = "—" if not share else (
                f"{share['peak_layer']} ({share['peak_layer'] / (doc.layers - 1):.2f}): "
                f"P(en) {share.get('p_english_at_peak', float('nan')):.3f}, "
                f"P(target) {share.get('p_target_at_peak', float('nan')):.3f}")
            last = pair.ci.get("p_target")
            p_last = f"{pair.p_target[-1]:.3f}" + (f" [{last[-1][0]:.3f}, {last[-1][1]:.3f}]" if last else "")
            drops = ", ".join(f"{n} {why}" for why, n in pair.dropped.items() if n) or "none"
            detail.append(Row([Cell(f"{row_label(pair.langs)} · {doc.task}", header=True), Cell(str(pair.n)),
                               Cell(drops, cls="small"), Cell(str(pair.shared)), Cell(_share(pair)), Cell(peak),
                               Cell(_share(pair, "middle_third")), Cell(p_last)]))
        blocks.append(Table(["pair · task", "concepts", "dropped by the tokenizer filter",
                             "with shared prefix tokens", "English-latent share [95% CI]", "peak layer (depth): masses",
                             "middle third only [95% CI]", "P(target), last layer [95% CI]"], detail, cls="scores"))
        blocks.append(Figures([_chart(doc, pair) for doc, pair in latest],
                              svg.legend(["P(target)", "P(en)"])))
        blocks.append(Details("per-layer values", [item for doc, pair in latest
                                                   for item in (Heading(f"{row_label(pair.langs)} · {doc.task}", 4),
                                                                _layer_table(doc, pair))]))
        files = {id(doc): doc for doc, _ in latest}
        blocks.append(BulletList([[Code(doc.signature), Span(
            f" · {doc.layers} layers (embeddings included) · lens {doc.settings.get('lens', '?')} · concepts "
            f"{doc.concepts.get('source', '?')} {doc.concepts.get('babel', '?')}, "
            f"CLDR {doc.concepts.get('cldr', '?')}, pool "
            + ", ".join(f"{n} {c}" for c, n in (doc.concepts.get("categories") or {}).items()), "muted")]
            for doc in files.values()], cls="sigs"))
        blocks.append(Details("example prompts", [Table(["pair · task", "prompt (the model continues it)"], [
            Row([Cell(f"{row_label(pair.langs)} · {doc.task}", header=True), Cell(Pre(pair.example))])
            for doc, pair in latest], cls="samples")]))
    return Section("Latent language", "latent-language", blocks, nav="latent language")
