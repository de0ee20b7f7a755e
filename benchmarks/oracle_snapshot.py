"""Every number the package produces, on two scripted runs, as one JSON snapshot.

A regression tool for restructurings that must not change a score:

    python benchmarks/oracle_snapshot.py run SNAPSHOT.json [--work DIR] [--mt-models DIR]
    python benchmarks/oracle_snapshot.py diff BEFORE.json AFTER.json

`run` starts a real OpenAI-compatible server on loopback (tests/support/loopback.py) whose
replies are scripted, and runs plain ``lm_eval`` against it over every task family
(MGSM direct / native CoT / English CoT in all languages, XQuAD all languages and
three pairs, MLQA from the folder tests/support/qa_data.py builds, FLORES into and out of
English, xlc_mgsm, xlc_xquad) with two policies:

- ``oracle``: the gold answer (MGSM: the answer sentence of the reasoning
  language, QA: the first gold span, FLORES: the reference translation);
- ``noisy``: per item a deterministic choice of wrong answers, ``<think>`` blocks,
  preambles, labels, quotes, notes, answers in another language, empty replies.

Then COMET (a tiny real checkpoint through the side environment) during the run,
``lm-eval-ext rescore`` (BLEURT), ``judge`` (a scripted judge, with parse failures
and format reminders) and ``judge --pairwise``, ``report``, ``leaderboard``,
``compare`` and ``consistency``. The snapshot holds the results files, every logged
per-sample value (with the doc, prompt and target hashes), the judge files, the
report's tables (cells, confidence intervals, family means) and problems, the
leaderboard rows (JSON, CSV, Markdown), the regression board rows, the consistency
numbers and every command's exit status. Dates, paths, ports and timings are
normalized; nothing else is left out.

`diff` compares two snapshots value by value and prints how many values were
compared and every difference (exit 1 when any).

Needs the test environments of install.sh --dev (.venv with lm_eval_ext; the
neural environment .venv-neural builds the tiny COMET/BLEURT checkpoints) and the
benchmark data (LM_EVAL_EXT_TEST_DATA, default ../shared/data). About 10 minutes
on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.loopback import ScriptedServer, last_user_message  # noqa: E402
from support.qa_data import build_data_dir  # noqa: E402

from lm_eval_ext import languages  # noqa: E402

N = 3  # items per language
PORTS = {"oracle": 47311, "noisy": 47312, "judge": 47313}  # fixed: the run id hashes the model args
MGSM_MODES = ("direct", "native_cot", "en_cot")
# FLORES: the registry's 16 languages <-> English through their tier groups (flores_x_en and
# flores_en_x cover all 203 FLORES-200 languages; benchmarks/flores_all.py runs those)
PER_LANGUAGE_TASKS = ["mgsm_direct", "mgsm_native_cot", "mgsm_en_cot", "xquad_all", "xquad_de_en", "xquad_zh_ar",
                      "xquad_th_en", "mlqa_all", "mlqa_de_en", "mlqa_zh_es", "flores_en_x_hrl", "flores_en_x_url",
                      "flores_x_en_hrl", "flores_x_en_url"]
PAIRWISE_TASKS = "mgsm_native_cot_*,xquad_de,xquad_th,flores_eng_Latn-deu_Latn,flores_tha_Thai-eng_Latn"
TIMING_KEYS = {"total_evaluation_time_seconds", "start_time", "end_time", "date", "at"}
ENV_KEYS = {"pretty_env_info", "transformers_version", "git_hash", "upper_git_hash", "lm_eval_version",
            "chat_template", "chat_template_sha", "tokenizer_pad_token", "tokenizer_eos_token",
            "tokenizer_bos_token", "eot_token_id", "max_length", "model_source", "model_name_sanitized"}
# task-config fields holding code (serialized functions, classes): their import paths may move
CODE_KEYS = {"custom_dataset", "process_results", "function", "sampler", "aggregation"}
BUILTIN_NAMES = {"mean", "take_first", "first_n", "default"}


# ------------------------------------------------------------------ data and replies
def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _crc(*parts) -> int:
    return zlib.crc32("\x1f".join(map(str, parts)).encode("utf-8"))


def _mgsm_literal(code: str, name: str):
    return getattr(languages.get(code).mgsm, name)


def _qa_label(code: str) -> str:
    return languages.get(code).qa.answer


def _native(n, code: str) -> str:
    digits = languages.get(code).digits
    text = str(int(n)) if float(n).is_integer() else str(n)
    return "".join(digits[int(c)] if c.isdigit() else c for c in text) if digits else text


class Items:
    """The first N items of every family, found again from the prompt text."""

    def __init__(self, data: Path):
        self.mgsm = {}  # question -> (lang, i, gold)
        for code in languages.MGSM_LANGS:
            for i, row in enumerate(_jsonl(data / "mgsm" / f"mgsm_{code}.jsonl")[:N]):
                self.mgsm[row["question"]] = (code, i, row["answer_number"])
        self.xquad = {code: _jsonl(data / "xquad" / f"xquad.{code}.jsonl")[: N + 8] for code in languages.XQUAD_LANGS}
        self.questions = {rows[i]["question"]: (code, i) for code, rows in self.xquad.items() for i in range(N)}
        self.contexts = {rows[0]["context"]: code for code, rows in self.xquad.items()}
        self.flores = {}  # code -> first N sentences
        self.by_name = {}  # English name -> FLORES code
        for code in languages.LANGUAGES:
            L = languages.get(code)
            self.flores[L.flores] = [r["text"] for r in _jsonl(data / "flores" / f"{L.flores}.devtest.jsonl")[:N]]
            self.by_name[L.name] = L.flores

    @staticmethod
    def one(found, what, prompt):
        if len(found) != 1:
            raise RuntimeError(f"{len(found)} {what} match the prompt: {prompt[:300]!r}")
        return found[0]

    def mgsm_item(self, prompt):
        return self.one([v for q, v in self.mgsm.items() if q in prompt], "MGSM questions", prompt)

    def qa_item(self, prompt):
        q, i = self.one([v for text, v in self.questions.items() if text in prompt], "XQuAD questions", prompt)
        ctx = self.one([c for text, c in self.contexts.items() if text in prompt], "XQuAD contexts", prompt)
        return ctx, q, i

    def flores_item(self, payload, prompt):
        system = " ".join(m["content"] for m in payload.get("messages", []) if m["role"] == "system")
        m = re.match(r"Translate the following text from (.+) to (.+)\.", system)
        src, tgt = self.by_name[m[1]], self.by_name[m[2]]
        k = self.one([k for k, s in enumerate(self.flores[src]) if s in prompt], "FLORES sentences", prompt)
        return src, tgt, k


def _mode(code: str, prompt: str) -> str:
    last = prompt.rstrip().rsplit("\n", 1)[-1]
    if last.endswith(_mgsm_literal("en", "cot_cue")):
        return "en_cot" if code != "en" else "native_cot"
    if last.endswith(_mgsm_literal(code, "cot_cue")):
        return "native_cot"
    return "direct"


def mgsm_reply(policy, code, i, gold, mode) -> str:
    R = "en" if mode == "en_cot" else code
    sentence = _mgsm_literal(R, "answer_sentence")
    if policy == "oracle":
        return _native(gold, code) if mode == "direct" else sentence.format(_native(gold, R))
    kind = _crc("mgsm", code, i, mode) % 8
    if mode == "direct":
        return [f"{gold}", f"{_mgsm_literal(code, 'answer_prefix')} {gold + 1}", f"<think>{gold} - 1 = {gold - 1}</think>\n{gold}",
                f"$ {_native(gold, code)}", "I do not know the answer to this question.", f"{gold}.0 dollars",
                f"{gold + 2}\n\nQuestion: next", f"The answer is {gold}."][kind]
    return [
        f"Step 1: {gold + 3} - 3 = {gold}. {sentence.format(gold)}",
        sentence.format(gold + 1),
        f"<think>First {gold} + 2 = {gold + 2}, no wait.</think>\n{sentence.format(gold)}",
        f"{sentence.format(gold + 1)} ... or rather {gold}",
        f"First we add the numbers and then we subtract what was given away. The answer is {gold}.",
        sentence.format(_native(gold, R)),
        f"Sure! Here is my solution.\n**{sentence.format(gold)}**",
        "I am sorry, but I cannot solve this problem without more information.",
    ][kind]


PREFIX = {"en": "the", "es": "los", "de": "die", "vi": "những", "el": "το", "ro": "o",
          "ar": "ال", "hi": "यह", "zh": "的", "ru": "это", "th": "ที่", "tr": "bir"}


def qa_reply(policy, items: Items, ctx, q, i) -> str:
    gold = items.xquad[ctx][i]["answers"]["text"][0]
    if policy == "oracle":
        return gold
    other = items.xquad[ctx][i + 5]["answers"]["text"][0]
    label = _qa_label(q)
    kind = _crc("qa", ctx, q, i) % 8
    return [
        f"{label} {gold}",
        f"«{PREFIX[ctx]} {gold}».",
        f"**{gold[: max(1, len(gold) // 2)]}**\nIt says so in the context.",
        f"\n{other}\n",
        f"<think>{label} {other}?</think>\n{gold} !!",
        "",
        f"{gold}\n{items.xquad[ctx][i]['context'][:300]}",
        f"{gold}\n{items.xquad['en'][i]['context'][:300]}",
    ][kind]


def flores_reply(policy, items: Items, src, tgt, k) -> str:
    ref, source = items.flores[tgt][k], items.flores[src][k]
    if policy == "oracle":
        return ref
    name = next(n for n, c in items.by_name.items() if c == tgt)
    kind = _crc("flores", src, tgt, k) % 8
    return [
        ref,
        f"Here is the translation:\n\n{ref}",
        f"<think>Translating word by word.</think>\n{ref}",
        source,
        f"{ref}\n\nNote: names were kept as they are.",
        f"\"{ref}\"",
        ref[: len(ref) // 2],
        f"**{name}:** {ref}",
    ][kind]


def model_policy(policy: str, items: Items):
    def reply(kind, payload):
        prompt = last_user_message(payload)
        system = " ".join(m["content"] for m in payload.get("messages", []) if m["role"] == "system")
        if system.startswith("Translate the following text"):
            return flores_reply(policy, items, *items.flores_item(payload, prompt))
        if any(q in prompt for q in items.questions):
            return qa_reply(policy, items, *items.qa_item(prompt))
        code, i, gold = items.mgsm_item(prompt)
        return mgsm_reply(policy, code, i, gold, _mode(code, prompt))

    return reply


def judge_policy(kind, payload):
    """Scripted judge: a verdict from a hash of the prompt; one prompt in 7 is answered
    out of format first (the format reminder then gets a verdict)."""
    messages = payload.get("messages") or []
    prompt = messages[0]["content"] if messages else ""
    h = _crc(prompt)
    if len(messages) == 1 and h % 7 == 0:
        return "I think this is a fine answer overall."
    if "[[A]]" in prompt:
        return f"Both are close. <think>weighing</think>\n[[{'ABC'[h % 3]}]]"
    if "Score:" in prompt:
        return f"<think>compare with the reference</think>Meaning is mostly kept.\nScore: {h % 101}"
    if "Verdict:" in prompt:
        return f"The answers refer to the same thing.\nVerdict: {'yes' if h % 2 else 'no'}"
    if "Correct:" in prompt:
        return f"Checked.\nCorrect: {'yes' if h % 2 else 'no'}\nSupported: {'yes' if h % 3 else 'no'}"
    return f"Rating: [[{1 + h % 10}]]"


# ------------------------------------------------------------------ running
def cli(args, env, log) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    proc = subprocess.run([str(bindir / args[0]), *args[1:]], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=3600)
    log.append({"args": args, "returncode": proc.returncode})
    print(f"  {' '.join(args[:2])} ... exit {proc.returncode}", flush=True)
    return proc


def _check(proc, what):
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")


def mt_models(folder: Path, data: Path) -> dict:
    """Tiny real COMET/BLEURT checkpoints (tests/support/tiny_mt_models.py), built once in the neural environment."""
    paths = folder / "paths.json"
    if not paths.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        python = REPO / ".venv-neural" / "bin" / "python"
        proc = subprocess.run([str(python), str(REPO / "tests" / "support" / "tiny_mt_models.py"), "build", str(data), str(folder)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
        _check(proc, "building the tiny COMET/BLEURT checkpoints")
    return json.loads(paths.read_text())


def run_all(work: Path, shared: Path, models_dir: Path) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    data = build_data_dir(shared, work / "data")
    items = Items(shared)
    models = mt_models(models_dir, shared)
    neural_python = str(REPO / ".venv-neural" / "bin" / "python")
    env = {
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "LM_EVAL_EXT_DATA_DIR": str(data),
        "LM_EVAL_EXT_NEURAL_PYTHON": neural_python,
        "LM_EVAL_EXT_COMET": f"{models['comet']};encoder={models['encoder']};batch_size=4",
        "LM_EVAL_EXT_BLEURT": "off",
        "LM_EVAL_EXT_SCORE_CACHE": str(work / "neural_scores.sqlite"),
        "LM_EVAL_EXT_FLORES200_SPM": str(work / "no-flores200.model"),
    }
    log: list = []
    folders = {}
    for policy in ("oracle", "noisy"):
        out = work / "runs" / policy
        with ScriptedServer(model_policy(policy, items), port=PORTS[policy]) as server:
            base = ["lm_eval", "run", "--model", "local-chat-completions", "--model_args",
                    f"model={policy},base_url={server.base_url}/chat/completions,num_concurrent=4",
                    "--apply_chat_template", "--log_samples", "--output_path", str(out)]
            for tasks, limit in ((",".join(PER_LANGUAGE_TASKS), N), ("xlc_mgsm", N * 11), ("xlc_xquad", N * 12)):
                _check(cli([*base, "--tasks", tasks, "--limit", str(limit)], env, log), f"lm_eval {policy} {tasks}")
        (folders[policy],) = {p.parent for p in out.rglob("results_*.json")}
    bleurt_env = {**env, "LM_EVAL_EXT_BLEURT": f"{models['bleurt']};batch_size=8"}
    for policy in ("oracle", "noisy"):
        _check(cli(["lm-eval-ext", "rescore", str(folders[policy]), "--metrics", "bleurt"], bleurt_env, log), "rescore")
    runs = [str(folders["oracle"]), str(folders["noisy"])]
    with ScriptedServer(judge_policy, model_name="scripted-judge", port=PORTS["judge"]) as judge:
        jargs = ["--judge-url", judge.base_url, "--judge-model", "scripted-judge", "--cache",
                 str(work / "judge_cache.sqlite"), "--no-progress"]
        cli(["lm-eval-ext", "judge", *runs, *jargs], env, log)
        cli(["lm-eval-ext", "judge", runs[1], "--pairwise", runs[0], "--tasks", PAIRWISE_TASKS, *jargs], env, log)
    snap: dict = {"commands": log}
    snap["runs"] = {policy: run_files(folders[policy]) for policy in folders}
    cli(["lm-eval-ext", "report", *runs, "-o", str(work / "report")], env, log)
    snap["report"] = report_numbers(runs, work / "report_api")
    lb = cli(["lm-eval-ext", "leaderboard", *runs, "--format", "json"], env, log)
    snap["leaderboard_json"] = json.loads(lb.stdout)
    cli(["lm-eval-ext", "leaderboard", *runs, "--csv", str(work / "board.csv")], env, log)
    snap["leaderboard_csv"] = (work / "board.csv").read_text(encoding="utf-8").splitlines()
    snap["leaderboard_md"] = cli(["lm-eval-ext", "leaderboard", *runs, "--format", "md"], env, log).stdout
    cli(["lm-eval-ext", "compare", *runs, "--all-metrics", "--markdown", str(work / "board.md")], env, log)
    snap["compare"] = compare_numbers(runs)
    cli(["lm-eval-ext", "consistency", *runs, "--json", str(work / "consistency.json")], env, log)
    snap["consistency"] = json.loads((work / "consistency.json").read_text(encoding="utf-8"))
    replace = {str(work): "<WORK>", str(shared): "<DATA>", str(models_dir.resolve()): "<MT>", str(REPO): "<REPO>",
               str(Path.home()): "<HOME>"}
    for path in work.rglob("results_*.json"):  # the checkout's commit, as lm-eval records it
        commit = json.loads(path.read_text(encoding="utf-8")).get("git_hash")
        if isinstance(commit, str) and len(commit) >= 7:
            replace[commit] = "<GIT>"
    return normalize(snap, replace)


# ------------------------------------------------------------------ reading
def _code_free(value, key=None):
    """A task config without the code it names (serialized functions and classes)."""
    if isinstance(value, dict):
        return {k: _code_free(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_code_free(v, key) for v in value]
    if key in CODE_KEYS and not (isinstance(value, str) and value in BUILTIN_NAMES):
        return "<code>"
    return value


def run_files(folder: Path) -> dict:
    """Results files (in date order), samples logs and judge files of one run folder."""
    out: dict = {"results": [], "samples": {}, "judge": [], "judge_samples": {}}
    for path in sorted(folder.glob("results_*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        kept = {k: v for k, v in doc.items() if k not in ENV_KEYS | TIMING_KEYS}
        kept["configs"] = {t: _code_free(cfg) for t, cfg in (doc.get("configs") or {}).items()}
        out["results"].append(kept)
    for path in sorted(folder.glob("samples_*.jsonl")):
        task = re.sub(r"_\d{4}-\d{2}-\d{2}T[0-9\-.]+\.jsonl$", "", path.name.removeprefix("samples_"))
        out["samples"][task] = [{k: v for k, v in line.items() if k not in ("arguments", "doc")}
                                for line in _jsonl(path)]
    for path in sorted(folder.glob("judge_*.json")):
        out["judge"].append(json.loads(path.read_text(encoding="utf-8")))
    for path in sorted(folder.glob("judge_*samples_*.jsonl")):
        name = re.sub(r"_\d{4}-\d{2}-\d{2}T[0-9\-.]+\.jsonl$", "", path.name)
        out["judge_samples"][name] = _jsonl(path)
    return out


def report_numbers(runs: list[str], out: Path) -> dict:
    from lm_eval_ext.reporting.report import write_report

    with open(os.devnull, "w") as devnull:
        report, problems = write_report(runs, out, err=devnull)
    tables = []
    for t in report.tables:
        key = lambda langs: "-".join(langs) or "-"  # noqa: E731
        tables.append({
            "family": t.family, "title": t.title, "metric": t.metric, "scale": t.scale,
            "higher_is_better": t.higher_is_better, "is_pair": t.is_pair,
            "rows": [key(r) for r in t.rows], "common": [key(r) for r in t.common],
            "partial": {key(r): v for r, v in t.partial.items()},
            "cells": {f"{key(langs)}|{i}": [c.task, c.score.value, c.score.stderr, c.score.n]
                      for (langs, i), c in sorted(t.cells.items(), key=lambda kv: (kv[0][0], kv[0][1]))},
            "ci": {f"{key(langs)}|{i}": list(ci) for (fam, metric, langs, i), ci in sorted(report.cis.items())
                   if fam == t.family and metric == t.metric},
            "means": {f"{kind}|{i}": v for (kind, i), v in sorted(t.means.items())},
            "mean_ci": {f"{kind}|{i}": [ci.lo, ci.hi, ci.method] for i in range(len(report.runs))
                        for kind, ci in sorted(report.mean_cis.get((id(t), i), {}).items())},
        })
    return {"runs": [r.label for r in report.runs], "families": list(report.families), "tables": tables,
            "problems": [str(p) for p in dict.fromkeys(problems)]}


def compare_numbers(runs: list[str]) -> dict:
    from lm_eval_ext.reporting.compare import compare_runs
    from lm_eval_ext.reporting.runs import load_runs

    (base,), _ = load_runs([runs[0]])
    (cand,), _ = load_runs([runs[1]])
    rows, problems = compare_runs(base, cand, threshold=0.02, all_metrics=True)
    return {"rows": [[r.task, r.family, list(r.langs), r.metric, r.base, r.cand, r.delta, r.lo, r.hi, r.n,
                      r.method, r.higher_is_better, r.verdict, r.kind, r.incomparable] for r in rows],
            "problems": [str(p) for p in dict.fromkeys(problems)]}


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[T ][0-9:\-.]+(?:[+-]\d{2}:\d{2}| UTC)?|\d{4}-\d{2}-\d{2}")
_PORT = re.compile(r"127\.0\.0\.1:\d+")


def normalize(value, paths: dict):
    """Paths, ports, dates and timings replaced; floats kept exactly (NaN as "NaN")."""
    if isinstance(value, dict):
        return {normalize(k, paths) if isinstance(k, str) else k: normalize(v, paths)
                for k, v in value.items() if k not in TIMING_KEYS | {"cache", "pretty_env_info"}}
    if isinstance(value, list):
        return [normalize(v, paths) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, str):
        for path, name in sorted(paths.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(path, name)
        return _DATE.sub("<DATE>", _PORT.sub("127.0.0.1:<PORT>", value))
    return value


# ------------------------------------------------------------------ diff
def leaves(value, path=""):
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            yield from leaves(value[k], f"{path}/{k}")
    elif isinstance(value, list):
        yield f"{path}#len", len(value)
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def diff(a: dict, b: dict) -> tuple[int, list]:
    la, lb = dict(leaves(a)), dict(leaves(b))
    differences = [(k, la.get(k, "<absent>"), lb.get(k, "<absent>")) for k in sorted(set(la) | set(lb))
                   if k not in la or k not in lb or la[k] != lb[k] or type(la[k]) is not type(lb[k])]
    return len(set(la) | set(lb)), differences


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("snapshot", type=Path)
    r.add_argument("--work", type=Path, default=Path("/tmp/lm_eval_ext_oracle"))
    r.add_argument("--mt-models", type=Path, default=Path("/tmp/lm_eval_ext_oracle_mt_models"))
    d = sub.add_parser("diff")
    d.add_argument("before", type=Path)
    d.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        shared = Path(os.environ.get("LM_EVAL_EXT_TEST_DATA", REPO.parent / "shared" / "data")).resolve()
        snap = run_all(args.work.resolve(), shared, args.mt_models)
        args.snapshot.write_text(json.dumps(snap, indent=1, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        n = sum(1 for _ in leaves(snap))
        print(f"wrote {args.snapshot}: {n} values")
        return 0
    a = json.loads(args.before.read_text(encoding="utf-8"))
    b = json.loads(args.after.read_text(encoding="utf-8"))
    n, differences = diff(a, b)
    for path, x, y in differences[:200]:
        print(f"{path}\n  before: {x!r}\n  after:  {y!r}")
    print(f"{n} values compared, {len(differences)} differ")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
