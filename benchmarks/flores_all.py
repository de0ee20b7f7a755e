"""All 406 FLORES-200 directions in one lm-eval process, on the loopback oracle: scale and exactness.

    python benchmarks/flores_all.py run WORK [--limit 20] [--mode oracle|mixed] [--comet MODELS_DIR]
    python benchmarks/flores_all.py tools WORK              # report / leaderboard / compare over the runs
    python benchmarks/flores_all.py check WORK [--mode M]   # verify a finished run again

`run` starts a scripted OpenAI-compatible server on loopback (tests/support/flores_oracle.py)
and runs plain ``lm_eval run --tasks flores_all --limit N`` against it, then one single task
the same way, and records wall time, lm-eval's own evaluation time, the peak memory of the
lm_eval process (ru_maxrss) and the per-task overhead ((all - one task) / 405). Modes:

- ``oracle``: every reply is the reference: chrF++ 100 in every direction and BLEU 100 wherever
  it is defined (NaN with the reason into unspaced scripts), but where the documented reply-cleaning
  rule changes a reference (one pair of quotes wrapping it while its source is not quoted) or a
  source sentence repeats another item's with another reference; those directions are listed
  with why, and every number must still equal sacreBLEU on the replies as scored;
- ``mixed``: each direction gets the reference, the copied source or the next item's
  reference (by a hash of the direction): every BLEU and chrF++ must equal sacreBLEU on the
  same (cleaned) replies.

With ``--comet DIR`` COMET runs with the tiny real checkpoint of tests/support/tiny_mt_models.py
(built into DIR by the neural side environment): one model load for the process.

`tools` times ``lm-eval-ext report`` over the oracle run (and the mixed one, as a second
column, when it exists), ``leaderboard`` (default and ``--per-language``) and ``compare``.
Every check that fails is printed and makes the exit status 1. Heavy: run it once, not in CI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import sacrebleu  # noqa: E402
from support.flores_oracle import MODES, FloresOracle  # noqa: E402
from support.loopback import ScriptedServer  # noqa: E402

from lm_eval_ext import languages  # noqa: E402
from lm_eval_ext.families import flores_tasks  # noqa: E402
from lm_eval_ext.metrics import langid, mt  # noqa: E402

EN = "eng_Latn"
BIN = Path(sys.executable).parent
SHARED = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


def directions() -> list[tuple[str, str]]:
    others = [c for c in languages.FLORES200 if c != EN]
    return [(c, EN) for c in others] + [(EN, c) for c in others]


def mixed_mode(src: str, tgt: str) -> str:
    return MODES[zlib.crc32(f"{src}-{tgt}".encode()) % len(MODES)]


def timed(cmd: list[str], env: dict) -> dict:
    """Wall time, CPU time (user + system of the command and its children, e.g. the COMET worker)
    and peak RSS (ru_maxrss of the largest, KiB) of one command. On a shared machine the CPU time is
    the number that does not depend on the load."""
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "wall = time.perf_counter() - t\n"
             "sys.stderr.write(p.stderr[-6000:])\n"
             "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "print(wall, r.ru_utime + r.ru_stime, r.ru_maxrss, p.returncode)")
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], env={**os.environ, **env}, capture_output=True, text=True)
    wall, cpu, rss, rc = proc.stdout.split()
    return {"wall_s": float(wall), "cpu_s": float(cpu), "max_rss_mib": int(rss) / 1024, "returncode": int(rc),
            "load_average": os.getloadavg(), "stderr": proc.stderr}


def lm_eval(tasks: str, out: Path, base_url: str, limit: int, env: dict) -> dict:
    cmd = [str(BIN / "lm_eval"), "run", "--model", "local-chat-completions", "--model_args",
           f"model=oracle,base_url={base_url}/chat/completions,num_concurrent=8", "--tasks", tasks,
           "--limit", str(limit), "--apply_chat_template", "--log_samples", "--output_path", str(out)]
    got = timed(cmd, env)
    if got["returncode"] != 0:
        raise SystemExit(f"lm_eval failed ({got['returncode']}):\n{got['stderr']}")
    (results,) = sorted(out.rglob("results_*.json"))[-1:]
    got["results_file"] = str(results)
    got["evaluation_s"] = float(json.loads(results.read_text(encoding="utf-8")).get("total_evaluation_time_seconds", "nan"))
    del got["stderr"]
    return got


def comet_env(models_dir: Path | None) -> dict:
    if models_dir is None:
        return {"LM_EVAL_EXT_COMET": "off"}
    paths = models_dir / "paths.json"
    if not paths.is_file():
        python = REPO / ".venv-neural" / "bin" / "python"
        subprocess.run([str(python), str(REPO / "tests" / "support" / "tiny_mt_models.py"), "build", str(SHARED),
                        str(models_dir)], check=True, env={**os.environ, "PYTHONPATH": ""})
    m = json.loads(paths.read_text())
    return {"LM_EVAL_EXT_COMET": f"{m['comet']};encoder={m['encoder']};batch_size=64",
            "LM_EVAL_EXT_NEURAL_PYTHON": str(REPO / ".venv-neural" / "bin" / "python")}


def below_100(oracle: FloresOracle, src: str, tgt: str, limit: int) -> list[str]:
    """Why a perfect translator cannot score 100 in a direction: items whose reference the documented
    reply-cleaning rule changes (a reference wrapped in quotes whose source is not: rule 5), items whose
    source sentence another item repeats with another reference (no reply can match both)."""
    from lm_eval_ext.families.flores import clean_translation

    why = []
    for k in range(limit):
        ref, source = oracle.text[tgt][k], oracle.text[src][k]
        if clean_translation(ref, src, tgt, source)[0] != ref.strip():
            why.append(f"item {k + 1}: the cleaning rule changes the reference")
        if oracle.index[src][source] != k and oracle.text[tgt][oracle.index[src][source]] != ref:
            why.append(f"item {k + 1}: its source repeats item {oracle.index[src][source] + 1}'s")
    return why


def check(results: dict, oracle: FloresOracle, mode_of, limit: int) -> tuple[list[str], dict]:
    """Every direction's numbers against sacreBLEU on the replies as scored; the failures, as lines, and
    (oracle mode) the directions where a perfect translator is below 100, with why."""
    bad, short = [], {}
    for src, tgt in directions():
        task = flores_tasks.task_name(src, tgt)
        r = results["results"].get(task)
        meta = (results["configs"].get(task) or {}).get("metadata") or {}
        if r is None:
            bad.append(f"{task}: not in the results")
            continue
        refs, hyps = oracle.text[tgt][:limit], oracle.hypotheses(src, tgt, limit)
        mode = mode_of(src, tgt)
        want_chrf = sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score
        if not math.isclose(r["chrfpp,translation"], want_chrf, abs_tol=1e-9):
            bad.append(f"{task} ({mode}): chrfpp {r['chrfpp,translation']} != {want_chrf}")
        why = below_100(oracle, src, tgt, limit) if mode == "oracle" else []
        if mode == "oracle" and (why or not math.isclose(want_chrf, 100.0)):
            short[task] = {"chrfpp": r["chrfpp,translation"], "bleu": r["bleu,translation"], "why": why}
            if not why:
                bad.append(f"{task}: a perfect translator scores chrF++ {want_chrf}, and no reason is known")
        if mt.bleu_tokenizer(tgt) == mt.UNDEFINED:
            if not (math.isnan(r["bleu,translation"]) and "without spaces" in meta["skipped_metrics"].get("bleu", "")):
                bad.append(f"{task}: BLEU should be NaN with the reason")
        else:
            tok = mt.bleu_tokenizer(tgt)
            want = sacrebleu.corpus_bleu(hyps, [refs], tokenize=tok).score
            if not math.isclose(r["bleu,translation"], want, abs_tol=1e-9):
                bad.append(f"{task} ({mode}, tok {tok}): bleu {r['bleu,translation']} != {want}")
        if langid.unavailable() is None and langid.label_of(tgt) is None:
            if not (math.isnan(r["lang_fidelity,translation"]) and "lingua does not know" in
                    meta["skipped_metrics"].get("lang_fidelity", "")):
                bad.append(f"{task}: lang_fidelity should be NaN with the reason")
    return bad, short


def run(args) -> int:
    work = Path(args.work)
    out = work / args.mode
    if out.exists():
        raise SystemExit(f"{out} exists: remove it to run again")
    codes = list(languages.FLORES200)
    mode_of = (lambda s, t: "oracle") if args.mode == "oracle" else mixed_mode
    oracle = FloresOracle(SHARED, codes, args.limit, mode_of=mode_of)
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "LM_EVAL_EXT_DATA_DIR": str(SHARED),
           "LM_EVAL_EXT_BLEURT": "off", "LM_EVAL_EXT_SCORE_CACHE": str(work / f"scores_{args.mode}.sqlite"),
           mt.SPM_ENV: str(work / "no-flores200.model"), **comet_env(args.comet)}
    with ScriptedServer(oracle) as server:
        one = lm_eval(flores_tasks.task_name(EN, "deu_Latn"), out / "one", server.base_url, args.limit, env)
        everything = lm_eval("flores_all", out / "all", server.base_url, args.limit, env)
        n_requests = len(server.requests)
    summary = {"mode": args.mode, "limit": args.limit, "requests": n_requests,
               "comet": env["LM_EVAL_EXT_COMET"] != "off", "one_task": one, "flores_all": everything}
    return verify(work, args.mode, summary, oracle, mode_of, args.limit)


def verify(work: Path, mode: str, summary: dict, oracle: FloresOracle, mode_of, limit: int) -> int:
    results = json.loads(Path(summary["flores_all"]["results_file"]).read_text(encoding="utf-8"))
    bad, short = check(results, oracle, mode_of, limit)
    n_tasks = sum(1 for name in results["results"] if name.startswith("flores_") and "-" in name)
    summary.update({
        "tasks": n_tasks,
        "per_task_overhead_s": (summary["flores_all"]["wall_s"] - summary["one_task"]["wall_s"]) / max(n_tasks - 1, 1),
        "groups": {g: {k: v for k, v in results["groups"][g].items() if k.startswith(("chrfpp,", "bleu,"))}
                   for g in sorted(results.get("groups", {}))},
        "failures": bad, "perfect_below_100": short,
    })
    (work / f"summary_{mode}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("groups", "perfect_below_100")}, indent=1))
    if mode == "oracle":
        print(f"a perfect translator below chrF++ 100 in {len(short)} of {n_tasks} directions:")
        for task, info in short.items():
            print(f"  {task}: chrF++ {info['chrfpp']:.2f}, BLEU {info['bleu']:.2f}: {'; '.join(info['why'])}")
    print(f"{len(bad)} failure(s)" + "".join(f"\n  {b}" for b in bad[:50]))
    return 1 if bad else 0


def recheck(args) -> int:
    """`verify` again on a finished run (its summary file), e.g. after a change to the checks."""
    work = Path(args.work)
    summary = json.loads((work / f"summary_{args.mode}.json").read_text(encoding="utf-8"))
    mode_of = (lambda s, t: "oracle") if args.mode == "oracle" else mixed_mode
    oracle = FloresOracle(SHARED, list(languages.FLORES200), summary["limit"], mode_of=mode_of)
    return verify(work, args.mode, summary, oracle, mode_of, summary["limit"])


def tools(args) -> int:
    work = Path(args.work)
    runs = [str(work / m / "all") for m in ("oracle", "mixed") if (work / m / "all").is_dir()]
    out = {}

    def cli(name, *argv):
        got = timed([str(BIN / "lm-eval-ext"), *argv], {})
        del got["stderr"]
        out[name] = got
        return got

    cli("report", "report", *runs, "-o", str(work / "report"))
    for f in ("report.html", "report.md"):
        out[f"{f}_bytes"] = (work / "report" / f).stat().st_size
    cli("leaderboard", "leaderboard", *runs, "--csv", str(work / "board.csv"))
    cli("leaderboard --per-language", "leaderboard", *runs, "--per-language", "--format", "csv")
    out["leaderboard_columns"] = len((work / "board.csv").read_text(encoding="utf-8").splitlines()[0].split(","))
    if len(runs) == 2:
        cli("compare", "compare", *runs, "--allow-missing", "--markdown", str(work / "compare.md"))
        out["compare_md_lines"] = (work / "compare.md").read_text(encoding="utf-8").count("\n")
    print(json.dumps(out, indent=1))
    (work / "tools.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("work")
    r.add_argument("--limit", type=int, default=20)
    r.add_argument("--mode", choices=["oracle", "mixed"], default="oracle")
    r.add_argument("--comet", type=Path, metavar="MODELS_DIR", help="score COMET with the tiny checkpoint built here")
    t = sub.add_parser("tools")
    t.add_argument("work")
    c = sub.add_parser("check", help="verify a finished run again (its summary_<mode>.json)")
    c.add_argument("work")
    c.add_argument("--mode", choices=["oracle", "mixed"], default="oracle")
    args = ap.parse_args()
    return {"run": run, "tools": tools, "check": recheck}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
