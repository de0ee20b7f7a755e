"""The concepts: CLDR's localized names, read at run time from the installed ``babel``.

A concept is one thing with a name in every language CLDR covers (Unicode licence), in four
categories:

| category | CLDR key | cue (cloze) | example (de / en) |
|---|---|---|---|
| ``territory`` | ISO 3166 region code: two letters, but ZZ (unknown), QO, XA, XB (pseudo-regions) | ``DE`` | Deutschland / Germany |
| ``language`` | ISO 639-1 language code (two letters) | ``fr`` | Französisch / French |
| ``weekday`` | ISO 8601 day number, 1 = Monday (stand-alone wide form) | ``D1`` | Montag / Monday |
| ``month`` | month number (stand-alone wide form: the nominative, e.g. Russian январь) | ``M1`` | Januar / January |

Nothing is copied from a word list: the pool is whatever the installed babel's CLDR holds, and
the output records babel's and CLDR's versions and the count per category. A concept takes part
in a language pair only where CLDR names it in both languages and in English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

CATEGORIES = ("territory", "language", "weekday", "month")
ENGLISH = "en"
_NOT_PLACES = {"ZZ", "QO", "XA", "XB"}  # unknown region, outlying Oceania, pseudo-locales


class UnknownLanguage(ValueError):
    """A language code babel has no CLDR data for."""


class MissingBabel(RuntimeError):
    """babel is not installed."""


@dataclass(frozen=True)
class Concept:
    category: str
    key: str  # the CLDR key (see the table above)
    words: tuple[tuple[str, str], ...]  # (language code, its name), sorted by code

    def word(self, lang: str) -> str:
        return dict(self.words)[lang]

    @property
    def cue(self) -> str:
        """The language-neutral code the cloze prompt shows for it."""
        return {"weekday": "D", "month": "M"}.get(self.category, "") + self.key

    @property
    def id(self) -> str:
        return f"{self.category}:{self.key}"


def _babel():
    from lm_eval_ext import optional

    reason = optional.missing("latent")
    if reason:
        raise MissingBabel(reason)
    import babel
    from babel import Locale, UnknownLocaleError

    return babel, Locale, UnknownLocaleError


def versions() -> dict[str, str]:
    """babel's and its CLDR data's versions."""
    babel, _, _ = _babel()
    from babel import core

    cldr = core.get_cldr_version() if hasattr(core, "get_cldr_version") else "unknown"
    return {"babel": babel.__version__, "cldr": str(cldr)}


@lru_cache(maxsize=None)
def locale(code: str):
    """babel's Locale of a language code; `UnknownLanguage` naming the code when CLDR has none."""
    _, Locale, UnknownLocaleError = _babel()
    if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*", code):
        raise UnknownLanguage(f"language code {code!r}: not a CLDR locale code (e.g. de, zh, pt_BR)")
    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as err:
        raise UnknownLanguage(f"language code {code!r}: babel {versions()['babel']} has no CLDR data for it "
                              f"({err})") from None


def label(code: str) -> str:
    """The language's name in itself, first letter capitalized (the prompts' labels: Français, 中文)."""
    name = locale(code).get_display_name(locale(code)) or code
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=None)
def names(code: str, category: str) -> dict[str, str]:
    """{CLDR key: the name in language `code`} of one category."""
    loc = locale(code)
    if category == "territory":
        return {k: v for k, v in loc.territories.items() if re.fullmatch(r"[A-Z]{2}", k) and k not in _NOT_PLACES}
    if category == "language":
        return {k: v for k, v in loc.languages.items() if re.fullmatch(r"[a-z]{2}", k)}
    if category == "weekday":
        return {str(i + 1): loc.days["stand-alone"]["wide"][i] for i in range(7)}
    if category == "month":
        return {str(m): loc.months["stand-alone"]["wide"][m] for m in range(1, 13)}
    raise ValueError(f"unknown concept category {category!r}")


def pool(langs) -> list[Concept]:
    """Every concept CLDR names in each of `langs` and in English, in (category, key) order."""
    codes = sorted(set(langs) | {ENGLISH})
    out = []
    for category in CATEGORIES:
        tables = {c: names(c, category) for c in codes}
        keys = set.intersection(*(set(t) for t in tables.values()))
        for key in sorted(keys, key=lambda k: (len(k), k)):
            words = tuple((c, tables[c][key].strip()) for c in codes)
            if all(w for _, w in words):
                out.append(Concept(category, key, words))
    return out


def category_counts(concepts) -> dict[str, int]:
    return {c: sum(1 for x in concepts if x.category == c) for c in CATEGORIES}
