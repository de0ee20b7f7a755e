"""Cross-lingual consistency: is it the same model in every language?

Pure functions of records, one `Record` ``(item, lang, answer, correct, fidelity)``
per (item, language); the ``xlc_<family>`` tasks and ``lm-eval-ext consistency``
both compute their numbers here. Definitions (over the extracted answers of the
family's own extraction, per filter):

- ``accuracy_<l>``: share of items answered correctly in language l.
- ``agreement_<a>_<b>``: share of the items answered in both a and b whose
  extracted answers are equal, right or wrong (answer agreement of Gao et al.
  2024, "Multilingual Pretraining and Instruction Tuning Improve Cross-Lingual
  Knowledge Alignment, But Only Shallowly"). Equality is the family's: a missing
  answer equals nothing, not even another missing answer.
- ``consistency_<a>_<b>`` = |C_a ∩ C_b| / |C_a ∪ C_b| (`correct_overlap`), C_l the
  set of items answered correctly in l (the correct-overlap consistency of Gao et
  al. 2024 and of the consistency analysis of Zhu et al. 2024, "The Power of
  Question Translation Training in Multilingual Reasoning: Broadened Scope and
  Deepened Insights"). Undefined (NaN) when no item is correct in either language.
- Pairs are unordered: one metric per pair, named in the family's language
  order (``agreement_de_en``, never ``agreement_en_de``).
- Summaries: ``agreement_mean`` / ``consistency_mean`` (unweighted mean over
  the pairs with a value), ``agreement_with_en_mean`` / ``consistency_with_en_mean``
  (mean over the non-English languages of their pair with English),
  ``accuracy_mean``, and over the items answered in every language:
  ``correct_all`` / ``correct_none`` / ``correct_some`` (shares of items answered
  correctly in all, none, and some but not all languages; they sum to 1).
- ``lang_fidelity_<l>``: share of the decidable replies in l written in the
  expected language (`metrics.langid`).

Missing languages or items (``--limit`` not a multiple of the number of
languages, a language absent from a samples log): a pair uses the items
answered in both of its languages, the all/none/some shares the items answered
in every language; a pair or language without any such item is NaN, with a
warning naming it. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import math
from itertools import combinations
from typing import Callable, Iterable, NamedTuple

log = logging.getLogger(__name__)

ENGLISH = "en"
SUMMARY_METRICS = (
    "accuracy_mean",
    "agreement_mean",
    "consistency_mean",
    "agreement_with_en_mean",
    "consistency_with_en_mean",
    "correct_all",
    "correct_none",
    "correct_some",
)

# (answer a, language a, answer b, language b) -> the same answer?
Equal = Callable[[str, str, str, str], bool]


class Record(NamedTuple):
    """One (item, language): the per-sample value of a consistency task."""

    item: int | str
    lang: str
    answer: str
    correct: bool
    fidelity: float | None = None  # 1/0 in/not in the expected language, None undecidable


def ordered_pair(a: str, b: str, order: tuple[str, ...]) -> tuple[str, str]:
    """An unordered pair in the family's language order (the name of its metric)."""
    return (a, b) if order.index(a) <= order.index(b) else (b, a)


def _by_lang(records: Iterable) -> dict[str, dict]:
    """{lang: {item: Record}}; records may be lists (as read back from JSON)."""
    out: dict[str, dict] = {}
    for r in records:
        r = Record(*r)
        out.setdefault(r.lang, {})[r.item] = r
    return out


def accuracy(records, lang: str) -> float:
    rs = _by_lang(records).get(lang, {})
    if not rs:
        log.warning("xlc: no items in language %s: accuracy_%s is NaN", lang, lang)
        return math.nan
    return sum(r.correct for r in rs.values()) / len(rs)


