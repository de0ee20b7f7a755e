"""Which row of a table a task's numbers belong to: its languages, their labels, tiers and order.

Languages of a task: for our tasks (``dataset_kwargs.family`` names a family of the registry,
`lm_eval_ext.families`) the dataset_kwargs keys that family names (``lang``;
``ctx_lang``/``q_lang``; ``src_lang``/``tgt_lang``). For any other lm-eval task, the generic
rules (`generic_task_languages`): the config's ``dataset_kwargs`` (``lang``, or a pair such as
``ctx_lang``/``q_lang`` or ``src_lang``/``tgt_lang``); else the task name's suffix read with the
language registry: ``_<src>-<tgt>`` (ISO 639-1 or FLORES-200 codes, e.g.
``flores_deu_Latn-eng_Latn``), ``_<ctx>_<q>`` (``xquad_de_en``, ``mlqa_ar_zh``) or ``_<lang>``
(``mgsm_native_cot_de``). A task whose metrics carry language suffixes instead (a consistency
task reporting ``agreement_de_en``) is split per metric the same way (`split_lang_suffix`).
See reports/README.md.
"""

from __future__ import annotations

import re

from lm_eval_ext import families, languages

_FLORES = r"[a-z]{3}_[A-Z][a-z]{3}"
_CODE = rf"(?:{_FLORES}|[a-z]{{2,3}})"
_PAIR_DASH_RE = re.compile(rf"^(?P<base>.+?)_(?P<a>{_CODE})-(?P<b>{_CODE})$")
_FLORES_SUFFIX_RE = re.compile(rf"^(?P<base>.+?)_(?P<a>{_FLORES})$")
_PAIR_KEYS = (
    ("ctx_lang", "q_lang"),
    ("context_lang", "question_lang"),
    ("src_lang", "tgt_lang"),
    ("source_lang", "target_lang"),
    ("src", "tgt"),
    ("lang1", "lang2"),
)


def canonical_code(code: str) -> str:
    """ISO 639-1 code of a registry language given by ISO or FLORES code; others unchanged."""
    try:
        return languages.get(code).code
    except KeyError:
        return code


def known(code: str) -> bool:
    try:
        languages.get(code)
        return True
    except KeyError:
        return False


def split_lang_suffix(name: str) -> tuple[str, tuple[str, ...]]:
    """``xquad_de_en`` -> (``xquad``, (de, en)); ``mgsm_direct_bn`` -> (``mgsm_direct``, (bn,));
    ``flores_deu_Latn-eng_Latn`` -> (``flores``, (de, en)); no suffix -> (name, ())."""
    m = _PAIR_DASH_RE.match(name)
    if m and (known(m["a"]) and known(m["b"]) or ("_" in m["a"] and "_" in m["b"])):
        return m["base"], (canonical_code(m["a"]), canonical_code(m["b"]))
    m = _FLORES_SUFFIX_RE.match(name)
    if m:
        return m["base"], (canonical_code(m["a"]),)
    parts = name.split("_")
    if len(parts) >= 3 and parts[-1] in languages.LANGUAGES and parts[-2] in languages.LANGUAGES:
        return "_".join(parts[:-2]), (parts[-2], parts[-1])
    if len(parts) >= 2 and parts[-1] in languages.LANGUAGES:
        return "_".join(parts[:-1]), (parts[-1],)
    return name, ()


def task_languages(name: str, config: dict | None) -> tuple[str, tuple[str, ...]]:
    """(family, languages) of a task: of ours the languages from the keys its family names,
    of any other task by the generic rules. The family (the report's table) is the task
    name without its language suffix (mgsm_native_cot_de -> mgsm_native_cot)."""
    family = families.of_config(config)
    if family is not None:
        codes = family.task_languages((config or {}).get("dataset_kwargs") or {})
        if codes is not None:
            base, suffix_langs = split_lang_suffix(name)
            return (base if suffix_langs else _without_codes(name, codes)), tuple(canonical_code(c) for c in codes)
    return generic_task_languages(name, config)


def _without_codes(name: str, codes) -> str:
    """A task name without its own language codes where they are not its suffix
    (polymath_de_low -> polymath_low: one table per level, a row per language)."""
    parts = name.split("_")
    for code in reversed(codes):
        if code in parts:
            del parts[len(parts) - 1 - parts[::-1].index(code)]
    return "_".join(parts) if parts else name


def generic_task_languages(name: str, config: dict | None) -> tuple[str, tuple[str, ...]]:
    """(family, languages) of a task that is not ours (or a config of ours without its
    family's keys): its config's language keys, else its name."""
    base, suffix_langs = split_lang_suffix(name)
    kw = (config or {}).get("dataset_kwargs") or {}
    if isinstance(kw, dict):
        for a, b in _PAIR_KEYS:
            if isinstance(kw.get(a), str) and isinstance(kw.get(b), str):
                pair = (canonical_code(kw[a]), canonical_code(kw[b]))
                if pair[0] == pair[1] and len(suffix_langs) == 1:
                    return base, pair[:1]  # xquad_de: a monolingual task, not a diagonal cell
                return (base if suffix_langs else name), pair
        if isinstance(kw.get("lang"), str):
            return (base if suffix_langs else name), (canonical_code(kw["lang"]),)
    return base, suffix_langs


def lang_label(code: str) -> str:
    """``Deutsch (de)``; unknown codes as themselves."""
    try:
        lang = languages.get(code)
    except KeyError:
        return code
    return f"{lang.native_name} ({lang.code})"


def row_label(langs: tuple[str, ...]) -> str:
    if not langs:
        return "—"
    return " → ".join(lang_label(c) for c in langs)


def row_key(langs: tuple[str, ...]) -> str:
    """``de``, ``de-en``; ``-`` for a task without a language (leaderboard columns)."""
    return "-".join(langs) if langs else "-"


def tier_of(langs: tuple[str, ...]) -> str:
    """high / low / unknown: a row is low-resource when any non-English language in it is."""
    tiers = []
    for c in langs:
        try:
            tiers.append(languages.get(c).tier)
        except KeyError:
            tiers.append("unknown")
    if not tiers:
        return "unknown"
    if languages.LOW in tiers:
        return languages.LOW
    if "unknown" in tiers:
        return "unknown"
    return languages.HIGH


def is_english(langs: tuple[str, ...]) -> bool:
    return bool(langs) and all(c == "en" for c in langs)


def lang_sort_key(langs: tuple[str, ...]):
    """Rows in tier order (high, low, unknown), then by code."""
    order = {languages.HIGH: 0, languages.LOW: 1}
    return (order.get(tier_of(langs), 2), langs)
