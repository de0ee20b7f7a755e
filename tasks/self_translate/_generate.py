"""Write the self-translate task files: stage 1 (the model translates into English) and
stage 2 (it answers the English text) for MGSM, XQuAD and PolyMath, and their groups.

Prompts, filters and scorers are those of FLORES (stage 1) and of mgsm_en_cot_en /
xquad_en / polymath_en_* (stage 2), read from their family modules. Run after changing them:
python tasks/self_translate/_generate.py  (`--check`: exit non-zero on drift; the tests run it)
"""

from __future__ import annotations

import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import languages
from lm_eval_ext.families import flores, mgsm, polymath, qa, self_translate as st, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import langid

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/self_translate/_generate.py"
HEADER = taskgen.header(SCRIPT, "lm_eval_ext/families/self_translate.py")
FOLDERS = ("mgsm_stage1", "mgsm", "xquad_stage1", "xquad", "polymath_stage1", "polymath")
NAMES = {"mgsm": "MGSM", "xquad": "XQuAD", "polymath": "PolyMath"}
HUB = {"mgsm": mgsm.HUB_PATH, "xquad": qa.XQUAD_HUB, "polymath": polymath.HUB_PATH}


def dump(obj) -> str:
    return taskgen.dump(obj, HEADER)


def _metric(name, aggregation="mean", higher=True):
    return {"metric": name, "aggregation": aggregation, "higher_is_better": higher}


def _translation_metrics(prefix: str, module: str):
    return [_metric(f"{prefix}chrfpp", Function(f"{module}.{prefix}chrfpp")),
            _metric(f"{prefix}bleu", Function(f"{module}.{prefix}bleu"))]


def _common(source: str, stage: int, lang: str, task: str) -> dict:
    family = st.stage1_task(source, "")[:-1] if stage == 1 else st.stage2_task(source, "")[:-1]
    return {
        "task": task,
        # the hub twin of the items; custom_dataset builds the docs (data folder or hub, and stage 1's run)
        "dataset_path": HUB[source],
        "custom_dataset": Function("lm_eval_ext.families.load"),
        "dataset_kwargs": {"family": family, "lang": lang, "task": task},
        "output_type": "generate_until",
    }


def _metadata(source, stage, lang, reply_lang):
    return {"version": st.TASK_VERSION, "lm_eval_ext_version": lm_eval_ext.__version__,
            "tier": languages.get(lang).tier, "scorer": st.scorer_signature(source, stage, lang),
            "reply_lang": reply_lang, "fidelity_scorer": langid.SIGNATURE}


def stage1_config(source: str, lang: str) -> dict:
    task = st.stage1_task(source, lang)
    sampler = "first_n" if source == "mgsm" else Function.of(qa.OtherArticleSampler)
    # PolyMath: 0-shot only (every problem is a test item, no exemplars)
    fewshot = {} if source == "polymath" else {"fewshot_split": "train", "fewshot_config": {"sampler": sampler}}
    return {
        **_common(source, 1, lang, task),
        "test_split": "test", **fewshot,
        "fewshot_delimiter": "\n\n", "should_decontaminate": False,
        **taskgen.prompt_fields(st.family(source, 1).prompt(lang=lang)),
        "process_results": Function.of(st.stage1_results),
        "filter_list": [{"name": flores.FILTER, "filter": [
            {"function": Function.of(flores.TranslationFilter), "src_lang": lang, "tgt_lang": st.TARGET},
            {"function": "take_first"}]}],
        "metric_list": [*_translation_metrics("", "lm_eval_ext.metrics.mt"), _metric("reply_cleaned", higher=False),
                        *taskgen.metric_entries(langid.METRIC_LIST)],
        "metadata": _metadata(source, 1, lang, st.TARGET),
    }


