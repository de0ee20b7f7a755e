"""Extractive-QA scorers: exact match and token F1, max over the gold answers.

Two families, both pure functions of (prediction, gold answers, language):

- ``exact_match`` / ``f1``: the rules of the official MLQA evaluation script
  (``mlqa_evaluation_v1.py``, Lewis et al. 2020): lower-case; remove every
  Unicode punctuation character (categories P*) and ASCII ``string.punctuation``;
  remove the language's articles; tokenise on whitespace, with "mixed
  segmentation" for Chinese (each CJK ideograph U+4E00-U+9FA5 a token, other
  runs split on whitespace). Extended to the other XQuAD languages: character
  segmentation for the unspaced Thai and Japanese (each Thai / kana / kanji code
  point a token, other runs split on whitespace, as MLQA does for Chinese),
  article lists from the language registry where a language has free articles.
  ar/de/en/es/hi/vi/zh give exactly the official script's numbers, including its
  Arabic rule ``re.sub('\\sال^|ال', ' ', text)``, which removes *every* "ال"
  (not only the word-initial article): that is what published MLQA numbers use.
- ``exact_match_squad`` / ``f1_squad``: the official SQuAD v1.1 script
  (``evaluate-v1.1.py``) for every language: lower-case, remove ASCII
  punctuation, remove English articles, whitespace tokens. XTREME-style papers
  report XQuAD with it, so these numbers compare with the literature.

Per item both return floats in [0, 1]; lm-eval averages them. The per-language
rules are tabulated in tasks/qa/README.md.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from functools import lru_cache

from lm_eval_ext import languages
from lm_eval_ext.signature import Signature

SCORER_VERSION = 1

# Official MLQA: every code point below sys.maxunicode whose category starts with P,
# plus ASCII string.punctuation (which adds the symbols $+<=>^`|~).
_MLQA_PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
_MLQA_PUNCT |= set(string.punctuation)
_MLQA_DELETE = str.maketrans("", "", "".join(sorted(_MLQA_PUNCT)))
_SQUAD_DELETE = str.maketrans("", "", string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")

class _Rule:
    """A language's QA normalization (`languages.QaRules`), compiled."""

    __slots__ = ("lang", "articles", "segment", "articles_label", "segmentation_label")

    def __init__(self, lang: str):
        self.lang = lang
        rules = languages.get(lang).qa_rules
        words = rules.articles  # MissingLiteral (a KeyError) naming the language and the file
        if rules.article_pattern:  # Arabic: the official script's regex instead of a word list
            self.articles = re.compile(rules.article_pattern)
            self.articles_label = rules.article_pattern_label
        else:
            self.articles = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b") if words else None
            self.articles_label = " ".join(words) if words else "none"
        chars = rules.segment_chars
        if not chars and not languages.get(lang).spaced:
            raise KeyError(f"language {lang!r} writes no spaces but has no QA segmentation rule "
                           f"(QaRules.segment_chars in {languages.REGISTRY_FILE})")
        self.segment = re.compile(f"([{chars}])") if chars else None
        self.segmentation_label = rules.segmentation


@lru_cache(maxsize=None)
def rule(lang: str) -> _Rule:
    return _Rule(lang)


@lru_cache(maxsize=200_000)
def mlqa_tokens(text: str, lang: str) -> tuple[str, ...]:
    """The MLQA normalisation of `text` as tokens (normalised string = ' '.join)."""
    r = rule(lang)
    text = text.lower().translate(_MLQA_DELETE)
    if r.articles is not None:
        text = r.articles.sub(" ", text)
    if r.segment is not None:  # same tokens as the official mixed_segmentation loop
        text = r.segment.sub(r" \1 ", text)
    return tuple(text.split())


@lru_cache(maxsize=200_000)
def squad_tokens(text: str) -> tuple[str, ...]:
    text = text.lower().translate(_SQUAD_DELETE)
    return tuple(_SQUAD_ARTICLES.sub(" ", text).split())


def _f1(pred: tuple[str, ...], gold: tuple[str, ...]) -> float:
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def _golds(golds) -> list[str]:
    golds = [golds] if isinstance(golds, str) else list(golds)
    if not golds:
        raise ValueError("no gold answers to score against")
    return golds


def exact_match(prediction: str, golds, lang: str) -> float:
    p = mlqa_tokens(prediction, lang)
    return float(any(p == mlqa_tokens(g, lang) for g in _golds(golds)))


def f1(prediction: str, golds, lang: str) -> float:
    p = mlqa_tokens(prediction, lang)
    return max(_f1(p, mlqa_tokens(g, lang)) for g in _golds(golds))


def exact_match_squad(prediction: str, golds) -> float:
    p = squad_tokens(prediction)
    return float(any(p == squad_tokens(g) for g in _golds(golds)))


def f1_squad(prediction: str, golds) -> float:
    p = squad_tokens(prediction)
    return max(_f1(p, squad_tokens(g)) for g in _golds(golds))


def score(prediction: str, golds, lang: str) -> dict[str, float]:
    """All four metrics of one prediction; `lang` is the answer's (= context's) language."""
    golds = _golds(golds)
    return {
        "exact_match": exact_match(prediction, golds, lang),
        "f1": f1(prediction, golds, lang),
        "exact_match_squad": exact_match_squad(prediction, golds),
        "f1_squad": f1_squad(prediction, golds),
    }


def signature(lang: str) -> str:
    """How a number was computed, sacreBLEU-style."""
    r = rule(lang)
    # the field "max-over-golds + squad-v1.1" is how the first versions wrote the pair of scorers
    # (MLQA rules, then SQuAD's); kept byte for byte so that the task files and old runs still agree
    return str(Signature.of(
        ("qa-mlqa", f"v{SCORER_VERSION}"), ("lang", lang), ("punct", "unicode-P+ascii"), ("articles", r.articles_label),
        ("tokens", r.segmentation_label), ("max-over-golds + squad-v1.1", "punct:ascii"), ("articles", "a an the"),
        ("tokens", "whitespace"),
    ))
