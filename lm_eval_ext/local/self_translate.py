"""``lm-eval-ext self-translate``: both self-translate stages with one model load.

The model is built once with lm-eval's own registry (any backend: hf, vllm,
local-completions, local-chat-completions, ...). Stage 1 (``<family>_self_translate_stage1_<l>``)
and stage 2 (``<family>_self_translate_<l>``) run through ``lm_eval.simple_evaluate`` with that
model object and are saved by lm-eval's own ``EvaluationTracker``, as ``lm_eval --output_path OUT``
saves them: both into ``OUT/<model>/`` (the same model and arguments, so the run-folder reader
merges the two results files into one run). Stage 2 reads stage 1 from that folder through
``LM_EVAL_EXT_SELF_TRANSLATE_FROM``, exactly as the two-command route does.

``--limit N`` is the number of items stage 2 evaluates per language; stage 1 translates exactly
the texts those items need (for XQuAD each paragraph once and the questions).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lm_eval_ext import compat
from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.families import self_translate as st


class BadInput(ValueError):
    pass


def selection(families_arg: str, langs_arg: str | None) -> list[tuple[str, str]]:
    """(source family, language) pairs of --tasks and --langs; BadInput naming what is unknown."""
    sources = [s.strip() for s in families_arg.split(",") if s.strip()]
    unknown = [s for s in sources if s not in st.SOURCES]
    if not sources or unknown:
        raise BadInput(f"--tasks {families_arg!r}: self-translate runs for {', '.join(st.SOURCES)} "
                       f"(comma-separated){'; unknown: ' + ', '.join(unknown) if unknown else ''}")
    wanted = [c.strip() for c in (langs_arg or "").split(",") if c.strip()]
    every = sorted({c for s in sources for c in st.languages_of(s)})
    bad = [c for c in wanted if c not in every]
    if bad:
        raise BadInput(f"--langs: no self-translate language {', '.join(bad)} in {', '.join(sources)} "
                       f"(non-English languages: {' '.join(every)})")
    return [(s, c) for s in sources for c in st.languages_of(s) if not wanted or c in wanted]


def _limit(text):
    if text is None:
        return None
    value = float(text)
    if not value > 0:
        raise BadInput(f"--limit {text}: must be > 0 (items per language, or a fraction below 1)")
    return value


def plan(pairs, limit) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The doc indices of each stage-1 and stage-2 task (lm-eval's ``samples``): stage 2 the
    first `limit` items, stage 1 the texts they need. Reads the data (checks it before a model loads)."""
    from lm_eval_ext import families

    root = families.local_root()
    stage1, stage2 = {}, {}
    for source, lang in pairs:
        for stage in (1, 2):
            name = st.stage1_task(source, lang) if stage == 1 else st.stage2_task(source, lang)
            family = name.rsplit("_", 1)[0]
            families.check_available(task=name, family=family, lang=lang, preflight=False)
        n = st.limit_count(limit, st.item_count(root, source, lang))
        stage2[st.stage2_task(source, lang)] = list(range(n))
        stage1[st.stage1_task(source, lang)] = list(range(st.stage1_count(root, source, lang, n)))
    return stage1, stage2


def requested(pairs, stage: int, tasks: dict[str, list[int]]) -> list[str]:
    """What lm-eval is asked to run: a family's group when every language of it is selected (its
    means over languages and tiers then land in the results), else the language tasks."""
    out = []
    for source in dict.fromkeys(s for s, _ in pairs):
        chosen = [lang for s, lang in pairs if s == source]
        name = st.stage1_task if stage == 1 else st.stage2_task
        if chosen == list(st.languages_of(source)):
            out.append(name(source, "")[:-1])
        else:
            out += [name(source, lang) for lang in chosen]
    assert set(tasks) == {(st.stage1_task if stage == 1 else st.stage2_task)(s, c) for s, c in pairs}
    return out


