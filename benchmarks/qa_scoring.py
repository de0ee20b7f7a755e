"""Scoring a full xquad_all prediction set (12 languages x 1190 = 14,280 items).

Predictions are the gold answers perturbed five ways in turn (the gold itself;
gold behind an article or common word with a reply label and quotes; the first
half of the gold; another item's gold; gold followed by explanatory text), so
every code path (cleaning, article removal, segmentation, partial F1) runs.
Compared in one process, each timed from cold caches:

- ours: `lm_eval_ext.families.qa.AnswerFilter` cleaning + `qa.process_results` (all four
  metrics), i.e. what lm-eval calls per item;
- the official scripts (tests/reference/: MLQA rules + SQuAD v1.1), scoring the
  same cleaned answers, as a correctness cross-check and speed baseline;
- lm-eval's built-in `xquad` process_results (transformers' squad_metrics,
  first gold only, EM/F1 only), on the same cleaned answers.

    python benchmarks/qa_scoring.py [path/to/xquad-folder]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

_t0 = time.perf_counter()
from lm_eval_ext.metrics import qa as qa_scoring  # noqa: E402  (builds the Unicode punctuation table)

T_SCORER_IMPORT = time.perf_counter() - _t0
from lm_eval_ext import families, languages  # noqa: E402
from lm_eval_ext.families import qa  # noqa: E402
from lm_eval_ext.languages import MLQA_LANGS, XQUAD_LANGS  # noqa: E402


def load(folder: Path):
    docs = {}
    for lang in XQUAD_LANGS:
        with open(folder / f"xquad.{lang}.jsonl", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        docs[lang] = [{**r, "ctx_lang": lang, "q_lang": lang} for r in rows]
    return docs


def replies(docs):
    out = {}
    for lang, rows in docs.items():
        label = languages.get(lang).qa.answer
        word = (languages.get(lang).qa_rules.articles or ("x",))[0]
        out[lang] = []
        for i, row in enumerate(rows):
            gold = row["answers"]["text"][0]
            kind = i % 5
            if kind == 0:
                out[lang].append(gold)
            elif kind == 1:
                out[lang].append(f"{label} «{word} {gold}».")
            elif kind == 2:
                out[lang].append(gold[: max(1, len(gold) // 2)])
            elif kind == 3:
                out[lang].append(rows[(i + 11) % len(rows)]["answers"]["text"][0])
            else:
                out[lang].append(f"{gold}\nThis is stated in the second sentence of the context.")
    return out


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", REPO.parent / "shared" / "data")) / "xquad"
    docs = load(folder)
    reps = replies(docs)
    n = sum(len(v) for v in docs.values())

    t_import = T_SCORER_IMPORT

    def load_tasks():  # what lm-eval's custom_dataset does for the 12 + 12 first pair tasks
        for lang in XQUAD_LANGS:
            families.load("xquad", lang=lang)
            families.load("xquad", ctx_lang=lang, q_lang="en" if lang != "en" else "de")

    os.environ[families.DATA_DIR_ENV] = str(folder.parent)
    families.load("xquad", lang="en")  # import datasets once, outside the timing
    t_load, _ = timed(load_tasks)

    def ours():
        qa_scoring.mlqa_tokens.cache_clear()
        qa_scoring.squad_tokens.cache_clear()
        cleaned, scores = {}, {}
        for lang in XQUAD_LANGS:
            filt = qa.AnswerFilter(lang, lang)
            cleaned[lang] = [r[0] for r in filt.apply([[r] for r in reps[lang]], docs[lang])]
            scores[lang] = [qa.process_results(d, [c]) for d, c in zip(docs[lang], cleaned[lang])]
        return cleaned, scores

    t_ours, (cleaned, ours_scores) = timed(ours)

    from reference import mlqa_extended, mlqa_v1, squad_v1_1

    def official():
        out = {}
        for lang in XQUAD_LANGS:
            ref = mlqa_v1 if lang in MLQA_LANGS else mlqa_extended
            out[lang] = []
            for d, c in zip(docs[lang], cleaned[lang]):
                golds = d["answers"]["text"]
                out[lang].append({
                    "exact_match": float(ref.metric_max_over_ground_truths(ref.exact_match_score, c, golds, lang)),
                    "f1_qa": float(ref.metric_max_over_ground_truths(ref.f1_score, c, golds, lang)),
                    "exact_match_squad": float(squad_v1_1.metric_max_over_ground_truths(squad_v1_1.exact_match_score, c, golds)),
                    "f1_squad": float(squad_v1_1.metric_max_over_ground_truths(squad_v1_1.f1_score, c, golds)),
                })
        return out

    t_official, official_scores = timed(official)
    worst = max(abs(a[m] - b[m]) for lang in XQUAD_LANGS for a, b in zip(ours_scores[lang], official_scores[lang]) for m in a)

    builtin = None
    try:
        t_builtin_import, mod = timed(lambda: __import__("lm_eval.tasks.xquad.utils", fromlist=["process_results_qa"]))

        def run_builtin():
            return {lang: [mod.process_results_qa(d, [c]) for d, c in zip(docs[lang], cleaned[lang])] for lang in XQUAD_LANGS}

        t_builtin, builtin = timed(run_builtin)
    except Exception as err:  # pragma: no cover - optional comparison
        print(f"lm-eval built-in xquad scorer unavailable: {err!r}")

    print(f"items: {n} (12 languages x {n // 12})")
    print("| scorer | metrics | time (s) | items/s |")
    print("|---|---|---:|---:|")
    print(f"| lm-eval-ext (cleaning + `process_results`) | EM, F1 (MLQA rules), EM, F1 (SQuAD v1.1) | {t_ours:.3f} | {n / t_ours:,.0f} |")
    print(f"| official scripts (tests/reference), same cleaned answers | the same four | {t_official:.3f} | {n / t_official:,.0f} |")
    if builtin is not None:
        print(f"| lm-eval built-in `xquad` (transformers squad_metrics) | EM, F1 (first gold) | {t_builtin:.3f} | {n / t_builtin:,.0f} |")
    print(f"\ndata loading: {t_load:.2f} s for 24 tasks (12 xquad_<lang> + 12 xquad_<ctx>_<q>), "
          f"{t_load / 24:.3f} s per task")
    print(f"one-time Unicode punctuation table: {t_import:.3f} s; lm-eval built-in scorer import: "
          f"{t_builtin_import if builtin is not None else float('nan'):.1f} s")
    print(f"largest |ours - official| over {n} items x 4 metrics: {worst:.1e}")
    print("\nper-language means of this prediction set (ours MLQA-rule F1 / SQuAD F1 / built-in F1):")
    for lang in XQUAD_LANGS:
        mean = lambda rows, m: sum(r[m] for r in rows) / len(rows)  # noqa: E731
        b = f"{mean(builtin[lang], 'f1'):.4f}" if builtin else "n/a"
        print(f"  {lang}: {mean(ours_scores[lang], 'f1_qa'):.4f} / {mean(ours_scores[lang], 'f1_squad'):.4f} / {b}")


if __name__ == "__main__":
    main()
