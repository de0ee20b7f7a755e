"""Write the XQuAD and MLQA task files and their group files.

Everything language-specific comes from lm_eval_ext/languages.py. Run after
changing the registry:  python tasks/qa/_generate.py
`--check` exits non-zero when a file on disk differs (used by the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import plugin
from lm_eval_ext import families, languages
from lm_eval_ext.families import qa, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import langid
from lm_eval_ext.languages import MLQA_LANGS, XQUAD_LANGS

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/qa/_generate.py"
HEADER = taskgen.header(SCRIPT)
GENERATED_DIRS = ("xquad", "xquad_xling", "mlqa")


def dump(obj) -> str:
    return taskgen.dump(obj, HEADER)


def task_name(family: str, ctx: str, q: str) -> str:
    if family == "xquad" and ctx == q:
        return f"xquad_{ctx}"
    return f"{family}_{ctx}_{q}"


def task_config(family: str, ctx: str, q: str) -> dict:
    parts = families.get(family).prompt(ctx_lang=ctx, q_lang=q)
    name = task_name(family, ctx, q)
    kwargs = {"family": family, "ctx_lang": ctx, "q_lang": q}
    if family == "xquad" and ctx == q:
        kwargs["lang"] = ctx
    kwargs["task"] = name
    return {
        "include": f"../_{family}_common_yaml",
        "task": name,
        "dataset_name": f"{family}.{ctx}" if ctx == q and family == "xquad" else f"{family}.{ctx}.{q}",
        "dataset_kwargs": kwargs,
        **taskgen.prompt_fields(parts),
        "filter_list": [{
            "name": qa.FILTER_NAME,
            "filter": [
                {"function": Function.of(qa.AnswerFilter), "ctx_lang": ctx, "q_lang": q},
                {"function": "take_first"},
            ],
        }],
        "metadata": {
            # custom_dataset receives metadata and dataset_kwargs together: no shared keys
            "version": qa.TASK_VERSION,
            "lm_eval_ext_version": lm_eval_ext.__version__,
            # what the results say until lm-eval-ext's results hook replaces it with "ok"
            "lm_eval_ext": {"annotation": plugin.ANNOTATION_UNAVAILABLE},
            **({"tier": languages.get(ctx).tier} if ctx == q else {}),
            "scorer": qa.scorer_signature(ctx),
            # lang_fidelity / lang_undecidable: the reply should be in the context's language
            "reply_lang": qa.reply_lang(ctx),
            "fidelity_scorer": langid.SIGNATURE,
        },
    }


def _aggregates():
    return [{"metric": m, "aggregation": "mean", "weight_by_size": False, "filter_list": [qa.FILTER_NAME]}
            for m in (*qa.METRICS, *(m["metric"] for m in langid.METRIC_LIST))]


def _group(name, alias, tasks):
    return {"group": name, "group_alias": alias, "task": list(tasks),
            "aggregate_metric_list": _aggregates(), "metadata": {"version": qa.TASK_VERSION}}


def group_configs() -> dict[tuple[str, str], dict]:
    """(folder, group name) -> config."""
    out = {}
    tiers = {"hrl": languages.HIGH, "url": languages.LOW}
    for suffix, tier in tiers.items():
        langs = languages.of_tier(tier, XQUAD_LANGS)
        out[("xquad", f"xquad_{suffix}")] = _group(
            f"xquad_{suffix}", f"XQuAD: {languages.TIER_LABELS[tier]} ({' '.join(langs)})",
            [task_name("xquad", c, c) for c in langs])
    # leaves are the 12 language tasks: equal weight per language, not per item
    out[("xquad", "xquad_all")] = _group(
        "xquad_all", "XQuAD (mean over 12 languages)", [f"xquad_{s}" for s in tiers])
    out[("xquad_xling", "xquad_xling")] = _group(
        "xquad_xling", "XQuAD cross-lingual (mean over 132 context/question pairs)",
        [task_name("xquad", c, q) for c in XQUAD_LANGS for q in XQUAD_LANGS if c != q])
    out[("mlqa", "mlqa_all")] = _group(
        "mlqa_all", "MLQA (mean over 7 languages, context = question language)",
        [task_name("mlqa", c, c) for c in MLQA_LANGS])
    out[("mlqa", "mlqa_gxlt")] = _group(
        "mlqa_gxlt", "MLQA G-XLT (mean over 49 context/question pairs)",
        [task_name("mlqa", c, q) for c in MLQA_LANGS for q in MLQA_LANGS])
    return out


def expected_files() -> dict[Path, str]:
    files = {}
    for c in XQUAD_LANGS:
        for q in XQUAD_LANGS:
            folder = "xquad" if c == q else "xquad_xling"
            files[HERE / folder / f"{task_name('xquad', c, q)}.yaml"] = dump(task_config("xquad", c, q))
    for c in MLQA_LANGS:
        for q in MLQA_LANGS:
            files[HERE / "mlqa" / f"{task_name('mlqa', c, q)}.yaml"] = dump(task_config("mlqa", c, q))
    for (folder, name), cfg in group_configs().items():
        files[HERE / folder / f"_{name}.yaml"] = dump(cfg)
    return files


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    return taskgen.sync(expected_files(), SCRIPT, check, owned_dirs=[HERE / d for d in GENERATED_DIRS])


if __name__ == "__main__":
    sys.exit(main())
