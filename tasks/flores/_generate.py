"""Write the FLORES task files and groups: every FLORES-200 language <-> English (406 directions).

    python tasks/flores/_generate.py            # write tasks/flores/{x_en,en_x}/ and the groups
    python tasks/flores/_generate.py --check    # exit 1 when a file on disk differs (tests)
    python tasks/flores/_generate.py --pair deu_Latn fra_Latn [--out DIR]
                                                # one other pair (default DIR: tasks/flores/pairs);
                                                # any set of pairs: lm-eval-ext flores-pairs

Task configs: `lm_eval_ext.families.flores_tasks`; names, tiers and codes: the language
registry (lm_eval_ext/languages.py and its FLORES-200 table, lm_eval_ext/data/flores200.csv).

Groups (tasks/flores/README.md): per direction (x_en, en_x) one group per NLLB resource level
(``flores_x_en_nllb_high`` ...), whose union is ``flores_x_en``; ``flores_all`` is both
directions; ``flores16_x_en`` keeps the 16 languages of the hand-written registry with their
registry tiers (``flores_x_en_hrl`` / ``_url``, as before FLORES-200). Group means are
unweighted over language tasks; a metric undefined for some member (BLEU into an unspaced
script, language fidelity into a language the identifier does not know) is not averaged in
that group, and the group's ``metadata.not_averaged`` says why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.families import flores_tasks, taskgen
from lm_eval_ext.families.flores_tasks import EN, FILTER, METRICS, task_config, task_name
from lm_eval_ext.metrics import langid, mt

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/flores/_generate.py"
HEADER = taskgen.header(SCRIPT)
DIRECTIONS = (("x_en", "X → English", lambda code: (code, EN)), ("en_x", "English → X", lambda code: (EN, code)))


def dump(obj) -> str:
    return taskgen.dump(obj, HEADER)


def others() -> list[str]:
    """Every FLORES-200 code but English, in code order."""
    return [code for code in languages.FLORES200 if code != EN]


def _aggregate(metric):
    return {"metric": metric, "aggregation": "mean", "weight_by_size": False, "filter_list": [FILTER]}


def not_averaged(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Metrics undefined for some of these directions, with why (they stay out of the group's means)."""
    out = {}
    unspaced = [t for _, t in pairs if languages.bleu_tokenizer(t) == mt.UNDEFINED]
    if unspaced:
        out["bleu"] = f"undefined into {', '.join(unspaced)} (scripts written without spaces; chrF++ is the metric there)"
    unknown = [t for _, t in pairs if langid.label_of(t) is None]
    if unknown:
        why = (f"the language identifier does not know {len(unknown)} of the {len(pairs)} target languages "
               "(their tasks report it as NaN with the reason)")
        out.update({m["metric"]: why for m in langid.METRIC_LIST})
    return out


def group(name: str, alias: str, children: list[str], pairs: list[tuple[str, str]]) -> dict:
    skipped = not_averaged(pairs)
    cfg = {
        "group": name,
        "group_alias": alias,
        "task": children,
        "aggregate_metric_list": [_aggregate(m) for m in METRICS if m not in skipped],
        "metadata": {"version": flores_tasks.flores.TASK_VERSION},
    }
    if skipped:
        cfg["metadata"]["not_averaged"] = skipped
    return cfg


def group_configs() -> dict[str, dict]:
    hand = [c for c in languages.LANGUAGES if c != "en"]
    out = {}
    for direction, title, pair in DIRECTIONS:
        # the 16 languages of the hand-written registry, by its tiers (the groups before FLORES-200)
        tiers = {"hrl": languages.HIGH, "url": languages.LOW}
        for suffix, tier in tiers.items():
            codes = languages.of_tier(tier, hand)
            pairs = [pair(languages.get(c).flores) for c in codes]
            out[f"flores_{direction}_{suffix}"] = group(
                f"flores_{direction}_{suffix}", f"FLORES {title}: {languages.TIER_LABELS[tier]} ({' '.join(codes)})",
                [task_name(*p) for p in pairs], pairs)
        pairs16 = [pair(languages.get(c).flores) for c in hand]
        out[f"flores16_{direction}"] = group(
            f"flores16_{direction}", f"FLORES {title}: the 16 languages of the hand-written registry (mean over languages)",
            [f"flores_{direction}_{s}" for s in tiers], pairs16)
        # every FLORES-200 language by its NLLB resource level (fairseq train_counts)
        all_pairs = []
        for tier in languages.NLLB_TIERS:
            pairs = [pair(c) for c in others() if languages.FLORES200[c].nllb_tier == tier]
            all_pairs += pairs
            out[f"flores_{direction}_nllb_{tier}"] = group(
                f"flores_{direction}_nllb_{tier}",
                f"FLORES {title}: {languages.NLLB_TIER_LABELS[tier]}, {len(pairs)} languages",
                [task_name(*p) for p in pairs], pairs)
        out[f"flores_{direction}"] = group(
            f"flores_{direction}", f"FLORES {title}: all {len(all_pairs)} FLORES-200 languages (mean over languages)",
            [f"flores_{direction}_nllb_{t}" for t in languages.NLLB_TIERS], all_pairs)
    both = [pair(c) for _, _, pair in DIRECTIONS for c in others()]
    out["flores_all"] = group("flores_all", f"FLORES-200: every language into and out of English ({len(both)} directions)",
                              ["flores_x_en", "flores_en_x"], both)
    return out


def expected_files() -> dict[Path, str]:
    files = {}
    for code in others():
        for direction, _, pair in DIRECTIONS:
            src, tgt = pair(code)
            files[HERE / direction / f"{task_name(src, tgt)}.yaml"] = dump(task_config(src, tgt, "../_flores_common_yaml"))
    for name, cfg in group_configs().items():
        folder = next((HERE / d for d, _, _ in DIRECTIONS if name.endswith(f"_{d}") or f"_{d}_" in name), HERE)
        files[folder / f"_{name}.yaml"] = dump(cfg)
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--pair", nargs=2, metavar=("SRC", "TGT"), help="FLORES-200 codes, e.g. deu_Latn fra_Latn")
    ap.add_argument("--out", type=Path, default=HERE / "pairs", help="folder for --pair (default tasks/flores/pairs)")
    args = ap.parse_args(argv)
    if args.pair:
        (path,) = flores_tasks.write_pairs([args.pair[0]], [args.pair[1]], args.out, HEADER)
        print(f"wrote {path} (task {task_name(*args.pair)}; outside tasks/ pass --include_path {args.out})")
        return 0
    return taskgen.sync(expected_files(), SCRIPT, args.check, owned_dirs=[HERE / d for d, _, _ in DIRECTIONS])


if __name__ == "__main__":
    sys.exit(main())
