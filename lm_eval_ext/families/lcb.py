"""The Language Confusion Benchmark (LCB; Marchisio et al. 2024, github.com/for-ai/language-confusion,
Apache-2.0): does the model answer in the language it was asked in?

Two settings: ``monolingual`` (the user writes in l and expects l) and ``crosslingual`` (an English
prompt asks for l). One task per setting and language (``lcb_monolingual_de``), every prompt of
that language from every source, 0-shot: the CSV's prompt is the one user turn. Sources key on
the CSV's ``source`` column (aya_human_annotated, dolly_human_edited, okapi, native_prompts;
okapi, sharegpt, complex_prompts), never on the folder name.

Scoring is the official one (`lm_eval_ext.metrics.confusion`, tested against compute_metrics.py),
on the reply with its reasoning blocks stripped. Per prompt the metrics carry
``(source, passed, scored, ...)`` over its replies (k with lm-eval's ``repeats``: the k samples
count as k rows of the official script), and the aggregations average per source, then over the
sources, as the script's ``("all", language)`` rows do; so a group's unweighted mean over its
language tasks is the script's ``("all", "all")`` (tasks/lcb/README.md). A task whose source has no
scored reply is NaN with the reason, never the script's 1.0. ``scored_replies`` counts the
replies scored, ``unfinished_reasoning`` those cut inside a thinking block.
"""

from __future__ import annotations

import csv
from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.families.base import DataFormatError, DataNotFoundError, Extracted, Family, Pairing, ReplyFilter
from lm_eval_ext.metrics import bootstrap, confusion, langid
from lm_eval_ext.missing import NotComputed, skip_of

SETTINGS = ("monolingual", "crosslingual")
LANGS = {"monolingual": languages.LCB_MONOLINGUAL_LANGS, "crosslingual": languages.LCB_CROSSLINGUAL_LANGS}
# the release's folders (test_sets.zip) and the languages each holds
FOLDERS = {
    "monolingual": {"aya": ("ar", "en", "pt", "tr", "zh"), "dolly": ("ar", "es", "fr", "hi", "ru"),
                    "native": ("es", "fr", "ja", "ko"),
                    "okapi": ("ar", "de", "en", "es", "fr", "id", "it", "pt", "vi", "zh")},
    "crosslingual": {folder: languages.LCB_CROSSLINGUAL_LANGS for folder in ("complex_prompts", "okapi", "sharegpt")},
}
COLUMNS = {"monolingual": ("prompt", "source", "language"),
           "crosslingual": ("prompt", "location", "phrasing", "language", "source")}
WORDS_FILE = "lcb/en_words.txt"
FILTER = "none"  # every reply kept (k with `repeats`), not lm-eval's take_first
MAX_GEN_TOKS = 100  # the paper's budget
TASK_VERSION = 1.0
CONFUSION_METRICS = ("lpr", "wpr", "lcpr", "scored_replies", "unfinished_reasoning")
RATES = ("lpr", "wpr", "lcpr")
AGGREGATIONS = {"lpr": confusion.lpr_aggregation, "wpr": confusion.wpr_aggregation, "lcpr": confusion.lcpr_aggregation}


# ----------------------------------------------------------------------- data
def _check(setting: str, lang: str) -> None:
    if setting not in SETTINGS:
        raise DataNotFoundError(f"LCB has no setting {setting!r}; its settings are {', '.join(SETTINGS)}")
    if lang not in LANGS[setting]:
        raise DataNotFoundError(f"LCB {setting} has no language {lang!r}; its languages are "
                                f"{', '.join(LANGS[setting])}")


def prompt_files(setting: str, lang: str) -> list[str]:
    _check(setting, lang)
    return [f"lcb/{setting}/{folder}/{lang}.csv" for folder, langs in FOLDERS[setting].items() if lang in langs]


def required_files(setting: str, lang: str, **_) -> list[str]:
    """The prompt files of a task and the English word list (unless LM_EVAL_EXT_LCB_WORDS names it)."""
    return prompt_files(setting, lang) + ([] if _words_setting() else [WORDS_FILE])


def _words_setting() -> str:
    import os

    return os.environ.get(confusion.WORDS_ENV, "").strip()


