"""Locale-aware number extraction from free-form model replies.

What a careful human grader accepts, and so what this reads:
- any script's decimal digits (Bengali ৩, Thai ๓, Telugu ౩, Devanagari ३,
  Arabic-Indic ٣, full-width ３ ...): every Unicode ``Nd`` digit is mapped to
  ASCII before parsing, one character for one, so positions stay valid;
- the language's separators: ``1,234.5`` (en), ``1.234,5`` (de/es),
  ``1 234,5`` with a space, a no-break or a narrow no-break space (fr/ru),
  Indian grouping ``1,23,456``; when a reply mixes both marks the last one is
  the decimal mark, whatever the language;
- a sign directly before the digits (``-5``, ``−5``), but not the minus of
  ``74-35``;
- currency symbols, units and counters around the number (``$18``, ``18 €``,
  ``5টি``, ``29台``) and trailing sentence punctuation (``18.``, ``18。``,
  ``18।``) are simply not part of it.

Values are `Decimal`, so 18 and 18.0 compare equal and nothing is rounded.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from lm_eval_ext.languages import GROUPING_SPACES, NBSP, NNBSP, THIN, Language, get
from lm_eval_ext.metrics.reasoning import strip_reasoning

SCORER_VERSION = "1"

_SPACES = set(GROUPING_SPACES)
_MINUS = {"-", "\u2212"}
_SIGN_MAY_FOLLOW = set(" \t\n=:(（[{$€£¥₹₽")


@lru_cache(maxsize=1)
def _digit_table() -> dict[int, str]:
    table = {}
    for cp in range(0x80, sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch) == "Nd":
            table[cp] = str(unicodedata.decimal(ch))
    return table


def to_ascii_digits(text: str) -> str:
    """Map every Unicode decimal digit to its ASCII digit (length-preserving)."""
    if text.isascii():
        return text
    return text.translate(_digit_table())


@dataclass(frozen=True)
class Number:
    value: Decimal
    start: int  # span in the original text
    end: int


def canonical(value) -> str:
    """One string per numeric value: 18, 18.0 and '18.00' all give '18'."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _run_pattern(lang: Language) -> re.Pattern:
    seps = {".", ","} | set(lang.group_seps) | {NBSP, NNBSP, THIN}
    cls = "".join(re.escape(s) for s in sorted(seps))
    return re.compile(rf"\d(?:\d|[{cls}](?=\d))*")


_PATTERNS: dict[str, re.Pattern] = {}


def _split_run(run: str):
    """'1 234,5' -> groups ['1','234','5'], seps [' ', ',']"""
    groups, seps, cur = [], [], []
    for ch in run:
        if ch.isdigit():
            cur.append(ch)
        else:
            groups.append("".join(cur))
            seps.append(ch)
            cur = []
    groups.append("".join(cur))
    return groups, seps


def _classify(groups, seps, lang: Language) -> list[str]:
    """For each separator: 'group' (joins thousands), 'decimal' or 'break'."""
    kinds = []
    marks = [s for s in seps if s in ".,"]
    both = "." in marks and "," in marks
    last_mark = max((i for i, s in enumerate(seps) if s in ".,"), default=None)
    decimal_seen = False
    group_char = None  # the grouping separator used by the number being built
    first_len = len(groups[0])
    for i, sep in enumerate(seps):
        nxt = groups[i + 1]
        if decimal_seen:
            kinds.append("break")
            decimal_seen, group_char, first_len = False, None, len(nxt)
            continue
        if sep in _SPACES:
            spaces_ok = sep in lang.group_seps or sep != " "
            ok = spaces_ok and len(nxt) == 3 and first_len <= 3 and group_char in (None, "space")
            if ok:
                kinds.append("group")
                group_char = "space"
            else:
                kinds.append("break")
                group_char, first_len = None, len(nxt)
            continue
        count = marks.count(sep)
        if both:
            kind = "decimal" if i == last_mark and count == 1 else "group"
        elif count > 1:
            kind = "group"
        elif len(nxt) == 3:
            if sep in lang.group_seps:
                kind = "group"
            elif sep == lang.decimal_sep or sep == ".":
                kind = "decimal"
            else:
                kind = "group"
        else:
            kind = "decimal" if (sep == lang.decimal_sep or sep == ".") else "break"
        if kind == "group":
            valid_len = len(nxt) == 3 or (sep == "," and len(nxt) == 2 and i + 1 < len(seps))
            if not valid_len or first_len > 3 or group_char not in (None, sep):
                kind = "break" if sep != lang.decimal_sep else "decimal"
                if kind == "decimal" and len(nxt) == 0:
                    kind = "break"
        if kind == "group":
            group_char = sep
        elif kind == "decimal":
            decimal_seen = True
        else:
            group_char, first_len = None, len(nxt)
        kinds.append(kind)
    return kinds


