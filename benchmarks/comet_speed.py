"""COMET scoring speed: lm-eval-ext's batching vs comet's own ``predict``, one run.

Builds a COMET ``RegressionMetric`` (the class of Unbabel/wmt22-comet-da) on a
small XLM-R encoder of the real architecture (tests/support/tiny_mt_models.py; sizes
``small``: hidden 256, 4 layers; ``large``: XLM-R-large shapes, for a GPU), and
scores the same 1012 x N (source, hypothesis, reference) triples of real FLORES
sentences (English sources, German references, degraded German hypotheses; the
N copies differ, so deduplication does not help):

- comet: ``model.predict(samples)`` with its defaults (batch_size 16, length
  batching by source length, Lightning trainer; progress bar off);
- ours: `neural.segment_scores` with the cache off (sorted by the
  longest of the three texts, the default batch size (16 CPU, 64 GPU) or --batch-size, inference_mode,
  no trainer).

Both run in this process on the same model object, alternating, after a warm-up;
the table reports the median of REPEATS timings and the ratio, and checks the
scores agree.

    python benchmarks/comet_speed.py [N] [--size small|large] [--batch-size B] [--repeats R] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
DATA = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", REPO.parent / "shared" / "data"))


def texts(code):
    with open(DATA / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def triples(n_copies: int):
    src, ref = texts("eng_Latn"), texts("deu_Latn")
    out = []
    for c in range(n_copies):
        for i, (s, r) in enumerate(zip(src, ref)):
            words = r.split()
            hyp = " ".join(w for j, w in enumerate(words) if (j + c) % (3 + i % 4) != 1)
            out.append((s, hyp, r))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1)
    ap.add_argument("--size", default="small", choices=["tiny", "small", "large"])
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads for both scorers (0: torch's default; 1 on an oversubscribed VM)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from support import tiny_mt_models as tm

    tmp = Path(tempfile.mkdtemp(prefix="comet_speed_"))
    texts_for_tok = tm.flores_texts(DATA)
    encoder = tm.build_encoder(texts_for_tok, tmp / "encoder", args.size)
    comet_dir = tm.build_comet(encoder, tmp / "comet")
    os.environ["LM_EVAL_EXT_COMET"] = f"{comet_dir};encoder={encoder}" + (
        f";batch_size={args.batch_size}" if args.batch_size else "")
    os.environ["LM_EVAL_EXT_SCORE_CACHE"] = "off"
    os.environ["HF_HUB_OFFLINE"] = "1"
    from lm_eval_ext.runtime import neural

    scorer = neural.scorer("comet")
    model, batch = scorer.model, scorer.cfg.batch_size
    data = triples(args.n)
    samples = [{"src": s, "mt": h, "ref": r} for s, h, r in data]
    gpus = 1 if torch.cuda.is_available() else 0

    def run_comet():
        return model.predict(samples, gpus=gpus, progress_bar=False).scores

    def run_ours():
        return neural.segment_scores("comet", data)

    # warm-up on a slice (allocator, kernels)
    model.predict(samples[:64], gpus=gpus, progress_bar=False)
    neural.segment_scores("comet", data[:64])
    timings = {"comet predict (defaults)": [], f"lm-eval-ext (batch {batch})": []}
    results = {}
    for _ in range(args.repeats):
        for label, fn in zip(timings, (run_comet, run_ours)):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            results[label] = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            timings[label].append(time.perf_counter() - start)
    a, b = results.values()
    max_diff = max(abs(x - y) for x, y in zip(a, b))
    device = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
              else f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)")
    hidden, layers, heads, inter = tm.SIZES[args.size]
    print(f"COMET RegressionMetric, XLM-R encoder hidden {hidden} x {layers} layers, {len(data)} segments "
          f"(1012 x {args.n}), {device}, torch {torch.__version__}, {args.repeats} repeat(s)")
    print("| scorer | median s | segments/s |")
    print("|---|---:|---:|")
    med = {k: statistics.median(v) for k, v in timings.items()}
    for label, t in med.items():
        print(f"| {label} | {t:.2f} | {len(data) / t:.0f} |")
    base, ours = med.values()
    print(f"\nspeed-up (comet predict time / ours): {base / ours:.2f}x; max |score difference| {max_diff:.2e}")


if __name__ == "__main__":
    main()
