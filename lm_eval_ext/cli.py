"""The ``lm-eval-ext`` command."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_tasks(args) -> int:
    from lm_eval.tasks._index import Kind

    from lm_eval_ext import discovery, languages

    index = discovery.task_index()

    def langs_of(name):
        codes = []
        for leaf in discovery.leaf_tasks(name, index):
            kw = (index[leaf].cfg or {}).get("dataset_kwargs") or {}
            for key in ("lang", "src_lang", "tgt_lang"):
                if kw.get(key) and kw[key] not in codes:
                    codes.append(kw[key])
        return codes

    known = set(languages.LANGUAGES) | {lang.flores for lang in languages.LANGUAGES.values()}
    groups = sorted(n for n, e in index.items() if e.kind == Kind.GROUP)
    tasks = sorted(n for n, e in index.items() if e.kind in (Kind.TASK, Kind.PY_TASK))
    if args.json:
        out = {
            "groups": {g: {"tasks": discovery.leaf_tasks(g, index), "languages": langs_of(g)} for g in groups},
            "tasks": {t: {"languages": langs_of(t)} for t in tasks},
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"Groups ({len(groups)}): run with  lm_eval --tasks <group>")
    width = max(map(len, [*groups, *tasks]), default=10) + 2
    for g in groups:
        codes = langs_of(g)
        print(f"  {g:<{width}}{len(discovery.leaf_tasks(g, index)):>3} tasks  {' '.join(codes)}")
    print(f"\nTasks ({len(tasks)}):")
    for t in tasks:
        codes = langs_of(t)
        desc = ", ".join(
            f"{c} {languages.get(c).name} ({languages.get(c).tier_label})" if c in known else c for c in codes
        )
        print(f"  {t:<{width}}{desc}")
    return 0


def _cmd_demo(args) -> int:
    from lm_eval_ext.demo import run_demo

    return run_demo(args)


def _cmd_report(args) -> int:
    from lm_eval_ext.report import write_report

    report, problems = write_report(args.run_dirs, args.output, max_samples=args.max_samples,
                                    bootstrap_iters=args.bootstrap_iters)
    if not report.runs:
        print("lm-eval-ext report: error: no usable run among the inputs (report written with the list "
              "of problems)", file=sys.stderr)
        return 2
    print(f"wrote {args.output}/report.md and {args.output}/report.html "
          f"({len(report.runs)} run(s), {len(report.families)} task families, {len(set(problems))} warning(s))")
    return 0


def _cmd_leaderboard(args) -> int:
    from pathlib import Path

    from lm_eval_ext import leaderboard as lb

    rows, _ = lb.build(args.run_dirs, csv_path=args.csv)
    if not rows:
        print("lm-eval-ext leaderboard: error: no usable run among the inputs", file=sys.stderr)
        return 2
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        Path(args.csv).write_text(lb.to_csv(rows), encoding="utf-8")
        print(f"wrote {args.csv} ({len(rows)} run(s))", file=sys.stderr)
    fmt = args.format or (None if args.csv else "csv")
    if fmt:
        text = {"csv": lb.to_csv, "md": lb.to_markdown, "json": lb.to_json}[fmt](rows)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    return 0


def _cmd_compare(args) -> int:
    from lm_eval_ext.compare import run_compare

    return run_compare(args)


def _cmd_rescore(args) -> int:
    from lm_eval_ext.rescore import run_rescore

    return run_rescore(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lm-eval-ext",
        description="Multilingual evaluation for lm-evaluation-harness. Tasks run through plain "
        "`lm_eval --tasks ...`; this command lists them and runs the tools around them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list our tasks and groups with their languages")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser(
        "demo",
        help="evaluate the embedded SmolLM2-135M-Instruct on MGSM in every language (offline, CPU)",
    )
    p.add_argument("--limit", type=int, default=3, help="items per language (default 3)")
    p.add_argument("--mode", default="native_cot", choices=["direct", "native_cot", "en_cot"])
    p.add_argument("--langs", default="", help="comma-separated subset (default: all 11)")
    p.add_argument("--max-gen-toks", type=int, default=160)
    p.add_argument("--batch-size", default="8")
    p.add_argument("--output", default="lm_eval_ext_out/demo", help="lm-eval --output_path")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("report", help="per-language report (report.md + self-contained report.html) of run folders")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="lm-eval --output_path folders (one column each)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for report.md and report.html")
    p.add_argument("--max-samples", type=int, default=20, help="items per task and run in the sample browser")
    p.add_argument("--bootstrap-iters", type=int, default=2000, help="bootstrap resamples for cell CIs")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("leaderboard", help="one row per run; columns <family>/<lang>/<metric> (see reports/README.md)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--csv", metavar="OUT.csv", help="write (merge into, if it exists) this CSV")
    p.add_argument("--format", choices=["csv", "md", "json"], help="print in this format (default: csv when no --csv)")
    p.add_argument("-o", "--output", help="write the --format output here instead of stdout")
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("compare", help="regression board: candidate vs baseline per task and language")
    p.add_argument("baseline", metavar="BASELINE")
    p.add_argument("candidate", metavar="CANDIDATE")
    p.add_argument("--threshold", type=float, default=0.01,
                   help="smallest change (raw metric units, e.g. 0.02 = 2 accuracy points) that counts (default 0.01)")
    p.add_argument("--no-significance", action="store_true",
                   help="judge by the threshold alone (default: the 95%% CI must also exclude 0)")
    p.add_argument("--metric", action="append", help="metric name (or name:filter) to compare; repeatable "
                   "(default: each family's primary metric)")
    p.add_argument("--all-metrics", action="store_true", help="compare every metric")
    p.add_argument("--format", choices=["table", "md", "junit"], default="table", help="stdout format")
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown board here (PR comment)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (CI test report)")
    p.add_argument("--bootstrap-iters", type=int, default=2000)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("rescore", help="add COMET/BLEURT to a finished FLORES run (new results file beside the old)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="lm-eval --output_path folder of a run made with --log_samples")
    p.add_argument("--metrics", default="comet,bleurt", help="comma-separated: comet, bleurt (default both); "
                   "models and batch sizes: LM_EVAL_EXT_COMET / LM_EVAL_EXT_BLEURT (tasks/flores/README.md)")
    p.set_defaults(func=_cmd_rescore)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `lm-eval-ext tasks | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
