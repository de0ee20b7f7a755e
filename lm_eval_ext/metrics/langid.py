"""Output-language identification: in which language did the model reply?

The public API other task families call:

- ``detect(text) -> code | None``: the language of a text as a registry code
  (ISO 639-1, ``lm_eval_ext.languages``), or another language's ISO 639-1
  code, or ``None`` when the text is too short to judge (see `undecidable`);
- ``fidelity(reply, expected) -> 1.0 | 0.0 | None``: is the reply written in
  the expected language? ``None`` = undecidable;
- ``fidelity_metrics(reply, expected) -> dict``: the per-sample values of the
  ``lang_fidelity`` and ``lang_undecidable`` metrics, and of ``lang_line_pass``
  (`lm_eval_ext.metrics.confusion`: every scorable line in the expected language,
  LCB's line detector; needs ``lm-eval-ext[confusion]``), ready to merge into the
  dict a ``process_results`` returns;
- ``METRIC_LIST``: the matching ``metric_list`` entries of a task YAML;
- ``SIGNATURE``: how the language is identified (the task YAMLs'
  ``metadata.fidelity_scorer``); ``signature()`` adds the installed lingua
  version (the results' ``metadata.metric_signatures``);
- ``unavailable()``: None, or why lingua cannot be used here (not installed, a look-alike
  package of the same module name, a detector that fails to build or fails mid-run).
  Without it (``pip install "lm-eval-ext[langid]"``) ``fidelity_metrics`` returns nothing,
  the metrics are NaN with that reason in the results (`lm_eval_ext.plugin.annotate_results`)
  and `detect` raises `LangidUnavailable`, never an ImportError.

Undecidable replies (numbers only, one word, a few letters) are *excluded*
from ``lang_fidelity``: every document emits the key, ``None`` when its reply is
undecidable, and the aggregation ``mean_decidable`` is the plain mean over the
decidable replies (the plugin adds lm-eval's closed-form standard error of that
mean, `lm_eval_ext.plugin.annotate_results`), while ``lang_undecidable`` (0/1 per
reply, mean = share) reports how many were excluded; count = share x ``sample_len``.
Why not omit the key: lm-eval 0.4.13 gathers a data-parallel run's per-document
values under the metric keys rank 0 saw, so a key some documents omit is lost, or
stops rank 0 with a KeyError, when a whole shard lacks it. The reports'
per-sample reader (``reporting.runs.item_scores``) skips ``None`` values, so no
sentinel ever reaches a mean.

Identifier: lingua-language-detector (model inside the wheel, works offline),
all of its 75 languages (a Portuguese reply must not pass as Spanish), high
accuracy mode, models loaded lazily per script. Chosen by accuracy on short
real texts of all registry languages and by speed: benchmarks/langid_choice.py
and BENCHMARKS.md ("Language identification for lang_fidelity"); measured again
against fastText lid.176.ftz (lighter, but 63% on Swahili and blind to languages
it lacks) and kept.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from lm_eval_ext import languages
from lm_eval_ext.metrics import confusion
from lm_eval_ext.missing import Skip, applicable, mean_applicable
from lm_eval_ext.signature import Signature
from lm_eval_ext.metrics.reasoning import strip_reasoning

MIN_WORDS = 2  # one word is not a language ("18 dollars", "Jibu")
MIN_LETTERS = 4
# Scripts written without spaces: a "word" is about two letters there.
_UNSPACED = re.compile(f"[{languages.unspaced_letters()}]")
_URL = re.compile(r"https?://\S+|\S+@\S+")
_LATEX = re.compile(r"\\[a-zA-Z]+")

_METHOD = Signature.of(("languages", "all"), ("mode", "high-accuracy"),
                       ("undecidable", f"<{MIN_WORDS}words-or-<{MIN_LETTERS}letters"), ("think", "stripped"),
                       ("fidelity", "mean-of-decidable"))
SIGNATURE = str(Signature.of(("langid", "lingua"), _METHOD))
LINGUA_DISTRIBUTION = "lingua-language-detector"

# the aggregation of a metric some documents cannot decide (value None): a dotted
# path, which the task generators write as a YAML `!function` tag
MEAN_DECIDABLE = "lm_eval_ext.metrics.langid.mean_decidable"

METRIC_LIST = [
    {"metric": "lang_fidelity", "aggregation": MEAN_DECIDABLE, "higher_is_better": True},
    {"metric": "lang_undecidable", "aggregation": "mean", "higher_is_better": False},
    confusion.LINE_METRIC,  # lang_line_pass: None when no line is scorable
]

# every metric computed with the identifier (NaN when lingua is missing)
_DEPENDENT = ("lang_fidelity", "lang_undecidable", "exact_match_in_lang")


def uses_langid(metric: str) -> bool:
    """Whether a metric of one of our tasks needs the language identifier."""
    return metric in _DEPENDENT or metric.startswith("lang_fidelity_")


class LangidUnavailable(RuntimeError):
    pass


_failure: str | None = None  # why the identifier failed in this process once it had loaded


def unavailable() -> str | None:
    """None when lingua can be used here (installed, its API imports, its detector builds,
    and it has not failed since), else why not (logged once per process)."""
    from lm_eval_ext import optional

    reason = optional.missing("langid") or _failure
    if reason is None:
        try:
            _lingua()
        except Exception as err:
            reason = _failed(err)
    if reason:
        optional.warn_once(reason)
    return reason


def _failed(err: Exception) -> str:
    """Record that the identifier failed (`unavailable` says so from now on: the run's
    language-identification metrics become NaN with this reason, never a mean over the
    documents judged before the failure)."""
    from lm_eval_ext import optional

    global _failure
    if _failure is None:
        first = (str(err).splitlines() or [""])[0][:300]
        _failure = (f"{LINGUA_DISTRIBUTION} failed ({type(err).__name__}: {first}); needed for "
                    f"{optional.EXTRAS['langid'].used_for}: {optional.pip_command('langid')}")
    return _failure


def signature() -> str | Skip:
    """SIGNATURE with the installed lingua version, or the `Skip` saying why lingua cannot run."""
    from importlib.metadata import PackageNotFoundError, version

    reason = unavailable()
    if reason:
        return Skip(reason)
    try:
        installed = version(LINGUA_DISTRIBUTION)
    except PackageNotFoundError:  # importable but not installed by pip (a source tree on the path)
        installed = "unknown"
    return str(Signature.of(("langid", f"lingua-{installed}"), _METHOD))


_lock = threading.Lock()
_detector = None


def _lingua():
    global _detector
    with _lock:
        if _detector is None:
            from lingua import LanguageDetectorBuilder

            _detector = LanguageDetectorBuilder.from_all_languages().build()
    return _detector


def to_registry_code(code: str | None) -> str | None:
    """A detector's code -> the registry's ISO 639-1 code (``zh-Hant`` -> ``zh``,
    ``deu_Latn`` -> ``de``); codes outside the registry are returned lowercased."""
    if not code:
        return None
    try:
        return languages.get(code).code
    except KeyError:
        pass
    base = re.split(r"[-_]", code)[0].lower()
    try:
        return languages.get(base).code
    except KeyError:
        return base


def judged_text(reply: str) -> str:
    """What the identifier reads: reasoning blocks, URLs, LaTeX commands,
    digits and punctuation removed (they say nothing about the language)."""
    text = strip_reasoning(reply or "")
    text = _URL.sub(" ", text)
    text = _LATEX.sub(" ", text)
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        # letters and combining marks (Indic vowel signs are marks)
        kept.append(ch if cat[0] in "LM" else " ")
    return " ".join("".join(kept).split())


def undecidable(text: str) -> bool:
    """Too little text to tell the language: fewer than MIN_WORDS words or
    MIN_LETTERS letters (in unspaced scripts, two letters count as a word)."""
    letters = sum(1 for ch in text if ch.isalpha())
    if letters < MIN_LETTERS:
        return True
    words = 0
    for token in text.split():
        unspaced = len(_UNSPACED.findall(token))
        words += max(1, unspaced // 2) if unspaced else 1
    return words < MIN_WORDS


@lru_cache(maxsize=8192)
def detect(text: str) -> str | None:
    """The language of `text` (registry code, or another ISO 639-1 code), or
    None when undecidable. Cached: several filters of one task judge the same reply.
    Raises LangidUnavailable when lingua is not installed."""
    reason = unavailable()
    if reason:
        raise LangidUnavailable(reason)
    judged = judged_text(text)
    if undecidable(judged):
        return None
    try:
        lang = _lingua().detect_language_of(judged)
    except Exception as err:  # a language model that fails to load mid-run: the metric, not the run
        raise LangidUnavailable(_failed(err)) from None
    if lang is None:
        return None
    return to_registry_code(lang.iso_code_639_1.name)


def label_of(expected: str) -> tuple[str, str] | None:
    """(the identifier's label for a registry language, ``direct`` | ``macrolanguage``), or
    None when the identifier does not know the language (the registry's ``lingua`` fields, from
    lm_eval_ext/data/flores200.csv): a reply cannot be judged in it, its fidelity is NaN with
    `unknown_reason`, never a false 0. A macrolanguage label (``ara`` for Egyptian Arabic)
    counts as known."""
    lang = languages.get(expected)
    return (lang.lingua, lang.lingua_match) if lang.lingua else None


def unknown_reason(expected: str) -> str:
    """Why the fidelity of replies in `expected` is NaN (one text for every such language, so
    the reports list them together; the task names the language)."""
    languages.get(expected)
    return ("lingua does not know the target language, neither by its code nor by its macrolanguage's "
            "(lm_eval_ext/data/flores200.csv): replies in it cannot be identified")


@lru_cache(maxsize=8192)
def _detected_label(text: str) -> str | None:
    """lingua's ISO 639-3 code for `text` (lower case), None when undecidable."""
    judged = judged_text(text)
    if undecidable(judged):
        return None
    try:
        lang = _lingua().detect_language_of(judged)
        return None if lang is None else lang.iso_code_639_3.name.lower()
    except Exception as err:  # a model that fails to load mid-run, a look-alike's answer: the metric, not the run
        raise LangidUnavailable(_failed(err)) from None


def fidelity(reply: str, expected: str) -> float | None:
    """1.0 when the reply is in `expected` (a registry code: the identifier's label for it,
    `label_of`), 0.0 when it is in another language, None when undecidable or when the
    identifier cannot run (then `unavailable` says why and the results mark the metric
    skipped). Raises ValueError for a language the identifier does not know."""
    label = label_of(expected)
    if label is None:
        raise ValueError(unknown_reason(expected))
    if unavailable():
        return None
    try:
        got = _detected_label(reply or "")
    except LangidUnavailable:
        return None
    if got is None:
        return None
    return float(got == label[0])


def fidelity_metrics(reply: str, expected: str) -> dict[str, float | None]:
    """Per-sample values for METRIC_LIST: ``lang_fidelity`` is None when
    undecidable, ``lang_line_pass`` when no line is scorable; each is left out when its
    identifier is not installed, fails, or does not know `expected` (then on every document
    alike: the results show NaN and the reason)."""
    out: dict[str, float | None] = {}
    if not unavailable() and label_of(expected) is not None:
        value = fidelity(reply, expected)
        if not (value is None and unavailable()):  # it failed on this reply
            out.update({"lang_undecidable": float(value is None), "lang_fidelity": value})
    out.update(confusion.line_pass_metrics(reply, expected))
    return out


# The one "does not apply" rule (`lm_eval_ext.missing`): the task YAMLs name the None-skipping
# mean by this path (MEAN_DECIDABLE); it is the same function object as missing.mean_applicable,
# so the plugin recognizes it by identity even when lm-eval loads this module a second time.
decided = applicable
mean_decidable = mean_applicable
