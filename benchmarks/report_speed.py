"""Speed of `lm-eval-ext report` and `leaderboard` over many runs.

Writes N synthetic-but-valid lm-eval 0.4.x run folders (results_*.json with
results, groups, configs, versions, n-samples, higher_is_better, as lm-eval
writes them) of ~200 task-languages each: MGSM direct (11 languages), XQuAD
cross-lingual pairs ``xquad_<ctx>_<q>`` (12 x 12, two metrics), FLORES
``flores_<src>-<tgt>`` both directions with English (BLEU and chrF++), and a
consistency task whose metrics carry the language pair (``agreement_de_en``).
Then times the two commands in-process (what the CLI calls) and prints a line
for BENCHMARKS.md.

    .venv/bin/python benchmarks/report_speed.py [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

MGSM = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
XQUAD = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
FLORES = {"ar": "arb_Arab", "de": "deu_Latn", "el": "ell_Grek", "es": "spa_Latn", "hi": "hin_Deva",
          "ro": "ron_Latn", "ru": "rus_Cyrl", "th": "tha_Thai", "tr": "tur_Latn", "vi": "vie_Latn",
          "zh": "zho_Hans", "en": "eng_Latn", "sw": "swh_Latn", "bn": "ben_Beng", "ja": "jpn_Jpan",
          "fr": "fra_Latn", "te": "tel_Telu"}
DATE = "2026-01-01T00-00-00.{:06d}"


def _entry(name, metrics, rng, n):
    e = {"alias": name}
    for m, scale in metrics:
        v = rng.random() * scale
        e[f"{m},none"] = v
        e[f"{m}_stderr,none"] = (v * (scale - v) / n) ** 0.5 if scale == 1 else rng.random()
    return e


def make_run(folder: Path, model: str, langs, rng, idx: int) -> Path:
    results, configs, versions, hib, nsamp = {}, {}, {}, {}, {}

    def add(task, metrics, kwargs, scorer, n=250):
        results[task] = _entry(task, metrics, rng, n)
        configs[task] = {"task": task, "dataset_kwargs": kwargs, "output_type": "generate_until",
                         "metadata": {"version": 1.0, "scorer": scorer}}
        versions[task] = 1.0
        hib[task] = {m: True for m, _ in metrics}
        nsamp[task] = {"original": n, "effective": n}

    for c in (x for x in MGSM if x in langs):
        add(f"mgsm_direct_{c}", [("exact_match", 1)], {"family": "mgsm", "lang": c, "mode": "direct"},
            f"mgsm-numeric:v1|lang:{c}")
    xl = [x for x in XQUAD if x in langs]
    for a in xl:
        for b in xl:
            add(f"xquad_{a}_{b}", [("exact_match", 1), ("f1_qa", 1)], {"family": "xquad", "ctx_lang": a, "q_lang": b},
                f"xquad-f1:v1|ctx:{a}|q:{b}", n=1190)
    for c in (x for x in XQUAD if x in langs and x != "en"):
        for s, t in ((c, "en"), ("en", c)):
            add(f"flores_{FLORES[s]}-{FLORES[t]}", [("bleu", 100), ("chrf", 100)], {"family": "flores"},
                f"sacrebleu:2.4|{FLORES[s]}-{FLORES[t]}", n=1012)
    xlc = {"alias": "xlc_mgsm"}
    ml = [x for x in MGSM if x in langs]
    for a, b in combinations(ml, 2):
        xlc[f"agreement_{a}_{b},none"] = rng.random()
    for a in ml:
        xlc[f"accuracy_{a},none"] = rng.random()
    results["xlc_mgsm"] = xlc
    configs["xlc_mgsm"] = {"task": "xlc_mgsm", "metadata": {"version": 1.0, "scorer": "xlc:v1"}}
    versions["xlc_mgsm"] = 1.0
    groups = {"mgsm_direct": {"alias": "MGSM direct answer (mean over languages)",
                              "exact_match,none": rng.random(), "exact_match_stderr,none": 0.01}}
    versions["mgsm_direct"] = 1.0
    doc = {
        "results": {**results, **groups}, "groups": groups, "group_subtasks": {"mgsm_direct": []},
        "configs": configs, "versions": versions, "n-shot": {t: 0 for t in results},
        "higher_is_better": hib, "n-samples": nsamp,
        "config": {"model": "hf", "model_args": {"pretrained": f"org/{model}", "dtype": "bfloat16"},
                   "batch_size": 8, "limit": None},
        "git_hash": "abc1234", "date": 1767225600.0 + idx, "lm_eval_version": "0.4.13",
        "model_name": f"org/{model}",
    }
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"results_{DATE.format(idx)}.json", "w") as fh:
        json.dump(doc, fh, indent=2)
    return folder


def make_runs(root: Path, n_runs: int = 50, langs=tuple(sorted(set(MGSM) | set(XQUAD))), seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    return [make_run(Path(root) / f"model-{i:02d}", f"model-{i:02d}", langs, rng, i) for i in range(n_runs)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import io

    from lm_eval_ext.reporting import leaderboard as lb
    from lm_eval_ext.reporting.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        runs = make_runs(Path(tmp) / "runs", args.runs)
        from lm_eval_ext.reporting.runs import load_runs

        loaded, _ = load_runs(runs)
        n_tl = len({(c.task, c.langs) for c in loaded[0].cells if c.langs})
        size = sum(f.stat().st_size for r in runs for f in r.glob("*.json")) / 1e6
        t0 = time.perf_counter()
        report, _ = write_report(runs, Path(tmp) / "rep", err=io.StringIO())
        t_report = time.perf_counter() - t0
        html_mb = (Path(tmp) / "rep" / "report.html").stat().st_size / 1e6
        t0 = time.perf_counter()
        rows, _ = lb.build(runs, csv_path=Path(tmp) / "board.csv", err=io.StringIO())
        (Path(tmp) / "board.csv").write_text(lb.to_csv(rows))
        t_board = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows, _ = lb.build(runs, csv_path=Path(tmp) / "board.csv", err=io.StringIO())  # merge into existing
        (Path(tmp) / "board.csv").write_text(lb.to_csv(rows))
        t_merge = time.perf_counter() - t0
    print(f"{args.runs} runs x {n_tl} task-languages ({size:.0f} MB of results JSON): "
          f"report {t_report:.2f} s (report.html {html_mb:.1f} MB), leaderboard {t_board:.2f} s "
          f"({len(rows)} rows x {len(lb.columns_of(rows))} columns), leaderboard merge into existing CSV {t_merge:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
