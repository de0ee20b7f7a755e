"""The one definition of a FLORES task config (``flores_<src>-<tgt>``), for the shipped tasks
(tasks/flores/_generate.py) and for any other ordered pair on request
(``lm-eval-ext flores-pairs``: a folder for lm-eval's ``--include_path``).

Names, tiers, tokenizers and identifier labels come from the language registry
(`lm_eval_ext.languages`, whose FLORES-200 table covers all 204 codes); a code outside it is
refused, naming it: no prompt ever shows a code where a language name belongs.
"""

from __future__ import annotations

from pathlib import Path

import lm_eval_ext
from lm_eval_ext import files, languages
from lm_eval_ext.families import flores, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import langid
from lm_eval_ext.resources import tasks_dir

EN = "eng_Latn"
FILTER = flores.FILTER
METRICS = ("bleu", "spbleu", "chrfpp", "comet", "bleurt", "reply_cleaned", *(m["metric"] for m in langid.METRIC_LIST))
COMMON = "_flores_common_yaml"
PAIRS_SCRIPT = "lm-eval-ext flores-pairs"


class PairError(ValueError):
    """A pair that cannot be generated (a code outside the registry, the same language twice)."""


def task_name(src: str, tgt: str) -> str:
    return f"flores_{src}-{tgt}"


def tier_of(src: str, tgt: str) -> str:
    """The registry tier of a direction: its non-English side's (both sides': low when either is)."""
    tiers = {languages.get(c).tier for c in (src, tgt) if c != EN} or {languages.HIGH}
    for tier in (languages.LOW, languages.UNKNOWN):
        if tier in tiers:
            return tier
    return languages.HIGH


def check_pair(src: str, tgt: str) -> None:
    for code in (src, tgt):
        flores.check_code(code)
        if code not in languages.FLORES200:
            raise PairError(f"{code!r} is not one of the {len(languages.FLORES200)} FLORES-200 codes of the language "
                            f"registry ({languages.FLORES200_FILE}); e.g. deu_Latn, zho_Hant, ace_Arab")
    if src == tgt:
        raise PairError(f"source and target are both {src}: a direction needs two languages")


def task_config(src: str, tgt: str, include: str = COMMON) -> dict:
    check_pair(src, tgt)
    parts = flores.FAMILY.prompt(src_lang=src, tgt_lang=tgt)
    name = task_name(src, tgt)
    reply = flores.reply_lang(tgt)
    return {
        "include": include,
        "task": name,
        "task_alias": f"{flores.language_name(src)} → {flores.language_name(tgt)}",
        "dataset_kwargs": {"family": "flores", "src_lang": src, "tgt_lang": tgt, "task": name},
        **taskgen.prompt_fields(parts),
        "filter_list": [{
            "name": FILTER,
            "filter": [
                {"function": Function.of(flores.TranslationFilter), "src_lang": src, "tgt_lang": tgt},
                {"function": "take_first"},
            ],
        }],
        "metadata": {
            # custom_dataset receives metadata and dataset_kwargs together: no shared keys
            "version": flores.TASK_VERSION,
            "lm_eval_ext_version": lm_eval_ext.__version__,
            "tier": tier_of(src, tgt),
            "scorer": flores.scorer_signature(tgt),
            # lang_fidelity / lang_undecidable: the cleaned translation should be in the target language
            # (NaN with the reason at run time when the identifier does not know it)
            "reply_lang": reply,
            "fidelity_scorer": langid.SIGNATURE,
        },
    }


def parse_codes(text: str) -> list[str]:
    """``deu_Latn,fra_Latn`` -> the codes; ``all`` -> every FLORES-200 code."""
    if text.strip() == "all":
        return list(languages.FLORES200)
    return [c.strip() for c in text.split(",") if c.strip()]


def write_pairs(srcs: list[str], tgts: list[str], out: Path, header: str) -> list[Path]:
    """One task file per ordered pair (src, tgt) with src != tgt, and a copy of the common base
    beside them: the folder is self-contained for ``lm_eval --include_path``. Every code is
    checked before anything is written."""
    pairs = [(s, t) for s in dict.fromkeys(srcs) for t in dict.fromkeys(tgts) if s != t]
    if not pairs:
        raise PairError("no ordered pair of two different languages among the given codes")
    configs = {task_name(s, t): task_config(s, t) for s, t in pairs}
    out = Path(out)
    files.write_output(out / COMMON, (tasks_dir() / "flores" / COMMON).read_text(encoding="utf-8"))
    written = []
    for name, cfg in configs.items():
        path = out / f"{name}.yaml"
        files.write_output(path, taskgen.dump(cfg, header))
        written.append(path)
    return written
