"""Math answers: the first ``\\boxed{}`` of a reply, and whether it equals a gold answer.

- ``first_boxed(text)``: the release's extraction (PolyMath ``eval/run_eval.py``): spaces
  removed, the content of the first balanced ``boxed{...}``; None when there is none.
- ``quick_equal(pred, gold)``: the verdict when it needs no symbolic algebra (True / False),
  else None. Cheap and bounded: string forms and numbers only.
- ``equal(pred, gold)``: the full verdict; the symbolic part is HF's math-verify (parse +
  verify, the library lighteval and open-r1 use). It has no deadline of its own: run it through
  `lm_eval_ext.runtime.math_check`, which does.

What counts as the same answer (chosen by measurement against the release's checker,
BENCHMARKS.md "PolyMath answer checking"):

- the same string (case and white space aside), or the same after removing what carries no
  value: ``$`` delimiters, ``\\displaystyle``, ``\\left``/``\\right``, ``\\mathbf``/``\\textbf``,
  a ``\\text{}`` unit after a number (``18\\text{ dollars}``), a number inside ``\\text{}``,
  currency signs, degree signs, a nested ``\\boxed{}``, a trailing full stop, a leading ``+``;
- numbers: native digits (``৫৪০``), thousands separators (``57,500``, ``57\\,500``, ``70{,}000``,
  no-break and thin spaces, ``٬``), the Arabic decimal sign, ``25e3``, ``7\\times10^{4}``,
  English number words, fractions ``\\frac{a}{b}`` / ``a/b``. Two integers must be equal; other
  numbers within a relative 1e-4 (the release's tolerance). A trailing percent sign may be
  read or not (``65\\%`` equals 65 and 0.65). A decimal comma (``0,65``), apostrophes and dots as
  thousands separators are not read (ambiguous; the release reads none of them);
- everything else: math-verify's verdict on both, each parsed as a boxed LaTeX answer.

The release also accepts 100x and 1/100x of a plain-number gold (its ``include_percentage``),
rejects a correct answer with a unit, a degree sign or a currency sign, and rejects LaTeX golds
written between ``$`` when the reply's spaces differ (it removes the reply's spaces, not the
gold's): those verdicts are not followed (listed in BENCHMARKS.md).
"""

from __future__ import annotations

import math
import re
import unicodedata
from fractions import Fraction
from functools import lru_cache

VERSION = 1
SIGNATURE = (f"math-answer:v{VERSION}|extract:first-boxed(spaces-removed)|numbers:native-digits,separators,words"
             "|int:exact|float:rel1e-4|percent:either|symbolic:math-verify")

_BOXED = "boxed{"


# ------------------------------------------------------------------- extraction
def first_boxed(text: str | None) -> str | None:
    """The content of the first balanced ``boxed{...}`` of `text` with its spaces removed (the
    release's rule: a ``\\boxed{`` whose braces never close is skipped). Linear in the text."""
    if not text or _BOXED not in text.replace(" ", ""):
        return None
    text = text.replace(" ", "")
    closing: dict[int, int] = {}
    stack: list[int] = []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            closing[stack.pop()] = i
    start = text.find(_BOXED)
    while start != -1:
        brace = start + len(_BOXED) - 1
        end = closing.get(brace)
        if end is not None:  # stack pairing = the release's brace counting from this box
            return text[brace + 1:end]
        start = text.find(_BOXED, start + 1)
    return None


