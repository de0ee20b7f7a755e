#!/usr/bin/env python3
"""Re-run the OFFICIAL PolyMath checker (QwenLM/PolyMath eval/) on a pair set.

This script contains no checker logic of its own: it only imports and calls the official
code (`eval/run_eval.py: extract_boxed_content, evaluation` and `eval/scripts.py: math_equal`)
from an extracted copy of the repository, inside the reference virtualenv.  It fetches and
builds nothing.

    python3 regenerate.py --repo /path/to/polymath-repo --python /path/to/polymath-ref/bin/python
        [--pairs pairs.jsonl] [--out reference_verdicts.jsonl] [--jobs 2] [--hard-timeout 120]
        [--variants untimed,official,warm,direct] [--update]

    # CI / quick: only the deterministic reference verdicts
    python3 regenerate.py --repo R --python PY --variants untimed,direct

    # adversarial set (long strings are stored run-length encoded as "pred_segments"/"gold_segments")
    python3 regenerate.py --repo R --python PY --pairs adversarial.jsonl --out adversarial_verdicts.jsonl \
        --hard-timeout 90 --variants untimed,official

    # language-consistency reference (runs the official evaluation() once per case)
    python3 regenerate.py --repo R --python PY --langdetect langdetect_cases.jsonl --out langdetect_reference.jsonl

The orchestrator runs under any Python 3; it starts <= --jobs (max 2) worker processes with the
reference interpreter (--python), which re-enter this file with --worker.

For every pair a worker forks a fresh process (own process group, --mem-gb address-space limit,
--hard-timeout wall limit) and does what run_eval.py does for one item:

    extracted = extract_boxed_content("\\boxed{" + pred + "}")     # pred null -> no box -> None
    extracted = extracted[0] if extracted else None
    ok        = math_equal(extracted, gold)                        # official defaults

Variants (output fields):
  untimed  -> "verdict": the deterministic reference. scripts.call_with_timeout (the official 1 s
              sympy subprocess) is replaced by an in-process call of the same official function, so
              the official logic runs to completion (only --hard-timeout applies). Reproducible
              across machines/loads.
  official -> "asrun_verdict" (+ asrun_seconds, n_sub, n_sub_timeout, max_sub_s, extracted):
              exactly run_eval.py, official 1 s subprocess timeouts, parent state as in run_eval.py
              (sympy's LaTeX parser not pre-loaded, so every subprocess pays its import). Depends on
              machine speed and load. call_with_timeout is only wrapped to time it: a call that
              returns False after >= 0.98 * timeout counts as a timeout.
  warm     -> "warm_verdict": as official, but the worker pre-loads sympy's LaTeX parser (by calling
              the official symbolic_equal once) before forking: approximates a fast machine.
  direct   -> "direct_verdict": untimed math_equal(pred, gold) WITHOUT box extraction, only for pairs
              where extraction changed the string (run_eval.py removes all ASCII spaces).

Verdict values: "true" | "false" | "timeout" (False, and at least one 1 s sympy subprocess was
killed; run_eval.py counts it as wrong) | "error" (math_equal raised: run_eval.py would crash) |
"hang" (exceeded --hard-timeout; killed by this harness).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------------------------------
# orchestrator (any python3)
# ------------------------------------------------------------------------------------------

def expand_segments(segs):
    return "".join(u * t for u, t in segs)


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_workers(a, rows, mode, variant, jobs, tmp):
    shards = [rows[i::jobs] for i in range(jobs)]
    procs = []
    for k, shard in enumerate(shards):
        inp = os.path.join(tmp, f"{variant}_in{k}.jsonl")
        out = os.path.join(tmp, f"{variant}_out{k}.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for r in shard:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        cmd = [a.python, os.path.abspath(__file__), "--worker", "--mode", mode, "--variant", variant,
               "--repo", os.path.abspath(a.repo), "--in", inp, "--out-shard", out,
               "--hard-timeout", str(a.hard_timeout), "--mem-gb", str(a.mem_gb)]
        procs.append((subprocess.Popen(cmd), out))
    rc = 0
    for p, _ in procs:
        rc |= p.wait()
    if rc:
        sys.exit(f"worker failed (rc={rc}); shard files kept in {tmp}")
    results = {}
    for _, out in procs:
        for r in load_jsonl(out):
            results[r["id"]] = r
    return results


def orchestrate(a):
    tmp = tempfile.mkdtemp(prefix="polymath_regen_")
    t0 = time.time()
    if a.langdetect:
        rows = load_jsonl(a.langdetect)
        res = run_workers(a, rows, "langdetect", "official", 1, tmp)
        merged = [res[r["id"]] for r in rows]
    else:
        all_rows = load_jsonl(a.pairs)
        rows = all_rows
        if a.ids:
            wanted = set(a.ids.split(","))
            rows = [r for r in all_rows if r["id"] in wanted]
        jobs = max(1, min(a.jobs, 2))
        variants = [v for v in a.variants.split(",") if v]
        per = {}
        for v in variants:
            t1 = time.time()
            per[v] = run_workers(a, rows, "pairs", v, jobs, tmp)
            print(f"variant {v}: {time.time() - t1:.0f}s", file=sys.stderr)
        merged = []
        previous = {}
        if a.update and os.path.exists(a.out):
            previous = {x["id"]: x for x in load_jsonl(a.out)}
        run_ids = {r["id"] for r in rows}
        for r in (all_rows if a.update else rows):
            rec = dict(previous.get(r["id"], {"id": r["id"]}))
            if r["id"] not in run_ids:  # --ids: keep the previous record untouched
                merged.append(rec)
                continue
            if "untimed" in per:  # the deterministic reference: official logic, no 1 s limit
                u = per["untimed"][r["id"]]
                rec["verdict"] = u["verdict"]
                if "error" in u:
                    rec["error"] = u["error"]
                rec["untimed_seconds"] = u["seconds"]
            if "official" in per:  # exactly as run_eval.py, on this machine
                o = per["official"][r["id"]]
                rec["asrun_verdict"] = o["verdict"]
                for k in ("seconds", "n_sub", "n_sub_timeout", "max_sub_s", "extracted_differs", "extracted", "error"):
                    if k in o:
                        rec[("asrun_" + k) if k in ("seconds", "error") else k] = o[k]
            if "warm" in per:
                rec["warm_verdict"] = per["warm"][r["id"]]["verdict"]
            if "direct" in per and r["id"] in per["direct"]:
                rec["direct_verdict"] = per["direct"][r["id"]]["verdict"]
            if "verdict" not in rec:
                rec["verdict"] = rec.get("asrun_verdict")
            merged.append(rec)
    with open(a.out, "w", encoding="utf-8") as f:
        for rec in merged:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(merged)} rows to {a.out} in {time.time() - t0:.0f}s", file=sys.stderr)


# ------------------------------------------------------------------------------------------
# worker (reference venv python)
# ------------------------------------------------------------------------------------------

def import_official(repo):
    """Import the official modules. The only adaptation: bundled/symeval ships no __init__.py
    exporting EvaluatorMath, which scripts.py imports (`from bundled.symeval import
    EvaluatorMath`).  We import the bundled core module and expose the class on the
    (namespace) package object before importing scripts.py.  No official file is modified."""
    sys.path.insert(0, os.path.join(repo, "eval"))
    import bundled.symeval as symeval_pkg
    if not hasattr(symeval_pkg, "EvaluatorMath"):
        import bundled.symeval.core as symeval_core
        symeval_pkg.EvaluatorMath = symeval_core.EvaluatorMath
    import scripts
    import run_eval
    return scripts, run_eval


def worker_pairs(a):
    import queue
    import resource
    import select
    import signal

    scripts, run_eval = import_official(a.repo)
    calls = []  # (seconds, timed_out) per sympy subprocess; filled in the forked child
    orig_cwt = scripts.call_with_timeout

    def observed_call_with_timeout(func, *args, timeout=1, **kwargs):
        t = time.time()
        r = orig_cwt(func, *args, timeout=timeout, **kwargs)
        dt = time.time() - t
        calls.append((dt, bool(r) is False and dt >= 0.98 * timeout))
        return r

    def inprocess_call(func, *args, timeout=1, **kwargs):
        """'untimed' variant: run the official worker function in-process, no time limit."""
        q = queue.Queue()
        t = time.time()
        func(*args, q, **kwargs)
        calls.append((time.time() - t, False))
        return q.get()

    if a.variant in ("warm", "untimed", "direct"):
        # pre-load sympy's lazily imported LaTeX parser etc. by running official code once
        for x, y in (("\\frac{1}{2}", "0.5"), ("x+1", "1+x"), ("(1,2)", "(1,2)")):
            scripts.symbolic_equal(x, y)
    scripts.call_with_timeout = inprocess_call if a.variant in ("untimed", "direct") else observed_call_with_timeout

    def run_one(fn):
        """fork; child runs fn() -> dict; returns (dict | None on hang, seconds)."""
        r_fd, w_fd = os.pipe()
        t = time.time()
        pid = os.fork()
        if pid == 0:  # child
            os.close(r_fd)
            try:
                os.setpgid(0, 0)
                lim = int(a.mem_gb * 2**30)
                resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
                res = fn()
            except BaseException as e:  # noqa
                res = {"verdict": "error", "error": f"{type(e).__name__}: {str(e)[:200]}"}
            try:
                os.write(w_fd, json.dumps(res).encode())
            finally:
                os._exit(0)
        os.close(w_fd)
        buf = b""
        deadline = t + a.hard_timeout
        hung = False
        while True:
            left = deadline - time.time()
            if left <= 0:
                hung = True
                break
            rd, _, _ = select.select([r_fd], [], [], min(left, 1.0))
            if rd:
                chunk = os.read(r_fd, 65536)
                if not chunk:
                    break
                buf += chunk
        if hung:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.close(r_fd)
        os.waitpid(pid, 0)
        try:  # anything left in the pair's process group (e.g. orphaned sympy subprocesses)
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        dt = time.time() - t
        if hung:
            return None, dt
        try:
            return json.loads(buf.decode() or "null"), dt
        except json.JSONDecodeError:
            return {"verdict": "error", "error": "child died without result"}, dt

    def judge(pred, gold):
        def fn():
            calls.clear()
            r = scripts.math_equal(pred, gold)  # official call, official defaults
            n_to = sum(1 for _, x in calls if x)
            verdict = "true" if r else ("timeout" if n_to else "false")
            return {"verdict": verdict, "n_sub": len(calls), "n_sub_timeout": n_to,
                    "max_sub_s": round(max([c[0] for c in calls], default=0.0), 3)}
        return run_one(fn)

    rows = load_jsonl(a.inp)
    with open(a.out_shard, "w", encoding="utf-8") as out:
        for r in rows:
            pred = r.get("pred")
            if pred is None and "pred_segments" in r:
                pred = expand_segments(r["pred_segments"])
            gold = r.get("gold")
            if gold is None and "gold_segments" in r:
                gold = expand_segments(r["gold_segments"])
            if pred is None:
                extracted = None
            else:
                ex = run_eval.extract_boxed_content("\\boxed{" + pred + "}")  # as run_eval.py does
                extracted = ex[0] if len(ex) > 0 else None
            rec = {"id": r["id"]}
            if a.variant == "direct":
                if pred is None or extracted == pred:
                    continue
                res, dt = judge(pred, gold)
            else:
                res, dt = judge(extracted, gold)
            if res is None:
                rec.update({"verdict": "hang"})
            else:
                rec.update(res)
            rec["seconds"] = round(dt, 3)
            if a.variant == "official":
                rec["extracted_differs"] = extracted != pred
                if extracted is not None and len(extracted) <= 300 and extracted != pred:
                    rec["extracted"] = extracted
                elif extracted is None and pred is not None:
                    rec["extracted"] = None
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()


def worker_langdetect(a):
    """Run the official run_eval.evaluation() once per case (one-item output file); the
    per-item consistency verdict is read back from the score.json it writes (100.0 or 0.0)."""
    import contextlib
    import io
    from argparse import Namespace
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0
    scripts, run_eval = import_official(a.repo)
    seen = []
    orig = run_eval.detect_langs

    def observed_detect_langs(text):  # observation only: record what the official code asked
        try:
            res = orig(text)
        except Exception as e:
            seen.append({"input_len": len(text), "detected": None, "exception": type(e).__name__})
            raise
        seen.append({"input_len": len(text), "detected": [f"{l.lang}:{l.prob:.3f}" for l in res]})
        return res

    run_eval.detect_langs = observed_detect_langs
    rows = load_jsonl(a.inp)
    root = tempfile.mkdtemp(prefix="polymath_ld_")
    cwd = os.path.join(root, "eval")
    os.makedirs(cwd)
    old = os.getcwd()
    with open(a.out_shard, "w", encoding="utf-8") as out:
        for r in rows:
            model = "case_" + r["id"]
            d = os.path.join(root, "output", model, "low")
            os.makedirs(d)
            with open(os.path.join(d, r["lang"] + ".jsonl"), "w", encoding="utf-8") as f:
                f.write(json.dumps({"idx": 0, "question": "", "answer": "0", "thinking_pred": r["text"],
                                    "answer_pred": r["text"]}, ensure_ascii=False) + "\n")
            seen.clear()
            os.chdir(cwd)
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    run_eval.evaluation(Namespace(model=model, language=r["lang"], level="low"))
            finally:
                os.chdir(old)
            with open(os.path.join(root, "output", model, "score.json"), encoding="utf-8") as f:
                sc = json.load(f)[r["lang"]]["low"]
            rec = {"id": r["id"], "kind": r.get("kind"), "lang": r["lang"], "text": r["text"],
                   "consistent": sc["answer_lang_cons"] == 100.0,
                   "thinking_consistent": sc["thinking_lang_cons"] == 100.0,
                   "langdetect_called": bool(seen)}
            if seen:
                rec["detected"] = seen[-1].get("detected")
                rec["stripped_len"] = seen[-1]["input_len"]
                if seen[-1].get("exception"):
                    rec["exception"] = seen[-1]["exception"]
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, help="extracted QwenLM/PolyMath checkout")
    ap.add_argument("--python", help="python of the reference venv (orchestrator mode)")
    ap.add_argument("--pairs", default=os.path.join(HERE, "pairs.jsonl"))
    ap.add_argument("--langdetect", help="cases file (id, text, lang); switches to language-consistency mode")
    ap.add_argument("--out", default=os.path.join(HERE, "reference_verdicts.jsonl"))
    ap.add_argument("--jobs", type=int, default=2, help="parallel workers (capped at 2)")
    ap.add_argument("--hard-timeout", type=float, default=120.0, help="per-pair wall limit of this harness (s)")
    ap.add_argument("--mem-gb", type=float, default=4.0, help="address-space limit per pair (GiB)")
    ap.add_argument("--update", action="store_true",
                    help="keep the other variants' fields of an existing --out file, replace only those run now")
    ap.add_argument("--ids", help="comma list of pair ids to (re)run; use with --update")
    ap.add_argument("--variants", default="untimed,official,warm,direct",
                    help="comma list of: untimed (reference verdict), official (as run_eval.py), warm, direct")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="official", help=argparse.SUPPRESS)
    ap.add_argument("--in", dest="inp", help=argparse.SUPPRESS)
    ap.add_argument("--out-shard", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        (worker_langdetect if a.mode == "langdetect" else worker_pairs)(a)
    else:
        if not a.python:
            ap.error("--python is required")
        orchestrate(a)


if __name__ == "__main__":
    main()
