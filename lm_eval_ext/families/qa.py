"""XQuAD and MLQA: data, prompts, answer cleaning and scoring for extractive QA.

Two families of one module: `XQUAD` and `MLQA` (their tasks' ``dataset_kwargs.family``).

Docs (what every QA task yields, what logged samples and the LLM judge read):
``id``, ``context``, ``question``, ``answers`` ({"text": [...], "answer_start":
[...]}, SQuAD layout, spans of ``context``), ``ctx_lang``, ``q_lang`` (equal for
monolingual tasks), ``article`` (the source article, for few-shot exclusion)
and ``split`` (the split evaluated: test, or dev for MLQA when
``LM_EVAL_EXT_MLQA_SPLIT=dev``).

Data
- XQuAD (Artetxe et al. 2020): 1190 items, the same ids in the same order in 12
  languages; hub ``google/xquad`` (config ``xquad.<lang>``, split validation) or
  ``$LM_EVAL_EXT_DATA_DIR/xquad/xquad.<lang>.jsonl``. A cross-lingual item takes
  context and answers from the context language and the question (same id) from
  the question language.
- MLQA (Lewis et al. 2020): hub ``facebook/mlqa`` (config ``mlqa.<ctx>.<q>``,
  splits test and validation) or ``$LM_EVAL_EXT_DATA_DIR/mlqa/mlqa.<ctx>.<q>.<split>.jsonl``
  with split test and dev.

Few-shot exemplars (k-shot base-model format) never include the item asked and
never come from its article: XQuAD has only one split, so exemplars are other
items of the same task from a different article (XQuAD keeps SQuAD's order, 48
articles of 5 consecutive paragraphs); MLQA exemplars come from the dev split
(from the test split's own articles never), or from other dev articles when dev is
evaluated. Sampling is seeded by lm-eval (``--seed``), as with its default sampler.
"""

from __future__ import annotations

import logging
import os
import re
from functools import partial
from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.families.base import (ContextSampler, DataFormatError, DataNotFoundError, Extracted, Family, Pairing,
                                       Parallel, ReplyFilter, label_gap, line_start, read_jsonl)
from lm_eval_ext.languages import MLQA_LANGS, XQUAD_LANGS
from lm_eval_ext.metrics import langid
from lm_eval_ext.metrics import qa as qa_metrics
from lm_eval_ext.metrics.reasoning import strip_reasoning
from lm_eval_ext.signature import Signature

log = logging.getLogger(__name__)

XQUAD_HUB = "google/xquad"
MLQA_HUB = "facebook/mlqa"
MLQA_SPLIT_ENV = "LM_EVAL_EXT_MLQA_SPLIT"
MLQA_SPLITS = ("test", "dev")
XQUAD_PARAGRAPHS_PER_ARTICLE = 5
XQUAD_PARAGRAPHS = 240
TASK_VERSION = 1.1  # 1.1: label stops only at a line start
FILTER_NAME = "clean"
METRICS = ("exact_match", "f1", "exact_match_squad", "f1_squad")
FIELDS = ("id", "context", "question", "answers")


# ----------------------------------------------------------------------- data
def _check_pair(family: str, ctx_lang: str, q_lang: str) -> None:
    langs = XQUAD_LANGS if family == "xquad" else MLQA_LANGS
    for role, code in (("context", ctx_lang), ("question", q_lang)):
        if code not in langs:
            raise DataNotFoundError(
                f"{family.upper() if family == 'mlqa' else 'XQuAD'} has no {role} language {code!r}; "
                f"its languages are {', '.join(langs)}"
            )


def mlqa_split() -> str:
    split = os.environ.get(MLQA_SPLIT_ENV, "test").strip() or "test"
    if split not in MLQA_SPLITS:
        raise ValueError(f"{MLQA_SPLIT_ENV}={split!r}: must be one of {', '.join(MLQA_SPLITS)}")
    return split


def _pair(kw) -> tuple[str, str]:
    ctx = kw.get("ctx_lang") or kw.get("lang")
    q = kw.get("q_lang") or kw.get("lang")
    if not ctx or not q:
        raise ValueError("QA task needs dataset_kwargs ctx_lang and q_lang (or lang)")
    return ctx, q