def read_prompts(path: Path, setting: str, lang: str) -> list[dict]:
    """The rows of one released CSV; DataFormatError naming the file, line and column of a defect."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not UTF-8 (byte {err.start})") from None
    reader = csv.DictReader(text.splitlines(keepends=True))
    missing = [c for c in COLUMNS[setting] if c not in (reader.fieldnames or [])]
    if missing:
        raise DataFormatError(f"{path}:1: missing column(s) {', '.join(missing)}")
    rows = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row or any(row.get(c) is None for c in COLUMNS[setting]):
            raise DataFormatError(f"{where}: the record's field count differs from the header's")
        if row["language"] != lang:
            raise DataFormatError(f"{where}: column language is {row['language']!r}, expected {lang!r}")
        if not row["source"].strip():
            raise DataFormatError(f"{where}: column source is empty")
        rows.append(row)
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return rows


def docs(root: Path, setting: str, lang: str) -> list[dict]:
    out = []
    for rel in prompt_files(setting, lang):
        folder = rel.split("/")[2]
        for i, row in enumerate(read_prompts(root / rel, setting, lang)):
            out.append({"item_id": f"{folder}/{lang}/{i}", "prompt": row["prompt"], "source": row["source"],
                        "language": lang, "lang": lang, "setting": setting,
                        "location": row.get("location") or "", "phrasing": row.get("phrasing") or ""})
    return out


def load_local(root, setting: str, lang: str, **_):
    import datasets

    rows = docs(Path(root), setting, lang)
    features = datasets.Features({k: datasets.Value("string") for k in rows[0]})
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows, features=features)})


def load_hub(setting: str = "", lang: str = "", **_):
    raise DataNotFoundError(
        f"LCB ({setting} {lang}) has no hub dataset: set LM_EVAL_EXT_DATA_DIR to a folder with lcb/ (the benchmark "
        "repository's test_sets.zip unzipped as released, plus its `words` file as lcb/en_words.txt)")


def preflight(task=None, **kwargs) -> None:
    path = confusion.words_path()
    if _words_setting() and not path.is_file():
        raise DataNotFoundError(f"task {task}: {confusion.WORDS_ENV}={path}: no such file (the LCB English word list)")


# -------------------------------------------------------------------- prompts
def prompt_parts(setting: str, lang: str) -> dict:
    """0-shot: the CSV's prompt as the one user turn, no instruction of ours; the paper's budget."""
    _check(setting, lang)
    return {"description": "", "doc_to_text": "{{prompt}}", "doc_to_target": "", "target_delimiter": "",
            "until": [], "max_gen_toks": MAX_GEN_TOKS}


class Replies(ReplyFilter):
    """Every reply of a prompt (k with lm-eval's `repeats`), as the raw reply."""

    def one(self, reply, doc):
        return Extracted.of(reply, reply)


# -------------------------------------------------------------------- scoring
def _words() -> frozenset[str]:
    path = confusion.words_path()
    return confusion.english_words(str(path)) if path is not None and path.is_file() else frozenset()


def _mean_decided(values) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def process_results(doc: dict, results: list) -> dict:
    """Per prompt: the LPR/WPR/LCPR counts over its replies (with the source), the counts of
    scored and unfinished replies, and lang_fidelity / lang_line_pass (means over its replies)."""
    lang, source = doc["language"], doc["source"]
    # our filter keeps every reply of the prompt: lm-eval hands over [[reply 1, ..., reply k]]
    replies = results[0] if results and isinstance(results[0], (list, tuple)) else results
    replies = [str(getattr(r, "reply", None) or r) for r in replies]
    out: dict = {}
    per_reply = [langid.fidelity_metrics(r, lang) for r in replies]
    for key in per_reply[0] if per_reply else ():
        out[key] = _mean_decided(d.get(key) for d in per_reply)
    if confusion.unavailable():
        return out
    scores = [confusion.score_reply(r, lang, _words()) for r in replies]
    scored = [s for s in scores if not s.skipped]
    clean = [s for s in scored if not s.line_error]
    passed = len(clean)
    bad = [[i, line.index, line.label] for i, s in enumerate(scores) for line in s.bad_lines]
    out.update(lpr=(source, passed, len(scored), bad), scored_replies=float(len(scored)),
               unfinished_reasoning=float(sum(s.unfinished_reasoning for s in scores)))
    if lang in confusion.WPR_LANGS:
        word_pass = sum(not s.word_error for s in clean)
        found = [[i, list(s.english_words[:5])] for i, s in enumerate(scores) if s.word_error]
        out["wpr"] = (source, word_pass, len(clean), found)
        out["lcpr"] = (source, passed, len(scored), word_pass, len(clean))
    else:
        out["lcpr"] = (source, passed, len(scored), None, None)
    return out


def scorer_signature(setting: str, lang: str) -> str:
    wpr = "wpr:no-english-word(lowercase,>3)" if lang in confusion.WPR_LANGS else "wpr:none"
    return (f"lcb:v{int(TASK_VERSION)}|{setting}|lang:{lang}|{confusion.SIGNATURE}|{wpr}"
            "|average:per-source-then-sources|empty:nan|lcpr:harmonic(lpr,wpr)")


# -------------------------------------------------------------------- results
def _stratified_stderr(metric: str, items: list, iters: int) -> float | None:
    """Bootstrap standard error of a task's rate: prompts resampled within each source."""
    import numpy as np

    if iters < 2 or len(items) < 2:
        return None
    values = confusion.resampled(items, AGGREGATIONS[metric], iters, bootstrap.DEFAULT_SEED)
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def decoding(cfg: dict) -> str:
    """How the replies were drawn, from the task config as the run had it: samples per prompt,
    greedy or sampled (temperature, top_p)."""
    gen = cfg.get("generation_kwargs") or {}
    k = cfg.get("repeats") or 1
    if gen.get("do_sample"):
        how = f"sampled(temperature={gen.get('temperature')},top_p={gen.get('top_p', 1.0)})"
    else:
        how = "greedy"
    return f"samples:{k}|decoding:{how}|max_gen_toks:{gen.get('max_gen_toks')}"


def annotate_task(task: str, cfg: dict, meta: dict, result, acc: dict | None, bootstrap_iters) -> None:
    """LCB's part of the results annotation: the line detector's run-time signature (or why the
    metrics are NaN), the reason of a NaN rate, the decoding (samples per prompt), and bootstrap
    standard errors of the rates over prompts, stratified by source (at most 1000 resamples)."""
    sig = confusion.signature()
    metrics = result.metrics.get(task) or {}
    signatures = meta.setdefault("metric_signatures", {})
    for name in CONFUSION_METRICS:
        if any(key.startswith(f"{name},") for key in metrics) or skip_of(sig):
            # the rates' signatures also say how the replies were drawn (samples per prompt, decoding)
            signatures[name] = sig if skip_of(sig) or name not in RATES else f"{sig}|{decoding(cfg)}"
    for key, value in metrics.items():
        name = key.split(",")[0]
        if name in RATES and isinstance(value, NotComputed) and not skip_of(sig):
            signatures[name] = value.skip
    meta["decoding"] = decoding(cfg)
    iters = min(int(bootstrap_iters or 0), 1000)
    for (metric, filt), items in ((acc or {}).get("raw_metrics") or {}).items():
        value = metrics.get(f"{metric},{filt}")
        if metric in RATES and isinstance(value, float) and value == value:
            se = _stratified_stderr(metric, list(items), iters)
            metrics[f"{metric}_stderr,{filt}"] = se if se is not None else "N/A"
    meta["stderr"] = (f"bootstrap over prompts within each source, {iters} resamples, seed {bootstrap.DEFAULT_SEED} "
                      "(lpr, wpr, lcpr)" if iters >= 2 else "not computed")


FAMILY = Family(
    name="lcb",
    pairing=Pairing.SINGLE,
    languages=languages.LCB_MONOLINGUAL_LANGS,
    language_keys=(("lang",),),
    required_files=required_files,
    load_local=load_local,
    load_hub=load_hub,
    prompt=prompt_parts,
    process_results=process_results,
    reference_metric="lpr,none",
    judge_protocol="grade",
    reply_language=lambda kwargs: kwargs.get("lang"),
    # not parallel: each language's prompts are its own (LCB's sources differ per language), so
    # means over languages keep the independent-languages CI
    item_key=None,
    annotate=annotate_task,
    preflight=preflight,
)