# ------------------------------------------------------------------- normal forms
_SPACES = re.compile(r"\s+")
_WRAPPERS = ("\\displaystyle", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\ ")
# fonts only; \\mathrm is how units are written (`_strip_decorations` removes those)
_FONT = re.compile(r"\\(?:mathbf|textbf|boldsymbol|mathit|bm)\{([^{}]*)\}")
_TEXT = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm)\{([^{}]*)\}")
_DEGREE = re.compile(r"\^\{?\\circ\}?|°|\\degree")
_CURRENCY = re.compile(r"\\\$|US\$|[€£¥₹₩₫₦]|\\euro|\\pounds")
_NESTED_BOX = re.compile(r"^\\boxed\{(.*)\}$", re.S)
_INLINE = re.compile(r"^\\\((.*)\\\)$|^\\\[(.*)\\\]$", re.S)
_LOST_SPACE = re.compile(r"\\\\(?=(?:text|textrm|mathrm|mbox|quad|qquad)\{?)")
# a unit after the answer: 18\text{dollars}, \pi\text{units}, 83\text{m}^2, 18\mathrm{cm}
_UNIT_AFTER = re.compile(r"^(.+?)\\(?:text|mbox|mathrm|textrm)\{[^{}\d]*\}(?:\^\{?\d\}?)?$", re.S)
_OVERLINE = re.compile(r"^([-+]?)(\d*)\.(\d*)\\overline\{(\d+)\}$")


def unwrap(text: str) -> str:
    """A gold or an extracted answer without what carries no value (its ``$`` delimiters,
    spacing commands, fonts, a nested box), white space removed."""
    s = (text or "").strip()
    if "\\$" not in s:
        s = s.replace("$", "")
    s = _SPACES.sub("", s)
    # "\ \text{km}" (a control space) lost its space to the extraction: "\\text{km}" is no line break
    s = _LOST_SPACE.sub(r"\\", s)
    if not s.isascii() and any(unicodedata.category(ch) == "Cf" for ch in s):  # direction marks, zero-width spaces
        s = "".join(ch for ch in s if unicodedata.category(ch) != "Cf")
    depth = min(len(s) - len(s.lstrip("{")), len(s) - len(s.rstrip("}")), (len(s) - 1) // 2)
    if depth > 1 and _balanced(s[depth:-depth]):  # {{{18}}}: every layer at once (linear)
        s = s[depth:-depth]
    for _ in range(3):
        before = s
        m = _NESTED_BOX.match(s) or _INLINE.match(s)
        if m:
            s = next(g for g in m.groups() if g is not None)
        s = _FONT.sub(r"\1", s)
        for w in _WRAPPERS:
            s = s.replace(w, "")
        s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
        s = s.rstrip(".").rstrip("。")
        if s.startswith("{") and s.endswith("}") and _balanced(s[1:-1]):
            s = s[1:-1]
        if s == before:
            break
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


# ------------------------------------------------------------------------ numbers
_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALES = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9}


_WORDS = sorted([*_UNITS, *_TENS, *_SCALES, "hundred", "and"], key=len, reverse=True)


def _word_tokens(text: str) -> list[str] | None:
    """English number words, also glued together (the release's extraction removes spaces:
    "fivehundredforty"), longest word first; None when something else is there."""
    out = []
    for chunk in re.split(r"[\s\-]+", text.lower().strip()):
        i = 0
        while i < len(chunk):
            word = next((w for w in _WORDS if chunk.startswith(w, i)), None)
            if word is None:
                return None
            out.append(word)
            i += len(word)
    return out


def number_words(text: str) -> int | None:
    """An English number written in words ("three hundred sixty-six"), else None."""
    words = [w for w in _word_tokens(text) or () if w != "and"]
    if not words:
        return None
    total = current = 0
    for w in words:
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        else:
            total += (current or 1) * _SCALES[w]
            current = 0
    return total + current


_GROUP_MARKS = ("{,}", "\\,", "~", "\u00a0", "\u202f", "\u2009", "\u066c", "\\thinspace")
_PLAIN = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_COMMA_GROUPED = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_TIMES_TEN = re.compile(r"^([-+]?\d+(?:\.\d+)?)(?:\\times|\\cdot|×|\*)10\^\{?([-+]?\d+)\}?$")
_FRAC = re.compile(r"^([-+]?)\\frac\{([-+]?[\d.]+)\}\{([-+]?[\d.]+)\}$")
_SLASH = re.compile(r"^([-+]?\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)$")


