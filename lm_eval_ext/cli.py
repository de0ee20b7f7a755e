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
            if kw.get("lang") and kw["lang"] not in codes:
                codes.append(kw["lang"])
        return codes

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
    width = max(map(len, groups), default=10) + 2
    for g in groups:
        codes = langs_of(g)
        print(f"  {g:<{width}}{len(discovery.leaf_tasks(g, index)):>3} tasks  {' '.join(codes)}")
    print(f"\nTasks ({len(tasks)}):")
    for t in tasks:
        codes = langs_of(t)
        desc = ", ".join(
            f"{c} {languages.get(c).name} ({languages.get(c).tier_label})" for c in codes
        )
        print(f"  {t:<{width}}{desc}")
    return 0


def _cmd_demo(args) -> int:
    from lm_eval_ext.demo import run_demo

    return run_demo(args)


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
