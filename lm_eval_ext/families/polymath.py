"""PolyMath (Wang et al. 2025, QwenLM/PolyMath): multilingual math from grade school to olympiad.

18 languages x 4 levels (low, medium, high, top) x 125 problems, parallel across languages
(the same problem number in every language). One task per (language, level) and prompting
mode (tasks/polymath/README.md):

- ``native`` (the official default): the question, then the language's note asking for the
  final answer in ``$\\boxed{}$`` (the release's ``instruction.py``, verbatim);
- ``forcing_raw``: the note, then "think and answer in <the question's language>";
- ``forcing_en``: the note, then "use English to think and answer" (in the question's language).

Scoring, as the release's ``eval/run_eval.py`` scores: the reply's thinking part is kept apart
(`metrics.reasoning.split`: ``<think>`` blocks, a template that opened the block in the prompt);
the answer is the first ``\\boxed{...}`` of the answer part with spaces removed; it is compared
with the gold by `runtime.math_check` (deadline per check). A reply cut off inside its thinking
scores 0 and counts in ``truncated_in_thinking``. The benchmark score of a language is the
difficulty-weighted accuracy DW-ACC = (1 low + 2 medium + 4 high + 8 top) / 15, a group value
(`group_values`, applied by the plugin after lm-eval computed its groups; never a sample mean).

Language consistency of the thinking and of the answer part: ours (`metrics.langid`, lingua:
``thinking_lang_fidelity``, ``lang_fidelity``) and the release's rule with langdetect when it is
installed (`metrics.langdetect_rule`: ``*_lang_cons_langdetect``).
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from pathlib import Path

from lm_eval_ext.families.base import (DataFormatError, DataNotFoundError, Extracted, Family, Pairing, Parallel,
                                       ReplyFilter, read_jsonl)
from lm_eval_ext.families.polymath_prompts import CONTROL, NOTE
from lm_eval_ext.languages import POLYMATH_LANGS
from lm_eval_ext.metrics import confusion, langdetect_rule, langid, math_answer
from lm_eval_ext.metrics.reasoning import split

log = logging.getLogger("lm_eval_ext")

HUB_PATH = "Qwen/PolyMath"
LEVELS = ("low", "medium", "high", "top")
WEIGHTS = {"low": 1, "medium": 2, "high": 4, "top": 8}  # DW-ACC, over their sum 15
MODES = ("native", "forcing_raw", "forcing_en")
FILTER = "boxed"  # the filter: the first \boxed{} of the answer part
NO_ANSWER = "[no answer]"
CUT_OFF = "[no answer: cut off while thinking]"
TASK_VERSION = 1.0
MAX_GEN_TOKS = 32768  # reasoning models think for thousands of tokens (README: budget, max_model_len)
GROUP_METRICS = ("dw_acc", "dw_acc_official")

# ----------------------------------------------------------------------- data
def _check(lang: str, level: str | None = None, mode: str | None = None) -> None:
    if lang not in POLYMATH_LANGS:
        raise DataNotFoundError(f"PolyMath has no language {lang!r}; its languages are {', '.join(POLYMATH_LANGS)}")
    if level is not None and level not in LEVELS:
        raise DataNotFoundError(f"PolyMath has no level {level!r}; its levels are {', '.join(LEVELS)}")
    if mode is not None and mode not in MODES:
        raise DataNotFoundError(f"PolyMath has no mode {mode!r}; its modes are {', '.join(MODES)}")


def data_file(lang: str, level: str) -> str:
    return f"polymath/polymath_{lang}.{level}.jsonl"


def required_files(lang: str, level: str, **_) -> list[str]:
    _check(lang, level)
    return [data_file(lang, level)]


def records(rows, lang: str, level: str, where: str) -> list[dict]:
    """Rows of the release (``id`` = ``<level>-<lang>-<n>``, ``question``, ``answer``) -> our docs,
    with ``item_id`` = ``<level>-<n>``, the same in every language (the parallel item's key)."""
    out = []
    for i, row in enumerate(rows):
        parts = str(row.get("id", "")).split("-")
        if len(parts) != 3 or parts[0] != level or parts[1] != lang or not parts[2].isdigit():
            raise DataFormatError(f"{where}, row {i + 1}: id {row.get('id')!r} is not {level}-{lang}-<number>")
        for field in ("question", "answer"):
            if not isinstance(row.get(field), str) or not row[field].strip():
                raise DataFormatError(f"{where}, row {i + 1} ({row['id']}): field {field} is empty or not text")
        out.append({"item_id": f"{level}-{parts[2]}", "id": row["id"], "lang": lang, "level": level,
                    "question": row["question"], "answer": row["answer"]})
    return out


def read_level(root: Path | None, lang: str, level: str) -> list[dict]:
    """Our docs of one (language, level): from the data folder, or the hub when `root` is None."""
    _check(lang, level)
    if root is None:
        import datasets

        rows = list(datasets.load_dataset(HUB_PATH, lang, split=level))
        return records(rows, lang, level, f"{HUB_PATH} {lang}/{level}")
    path = root / data_file(lang, level)
    return records(read_jsonl(path, ("id", "question", "answer")), lang, level, str(path))


def _to_datasets(docs):
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def load_local(root, lang: str, level: str, **_):
    return _to_datasets(read_level(root, lang, level))


def load_hub(lang: str, level: str, **_):
    return _to_datasets(read_level(None, lang, level))


# -------------------------------------------------------------------- prompts
def reply_lang(lang: str, mode: str) -> str:
    """The language the thinking and the answer should be in: English for forcing_en."""
    return "en" if mode == "forcing_en" else lang


def user_turn(lang: str, mode: str) -> str:
    """The one user turn (a Jinja template of the doc): ``{question}\\n{note}``, and the
    control sentence on its own line after the note (the release gives the strings, not
    their assembly; this is ours, README)."""
    _check(lang, mode=mode)
    text = "{{question}}\n" + NOTE[lang]
    if mode != "native":
        text += "\n" + CONTROL[mode][lang]
    return text


def prompt_parts(lang: str, level: str = "low", mode: str = "native", **_) -> dict:
    """Everything a task YAML needs: 0-shot, no system prompt, no stop sequence but the
    model's end of turn, a budget for reasoning models."""
    _check(lang, level, mode)
    return {
        "description": "",
        "doc_to_text": user_turn(lang, mode),
        "target_delimiter": " ",
        "doc_to_target": "answer",  # logged for readers (the judge's gold); never shown in a prompt
        "until": [],
        "max_gen_toks": MAX_GEN_TOKS,
    }


# ----------------------------------------------------------------- extraction
def extract(reply: str, prompt=None, expected: str | None = None) -> Extracted:
    """The first boxed answer of the reply's answer part (spaces removed, as the release
    extracts), carrying the reply, its thinking part, its answer part, whether it was cut
    off inside its thinking (then CUT_OFF: no answer) and the language it should be in."""
    thinking, answer, truncated = split(reply or "", prompt)
    if truncated:
        value = CUT_OFF
    else:
        boxed = math_answer.first_boxed(answer)
        value = NO_ANSWER if boxed is None else boxed
    return Extracted.of(value, reply, thinking=thinking, answer=answer, truncated=truncated, reply_lang=expected)


class AnswerFilter(ReplyFilter):
    """lm-eval filter: every reply (all k of a sampled run) -> its boxed answer (`extract`),
    split with the rendered prompt when the plugin passes it (`ReplyFilter.prompts`)."""

    def __init__(self, lang: str = "", mode: str = "native", **kwargs) -> None:
        super().__init__(**kwargs)
        self.lang, self.mode = lang, mode

    def apply(self, resps, docs):
        prompts, expected = self.prompts(len(resps)), reply_lang(self.lang, self.mode)
        return [[extract(reply, prompt, expected) for reply in replies] for replies, prompt in zip(resps, prompts)]


def scorer_signature(lang: str, mode: str) -> str:
    return (f"polymath:v{TASK_VERSION}|lang:{lang}|mode:{mode}|reply-lang:{reply_lang(lang, mode)}"
            f"|think:split(tags,prompt-open)|cut-in-thinking:0|extract:first-boxed(answer-part,spaces-removed)"
            f"|{math_answer.SIGNATURE}|per-problem:mean-of-samples")


# -------------------------------------------------------------------- scoring
def _samples(results) -> list:
    """The filtered replies of one document: a list of k (our filter keeps all of them)."""
    first = results[0] if results else []
    return list(first) if isinstance(first, (list, tuple)) else [first]


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def correct(answer: str, gold: str) -> tuple[bool, bool]:
    """(right?, did the check run out of time?) for one extracted answer."""
    if answer in (NO_ANSWER, CUT_OFF):
        return False, False
    from lm_eval_ext.runtime import math_check

    verdict = math_check.check(str(answer), gold)
    return verdict.equal, verdict.timed_out


def process_results(doc: dict, results: list) -> dict:
    """Per problem, the mean over its k samples (k = 1 unless the task repeats): acc,
    truncated_in_thinking, no_answer, check_timeout; language identification of the answer
    part (lang_fidelity, lang_undecidable, lang_line_pass) and of the thinking part (thinking_lang_fidelity,
    None without thinking); the release's langdetect rule when langdetect is installed."""
    from lm_eval_ext.runtime import math_check

    samples = _samples(results)
    expected = (getattr(samples[0], "reply_lang", None) if samples else None) or doc["lang"]
    out = {}
    verdicts = None
    if not math_check.unavailable():  # without math-verify: NaN and why, on every document alike
        verdicts = [correct(str(s), doc["answer"]) for s in samples]
        out["acc"] = _mean(float(ok) for ok, _ in verdicts)  # first: the family's primary metric (compare)
    out["truncated_in_thinking"] = _mean(float(str(s) == CUT_OFF) for s in samples)
    out["no_answer"] = _mean(float(str(s) == NO_ANSWER) for s in samples)
    if verdicts is not None:
        out["check_timeout"] = _mean(float(timed_out) for _, timed_out in verdicts)
    answers = [getattr(s, "answer", None) for s in samples]
    thoughts = [getattr(s, "thinking", None) for s in samples]
    if any(a is None for a in answers):  # someone else's filter: no parts to judge
        return out
    if not langid.unavailable():
        fids = [langid.fidelity(a, expected) for a in answers]
        out["lang_fidelity"] = _mean(fids)
        out["lang_undecidable"] = _mean(float(f is None) for f in fids)
        out["thinking_lang_fidelity"] = _mean(langid.fidelity(t, expected) if t else None for t in thoughts)
    lines = [confusion.line_pass_metrics(a, expected) for a in answers]
    if lines and all(confusion.LINE_PASS in d for d in lines):  # the answer part, as every task's lang_line_pass
        out[confusion.LINE_PASS] = _mean(d[confusion.LINE_PASS] for d in lines)
    if not langdetect_rule.unavailable():
        out["answer_lang_cons_langdetect"] = _mean(float(langdetect_rule.consistent(a, expected)) for a in answers)
        out["thinking_lang_cons_langdetect"] = _mean(float(langdetect_rule.consistent(t or "", expected))
                                                     for t in thoughts)
    return out


# ------------------------------------------------------------ DW-ACC (groups)
def task_parts(task: str) -> tuple[str, str] | None:
    """(language, level) of one of our task names (``polymath[_<mode>]_<lang>_<level>``)."""
    parts = task.split("_")
    if len(parts) >= 3 and parts[0] == "polymath" and parts[-1] in LEVELS and parts[-2] in POLYMATH_LANGS:
        return parts[-2], parts[-1]
    return None


def dw_acc(levels: dict[str, float]) -> float:
    """DW-ACC of one language from its four level accuracies (fractions)."""
    return sum(WEIGHTS[lvl] * levels[lvl] for lvl in LEVELS) / sum(WEIGHTS.values())


def dw_acc_official(levels: dict[str, float]) -> float:
    """The release's number: each level's accuracy rounded to 0.1 % first, the weighted
    sum rounded to 0.1 % again (run_eval.py), as a fraction."""
    rounded = {lvl: round(levels[lvl] * 100, 1) for lvl in LEVELS}
    return round(sum(WEIGHTS[lvl] * rounded[lvl] for lvl in LEVELS) / sum(WEIGHTS.values()), 1) / 100


def dw_acc_stderr(stderrs: dict[str, float]) -> float:
    """Standard error of DW-ACC from the levels' (independent problems)."""
    return math.sqrt(sum((WEIGHTS[lvl] / sum(WEIGHTS.values())) ** 2 * stderrs[lvl] ** 2 for lvl in LEVELS))


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def group_values(group: str, leaves: dict[str, dict]) -> dict[str, float]:
    """The family contract's group hook (`base.Family.group_values`): DW-ACC of a group
    whose leaves are all four levels of each of its languages, the unweighted mean over
    its languages (and its standard error), per filter. A group of one level (polymath_low)
    gets nothing: lm-eval's mean over languages is its value. Missing or NaN levels: NaN."""
    by_lang: dict[str, dict[str, dict]] = {}
    for task, metrics in leaves.items():
        parts = task_parts(task)
        if parts is None:
            return {}
        by_lang.setdefault(parts[0], {})[parts[1]] = metrics
    if not by_lang or all(len(levels) < 2 for levels in by_lang.values()):
        return {}
    filters = sorted({key.split(",", 1)[1] for m in leaves.values() for key in m
                      if key.startswith("acc,")})
    out: dict[str, float] = {}
    for filt in filters:
        values, officials, errors = [], [], []
        for lang, levels in by_lang.items():
            accs = {lvl: _number(levels.get(lvl, {}).get(f"acc,{filt}")) for lvl in LEVELS}
            if any(a is None or math.isnan(a) for a in accs.values()):
                values = []
                break
            values.append(dw_acc(accs))
            officials.append(dw_acc_official(accs))
            ses = {lvl: _number(levels[lvl].get(f"acc_stderr,{filt}")) for lvl in LEVELS}
            errors.append(None if any(s is None for s in ses.values()) else dw_acc_stderr(ses))
        if not values:
            out[f"dw_acc,{filt}"] = out[f"dw_acc_official,{filt}"] = float("nan")
            out[f"dw_acc_stderr,{filt}"] = "N/A"
            continue
        n = len(values)
        out[f"dw_acc,{filt}"] = sum(values) / n
        # the release averages per-language numbers it already rounded
        out[f"dw_acc_official,{filt}"] = round(sum(officials) / n * 100, 1) / 100 if n > 1 else officials[0]
        out[f"dw_acc_stderr,{filt}"] = (math.sqrt(sum(e * e for e in errors)) / n
                                        if all(e is not None for e in errors) else "N/A")
    return out


# ----------------------------------------------------------- run-time facts
def annotate(task: str, cfg: dict, meta: dict, result, acc, bootstrap_iters) -> None:
    """Run-time signatures (the checker's installed versions, langdetect's, the identifier's
    for the thinking part, k and the decoding of a sampled run) and each logged sample's
    thinking and answer parts (``reply_thinking``, ``reply_answer``, ``reply_truncated``
    beside lm-eval's fields)."""
    from lm_eval_ext.runtime import math_check

    from lm_eval_ext.missing import Skip

    sigs = meta.setdefault("metric_signatures", {})
    k = int(cfg.get("repeats") or 1)
    gen = cfg.get("generation_kwargs") or {}
    decoding = (f"sampled(temperature={gen.get('temperature')},top_p={gen.get('top_p', 1.0)})"
                if gen.get("do_sample") else "greedy")
    missing = math_check.unavailable()
    sigs["acc"] = (Skip(missing) if missing else
                   f"{meta.get('scorer', '')}|{math_check.signature()}|samples:{k}|avg@{k}|decoding:{decoding}")
    for name in ("check_timeout", "dw_acc") if missing else ():
        sigs[name] = Skip(missing)
    sigs["thinking_lang_fidelity"] = langid.signature()
    for name in ("answer_lang_cons_langdetect", "thinking_lang_cons_langdetect"):
        sigs[name] = langdetect_rule.signature()
    identical = 0
    lines = [line for line in (acc or {}).get("logged_samples") or () if line.get("filter") == FILTER]
    for line in lines:
        parts = [r for rs in line.get("filtered_resps") or () for r in (rs if isinstance(rs, list) else [rs])]
        line["reply_thinking"] = [getattr(p, "thinking", None) for p in parts]
        line["reply_answer"] = [getattr(p, "answer", None) for p in parts]
        line["reply_truncated"] = [bool(getattr(p, "truncated", False)) for p in parts]
        identical += k > 1 and len({getattr(p, "reply", None) for p in parts}) == 1
    if k > 1 and lines and identical == len(lines):
        # lm-eval's API models send one fixed seed with every request: a server that honours it
        # (vLLM) returns the same sample k times (README, "Sampled decoding")
        meta["sampling_warning"] = (f"all {k} samples of every problem are identical: avg@{k} is one sample "
                                    "(a fixed per-request seed, or greedy decoding)")
        log.warning("lm-eval-ext: %s: %s", task, meta["sampling_warning"])


# ------------------------------------------------------------- self-translate
# The source adapter of `families.self_translate` (SOURCES["polymath"]): stage 1 translates each
# problem into English, stage 2 answers the translation with the English prompt of polymath_en_*
# and this family's scorer, all four levels in one task per language.
ST_STAGE1_MAX_GEN_TOKS = 2048  # a top-level problem: up to ~300 English words, more tokens in other scripts


def parallel_levels(root, lang: str) -> list[tuple[dict, dict]]:
    """(problem in `lang`, the same problem in English) of every level, low to top."""
    out = []
    for level in LEVELS:
        a, b = read_level(root, lang, level), read_level(root, "en", level)
        if [d["item_id"] for d in a] != [d["item_id"] for d in b]:
            raise DataFormatError(f"PolyMath {level}: {lang} and en list different problems; self-translate needs "
                                  "the parallel files")
        out += list(zip(a, b))
    return out


def st_files(lang: str) -> list[str]:
    return [data_file(code, level) for code in (lang, "en") for level in LEVELS]


def st_texts(root, lang: str) -> list[tuple[str, str, str]]:
    """(text id = item id, the problem in `lang`, the English problem) in stage-2 order."""
    return [(a["item_id"], a["question"], b["question"]) for a, b in parallel_levels(root, lang)]


def st_docs(root, lang: str, translations: dict[str, str]) -> list[dict]:
    """The English docs (gold, level) with the model's translation as the question, in data
    order, as far as stage 1 translated."""
    out = []
    for a, b in parallel_levels(root, lang):
        if a["item_id"] not in translations:
            break
        out.append({**b, "question": translations[a["item_id"]], "source_lang": lang,
                    "original_question": a["question"], "reference_question": b["question"]})
    return out


def st_results(doc: dict, results: list) -> dict:
    """polymath_en_*'s scorer on the answer to the translation, and ``dw_acc`` over the task's
    items (`dw_acc_of_items`: a self-translate task holds all four levels of its language)."""
    out = process_results(doc, results)
    if out.get("acc") is not None:
        out["dw_acc"] = (doc["level"], out["acc"])
    return out


def dw_acc_of_items(items) -> float:
    """lm-eval aggregation of (level, acc) per item: DW-ACC of one task holding every level; NaN
    when a level has no item (a --limit that stops inside the first levels)."""
    by_level: dict[str, list[float]] = {}
    for level, value in items:
        by_level.setdefault(level, []).append(value)
    if any(not by_level.get(level) for level in LEVELS):
        return float("nan")
    return dw_acc({level: sum(v) / len(v) for level, v in by_level.items()})


# ----------------------------------------------------- cross-lingual consistency
CONSISTENCY_MODE = "native"


@lru_cache(maxsize=65536)
def same_answer(a: str, b: str) -> bool:
    """Two extracted answers are the same answer: the checker both ways round (it is asked
    with a gold; here neither is)."""
    if a in (NO_ANSWER, CUT_OFF) or b in (NO_ANSWER, CUT_OFF):
        return False
    from lm_eval_ext.runtime import math_check

    return a == b or math_check.check(a, b).equal


def _parallel_rows(root, lang: str) -> list[dict]:
    return [doc for level in LEVELS for doc in read_level(root, lang, level)]


PARALLEL = Parallel(
    mode=CONSISTENCY_MODE,
    per_language_tasks={f"polymath_{level}": f"polymath_{{lang}}_{level}" for level in LEVELS},
    dataset_kwargs=lambda lang: {"lang": lang, "level": "low", "mode": CONSISTENCY_MODE},
    rows=_parallel_rows,
    exemplars=lambda root, lang: [],  # 0-shot
    item_id=lambda doc: str(doc["item_id"]),
    doc_lang=lambda doc: doc.get("source_lang") or doc["lang"],
    instruction=lambda lang: "",
    prompt=lambda row: user_turn(row["lang"], CONSISTENCY_MODE).replace("{{question}}", row["question"]),
    target=lambda row: " " + row["answer"],
    stops=lambda lang: [],
    extract=lambda reply, lang, row, strategy: str(extract(reply)),
    correct=lambda row, answer: correct(answer, row["answer"])[0],
    equal=lambda a, lang_a, b, lang_b: same_answer(a, b),
    reply_lang=lambda lang: reply_lang(lang, CONSISTENCY_MODE),
    filters=((FILTER, "first-boxed"),),
    scorer=f"polymath:v{TASK_VERSION}|mode:native|{math_answer.SIGNATURE}|agreement:checker-equal,no-answer-never-equal"
           "|consistency:jaccard-of-correct-sets",
    max_gen_toks=MAX_GEN_TOKS,
)

FAMILY = Family(
    name="polymath",
    pairing=Pairing.SINGLE,
    languages=POLYMATH_LANGS,
    language_keys=(("lang",),),
    required_files=required_files,
    load_local=load_local,
    load_hub=load_hub,
    prompt=prompt_parts,
    process_results=process_results,
    reference_metric=f"acc,{FILTER}",
    judge_protocol="math_cot",
    reply_language=lambda kwargs: (reply_lang(kwargs["lang"], kwargs.get("mode", "native"))
                                   if kwargs.get("lang") else None),
    parallel=PARALLEL,
    annotate=annotate,
    group_values=group_values,
    item_key=lambda doc: str(doc["item_id"]),  # "<level>-<n>", the same problem in every language
)