def _ascii_digits(s: str) -> str:
    out = []
    for ch in s:
        if ch.isdigit() and not ("0" <= ch <= "9"):
            try:
                out.append(str(unicodedata.decimal(ch)))
                continue
            except ValueError:
                pass
        elif ch == "\u066b":  # Arabic decimal separator
            out.append(".")
            continue
        elif "\uff10" <= ch <= "\uff19":
            out.append(chr(ord(ch) - 0xFF10 + 48))
            continue
        out.append(ch)
    return "".join(out)


class Number:
    """A number read from an answer: its value, and whether a percent sign followed it."""

    __slots__ = ("value", "percent")

    def __init__(self, value: Fraction, percent: bool = False):
        self.value, self.percent = value, percent

    def __repr__(self) -> str:  # pragma: no cover - debugging
        return f"Number({self.value}{'%' if self.percent else ''})"


def _strip_decorations(s: str) -> tuple[str, bool]:
    """(the answer without currency, degree sign, trailing unit text; percent sign found?)"""
    s = _CURRENCY.sub("", s)
    s = _DEGREE.sub("", s)
    percent = False
    for mark in ("\\%", "%", "\\text{percent}", "percent"):
        if s.endswith(mark):
            s, percent = s[: -len(mark)], True
            break
    m = _UNIT_AFTER.match(s)
    if m:
        s = m.group(1)
    # a number inside \text{}: \text{540}, \text{540 km/h}, \text{five hundred forty}
    m = re.match(r"^\\(?:text|mbox|textrm|mathrm)\{(.*)\}$", s)
    if m:
        inner = m.group(1)
        words = number_words(inner)
        if words is not None:
            return str(words), percent
        um = re.match(r"^([-+]?[\d.,]*\d)[^\W\d_/]*(?:/[^\W\d_]+)?$", inner)  # 540km/h, 5Stück
        s = um.group(1) if um else inner
    return s, percent


def as_number(text: str) -> Number | None:
    """The number an answer writes (module docstring), or None when it is not a plain number."""
    s = _ascii_digits(unwrap(text))
    if not s or len(s) > 200:
        return None
    s, percent = _strip_decorations(s)
    s = s.rstrip(".")
    if len(s) > 2 and s[0] + s[-1] in ("()", "[]") and not any(c in s[1:-1] for c in "()[],"):
        s = s[1:-1]  # (18): a number in parentheses, never an interval (no comma)
    if s.startswith("+"):
        s = s[1:]
    words = number_words(s) if s.isalpha() or "-" in s and s.replace("-", "").isalpha() else None
    if words is not None:
        return Number(Fraction(words), percent)
    for mark in _GROUP_MARKS:
        if mark in s:
            grouped = s.replace(mark, ",")
            if _COMMA_GROUPED.match(grouped):
                s = grouped
            break
    if _COMMA_GROUPED.match(s):
        s = s.replace(",", "")
    if _PLAIN.match(s):
        try:
            mantissa_exp = s.lower().split("e")
            if len(mantissa_exp) == 2 and abs(int(mantissa_exp[1])) > 400:
                return None
            return Number(Fraction(s), percent)
        except (ValueError, ZeroDivisionError):
            return None
    m = _TIMES_TEN.match(s)
    if m and abs(int(m.group(2))) <= 400:
        return Number(Fraction(m.group(1)) * Fraction(10) ** int(m.group(2)), percent)
    m = _OVERLINE.match(s)
    if m:  # a repeating decimal: 0.8\overline{3} = 5/6
        sign, whole, fixed, period = m.groups()
        value = Fraction(int(whole or 0)) + (Fraction(int(fixed or 0)) + Fraction(int(period), 10 ** len(period) - 1)) \
            / 10 ** len(fixed)
        return Number(-value if sign == "-" else value, percent)
    m = _FRAC.match(s) or _SLASH.match(s)
    if m:
        sign, num, den = (m.groups() if len(m.groups()) == 3 else ("", *m.groups()))
        try:
            value = Fraction(num) / Fraction(den)
        except (ValueError, ZeroDivisionError):
            return None
        return Number(-value if sign == "-" else value, percent)
    return None


def _close(a: Fraction, b: Fraction) -> bool:
    if a.denominator == 1 and b.denominator == 1:
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-4)