def required_files(family: str, **kw) -> list[str]:
    ctx, q = _pair(kw)
    _check_pair(family, ctx, q)
    if family == "xquad":
        return sorted({f"xquad/xquad.{ctx}.jsonl", f"xquad/xquad.{q}.jsonl"})
    # the evaluated split and the dev split the exemplars come from
    return sorted({f"mlqa/mlqa.{ctx}.{q}.{mlqa_split()}.jsonl", f"mlqa/mlqa.{ctx}.{q}.dev.jsonl"})


def _checked_row(row: dict, where: str) -> dict:
    answers = row.get("answers")
    if not isinstance(answers, dict) or not isinstance(answers.get("text"), list):
        raise DataFormatError(f"{where}: 'answers' must be {{'text': [...], 'answer_start': [...]}}")
    texts = [t for t in answers["text"] if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataFormatError(f"{where}: item {row.get('id')!r} has no gold answer text")
    return row


def _records(rows, ctx: str, q: str, split: str, q_rows=None, articles=None, source=""):
    """Rows in SQuAD layout -> our docs; `q_rows` (same ids) supply the question."""
    if q_rows is not None and len(q_rows) != len(rows):
        raise DataFormatError(
            f"{source}: {len(rows)} context-language items but {len(q_rows)} question-language items"
        )
    out = []
    for i, row in enumerate(rows):
        _checked_row(row, f"{source} item {i}")
        question = row["question"]
        if q_rows is not None:
            if q_rows[i]["id"] != row["id"]:
                raise DataFormatError(
                    f"{source}: item {i} has id {row['id']!r} in {ctx} but {q_rows[i]['id']!r} in {q} "
                    f"(XQuAD files must list the same ids in the same order)"
                )
            question = q_rows[i]["question"]
        answers = row["answers"]
        starts = list(answers.get("answer_start") or [-1] * len(answers["text"]))
        out.append({
            "id": str(row["id"]),
            "context": row["context"],
            "question": question,
            "answers": {"text": list(answers["text"]), "answer_start": [int(s) for s in starts]},
            "ctx_lang": ctx,
            "q_lang": q,
            "article": str(articles[i] if articles is not None else row.get("title") or row["context"]),
            "split": split,
        })
    return out


def xquad_articles(rows) -> list[int]:
    """Article index per item: XQuAD keeps SQuAD v1.1 dev order, 48 articles of 5
    consecutive paragraphs. A copy with another paragraph count (a subset, a
    reordering) falls back to the paragraph as the unit, which still keeps an
    item's own context out of its exemplars."""
    para, last, paras = -1, None, []
    for row in rows:
        if row["context"] != last:
            para, last = para + 1, row["context"]
        paras.append(para)
    if para + 1 != XQUAD_PARAGRAPHS:
        log.warning("XQuAD data has %d paragraphs, not %d: few-shot exemplars exclude the item's "
                    "paragraph instead of its article", para + 1, XQUAD_PARAGRAPHS)
        return paras
    return [p // XQUAD_PARAGRAPHS_PER_ARTICLE for p in paras]


def _features():
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {"text": datasets.Sequence(datasets.Value("string")),
                    "answer_start": datasets.Sequence(datasets.Value("int32"))},
        "ctx_lang": datasets.Value("string"),
        "q_lang": datasets.Value("string"),
        "article": datasets.Value("string"),
        "split": datasets.Value("string"),
    })


def _dataset_dict(eval_docs, fewshot_docs):
    import datasets

    f = _features()
    evaluated = datasets.Dataset.from_list(eval_docs, features=f)
    pool = evaluated if fewshot_docs is eval_docs else datasets.Dataset.from_list(fewshot_docs, features=f)
    return datasets.DatasetDict({"eval": evaluated, "fewshot": pool})


