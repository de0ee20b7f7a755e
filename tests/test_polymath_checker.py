"""PolyMath's answer checker against the release's own verdicts (tests/reference/polymath/: the
pair set, the official math_equal's verdicts from its own environment, PROVENANCE.md), the
classified disagreements (benchmarks/polymath_agreement.py --write), adversarial LaTeX under
a deadline, and the release's langdetect consistency rule."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from lm_eval_ext.metrics import langdetect_rule, math_answer
from lm_eval_ext.runtime import math_check

REF = Path(__file__).resolve().parent / "reference" / "polymath"


def _jsonl(name):
    with open(REF / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def reference():
    pairs = _jsonl("pairs.jsonl")
    official = {r["id"]: r["verdict"] == "true" for r in _jsonl("reference_verdicts.jsonl")}
    listed = {r["id"]: r for r in _jsonl("disagreements.jsonl")}
    return pairs, official, listed


def _ours(pair) -> bool:
    pred = None if pair["pred"] is None else math_answer.first_boxed("\\boxed{" + pair["pred"] + "}")
    return False if pred is None else math_check.check(pred, pair["gold"]).equal


def test_every_verdict_is_the_releases_or_a_listed_disagreement(reference):
    """All pairs decided without algebra, and every 6th of the others (the benchmark runs all):
    our verdict is the release's, unless the pair is in the classified list with our verdict."""
    pairs, official, listed = reference
    assert len(pairs) >= 2000 and set(official) == {p["id"] for p in pairs}
    symbolic = 0
    checked = 0
    for p in pairs:
        pred = None if p["pred"] is None else math_answer.first_boxed("\\boxed{" + p["pred"] + "}")
        if pred is not None and math_answer.quick_equal(pred, p["gold"]) is None:
            symbolic += 1
            if symbolic % 6:
                continue
        expected = listed[p["id"]]["ours"] if p["id"] in listed else official[p["id"]]
        assert _ours(p) == expected, (p["id"], p["kind"], p["pred"], p["gold"], "official", official[p["id"]])
        checked += 1
    assert checked > 2400


def test_the_disagreements_are_classified_and_few_where_the_release_is_right(reference):
    pairs, official, listed = reference
    by_id = {p["id"]: p for p in pairs}
    classes = {"official bug": 0, "ambiguous": 0, "ours": 0}
    for r in listed.values():
        p = by_id[r["id"]]
        assert r["official"] == official[r["id"]] != r["ours"] and r["kind"] == p["kind"]
        right = p["expect"] == "equal"
        if p["expect"] == "ambiguous":
            assert r["class"] == "ambiguous"
        elif r["ours"] == right:
            assert r["class"] == "official bug" and r["why"], r
        else:
            assert r["class"] == "ours"
        classes[r["class"]] += 1
    clear = len(pairs) - classes["official bug"] - classes["ambiguous"]
    assert (clear - classes["ours"]) / clear >= 0.995  # the goal, on pairs with a clear label the release gets right
    # where the release is wrong in a way users see, ours is kept: \text{540} for 540, 540^\circ, units
    for kind in ("text_wrap", "degree", "unit_text", "currency", "nested_boxed"):
        assert any(r["kind"] == kind and r["class"] == "official bug" and r["ours"] for r in listed.values()), kind


def _expand(segments):
    return "".join(unit * times for unit, times in segments)


ADVERSARIAL = ("a000", "a003", "a015", "a017", "a018", "a022", "a023", "a025", "a031", "a036", "a038", "a039", "a041")


def test_adversarial_latex_cannot_hang_a_run():
    rows = {r["id"]: r for r in _jsonl("adversarial.jsonl")}
    deadline = 2.0
    start = time.perf_counter()
    for key in ADVERSARIAL:
        r = rows[key]
        pred = r["pred"] if "pred_segments" not in r else _expand(r["pred_segments"])
        gold = r["gold"] if "gold_segments" not in r else _expand(r["gold_segments"])
        t = time.perf_counter()
        boxed = math_answer.first_boxed("\\boxed{" + pred + "}")
        verdict = math_check.check(boxed, gold, deadline_s=deadline) if boxed is not None else None
        # a deadline and the restart of the worker it killed, on a loaded machine
        assert time.perf_counter() - t < deadline + 60, key
        if r["expect"] == "different":
            assert verdict is None or not verdict.equal, key
        if key == "a039":  # direction marks around Arabic-Indic digits
            assert verdict.equal
    assert time.perf_counter() - start < 400
    assert math_check.check("\\sqrt{2}\\cdot\\sqrt{2}", "2").equal  # the worker answers after the kills


def _langdetect_python() -> str | None:
    if not langdetect_rule.unavailable():
        return "here"
    return os.environ.get("LM_EVAL_EXT_TEST_LANGDETECT_PYTHON") or None


def test_langdetect_rule_matches_the_release():
    """204 texts (all 18 languages, short, LaTeX-heavy, mixed, wrong-language) and the release's
    verdicts with seed 0. Needs langdetect (optional) here, or an interpreter that has it named by
    LM_EVAL_EXT_TEST_LANGDETECT_PYTHON (the rule module loads by path; it needs nothing else)."""
    cases = _jsonl("langdetect_reference.jsonl")
    python = _langdetect_python()
    if python is None:
        pytest.skip("langdetect is not installed here and LM_EVAL_EXT_TEST_LANGDETECT_PYTHON is not set")
    if python == "here":
        got = [langdetect_rule.consistent(c["text"], c["lang"]) for c in cases]
    else:
        code = ("import importlib.util, json, sys\n"
                "spec = importlib.util.spec_from_file_location('rule', sys.argv[1])\n"
                "rule = importlib.util.module_from_spec(spec); spec.loader.exec_module(rule)\n"
                "cases = [json.loads(l) for l in open(sys.argv[2], encoding='utf-8')]\n"
                "print(json.dumps([rule.consistent(c['text'], c['lang']) for c in cases]))\n")
        proc = subprocess.run([python, "-c", code, langdetect_rule.__file__, str(REF / "langdetect_reference.jsonl")],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        got = json.loads(proc.stdout)
    assert got == [c["consistent"] for c in cases]


def test_without_langdetect_the_official_rule_is_nan_with_the_reason():
    if not langdetect_rule.unavailable():
        pytest.skip("langdetect is installed here")
    from lm_eval_ext.missing import skip_of

    reason = skip_of(langdetect_rule.signature()).reason
    assert "langdetect not installed" in reason and 'pip install "lm-eval-ext[langdetect]"' in reason