def _common(by: dict, a: str, b: str, metric: str) -> list:
    missing = [x for x in (a, b) if not by.get(x)]
    if missing:
        log.warning("xlc: %s_%s_%s is NaN: no items in language(s) %s", metric, a, b, ", ".join(missing))
        return []
    items = [i for i in by[a] if i in by[b]]
    if not items:
        log.warning("xlc: %s_%s_%s is NaN: no item answered in both languages", metric, a, b)
    return items


def agreement(records, a: str, b: str, equal: Equal) -> float:
    by = _by_lang(records)
    items = _common(by, a, b, "agreement")
    if not items:
        return math.nan
    return sum(bool(equal(by[a][i].answer, a, by[b][i].answer, b)) for i in items) / len(items)


def correct_overlap(records, a: str, b: str) -> float:
    """``consistency_<a>_<b>``: |C_a ∩ C_b| / |C_a ∪ C_b| over the items answered in both languages."""
    by = _by_lang(records)
    items = _common(by, a, b, "consistency")
    ca = {i for i in items if by[a][i].correct}
    cb = {i for i in items if by[b][i].correct}
    union = ca | cb
    return len(ca & cb) / len(union) if union else math.nan


def correct_shares(records, langs: tuple[str, ...] | None = None) -> dict[str, float]:
    """Shares of the items answered in every language that are correct in all /
    none / some of them."""
    by = _by_lang(records)
    langs = tuple(langs or sorted(by))
    nan = {"correct_all": math.nan, "correct_none": math.nan, "correct_some": math.nan}
    if not langs or any(not by.get(x) for x in langs):
        log.warning("xlc: correct_all/none/some are NaN: no items in language(s) %s",
                    ", ".join(x for x in langs if not by.get(x)) or "(none given)")
        return nan
    items = [i for i in by[langs[0]] if all(i in by[x] for x in langs)]
    dropped = len(set().union(*(by[x].keys() for x in langs))) - len(items)
    if dropped:
        log.warning("xlc: %d item(s) not answered in every language are left out of correct_all/none/some", dropped)
    if not items:
        return nan
    n_right = [sum(by[x][i].correct for x in langs) for i in items]
    all_ = sum(k == len(langs) for k in n_right) / len(items)
    none = sum(k == 0 for k in n_right) / len(items)
    return {"correct_all": all_, "correct_none": none, "correct_some": 1.0 - all_ - none}


def _nanmean(values) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def compute(records, langs: tuple[str, ...], equal: Equal) -> dict[str, float]:
    """Every metric of a consistency task from its records (the post-hoc command and the tests)."""
    records = [Record(*r) for r in records]
    out = {f"accuracy_{x}": accuracy(records, x) for x in langs}
    for a, b in combinations(langs, 2):
        out[f"agreement_{a}_{b}"] = agreement(records, a, b, equal)
        out[f"consistency_{a}_{b}"] = correct_overlap(records, a, b)
    for x in langs:
        fid = [r.fidelity for r in records if r.lang == x and r.fidelity is not None]
        out[f"lang_fidelity_{x}"] = sum(fid) / len(fid) if fid else math.nan
    out.update(summaries(records, langs, equal))
    return out


def summaries(records, langs: tuple[str, ...], equal: Equal) -> dict[str, float]:
    pairs = list(combinations(langs, 2))
    out = {
        "accuracy_mean": _nanmean(accuracy(records, x) for x in langs),
        "agreement_mean": _nanmean(agreement(records, a, b, equal) for a, b in pairs),
        "consistency_mean": _nanmean(correct_overlap(records, a, b) for a, b in pairs),
    }
    if ENGLISH in langs:
        others = [x for x in langs if x != ENGLISH]
        out["agreement_with_en_mean"] = _nanmean(
            agreement(records, *ordered_pair(x, ENGLISH, langs), equal) for x in others)
        out["consistency_with_en_mean"] = _nanmean(
            correct_overlap(records, *ordered_pair(x, ENGLISH, langs)) for x in others)
    out.update(correct_shares(records, langs))
    return out
