"""Judging protocols: versioned prompt templates and their strict parsers.

A protocol turns one logged sample into a judge prompt and a judge reply into
a score. Replies are parsed strictly: the required line must be the reply's
last non-empty line once reasoning blocks are removed (`metrics.reasoning`); a
reply without it is a parse failure, retried once with a format reminder, and
then counted and listed, never scored as 0.

Templates live in ``reports/judge/<protocol>.v<N>.txt`` (``string.Template``
syntax). A template's *version* is ``<protocol>.v<N>#<sha256[:8] of the file>``,
so an edited file can never be confused with the published one; it is part of
every cache key and every result's provenance.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from string import Template

from lm_eval_ext import families, languages
from lm_eval_ext.metrics.reasoning import strip_reasoning
from lm_eval_ext.resources import judge_templates_dir
from lm_eval_ext.formats.run_folder import prompt_parts

TEMPLATE_REVISION = {"da": 1, "qa_equiv": 1, "math_cot": 1, "grade": 1, "pairwise": 1, "reminder": 1}
SINGLE_PROTOCOLS = ("da", "qa_equiv", "math_cot", "grade")
DESCRIPTIONS = {
    "da": "translation direct assessment 0-100 with source and reference (GEMBA-DA style)",
    "qa_equiv": "answer equivalence with the gold answers, yes/no (1/0)",
    "math_cot": "final answer correct and supported by the reasoning, yes/no (1/0)",
    "grade": "single-answer grading 1-10 with a reference (MT-Bench style)",
    "pairwise": "pairwise comparison of two runs, both orders (MT-Bench style)",
}
# what the reminder asks for
FORMATS = {
    "da": "Score: <integer from 0 to 100>",
    "qa_equiv": "Verdict: yes\n(or: Verdict: no)",
    "math_cot": "Correct: yes or no\nSupported: yes or no",
    "grade": "Rating: [[<integer from 1 to 10>]]",
    "pairwise": "[[A]] or [[B]] or [[C]]",
}


class ItemError(ValueError):
    """A sample that lacks what its protocol needs (names the field)."""


@dataclass(frozen=True)
class PromptTemplate:
    protocol: str
    revision: int
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:8]

    @property
    def version(self) -> str:
        return f"{self.protocol}.v{self.revision}#{self.sha}"

    def render(self, **fields) -> str:
        return Template(self.text).substitute(**fields)


@lru_cache(maxsize=None)
def template(protocol: str) -> PromptTemplate:
    if protocol not in TEMPLATE_REVISION:
        raise KeyError(f"unknown judge protocol {protocol!r}; known: {', '.join(TEMPLATE_REVISION)}")
    rev = TEMPLATE_REVISION[protocol]
    path = judge_templates_dir() / f"{protocol}.v{rev}.txt"
    return PromptTemplate(protocol, rev, path.read_text(encoding="utf-8"))


# ------------------------------------------------------------ protocol choice
def default_protocol(task: str, family: str, doc: dict | None, config: dict | None = None) -> str:
    """Our tasks: their family's protocol (the registry; a consistency task its source
    family's). Any other task by the generic rule: translation, QA and math tasks by
    family name or doc fields; anything else `grade`."""
    ours = families.items_family(config)
    if ours is not None and ours.judge_protocol:
        return ours.judge_protocol
    # any other lm-eval task (or a config that names no family of ours): the generic rule
    name = f"{family} {task}".lower()
    doc = doc or {}
    if "flores" in name or ("source" in doc and "reference" in doc):
        return "da"
    if "xquad" in name or "mlqa" in name or ("context" in doc and "answers" in doc):
        return "qa_equiv"
    if "mgsm" in name or "answer_number" in doc:
        return "math_cot"
    return "grade"


def parse_overrides(specs: list[str] | None) -> list[tuple[str, str]]:
    """``--protocol grade`` (every task) or ``--protocol 'flores_*=grade'`` -> [(glob, protocol)]."""
    out = []
    for spec in specs or []:
        glob, sep, proto = spec.rpartition("=")
        glob = glob if sep else "*"
        if proto not in SINGLE_PROTOCOLS:
            raise ValueError(f"--protocol {spec!r}: unknown protocol {proto!r}; choose from {', '.join(SINGLE_PROTOCOLS)}")
        out.append((glob, proto))
    return out


def choose(task: str, family: str, doc: dict | None, overrides, config: dict | None = None) -> str:
    for glob, proto in reversed(overrides):  # the last matching override wins
        if fnmatch.fnmatchcase(task, glob):
            return proto
    return default_protocol(task, family, doc, config)


# ------------------------------------------------------------- sample fields
def response_text(sample: dict) -> str:
    """The model's reply of a logged sample (first response of a generate_until request), its
    reasoning blocks removed."""
    resps = sample.get("resps")
    while isinstance(resps, list) and resps:
        resps = resps[0]
    if not isinstance(resps, str):
        raise ItemError("field 'resps' holds no generated text (is this a generate_until task?)")
    return strip_reasoning(resps).strip()


def prompt_text(sample: dict) -> str:
    """The logged prompt (a chat prompt as its messages); empty when none was logged."""
    parts = prompt_parts(sample)
    return parts[0] if parts else ""


def lang_facts(code: str | None) -> tuple[str, str]:
    """(English name, native name) from the registry; an unknown code is named by itself."""
    if not code:
        return "the language of the request", "the language of the request"
    try:
        L = languages.get(code)
    except KeyError:
        return f"the language with code {code}", code
    return L.name, L.native_name


def response_language(protocol: str, task: str, langs: tuple[str, ...], doc: dict,
                      config: dict | None = None) -> str | None:
    """The language a good reply is written in (ISO 639-1 for registry languages): for our
    tasks under their family's protocol the family's `reply_language`; otherwise (another
    protocol asked with --protocol, or any other task) the generic rule."""
    ours = families.of_config(config)
    code = None
    if ours is not None and ours.pairing is not families.Pairing.PARALLEL and protocol == ours.judge_protocol:
        code = ours.reply_language((config or {}).get("dataset_kwargs") or {})
    if code is None:
        code = _response_language(protocol, task, langs, doc)
    try:
        return languages.get(code).code if code else None
    except KeyError:
        return code


def _response_language(protocol: str, task: str, langs: tuple[str, ...], doc: dict) -> str | None:
    """The generic rule, for tasks that are not ours: the doc's language fields (lm-eval's
    built-in mgsm_en_cot tasks reason in English)."""
    if protocol == "da":
        return doc.get("tgt_lang") or (langs[-1] if langs else None)
    if protocol == "qa_equiv":  # extractive answers are spans of the context
        return doc.get("ctx_lang") or (langs[0] if langs else None)
    if protocol == "math_cot" and "en_cot" in task:
        return "en"
    return doc.get("lang") or (langs[-1] if langs else None)


def _gold_answers(doc: dict, sample: dict) -> list[str]:
    answers = doc.get("answers")
    if isinstance(answers, dict) and isinstance(answers.get("text"), list):
        return [str(a) for a in answers["text"]]
    if isinstance(answers, list):
        return [str(a) for a in answers]
    target = sample.get("target")
    if target in (None, ""):
        raise ItemError("no gold answers (doc field 'answers' {'text': [...]} or 'target')")
    return [str(target)]


def _num_text(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def fields_for(protocol: str, task: str, langs: tuple[str, ...], sample: dict,
               config: dict | None = None) -> tuple[dict, str | None]:
    """Template fields of one sample (`config`: the task's config, when the run recorded it),
    and the expected response language."""
    doc = sample.get("doc") if isinstance(sample.get("doc"), dict) else {}
    resp_lang = response_language(protocol, task, langs, doc, config)
    resp_name, resp_native = lang_facts(resp_lang)
    response = response_text(sample)
    if protocol == "da":
        src = doc.get("src_lang") or (langs[0] if langs else None)
        for key in ("source", "reference"):
            if not isinstance(doc.get(key), str):
                raise ItemError(f"doc field {key!r} missing (translation protocol needs source and reference)")
        src_name, _ = lang_facts(src)
        return dict(src_name=src_name, tgt_name=resp_name, tgt_native=resp_native, source=doc["source"],
                    reference=doc["reference"], response=response), resp_lang
    if protocol == "qa_equiv":
        for key in ("context", "question"):
            if not isinstance(doc.get(key), str):
                raise ItemError(f"doc field {key!r} missing (QA protocol needs context, question, answers)")
        gold = "; ".join(f'"{a}"' for a in dict.fromkeys(_gold_answers(doc, sample)))
        return dict(resp_name=resp_name, resp_native=resp_native, context=doc["context"],
                    ctx_name=lang_facts(doc.get("ctx_lang") or (langs[0] if langs else None))[0],
                    q_name=lang_facts(doc.get("q_lang") or (langs[-1] if langs else None))[0],
                    question=doc["question"], gold=gold, response=response), resp_lang
    if protocol == "math_cot":
        if not isinstance(doc.get("question"), str):
            raise ItemError("doc field 'question' missing (math protocol)")
        gold = doc.get("answer_number", sample.get("target"))
        if gold in (None, ""):
            raise ItemError("no gold answer (doc field 'answer_number' or 'target')")
        return dict(resp_name=resp_name, resp_native=resp_native, question=doc["question"],
                    q_name=lang_facts(doc.get("lang") or (langs[0] if langs else None))[0],
                    gold=_num_text(gold), response=response), resp_lang
    # grade (and pairwise): the request (from the doc when it has one, else as the model saw it), the gold as reference
    question = doc.get("question") if isinstance(doc.get("question"), str) else prompt_text(sample)
    if isinstance(doc.get("context"), str) and isinstance(doc.get("question"), str):
        question = f"Answer the question from the context.\n\nContext: {doc['context']}\n\nQuestion: {doc['question']}"
    elif isinstance(doc.get("source"), str):
        question = f"Translate into {resp_name}:\n\n{doc['source']}"
    if not question:
        raise ItemError("no request text (doc field 'question' or the logged prompt 'arguments')")
    reference = doc.get("reference", doc.get("answer_number", sample.get("target")))
    if isinstance(reference, list):
        reference = "; ".join(map(str, reference))
    return dict(resp_name=resp_name, resp_native=resp_native, question=question,
                reference=_num_text(reference) if reference not in (None, "") else "(none given)",
                response=response), resp_lang


# ------------------------------------------------------------------- parsers
def _last_lines(reply: str, n: int) -> list[str] | None:
    lines = [ln.strip().strip("*").strip() for ln in strip_reasoning(reply).splitlines() if ln.strip()]
    return lines[-n:] if len(lines) >= n else None


_SCORE_RE = re.compile(r"^score\s*:\s*\**\s*(\d{1,3})\s*$", re.I)
_VERDICT_RE = re.compile(r"^verdict\s*:\s*\**\s*(yes|no)\s*$", re.I)
_CORRECT_RE = re.compile(r"^correct\s*:\s*\**\s*(yes|no)\s*$", re.I)
_SUPPORTED_RE = re.compile(r"^supported\s*:\s*\**\s*(yes|no)\s*$", re.I)
_RATING_RE = re.compile(r"^rating\s*:\s*\**\s*\[\[(\d{1,2})\]\]\s*$", re.I)
_PAIR_RE = re.compile(r"\[\[([ABC])\]\]")


def parse(protocol: str, reply: str) -> dict | None:
    """{"score": float, ...} or None when the reply is not in the required format."""
    if protocol == "math_cot":
        last = _last_lines(reply, 2)
        if not last:
            return None
        c, s = _CORRECT_RE.match(last[0]), _SUPPORTED_RE.match(last[1])
        if not (c and s):
            return None
        correct, supported = c[1].lower() == "yes", s[1].lower() == "yes"
        return {"score": float(correct and supported), "correct": correct, "supported": supported}
    last = _last_lines(reply, 1)
    if not last:
        return None
    line = last[0]
    if protocol == "da":
        m = _SCORE_RE.match(line)
        if not m or not 0 <= int(m[1]) <= 100:
            return None
        return {"score": float(m[1])}
    if protocol == "qa_equiv":
        m = _VERDICT_RE.match(line)
        return {"score": float(m[1].lower() == "yes")} if m else None
    if protocol == "grade":
        m = _RATING_RE.match(line)
        if not m or not 1 <= int(m[1]) <= 10:
            return None
        return {"score": float(m[1])}
    if protocol == "pairwise":
        found = set(_PAIR_RE.findall(strip_reasoning(reply)))
        if len(found) != 1 or not _PAIR_RE.search(line):
            return None  # no verdict, or an ambiguous reply naming two
        return {"verdict": found.pop()}
    raise KeyError(protocol)


def reminder(protocol: str) -> str:
    return template("reminder").render(format=FORMATS[protocol])
