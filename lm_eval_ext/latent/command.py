"""``lm-eval-ext latent-language``: which language the model's middle layers favour.

    lm-eval-ext latent-language --model hf --model_args pretrained=PATH[,dtype=bfloat16] \\
        --langs de,fr,zh,ja,ru,sw [--source fr] [--task translation|repetition|cloze] [--limit N] \\
        [--batch_size auto] --output_path OUT

1. The concepts of each language pair come from CLDR through babel (`concepts`); an unknown
   language code stops here, before any model loads (exit 2).
2. The model is built once through lm-eval's registry (an ``hf``-family backend: the lens needs
   the layers); its tokenizer filters each pair's concepts (`tokens.select`); a pair filtered to
   nothing, a tokenizer of unknown scheme or a model without a reachable final norm is exit 2.
3. The prompts run in batches, longest first (``--batch_size auto``: the largest power of two
   from ``--max_batch_size`` down that fits the GPU; 8 on a CPU); per concept and layer
   P(target), P(English) and the entropy (`lens`).
4. Per pair: means over concepts with bootstrap CIs and the English-latent share (`summary`),
   written to ``OUT/<model>/latent_language_<date>.json`` (`formats.latent_language`) — the
   folder ``lm_eval --output_path OUT`` uses for the same model, so ``report``, ``leaderboard``
   and ``compare`` read it as part of that run.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from datetime import datetime
from pathlib import Path

from lm_eval_ext import __version__, model_identity
from lm_eval_ext.signature import Signature
from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.formats import latent_language as fmt
from lm_eval_ext.latent import concepts as cc
from lm_eval_ext.latent import prompts as pr
from lm_eval_ext.latent import METHOD, METHOD_VERSION
from lm_eval_ext.latent import tokens as tk

DEFAULT_SOURCE, SECOND_SOURCE = "fr", "de"  # translation source: fr, and de for the target fr
CPU_BATCH = 8


class BadInput(ValueError):
    pass


def _codes(text: str | None, option: str) -> list[str]:
    codes = list(dict.fromkeys(c.strip() for c in (text or "").split(",") if c.strip()))
    if not codes:
        raise BadInput(f"{option}: give comma-separated language codes (e.g. de,fr,zh,ja)")
    return codes


def plan(args) -> list[tuple[str, str]]:
    """(source, target) of every pair; the codes checked against babel's CLDR (UnknownLanguage)."""
    targets = _codes(args.langs, "--langs")
    for code in targets:
        cc.locale(code)
        if cc.locale(code).language == cc.ENGLISH:
            raise BadInput(f"--langs {code}: English is the language the target is measured against; "
                           "give non-English targets")
    if args.source:
        cc.locale(args.source)
    pairs = []
    for target in targets:
        if args.task != "translation":
            pairs.append((target, target))
            continue
        source = args.source or (DEFAULT_SOURCE if target != DEFAULT_SOURCE else SECOND_SOURCE)
        if source == target:
            raise BadInput(f"--source {source} is also a target in --langs: a translation needs two languages")
        pairs.append((source, target))
    return pairs


def _limit(text) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise BadInput(f"--limit {text}: a positive number of concepts per language pair")
    return value


def _batch(text: str) -> int | None:
    """None for auto."""
    if str(text) == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise BadInput(f"--batch_size {text}: a positive number or auto")
    return value


