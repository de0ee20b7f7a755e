"""Write the per-language Language Confusion Benchmark task files and the group files.

Languages come from lm_eval_ext/languages.py (LCB_MONOLINGUAL_LANGS, LCB_CROSSLINGUAL_LANGS), the
prompt and scoring from lm_eval_ext/families/lcb.py. Run after changing either:
python tasks/lcb/_generate.py; `--check` exits non-zero when a file on disk differs (the tests).

    python tasks/lcb/_generate.py --repeats K [--out DIR]

writes, into DIR (default ./lcb_k<K>), the same tasks drawing K samples per prompt with the paper's
sampling (lm-eval's `repeats`; nucleus p=0.75, T=0.3), named lcb_<setting>_<lang>_k<K>, and their
groups lcb_<setting>_k<K>: run them with --include_path DIR (tasks/lcb/README.md).
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


PAPER_SAMPLING = {"do_sample": True, "temperature": 0.3, "top_p": 0.75}


def sampled_files(k: int, out: Path) -> dict[Path, str]:
    """The tasks and groups drawing k samples per prompt with the paper's sampling."""
    files = {}
    for setting in lcb.SETTINGS:
        for lang in lcb.LANGS[setting]:
            cfg = task_config(setting, lang)
            cfg["include"] = str(HERE / "_lcb_common_yaml")
            cfg["task"] = f"lcb_{setting}_{lang}_k{k}"
            cfg["dataset_kwargs"] = {**cfg["dataset_kwargs"], "task": cfg["task"]}
            cfg["repeats"] = k
            cfg["generation_kwargs"] = {**cfg["generation_kwargs"], **PAPER_SAMPLING}
            files[out / f"{cfg['task']}.yaml"] = dump(cfg)
        group = group_configs()[f"lcb_{setting}"]
        group = {**group, "group": f"lcb_{setting}_k{k}", "task": [f"{t}_k{k}" for t in group["task"]],
                 "group_alias": group["group_alias"] + f", {k} samples per prompt"}
        files[out / f"_lcb_{setting}_k{k}.yaml"] = dump(group)
    return files


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--repeats", type=int, metavar="K", help="write tasks drawing K samples per prompt")
    ap.add_argument("--out", type=Path, help="folder for --repeats (default ./lcb_k<K>)")
    args = ap.parse_args(argv)
    if args.repeats:
        if args.repeats < 1:
            ap.error("--repeats must be at least 1")
        out = (args.out or Path(f"lcb_k{args.repeats}")).resolve()
        files = sampled_files(args.repeats, out)
        taskgen.sync(files, SCRIPT, check=False)
        print(f"wrote {len(files)} files to {out}: run lm_eval --include_path {out} --tasks "
              f"lcb_monolingual_k{args.repeats},lcb_crosslingual_k{args.repeats}")
        return 0
    return taskgen.sync(expected_files(), SCRIPT, args.check, owned_dirs=[HERE / s for s in lcb.SETTINGS])


if __name__ == "__main__":
    sys.exit(main())
