"""Judge throughput (items/s) against a loopback OpenAI-compatible server with a
fixed per-request latency, at several concurrency levels, and the cache hit rate
and speed of a rerun. Everything in one process and one run, so the ratios are
comparable; absolute numbers depend on the machine.

    python benchmarks/judge_throughput.py [ITEMS_PER_LANG] [LATENCY_S]

The server is tests/support/loopback.py's ScriptedServer (real HTTP on 127.0.0.1) whose
judge sleeps LATENCY_S (default 0.05) and then answers in the required format;
the run folder holds real XQuAD items (de, en) from ../shared/data.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
DATA = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", ROOT.parent / "shared" / "data"))


def main(per_lang: int = 100, latency: float = 0.05) -> None:
    from support.judge_runs import qa_task, write_run
    from support.loopback import ScriptedServer

    from lm_eval_ext.judge.client import JudgeCache, OpenAIJudge
    from lm_eval_ext.judge.pipeline import JudgeJob
    from lm_eval_ext.reporting.runs import load_runs

    tmp = Path(tempfile.mkdtemp(prefix="judge_bench_"))
    run_dir = write_run(tmp / "run", "bench/model", {
        f"xquad_{lang}": qa_task(DATA, lang, per_lang, lambda i, d: d["answers"]["text"][0] if i % 3 else "no idea")
        for lang in ("de", "en")})
    n_items = 2 * per_lang

    def judge(kind, payload):
        time.sleep(latency)
        return "Checked against the gold answers.\nVerdict: yes"

    sampling = {"temperature": 0, "max_tokens": 64}
    rows = []
    with ScriptedServer(judge) as server:
        def one(concurrency: int, cache_path: Path):
            (run,), _ = load_runs([run_dir])
            backend = OpenAIJudge(server.base_url, "bench", sampling=sampling, concurrency=concurrency,
                                  timeout=30, backoff=0.05)
            cache = JudgeCache(cache_path)
            job = JudgeJob(backend, cache, sampling, progress=False, bootstrap_iters=200)
            start = time.perf_counter()
            _, doc = job.run_single(run)
            wall = time.perf_counter() - start
            cache.close()
            r = doc["requests"]
            return wall, r["cache_hits"], r["http_requests"]

        for c in (1, 4, 16):
            wall, hits, sent = one(c, tmp / f"cache_c{c}.sqlite")
            rows.append((f"concurrency {c}", wall, n_items / wall, hits, sent))
        wall, hits, sent = one(16, tmp / "cache_c16.sqlite")
        rows.append(("rerun (concurrency 16, warm cache)", wall, n_items / wall, hits, sent))
    print(f"{n_items} items (XQuAD de+en, qa_equiv), server latency {latency * 1000:.0f} ms per request\n")
    print("| run | wall (s) | items/s | cache hits | HTTP requests | cache hit rate |")
    print("|---|---|---|---|---|---|")
    for name, wall, ips, hits, sent in rows:
        print(f"| {name} | {wall:.2f} | {ips:.1f} | {hits} | {sent} | {hits / (hits + sent):.0%} |")


if __name__ == "__main__":
    main(*(int(sys.argv[1]),) if len(sys.argv) > 1 else (),
         **({"latency": float(sys.argv[2])} if len(sys.argv) > 2 else {}))