def _load(args):
    import lm_eval.api.registry
    from lm_eval.models.huggingface import HFLM

    try:
        cls = lm_eval.api.registry.get_model(args.model)
    except ValueError as err:
        raise BadInput(f"--model {args.model}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, HFLM)):
        raise BadInput(f"--model {args.model}: the logit lens reads the model's layers, which lm-eval exposes for its "
                       "hf backend only (--model hf); an API or vLLM model has none to read")
    try:
        return cls.create_from_arg_string(args.model_args, {"batch_size": 1, "device": args.device})
    except (OSError, ValueError, TypeError) as err:
        raise BadInput(f"--model {args.model} --model_args {args.model_args!r}: cannot be loaded ({err})") from None


def tokenizer_id(tokenizer, vocab: tk.Vocabulary) -> str:
    digest = hashlib.sha256(b"\x00".join(b"\x01" if b is None else b + b"\x02" for b in vocab.token_bytes))
    return f"{type(tokenizer).__name__}/{vocab.scheme}/{len(vocab.token_bytes)}/{digest.hexdigest()[:12]}"


def measure(lm, lens, items: list[dict], batch: int | None, start: int, log=lambda msg: None) \
        -> tuple[list, int, float]:
    """Run every prompt, longest first; per item its (p_target, p_english, entropy) rows, the batch
    size used and the largest lens check. `batch` None: auto, from `start`, halved while the GPU
    runs out of memory (the longest prompts come first, so a size that fits them fits the rest)."""
    import torch

    size = batch or start
    lengths = [len(lm.tok_encode(it["prompt"])) for it in items]
    order = sorted(range(len(items)), key=lambda i: -lengths[i])
    half = next(p.dtype for p in lm.model.parameters()) in (torch.float16, torch.bfloat16)
    tolerance = 5e-2 if half else 2e-3
    out: list = [None] * len(items)
    worst, start, done = 0.0, 0, 0
    while start < len(order):
        chunk = order[start:start + size]
        ids, mask = lm.tok_batch_encode([items[i]["prompt"] for i in chunk], padding_side="left")
        try:
            values = lens.run(ids.to(lm.device), mask.to(lm.device), [items[i]["target_ids"] for i in chunk],
                              [items[i]["english_ids"] for i in chunk])
        except torch.cuda.OutOfMemoryError:
            if batch is not None or size == 1:
                raise
            size //= 2
            torch.cuda.empty_cache()
            log(f"      out of GPU memory: batch size {size}")
            continue
        if values.check > tolerance:
            from lm_eval_ext.latent.lens import LensError

            raise LensError(f"{type(lm.model).__name__}: the last layer through the lens ({lens.describe()}) differs "
                            f"from the model's own next-token distribution by {values.check:.2g} (> {tolerance:g}): "
                            "the model transforms its output in a way the lens does not know")
        worst = max(worst, values.check)
        for row, i in enumerate(chunk):
            out[i] = (values.p_target[row].tolist(), values.p_english[row].tolist(), values.entropy[row].tolist())
        start += len(chunk)
        done += 1
        if done == 1 or done % 20 == 0:
            log(f"      {start}/{len(order)} prompts (batch size {size})")
    return out, size, worst


def run(args) -> int:
    from lm_eval_ext.latent import summary
    from lm_eval_ext.latent.lens import LensError, LogitLens
    from lm_eval_ext.metrics import bootstrap

    started = time.time()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    def bad(err) -> int:
        print(f"lm-eval-ext latent-language: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT

    args.seed = bootstrap.DEFAULT_SEED if args.seed is None else args.seed
    args.bootstrap_iters = args.bootstrap_iters or bootstrap.DEFAULT_ITERS
    floor = summary.FLOOR if args.share_floor is None else args.share_floor
    try:
        if not 0 <= floor < 1:
            raise BadInput(f"--share_floor {floor}: a probability in [0, 1)")
        if args.shots < 0 or args.bootstrap_iters < 1:
            raise BadInput(f"--shots {args.shots} / --bootstrap_iters {args.bootstrap_iters}: "
                           "need shots >= 0, iters >= 1")
        pairs = plan(args)
        limit, batch = _limit(args.limit), _batch(args.batch_size)
        pools = {pair: cc.pool(sorted(set(pair))) for pair in pairs}
        versions = cc.versions()
    except (BadInput, cc.UnknownLanguage, cc.MissingBabel) as err:
        return bad(err)
    out_root = Path(args.output_path).expanduser().resolve()
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return bad(f"--output_path {out_root}: {err.strerror or err}")

    log(f"[1/4] loading {args.model} ({args.model_args}) through lm-eval's registry")
    load_start = time.time()
    try:
        lm = _load(args)
        lens = LogitLens(lm.model)
        vocab = tk.Vocabulary.of(lm.tokenizer)
    except (BadInput, LensError, tk.TokenizerError) as err:
        return bad(err)
    load_s = time.time() - load_start

    log(f"[2/4] concepts from CLDR (babel {versions['babel']}, CLDR {versions['cldr']}), filtered for the tokenizer")
    items, plans = [], {}
    for source, target in pairs:
        key = fmt.pair_key(source, target)
        chosen = tk.select(pools[(source, target)], vocab, target, source if args.task == "translation" else None)
        if not chosen.kept:
            reasons = ", ".join(f"{n} {r}" for r, n in chosen.dropped.items() if n)
            return bad(f"{key}: every one of the {len(pools[(source, target)])} CLDR concepts was filtered out for "
                       f"this tokenizer ({reasons or 'none in CLDR'}); nothing to measure")
        kept = chosen.kept
        if limit is not None and limit < len(kept):
            kept = sorted(random.Random(f"{args.seed}|{key}").sample(kept, limit), key=chosen.kept.index)
        plans[key] = (source, target, chosen, kept)
        for concept in kept:
            examples = pr.shots_for(concept, chosen.kept, args.shots, args.seed, key)
            target_ids, english_ids, shared = tk.exclusive_ids(vocab, concept.word(target), concept.word(cc.ENGLISH))
            items.append({"pair": key, "prompt": pr.prompt(args.task, concept, examples, target, source),
                          "target_ids": target_ids, "english_ids": english_ids, "shared": shared})
        log(f"      {key}: {len(kept)} concepts ({chosen.n_dropped} dropped: "
            + ", ".join(f"{n} {r}" for r, n in chosen.dropped.items() if n) + ")")

    log(f"[3/4] {len(items)} prompts through {lens.points} layers (embeddings + {lens.points - 1}), "
        f"lens {lens.describe()}")
    forward_start = time.time()
    try:
        on_gpu = str(lm.device).startswith("cuda")
        values, used_batch, worst = measure(lm, lens, items, batch, args.max_batch_size if on_gpu else CPU_BATCH, log)
    except LensError as err:
        return bad(err)
    forward_s = time.time() - forward_start

    log("[4/4] means over concepts with bootstrap CIs")
    results = {}
    for key, (source, target, chosen, kept) in plans.items():
        rows = [v for it, v in zip(items, values) if it["pair"] == key]
        stats = summary.summarize([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                                  iters=args.bootstrap_iters, seed=args.seed, floor=floor)
        example = next(it["prompt"] for it in items if it["pair"] == key)
        results[key] = fmt.PairResult(source=source, target=target, n=stats["n"], p_target=stats["p_target"],
                                      p_english=stats["p_english"], entropy=stats["entropy"], ci=stats["ci"],
                                      english_share=stats["english_share"], middle_third=stats["middle_third"],
                                      dropped=chosen.dropped,
                                      kept=cc.category_counts(kept), shots=args.shots, example=example,
                                      shared=sum(1 for it in items if it["pair"] == key and it["shared"]))
    model = {"model": args.model, "model_args": args.model_args,
             "model_name": model_identity.model_name({"config": {"model": args.model, "model_args": args.model_args}})}
    if hasattr(lm, "get_model_info"):
        model.update({k: v for k, v in lm.get_model_info().items() if isinstance(v, (str, int, float))})
    sig = Signature.of((METHOD, f"v{METHOD_VERSION}"), ("task", args.task),
                       ("template", f"{args.task}-v{pr.TEMPLATE_VERSION}"), ("shots", args.shots),
                       ("concepts", f"cldr-{versions['cldr']}"), ("babel", versions["babel"]),
                       ("limit", limit or "all"), ("seed", args.seed), ("tokenizer", tokenizer_id(lm.tokenizer, vocab)),
                       ("mass", "prefix-bytes+space,exclusive"),
                       ("share", f"peak-intermediate(floor {floor:g})"))
    english_pool = cc.pool([])
    doc = fmt.LatentLanguageResults(
        model=model, layers=lens.points, signature=str(sig), task=args.task, pairs=results,
        concepts={"source": "CLDR via babel", "babel": versions["babel"], "cldr": versions["cldr"],
                  "categories": cc.category_counts(english_pool)},
        settings={"template": pr.TEMPLATES[args.task], "separator": pr.SEPARATOR, "shots": args.shots,
                  "seed": args.seed, "limit": limit, "batch_size": used_batch, "device": str(lm.device),
                  "dtype": str(next(lm.model.parameters()).dtype).replace("torch.", ""),
                  "bootstrap": summary.ci_signature(args.bootstrap_iters, args.seed),
                  "share": summary.share_rule(floor),
                  "lens": lens.describe(), "lens_check_max_abs_diff": worst, "prompts": len(items),
                  "seconds": {"load": round(load_s, 2), "forward": round(forward_s, 2),
                              "total": round(time.time() - started, 2)}},
        date=time.time(), lm_eval_ext_version=__version__)
    from lm_eval.utils import sanitize_model_name

    folder = out_root / sanitize_model_name(model["model_name"])
    path = folder / fmt.file_name(datetime.now().isoformat().replace(":", "-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fmt.write(path, doc)
    except OSError as err:
        return bad(f"{path}: cannot be written ({err.strerror or err})")
    _print_table(doc)
    print(f"\nsaved: {path}\nwall time: {time.time() - started:.0f} s (forward passes {forward_s:.0f} s)")
    return ExitCode.OK


def _print_table(doc: fmt.LatentLanguageResults) -> None:
    print(f"\n{'pair':<10} {'n':>5} {'dropped':>8} {'English-latent share [95% CI]':>31} {'peak':>5} "
          f"{'P(en) there':>12} {'P(target) last':>15}")
    for key, p in doc.pairs.items():
        s = p.english_share
        share = f"{s['value']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}]" if s else "undefined"
        peak, mass = (str(s["peak_layer"]), f"{s['p_english_at_peak']:.3f}") if s else ("-", "-")
        print(f"{key:<10} {p.n:>5} {sum(p.dropped.values()):>8} {share:>31} {peak:>5} {mass:>12} "
              f"{p.p_target[-1]:>15.3f}")


def add_parser(sub, func) -> None:
    p = sub.add_parser(
        "latent-language", help="which language the model thinks in: logit-lens P(target) and P(English) per layer "
        "(Wendler et al. 2024) on CLDR concepts",
        description="Decodes every layer's residual stream at the last prompt position through the model's final "
        "norm and unembedding (the logit lens) on few-shot word prompts built from CLDR's localized names (babel), "
        "and writes per layer the probability mass of the target-language and the English word, the entropy, and "
        "the English-latent share into OUT/<model>/latent_language_<date>.json (read by report, leaderboard, "
        "compare). Exit 0 ok, 2 bad input, 70 internal error, 130 interrupted.")
    p.add_argument("--model", default="hf", help="lm-eval model backend of the hf family (default hf)")
    p.add_argument("--model_args", required=True, help="as for lm_eval, e.g. pretrained=org/model,dtype=bfloat16")
    p.add_argument("--langs", required=True, help="comma-separated target languages (CLDR codes: de,fr,zh,ja,ru,sw)")
    p.add_argument("--source", help=f"source language of the translation prompt (default {DEFAULT_SOURCE}; "
                   f"{SECOND_SOURCE} for the target {DEFAULT_SOURCE}); en puts the English word in the prompt")
    p.add_argument("--task", default="translation", choices=pr.TASKS)
    p.add_argument("--limit", help="concepts per language pair (a seeded sample; default all that pass the filter)")
    p.add_argument("--shots", type=int, default=4, help="example lines before the open one (default 4)")
    p.add_argument("--batch_size", default="auto", help="prompts per forward pass, or auto (default)")
    p.add_argument("--max_batch_size", type=int, default=64, help="where auto starts on a GPU (default 64)")
    p.add_argument("--device", default="cuda:0", help="as for lm_eval (the hf backend falls back to the CPU)")
    p.add_argument("--seed", type=int, help="seed of the concept sample, the shots and the bootstrap (default: the "
                   "bootstrap's, 1234)")
    p.add_argument("--bootstrap_iters", type=int, help="bootstrap resamples of the concepts (default 2000)")
    p.add_argument("--share_floor", type=float, help="least mean mass on the two words for a layer to count in the "
                   "English-latent share (default 0.01; a random or tiny model may need less)")
    p.add_argument("--output_path", required=True, help="output folder (as lm_eval --output_path)")
    p.set_defaults(func=func)
