"""The ``lm-eval-ext`` command."""

from __future__ import annotations

import argparse
import json
import math
import sys

from lm_eval_ext.exit_codes import ExitCode


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number >= 0")
    return value


def positive(text: str) -> float:
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be greater than 0")
    return value


def _path(text: str):
    from pathlib import Path

    return Path(text)


def _cmd_tasks(args) -> int:
    from lm_eval.tasks._index import Kind

    from lm_eval_ext import families, languages, plugin

    index = plugin.task_index()

    def langs_of(name):
        """The language codes of a task or group, as its family names them in the task configs."""
        codes = []
        for leaf in plugin.leaf_tasks(name, index):
            cfg = index[leaf].cfg or {}
            family = families.of_config(cfg)
            for code in family.listed_languages(cfg) if family is not None else []:
                if code not in codes:
                    codes.append(code)
        return codes

    known = set(languages.LANGUAGES) | set(languages.FLORES200)
    groups = sorted(n for n, e in index.items() if e.kind == Kind.GROUP)
    tasks = sorted(n for n, e in index.items() if e.kind in (Kind.TASK, Kind.PY_TASK))
    if args.json:
        out = {
            "groups": {g: {"tasks": plugin.leaf_tasks(g, index), "languages": langs_of(g)} for g in groups},
            "tasks": {t: {"languages": langs_of(t)} for t in tasks},
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return ExitCode.OK
    print(f"Groups ({len(groups)}): run with  lm_eval --tasks <group>")
    width = max(map(len, [*groups, *tasks]), default=10) + 2
    for g in groups:
        codes = langs_of(g)
        shown = " ".join(codes[:16]) + (f" … ({len(codes)} languages)" if len(codes) > 16 else "")
        print(f"  {g:<{width}}{len(plugin.leaf_tasks(g, index)):>3} tasks  {shown}")
    print(f"\nTasks ({len(tasks)}):")
    for t in tasks:
        codes = langs_of(t)
        desc = ", ".join(
            f"{c} {languages.get(c).name} ({languages.get(c).tier_label})" if c in known else c for c in codes
        )
        print(f"  {t:<{width}}{desc}")
    return ExitCode.OK


def _cmd_flores_pairs(args) -> int:
    from lm_eval_ext import files
    from lm_eval_ext.families import flores_tasks, taskgen

    srcs, tgts = flores_tasks.parse_codes(args.src), flores_tasks.parse_codes(args.tgt)
    try:
        written = flores_tasks.write_pairs(srcs, tgts, args.out, taskgen.header(flores_tasks.PAIRS_SCRIPT,
                                                                                 "the language registry"))
    except (flores_tasks.PairError, flores_tasks.flores.DataNotFoundError) as err:
        print(f"lm-eval-ext flores-pairs: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except OSError as err:
        raise files.OutputError(f"{args.out}: cannot be written ({err.strerror or err})") from None
    names = [p.stem for p in written]
    print(f"wrote {len(written)} task(s) to {args.out}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}\n"
          f"run them with: lm_eval --include_path {args.out} --tasks {names[0] if len(names) == 1 else ','.join(names[:2]) + (',...' if len(names) > 2 else '')} ...")
    return ExitCode.OK


def _cmd_demo(args) -> int:
    from lm_eval_ext.local.demo import run_demo

    return run_demo(args)


def _cmd_report(args) -> int:
    from lm_eval_ext.reporting.report import write_report

    report, problems = write_report(args.run_dirs, args.output, max_samples=args.max_samples,
                                    bootstrap_iters=args.bootstrap_iters)
    if not report.runs:
        print("lm-eval-ext report: error: no usable run among the inputs (report written with the list "
              "of problems)", file=sys.stderr)
        return ExitCode.BAD_INPUT
    from lm_eval_ext.reporting.runs import kind_of

    kinds = [kind_of(p) for p in set(problems)]
    notes = f", {kinds.count('note')} note(s) on metrics not computed" if "note" in kinds else ""
    print(f"wrote {args.output}/report.md and {args.output}/report.html "
          f"({len(report.runs)} run(s), {len(report.families)} task families, {kinds.count('warning')} warning(s)"
          f"{notes})")
    return ExitCode.OK


def _cmd_leaderboard(args) -> int:
    from lm_eval_ext import files
    from lm_eval_ext.reporting import leaderboard as lb

    rows, _ = lb.build(args.run_dirs, per_language=args.per_language)
    if not rows:
        print("lm-eval-ext leaderboard: error: no usable run among the inputs"
              + (f"; {args.csv} left as it was" if args.csv else ""), file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.csv:
        try:
            rows = lb.update_csv(args.csv, rows)
        except lb.LeaderboardError as err:
            print(f"lm-eval-ext leaderboard: error: {err}; the file was left as it was (fix or move it, "
                  "then rerun)", file=sys.stderr)
            return ExitCode.BAD_INPUT
        print(f"wrote {args.csv} ({len(rows)} run(s))", file=sys.stderr)
    fmt = args.format or (None if args.csv else "csv")
    if fmt:
        text = {"csv": lb.to_csv, "md": lb.to_markdown, "json": lb.to_json}[fmt](rows)
        if args.output:
            files.write_output(args.output, text)
        else:
            sys.stdout.write(text)
    return ExitCode.OK


def _cmd_consistency(args) -> int:
    from lm_eval_ext.reporting import posthoc_consistency as consistency

    problems = []
    found = consistency.posthoc(args.run_dirs, problems)
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    if not found:
        print("no per-language samples logs of a consistency family (e.g. mgsm_native_cot_<lang> with "
              "--log_samples) found in " + ", ".join(args.run_dirs), file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.json:
        from lm_eval_ext import files

        files.prepare_output(args.json)
        try:
            consistency.write_json(found, args.json)
        except OSError as err:
            raise files.OutputError(f"{args.json}: cannot be written ({err.strerror or err})") from None
    print(consistency.to_markdown(found))
    return ExitCode.OK


def _cmd_compare(args) -> int:
    from lm_eval_ext.reporting.compare import run_compare

    return run_compare(args)


def _cmd_judge(args) -> int:
    from lm_eval_ext.judge.command import run_command

    return run_command(args)


def _cmd_serve(args) -> int:
    from lm_eval_ext.local.serve import serve

    return serve(args)


def _add_judge_parsers(sub) -> None:
    p = sub.add_parser("judge", help="LLM-judge scores per language over the samples logs of run folders",
                       description="Judge every logged sample (lm_eval --log_samples) of the selected tasks with "
                       "an OpenAI-compatible server or a local transformers model; writes judge_results_<date>.json "
                       "and judge_samples_<task>_<date>.jsonl beside lm-eval's files. See reports/judge/README.md.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--judge-url", metavar="BASE_URL", help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    p.add_argument("--judge-model", metavar="NAME", help="model name the server expects")
    p.add_argument("--api-key-env", metavar="VAR", help="name of the environment variable holding the API key "
                   "(the key itself is never accepted on the command line)")
    p.add_argument("--judge-hf", metavar="PATH", help="local transformers model folder as the judge (batched)")
    p.add_argument("--tasks", help="comma-separated task names or globs (default: every task with a samples log)")
    p.add_argument("--protocol", action="append", metavar="[TASK_GLOB=]PROTOCOL",
                   help="override the protocol: da, qa_equiv, math_cot, grade (repeatable; default by family)")
    p.add_argument("--pairwise", metavar="OTHER_RUN", help="compare RUN_DIR (A) with this run (B) item by item")
    p.add_argument("--limit", type=count, help="judge at most this many items per task")
    p.add_argument("--concurrency", type=positive_int, default=8, help="requests in flight (default 8)")
    p.add_argument("--timeout", type=positive, default=120.0, help="total deadline of one request in seconds: "
                   "connecting, sending and the whole reply (default 120)")
    p.add_argument("--max-reply-bytes", type=positive_int, default=8 * 1024 * 1024,
                   help="largest reply body accepted, in bytes (default 8 MiB); a larger one is a failed attempt")
    p.add_argument("--follow-redirects", action="store_true", help="also follow redirects to another host "
                   "(default: only to the same scheme, host and port; the prompts and the key go where it points)")
    p.add_argument("--max-retries", type=count, default=5, help="retries per request on timeouts, connection "
                   "errors, 429, 5xx and malformed bodies (default 5)")
    p.add_argument("--backoff", type=non_negative, default=1.0, help="base of the exponential backoff in seconds "
                   "(default 1)")
    p.add_argument("--max-requests", type=count, help="budget: stop after this many judge requests (retries count)")
    p.add_argument("--temperature", type=non_negative, default=0.0)
    p.add_argument("--max-tokens", type=positive_int, default=512, help="judge reply length (default 512)")
    p.add_argument("--seed", type=int, help="sampling seed sent to the server (part of the cache key)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="--judge-hf batch size")
    p.add_argument("--cache", metavar="FILE", help="cache database (default ~/.cache/lm_eval_ext/judge_cache.sqlite)")
    p.add_argument("--bootstrap-iters", type=positive_int, default=2000)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_judge)

    p = sub.add_parser("serve", help="a small OpenAI-compatible server over a local transformers model")
    p.add_argument("--hf", required=True, metavar="PATH", help="transformers model folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--model-name", help="name served under /v1/models (default: the folder name)")
    p.add_argument("--max-tokens-cap", type=int, default=1024, help="upper bound on max_tokens per request")
    p.set_defaults(func=_cmd_serve)


def _cmd_rescore(args) -> int:
    from lm_eval_ext.reporting.rescore import run_rescore

    return run_rescore(args)


def _cmd_confusion(args) -> int:
    from lm_eval_ext.reporting.confusion_csv import run

    return run(args)


def _cmd_neural_env(args) -> int:
    from lm_eval_ext.local.neural_env import run_command

    return run_command(args)


def _cmd_doctor(args) -> int:
    from lm_eval_ext.local.doctor import run

    return run(args)


def _cmd_self_translate(args) -> int:
    from lm_eval_ext.local.self_translate import run

    return run(args)


def _cmd_latent_language(args) -> int:
    from lm_eval_ext.latent.command import run

    return run(args)


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

    p = sub.add_parser("flores-pairs", help="write FLORES tasks for any ordered pairs of FLORES-200 languages into a "
                       "folder for lm_eval --include_path",
                       description="Writes flores_<src>-<tgt> for every ordered pair of a --src and a --tgt language "
                       "(src != tgt), plus the common base they include, so that DIR is self-contained: "
                       "lm_eval --include_path DIR --tasks flores_deu_Latn-fra_Latn. Codes: the 204 FLORES-200 codes "
                       "(lm_eval_ext/data/flores200.csv); 'all' means every one of them.")
    p.add_argument("--src", required=True, metavar="CODES", help="comma-separated FLORES-200 codes, or all")
    p.add_argument("--tgt", required=True, metavar="CODES", help="comma-separated FLORES-200 codes, or all")
    p.add_argument("--out", required=True, type=_path, metavar="DIR", help="folder to write the task files into")
    p.set_defaults(func=_cmd_flores_pairs)

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
    p.add_argument("--max-samples", type=count, default=20, help="items per task and run in the sample browser")
    p.add_argument("--bootstrap-iters", type=positive_int, default=2000, help="bootstrap resamples for cell CIs")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("leaderboard", help="one row per run; columns <family>/<lang>/<metric> (see reports/README.md)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--csv", metavar="OUT.csv", help="write (merge into, if it exists) this CSV")
    p.add_argument("--format", choices=["csv", "md", "json"], help="print in this format (default: csv when no --csv)")
    p.add_argument("-o", "--output", help="write the --format output here instead of stdout")
    p.add_argument("--per-language", action="store_true",
                   help="a column for every language row, also in a family of more than 40 directions into "
                   "and out of English (FLORES-200's 406), which by default shows its means, tiers and groups")
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("consistency", help="cross-lingual consistency (as xlc_<family>) from the samples logs "
                       "of per-language tasks of finished runs (e.g. mgsm_native_cot_<lang>)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="lm-eval --output_path folders run with --log_samples")
    p.add_argument("--json", metavar="FILE", help="also write every number here (NaN as null)")
    p.set_defaults(func=_cmd_consistency)

    p = sub.add_parser("compare", help="regression board: candidate vs baseline per task and language")
    p.add_argument("baseline", metavar="BASELINE")
    p.add_argument("candidate", metavar="CANDIDATE")
    p.add_argument("--threshold", type=non_negative, default=0.01,
                   help="smallest change (raw metric units, e.g. 0.02 = 2 accuracy points) that counts (default 0.01)")
    p.add_argument("--no-significance", action="store_true",
                   help="judge by the threshold alone (default: the 95%% CI must also exclude 0)")
    p.add_argument("--metric", action="append", help="metric name (or name:filter) to compare; repeatable "
                   "(default: each family's primary metric)")
    p.add_argument("--all-metrics", action="store_true", help="compare every metric")
    p.add_argument("--format", choices=["table", "md", "junit"], default="table", help="stdout format")
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown board here (PR comment)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (CI test report)")
    p.add_argument("--allow-missing", action="store_true", help="a task, language or metric of the baseline "
                   "missing in the candidate is a warning (default: it fails the gate, exit 1)")
    p.add_argument("--allow-incomparable", action="store_true", help="a task made another way in the two runs "
                   "(task version, scorer or metric signatures, few-shot, chat template, gen_kwargs, ...) is listed "
                   "as not comparable but not gated (default: exit 4)")
    p.add_argument("--gate", action="append", choices=["means", "parity"], default=[],
                   help="also gate on the family means over languages (means) or on the best-minus-worst spread "
                   "and the English gap (parity); repeatable (default: the per-language rows only)")
    p.add_argument("--bootstrap-iters", type=positive_int, default=2000)
    p.set_defaults(func=_cmd_compare)

    _add_judge_parsers(sub)

    p = sub.add_parser("rescore", help="add COMET/BLEURT to a finished FLORES run (new results file beside the old)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="lm-eval --output_path folder of a run made with --log_samples")
    p.add_argument("--metrics", default="comet,bleurt", help="comma-separated: comet, bleurt (default both); "
                   "models and batch sizes: LM_EVAL_EXT_COMET / LM_EVAL_EXT_BLEURT (tasks/flores/README.md)")
    p.set_defaults(func=_cmd_rescore)

    from lm_eval_ext.reporting.confusion_csv import add_parser as add_confusion

    add_confusion(sub, _cmd_confusion)

    p = sub.add_parser("neural-env", help="create (or --check) a side environment for COMET/BLEURT, whose "
                       "released packages pin transformers<5 and numpy<2",
                       description="Creates a venv in DIR with torch and the reference packages (unbabel-comet, "
                       "bleurt-pytorch), checks it, and prints the setting that makes lm_eval and rescore score "
                       "COMET/BLEURT there: LM_EVAL_EXT_NEURAL_PYTHON=DIR/bin/python.")
    p.add_argument("dir", nargs="?", metavar="DIR", help="folder of the side environment")
    p.add_argument("--torch", default="torch", metavar="SPEC",
                   help="torch requirement for the side environment (default 'torch'; e.g. 'torch==2.6.0')")
    p.add_argument("--pip-arg", action="append", default=[], metavar="ARG",
                   help="extra pip argument, repeatable (e.g. --pip-arg=--index-url=https://.../cu124)")
    p.add_argument("--python", metavar="EXE", help="base interpreter for the venv (default: this one)")
    p.add_argument("--check", action="store_true",
                   help="only check DIR (or $LM_EVAL_EXT_NEURAL_PYTHON): start a worker, list its packages")
    p.set_defaults(func=_cmd_neural_env)

    p = sub.add_parser("doctor", help="is the plugin active here: versions, the autoload, each patch point of "
                       "lm-eval and why one is not installed, our tasks as lm-eval finds them")
    p.set_defaults(func=_cmd_doctor)

    from lm_eval_ext.local.self_translate import add_parser as add_self_translate

    add_self_translate(sub, _cmd_self_translate)
    from lm_eval_ext.latent.command import add_parser as add_latent_language

    add_latent_language(sub, _cmd_latent_language)
    return parser


def main(argv=None) -> int:
    from lm_eval_ext.files import OutputError

    args = build_parser().parse_args(argv)  # usage errors: argparse exits 2
    try:
        return args.func(args)
    except OutputError as err:
        print(f"lm-eval-ext {args.command}: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except BrokenPipeError:  # `lm-eval-ext tasks | head`
        sys.stderr.close()
        return ExitCode.OK
    except KeyboardInterrupt:
        print(f"lm-eval-ext {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception:  # never exit 1 (compare's "regressed") on a crash
        import traceback

        traceback.print_exc()
        print(f"lm-eval-ext {args.command}: internal error (a bug; please report it with the traceback above)",
              file=sys.stderr)
        return ExitCode.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