def numbers_equal(pred: Number, gold: Number) -> bool:
    """Integers exactly, other numbers within a relative 1e-4; a percent sign may be read or not."""
    candidates = [pred.value] + ([pred.value / 100] if pred.percent else [])
    targets = [gold.value] + ([gold.value / 100] if gold.percent else [])
    return any(_close(p, g) for p in candidates for g in targets)


# ------------------------------------------------------------------------- verdicts
def _simple(s: str) -> str:
    return unwrap(s).lower()


def quick_equal(pred: str | None, gold: str) -> bool | None:
    """The verdict when no symbolic algebra is needed: True or False; None otherwise."""
    if pred is None or not pred.strip():
        return False
    if pred.strip().lower() == gold.strip().lower():
        return True
    p, g = _simple(pred), _simple(gold)
    if p == g:
        return True
    gn = as_number(gold)
    pn = as_number(pred)
    if gn is not None and pn is not None:
        return numbers_equal(pn, gn)
    if gn is not None and p and _looks_like_plain_text(p):
        return False
    return None


def _looks_like_plain_text(s: str) -> bool:
    """Letters only (a word, no LaTeX command): never a number's other form."""
    return s.isalpha() and number_words(s) is None


@lru_cache(maxsize=4096)
def _parsed(answer: str):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
    from math_verify.parser import NormalizationConfig

    # units=False: math-verify's unit rule deletes a trailing letter that names a unit ("4+2d" -> 4+2,
    # "2h" -> 2); units written as \text{} are removed before (`_strip_decorations`)
    normalization = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True,
                                        boxed="all", equations=False)
    config = [LatexExtractionConfig(boxed_match_priority=0, normalization_config=normalization),
              ExprExtractionConfig()]
    return parse("\\boxed{" + answer + "}", extraction_config=config, parsing_timeout=None)


def _for_math_verify(answer: str) -> str:
    s = unwrap(answer)
    s, percent = _strip_decorations(s)
    return s + ("\\%" if percent else "")


def _value(expr):
    """The number a parsed answer stands for (a sympy Rational, or a 30-digit Float), or None
    (a set, an interval, a relation, an expression with free symbols)."""
    import sympy

    if not isinstance(expr, sympy.Expr) or not expr.is_number:
        return None
    if not expr.is_Rational and expr.is_rational:  # 2\cdot(1012)^2 left unevaluated: its exact value
        expr = expr.doit()
    if expr.is_Rational:
        return expr
    value = sympy.N(expr, 30)
    return value if value.is_real and value.is_finite else None


def values_close(a, b, exact_rationals: bool = True) -> bool:
    """Two exact rationals are equal or not (`exact_rationals`); otherwise the release's relative 1e-4."""
    if exact_rationals and a.is_Rational and b.is_Rational:
        return a == b
    return bool(abs(a - b) <= 1e-4 * max(abs(a), abs(b)))


def symbolic_equal(pred: str, gold: str) -> bool:
    """math-verify's verdict on the two answers (no deadline: `runtime.math_check`), with the
    release's numeric tolerance where it has a meaning: math-verify rounds numbers to 6 decimals
    (1e-40 would equal 2e-40), so a numeric "yes" must also hold within a relative 1e-4 (exactly,
    for two rationals); and a plain number given for a gold that is not an integer (1.0472 for
    pi/3, 0.1111 for 1/9) is its approximation, right within a relative 1e-4."""
    from math_verify import verify

    g, p = _parsed(_for_math_verify(gold)), _parsed(_for_math_verify(pred))
    if not g or not p:
        return False
    same = bool(verify(g, p, timeout_seconds=None))
    gv, pv = _value(g[0]), _value(p[0])
    if gv is None or pv is None:
        return same
    if as_number(pred) is not None and not gv.is_Integer:
        return values_close(gv, pv, exact_rationals=False)
    return same and values_close(gv, pv)


def equal(pred: str | None, gold: str) -> bool:
    """Whether `pred` (an extracted answer) is the gold answer (module docstring)."""
    quick = quick_equal(pred, gold)
    if quick is not None:
        return quick
    return symbolic_equal(pred, gold)