def stage2_config(source: str, lang: str) -> dict:
    task = st.stage2_task(source, lang)
    translation = _translation_metrics("translation_", "lm_eval_ext.families.self_translate")
    if source == "polymath":  # polymath_en_*'s filter (every reply kept) and scorer, DW-ACC over the items
        filters = [{"name": polymath.FILTER, "filter": [
            {"function": Function.of(polymath.AnswerFilter), "lang": st.TARGET, "mode": "native"}]}]
        split = {"test_split": "test"}
        metrics = [_metric("acc"), _metric("dw_acc", Function.of(polymath.dw_acc_of_items)),
                   _metric("truncated_in_thinking", higher=False), _metric("no_answer", higher=False),
                   _metric("check_timeout", higher=False),
                   _metric("thinking_lang_fidelity", Function(langid.MEAN_DECIDABLE)),
                   _metric("answer_lang_cons_langdetect"), _metric("thinking_lang_cons_langdetect")]
        process = Function.of(st.polymath_stage2_results)
    elif source == "mgsm":
        filters = [{"name": name, "filter": [
            {"function": Function.of(mgsm.AnswerFilter), "lang": st.TARGET, "mode": "en_cot", "strategy": strategy},
            {"function": "take_first"}]} for name, strategy in mgsm.FILTERS]
        split = {"test_split": "test", "fewshot_split": "train", "fewshot_config": {"sampler": "first_n"}}
        metrics = [_metric("exact_match"), _metric("exact_match_non_en")]
        process = Function.of(st.mgsm_stage2_results)
    else:
        filters = [{"name": qa.FILTER_NAME, "filter": [
            {"function": Function.of(qa.AnswerFilter), "ctx_lang": st.TARGET, "q_lang": st.TARGET},
            {"function": "take_first"}]}]
        split = {"test_split": "eval", "fewshot_split": "fewshot",
                 "fewshot_config": {"sampler": Function.of(qa.OtherArticleSampler)}}
        metrics = [_metric(m) for m in qa.METRICS]
        process = Function.of(st.xquad_stage2_results)
    return {
        **_common(source, 2, lang, task),
        **split, "fewshot_delimiter": "\n\n", "should_decontaminate": False,
        **taskgen.prompt_fields(st.family(source, 2).prompt(lang=lang)),
        "process_results": process,
        "filter_list": filters,
        "metric_list": [*metrics, *taskgen.metric_entries(langid.METRIC_LIST), *translation],
        "metadata": _metadata(source, 2, lang, st.TARGET),
    }


def _filters(source: str, stage: int) -> list[str]:
    if stage == 1:
        return [flores.FILTER]
    if source == "polymath":
        return [polymath.FILTER]
    return [f for f, _ in mgsm.FILTERS] if source == "mgsm" else [qa.FILTER_NAME]


def _metric_names(cfg: dict) -> list[str]:
    return [m["metric"] for m in cfg["metric_list"]]


def group_configs(source: str, stage: int) -> dict[str, dict]:
    make = stage1_config if stage == 1 else stage2_config
    base = st.stage1_task(source, "")[:-1] if stage == 1 else st.stage2_task(source, "")[:-1]
    what = "translation into English" if stage == 1 else "self-translate (answers to its own English translation)"
    langs = st.languages_of(source)
    aggregates = [{"metric": m, "aggregation": "mean", "weight_by_size": False, "filter_list": _filters(source, stage)}
                  for m in _metric_names(make(source, langs[0]))]
    out = {}
    tiers = {"hrl": languages.HIGH, "url": languages.LOW}
    for suffix, tier in tiers.items():
        codes = languages.of_tier(tier, langs)
        out[f"{base}_{suffix}"] = {
            "group": f"{base}_{suffix}",
            "group_alias": f"{NAMES[source]} {what}: {languages.TIER_LABELS[tier]} ({' '.join(codes)})",
            "task": [f"{base}_{c}" for c in codes],
            "aggregate_metric_list": aggregates, "metadata": {"version": st.TASK_VERSION}}
    # leaves are the language tasks: equal weight per language, not per item
    out[base] = {"group": base, "group_alias": f"{NAMES[source]} {what} (mean over {len(langs)} languages)",
                 "task": [f"{base}_{s}" for s in tiers],
                 "aggregate_metric_list": aggregates, "metadata": {"version": st.TASK_VERSION}}
    return out


def expected_files() -> dict[Path, str]:
    files = {}
    for source in st.SOURCES:
        for stage, folder in ((1, f"{source}_stage1"), (2, source)):
            make = stage1_config if stage == 1 else stage2_config
            for lang in st.languages_of(source):
                cfg = make(source, lang)
                files[HERE / folder / f"{cfg['task']}.yaml"] = dump(cfg)
            for name, cfg in group_configs(source, stage).items():
                files[HERE / folder / f"_{name}.yaml"] = dump(cfg)
    return files


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    return taskgen.sync(expected_files(), SCRIPT, check, owned_dirs=[HERE / d for d in FOLDERS])


if __name__ == "__main__":
    sys.exit(main())