def xquad_docs(root: Path | None, ctx: str, q: str) -> list[dict]:
    """The docs of one XQuAD pair (ctx = q: one language), from the data folder or the hub (root None)."""
    if root is None:
        import datasets

        _check_pair("xquad", ctx, q)
        ctx_rows = list(datasets.load_dataset(XQUAD_HUB, f"xquad.{ctx}", split="validation"))
        q_rows = ctx_rows if q == ctx else list(datasets.load_dataset(XQUAD_HUB, f"xquad.{q}", split="validation"))
        source = f"{XQUAD_HUB} xquad.{ctx}" + ("" if q == ctx else f" + xquad.{q}")
    else:
        ctx_rows = read_jsonl(root / f"xquad/xquad.{ctx}.jsonl", FIELDS)
        q_rows = ctx_rows if q == ctx else read_jsonl(root / f"xquad/xquad.{q}.jsonl", FIELDS)
        path = root / f"xquad/xquad.{ctx}.jsonl"
        source = str(path) if q == ctx else f"{path} + xquad.{q}.jsonl"
    return _records(ctx_rows, ctx, q, "test", q_rows=None if ctx == q else q_rows,
                    articles=xquad_articles(ctx_rows), source=source)


def load_local(root, family: str, **kw):
    ctx, q = _pair(kw)
    if family == "xquad":
        docs = xquad_docs(root, ctx, q)
        return _dataset_dict(docs, docs)
    split = mlqa_split()
    path = root / f"mlqa/mlqa.{ctx}.{q}.{split}.jsonl"
    docs = _records(read_jsonl(path, FIELDS), ctx, q, split, source=str(path))
    dev = docs
    if split != "dev":
        dev_path = root / f"mlqa/mlqa.{ctx}.{q}.dev.jsonl"
        dev = _records(read_jsonl(dev_path, FIELDS), ctx, q, "dev", source=str(dev_path))
    return _dataset_dict(docs, dev)


def load_hub(family: str, **kw):
    ctx, q = _pair(kw)
    _check_pair(family, ctx, q)
    if family == "xquad":
        docs = xquad_docs(None, ctx, q)
        return _dataset_dict(docs, docs)
    import datasets

    split = mlqa_split()
    ds = datasets.load_dataset(MLQA_HUB, f"mlqa.{ctx}.{q}")
    hub_split = {"test": "test", "dev": "validation"}
    docs = _records(list(ds[hub_split[split]]), ctx, q, split, source=f"{MLQA_HUB} mlqa.{ctx}.{q}")
    dev = docs if split == "dev" else _records(list(ds["validation"]), ctx, q, "dev", source=MLQA_HUB)
    return _dataset_dict(docs, dev)


# -------------------------------------------------------------------- prompts
def prompt_parts(ctx_lang: str, q_lang: str) -> dict:
    """Everything a task YAML needs. Labels and instruction are in the question's
    language; the context (and so the answer) is in the context's language."""
    P = languages.get(q_lang).qa
    c, qn, a = P.context, P.question, P.answer
    # Labels stop only at a line start: mid-line they can be words of the answer. The
    # strongest stops come first: chat APIs keep only 4 (lm-eval sends stop[:4]).
    stops = [line_start(qn), "\n\n", line_start(c)]
    en = languages.get("en").qa
    for label in (en.question, en.context):
        if line_start(label) not in stops:
            stops.append(line_start(label))
    return {
        "description": P.instruction + "\n\n",
        "doc_to_text": f"{c}{label_gap(c)}{{{{context}}}}\n{qn}{label_gap(qn)}{{{{question}}}}\n{a}",
        "target_delimiter": label_gap(a),
        "doc_to_target": "{{answers.text[0]}}",
        # A single "\n" is no stop: chat models often open with a newline.
        "until": stops,
        "max_gen_toks": 64,
    }


def render_prompt(doc: dict) -> str:
    """The 0-shot user turn of a doc, as the task renders it (tests, consistency task)."""
    parts = prompt_parts(doc["ctx_lang"], doc["q_lang"])
    return parts["doc_to_text"].replace("{{context}}", doc["context"]).replace("{{question}}", doc["question"])


# ---------------------------------------------------------- answer cleaning
_QUOTES = "\"'“”„‟«»‹›「」『』‘’‚`"
_TRAILING = ".。．,，、;；:：!！?？؟،؛।॥…"