def find_numbers(text: str, lang: Language | str) -> list[Number]:
    """All numbers in `text`, read with the conventions of `lang`."""
    lang = get(lang) if isinstance(lang, str) else lang
    pattern = _PATTERNS.get(lang.code)
    if pattern is None:
        pattern = _PATTERNS[lang.code] = _run_pattern(lang)
    ascii_text = to_ascii_digits(text)
    for native, ascii_mark in lang.ascii_marks:  # Arabic decimal and thousands marks
        ascii_text = ascii_text.replace(native, ascii_mark)
    out: list[Number] = []
    for m in pattern.finditer(ascii_text):
        groups, seps = _split_run(m.group())
        kinds = _classify(groups, seps, lang)
        pos = m.start()
        int_digits, frac_digits, start = groups[0], "", pos
        cursor = pos + len(groups[0])
        in_frac = False

        def flush(end):
            if not int_digits:
                return
            s = int_digits + ("." + frac_digits if frac_digits else "")
            try:
                value = Decimal(s)
            except InvalidOperation:  # pragma: no cover - digits only
                return
            if start > 0 and ascii_text[start - 1] in _MINUS:
                before = ascii_text[start - 2] if start >= 2 else " "
                if before in _SIGN_MAY_FOLLOW:
                    out.append(Number(-value, start - 1, end))
                    return
            out.append(Number(value, start, end))

        for kind, sep, grp in zip(kinds, seps, groups[1:]):
            if kind == "group":
                int_digits += grp
            elif kind == "decimal":
                frac_digits, in_frac = grp, True
            else:
                flush(cursor)
                int_digits, frac_digits, in_frac = grp, "", False
                start = cursor + len(sep)
            cursor += len(sep) + len(grp)
        flush(cursor)
    return out


def last_number(text: str, lang: Language | str) -> Decimal | None:
    nums = find_numbers(text, lang)
    return nums[-1].value if nums else None


def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern:
    alts = []
    for cue in sorted(cues, key=len, reverse=True):
        parts = [re.escape(p) for p in cue.split()]
        alts.append(r"\s*".join(parts) if cue.strip()[-1:] in ":：" else r"\s+".join(parts))
    return re.compile("|".join(alts), re.I)


_CUES: dict[tuple[str, ...], re.Pattern] = {}
_LINE_END = re.compile(r"\n")


def number_after_cue(text: str, lang: Language | str, cues: tuple[str, ...]) -> Decimal | None:
    """The number the reply gives after its last answer cue ("The answer is ...").

    Looks at the rest of the cue's line; when that line is an equation
    ("The answer is 16 - 3 = 13") the number after the last "=" wins.
    """
    lang = get(lang) if isinstance(lang, str) else lang
    pattern = _CUES.get(cues)
    if pattern is None:
        pattern = _CUES[cues] = _cue_pattern(cues)
    for m in reversed(list(pattern.finditer(text))):
        rest = text[m.end():]
        line_end = _LINE_END.search(rest)
        line = rest[: line_end.start()] if line_end else rest
        nums = find_numbers(line, lang)
        if not nums:
            continue
        eq = line.rfind("=")
        after_eq = [n for n in nums if n.start > eq] if eq >= 0 else []
        if eq >= 0 and after_eq and eq > nums[0].start:
            return after_eq[0].value
        return nums[0].value
    return None


def clean_reply(text: str) -> str:
    """What extraction reads: reasoning blocks removed, markdown emphasis and
    LaTeX boxing unwrapped (``**18**``, ``\\boxed{18}``)."""
    text = strip_reasoning(text)
    text = re.sub(r"\\boxed\{([^{}]*)\}", r"\1", text)
    return text.replace("**", "").replace("__", "")
