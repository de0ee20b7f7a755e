"""Agreement of PolyMath answer checkers with the release's checker on the reference pair set.

The pair set and the release's verdicts are committed (tests/reference/polymath/: pairs.jsonl
from make_pairs.py, reference_verdicts.jsonl from regenerate.py in the release's own
environment; PROVENANCE.md). Each pair is checked as ``run_eval.py`` checks a reply: the first
``\\boxed{}`` of ``\\boxed{<pred>}`` (spaces removed), compared with the gold.

Candidates (the choice is made on these numbers, BENCHMARKS.md "PolyMath answer checking"):

- ``ours``: `lm_eval_ext.runtime.math_check.check` (`metrics.math_answer`: string and number
  forms, then math-verify with the release's numeric tolerance), with its deadline;
- ``math-verify``: the library as its README calls it (``verify(parse(gold), parse(pred))``,
  gold in ``$...$``, the prediction as ``\\boxed{...}``), with its own timeouts.

Every disagreement with the release is classified against the pair's construction label
(``expect``: equal / different / ambiguous): *official bug* (the release contradicts an
unambiguous label and the candidate follows it), *ours* (the candidate contradicts it),
*ambiguous*. Written with ``--write`` to tests/reference/polymath/disagreements.jsonl (the
classified list the tests hold the checker to).

    python benchmarks/polymath_agreement.py [--write] [--no-math-verify]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REF = REPO / "tests" / "reference" / "polymath"

# why the release's verdict is wrong, per pair kind where it contradicts the label (what a user sees)
OFFICIAL_BUG_NOTES = {
    "unit_text": "rejects a correct number followed by a \\text{} unit (run_eval.py never calls strip_string)",
    "unit_text_inside": "rejects a number written inside \\text{} with its unit",
    "text_wrap": "rejects \\text{540} for 540",
    "text_wrap_unit": "rejects a correct expression followed by a \\text{} unit",
    "currency": "rejects a currency sign (\\$18, €64)",
    "degree": "rejects a degree sign (540^\\circ)",
    "degree_unicode": "rejects a degree sign (3°)",
    "mathbf": "rejects \\mathbf{18}",
    "displaystyle": "rejects \\displaystyle 18",
    "nested_boxed": "rejects \\boxed{20} inside the box",
    "paren_inline_math": "rejects \\(70000\\)",
    "number_words": "rejects numbers in words (twenty)",
    "number_words_text": "rejects numbers in words inside \\text{}",
    "thousands_brace_comma": "rejects 70{,}000",
    "thousands_nbsp": "rejects a no-break space as thousands separator",
    "thousands_tilde": "rejects 57~500",
    "native_thousands": "rejects native digits with the Arabic thousands sign",
    "bare": "rejects the gold itself without its $ when the gold has spaces (it removes the reply's spaces only)",
    "exact": "rejects the gold itself, $ included, when the gold has spaces (it removes the reply's spaces only)",
    "spaces_added": "rejects the gold with other spacing",
    "spaces_removed": "rejects the gold with its spaces removed",
    "scale_x100_percent": "accepts 100 times the gold (its include_percentage)",
    "scale_div100_percent": "accepts a hundredth of the gold (its include_percentage)",
    "concat_list": "accepts 7000,0 for 70000 (commas deleted before reading a number)",
    "near_relative_1e-4": "accepts a different integer within a relative 1e-4 (57502 for 57500)",
    "off_by_one": "accepts a different large integer within a relative 1e-4",
    "wrong_expr": "accepts a different huge or tiny number (float overflow or a relative 1e-4)",
    "sign_flip_term": "accepts 2^{99}+1 for 2^{99}-1 (relative 1e-4)",
    "two_answers": "accepts two numbers for one (commas deleted)",
    "ineq_strict": "accepts a strict inequality for a non-strict one (k>2 for k\\geq 2)",
    "wrong_coeff": "accepts a different huge number (float overflow or a relative 1e-4)",
    "native_decimal_sep": "rejects the Arabic decimal sign (٠٫٦٥ for 0.65)",
}
# the release compares a gold written between $ with its $ and spaces (only the reply's spaces are
# removed): neither its string forms nor its LaTeX parsers then match most equal answers
LATEX_GOLD = "rejects an equal answer to a gold written between $ (compared with its $ and spaces)"


def load(name: str) -> list[dict]:
    with open(REF / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def classify(expect: str, official: bool, candidate: bool) -> str:
    if expect == "ambiguous":
        return "ambiguous"
    right = expect == "equal"
    return "official bug" if official != right and candidate == right else "ours"


def extracted(pred):
    from lm_eval_ext.metrics import math_answer

    return None if pred is None else math_answer.first_boxed("\\boxed{" + pred + "}")


def ours(pairs) -> dict[str, bool]:
    from lm_eval_ext.runtime import math_check

    out = {}
    for p in pairs:
        pred = extracted(p["pred"])
        out[p["id"]] = False if pred is None else math_check.check(pred, p["gold"]).equal
    return out


def plain_math_verify(pairs, deadline_s: float) -> dict[str, bool]:
    """The library's README call, in this process with its own (signal) timeouts: the pair set
    holds no adversarial input (tests/reference/polymath/adversarial.jsonl is checked apart)."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    out = {}
    for p in pairs:
        gold = p["gold"] if "$" in p["gold"] else "$" + p["gold"] + "$"
        try:
            g = parse(gold, parsing_timeout=int(deadline_s))
            pr = parse("\\boxed{" + (p["pred"] or "") + "}", parsing_timeout=int(deadline_s))
            out[p["id"]] = bool(verify(g, pr, timeout_seconds=int(deadline_s)))
        except Exception:  # a timeout or parser error: not equal, as the library itself counts it
            out[p["id"]] = False
    return out


