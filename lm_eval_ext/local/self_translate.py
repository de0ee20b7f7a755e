"""``lm-eval-ext self-translate``: both self-translate stages with one model load.

The model is built once with lm-eval's own registry (any backend: hf, vllm,
local-completions, local-chat-completions, ...). Stage 1 (``<family>_self_translate_stage1_<l>``)
and stage 2 (``<family>_self_translate_<l>``) run through ``lm_eval.simple_evaluate`` with that
model object and are saved by lm-eval's own ``EvaluationTracker``, as ``lm_eval --output_path OUT``
saves them: both into ``OUT/<model>/`` (the same model, so the run-folder reader merges the two
results files into one run). Stage 2 reads stage 1 from the results file stage 1 just wrote
through ``LM_EVAL_EXT_SELF_TRANSLATE_FROM``, exactly as the two-command route does (a folder that
already holds stage-1 runs of other settings is no obstacle). Before stage 1 the command says
whether OUT already holds a usable stage 1 of this model (same model identity, same data, every
text the items need); ``--reuse-stage1`` then answers it instead of translating again.

``--limit N`` is the number of items stage 2 evaluates per language; stage 1 translates exactly
the texts those items need (for XQuAD each paragraph once and the questions).

Data parallel (``torchrun --nproc_per_node N``, ``accelerate launch``): every rank generates its
share of both stages, lm-eval gathers them to rank 0, and only rank 0 saves and checks stage 1;
the other ranks wait for its word (`Ranks`, at most STAGE1_WAIT_S seconds) and then read stage 1
from the folder it names.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from lm_eval_ext import model_identity
from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.families import self_translate as st

STAGE1_WAIT_S = 1800  # how long the other ranks wait for rank 0 to aggregate, save and check stage 1


class BadInput(ValueError):
    pass


class Ranks:
    """The processes of a distributed run, as torch.distributed sees them once the model has
    joined its process group (one process: rank 0 of 1). Rank 0 alone has lm-eval's results,
    saves them and checks stage 1; `share` hands its word to the others over a gloo group of
    our own, whose timeout is the deadline of their wait."""

    def __init__(self):
        self.rank, self.size, self._group = 0, 1, None
        try:
            import torch.distributed as dist
        except ImportError:
            return
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self.rank, self.size = dist.get_rank(), dist.get_world_size()
            self._group = dist.new_group(backend="gloo", timeout=timedelta(seconds=STAGE1_WAIT_S))

    def share(self, word: dict | None) -> dict:
        """Rank 0's `word` on every rank (the others pass None and wait for it)."""
        if self._group is None:
            return word
        import torch.distributed as dist

        box = [word]
        try:
            dist.broadcast_object_list(box, src=0, group=self._group)
        except RuntimeError as err:  # gloo's timeout, or rank 0 gone
            raise BadInput(f"rank {self.rank} of {self.size}: no word from rank 0 about stage 1 within "
                           f"{STAGE1_WAIT_S} s ({(str(err).splitlines() or [''])[0][:200]})") from None
        return box[0]


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
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise BadInput(f"--limit {text}: must be a finite number > 0 (items per language, or a fraction below 1)")
    return value


