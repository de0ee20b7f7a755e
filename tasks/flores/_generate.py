"""Write the FLORES task files and groups; or one task for any pair.

    python tasks/flores/_generate.py            # every registry language <-> English, groups
    python tasks/flores/_generate.py --check    # exit 1 when a file on disk differs (tests)
    python tasks/flores/_generate.py --pair deu_Latn fra_Latn [--out DIR]
                                                # any other FLORES-200 pair (default DIR: tasks/flores/pairs)

Names, tiers and codes come from lm_eval_ext/languages.py; codes outside the
registry are named by their code in the prompt.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import plugin
from lm_eval_ext import languages
from lm_eval_ext.families import flores, taskgen
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import langid, mt

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/flores/_generate.py"
HEADER = taskgen.header(SCRIPT)
FILTER = flores.FILTER
METRICS = ("bleu", "spbleu", "chrfpp", "comet", "bleurt", "reply_cleaned", *(m["metric"] for m in langid.METRIC_LIST))
EN = languages.get("en").flores


def dump(obj) -> str:
    return taskgen.dump(obj, HEADER)


def task_name(src: str, tgt: str) -> str:
    return f"flores_{src}-{tgt}"


def tier_of(src: str, tgt: str) -> str:
    """A pair is low-resource when its non-English side is (unknown codes: low)."""
    other = tgt if src == EN else src
    try:
        return languages.get(other).tier
    except KeyError:
        return languages.LOW


def task_config(src: str, tgt: str, include: str = "_flores_common_yaml") -> dict:
    flores.check_code(src), flores.check_code(tgt)
    parts = flores.FAMILY.prompt(src_lang=src, tgt_lang=tgt)
    name = task_name(src, tgt)
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
            # what the results say until lm-eval-ext's results hook replaces it with "ok"
            "lm_eval_ext": {"annotation": plugin.ANNOTATION_UNAVAILABLE},
            "tier": tier_of(src, tgt),
            "scorer": f"{mt.static_scorer(tgt)}|{flores.cleaner_signature()}",
            # lang_fidelity / lang_undecidable: the cleaned translation should be in the target
            # language (absent for codes outside the registry)
            **({"reply_lang": flores.reply_lang(tgt), "fidelity_scorer": langid.SIGNATURE}
               if flores.reply_lang(tgt) else {}),
        },
    }


def _aggregate(metric):
    return {"metric": metric, "aggregation": "mean", "weight_by_size": False, "filter_list": [FILTER]}


def group_configs() -> dict[str, dict]:
    others = [c for c in languages.LANGUAGES if c != "en"]
    tiers = {"hrl": languages.HIGH, "url": languages.LOW}
    out = {}
    for direction, pair, title in (("x_en", lambda f: (f, EN), "X → English"),
                                   ("en_x", lambda f: (EN, f), "English → X")):
        for suffix, tier in tiers.items():
            codes = languages.of_tier(tier, others)
            out[f"flores_{direction}_{suffix}"] = {
                "group": f"flores_{direction}_{suffix}",
                "group_alias": f"FLORES {title}: {languages.TIER_LABELS[tier]} ({' '.join(codes)})",
                "task": [task_name(*pair(languages.get(c).flores)) for c in codes],
                "aggregate_metric_list": [_aggregate(m) for m in METRICS],
                "metadata": {"version": flores.TASK_VERSION},
            }
        out[f"flores_{direction}"] = {
            "group": f"flores_{direction}",
            "group_alias": f"FLORES {title} (mean over languages)",
            # leaves are the language tasks: equal weight per language
            "task": [f"flores_{direction}_{s}" for s in tiers],
            "aggregate_metric_list": [_aggregate(m) for m in METRICS],
            "metadata": {"version": flores.TASK_VERSION},
        }
    return out


def expected_files() -> dict[Path, str]:
    files = {}
    for code in languages.LANGUAGES:
        if code == "en":
            continue
        f = languages.get(code).flores
        for src, tgt, folder in ((f, EN, "x_en"), (EN, f, "en_x")):
            files[HERE / folder / f"{task_name(src, tgt)}.yaml"] = dump(task_config(src, tgt, "../_flores_common_yaml"))
    for name, cfg in group_configs().items():
        folder = "x_en" if "_x_en" in name else "en_x"
        files[HERE / folder / f"_{name}.yaml"] = dump(cfg)
    return files


def write_pair(src: str, tgt: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    common = os.path.relpath(HERE / "_flores_common_yaml", out.resolve())
    path = out / f"{task_name(src, tgt)}.yaml"
    path.write_text(dump(task_config(src, tgt, common)), encoding="utf-8")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--pair", nargs=2, metavar=("SRC", "TGT"), help="FLORES-200 codes, e.g. deu_Latn fra_Latn")
    ap.add_argument("--out", type=Path, default=HERE / "pairs", help="folder for --pair (default tasks/flores/pairs)")
    args = ap.parse_args(argv)
    if args.pair:
        path = write_pair(*args.pair, args.out)
        print(f"wrote {path} (task {task_name(*args.pair)}; outside tasks/ pass --include_path {args.out})")
        return 0
    return taskgen.sync(expected_files(), SCRIPT, args.check)


if __name__ == "__main__":
    sys.exit(main())
