"""How much the CIs of means over languages change when items are resampled jointly across
languages (``ci:cluster-item``) instead of each language on its own.

    python benchmarks/ci_widths.py RUN_DIR... [--iters 2000] [--families mgsm_direct,xquad]
    python benchmarks/ci_widths.py --loopback DIR [--limit 60]   # make a scripted run first, then measure it

For every run, family table (metric) with per-item scores in every language row and a family
item key, the 95% CI width of the family mean, the English gap and the best-minus-worst spread,
both ways, and their ratio (clustered / independent). Results in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def widths(paths, iters: int, only: set | None = None) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lm_eval_ext.formats.run_folder import read_samples
    from lm_eval_ext.metrics import bootstrap
    from lm_eval_ext.reporting.runs import load_runs
    from lm_eval_ext.reporting.tables import build_tables, item_key_of, keyed_item_scores, mean_statistics

    runs, _ = load_runs(paths)
    out = []
    for run in runs:
        for t in build_tables([run]):
            if (only and t.family not in only) or not all(t.rows) or len(t.rows) < 2:
                continue
            cells = [t.cells[(r, 0)] for r in t.rows]
            keys = [item_key_of(run, c.task) for c in cells]
            if any(k is None for k in keys) or any(c.task not in run.samples for c in cells):
                continue
            scores = {r: keyed_item_scores(read_samples(run.samples[c.task]), c.metric, k)
                      for r, c, k in zip(t.rows, cells, keys)}
            if not all(scores.values()):
                continue
            stats = {k: f for k, f in mean_statistics(t.rows).items() if k in ("all", "gap_en", "spread")}
            both = {clustered: bootstrap.rows_bootstrap(scores, stats, clustered, iters=iters)
                    for clustered in (True, False)}
            for kind in stats:
                c, i = both[True].get(kind), both[False].get(kind)
                if c is None or i is None:
                    continue
                out.append({"run": run.label, "family": t.family, "metric": t.metric, "kind": kind,
                            "rows": len(t.rows), "items": c.n, "value": c.value,
                            "clustered": c.hi - c.lo, "independent": i.hi - i.lo,
                            "ratio": (c.hi - c.lo) / (i.hi - i.lo) if i.hi > i.lo else float("nan")})
    return out


def loopback_run(out: Path, limit: int) -> Path:
    """A scripted model on MGSM direct, all 11 languages, through lm_eval and a loopback server:
    right when the item's difficulty (shared by every language, as with a real model) is below the
    language's skill, plus a little per-language noise. Returns the run folder."""
    import json
    import os
    import subprocess
    import zlib

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.loopback import ScriptedServer, last_user_message

    from lm_eval_ext import languages

    data = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    skill = {c: 0.8 if c == "en" else 0.6 if languages.get(c).tier == languages.HIGH else 0.35
             for c in languages.MGSM_LANGS}

    def unit(*parts) -> float:
        return zlib.crc32("/".join(map(str, parts)).encode()) / 2**32

    gold = {}
    for c in languages.MGSM_LANGS:
        with open(data / "mgsm" / f"mgsm_{c}.jsonl", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i >= limit:
                    break
                row = json.loads(line)
                right = unit("item", i) < skill[c] + 0.2 * (unit("noise", c, i) - 0.5)
                gold[row["question"].strip()] = str(int(row["answer_number"]) + (0 if right else 1))

    def policy(kind, payload):
        text = last_user_message(payload)
        return next((a for q, a in gold.items() if q in text), "0")

    with ScriptedServer(policy) as server:
        subprocess.run(["lm_eval", "run", "--model", "local-chat-completions", "--model_args",
                        f"model=mixed,base_url={server.base_url}/chat/completions,num_concurrent=4",
                        "--apply_chat_template", "--tasks", "mgsm_direct", "--limit", str(limit), "--log_samples",
                        "--output_path", str(out)], check=True, stdout=sys.stderr, env={**os.environ, "LM_EVAL_EXT_DATA_DIR": str(data)})
    return next(p.parent for p in out.rglob("results_*.json"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*")
    ap.add_argument("--loopback", type=Path, metavar="DIR", help="make a scripted MGSM run in DIR and measure it")
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--families", default="", help="comma-separated table families (default: all)")
    args = ap.parse_args(argv)
    only = {f for f in args.families.split(",") if f} or None
    runs = list(args.runs) + ([str(loopback_run(args.loopback, args.limit))] if args.loopback else [])
    print("| run | family | metric | statistic | rows x items | value | 95% CI width, clustered | independent | ratio |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for w in widths(runs, args.iters, only):
        print(f"| {w['run']} | {w['family']} | {w['metric']} | {w['kind']} | {w['rows']} x {w['items']} | "
              f"{100 * w['value']:.1f} | {100 * w['clustered']:.1f} | {100 * w['independent']:.1f} | "
              f"{w['ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