def _evaluate(lm, args, pairs, stage: int, tasks: dict[str, list[int]], out: Path) -> tuple[dict, Path]:
    """One stage through lm-eval (`tasks`: the doc indices of each language task), saved by
    lm-eval's tracker into OUT/<model>/; returns the results and that folder."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out))
    results = simple_evaluate(
        model=lm, model_args=args.model_args, tasks=requested(pairs, stage, tasks), num_fewshot=args.num_fewshot,
        batch_size=args.batch_size, samples=tasks, log_samples=True, evaluation_tracker=tracker,
        apply_chat_template=args.apply_chat_template, gen_kwargs=args.gen_kwargs, random_seed=args.seed,
        numpy_random_seed=args.seed, torch_random_seed=args.seed, fewshot_random_seed=args.seed,
    )
    if results is None:  # a non-zero rank of a distributed run: rank 0 writes
        return {}, out
    results["config"]["model"] = args.model  # the registry name, as `lm_eval --model` records it
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return results, out / str(tracker.general_config_tracker.model_name_sanitized)


def _fmt(value) -> str:
    return "-" if not isinstance(value, (int, float)) or value != value else f"{value:.3g}"


def _by_task(res: dict) -> dict:
    """The results by task name (lm-eval 0.5 keys a task inside a group "<group>::<task>")."""
    configs = res.get("configs") or {}
    return {compat.base_task(k, configs.get(k)): v for k, v in (res.get("results") or {}).items()}


def _print_table(pairs, res1: dict, res2: dict) -> None:
    print(f"\n{'task':<28} {'stage-1 chrF++':>15} {'stage-2 score':>14}")
    r1, r2 = _by_task(res1), _by_task(res2)
    for source, lang in pairs:
        t1 = r1.get(st.stage1_task(source, lang), {})
        t2 = r2.get(st.stage2_task(source, lang), {})
        key = "exact_match,strict-match" if source == "mgsm" else "f1_qa,clean"
        print(f"{st.stage2_task(source, lang):<28} {_fmt(t1.get('chrfpp,translation')):>15} "
              f"{_fmt(t2.get(key)):>14}  ({key.split(',')[0]})")


def run(args) -> int:
    from lm_eval_ext.families.base import DataNotFoundError

    started = time.time()
    try:
        pairs = selection(args.tasks, args.langs)
        stage1, stage2 = plan(pairs, _limit(args.limit))
    except (BadInput, DataNotFoundError, ValueError) as err:
        print(f"lm-eval-ext self-translate: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    out = Path(args.output_path).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"lm-eval-ext self-translate: error: --output_path {out}: {err.strerror or err}", file=sys.stderr)
        return ExitCode.BAD_INPUT

    import lm_eval.api.registry

    print(f"[1/3] loading {args.model} ({args.model_args}) once for both stages", flush=True)
    lm = lm_eval.api.registry.get_model(args.model).create_from_arg_string(
        args.model_args, {"batch_size": args.batch_size, "max_batch_size": args.max_batch_size,
                          "device": args.device})
    print(f"[2/3] stage 1: the model translates {sum(map(len, stage1.values()))} texts into English", flush=True)
    res1, folder = _evaluate(lm, args, pairs, 1, stage1, out)
    print(f"      saved in {folder}", flush=True)
    os.environ[st.SETTING] = str(folder)
    # the checks `lm_eval` makes before a model loads, now that stage 1 exists
    try:
        for task, docs in stage2.items():
            source, lang = task.split("_self_translate_")
            st.preflight(task, source, lang, limit=len(docs))
    except DataNotFoundError as err:
        print(f"lm-eval-ext self-translate: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"[3/3] stage 2: the model answers its {sum(map(len, stage2.values()))} English texts", flush=True)
    res2, _ = _evaluate(lm, args, pairs, 2, stage2, out)
    _print_table(pairs, res1, res2)
    print(f"\nlm-eval output (one run: stage 1 and stage 2): {folder}")
    print(f"  two-command equivalent: {st.SETTING}={folder} lm_eval ... --tasks "
          f"{','.join(stage2)} --limit {args.limit or 'none'}")
    print(f"wall time: {time.time() - started:.0f} s")
    return ExitCode.OK


def add_parser(sub, func) -> None:
    p = sub.add_parser(
        "self-translate", help="self-translate: the model translates each item into English, then answers it "
        "(stage 1 and stage 2 with one model load)",
        description="Run <family>_self_translate_stage1_<l> and <family>_self_translate_<l> for MGSM and/or XQuAD "
        "with one model, built once with lm-eval's model registry; both stages are saved as an ordinary lm-eval "
        "run folder OUT/<model>/. Exit 0 ok, 2 bad input, 70 internal error, 130 interrupted.")
    p.add_argument("--model", required=True, help="lm-eval model backend: hf, vllm, local-chat-completions, ...")
    p.add_argument("--model_args", default="", help="as for lm_eval, e.g. pretrained=org/model,dtype=bfloat16")
    p.add_argument("--tasks", default="mgsm,xquad", help="source families, comma-separated: mgsm, xquad "
                   "(default both)")
    p.add_argument("--langs", help="comma-separated languages (default: every non-English language of each family)")
    p.add_argument("--limit", help="items per language evaluated in stage 2 (stage 1 translates what they need)")
    p.add_argument("--num_fewshot", type=int, help="k-shot for both stages (human-translated exemplars in stage 1)")
    p.add_argument("--batch_size", default=1)
    p.add_argument("--max_batch_size", type=int)
    p.add_argument("--device", default="cuda:0", help="as for lm_eval (its default cuda:0; the hf backend falls "
                   "back to the CPU without one)")
    p.add_argument("--apply_chat_template", nargs="?", const=True, default=False)
    p.add_argument("--gen_kwargs", help="as for lm_eval, e.g. max_gen_toks=1024 (both stages)")
    p.add_argument("--seed", type=int, default=1234, help="lm-eval's seeds (few-shot sampling; default 1234)")
    p.add_argument("--output_path", required=True, help="output folder (lm_eval --output_path)")
    p.set_defaults(func=func)
