"""PolyMath's own language-consistency rule (the release's ``eval/run_eval.py``), with langdetect.

So our numbers can be set beside published ones. Per text (the thinking part, or the answer
part) and expected language:

- LaTeX is removed: ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` (across lines), then ``$...$``;
- a text of at most 15 characters left is consistent;
- otherwise it is consistent only when langdetect finds exactly one language and it is the
  expected one (``zh`` is expected as ``zh-cn``); a langdetect error counts as inconsistent.

Differences from the release, both stated in the signature: langdetect is seeded
(``DetectorFactory.seed = 0``; the release does not seed it, so its values vary from run to
run), and nothing else. langdetect has no Malay profile: a Malay text over 15 characters is
never consistent under this rule (the release's numbers have the same property); our
identifier (`metrics.langid`) knows Malay.

langdetect is optional (``pip install "lm-eval-ext[langdetect]"``); without it `unavailable` says
why and the metrics are NaN with that reason. `consistent` needs langdetect and the stdlib only
(the tests load this file by path in an interpreter that has langdetect).
"""

from __future__ import annotations

import re
import threading

SEED = 0
MAX_CONSISTENT_LEN = 15
_MATH_BLOCKS = re.compile(r"\$\$.*?\$\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_INLINE = re.compile(r"\$[^$]*\$")
_lock = threading.Lock()
_seeded = False


def unavailable() -> str | None:
    """None when langdetect imports here, else why not (logged once per process)."""
    from lm_eval_ext import optional

    reason = optional.missing("langdetect")
    if reason:
        optional.warn_once(reason)
    return reason


def signature():
    """How the rule ran here (langdetect's version, the seed), or the `missing.Skip` saying why not."""
    from importlib.metadata import PackageNotFoundError, version

    from lm_eval_ext.missing import Skip

    reason = unavailable()
    if reason:
        return Skip(reason)
    try:
        installed = version("langdetect")
    except PackageNotFoundError:
        installed = "unknown"
    return (f"langcons:langdetect-{installed}|seed:{SEED}|latex:removed|short:<={MAX_CONSISTENT_LEN}chars-consistent"
            "|rule:exactly-one-language-and-expected(zh=zh-cn)|polymath-run_eval")


def stripped(text: str) -> str:
    """The text the rule judges: LaTeX removed as the release removes it."""
    return _INLINE.sub("", _MATH_BLOCKS.sub("", text or ""))


def expected_code(lang: str) -> str:
    return "zh-cn" if lang == "zh" else lang


def consistent(text: str, lang: str) -> bool:
    """The release's verdict for one text in the expected language `lang` (seeded)."""
    global _seeded
    judged = stripped(text)
    if len(judged) <= MAX_CONSISTENT_LEN:
        return True
    from langdetect import DetectorFactory, detect_langs

    with _lock:  # langdetect's factory and seed are process-wide
        if not _seeded:
            DetectorFactory.seed = SEED
            _seeded = True
        try:
            found = detect_langs(judged)
        except Exception:  # LangDetectException (no features): inconsistent, as the release counts it
            return False
    return len(found) == 1 and found[0].lang == expected_code(lang)
