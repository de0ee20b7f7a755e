"""Write the PolyMath task files and group files (tasks/polymath/README.md).

    python tasks/polymath/_generate.py            write tasks/polymath/<mode>/*.yaml
    python tasks/polymath/_generate.py --check    exit 1 when a file on disk differs (the tests)
    python tasks/polymath/_generate.py --samples K [--temperature 0.6] [--top-p 0.95]
        [--max-gen-toks N] [--mode native] --out DIR
                                                  sampled decoding: k samples per problem (lm-eval's
                                                  `repeats`), tasks polymath_k<K>_<lang>_<level> and
                                                  their groups in DIR (use --include_path DIR)

Everything comes from lm_eval_ext/families/polymath.py (prompts, scorer, DW-ACC) and the
language registry (tiers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import families, languages
from lm_eval_ext.families import polymath, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.languages import POLYMATH_LANGS
from lm_eval_ext.metrics import langid

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/polymath/_generate.py"
HEADER = taskgen.header(SCRIPT, "lm_eval_ext/families/polymath.py")
MODE_NAMES = {
    "native": "PolyMath",
    "forcing_raw": "PolyMath, think and answer in the question's language",
    "forcing_en": "PolyMath, think and answer in English",
}
F = polymath.FILTER
# per-level metrics the groups average over levels or languages (unweighted, as the release's
# benchmark consistency averages the four levels)
MEANS = ("truncated_in_thinking", "no_answer", "check_timeout", "lang_fidelity", "lang_undecidable",
         "thinking_lang_fidelity", "answer_lang_cons_langdetect", "thinking_lang_cons_langdetect")


def prefix(mode: str, samples: int = 1) -> str:
    """polymath, polymath_forcing_raw, polymath_forcing_en (and _k<K> for sampled decoding)."""
    base = "polymath" if mode == "native" else f"polymath_{mode}"
    return base if samples == 1 else f"{base}_k{samples}"


def metric_list() -> list[dict]:
    mean, decidable = "mean", langid.MEAN_DECIDABLE
    return taskgen.metric_entries([
        {"metric": "acc", "aggregation": mean, "higher_is_better": True},
        {"metric": "truncated_in_thinking", "aggregation": mean, "higher_is_better": False},
        {"metric": "no_answer", "aggregation": mean, "higher_is_better": False},
        {"metric": "check_timeout", "aggregation": mean, "higher_is_better": False},
        *langid.METRIC_LIST,
        {"metric": "thinking_lang_fidelity", "aggregation": decidable, "higher_is_better": True},
        {"metric": "answer_lang_cons_langdetect", "aggregation": mean, "higher_is_better": True},
        {"metric": "thinking_lang_cons_langdetect", "aggregation": mean, "higher_is_better": True},
    ])


def task_config(lang: str, level: str, mode: str, samples: int = 1, temperature: float = 0.6,
                top_p: float = 0.95, max_gen_toks: int | None = None) -> dict:
    parts = polymath.FAMILY.prompt(lang=lang, level=level, mode=mode)
    name = f"{prefix(mode, samples)}_{lang}_{level}"
    fields = taskgen.prompt_fields(parts)
    gen = fields["generation_kwargs"]
    if max_gen_toks:
        gen["max_gen_toks"] = max_gen_toks
    if samples > 1:
        gen.update({"do_sample": True, "temperature": temperature, "top_p": top_p})
    config = {
        "task": name,
        "dataset_path": polymath.HUB_PATH,  # the hub twin; families.load() reads LM_EVAL_EXT_DATA_DIR when set
        "dataset_name": lang,
        "custom_dataset": Function.of(families.load),
        "dataset_kwargs": {"family": polymath.FAMILY.name, "lang": lang, "level": level, "mode": mode, "task": name},
        "output_type": "generate_until",
        "test_split": "test",
        "should_decontaminate": False,
        **fields,
    }
    if samples > 1:
        config["repeats"] = samples
    config.update({
        # every reply kept (all k of a sampled run): process_results averages them per problem
        "filter_list": [{"name": F, "filter": [
            {"function": Function.of(polymath.AnswerFilter), "lang": lang, "mode": mode}]}],
        "process_results": Function.of(polymath.process_results),
        "metric_list": metric_list(),
        "metadata": {
            "version": polymath.TASK_VERSION,
            "lm_eval_ext_version": lm_eval_ext.__version__,
            "tier": languages.get(lang).tier,
            "scorer": polymath.scorer_signature(lang, mode),
            "reply_lang": polymath.reply_lang(lang, mode),
            "fidelity_scorer": langid.SIGNATURE,
            "samples": samples,
            "group_metrics": list(polymath.GROUP_METRICS),  # computed by the plugin's group hook
        },
    })
    return config


def _mean(metric: str) -> dict:
    return {"metric": metric, "aggregation": "mean", "weight_by_size": False, "filter_list": [F]}


def _group_value(metric: str) -> dict:
    # no values in the leaves: lm-eval computes nothing; the plugin's group hook writes the value
    # (families.polymath.group_values), or NaN with the reason where the hook is not installed
    return {"metric": metric, "aggregation": "mean", "weight_by_size": False}


def group_configs(mode: str, samples: int = 1) -> dict[str, dict]:
    p = prefix(mode, samples)
    title = MODE_NAMES[mode] + (f", {samples} samples per problem" if samples > 1 else "")
    dw = [_group_value(m) for m in polymath.GROUP_METRICS]
    out = {}
    for lang in POLYMATH_LANGS:
        out[f"{p}_{lang}"] = {
            "group": f"{p}_{lang}",
            "group_alias": f"{title}: {languages.get(lang).name} (DW-ACC over the 4 levels)",
            "task": [f"{p}_{lang}_{level}" for level in polymath.LEVELS],
            "aggregate_metric_list": [*dw, *[_mean(m) for m in MEANS]],
            "metadata": {"version": polymath.TASK_VERSION},
        }
    for level in polymath.LEVELS:
        out[f"{p}_{level}"] = {
            "group": f"{p}_{level}",
            "group_alias": f"{title}: level {level} (mean over languages)",
            "task": [f"{p}_{lang}_{level}" for lang in POLYMATH_LANGS],
            "aggregate_metric_list": [_mean("acc"), *[_mean(m) for m in MEANS]],
            "metadata": {"version": polymath.TASK_VERSION},
        }
    tiers = {"hrl": languages.HIGH, "url": languages.LOW}
    for suffix, tier in tiers.items():
        langs = languages.of_tier(tier, POLYMATH_LANGS)
        out[f"{p}_{suffix}"] = {
            "group": f"{p}_{suffix}",
            "group_alias": f"{title}: {languages.TIER_LABELS[tier]} ({' '.join(langs)}), mean DW-ACC",
            "task": [f"{p}_{lang}" for lang in langs],
            "aggregate_metric_list": [*dw, *[_mean(m) for m in MEANS]],
            "metadata": {"version": polymath.TASK_VERSION},
        }
    out[p] = {
        "group": p,
        "group_alias": f"{title} (mean DW-ACC over the 18 languages)",
        "task": [f"{p}_{suffix}" for suffix in tiers],
        "aggregate_metric_list": [*dw, *[_mean(m) for m in MEANS]],
        "metadata": {"version": polymath.TASK_VERSION},
    }
    return out


def expected_files(folder: Path = HERE, modes=polymath.MODES, samples: int = 1, **kwargs) -> dict[Path, str]:
    files = {}
    for mode in modes:
        sub = folder / (mode if samples == 1 else f"{mode}_k{samples}")
        for lang in POLYMATH_LANGS:
            for level in polymath.LEVELS:
                cfg = task_config(lang, level, mode, samples, **kwargs)
                files[sub / f"{cfg['task']}.yaml"] = taskgen.dump(cfg, HEADER)
        for name, cfg in group_configs(mode, samples).items():
            files[sub / f"_{name}.yaml"] = taskgen.dump(cfg, HEADER)
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="report files that differ; write nothing")
    ap.add_argument("--samples", type=int, default=1, help="k samples per problem (with --out)")
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--max-gen-toks", type=int, default=None)
    ap.add_argument("--mode", choices=polymath.MODES, action="append", help="with --out (default: native)")
    ap.add_argument("--out", type=Path, help="folder for a sampled task set (--include_path it)")
    args = ap.parse_args(argv)
    if args.out is None:
        if args.samples != 1 or args.mode:
            ap.error("--samples and --mode write a separate task set: give --out DIR")
        return taskgen.sync(expected_files(), SCRIPT, args.check,
                            owned_dirs=[HERE / mode for mode in polymath.MODES])
    if args.samples < 2:
        ap.error("--out is for sampled decoding: give --samples K with K >= 2")
    files = expected_files(args.out.resolve(), args.mode or ["native"], args.samples, temperature=args.temperature,
                           top_p=args.top_p, max_gen_toks=args.max_gen_toks)
    status = taskgen.sync(files, SCRIPT, args.check)
    if not args.check:
        print(f"wrote {len(files)} files to {args.out}: lm_eval --include_path {args.out} --tasks "
              f"{prefix((args.mode or ['native'])[0], args.samples)} ...")
    return status


if __name__ == "__main__":
    sys.exit(main())
