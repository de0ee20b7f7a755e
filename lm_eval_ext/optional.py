"""Optional heavy parts (pip extras) and what happens without them.

| extra                    | packages                  | used for                                          |
|--------------------------|---------------------------|---------------------------------------------------|
| ``lm-eval-ext[langid]``  | lingua-language-detector  | lang_fidelity, lang_undecidable, exact_match_in_lang, xlc's lang_fidelity_<l> |
| ``lm-eval-ext[ja]``      | mecab-python3, ipadic     | BLEU into Japanese (sacreBLEU's ja-mecab tokenizer) |
| ``lm-eval-ext[embedded]``| gguf                      | converting the embedded demo model's GGUF file     |
| ``lm-eval-ext[latent]``  | babel                     | the concepts of ``lm-eval-ext latent-language`` (CLDR) |

Without one, the metrics it serves are NaN and the task's results say why
(``configs.<task>.metadata.skipped_metrics``); the log says it once per process,
naming the package and the pip command. Nothing falls back to another method:
a number is either the documented one or NaN.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger("lm_eval_ext")


@dataclass(frozen=True)
class Extra:
    modules: tuple[str, ...]  # what gets imported
    packages: str  # as pip names them
    used_for: str


EXTRAS = {
    "langid": Extra(("lingua",), "lingua-language-detector",
                    "lang_fidelity, lang_undecidable, exact_match_in_lang and xlc's lang_fidelity_<l>"),
    "ja": Extra(("MeCab", "ipadic"), "mecab-python3 and ipadic",
                "BLEU into Japanese (sacreBLEU's ja-mecab tokenizer)"),
    "embedded": Extra(("gguf",), "gguf", "converting the embedded model's GGUF file into a Hugging Face folder"),
    "latent": Extra(("babel",), "babel", "the concepts of lm-eval-ext latent-language (CLDR's localized names)"),
}


def pip_command(extra: str) -> str:
    return f'pip install "lm-eval-ext[{extra}]"'


_warned: set[str] = set()


def warn_once(reason: str) -> None:
    """Log a skipped-metric reason once per process."""
    if reason not in _warned:
        _warned.add(reason)
        log.warning("lm-eval-ext: %s", reason)


@lru_cache(maxsize=None)
def missing(extra: str) -> str | None:
    """None when every module of `extra` imports here, else why not (the caller
    that skips a metric over it logs that with `warn_once`)."""
    spec = EXTRAS[extra]
    for module in spec.modules:
        try:
            importlib.import_module(module)
        except Exception as err:  # ImportError, or a broken install failing otherwise
            reason = (f"{spec.packages} not installed ({type(err).__name__}: {err}); "
                      f"needed for {spec.used_for}: {pip_command(extra)}")
            return reason
    return None
