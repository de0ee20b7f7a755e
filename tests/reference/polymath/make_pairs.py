#!/usr/bin/env python3
"""Deterministic generator of (prediction, gold) pairs for PolyMath answer checking.

Own code (stdlib only, no code from the official PolyMath repository).

Reads the real PolyMath golds (/work/shared/data/polymath/polymath_<lang>.<level>.jsonl),
dedupes them (the golds are identical across the 18 languages; this is asserted), and
writes, for every distinct gold, a handful of realistic *equal* and *near-miss* variants:

  pairs.jsonl        {"id","pred","gold","kind","expect","source_id"}
  adversarial.jsonl  {"id","pred","gold","kind","expect","note"}

`pred` is what a model would put inside \\boxed{...} (the reference runner wraps it in
\\boxed{} and runs the official extractor on it).  `pred` may be null (= the model produced
no box at all).  `expect` is this script's own mathematical judgement:
  "equal"      same value/answer (a fair grader should accept)
  "different"  a wrong answer (a fair grader should reject)
  "ambiguous"  depends on policy (approximate decimals, percent vs fraction, locale
               separators, mixed numbers, ...)

Usage: python3 make_pairs.py [--data DIR] [--out DIR] [--seed N]
"""
import argparse
import json
import math
import os
import random
import re
from fractions import Fraction

LANGS = "ar bn de en es fr id it ja ko ms pt ru sw te th vi zh".split()
LEVELS = ["low", "medium", "high", "top"]

# ----------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------

NATIVE_DIGITS = {
    "arabic_indic": 0x0660,
    "persian": 0x06F0,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "telugu": 0x0C66,
    "fullwidth": 0xFF10,
}


def to_native(s, script):
    base = NATIVE_DIGITS[script]
    return "".join(chr(base + int(c)) if c.isdigit() and c.isascii() else c for c in s)


ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n):
    """English number words (own implementation), n < 10**9."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    for size, name in ((10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return number_words(n // size) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise ValueError(n)


def group3(n, sep):
    s = str(abs(n))
    parts = []
    while len(s) > 3:
        parts.insert(0, s[-3:])
        s = s[:-3]
    parts.insert(0, s)
    return ("-" if n < 0 else "") + sep.join(parts)


def fmt_sig(x, sig):
    """Decimal string with `sig` significant digits, no exponent, trailing zeros removed."""
    if x == 0:
        return "0"
    digits = sig - int(math.floor(math.log10(abs(x)))) - 1
    digits = max(digits, 0)
    s = f"{x:.{digits}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def strip_math_delims(g):
    s = g.strip()
    if s.endswith(".") and s.count("$") >= 2:
        s = s[:-1].rstrip()
    if s.startswith("$$") and s.endswith("$$") and s.count("$") == 4:
        return s[2:-2].strip()
    if s.startswith("$") and s.endswith("$") and s.count("$") == 2:
        return s[1:-1].strip()
    return s


def match_brace(s, i):
    """s[i] == '{' ; return index of matching '}' or -1."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def balanced(s):
    d = 0
    for c in s:
        if c == "{":
            d += 1
        elif c == "}":
            d -= 1
            if d < 0:
                return False
    return d == 0


def split_top(s, sep=","):
    """Split on `sep` at brace/paren/bracket depth 0."""
    out, depth, cur = [], 0, ""
    i = 0
    while i < len(s):
        c = s[i]
        if s.startswith("\\{", i) or s.startswith("\\left", i) and False:
            pass
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        if c == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


# ----------------------------------------------------------------------------------
# tiny LaTeX numeric evaluator (own code): numbers, + - * /, \frac, \sqrt, ^, \pi, e,
# \ln, \cdot, \times, parentheses, implicit multiplication, !.  Returns float or None.
# ----------------------------------------------------------------------------------

class _Ev:
    def __init__(self, s):
        s = s.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
        s = s.replace("\\cdot", "*").replace("\\times", "*").replace(" ", "").replace("\\,", "")
        self.s = s
        self.i = 0

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def run(self):
        v = self.expr()
        if self.i != len(self.s):
            raise ValueError("trailing " + self.s[self.i:])
        return v

    def expr(self):
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.peek()
            self.i += 1
            w = self.term()
            v = v + w if op == "+" else v - w
        return v

    def term(self):
        v = self.unary()
        while True:
            c = self.peek()
            if c in ("*", "/"):
                self.i += 1
                w = self.unary()
                v = v * w if c == "*" else v / w
            elif c and (c.isdigit() or c in "({\\e") and not self.s.startswith("\\right", self.i):
                v = v * self.power()  # implicit multiplication
            else:
                return v

    def unary(self):
        if self.peek() == "-":
            self.i += 1
            return -self.unary()
        if self.peek() == "+":
            self.i += 1
            return self.unary()
        return self.power()

    def power(self):
        v = self.atom()
        while True:
            if self.peek() == "^":
                self.i += 1
                e = self.group_or_char()
                v = v ** e
            elif self.peek() == "!":
                self.i += 1
                if v != int(v) or v > 170:
                    raise ValueError("fact")
                v = float(math.factorial(int(v)))
            else:
                return v

    def group_or_char(self):
        if self.peek() == "{":
            j = match_brace(self.s, self.i)
            v = _Ev(self.s[self.i + 1:j]).run()
            self.i = j + 1
            return v
        c = self.peek()
        self.i += 1
        if c.isdigit():
            return float(c)
        if c == "e":
            return math.e
        raise ValueError("bad exponent")

    def atom(self):
        s, i = self.s, self.i
        m = re.match(r"\d+(\.\d+)?", s[i:])
        if m:
            self.i += m.end()
            return float(m.group(0))
        if s.startswith("\\frac", i):
            self.i += 5
            a = self.group_or_char()
            b = self.group_or_char()
            return a / b
        if s.startswith("\\sqrt", i):
            self.i += 5
            n = 2.0
            if self.peek() == "[":
                j = s.index("]", self.i)
                n = float(_Ev(s[self.i + 1:j]).run())
                self.i = j + 1
            a = self.group_or_char()
            return a ** (1.0 / n)
        if s.startswith("\\pi", i):
            self.i += 3
            return math.pi
        if s.startswith("\\ln", i):
            self.i += 3
            return math.log(self.power())
        if s.startswith("\\arctan", i):
            self.i += 7
            return math.atan(self.power())
        if s[i:i + 1] == "e" and not s[i + 1:i + 2].isalpha():
            self.i += 1
            return math.e
        if s[i:i + 1] in ("(", "{"):
            close = ")" if s[i] == "(" else "}"
            depth, j = 0, i
            while j < len(s):
                if s[j] in "({":
                    depth += 1
                elif s[j] in ")}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= len(s) or s[j] != close:
                raise ValueError("paren")
            v = _Ev(s[i + 1:j]).run()
            self.i = j + 1
            return v
        raise ValueError("unknown at " + s[i:])


def num_value(latex):
    try:
        v = _Ev(latex).run()
        if isinstance(v, complex) or v != v or abs(v) > 1e15:
            return None
        return float(v)
    except (ValueError, ZeroDivisionError, OverflowError, IndexError, RecursionError):
        return None


FRAC_RE = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}$")


def as_fraction(core):
    m = FRAC_RE.match(core.replace(" ", ""))
    if m:
        f = Fraction(int(m.group(2)), int(m.group(3)))
        return -f if m.group(1) else f
    return None


def terminating(f):
    d = f.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def frac_to_slash(s):
    """Rewrite every \\frac{A}{B} as (A)/(B) (parens dropped for simple atoms)."""
    out, i = "", 0
    while i < len(s):
        if s.startswith("\\frac{", i) or s.startswith("\\dfrac{", i):
            k = s.index("{", i)
            j = match_brace(s, k)
            if j < 0 or j + 1 >= len(s) or s[j + 1] != "{":
                return None
            l2 = match_brace(s, j + 1)
            if l2 < 0:
                return None
            a, b = frac_to_slash(s[k + 1:j]), frac_to_slash(s[j + 2:l2])
            if a is None or b is None:
                return None
            wrap = lambda t: t if re.fullmatch(r"-?[\w.]+|\\sqrt\{\w+\}|\\pi", t) else "(" + t + ")"
            out += wrap(a) + "/" + wrap(b)
            i = l2 + 1
        else:
            out += s[i]
            i += 1
    return out


