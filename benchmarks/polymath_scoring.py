"""Scoring a full PolyMath reply set: 9,000 replies (18 languages x 4 levels x 125 problems).

Each reply is what a reasoning model writes: a thinking part (the problem restated, some
working), then an answer part ending in a boxed answer. The answers are built from the real
golds six ways in turn, so every path of the checker runs: the gold as written (without its
``$``), a wrong number or expression, the gold with a unit or in ``\\dfrac``/spacing variants,
no box, a reply cut off inside its thinking, and a decimal for a fraction.

Timed, in one process from cold caches (the checker's worker is started inside the timing):

- scoring: the filter (`families.polymath.AnswerFilter`: split, extraction) and the checks
  (`runtime.math_check.check`) of all 9,000 replies, i.e. ``acc`` and ``truncated_in_thinking``;
- language identification: our identifier on the answer and thinking parts (lingua), the rest
  of what ``process_results`` computes.

    python benchmarks/polymath_scoring.py [path/to/shared/data]
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

from lm_eval_ext.families import polymath
from lm_eval_ext.languages import POLYMATH_LANGS


def docs_of(root: Path) -> list[dict]:
    return [doc for lang in POLYMATH_LANGS for level in polymath.LEVELS for doc in polymath.read_level(root, lang, level)]


def answer_form(doc: dict, kind: int) -> str:
    gold = doc["answer"].replace("$", "").strip()
    if kind == 0:
        return f"\\boxed{{{gold}}}"
    if kind == 1:  # wrong: another number, or the gold plus one
        return f"\\boxed{{{int(gold) + 1}}}" if gold.isdigit() else f"\\boxed{{{gold}+1}}"
    if kind == 2:  # the same answer, written otherwise
        return (f"\\boxed{{{gold}\\text{{ units}}}}" if gold.isdigit()
                else f"\\boxed{{ {gold.replace('frac', 'dfrac')} }}")
    if kind == 3:
        return f"so the answer is {gold}."  # no box
    if kind == 4:
        return "<think>and then"  # cut off inside a second thinking block
    return f"\\boxed{{{gold}.0}}" if gold.isdigit() else f"\\boxed{{\\displaystyle {gold}}}"


def replies(docs) -> list[str]:
    return [f"<think>{doc['question']}\nLet me work through it step by step.</think>\n{doc['question'][:200]}\n"
            f"{answer_form(doc, i % 6)}" for i, doc in enumerate(docs)]


def cpu_seconds() -> float:
    """CPU time of this process and of the checker's worker process (what 2 idle cores would need)."""
    from lm_eval_ext.runtime import math_check

    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    worker = math_check._worker
    if worker is not None and worker.alive():
        fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else os.environ.get("LM_EVAL_EXT_TEST_DATA", "../shared/data"))
    docs = docs_of(root)
    texts = replies(docs)
    assert len(docs) == 9000, len(docs)
    filters = {lang: polymath.AnswerFilter(lang=lang, mode="native") for lang in POLYMATH_LANGS}
    c0, t0 = cpu_seconds(), time.perf_counter()
    extracted = [filters[d["lang"]].apply([[t]], [d])[0][0] for t, d in zip(texts, docs)]
    t_filter = time.perf_counter() - t0
    results = [polymath.correct(str(e), d["answer"]) for e, d in zip(extracted, docs)]
    t_scoring, c_scoring = time.perf_counter() - t0, cpu_seconds() - c0
    from lm_eval_ext.runtime import math_check

    accuracy = sum(ok for ok, _ in results) / len(results)
    timeouts = sum(t for _, t in results)
    cut = sum(str(e) == polymath.CUT_OFF for e in extracted) / len(extracted)
    print(f"{len(texts)} replies: filter (split + first box) {t_filter:.1f} s, + checks {t_scoring:.1f} s in all "
          f"({len(texts) / t_scoring:.0f} replies/s; CPU {c_scoring:.1f} s with the worker's); acc {accuracy:.4f}, "
          f"cut off {cut:.4f}, check timeouts {timeouts}, "
          f"{math_check.check.cache_info().currsize} distinct checks")
    c1, t1 = cpu_seconds(), time.perf_counter()
    out = [polymath.process_results(d, [[e]]) for d, e in zip(docs, extracted)]
    t_full, c_full = time.perf_counter() - t1, cpu_seconds() - c1
    print(f"process_results with language identification (lingua, answer and thinking parts; checks cached): "
          f"{t_full:.1f} s, CPU {c_full:.1f} s ({len(texts) / t_full:.0f} replies/s); mean lang_fidelity "
          f"{sum(o['lang_fidelity'] or 0 for o in out) / len(out):.3f}")
    expected = {0: True, 1: False, 2: True, 3: False, 4: False, 5: True}
    wrong = [(i, docs[i]["answer"], str(extracted[i])) for i, (ok, _) in enumerate(results) if ok != expected[i % 6]]
    print(f"verdicts different from the construction: {len(wrong)}", *wrong[:10], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
