"""``lm-eval-ext demo``: the embedded model on MGSM in every language, offline.

Runs the real ``lm_eval`` CLI (so the output folder is an ordinary lm-eval
run) on SmolLM2-135M-Instruct, 0-shot with the chat template. Data comes from
``LM_EVAL_EXT_DATA_DIR`` when set, else from the hub when it answers, else
from a two-item demo sample written here and labelled as such (its numbers
say nothing about MGSM).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext import languages
from lm_eval_ext.families.base import DATA_DIR_ENV, local_root
from lm_eval_ext.languages import MGSM_LANGS

# Two easy problems per language, written for the demo: NOT MGSM items.
DEMO_SAMPLE = {
    "en": ("Anna has 3 apples and buys 4 more. How many apples does she have now?",
           "A book costs 12 dollars. How many dollars do 5 books cost?"),
    "de": ("Anna hat 3 Äpfel und kauft 4 weitere. Wie viele Äpfel hat sie jetzt?",
           "Ein Buch kostet 12 Dollar. Wie viele Dollar kosten 5 Bücher?"),
    "es": ("Ana tiene 3 manzanas y compra 4 más. ¿Cuántas manzanas tiene ahora?",
           "Un libro cuesta 12 dólares. ¿Cuántos dólares cuestan 5 libros?"),
    "fr": ("Anna a 3 pommes et en achète 4 de plus. Combien de pommes a-t-elle maintenant ?",
           "Un livre coûte 12 dollars. Combien de dollars coûtent 5 livres ?"),
    "ru": ("У Анны 3 яблока, и она покупает ещё 4. Сколько яблок у неё теперь?",
           "Книга стоит 12 долларов. Сколько долларов стоят 5 книг?"),
    "ja": ("アンナはりんごを3個持っていて、さらに4個買います。今、りんごは何個ありますか？",
           "本は1冊12ドルです。5冊では何ドルですか？"),
    "zh": ("安娜有 3 个苹果，又买了 4 个。她现在有多少个苹果？",
           "一本书 12 美元。5 本书多少美元？"),
    "bn": ("আনার কাছে 3টি আপেল আছে এবং সে আরও 4টি কেনে। এখন তার কাছে কয়টি আপেল আছে?",
           "একটি বইয়ের দাম 12 ডলার। 5টি বইয়ের দাম কত ডলার?"),
    "te": ("అన్నా వద్ద 3 ఆపిల్స్ ఉన్నాయి, ఆమె మరో 4 కొంటుంది. ఇప్పుడు ఆమె వద్ద ఎన్ని ఆపిల్స్ ఉన్నాయి?",
           "ఒక పుస్తకం ధర 12 డాలర్లు. 5 పుస్తకాల ధర ఎన్ని డాలర్లు?"),
    "th": ("แอนนามีแอปเปิล 3 ลูก และซื้อเพิ่มอีก 4 ลูก ตอนนี้เธอมีแอปเปิลกี่ลูก",
           "หนังสือเล่มละ 12 ดอลลาร์ หนังสือ 5 เล่มราคากี่ดอลลาร์"),
    "sw": ("Anna ana matufaha 3 na ananunua mengine 4. Sasa ana matufaha mangapi?",
           "Kitabu kimoja kinagharimu dola 12. Vitabu 5 vinagharimu dola ngapi?"),
}
DEMO_ANSWERS = (7, 60)


def write_demo_sample(root: Path) -> Path:
    """MGSM-layout folder with the demo problems (test and, unused at 0-shot, train)."""
    folder = root / "mgsm"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "DEMO_SAMPLE_NOT_MGSM.txt").write_text(
        "Two easy problems per language written for `lm-eval-ext demo`. Not MGSM.\n", encoding="utf-8"
    )
    for code, problems in DEMO_SAMPLE.items():
        L = languages.get(code)
        with open(folder / f"mgsm_{code}.jsonl", "w", encoding="utf-8") as fh:
            for q, a in zip(problems, DEMO_ANSWERS):
                fh.write(json.dumps({"question": q, "answer": None, "answer_number": a}, ensure_ascii=False) + "\n")
        with open(folder / f"mgsm_{code}.train.jsonl", "w", encoding="utf-8") as fh:
            for q, a in zip(problems, DEMO_ANSWERS):
                row = {
                    "question": f"{L.mgsm.question} {q}",
                    "answer": f"{L.mgsm.cot_cue} {L.mgsm.answer_sentence.format(a)}",
                    "answer_number": a,
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return root


def _hub_reachable(timeout=3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


# Model and data are local: nothing for lm_eval to ask the hub (no timeouts on a closed network).
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def choose_data(tmp: Path) -> tuple[dict, str]:
    """(environment overrides, label) for where the demo reads its data."""
    root = local_root()
    if root is not None:
        return dict(OFFLINE), f"local data: {root}"
    if _hub_reachable():
        return {}, "hub: juletxara/mgsm"
    sample = write_demo_sample(tmp / "demo_data")
    return ({DATA_DIR_ENV: str(sample), **OFFLINE},
            f"DEMO SAMPLE, two problems per language written for the demo (not MGSM: no hub, no {DATA_DIR_ENV})")


def _fmt(value) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def print_table(run, mode: str, langs: list[str]) -> None:
    """The run's MGSM scores per language (strict, flexible, share of replies in the question's
    language) and the family means over the languages that have each number."""
    from lm_eval_ext.reporting.tables import family_means

    cells = {(c.task, c.metric): c.score for c in run.cells}
    # in-lang: share of judgeable replies written in the question's language (lang_fidelity)
    print(f"\n{'lang':<5}{'language':<24}{'tier':<18}{'strict':>8}{'flexible':>10}{'in-lang':>9}{'n':>5}")
    columns = ("exact_match,strict-match", "exact_match,flexible-extract", "lang_fidelity,flexible-extract")
    values: list[dict] = [{}, {}, {}]  # per column: {(lang,): value}
    for code in langs:
        task = f"mgsm_{mode}_{code}"
        L = languages.get(code)
        scores = [cells.get((task, key)) for key in columns]
        for column, score in zip(values, scores):
            if score is not None:
                column[(code,)] = score.value
        n = next((s.n for s in scores if s is not None and s.n is not None), "")
        shown = [None if s is None else s.value for s in scores]
        print(f"{code:<5}{L.name + ' ' + L.native_name:<24}{L.tier_label:<18}{_fmt(shown[0]):>8}{_fmt(shown[1]):>10}"
              f"{_fmt(shown[2]):>9}{n:>5}")
    means = [family_means(column) for column in values]
    summaries = [
        (f"mean, all {len(langs)} languages", "all", langs),
        ("mean, high-resource", "high", [c for c in langs if languages.get(c).tier == languages.HIGH]),
        ("mean, underrepresented", "low", [c for c in langs if languages.get(c).tier == languages.LOW]),
        ("mean, non-English", "non_en", [c for c in langs if c != "en"]),
    ]
    print("-" * 79)
    for label, kind, codes in summaries:
        if codes:
            print(f"{label:<47}{_fmt(means[0][kind]):>8}{_fmt(means[1][kind]):>10}{_fmt(means[2][kind]):>9}")


def run_demo(args) -> int:
    from lm_eval_ext.local.embedded import MODEL_NAME, EmbeddedModelMissing, model_dir

    langs = [c.strip() for c in args.langs.split(",") if c.strip()] or list(MGSM_LANGS)
    bad = [c for c in langs if c not in MGSM_LANGS]
    if bad:
        print(f"error: MGSM has no language {', '.join(bad)} (it has {' '.join(MGSM_LANGS)})", file=sys.stderr)
        return ExitCode.BAD_INPUT
    started = time.time()
    print(f"[1/3] preparing the embedded model {MODEL_NAME} (converted from GGUF once, then cached)", flush=True)
    try:
        model = model_dir()
    except EmbeddedModelMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    with tempfile.TemporaryDirectory(prefix="lm_eval_ext_demo_") as tmp:
        env_extra, label = choose_data(Path(tmp))
        print(f"[2/3] data: {label}", flush=True)
        tasks = f"mgsm_{args.mode}" if set(langs) == set(MGSM_LANGS) else ",".join(f"mgsm_{args.mode}_{c}" for c in langs)
        out = Path(args.output).resolve()
        cmd = [
            sys.executable, "-m", "lm_eval", "run",
            "--model", "hf",
            "--model_args", f"pretrained={model},dtype=float32",
            "--tasks", tasks,
            "--limit", str(args.limit),
            "--apply_chat_template",
            "--batch_size", str(args.batch_size),
            "--gen_kwargs", f"max_gen_toks={args.max_gen_toks}",
            "--log_samples",
            "--output_path", str(out),
        ]
        print(f"[3/3] {' '.join(cmd[2:])}", flush=True)
        env = {**os.environ, **env_extra}
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0:
            print(f"error: lm_eval exited with {proc.returncode}", file=sys.stderr)
            return proc.returncode
    from lm_eval_ext.reporting.runs import load_runs

    runs, problems = load_runs([out])
    if not runs:
        print(f"error: no lm-eval results in {out}: " + "; ".join(map(str, problems)), file=sys.stderr)
        return ExitCode.BAD_INPUT
    run = max(runs, key=lambda r: r.results_files[-1].name)  # the one this command just wrote
    print(f"\nMGSM {args.mode}, {MODEL_NAME}, first {args.limit} item(s) per language, 0-shot chat; {label}")
    print_table(run, args.mode, langs)
    print(f"\nlm-eval output: {run.path}")
    print(f"  results: {run.results_files[-1].name}; per-sample logs: samples_mgsm_{args.mode}_<lang>_*.jsonl")
    print(f"wall time: {time.time() - started:.0f} s")
    return ExitCode.OK
