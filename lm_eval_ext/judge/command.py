"""The ``lm-eval-ext judge`` command: arguments to a backend, a cache and a job; printing."""

from __future__ import annotations

import sys
from pathlib import Path

from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.formats.judge_file import JudgeResults, PairwiseResults
from lm_eval_ext.formats.run_folder import Problem
from lm_eval_ext.judge import protocols as P
from lm_eval_ext.judge.client import JudgeCache
from lm_eval_ext.judge.pairwise import PairwiseJob
from lm_eval_ext.judge.pipeline import JudgeJob
from lm_eval_ext.reporting.runs import kind_of, load_runs


def run_command(args) -> int:
    from lm_eval_ext.judge.client import Budget, JudgeFatal, OpenAIJudge, Redactor, api_key_from_env
    from lm_eval_ext.judge.hf_judge import HFJudge

    redact = Redactor()  # replaced by the backend's once the key is known

    def say(text, file=sys.stderr) -> None:  # every line the command prints passes the redaction
        print(redact(text), file=file)

    if bool(args.judge_hf) == bool(args.judge_url):
        say("lm-eval-ext judge: error: give either --judge-url (with --judge-model) or --judge-hf PATH")
        return ExitCode.BAD_INPUT
    try:
        overrides = P.parse_overrides(args.protocol)
        api_key = api_key_from_env(args.api_key_env)
    except ValueError as e:
        say(f"lm-eval-ext judge: error: {e}")
        return ExitCode.BAD_INPUT
    budget = Budget(args.max_requests)
    if args.judge_hf:
        backend = HFJudge(args.judge_hf, batch_size=args.batch_size, max_new_tokens=args.max_tokens, budget=budget)
        sampling = {"temperature": 0, "max_tokens": args.max_tokens, "backend": "transformers"}
    else:
        if not args.judge_model:
            say("lm-eval-ext judge: error: --judge-url needs --judge-model")
            return ExitCode.BAD_INPUT
        sampling = {"temperature": args.temperature, "max_tokens": args.max_tokens}
        if args.seed is not None:
            sampling["seed"] = args.seed
        try:
            backend = OpenAIJudge(args.judge_url, args.judge_model, api_key=api_key, sampling=sampling,
                                  concurrency=args.concurrency, timeout=args.timeout, max_retries=args.max_retries,
                                  backoff=args.backoff, budget=budget, max_reply_bytes=args.max_reply_bytes,
                                  follow_redirects=args.follow_redirects)
        except JudgeFatal as e:
            say(f"lm-eval-ext judge: error: {Redactor([api_key])(e)}")
            return ExitCode.BAD_INPUT
        redact = backend.redact
    from lm_eval_ext.resources import cache_root

    cache = JudgeCache(Path(args.cache) if args.cache else cache_root() / "judge_cache.sqlite")
    problems: list[Problem] = []
    runs, _ = load_runs(args.run_dirs, problems)
    if not runs:
        for p in problems:
            say(f"lm-eval-ext judge: {p}")
        say("lm-eval-ext judge: error: no usable run")
        return ExitCode.BAD_INPUT
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    job_cls = PairwiseJob if args.pairwise else JudgeJob
    job = job_cls(backend, cache, sampling, overrides, tasks, args.limit, progress=not args.no_progress,
                  bootstrap_iters=args.bootstrap_iters)
    job.problems = problems
    status = ExitCode.OK
    try:
        if args.pairwise:
            if len(runs) != 1:
                say("lm-eval-ext judge: error: --pairwise compares one run folder with one other")
                return ExitCode.BAD_INPUT
            others, _ = load_runs([args.pairwise], problems)
            if len(others) != 1:
                say(f"lm-eval-ext judge: error: --pairwise {args.pairwise}: not one usable run")
                return ExitCode.BAD_INPUT
            path, doc = job.run_pairwise(runs[0], others[0])
            _print_pairwise(path, doc, say)
            status = ExitCode.OK if doc.complete else ExitCode.BUDGET
        else:
            for run in runs:
                path, doc = job.run_single(run)
                _print_single(path, doc, say)
                if not doc.complete:
                    status = ExitCode.BUDGET
    except JudgeFatal as e:
        say(f"lm-eval-ext judge: error: {e}")
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt:
        say("lm-eval-ext judge: interrupted; judged items are cached and the partial results written; "
            "rerun the same command to resume")
        return ExitCode.INTERRUPTED
    except ValueError as e:
        say(f"lm-eval-ext judge: error: {e}")
        return ExitCode.BAD_INPUT
    finally:
        cache.close()
    for p in dict.fromkeys(job.problems):
        say(f"lm-eval-ext judge: {kind_of(p)}: {p}")
    r = job.requests_summary()
    say(f"requests: {r['cache_hits']} from cache, {r['http_requests']} sent ({r['retries']} retries), "
        f"{r['failed_requests']} failed" + (" ; budget exhausted (--max-requests)" if r["budget_exhausted"] else ""))
    if status == ExitCode.BUDGET:
        say("lm-eval-ext judge: some items were not judged (budget or failed requests); rerun to resume")
    return status


def _print_single(path: Path, doc: JudgeResults, say) -> None:
    say(f"wrote {path}", file=sys.stdout)
    for task, per in doc.tasks.items():
        for proto, e in per.items():
            mean = "—" if e.mean is None else f"{e.mean:.3f}"
            rho = e.agreement["rho"]
            say(f"  {task:<32} judge/{proto:<9} mean {mean} (n {e.n}/{e.n_items}, "
                f"parse failures {e.parse_failures}, failed {e.request_failures + e.not_judged})"
                + ("" if rho is None else f"  spearman vs {e.reference_metric}: {rho:+.2f}"), file=sys.stdout)


def _print_pairwise(path: Path, doc: PairwiseResults, say) -> None:
    say(f"wrote {path}  (A = {doc.run_a['model']}, B = {doc.run_b['model']})", file=sys.stdout)
    for lang, e in doc.languages.items():
        say(f"  {lang:<10} win {e.win}  tie {e.tie}  loss {e.loss}  (parse failures {e.parse_failures})",
            file=sys.stdout)
