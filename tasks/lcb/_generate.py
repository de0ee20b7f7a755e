"""Write the per-language Language Confusion Benchmark task files and the group files.

Languages come from lm_eval_ext/languages.py (LCB_MONOLINGUAL_LANGS, LCB_CROSSLINGUAL_LANGS), the
prompt and scoring from lm_eval_ext/families/lcb.py. Run after changing either:
python tasks/lcb/_generate.py; `--check` exits non-zero when a file on disk differs (the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import languages
from lm_eval_ext.families import lcb, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import confusion, langid

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/lcb/_generate.py"
HEADER = taskgen.header(SCRIPT, "lm_eval_ext/languages.py and lm_eval_ext/families/lcb.py")
TITLES = {"monolingual": "LCB monolingual (the user writes in the language)",
          "crosslingual": "LCB cross-lingual (an English prompt asks for the language)"}
AGG = "lm_eval_ext.metrics.confusion"


def dump(obj) -> str:
    return taskgen.dump(obj, HEADER)


def metrics(lang: str) -> list[dict]:
    out = [{"metric": "lpr", "aggregation": f"{AGG}.lpr_aggregation", "higher_is_better": True}]
    if lang in confusion.WPR_LANGS:
        out.append({"metric": "wpr", "aggregation": f"{AGG}.wpr_aggregation", "higher_is_better": True})
    out += [{"metric": "lcpr", "aggregation": f"{AGG}.lcpr_aggregation", "higher_is_better": True},
            {"metric": "scored_replies", "aggregation": f"{AGG}.total", "higher_is_better": True},
            {"metric": "unfinished_reasoning", "aggregation": f"{AGG}.total", "higher_is_better": False},
            *langid.METRIC_LIST]
    return out


def task_config(setting: str, lang: str) -> dict:
    parts = lcb.FAMILY.prompt(setting=setting, lang=lang)
    name = f"lcb_{setting}_{lang}"
    fields = taskgen.prompt_fields(parts)
    return {
        "include": "../_lcb_common_yaml",
        "task": name,
        "dataset_kwargs": {"family": "lcb", "setting": setting, "lang": lang, "task": name},
        **{k: v for k, v in fields.items() if k not in ("description", "target_delimiter")},
        "filter_list": [{"name": lcb.FILTER, "filter": [{"function": Function.of(lcb.Replies)}]}],
        "metric_list": taskgen.metric_entries(metrics(lang)),
        "metadata": {
            "version": lcb.TASK_VERSION,
            "lm_eval_ext_version": lm_eval_ext.__version__,
            "tier": languages.get(lang).tier,
            "scorer": lcb.scorer_signature(setting, lang),
            # lang_fidelity / lang_line_pass: the reply should be in the language asked for
            "reply_lang": lang,
            "fidelity_scorer": langid.SIGNATURE,
        },
    }


def _aggregate(metric: str) -> dict:
    return {"metric": metric, "aggregation": "mean", "weight_by_size": False, "filter_list": [lcb.FILTER]}


def group_configs() -> dict[str, dict]:
    out = {}
    for setting in lcb.SETTINGS:
        langs = lcb.LANGS[setting]
        out[f"lcb_{setting}"] = {
            "group": f"lcb_{setting}",
            "group_alias": f"{TITLES[setting]} (mean over languages)",
            # leaves are the language tasks, each already the mean over its sources: the unweighted
            # mean over them is the official ("all", "all") row (wpr: over the WPR languages)
            "task": [f"lcb_{setting}_{lang}" for lang in langs],
            "aggregate_metric_list": [_aggregate(m) for m in ("lpr", "wpr", "lang_fidelity", "lang_line_pass")],
            "metadata": {"version": lcb.TASK_VERSION},
        }
    # both settings, each with its own numbers; no number of its own (the paper reports them apart)
    out["lcb"] = {"group": "lcb", "group_alias": "Language Confusion Benchmark",
                  "task": [f"lcb_{setting}" for setting in lcb.SETTINGS], "metadata": {"version": lcb.TASK_VERSION}}
    return out


def expected_files() -> dict[Path, str]:
    files = {}
    for setting in lcb.SETTINGS:
        for lang in lcb.LANGS[setting]:
            files[HERE / setting / f"lcb_{setting}_{lang}.yaml"] = dump(task_config(setting, lang))
    for name, cfg in group_configs().items():
        folder = HERE if name == "lcb" else HERE / name.removeprefix("lcb_")
        files[folder / f"_{name}.yaml"] = dump(cfg)
    return files


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    return taskgen.sync(expected_files(), SCRIPT, check, owned_dirs=[HERE / s for s in lcb.SETTINGS])


if __name__ == "__main__":
    sys.exit(main())