def plan(pairs, limit) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The doc indices of each stage-1 and stage-2 task (lm-eval's ``samples``): stage 2 the
    first `limit` items, stage 1 the texts they need. Reads the data (checks it before a model loads)."""
    from lm_eval_ext import families

    root = families.local_root()
    stage1, stage2 = {}, {}
    for source, lang in pairs:
        files = []
        for stage in (1, 2):
            name = st.stage1_task(source, lang) if stage == 1 else st.stage2_task(source, lang)
            family = name.rsplit("_", 1)[0]
            families.check_available(task=name, family=family, lang=lang, preflight=False)
            files += families.get(family).required_files(lang=lang)
        with families.hub_data(f"--tasks {source} --langs {lang}", files):
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
    lm-eval's tracker into OUT/<model>/; returns the results and the results file written (a
    non-zero rank of a distributed run, which writes nothing: OUT)."""
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
    folder = out / str(tracker.general_config_tracker.model_name_sanitized)
    return results, folder / f"results_{tracker.date_id}.json"


def usable_stage1(out: Path, model: str, model_args: str, stage2: dict[str, list[int]]) -> Path | None:
    """The newest results file under `out` of a stage 1 of this model (its identity) that every
    stage-2 task of the plan can read: same data, every text its items need."""
    from lm_eval_ext.families.base import DataNotFoundError
    from lm_eval_ext.formats import run_folder

    wanted = model_identity.identity(model, model_args).key
    found = []
    for _, files in run_folder.find_results(out, []):
        for path in files:
            doc = run_folder.read_results(path, [])
            cfg = (doc or {}).get("config") or {}
            # the checkpoint as the arguments name it: a recorded hub sha is not known before loading
            if doc is None or model_identity.identity(cfg.get("model"), cfg.get("model_args"), {
                    "model_revision": cfg.get("model_revision")}).key != wanted:
                continue
            if all(st.stage1_task(*task.split("_self_translate_")) in (doc.get("results") or {}) for task in stage2):
                found.append(path)
    saved = os.environ.get(st.SETTING)
    try:
        for path in sorted(found, key=lambda p: p.name, reverse=True):
            os.environ[st.SETTING] = str(path)
            try:
                for task, docs in stage2.items():
                    source, lang = task.split("_self_translate_")
                    st.preflight(task, source, lang, samples={task: docs})
            except DataNotFoundError:
                continue
            return path
    finally:
        if saved is None:
            os.environ.pop(st.SETTING, None)
        else:
            os.environ[st.SETTING] = saved
    return None


def _fmt(value) -> str:
    return "-" if not isinstance(value, (int, float)) or value != value else f"{value:.3g}"


def _print_table(pairs, res1: dict, res2: dict) -> None:
    print(f"\n{'task':<28} {'stage-1 chrF++':>15} {'stage-2 score':>14}")
    for source, lang in pairs:
        t1 = (res1.get("results") or {}).get(st.stage1_task(source, lang), {})
        t2 = (res2.get("results") or {}).get(st.stage2_task(source, lang), {})
        key = "exact_match,strict-match" if source == "mgsm" else "f1,clean"
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

    reusable = usable_stage1(out, args.model, args.model_args, stage2)
    print(f"[1/3] loading {args.model} ({args.model_args}) once for both stages", flush=True)
    try:
        lm = _backend(args.model).create_from_arg_string(
            args.model_args, {"batch_size": args.batch_size, "max_batch_size": args.max_batch_size,
                              "device": args.device})
        ranks = Ranks()
        if ranks.rank == 0 and reusable is not None:
            print(f"{out} already holds a usable stage 1 of this model: {reusable}"
                  + ("; reused (--reuse-stage1)" if args.reuse_stage1 else "; --reuse-stage1 answers it instead of "
                     "translating again"), flush=True)
        elif ranks.rank == 0 and args.reuse_stage1:
            print(f"--reuse-stage1: {out} holds no stage 1 of this model covering these items; running stage 1",
                  flush=True)
        if reusable is not None and args.reuse_stage1:
            res1, results1 = json.loads(reusable.read_text(encoding="utf-8")), reusable
            print("[2/3] stage 1: reused", flush=True)
        else:
            print(f"[2/3] stage 1: the model translates {sum(map(len, stage1.values()))} texts into English",
                  flush=True)
            res1, results1 = _evaluate(lm, args, pairs, 1, stage1, out)
        # lm-eval gathers stage 1 to rank 0, which saved it: it checks it, the other ranks wait for its word.
        # Stage 2 reads the stage 1 just written (or reused), never "the model's folder": it may hold
        # stage-1 runs of other settings
        word = ranks.share(_check_stage1(results1, stage2) if ranks.rank == 0 else None)
        if word["error"]:
            raise DataNotFoundError(word["error"])
        os.environ[st.SETTING] = word["setting"]
        if ranks.rank == 0 and not (reusable is not None and args.reuse_stage1):
            print(f"      saved in {results1}", flush=True)
        print(f"[3/3] stage 2: the model answers its {sum(map(len, stage2.values()))} English texts", flush=True)
        res2, results2 = _evaluate(lm, args, pairs, 2, stage2, out)
    except (BadInput, DataNotFoundError) as err:
        print(f"lm-eval-ext self-translate: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except _connection_errors() as err:
        url = _server_url(args.model_args)
        print(f"lm-eval-ext self-translate: error: the connection to "
              f"{'the model server ' + url if url else 'a server'} failed ({type(err).__name__}: "
              f"{(str(err).splitlines() or [''])[0][:300]}); is it running there?", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if ranks.rank != 0:  # rank 0 saved both stages and reports them
        return ExitCode.OK
    _print_table(pairs, res1, res2)
    print(f"\nlm-eval output (one run: stage 1 and stage 2): {results2.parent}")
    print(f"  two-command equivalent: {st.SETTING}={results1} lm_eval ... --tasks "
          f"{','.join(stage2)} --limit {args.limit or 'none'}")
    print(f"wall time: {time.time() - started:.0f} s")
    return ExitCode.OK


def _backend(name: str):
    """lm-eval's model class of `--model`; BadInput naming it when lm-eval has none or it cannot load."""
    import lm_eval.api.registry

    try:
        return lm_eval.api.registry.get_model(name)
    except ValueError:
        known = ", ".join(sorted(lm_eval.api.registry.model_registry.keys()))
        raise BadInput(f"--model {name}: lm-eval has no such model backend (known: {known})") from None
    except ImportError as err:  # a backend whose package is not installed here (vllm, ...)
        raise BadInput(f"--model {name}: the backend cannot be loaded here ({type(err).__name__}: {err})") from None


def _check_stage1(results: Path, stage2: dict[str, list[int]]) -> dict:
    """Rank 0's word for every rank: the stage-1 setting of stage 2 (the results file stage 1
    wrote or the one reused), and the error of the checks `lm_eval` makes before a model loads,
    now that stage 1 exists (None: fine)."""
    from lm_eval_ext.families.base import DataNotFoundError

    os.environ[st.SETTING] = str(results)
    try:
        for task, docs in stage2.items():
            source, lang = task.split("_self_translate_")
            st.preflight(task, source, lang, samples={task: docs})
    except DataNotFoundError as err:
        return {"setting": os.environ[st.SETTING], "error": str(err)}
    return {"setting": os.environ[st.SETTING], "error": None}


def _connection_errors() -> tuple:
    """What lm-eval's API models raise when their server refuses or drops a connection."""
    errors: list = [ConnectionError]
    try:
        import requests

        errors.append(requests.exceptions.ConnectionError)
    except ImportError:
        pass
    try:
        import aiohttp

        errors.append(aiohttp.ClientConnectionError)
    except ImportError:
        pass
    return tuple(errors)


def _server_url(model_args: str) -> str | None:
    """The server an API model talks to (``base_url`` of --model_args)."""
    for part in (model_args or "").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip() == "base_url":
            return value.strip()
    return None


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
    p.add_argument("--reuse-stage1", action="store_true", help="answer a stage 1 of this model already in "
                   "--output_path (same model identity and data, covering the items) instead of translating again")
    p.set_defaults(func=func)
