"""Write the per-language MGSM task files and the group files.

Everything language-specific comes from lm_eval_ext/languages.py. Run after
changing the registry:  python tasks/mgsm/_generate.py
`--check` exits non-zero when a file on disk differs (used by the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import plugin
from lm_eval_ext import languages
from lm_eval_ext.families import mgsm, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import langid

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/mgsm/_generate.py"
HEADER = taskgen.header(SCRIPT)
FILTERS = mgsm.FILTERS
MODE_NAMES = {
    "direct": "MGSM direct answer",
    "native_cot": "MGSM chain of thought in the question's language",
    "en_cot": "MGSM chain of thought in English",
}


def dump(obj) -> str:
    return taskgen.dump(obj, HEADER)


def task_config(lang: str, mode: str) -> dict:
    parts = mgsm.FAMILY.prompt(lang=lang, mode=mode)
    name = f"mgsm_{mode}_{lang}"
    metrics = [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]
    if lang != "en":
        metrics.append({"metric": "exact_match_non_en", "aggregation": "mean", "higher_is_better": True})
    metrics += langid.METRIC_LIST
    if mode == "native_cot":  # None for the replies not in the question's language
        metrics.append({"metric": "exact_match_in_lang", "aggregation": langid.MEAN_DECIDABLE, "higher_is_better": True})
    L = languages.get(lang)
    return {
        "include": "../_mgsm_common_yaml",
        "task": name,
        "dataset_name": lang,
        "dataset_kwargs": {"family": "mgsm", "lang": lang, "mode": mode, "task": name},
        **taskgen.prompt_fields(parts),
        "filter_list": [
            {
                "name": fname,
                "filter": [
                    {"function": Function.of(mgsm.AnswerFilter), "lang": lang, "mode": mode, "strategy": strategy},
                    {"function": "take_first"},
                ],
            }
            for fname, strategy in FILTERS
        ],
        "metric_list": taskgen.metric_entries(metrics),
        "metadata": {
            # custom_dataset receives metadata and dataset_kwargs together: no shared keys
            "version": mgsm.TASK_VERSION,
            "lm_eval_ext_version": lm_eval_ext.__version__,
            # what the results say until lm-eval-ext's results hook replaces it with "ok"
            "lm_eval_ext": {"annotation": plugin.ANNOTATION_UNAVAILABLE},
            "tier": L.tier,
            "scorer": mgsm.scorer_signature(lang, mode),
            # lang_fidelity / lang_undecidable: the reply should be in this language
            "reply_lang": mgsm.expected_reply_lang(lang, mode),
            "fidelity_scorer": langid.SIGNATURE,
        },
    }


def _aggregate(metric):
    return {"metric": metric, "aggregation": "mean", "weight_by_size": False,
            "filter_list": [f for f, _ in FILTERS]}


def _fidelity_metrics(mode: str) -> list[str]:
    names = [m["metric"] for m in langid.METRIC_LIST]
    return names + (["exact_match_in_lang"] if mode == "native_cot" else [])


def group_configs(mode: str) -> dict[str, dict]:
    tiers = {"hrl": languages.HIGH, "url": languages.LOW}
    out = {}
    for suffix, tier in tiers.items():
        langs = languages.of_tier(tier, languages.MGSM_LANGS)
        out[f"mgsm_{mode}_{suffix}"] = {
            "group": f"mgsm_{mode}_{suffix}",
            "group_alias": f"{MODE_NAMES[mode]}: {languages.TIER_LABELS[tier]} ({' '.join(langs)})",
            "task": [f"mgsm_{mode}_{c}" for c in langs],
            "aggregate_metric_list": [_aggregate("exact_match"), *[_aggregate(m) for m in _fidelity_metrics(mode)]],
            "metadata": {"version": mgsm.TASK_VERSION},
        }
    out[f"mgsm_{mode}"] = {
        "group": f"mgsm_{mode}",
        "group_alias": f"{MODE_NAMES[mode]} (mean over languages)",
        "task": [f"mgsm_{mode}_{s}" for s in tiers],
        # Leaves are the 11 language tasks: equal weight per language, not per item.
        # exact_match_non_en exists in the 10 non-English tasks only.
        "aggregate_metric_list": [_aggregate("exact_match"), _aggregate("exact_match_non_en"),
                                  *[_aggregate(m) for m in _fidelity_metrics(mode)]],
        "metadata": {"version": mgsm.TASK_VERSION},
    }
    return out


def expected_files() -> dict[Path, str]:
    files = {}
    for mode in mgsm.MODES:
        for lang in languages.MGSM_LANGS:
            files[HERE / mode / f"mgsm_{mode}_{lang}.yaml"] = dump(task_config(lang, mode))
        for name, cfg in group_configs(mode).items():
            files[HERE / mode / f"_{name}.yaml"] = dump(cfg)
    return files


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    return taskgen.sync(expected_files(), SCRIPT, check)


if __name__ == "__main__":
    sys.exit(main())