def _answer_labels(ctx_lang: str, q_lang: str) -> list[str]:
    labels = []
    for code in dict.fromkeys((q_lang, ctx_lang, "en")):
        label = languages.get(code).qa.answer.rstrip(":：").strip()
        labels.append(label)
    return sorted(labels, key=len, reverse=True)


_LABEL_RE: dict[tuple[str, str], re.Pattern] = {}


def _label_re(ctx_lang: str, q_lang: str) -> re.Pattern:
    key = (ctx_lang, q_lang)
    if key not in _LABEL_RE:
        alts = "|".join(re.escape(x) for x in _answer_labels(ctx_lang, q_lang))
        _LABEL_RE[key] = re.compile(rf"^(?:{alts})\s*[:：]\s*", re.I)
    return _LABEL_RE[key]


def clean_answer(reply: str, ctx_lang: str, q_lang: str, context: str | None = None) -> str:
    """The answer span of a reply: reasoning blocks dropped (`metrics.reasoning`: a reply
    still inside an unclosed block has no answer there), the first non-empty line,
    without a leading "Answer:" (question, context or English label), markdown
    emphasis, wrapping quotes or trailing punctuation.

    Quotes and trailing punctuation that the reply copies from the context (the
    reply is then a verbatim span, e.g. „Der Denver-Clan“, where gold spans
    often include them) are kept: only what the model added is removed."""
    text = strip_reasoning(reply or "")
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    label = _label_re(ctx_lang, q_lang)
    for _ in range(2):  # "**Answer:** x" / "Answer: Answer: x"
        line = line.strip().strip("*_").strip()
        line = label.sub("", line)
    line = line.strip().strip("*_").strip()
    if context and line and line in context:
        return line
    prev = None
    while line != prev:  # quotes and punctuation may nest: «Paris».
        prev = line
        line = line.rstrip(_TRAILING).strip()
        if len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
            line = line[1:-1].strip()
    return line