def frac_shorthand(s):
    """\\frac{5}{4} -> \\frac54 where both args are single characters."""
    t = re.sub(r"\\frac\{(\w)\}\{(\w)\}(?![\w])", r"\\frac\1\2", s)
    t2 = re.sub(r"\\sqrt\{(\w)\}", r"\\sqrt\1", s)
    if t != s:
        return t
    if t2 != s:
        return t2
    return None


def sum_terms(core):
    """Split a sum into signed top-level terms; None if it is not a sum of >= 2 terms."""
    s = core.strip()
    if any(t in s for t in ("$", ";", "\\pm", "\\le", "\\ge", "<", ">", "\\in", "\\equiv", "\\neq")):
        return None
    if len(split_top(s)) > 1:
        return None
    terms, cur, depth = [], "", 0
    i = 0
    while i < len(s):
        c = s[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        if c in "+-" and depth == 0 and cur.strip() and not cur.rstrip().endswith(("^", "\\pm", "*", "\\cdot")):
            terms.append(cur.strip())
            cur = c
        else:
            cur += c
        i += 1
    terms.append(cur.strip())
    if len(terms) < 2 or any(not t for t in terms) or "=" in s or "\\" in s and "\\int" in s:
        return None
    return terms


def join_terms(terms):
    out = ""
    for k, t in enumerate(terms):
        t = t.strip()
        if k == 0:
            out = t[1:].strip() if t.startswith("+") else t
        else:
            out += (" " + t if t[0] in "+-" else " + " + t)
    return out


def negate_term(t):
    t = t.strip()
    if t.startswith("-"):
        return "+" + t[1:]
    if t.startswith("+"):
        return "-" + t[1:]
    return "-" + t


# ----------------------------------------------------------------------------------
# hand-written extra variants for golds whose equal forms need real algebra
# (keyed by the bare gold, value: list of (kind, pred, expect))
# ----------------------------------------------------------------------------------
CURATED = {
    "n(n-1)": [("algebra_expand", "n^2-n", "equal"), ("wrong_expr", "n(n+1)", "different")],
    "2n(n-1)": [("algebra_expand", "2n^2-2n", "equal"), ("wrong_expr", "n(n-1)", "different")],
    "2n^2 - 2n + 1": [("algebra_factor", "2n(n-1)+1", "equal"), ("wrong_expr", "2n^2-2n-1", "different")],
    "n^2 - n + 1": [("algebra_factor", "n(n-1)+1", "equal"), ("wrong_expr", "n^2+n+1", "different")],
    "\\frac{1}{4}n(n+1)": [("algebra_expand", "\\frac{n^2+n}{4}", "equal"), ("algebra_factor", "\\frac{n(n+1)}{4}", "equal"),
                           ("wrong_expr", "\\frac{1}{2}n(n+1)", "different")],
    "2^{2n} - 2^{n}(n+1)": [("algebra_rewrite", "4^n-(n+1)2^n", "equal"), ("wrong_expr", "2^{2n}-2^{n}n", "different")],
    "\\frac{(n-1)^3(n+2)}{4}": [("algebra_rewrite", "\\frac{1}{4}(n+2)(n-1)^{3}", "equal"),
                                ("wrong_expr", "\\frac{(n-1)^2(n+2)}{4}", "different")],
    "\\frac{3(n-1)}{2}": [("algebra_expand", "\\frac{3n-3}{2}", "equal"), ("algebra_expand", "1.5n-1.5", "equal"),
                          ("wrong_expr", "\\frac{3(n+1)}{2}", "different")],
    "2^n + 2\\cdot(-1)^n": [("algebra_rewrite", "2^{n}+2(-1)^{n}", "equal"), ("wrong_expr", "2^n-2\\cdot(-1)^n", "different")],
    "\\frac{1}{6}(k+1)^3(k+2)(k+3)": [("algebra_rewrite", "\\frac{(k+1)^3(k+2)(k+3)}{6}", "equal"),
                                      ("wrong_expr", "\\frac{1}{6}(k+1)^2(k+2)(k+3)", "different")],
    "\\frac{1}{4}(n+1)^2 + 1": [("algebra_expand", "\\frac{n^2+2n+5}{4}", "equal"), ("wrong_expr", "\\frac{1}{4}(n+1)^2", "different")],
    "(\\frac{n+1}{2})^2": [("algebra_expand", "\\frac{(n+1)^2}{4}", "equal"), ("algebra_expand", "\\frac{n^2+2n+1}{4}", "equal"),
                           ("wrong_expr", "\\frac{n+1}{2}", "different")],
    "1 + \\frac{1}{3^n}": [("algebra_rewrite", "1+3^{-n}", "equal"), ("algebra_rewrite", "\\frac{3^n+1}{3^n}", "equal"),
                           ("wrong_expr", "1-\\frac{1}{3^n}", "different")],
    "\\frac{11n}{12}": [("algebra_rewrite", "\\frac{11}{12}n", "equal"), ("wrong_expr", "\\frac{11n}{12}+1", "different")],
    "2 \\cdot (1012)^2": [("numeric_eval", "2048288", "equal"), ("thousands_comma", "2,048,288", "equal"),
                          ("off_by_one", "2048289", "different")],
    "\\frac{2015}{6}": [("mixed_number", "335\\frac{5}{6}", "ambiguous"), ("decimal_6", "335.833", "ambiguous")],
    "2^{2023}": [("algebra_rewrite", "2\\cdot 2^{2022}", "equal"), ("wrong_expr", "2^{2022}", "different")],
    "2^{99} - 1": [("numeric_eval", "633825300114114700748351602687", "equal"), ("wrong_expr", "2^{99}+1", "different"),
                   ("wrong_expr", "2^{100}-1", "different")],
    "2^{2024} - 1": [("wrong_expr", "2^{2024}", "different"), ("wrong_expr", "2^{2023}-1", "different")],
    "\\frac{3^{2017}-2019}{2}": [("wrong_expr", "\\frac{3^{2017}-2017}{2}", "different"),
                                 ("algebra_rewrite", "\\frac{3^{2017}}{2}-\\frac{2019}{2}", "equal")],
    "10^{980}": [("wrong_expr", "10^{981}", "different"), ("algebra_rewrite", "100^{490}", "equal")],
    "\\frac{100!}{2^{50}}": [("wrong_expr", "\\frac{100!}{2^{49}}", "different"), ("algebra_rewrite", "100!\\cdot 2^{-50}", "equal")],
    "\\frac{2^{98}}{99!}": [("wrong_expr", "\\frac{2^{99}}{99!}", "different")],
    "\\frac{1}{4^{2016}}": [("algebra_rewrite", "2^{-4032}", "equal"), ("algebra_rewrite", "\\frac{1}{2^{4032}}", "equal"),
                            ("wrong_expr", "\\frac{1}{4^{2015}}", "different")],
    "x / 4-\\left(x \\cos ^{2} x\\right) / 2+(\\cos x \\sin x) / 4 + C": [
        ("algebra_rewrite", "\\frac{x}{4}-\\frac{x\\cos^2 x}{2}+\\frac{\\sin x\\cos x}{4}+C", "equal"),
        ("wrong_expr", "x / 4-\\left(x \\cos ^{2} x\\right) / 2+(\\cos x \\sin x) / 4", "ambiguous")],
    "(x+1) \\arctan (\\sqrt{x}) - \\sqrt{x} + C": [("algebra_rewrite", "(x+1)\\arctan\\sqrt{x}-\\sqrt{x}+C", "equal"),
                                                    ("wrong_expr", "(x+1) \\arctan (\\sqrt{x}) + \\sqrt{x} + C", "different")],
    "\\frac{300 x}{\\left(100-x^{2}\\right)^{5 / 2}}": [("algebra_rewrite", "300x(100-x^2)^{-5/2}", "equal"),
                                                         ("wrong_expr", "\\frac{300 x}{\\left(100-x^{2}\\right)^{3 / 2}}", "different")],
    "e-1": [("numeric_approx", "1.71828", "ambiguous"), ("wrong_expr", "e+1", "different")],
    "\\ln2": [("numeric_approx", "0.693147", "ambiguous"), ("algebra_rewrite", "\\log 2", "ambiguous"),
              ("algebra_rewrite", "\\ln(2)", "equal"), ("wrong_expr", "\\ln 3", "different")],
    "\\arctan{\\frac{1}{2}}": [("algebra_rewrite", "\\arctan(0.5)", "equal"), ("wrong_expr", "\\arctan 2", "different")],
    "e": [("numeric_approx", "2.71828", "ambiguous"), ("wrong_expr", "e^2", "different")],
    "\\pi": [("numeric_approx", "3.14159", "ambiguous"), ("wrong_expr", "2\\pi", "different")],
    "n!": [("algebra_rewrite", "\\prod_{k=1}^{n}k", "equal"), ("wrong_expr", "(n-1)!", "different")],
    "2^k": [("wrong_expr", "2^{k+1}", "different"), ("algebra_rewrite", "2^{k}", "equal")],
    "c < a < b": [("order_rewrite", "b>a>c", "equal"), ("wrong_order", "a<c<b", "different"), ("wrong_order", "c<b<a", "different")],
    "0 < \\lambda < 1": [("interval_form", "(0,1)", "ambiguous"), ("interval_form", "\\lambda\\in(0,1)", "equal"),
                         ("interval_closed", "0\\le\\lambda\\le1", "different")],
    "k \\geq 2": [("ineq_rewrite", "k\\ge2", "equal"), ("ineq_rewrite", "2\\leq k", "equal"), ("ineq_strict", "k>2", "different")],
    "p \\leq \\frac{1}{4}": [("ineq_rewrite", "p\\le 0.25", "equal"), ("ineq_strict", "p<\\frac{1}{4}", "different")],
    "0 < c < \\sqrt{2}": [("interval_form", "c\\in(0,\\sqrt{2})", "equal"), ("ineq_rewrite", "0<c<1.41421356", "ambiguous"),
                          ("interval_closed", "0<c\\le\\sqrt{2}", "different")],
    "b \\geq $-\\frac{2}{3}": [("ineq_rewrite", "b \\geq -\\frac{2}{3}", "equal"), ("ineq_rewrite", "b\\ge-\\frac23", "equal"),
                               ("interval_form", "[-\\frac{2}{3},+\\infty)", "ambiguous"), ("sign_flip", "b \\geq \\frac{2}{3}", "different")],
    "t \\in [\\frac{3}{2}, 2]": [("interval_form", "[\\frac{3}{2},2]", "equal"), ("interval_form", "[1.5,2]", "equal"),
                                 ("interval_open", "(\\frac{3}{2},2)", "different")],
    "(-\\infty, 0)\\cup(0,1)\\cup(1,+\\infty)": [("interval_rewrite", "(-\\infty,0)\\cup(0,1)\\cup(1,\\infty)", "equal"),
                                                 ("interval_rewrite", "\\mathbb{R}\\setminus\\{0,1\\}", "equal"),
                                                 ("missing_element", "(-\\infty,0)\\cup(1,+\\infty)", "different")],
    "\\frac{n}{2}; 2n-2": [("list_sep", "\\frac{n}{2}, 2n-2", "equal"), ("missing_element", "\\frac{n}{2}", "different")],
    "k_3 = \\frac{23}{12}k_2 - \\frac{11}{12}k_1": [("algebra_rewrite", "12k_3=23k_2-11k_1", "equal"),
                                                   ("drop_lhs", "\\frac{23}{12}k_2-\\frac{11}{12}k_1", "equal"),
                                                   ("wrong_expr", "k_3 = \\frac{23}{12}k_2 + \\frac{11}{12}k_1", "different")],
    "\\frac{x^{2}}{2} - \\frac{y^{2}}{4}=1": [("algebra_rewrite", "2x^2-y^2=4", "equal"), ("algebra_rewrite", "\\frac{x^2}{2}-\\frac{y^2}{4}-1=0", "equal"),
                                            ("wrong_expr", "\\frac{x^{2}}{4} - \\frac{y^{2}}{2}=1", "different")],
    "y=x^{2} e^{-x}(1-x)^{2}+c_{1}+e^{-x}\\left(c_{2}+c_{3} x\\right)": [
        ("drop_lhs", "x^{2} e^{-x}(1-x)^{2}+c_{1}+e^{-x}\\left(c_{2}+c_{3} x\\right)", "equal"),
        ("wrong_expr", "y=x^{2} e^{-x}(1-x)^{2}+c_{1}+e^{x}\\left(c_{2}+c_{3} x\\right)", "different")],
    "\\hat{\\theta}=\\alpha_{0} / \\bar{x}": [("drop_lhs", "\\frac{\\alpha_0}{\\bar{x}}", "equal"),
                                             ("wrong_expr", "\\hat{\\theta}=\\bar{x}/\\alpha_{0}", "different")],
    "d=u-u^2": [("drop_lhs", "u-u^2", "equal"), ("algebra_factor", "d=u(1-u)", "equal"), ("wrong_expr", "d=u^2-u", "different")],
    "f(x) = x + 1": [("drop_lhs", "x+1", "equal"), ("wrong_expr", "f(x)=x-1", "different")],
    "(a,b,c)=(9,8,7)": [("drop_lhs", "(9,8,7)", "equal"), ("text_list", "a=9,b=8,c=7", "equal"),
                        ("tuple_swap", "(7,8,9)", "different")],
    "P(x)=c(x^2+3)": [],
    "P(x)=-1,1": [("drop_lhs", "-1,1", "equal"), ("set_form", "\\{-1,1\\}", "ambiguous"), ("missing_element", "P(x)=1", "different")],
    "m=3, 9, 11, 33, 99": [("drop_lhs", "3,9,11,33,99", "equal"), ("set_reorder", "m=99,33,11,9,3", "equal"),
                           ("missing_element", "m=3,9,11,33", "different")],
    "k=-4,-2,-1,1": [("drop_lhs", "-4,-2,-1,1", "equal"), ("set_reorder", "k=1,-1,-2,-4", "equal"),
                     ("missing_element", "k=-4,-2,1", "different")],
    "p=2,3,7": [("drop_lhs", "2,3,7", "equal"), ("set_form", "\\{2,3,7\\}", "equal"), ("missing_element", "p=2,3", "different")],
    "n\\equiv 0,1 \\pmod{4}": [("text_rewrite", "n\\equiv 0\\pmod 4 \\text{ or } n\\equiv 1\\pmod 4", "equal"),
                               ("missing_element", "n\\equiv 0 \\pmod{4}", "different")],
    "a \\equiv \\pm6 \\pmod{37}": [("text_rewrite", "a\\equiv 6, 31 \\pmod{37}", "equal"), ("missing_element", "a\\equiv 6\\pmod{37}", "different")],
    "k \\neq 1, k \\in \\mathbb{Z}": [("text_rewrite", "k\\in\\mathbb{Z}\\setminus\\{1\\}", "equal"), ("wrong_expr", "k\\neq 0, k \\in \\mathbb{Z}", "different")],
    "\\lfloor \\log_{2} n  \\rfloor + 1": [("algebra_rewrite", "\\lfloor\\log_2 n\\rfloor+1", "equal"),
                                           ("wrong_expr", "\\lceil \\log_{2} n  \\rceil + 1", "different")],
    "\\lfloor \\log_{2}n \\rfloor": [("wrong_expr", "\\lfloor \\log_{2}n \\rfloor+1", "different")],
    "\\binom{k}{n}2^{n}": [("algebra_rewrite", "2^n\\binom{k}{n}", "equal"), ("algebra_rewrite", "2^{n}C_k^n", "ambiguous"),
                           ("wrong_expr", "\\binom{k}{n}2^{k}", "different")],
    "\\sum_{n=0}^{\\infty} (n+1)(n+2) x^{n}": [("algebra_rewrite", "\\frac{2}{(1-x)^3}", "equal"),
                                                 ("wrong_expr", "\\frac{1}{(1-x)^3}", "different")],
    "\\frac{1}{1-x}": [("algebra_rewrite", "(1-x)^{-1}", "equal"), ("algebra_rewrite", "-\\frac{1}{x-1}", "equal"),
                       ("wrong_expr", "\\frac{1}{1+x}", "different")],
    "\\frac{4\\pi}{5} \\sum_{i=1}^{6}a_i": [("algebra_rewrite", "\\frac{4\\pi(a_1+a_2+a_3+a_4+a_5+a_6)}{5}", "equal")],
    "\\frac{2(b-a)}{\\pi}": [("algebra_expand", "\\frac{2b-2a}{\\pi}", "equal"), ("sign_flip", "\\frac{2(a-b)}{\\pi}", "different")],
    "2[\\log_2(p+1)]": [("algebra_rewrite", "2\\lfloor\\log_2(p+1)\\rfloor", "ambiguous")],
    "-\\pi \\log_2": [("algebra_rewrite", "-\\pi\\log 2", "ambiguous"), ("algebra_rewrite", "-\\pi\\ln 2", "ambiguous")],
    "270-\\theta": [("algebra_rewrite", "270^\\circ-\\theta", "equal"), ("wrong_expr", "180-\\theta", "different")],
    "e^{-\\pi/2}": [("algebra_rewrite", "\\frac{1}{e^{\\pi/2}}", "equal"), ("numeric_approx", "0.207880", "ambiguous"),
                    ("wrong_expr", "e^{\\pi/2}", "different")],
    "(-0.5,0.87),(0,0),(0.37,1.37),(0.87,0.5)": [("set_reorder", "(0,0),(-0.5,0.87),(0.37,1.37),(0.87,0.5)", "equal"),
                                                 ("missing_element", "(-0.5,0.87),(0.37,1.37),(0.87,0.5)", "different"),
                                                 ("rounding", "(-0.50,0.866),(0,0),(0.366,1.366),(0.866,0.50)", "ambiguous")],
    "(1,4,4), (2,4,4), (4,5,6), (4,6,5)": [("set_reorder", "(4,6,5), (4,5,6), (2,4,4), (1,4,4)", "equal"),
                                          ("missing_element", "(1,4,4), (2,4,4), (4,5,6)", "different"),
                                          ("tuple_swap", "(4,4,1), (2,4,4), (4,5,6), (4,6,5)", "different")],
    "2q^{-1}+q^{-2}(z^2-1)": [("algebra_rewrite", "\\frac{2}{q}+\\frac{z^2-1}{q^2}", "equal"),
                              ("wrong_expr", "2q^{-1}+q^{-2}(z^2+1)", "different")],
    "\\left\\{1 / x, e^{2 x}\\right\\}": [("set_reorder", "\\{e^{2x},\\frac{1}{x}\\}", "equal"),
                                         ("missing_element", "\\{\\frac{1}{x}\\}", "different")],
    "\\left\\{ \\frac{n+1}{n}: n\\in\\mathbb{Z}, n\\neq0 \\right\\}": [
        ("set_rewrite", "\\{1+\\frac{1}{n}: n\\in\\mathbb{Z}\\setminus\\{0\\}\\}", "equal")],
    "\\{-2,0,2\\}": [("set_reorder", "\\{2,0,-2\\}", "equal"), ("bare_list", "-2,0,2", "equal"), ("bare_list", "0,\\pm2", "equal"),
                     ("missing_element", "\\{-2,2\\}", "different")],
    "\\frac{2kn}{n+k-1} - 2\\frac{k!n!}{(k+n-1)!}": [("wrong_expr", "\\frac{2kn}{n+k-1} + 2\\frac{k!n!}{(k+n-1)!}", "different")],
    "\\frac{2016!}{1953!}-2016\\cdot 63!": [("wrong_expr", "\\frac{2016!}{1953!}-2016\\cdot 62!", "different")],
    "\\prod_{i=1}^{1005}(4i-1)": [("algebra_rewrite", "\\prod_{k=1}^{1005}(4k-1)", "equal"), ("wrong_expr", "\\prod_{i=1}^{1005}(4i+1)", "different")],
    "\\frac{(2n)!}{4^nn!}": [("algebra_rewrite", "\\frac{(2n)!}{4^{n} n!}", "equal"), ("wrong_expr", "\\frac{(2n)!}{2^n n!}", "different")],
    "\\frac{n-1}{2} \\left( \\frac{1}{n} + a + b + nab \\right)": [
        ("algebra_rewrite", "\\frac{(n-1)(1+na+nb+n^2ab)}{2n}", "equal")],
    "f(x) = \\frac{k}{1+x} + \\frac{1-k}{3} \\left( -\\frac{1}{2} \\le k \\le 1 \\right)": [],
    "\\left(2^{12}-1-\\frac{1}{2^{11}}\\right)^2": [("wrong_expr", "\\left(2^{12}-1+\\frac{1}{2^{11}}\\right)^2", "different")],
    "\\left \\lfloor \\frac{2p+1}{3} \\right \\rfloor": [("algebra_rewrite", "\\lfloor\\frac{2p+1}{3}\\rfloor", "equal"),
                                                           ("wrong_expr", "\\lceil\\frac{2p+1}{3}\\rceil", "different")],
    "2^{n - 2} + 2^{\\lfloor\\frac{n}{2}\\rfloor - 1}": [("wrong_expr", "2^{n - 2} + 2^{\\lfloor\\frac{n}{2}\\rfloor}", "different")],
    "\\lceil \\frac{n}{2} \\rceil + 1": [("wrong_expr", "\\lfloor \\frac{n}{2} \\rfloor + 1", "different")],
    "\\left\\lfloor \\sqrt{n-1} \\right\\rfloor": [("algebra_rewrite", "\\lfloor\\sqrt{n-1}\\rfloor", "equal")],
    "-\\arctan(-\\sqrt{24}\\frac{699}{1024})": [("algebra_rewrite", "\\arctan(\\frac{699\\sqrt{24}}{1024})", "equal"),
                                                ("sign_flip", "\\arctan(-\\sqrt{24}\\frac{699}{1024})", "different")],
    "\\frac{1}{2\\sqrt{2} \\ln\\frac{\\sqrt{2}+2}{2-\\sqrt{2}}": [("fixed_braces", "\\frac{1}{2\\sqrt{2}} \\ln\\frac{\\sqrt{2}+2}{2-\\sqrt{2}}", "equal")],
}

UNIT_SUFFIXES = ["\\text{ dollars}", "\\text{ cm}", "\\ \\text{km}", "\\text{ minutes}", "\\,\\mathrm{kg}",
                 "\\text{ eggs}", "\\text{ 元}", "\\text{ دولار}", "\\text{ টাকা}", "\\text{ Euro}", "\\text{ 個}",
                 "\\text{ บาท}", "\\text{ рублей}", "\\text{ người}", " \\text{m}^2", "\\text{ orang}"]
UNIT_PREFIXES = ["\\$", "\\$ ", "€", "¥"]


# ----------------------------------------------------------------------------------
# variant generation per gold
# ----------------------------------------------------------------------------------

def int_variants(core, n, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = []
    v += [("trailing_zeros", f"{n}.0", E), ("trailing_zeros", f"{n}.00", E)]
    v.append(("text_wrap", f"\\text{{{n}}}", E))
    v.append(("unit_text", f"{n}{rng.choice(UNIT_SUFFIXES)}", E))
    v.append(("unit_text_inside", f"\\text{{{n} {rng.choice(['dollars', 'cm', 'apples', 'Stück', 'km/h'])}}}", E))
    v.append(("currency", f"{rng.choice(UNIT_PREFIXES)}{n}", E))
    v.append(("degree", f"{n}^\\circ", E))
    v.append(("degree", f"{n}^{{\\circ}}", E))
    v.append(("degree_unicode", f"{n}°", E))
    v.append(("var_prefix", f"{rng.choice(['x', 'n', 'k'])}={n}", E))
    v.append(("var_prefix_spaced", f"x = {n}", E))
    v.append(("left_right", f"\\left({n}\\right)", E))
    v.append(("mathbf", f"\\mathbf{{{n}}}", E))
    v.append(("braces", f"{{{n}}}", E))
    v.append(("nested_boxed", f"\\boxed{{{n}}}", E))
    v.append(("trailing_period", f"{n}.", E))
    v.append(("dollar_wrap", f"${n}$", E))
    v.append(("paren_inline_math", f"\\({n}\\)", E))
    v.append(("displaystyle", f"\\displaystyle {n}", E))
    if n >= 0:
        v.append(("plus_sign", f"+{n}", E))
        v.append(("leading_zero", f"0{n}", E))
    if 0 <= n < 10**6:
        w = number_words(n)
        v.append(("number_words", w, E))
        v.append(("number_words_text", f"\\text{{{w}}}", E))
    scripts = list(NATIVE_DIGITS)
    for sc in rng.sample(scripts, 3):
        v.append(("native_digits_" + sc, to_native(str(n), sc), E))
    if abs(n) >= 1000:
        v.append(("thousands_comma", group3(n, ","), E))
        v.append(("thousands_thinspace", group3(n, "\\,"), E))
        v.append(("thousands_brace_comma", group3(n, "{,}"), E))
        v.append(("thousands_space", group3(n, " "), E))
        v.append(("thousands_nbsp", group3(n, "\u202f"), E))
        v.append(("thousands_tilde", group3(n, "~"), E))
        v.append(("thousands_dot_de", group3(n, "."), A))
        v.append(("thousands_apostrophe", group3(n, "'"), A))
        v.append(("native_thousands", to_native(group3(n, "٬"), "arabic_indic"), E))
    m = re.fullmatch(r"(\d+?)(0{3,})", str(n))
    if m:
        k = len(m.group(2))
        v.append(("sci_notation", f"{m.group(1)}\\times10^{{{k}}}", E))
        v.append(("sci_e", f"{m.group(1)}e{k}", E))
    if n >= 10:
        v.append(("percent_sign", f"{n}\\%", A))
    # near misses
    v += [("off_by_one", str(n + 1), D), ("off_by_one", str(n - 1), D), ("sign_flip", str(-n), D)]
    if n != 0:
        v.append(("scale_x10", str(n * 10), D))
        v.append(("scale_x100_percent", str(n * 100), D))
        v.append(("scale_div100_percent", fmt_sig(n / 100, 12), D))
        v.append(("unit_scale_x1000", str(n * 1000), D))
        v.append(("decimal_half", f"{n}.5", D))
    if n >= 10:
        s = str(n)
        sw = s[:-2] + s[-1] + s[-2]
        if sw != s:
            v.append(("digit_swap", sw, D))
        v.append(("two_answers", f"{n}, {n + 1}", D))
        v.append(("concat_list", f"{s[:-1]},{s[-1]}", D))
    if abs(n) >= 20000:
        v.append(("near_relative_1e-4", str(n + max(1, abs(n) // 20000)), D))
    v.append(("empty_box", "", D))
    return v


def dec_variants(core, x, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = []
    s = core.strip()
    v.append(("trailing_zeros", s + "0", E))
    v.append(("decimal_comma", s.replace(".", ","), A))
    v.append(("decimal_comma_brace", s.replace(".", "{,}"), A))
    v.append(("leading_dot", s.replace("0.", ".", 1) if s.startswith(("0.", "-0.")) else s, E))
    fr = Fraction(s).limit_denominator(10000)
    v.append(("as_fraction", f"\\frac{{{abs(fr.numerator)}}}{{{fr.denominator}}}" if fr >= 0
              else f"-\\frac{{{abs(fr.numerator)}}}{{{fr.denominator}}}", E))
    if 0 < abs(x) < 1:
        v.append(("percent_sign", fmt_sig(x * 100, 10) + "\\%", A))
        v.append(("percent_text", fmt_sig(x * 100, 10) + "\\text{ percent}", A))
    for sc in rng.sample(["arabic_indic", "devanagari", "thai", "bengali"], 2):
        v.append(("native_digits_" + sc, to_native(s, sc), E))
    v.append(("native_decimal_sep", to_native(s, "arabic_indic").replace(".", "٫"), E))
    v.append(("text_wrap", f"\\text{{{s}}}", E))
    v.append(("sign_flip", s[1:] if s.startswith("-") else "-" + s, D))
    v.append(("rounding", fmt_sig(x, max(1, len(s.strip("-0.")) - 1)), D))
    v.append(("off_by_one_last_digit", s[:-1] + str((int(s[-1]) + 1) % 10), D))
    v.append(("scale_x10", fmt_sig(x * 10, 10), D))
    v.append(("scale_x100_percent", fmt_sig(x * 100, 10), D))
    return v


def numexpr_variants(core, val, rng):
    """core is a closed-form number (fraction, surd, pi ...)."""
    E, D, A = "equal", "different", "ambiguous"
    v = []
    if "\\frac" in core:
        v.append(("dfrac", core.replace("\\frac", "\\dfrac"), E))
        v.append(("tfrac", core.replace("\\frac", "\\tfrac"), E))
        sh = frac_shorthand(core)
        if sh:
            v.append(("frac_shorthand", sh, E))
        sl = frac_to_slash(core)
        if sl and sl != core:
            v.append(("slash_fraction", sl, E))
        v.append(("left_right", "\\left(" + core + "\\right)", E))
    elif "\\sqrt{" in core:
        sh = frac_shorthand(core)
        if sh:
            v.append(("sqrt_shorthand", sh, E))
    v.append(("spaces_added", re.sub(r"([+\-=])", r" \1 ", core).replace("  ", " ").strip(), E))
    v.append(("spaces_removed", core.replace(" ", ""), E))
    v.append(("var_prefix", "x=" + core, E))
    v.append(("text_wrap_unit", core + rng.choice(["\\text{ cm}", "\\text{ units}", "\\ \\mathrm{m}"]), E))
    v.append(("dollar_wrap", f"${core}$", E))
    fr = as_fraction(core)
    if fr is not None:
        a, b = abs(fr.numerator), fr.denominator
        neg = fr < 0
        if terminating(fr):
            dec = fmt_sig(float(fr), 15)
            v.append(("decimal_exact", dec, E))
            v.append(("decimal_comma", dec.replace(".", ","), A))
            if 0 < abs(fr) < 1:
                v.append(("percent_sign", fmt_sig(float(fr) * 100, 12) + "\\%", A))
        else:
            v.append(("decimal_6", fmt_sig(float(fr), 6), A))
            v.append(("decimal_3", fmt_sig(float(fr), 3), D))
            v.append(("decimal_repeating_overline", _repeating(fr), E) if _repeating(fr) else ("decimal_8", fmt_sig(float(fr), 8), A))
        if a > b:
            v.append(("mixed_number", f"{'-' if neg else ''}{a // b}\\frac{{{a % b}}}{{{b}}}" if a % b else str(a // b), A))
            v.append(("mixed_number_text", f"{'-' if neg else ''}{a // b}\\text{{ and }}\\frac{{{a % b}}}{{{b}}}" if a % b else str(a // b), A))
        v.append(("unsimplified", f"{'-' if neg else ''}\\frac{{{2 * a}}}{{{2 * b}}}", E))
        v.append(("neg_numerator" if neg else "neg_neg", f"\\frac{{-{a}}}{{{b}}}" if neg else f"\\frac{{-{a}}}{{-{b}}}", E))
        for sc in rng.sample(["arabic_indic", "devanagari", "bengali", "thai"], 1):
            v.append(("native_digits_" + sc, to_native(f"{'-' if neg else ''}{a}/{b}", sc), E))
        v.append(("reciprocal", f"{'-' if neg else ''}\\frac{{{b}}}{{{a}}}", D if a != b else E))
        v.append(("off_by_one_numerator", f"{'-' if neg else ''}\\frac{{{a + 1}}}{{{b}}}", D))
        v.append(("off_by_one_denominator", f"{'-' if neg else ''}\\frac{{{a}}}{{{b + 1}}}", D))
        v.append(("slash_swapped", f"{b}/{a}", D if a != b else E))
    elif val is not None:
        v.append(("decimal_6", fmt_sig(val, 6), A))
        v.append(("decimal_4", fmt_sig(val, 4), A))
        v.append(("decimal_3", fmt_sig(val, 3), D))
        v.append(("rounding_integer", str(round(val)), D))
        m = re.search(r"(?<![\w{^])(\d+)\\sqrt", core)
        if m:
            k = int(m.group(1))
            v.append(("wrong_coeff", core[:m.start(1)] + str(k + 1) + core[m.end(1):], D))
        m = re.search(r"\\sqrt\{(\d+)\}", core)
        if m:
            r = int(m.group(1))
            v.append(("wrong_radicand", core[:m.start(1)] + str(r + 1) + core[m.end(1):], D))
            before = core[:m.start()].rstrip()
            dot = "\\cdot " if before and (before[-1].isalnum() or before[-1] in "})") else ""
            v.append(("sqrt_as_power", core[:m.start()] + f"{dot}{r}^{{1/2}}" + core[m.end():], E))
            v.append(("sqrt_as_power_paren", core[:m.start()] + f"{dot}({r})^{{\\frac{{1}}{{2}}}}" + core[m.end():], E))
        if "\\pi" in core:
            v.append(("pi_unicode", core.replace("\\pi", "π"), E))
            v.append(("pi_degrees", "ambiguous", A) if False else ("pi_wrong", core.replace("\\pi", "2\\pi", 1), D))
    terms = sum_terms(core)
    if terms:
        v.append(("reorder_terms", join_terms(terms[::-1]), E))
        t2 = terms[:-1] + [negate_term(terms[-1])]
        v.append(("sign_flip_term", join_terms(t2), D))
    v.append(("sign_flip", core[1:].lstrip() if core.startswith("-") else "-" + core, D if val != 0 else E))
    if re.fullmatch(r"\\frac\{\\sqrt\{(\d+)\}\}\{(\d+)\}", core):
        m = re.fullmatch(r"\\frac\{\\sqrt\{(\d+)\}\}\{(\d+)\}", core)
        r, d = int(m.group(1)), int(m.group(2))
        v.append(("unrationalized", f"\\frac{{{r}}}{{{d}\\sqrt{{{r}}}}}", E))
        v.append(("sqrt_of_fraction", f"\\sqrt{{\\frac{{{r}}}{{{d * d}}}}}", E))
    return v


def _repeating(fr):
    """1/3 -> 0.\\overline{3} (only for short periods)."""
    a, b = abs(fr.numerator), fr.denominator
    ip, r = divmod(a, b)
    seen, digits = {}, ""
    while r and r not in seen and len(digits) < 8:
        seen[r] = len(digits)
        r *= 10
        digits += str(r // b)
        r %= b
    if not r or r not in seen:
        return None
    k = seen[r]
    return f"{'-' if fr < 0 else ''}{ip}.{digits[:k]}\\overline{{{digits[k:]}}}"


def interval_variants(core, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = []
    s = core.strip()
    lo_b, hi_b = s[0], s[-1]
    inner = s[1:-1]
    parts = split_top(inner)
    if len(parts) != 2:
        return v
    a, b = parts[0].strip(), parts[1].strip()
    v.append(("left_right", f"\\left{lo_b}{a},{b}\\right{hi_b}", E))
    v.append(("spaces_added", f"{lo_b} {a} , {b} {hi_b}", E))
    v.append(("var_in_interval", f"x\\in{s}", E))
    if lo_b == "(" and hi_b == ")":
        v.append(("ineq_form", f"{a}<x<{b}", A))
    elif lo_b == "[" and hi_b == "]":
        v.append(("ineq_form", f"{a}\\le x\\le {b}", A))
    elif lo_b == "[" and hi_b == ")":
        v.append(("ineq_form", f"{a}\\leq x<{b}", A))
    elif lo_b == "(" and hi_b == "]":
        v.append(("ineq_form", f"{a}<x\\leq {b}", A))
    flip = {"(": "[", "[": "("}
    flip2 = {")": "]", "]": ")"}
    v.append(("interval_open_closed", f"{flip[lo_b]}{a},{b}{hi_b}", D))
    v.append(("interval_open_closed", f"{lo_b}{a},{b}{flip2[hi_b]}", D))
    v.append(("interval_swap_endpoints", f"{lo_b}{b},{a}{hi_b}", D))
    if "\\frac" in s:
        v.append(("dfrac", s.replace("\\frac", "\\dfrac"), E))
        va = num_value(a)
        vb = num_value(b)
        if va is not None and vb is not None:
            v.append(("interval_decimal_6", f"{lo_b}{fmt_sig(va, 6)},{fmt_sig(vb, 6)}{hi_b}", A))
    return v


def set_variants(core, rng):
    """{a, b, c} style (also \\{ \\}) and bare lists."""
    E, D, A = "equal", "different", "ambiguous"
    v = []
    s = core.strip()
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
    elif s.startswith("{") and s.endswith("}"):
        inner = s[1:-1]
    else:
        inner = s
    parts = [p.strip() for p in split_top(inner)]
    if len(parts) < 2:
        return v
    v.append(("set_braces", "\\{" + ", ".join(parts) + "\\}", E))
    v.append(("set_left_right", "\\left\\{" + ",".join(parts) + "\\right\\}", E))
    v.append(("bare_list", ", ".join(parts), E))
    v.append(("set_reorder", "\\{" + ", ".join(parts[::-1]) + "\\}", E))
    v.append(("bare_list_reorder", ", ".join(parts[::-1]), E))
    v.append(("list_and", ", ".join(parts[:-1]) + " \\text{ and } " + parts[-1], E))
    v.append(("missing_element", "\\{" + ", ".join(parts[:-1]) + "\\}", D))
    v.append(("missing_element_bare", ", ".join(parts[1:]), D))
    extra = next(str(k) for k in range(7, 1000) if str(k) not in parts)
    v.append(("extra_element", "\\{" + ", ".join(parts + [extra]) + "\\}", D))
    v.append(("single_element", parts[0], D))
    return v


def tuple_variants(core, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = []
    s = core.strip()
    parts = [p.strip() for p in split_top(s[1:-1])]
    if len(parts) < 2:
        return v
    v.append(("tuple_spaces", "(" + ", ".join(parts) + ")", E))
    v.append(("left_right", "\\left(" + ",".join(parts) + "\\right)", E))
    v.append(("tuple_brackets", "[" + ",".join(parts) + "]", A))
    v.append(("tuple_swap", "(" + ",".join(parts[::-1]) + ")", D))
    v.append(("missing_element", "(" + ",".join(parts[:-1]) + ")", D))
    v.append(("bare_tuple", ",".join(parts), A))
    return v


def matrix_variants(core, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = []
    m = re.search(r"\\begin\{array\}\{\w+\}(.*)\\end\{array\}", core, re.S)
    if not m:
        return v
    body = m.group(1).strip()
    rows = [r.strip() for r in body.split("\\\\") if r.strip()]
    clean = " \\\\ ".join(r.replace("\n", " ") for r in rows)
    v.append(("matrix_pmatrix", "\\begin{pmatrix}" + clean + "\\end{pmatrix}", E))
    v.append(("matrix_bmatrix", "\\begin{bmatrix}" + clean + "\\end{bmatrix}", E))
    v.append(("matrix_dfrac", core.replace("\\frac", "\\dfrac"), E))
    v.append(("matrix_oneline", core.replace("\n", " "), E))
    v.append(("matrix_row_swap", "\\begin{pmatrix}" + " \\\\ ".join([rows[1], rows[0]] + rows[2:]).replace("\n", " ") + "\\end{pmatrix}", D))
    first = rows[0].split("&")
    first[1] = " 1 "
    v.append(("matrix_entry", "\\begin{pmatrix}" + " \\\\ ".join(["&".join(first)] + rows[1:]).replace("\n", " ") + "\\end{pmatrix}", D))
    v.append(("matrix_sign_flip", "-" + "\\begin{pmatrix}" + clean + "\\end{pmatrix}", D))
    return v


def generic_variants(gold, core, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = [("exact", gold, E)]
    if core != gold:
        v.append(("bare", core, E))
    if " " in core:
        v.append(("spaces_removed", core.replace(" ", ""), E))
    return v


def text_variants(gold, core, rng):
    """Golds with words ('or', 'and', 'for ...'): keep only the math parts."""
    E, D, A = "equal", "different", "ambiguous"
    v = []
    parts = re.findall(r"\$([^$]*)\$", gold)
    if len(parts) >= 2:
        v.append(("text_math_only", ", ".join(p.strip() for p in parts), A))
        v.append(("text_first_part_only", parts[0].strip(), D))
    v.append(("text_wrapped", "\\text{" + gold.replace("$", "") + "}", A))
    return v


def classify(core):
    c = core.strip()
    if re.fullmatch(r"-?\d+", c):
        return "int"
    if re.fullmatch(r"-?\d+\.\d+", c):
        return "dec"
    if "\\begin{array}" in c:
        return "matrix"
    if re.fullmatch(r"[\[(].*[\])]", c) and len(split_top(c[1:-1])) == 2 and "\\cup" not in c \
            and not re.search(r"\)\s*,\s*\(", c):
        if c[0] == "(" and c[-1] == ")" and not re.search(r"\\infty", c) and num_value(split_top(c[1:-1])[0]) is not None \
                and num_value(split_top(c[1:-1])[1]) is not None and num_value(split_top(c[1:-1])[0]) > num_value(split_top(c[1:-1])[1]):
            return "tuple"
        return "interval"
    if (c.startswith("{") or c.startswith("\\{")) and len(split_top(c.strip("{}\\"))) >= 2 and ":" not in c:
        return "set"
    if num_value(c) is not None:
        return "numexpr"
    return "expr"


def expr_variants(core, rng):
    E, D, A = "equal", "different", "ambiguous"
    v = []
    if "\\frac" in core:
        v.append(("dfrac", core.replace("\\frac", "\\dfrac"), E))
        sh = frac_shorthand(core)
        if sh:
            v.append(("frac_shorthand", sh, E))
    if "\\left" in core:
        v.append(("no_left_right", core.replace("\\left", "").replace("\\right", ""), E))
    v.append(("spaces_added", re.sub(r"([+\-=])", r" \1 ", core).replace("  ", " ").strip(), E))
    if "=" not in core and "\\" not in core[:1]:
        v.append(("var_prefix", "a_n=" + core if "n" in core else "f=" + core, A))
    terms = sum_terms(core)
    if terms:
        v.append(("reorder_terms", join_terms(terms[::-1]), E))
        v.append(("sign_flip_term", join_terms(terms[:-1] + [negate_term(terms[-1])]), D))
    m = re.search(r"(?<![\w{^_])(\d+)(?=[a-z\\(])", core)
    if m:
        k = int(m.group(1))
        v.append(("wrong_coeff", core[:m.start(1)] + str(k + 1) + core[m.end(1):], D))
    m = re.search(r"([a-z])\s*-\s*1\b", core)
    if m:
        v.append(("wrong_offset", core[:m.start()] + m.group(1) + "+1" + core[m.end():], D))
    return v


def build_pairs(data_dir, seed):
    rng = random.Random(seed)
    golds = {}  # (level, n) -> gold ; asserted identical across languages
    first_id = {}
    for level in LEVELS:
        for lang in LANGS:
            path = os.path.join(data_dir, f"polymath_{lang}.{level}.jsonl")
            with open(path, encoding="utf-8") as f:
                for line in f:
                    d = json.loads(line)
                    n = int(d["id"].rsplit("-", 1)[1])
                    key = (level, n)
                    if key in golds:
                        assert golds[key] == d["answer"], (d["id"], golds[key], d["answer"])
                    else:
                        golds[key] = d["answer"]
                    if lang == "en":
                        first_id.setdefault(d["answer"], d["id"])
    # distinct gold strings, in benchmark order (low..top, n)
    distinct = []
    seen = set()
    for key in sorted(golds, key=lambda k: (LEVELS.index(k[0]), k[1])):
        g = golds[key]
        if g not in seen:
            seen.add(g)
            distinct.append(g)

    kind_count = {}
    pairs = []
    for g in distinct:
        core = strip_math_delims(g)
        cls = classify(core)
        base = generic_variants(g, core, rng)
        if cls == "int":
            extra = int_variants(core, int(core), rng)
        elif cls == "dec":
            extra = dec_variants(core, float(core), rng)
        elif cls == "numexpr":
            extra = numexpr_variants(core, num_value(core), rng)
        elif cls == "interval":
            extra = interval_variants(core, rng)
        elif cls == "tuple":
            extra = tuple_variants(core, rng)
        elif cls == "set":
            extra = set_variants(core, rng)
        elif cls == "matrix":
            extra = matrix_variants(core, rng)
        else:
            extra = expr_variants(core, rng)
            if re.search(r"\b(or|and|for|where|any)\b", g) and "$" in g.strip("$ ."):
                extra += text_variants(g, core, rng)
        curated = CURATED.get(core, [])
        # de-duplicate by pred text
        seen_pred = {p for _, p, _ in base}
        cand = []
        for k, p, e in curated + extra:
            if p in seen_pred or (p != "" and p.strip() == core.strip() and k not in ("leading_dot",)):
                continue
            seen_pred.add(p)
            cand.append((k, p, e))
        # choose: all curated, then balance rare kinds first (deterministic)
        n_extra = {"int": 9, "dec": 14, "numexpr": 9, "interval": 9, "tuple": 6, "set": 8, "matrix": 7, "expr": 6}[cls]
        chosen = [c for c in cand if c in curated]
        rest = [c for c in cand if c not in curated]
        rng.shuffle(rest)
        rest.sort(key=lambda c: kind_count.get(c[0], 0))
        # guarantee at least 2 near misses and 2 equal forms where available
        want = []
        for label in ("different", "equal"):
            want += [c for c in rest if c[2] == label][:2]
        for c in rest:
            if len(want) >= max(0, n_extra - len(chosen)):
                break
            if c not in want:
                want.append(c)
        chosen += want
        for k, p, e in base + chosen:
            kind_count[k] = kind_count.get(k, 0) + 1
            pairs.append({"pred": p, "gold": g, "kind": k, "expect": e, "source_id": first_id[g], "class": cls})
    # a few "no box at all" cases (pred = null)
    for g in distinct[::40]:
        pairs.append({"pred": None, "gold": g, "kind": "no_box", "expect": "different", "source_id": first_id[g], "class": classify(strip_math_delims(g))})
    for i, p in enumerate(pairs):
        p["id"] = f"p{i:05d}"
    order = ["id", "pred", "gold", "kind", "expect", "class", "source_id"]
    return [{k: p[k] for k in order} for p in pairs], len(distinct)


def build_adversarial():
    E, D, A = "equal", "different", "ambiguous"
    rows = [
        ("10^{10^{10}}", "1", "huge_power", D, "tower exponent; sympy tries to evaluate 10**(10**10)"),
        ("10^{10^{10}}", "10^{10^{10}}", "huge_power_exact", E, "identical strings: string fast path"),
        ("10^{10^{10}}+1", "10^{10^{10}}", "huge_power", D, "needs exact big-int arithmetic"),
        ("9^{9^{9}}", "9", "huge_power", D, "9^(387420489)"),
        ("9^9^9", "9", "huge_power_unbraced", D, "unbraced tower, parse ambiguity"),
        ("2^{2^{2^{2^{2}}}}", "65536", "huge_power", D, "2^65536 has 19729 digits"),
        ("2^{1000000}", "2^{1000001}", "big_power", D, "300k-digit integers"),
        ("10^{-10^{10}}", "0", "tiny_power", D, "underflow, not zero"),
        ("1e999999", "1e999998", "float_overflow", D, "both parse to inf in float()"),
        ("1e400", "2e400", "float_overflow", D, "both parse to inf in float()"),
        ([["1", 400]], [["2", 400]], "long_integer_overflow", D, "400-digit integers overflow float to inf"),
        ("4667348672819419628992128", "4667348672819419628992129", "long_integer_close", D, "differs in last digit (real PolyMath gold top-103)"),
        ("inf", "infinity", "inf_words", A, "float('inf') == float('infinity')"),
        ("nan", "nan", "nan", A, "string fast path vs float nan"),
        ("NaN", "1", "nan", D, "nan vs number"),
        ("(10^{100})!", "1", "huge_factorial", D, "factorial of a googol"),
        ("100000!", "1", "big_factorial", D, "456574-digit number"),
        ("1000000000!", "2", "huge_factorial", D, "factorial of 1e9"),
        ([["\\sqrt{", 60], ["2", 1], ["}", 60]], "1", "nested_radicals_deep", D, "60 nested square roots"),
        ("\\sqrt{5+2\\sqrt{6}}", "\\sqrt{2}+\\sqrt{3}", "nested_radical_denest", E, "denesting"),
        ("\\sqrt[3]{2+\\sqrt{5}}+\\sqrt[3]{2-\\sqrt{5}}", "1", "cardano_radicals", E, "real cube roots; principal branch gives complex"),
        ("\\sqrt{2+\\sqrt{2+\\sqrt{2+\\sqrt{2}}}}", "2\\cos\\frac{\\pi}{32}", "nested_radical_trig", E, "exact identity"),
        ([["1+", 333333], ["1", 1]], "333334", "box_1e6_chars_sum", E, "~10^6-character box (sum of ones)"),
        ([["x", 1000000]], "x", "box_1e6_chars_symbol", D, "10^6 identical letters"),
        ([["1", 1000000]], "1", "box_1e6_digits", D, "a 10^6-digit number"),
        ([["{", 5000], ["1", 1], ["}", 5000]], "1", "deep_braces", E, "5000 nested braces"),
        ([["(", 2000], ["1", 1], [")", 2000]], "1", "deep_parens", E, "2000 nested parentheses"),
        ([["\\frac{", 300], ["1", 1], ["}{2}", 300]], "2^{-300}", "deep_fracs", E, "300 nested \\frac"),
        ("(" + ",".join(["a"] * 120) + ")", "(" + ",".join(["b"] * 120) + ")", "tuple_120_symbolic", D,
         "tuple path spawns one sympy subprocess per component"),
        ("\\begin{pmatrix}" + " \\\\ ".join(" & ".join("x" for _ in range(8)) for _ in range(8)) + "\\end{pmatrix}",
         "\\begin{pmatrix}" + " \\\\ ".join(" & ".join("y" for _ in range(8)) for _ in range(8)) + "\\end{pmatrix}",
         "matrix_8x8_symbolic", D, "matrix path spawns one subprocess per entry"),
        ("(x+1)^{100000}", "(x+1)^{100000}+1", "big_polynomial", D, "simplify of a huge expansion"),
        ("\\int_0^1 x^{1000000}\\,dx", "\\frac{1}{1000001}", "integral", E, "integration"),
        ("\\sum_{n=1}^{10^{10}} n", "50000000005000000000", "huge_sum", E, "closed form sum"),
        ("e^{e^{e^{e}}}", "1", "exp_tower", D, "e^e^e^e is ~10^(1.6e6)"),
        ("\\frac{1}{0}", "\\infty", "division_by_zero", A, "zoo vs oo"),
        ("0^0", "1", "zero_pow_zero", A, "0^0"),
        ("\\frac{1}{2", "\\frac{1}{2}", "unbalanced_box", D, "unbalanced braces in the box: extraction fails"),
        ("1}{2", "\\frac{1}{2}", "brace_injection", D, "closing brace inside the box"),
        ([["\\text{", 1], ["a", 50000], ["}", 1]], "1", "long_text", D, "long \\text"),
        ("\u200f١٨\u200f", "18", "rtl_marks_native_digits", E, "RLM marks around Arabic-Indic digits"),
        ("1\u00a0000", "1000", "nbsp_thousands", E, "no-break space thousands separator"),
        ("\\begin{pmatrix}1\\end{pmatrix}", [["{", 1], [",", 3000]], "regex_backtracking_gold", D,
         "str_to_pmatrix regex on a pathological gold (not model-controlled)"),
    ]
    out = []
    for i, (p, g, k, e, note) in enumerate(rows):
        row = {"id": f"a{i:03d}"}
        for name, val in (("pred", p), ("gold", g)):
            if isinstance(val, list):  # long strings stored run-length encoded
                row[name + "_segments"] = val
            else:
                assert len(val) <= 2000
                row[name] = val
        row.update({"kind": k, "expect": e, "note": note})
        out.append(row)
    return out


def expand_segments(segs):
    """[[unit, times], ...] -> unit1*times1 + unit2*times2 + ..."""
    return "".join(u * t for u, t in segs)


def build_langdetect_cases(data_dir, seed):
    """~200 (text, lang) cases for the official langdetect consistency rule, from real questions."""
    rng = random.Random(seed + 1)
    Q = {}
    for lang in LANGS:
        for level in LEVELS:
            with open(os.path.join(data_dir, f"polymath_{lang}.{level}.jsonl"), encoding="utf-8") as f:
                Q[(lang, level)] = [json.loads(line) for line in f]
    cases = []

    def add(kind, text, lang, source_id):
        cases.append({"id": f"l{len(cases):03d}", "kind": kind, "lang": lang, "text": text, "source_id": source_id})

    for lang in LANGS:
        n = rng.randrange(125)
        for level in LEVELS:  # full questions; low = plain prose, top/high = LaTeX-heavy
            d = Q[(lang, level)][(n + LEVELS.index(level) * 7) % 125]
            add(f"question_{level}", d["question"], lang, d["id"])
        d = Q[(lang, "low")][(n + 3) % 125]
        add("short_prefix_12", d["question"][:12], lang, d["id"])
        add("prefix_16", d["question"][:16], lang, d["id"])
        add("prefix_40", d["question"][:40], lang, d["id"])
        d = Q[(lang, "medium")][(n + 5) % 125]
        maths = re.findall(r"\$[^$]+\$", d["question"])
        words = re.sub(r"\$[^$]*\$", " ", d["question"]).split()
        add("latex_mostly", " ".join(maths[:6]) + " " + " ".join(words[:2]), lang, d["id"])
        if lang != "en":
            e = Q[("en", "low")][(n + 9) % 125]
            add("english_text_expected_" + lang, e["question"], lang, e["id"])
            x = Q[(lang, "low")][(n + 9) % 125]
            add("mixed_native_then_english", x["question"] + " " + e["question"][: len(e["question"]) // 2], lang, x["id"])
    # boxed answers / inline math / display math around native text
    for lang in LANGS[::2]:
        d = Q[(lang, "low")][rng.randrange(125)]
        add("native_with_inline_math_and_box", d["question"] + " \\(x = 18\\) \\[ 18 \\times 2 = 36 \\] \\boxed{36}", lang, d["id"])
    for lang in ("en", "de", "zh", "ar", "th"):
        d = Q[(lang, "high")][rng.randrange(125)]
        add("native_with_align_env", d["question"] + "\n\\begin{align} a^2+b^2 &= c^2 \\\\ x_{n+1} &= x_n + 2 \\end{align}", lang, d["id"])
    # zh / ja / ko cross, id / ms cross, zh-cn mapping
    ja = Q[("ja", "low")][rng.randrange(125)]
    zh = Q[("zh", "low")][rng.randrange(125)]
    add("japanese_text_expected_zh", ja["question"], "zh", ja["id"])
    add("chinese_text_expected_ja", zh["question"], "ja", zh["id"])
    ko = Q[("ko", "low")][rng.randrange(125)]
    add("korean_text_expected_ja", ko["question"], "ja", ko["id"])
    idq = Q[("id", "low")][rng.randrange(125)]
    msq = Q[("ms", "low")][rng.randrange(125)]
    add("indonesian_text_expected_ms", idq["question"], "ms", idq["id"])
    add("malay_text_expected_id", msq["question"], "id", msq["id"])
    ptq = Q[("pt", "low")][rng.randrange(125)]
    add("portuguese_text_expected_es", ptq["question"], "es", ptq["id"])
    # degenerate inputs
    add("digits_only_long", "1+2+3+4+5+6+7+8+9 = 45", "en", "")
    add("symbols_only_long", "((1 + 2) * 3) - 4 = 5 ... 6", "de", "")
    add("empty", "", "fr", "")
    add("latex_only_long", "$x^2 + y^2 = z^2$ $$\\int_0^1 f(x)\\,dx$$ \\(a+b\\)", "ru", "")
    add("exactly_15_chars", "abcdefghijklmno", "vi", "")
    add("exactly_16_chars", "Das ist ein Test", "de", "")
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/polymath")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--seed", type=int, default=20250522)
    a = ap.parse_args()
    pairs, n_gold = build_pairs(a.data, a.seed)
    with open(os.path.join(a.out, "pairs.jsonl"), "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    adv = build_adversarial()
    with open(os.path.join(a.out, "adversarial.jsonl"), "w", encoding="utf-8") as f:
        for p in adv:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    ld = build_langdetect_cases(a.data, a.seed)
    with open(os.path.join(a.out, "langdetect_cases.jsonl"), "w", encoding="utf-8") as f:
        for c in ld:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"langdetect cases: {len(ld)}")
    from collections import Counter
    print(f"distinct golds: {n_gold}  pairs: {len(pairs)}  adversarial: {len(adv)}")
    print("expect:", dict(Counter(p["expect"] for p in pairs)))
    print("class:", dict(Counter(p["class"] for p in pairs)))
    print("kinds:", len(Counter(p["kind"] for p in pairs)))


if __name__ == "__main__":
    main()