def _against(name: str, pairs, verdicts: dict) -> None:
    """The candidate's errors against the construction label, whatever the release says."""
    clear = [p for p in pairs if p["expect"] != "ambiguous"]
    wrong = collections.Counter(p["kind"] for p in clear if verdicts[p["id"]] != (p["expect"] == "equal"))
    print(f"{name} against the construction label: {sum(wrong.values())} of {len(clear)} clear pairs {dict(wrong)}")


def _why(pair: dict) -> str:
    if pair["kind"] in OFFICIAL_BUG_NOTES:
        return OFFICIAL_BUG_NOTES[pair["kind"]]
    return LATEX_GOLD if "$" in pair["gold"] else "rejects an equal form"


def report(name: str, pairs, official: dict, verdicts: dict) -> list[dict]:
    rows, by_class = [], collections.Counter()
    for p in pairs:
        off, cand = official[p["id"]], verdicts[p["id"]]
        if off == cand:
            continue
        cls = classify(p["expect"], off, cand)
        by_class[cls] += 1
        rows.append({"id": p["id"], "kind": p["kind"], "expect": p["expect"], "pred": p["pred"], "gold": p["gold"],
                     "official": off, "ours": cand, "class": cls,
                     "why": _why(p) if cls == "official bug" else ""})
    n = len(pairs)
    agree = n - len(rows)
    not_bug = n - by_class["official bug"]
    clear = not_bug - by_class["ambiguous"]
    print(f"{name}: agreement {agree}/{n} = {agree / n:.4f}; excluding the release's bugs "
          f"{agree}/{not_bug} = {agree / not_bug:.4f}; on the pairs with a clear label where the release is right "
          f"{clear - by_class['ours']}/{clear} = {(clear - by_class['ours']) / clear:.4f}; disagreements {dict(by_class)}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write tests/reference/polymath/disagreements.jsonl")
    ap.add_argument("--no-math-verify", action="store_true", help="skip the plain math-verify candidate")
    ap.add_argument("--deadline", type=float, default=10.0)
    args = ap.parse_args(argv)
    pairs = load("pairs.jsonl")
    official = {r["id"]: r["verdict"] == "true" for r in load("reference_verdicts.jsonl")}
    t0 = time.perf_counter()
    mine = ours(pairs)
    print(f"ours: {len(pairs)} pairs in {time.perf_counter() - t0:.1f} s")
    _against("ours", pairs, mine)
    rows = report("ours", pairs, official, mine)
    kinds = collections.Counter((r["class"], r["kind"]) for r in rows)
    whys = {(r["class"], r["kind"]): r["why"] for r in rows}
    for (cls, kind), n in sorted(kinds.items()):
        print(f"  {cls:12s} {kind:28s} {n:4d}  {whys[(cls, kind)]}")
    if not args.no_math_verify:
        t0 = time.perf_counter()
        plain = plain_math_verify(pairs, args.deadline)
        print(f"math-verify: {len(pairs)} pairs in {time.perf_counter() - t0:.1f} s")
        _against("math-verify", pairs, plain)
        report("math-verify (README call)", pairs, official, plain)
    if args.write:
        with open(REF / "disagreements.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"wrote {REF / 'disagreements.jsonl'} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