class AnswerFilter(ReplyFilter):
    """lm-eval filter: replies -> cleaned answer spans (carrying the reply)."""

    def __init__(self, ctx_lang: str, q_lang: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ctx_lang, self.q_lang = ctx_lang, q_lang

    def one(self, reply, doc):
        return Extracted.of(clean_answer(reply, self.ctx_lang, self.q_lang, doc.get("context")), reply)


# ------------------------------------------------------------------- few-shot
class OtherArticleSampler(ContextSampler):
    """k exemplars drawn (seeded) from the pool, never the item asked and never
    from its article."""

    def sample(self, n, eval_doc=None, df=None, **kwargs):
        if n == 0:
            return []
        if df:
            self.df = df
        pool = self.fewshot_docs()
        if eval_doc is not None:
            pool = [d for d in pool if d["article"] != eval_doc["article"] and d["id"] != eval_doc["id"]]
        if len(pool) < n:
            raise ValueError(
                f"{n}-shot asked but only {len(pool)} exemplars come from other articles "
                f"(item {eval_doc and eval_doc.get('id')})"
            )
        return self.rnd.sample(pool, n)


# -------------------------------------------------------------------- scoring
def process_results(doc: dict, results: list[str]) -> dict:
    """The four metrics of one item; the language rules are the answer's, i.e.
    the context's (as the official MLQA script's answer language). Plus
    ``lang_undecidable`` and (when decidable) ``lang_fidelity``: is the whole
    reply (``<think>`` stripped) written in the context's language, the
    language of the answer span (`lm_eval_ext.metrics.langid`)."""
    out = qa_metrics.score(results[0], doc["answers"]["text"], doc["ctx_lang"])
    reply = getattr(results[0], "reply", None)
    if reply is not None:  # None: a filter of someone else's that drops the reply
        out.update(langid.fidelity_metrics(reply, reply_lang(doc["ctx_lang"])))
    return out


def reply_lang(ctx_lang: str) -> str:
    """The language a QA reply should be written in: the context's (the answer
    is a span of it), whatever the question's language."""
    return ctx_lang


def scorer_signature(ctx_lang: str) -> str:
    return str(Signature.of(Signature.parse(qa_metrics.signature(ctx_lang)),
                            ("clean", f"{FILTER_NAME}(first-line,label,quotes,trailing-punct,think)")))


# ------------------------------------------------------- cross-lingual consistency
def _normalized(answer: str, lang: str) -> str:
    # the MLQA normalization of the answer's own language (lowercase, Unicode punctuation and
    # that language's articles removed); spaces ignored, so segmented (zh) and spaced scripts
    # compare alike
    return "".join(qa_metrics.mlqa_tokens(answer, lang))


def _equal(a: str, lang_a: str, b: str, lang_b: str) -> bool:
    ka = _normalized(a, lang_a)
    return bool(ka) and ka == _normalized(b, lang_b)


def _no_exemplars(root, lang):
    raise ValueError(
        "xlc_xquad is zero-shot: XQuAD has a single split, and its per-language tasks draw k-shot "
        "exemplars at random from other articles; run xquad_<lang> for k-shot")


XQUAD_PARALLEL = Parallel(
    mode="zero-shot, context and question in the same language (the prompt of xquad_<lang>)",
    # context and question in the same language; self-translate: the English text of each language's item
    per_language_tasks={"xquad": "xquad_{lang}", "xquad_self_translate": "xquad_self_translate_{lang}"},
    dataset_kwargs=lambda lang: {"ctx_lang": lang, "q_lang": lang},
    rows=lambda root, lang: xquad_docs(root, lang, lang),
    exemplars=_no_exemplars,
    item_id=lambda doc: str(doc["id"]),
    doc_lang=lambda doc: doc.get("source_lang") or doc["ctx_lang"],  # self-translate docs: the item's language
    instruction=lambda lang: prompt_parts(lang, lang)["description"],
    prompt=render_prompt,
    target=lambda row: prompt_parts(row["ctx_lang"], row["q_lang"])["target_delimiter"] + row["answers"]["text"][0],
    stops=lambda lang: list(prompt_parts(lang, lang)["until"]),
    extract=lambda reply, lang, row, strategy: clean_answer(reply, row["ctx_lang"], row["q_lang"], row.get("context")),
    correct=lambda row, answer: qa_metrics.exact_match(answer, row["answers"]["text"], row["ctx_lang"]) == 1.0,
    equal=_equal,
    reply_lang=reply_lang,
    filters=((FILTER_NAME, "clean"),),
    scorer=str(Signature.of(("xquad-qa", f"v{qa_metrics.SCORER_VERSION}"), ("clean", FILTER_NAME),
                            ("correct", "exact_match(mlqa-rules,context-lang)"),
                            ("agreement", "equal-mlqa-normalized-answers(each-in-its-language,spaces-ignored),"
                                          "empty-never-equal"),
                            ("consistency", "jaccard-of-correct-sets"))),
    max_gen_toks=prompt_parts("en", "en")["max_gen_toks"],
)


def _family(name: str, langs: tuple[str, ...], language_keys, parallel=None, item_key=None) -> Family:
    return Family(
        name=name,
        pairing=Pairing.CONTEXT_QUESTION,
        languages=langs,
        language_keys=language_keys,
        required_files=partial(required_files, name),
        load_local=lambda root, **kw: load_local(root, name, **kw),
        load_hub=partial(load_hub, name),
        prompt=prompt_parts,
        process_results=process_results,
        reference_metric=f"exact_match,{FILTER_NAME}",
        judge_protocol="qa_equiv",
        reply_language=lambda kwargs: kwargs.get("ctx_lang") or kwargs.get("lang"),
        item_key=item_key,
        parallel=parallel,
    )


# Monolingual XQuAD tasks (xquad_de) carry `lang` beside ctx_lang = q_lang: one language row;
# MLQA's equal pairs (mlqa_de_de) stay pairs, the diagonal of its G-XLT matrix.
# XQuAD: the same ids in every language. MLQA is declared not parallel: each language's test set
# is a different subset of its questions, and no copy here shows whether ids are shared across
# languages, so its means over languages keep the independent-languages CI.
XQUAD = _family("xquad", XQUAD_LANGS, (("lang",), ("ctx_lang", "q_lang")), XQUAD_PARALLEL, XQUAD_PARALLEL.item_id)
MLQA = _family("mlqa", MLQA_LANGS, (("ctx_lang", "q_lang"),))
