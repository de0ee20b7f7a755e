"""Cross-lingual consistency: is it the same model in every language?

One lm-eval task per parallel family (``xlc_mgsm``, ``xlc_xquad``) evaluates the same items in every language of the family. A document is
one (item, language); its per-sample value is the tuple
``(item, lang, answer, correct, fidelity)`` and custom aggregation functions turn
the tuples into the numbers below. Definitions (all over the extracted answers
of the family's own extraction, per filter):

- ``accuracy_<l>``: share of items answered correctly in language l.
- ``agreement_<a>_<b>``: share of the items answered in both a and b whose
  extracted answers are equal, right or wrong (answer agreement of Gao et al.
  2024, "Multilingual Pretraining and Instruction Tuning Improve Cross-Lingual
  Knowledge Alignment, But Only Shallowly"). A missing answer ("[no answer]")
  equals nothing, not even another missing answer.
- ``consistency_<a>_<b>`` = |C_a ∩ C_b| / |C_a ∪ C_b|, C_l the set of items
  answered correctly in l (the correct-overlap consistency of Gao et al. 2024
  and of the consistency analysis of Zhu et al. 2024, "The Power of Question
  Translation Training in Multilingual Reasoning: Broadened Scope and Deepened
  Insights"). Undefined (NaN) when no item is correct in either language.
- Pairs are unordered: one metric per pair, named in the family's language
  order (``agreement_de_en``, never ``agreement_en_de``).
- Summaries: ``agreement_mean`` / ``consistency_mean`` (unweighted mean over
  the pairs with a value), ``agreement_with_en_mean`` / ``consistency_with_en_mean``
  (mean over the non-English languages of their pair with English),
  ``accuracy_mean``, and over the items answered in every language:
  ``correct_all`` / ``correct_none`` / ``correct_some`` (shares of items answered
  correctly in all, none, and some but not all languages; they sum to 1).
- ``lang_fidelity_<l>``: share of the decidable replies in l written in the
  expected language (`lm_eval_ext.langid`).

Missing languages or items (``--limit`` not a multiple of the number of
languages, a language absent from a samples log): a pair uses the items
answered in both of its languages, the all/none/some shares the items answered
in every language; a pair or language without any such item is NaN, with a
warning naming it. Nothing is dropped silently.

A family is plugged in with a `Family` adapter (items, prompt, extraction,
equality); see tasks/xlc/README.md.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from lm_eval_ext import data, languages

log = logging.getLogger("lm_eval_ext.xlc")

TASK_VERSION = 1.1  # 1.1: the MGSM/QA prompts' label stops only at a line start
ENGLISH = "en"
SUMMARY_METRICS = (
    "accuracy_mean",
    "agreement_mean",
    "consistency_mean",
    "agreement_with_en_mean",
    "consistency_with_en_mean",
    "correct_all",
    "correct_none",
    "correct_some",
)


class Record(NamedTuple):
    """One (item, language) of a consistency task: the per-sample metric value."""

    item: int | str
    lang: str
    answer: str
    correct: bool
    fidelity: float | None = None  # 1/0 in/not in the expected language, None undecidable


@dataclass(frozen=True)
class Family:
    """How a parallel family plugs into the consistency machinery."""

    name: str  # task name suffix: xlc_<name>
    langs: tuple[str, ...]  # the family's languages, in the order pair names use
    mode: str  # which prompt of the family (documented per family)
    required_files: Callable[..., list[str]]  # (**kw) -> data files under the data root
    load_rows: Callable[..., list[dict]]  # (root or None, lang) -> normalized test rows, item order
    item_id: Callable[[dict], int | str]  # row -> item key shared by all languages
    instruction: Callable[[str], str]  # lang -> system/description text
    prompt: Callable[[dict], str]  # row -> user text
    stops: Callable[[str], list[str]]  # lang -> stop sequences of the family's own task
    load_exemplars: Callable[..., list[dict]]  # (root or None, lang) -> few-shot rows, in order
    target: Callable[[dict], str]  # row -> text after the prompt (delimiter included): exemplars' answers
    extract: Callable[[str, str, str], str]  # (reply, lang, strategy) -> answer
    correct: Callable[[dict, str], bool]  # (row, answer) -> right?
    equal: Callable[[str, str], bool]  # answers of two languages agree?
    reply_lang: Callable[[str], str]  # lang -> language the reply should be in
    strategies: tuple[tuple[str, str], ...]  # (filter name, extraction strategy)
    scorer: str  # signature of how answers are scored
    max_gen_toks: int = 512  # the family's own generation budget
    # (reply, row, strategy) -> answer, for an extraction that needs the item
    # (QA keeps quotes copied from the context); None: `extract` is used
    extract_with_row: Callable[[str, dict, str], str] | None = None


def langs_equal(fn: Callable[[str, str, str, str], bool]) -> Callable:
    """Marks an `equal` that needs the answers' languages: ``fn(a, lang_a, b, lang_b)``
    (QA normalizes each answer under its own language's rules)."""
    fn.takes_langs = True
    return fn


def _agree(equal, ra: Record, rb: Record) -> bool:
    if getattr(equal, "takes_langs", False):
        return bool(equal(ra.answer, ra.lang, rb.answer, rb.lang))
    return bool(equal(ra.answer, rb.answer))


# ---------------------------------------------------------------- the numbers
def _pair(a: str, b: str, order: tuple[str, ...]) -> tuple[str, str]:
    return (a, b) if order.index(a) <= order.index(b) else (b, a)


def _by_lang(records: Iterable) -> dict[str, dict]:
    """{lang: {item: Record}}; records may be lists (as read back from JSON)."""
    out: dict[str, dict] = {}
    for r in records:
        r = Record(*r)
        out.setdefault(r.lang, {})[r.item] = r
    return out


def accuracy(records, lang: str) -> float:
    rs = _by_lang(records).get(lang, {})
    if not rs:
        log.warning("xlc: no items in language %s: accuracy_%s is NaN", lang, lang)
        return math.nan
    return sum(r.correct for r in rs.values()) / len(rs)


def _common(by: dict, a: str, b: str, metric: str) -> list:
    missing = [x for x in (a, b) if not by.get(x)]
    if missing:
        log.warning("xlc: %s_%s_%s is NaN: no items in language(s) %s", metric, a, b, ", ".join(missing))
        return []
    items = [i for i in by[a] if i in by[b]]
    if not items:
        log.warning("xlc: %s_%s_%s is NaN: no item answered in both languages", metric, a, b)
    return items


def agreement(records, a: str, b: str, equal: Callable[[str, str], bool]) -> float:
    by = _by_lang(records)
    items = _common(by, a, b, "agreement")
    if not items:
        return math.nan
    return sum(_agree(equal, by[a][i], by[b][i]) for i in items) / len(items)


def consistency(records, a: str, b: str) -> float:
    """|C_a ∩ C_b| / |C_a ∪ C_b| over the items answered in both languages."""
    by = _by_lang(records)
    items = _common(by, a, b, "consistency")
    ca = {i for i in items if by[a][i].correct}
    cb = {i for i in items if by[b][i].correct}
    union = ca | cb
    return len(ca & cb) / len(union) if union else math.nan


def correct_shares(records, langs: tuple[str, ...] | None = None) -> dict[str, float]:
    """Shares of the items answered in every language that are correct in all /
    none / some of them."""
    by = _by_lang(records)
    langs = tuple(langs or sorted(by))
    nan = {"correct_all": math.nan, "correct_none": math.nan, "correct_some": math.nan}
    if not langs or any(not by.get(x) for x in langs):
        log.warning("xlc: correct_all/none/some are NaN: no items in language(s) %s",
                    ", ".join(x for x in langs if not by.get(x)) or "(none given)")
        return nan
    items = [i for i in by[langs[0]] if all(i in by[x] for x in langs)]
    dropped = len(set().union(*(by[x].keys() for x in langs))) - len(items)
    if dropped:
        log.warning("xlc: %d item(s) not answered in every language are left out of correct_all/none/some", dropped)
    if not items:
        return nan
    n_right = [sum(by[x][i].correct for x in langs) for i in items]
    all_ = sum(k == len(langs) for k in n_right) / len(items)
    none = sum(k == 0 for k in n_right) / len(items)
    return {"correct_all": all_, "correct_none": none, "correct_some": 1.0 - all_ - none}


def _nanmean(values) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def compute(records, langs: tuple[str, ...], equal: Callable[[str, str], bool]) -> dict[str, float]:
    """Every metric of a consistency task from its records (the post-hoc path and the tests)."""
    records = [Record(*r) for r in records]
    out = {f"accuracy_{x}": accuracy(records, x) for x in langs}
    for a, b in combinations(langs, 2):
        out[f"agreement_{a}_{b}"] = agreement(records, a, b, equal)
        out[f"consistency_{a}_{b}"] = consistency(records, a, b)
    for x in langs:
        fid = [r.fidelity for r in records if r.lang == x and r.fidelity is not None]
        out[f"lang_fidelity_{x}"] = sum(fid) / len(fid) if fid else math.nan
    out.update(summaries(records, langs, equal))
    return out


def summaries(records, langs: tuple[str, ...], equal) -> dict[str, float]:
    pairs = list(combinations(langs, 2))
    out = {
        "accuracy_mean": _nanmean(accuracy(records, x) for x in langs),
        "agreement_mean": _nanmean(agreement(records, a, b, equal) for a, b in pairs),
        "consistency_mean": _nanmean(consistency(records, a, b) for a, b in pairs),
    }
    if ENGLISH in langs:
        others = [x for x in langs if x != ENGLISH]
        out["agreement_with_en_mean"] = _nanmean(
            agreement(records, *_pair(x, ENGLISH, langs), equal) for x in others)
        out["consistency_with_en_mean"] = _nanmean(
            consistency(records, *_pair(x, ENGLISH, langs)) for x in others)
    out.update(correct_shares(records, langs))
    return out


# ------------------------------------------------------------- the families
def _mgsm_family() -> Family:
    from lm_eval_ext import mgsm
    from lm_eval_ext.metrics.numbers import canonical

    mode = "native_cot"

    def _split(root, lang, split):
        if root is None:
            import datasets

            return list(datasets.load_dataset(mgsm.HUB_PATH, lang)[split])
        suffix = ".jsonl" if split == "test" else ".train.jsonl"
        fields = ("question", "answer_number") + (("answer",) if split == "train" else ())
        return data.read_jsonl(root / f"mgsm/mgsm_{lang}{suffix}", fields)

    def load_rows(root, lang):
        return mgsm.normalize(lang, _split(root, lang, "test"), [])[0]

    def load_exemplars(root, lang):
        return mgsm.normalize(lang, [], _split(root, lang, "train"))[1]

    def target(row):
        from lm_eval.utils import apply_template

        parts = mgsm.prompt_parts(row["lang"], mode)
        return parts["target_delimiter"] + apply_template(parts["doc_to_target"], row)

    def prompt(row):
        from lm_eval.utils import apply_template

        return apply_template(mgsm.prompt_parts(row["lang"], mode)["doc_to_text"], row)

    return Family(
        name="mgsm",
        langs=languages.MGSM_LANGS,
        mode=mode,
        required_files=lambda lang, **_: [f"mgsm/mgsm_{lang}.jsonl", f"mgsm/mgsm_{lang}.train.jsonl"],
        load_rows=load_rows,
        load_exemplars=load_exemplars,
        target=target,
        item_id=lambda row: int(row["item_id"]),
        instruction=lambda lang: mgsm.prompt_parts(lang, mode)["description"],
        prompt=prompt,
        stops=lambda lang: list(mgsm.prompt_parts(lang, mode)["until"]),
        extract=lambda reply, lang, strategy: mgsm.extract(reply, lang, mode, strategy),
        correct=lambda row, answer: answer == canonical(row["answer_number"]),
        equal=lambda a, b: a == b and a != mgsm.NO_ANSWER,
        reply_lang=lambda lang: mgsm.expected_reply_lang(lang, mode),
        strategies=(("strict-match", "strict"), ("flexible-extract", "flexible")),
        scorer="mgsm-numeric:v1|mode:native_cot|agreement:equal-canonical-number,no-answer-never-equal"
               "|consistency:jaccard-of-correct-sets",
    )


def _xquad_family() -> Family:
    """XQuAD (12 languages, the same 1190 items): the prompt of ``xquad_<l>``
    (context and question in l, zero-shot), its answer cleaning (``clean``),
    correct = MLQA-rules exact match in l, agreement = equal normalized answers."""
    from lm_eval_ext import qa
    from lm_eval_ext.metrics import qa as qa_scoring

    def load_rows(root, lang):
        if root is None:
            return list(qa.load_hub(family="xquad", ctx_lang=lang, q_lang=lang)["eval"])
        path = root / f"xquad/xquad.{lang}.jsonl"
        rows = data.read_jsonl(path, qa._FIELDS)
        return qa._xquad_docs(rows, rows, lang, lang, str(path))

    def no_exemplars(root, lang):
        raise ValueError(
            "xlc_xquad is zero-shot: XQuAD has a single split, and its per-language tasks draw k-shot "
            "exemplars at random from other articles; run xquad_<lang> for k-shot")

    def key(answer: str, lang: str) -> str:
        # the MLQA normalization of the answer's own language (lowercase, Unicode
        # punctuation and that language's articles removed); spaces ignored, so
        # segmented (zh) and spaced scripts compare alike
        return "".join(qa_scoring.mlqa_tokens(answer, lang))

    @langs_equal
    def equal(a: str, lang_a: str, b: str, lang_b: str) -> bool:
        ka = key(a, lang_a)
        return bool(ka) and ka == key(b, lang_b)

    def target(row):
        parts = qa.prompt_parts(row["ctx_lang"], row["q_lang"])
        return parts["target_delimiter"] + row["answers"]["text"][0]

    return Family(
        name="xquad",
        langs=languages.XQUAD_LANGS,
        mode="zero-shot, context and question in the same language (the prompt of xquad_<lang>)",
        required_files=lambda lang, **_: [f"xquad/xquad.{lang}.jsonl"],
        load_rows=load_rows,
        load_exemplars=no_exemplars,
        target=target,
        item_id=lambda row: str(row["id"]),
        instruction=lambda lang: qa.prompt_parts(lang, lang)["description"],
        prompt=qa.render_prompt,
        stops=lambda lang: list(qa.prompt_parts(lang, lang)["until"]),
        extract=lambda reply, lang, strategy: qa.clean_answer(reply, lang, lang),
        extract_with_row=lambda reply, row, strategy: qa.clean_answer(
            reply, row["ctx_lang"], row["q_lang"], row.get("context")),
        correct=lambda row, answer: qa_scoring.exact_match(answer, row["answers"]["text"], row["ctx_lang"]) == 1.0,
        equal=equal,
        reply_lang=qa.reply_lang,
        strategies=((qa.FILTER_NAME, "clean"),),
        max_gen_toks=qa.prompt_parts("en", "en")["max_gen_toks"],
        scorer=f"xquad-qa:v{qa_scoring.SCORER_VERSION}|clean:{qa.FILTER_NAME}|correct:exact_match(mlqa-rules,context-lang)"
               "|agreement:equal-mlqa-normalized-answers(each-in-its-language,spaces-ignored),empty-never-equal"
               "|consistency:jaccard-of-correct-sets",
    )


# name -> factory (see tasks/xlc/README.md for adding a family)
FAMILY_FACTORIES: dict[str, Callable[[], Family]] = {"mgsm": _mgsm_family, "xquad": _xquad_family}


@lru_cache(maxsize=None)
def family(name: str) -> Family:
    try:
        return FAMILY_FACTORIES[name]()
    except KeyError:
        raise data.DataNotFoundError(
            f"no consistency family {name!r}; known: {', '.join(FAMILY_FACTORIES)}") from None


# ---------------------------------------------------- data (data.FAMILIES "xlc")
def required_files(source: str, **_) -> list[str]:
    fam = family(source)
    return [f for lang in fam.langs for f in fam.required_files(lang=lang)]


def _rows(root, source: str) -> list[dict]:
    """Item-major: item 0 in every language, then item 1, ... so that
    ``--limit k * n_langs`` evaluates k whole items."""
    fam = family(source)
    per_lang = {lang: fam.load_rows(root, lang) for lang in fam.langs}
    sizes = {lang: len(rows) for lang, rows in per_lang.items()}
    if len(set(sizes.values())) != 1:
        raise data.DataFormatError(
            f"xlc_{source}: the languages have different numbers of items ({sizes}); not parallel")
    docs = []
    for k in range(next(iter(sizes.values()))):
        ids = {lang: fam.item_id(per_lang[lang][k]) for lang in fam.langs}
        if len(set(map(str, ids.values()))) != 1:
            raise data.DataFormatError(f"xlc_{source}: row {k} has different item ids per language: {ids}")
        for lang in fam.langs:
            row = per_lang[lang][k]
            docs.append(_doc(fam, source, str(ids[lang]), lang, row))
    return docs


def _doc(fam: Family, source: str, item: str, lang: str, row: dict) -> dict:
    return {
        "xlc_source": source,
        "xlc_item": item,
        "xlc_lang": lang,
        "xlc_instruction": fam.instruction(lang),
        "xlc_prompt": fam.prompt(row),
        "xlc_target": fam.target(row),
        "xlc_row": row,
    }


@lru_cache(maxsize=None)
def _exemplar_docs(source: str, lang: str, root: str | None) -> tuple:
    fam = family(source)
    rows = fam.load_exemplars(None if root is None else Path(root), lang)
    return tuple(_doc(fam, source, f"shot{k}", lang, row) for k, row in enumerate(rows))


def _to_datasets(docs):
    import datasets

    # rows of different families have different fields: kept as JSON text
    flat = [{**{k: v for k, v in d.items() if k != "xlc_row"}, "xlc_row": json.dumps(d["xlc_row"], ensure_ascii=False)}
            for d in docs]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(flat)})


def load_local(root, source: str, **_):
    return _to_datasets(_rows(root, source))


def load_hub(source: str, **_):
    return _to_datasets(_rows(None, source))


def _row(doc: dict) -> dict:
    row = doc["xlc_row"]
    return json.loads(row) if isinstance(row, str) else row


# --------------------------------------------------------------- lm-eval glue
def _sampler_base():
    from lm_eval.api.samplers import ContextSampler

    return ContextSampler


class SameLanguageSampler(_sampler_base()):
    """``--num_fewshot n``: the first n exemplars of the family *in the eval doc's
    language* (MGSM: the paper's human-translated exemplars, in order), exactly
    the shots of the per-language task. lm-eval hands the eval doc to the sampler
    only when the few-shot split is the test split, hence ``fewshot_split: test``
    in the task; the test docs themselves are never used as shots."""

    def sample(self, n: int, eval_doc=None, df=None, **kwargs):
        if n == 0:
            return []
        if eval_doc is None:
            raise ValueError("xlc: SameLanguageSampler needs the eval doc (task must set fewshot_split: test)")
        root = data.local_root()
        shots = _exemplar_docs(eval_doc["xlc_source"], eval_doc["xlc_lang"], None if root is None else str(root))
        if n > len(shots):
            raise ValueError(
                f"xlc_{eval_doc['xlc_source']}: --num_fewshot {n} but language {eval_doc['xlc_lang']} has "
                f"{len(shots)} exemplars")
        return [{**d, "xlc_row": json.dumps(d["xlc_row"], ensure_ascii=False)} for d in shots[:n]]


class Answer(str):
    """The extracted answer, remembering the reply (for lang_fidelity)."""

    reply: str | None = None


def _filter_base():
    from lm_eval.api.filter import Filter

    return Filter


class AnswerFilter(_filter_base()):
    """Replies -> answers with the family's extraction in each doc's language,
    after cutting the reply at the family's own stop sequences of that language
    (the task asks the server to stop at every language's; see the README)."""

    def __init__(self, source: str, strategy: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.family, self.strategy = family(source), strategy

    def apply(self, resps, docs):
        out = []
        for rs, doc in zip(resps, docs):
            lang = doc["xlc_lang"]
            answers = []
            for reply in rs:
                reply = _cut(reply or "", self.family.stops(lang))
                if self.family.extract_with_row is not None:
                    a = Answer(self.family.extract_with_row(reply, _row(doc), self.strategy))
                else:
                    a = Answer(self.family.extract(reply, lang, self.strategy))
                a.reply = reply
                answers.append(a)
            out.append(answers)
        return out


def _cut(text: str, stops) -> str:
    for stop in stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


def process_results(doc: dict, results: list[str]) -> dict:
    """The doc's record under every metric it takes part in: its language's
    accuracy and fidelity, the pairs with its language, and the summaries."""
    from lm_eval_ext.metrics import langid

    fam = family(doc["xlc_source"])
    lang, answer = doc["xlc_lang"], results[0]
    reply = getattr(answer, "reply", None)
    # no lingua: every fidelity None, lang_fidelity_<l> NaN (reason added to the results)
    fid = langid.fidelity(reply, fam.reply_lang(lang)) if reply is not None and not langid.unavailable() else None
    rec = Record(doc["xlc_item"], lang, str(answer), bool(fam.correct(_row(doc), str(answer))), fid)
    out = {f"accuracy_{lang}": rec, f"lang_fidelity_{lang}": rec}
    for other in fam.langs:
        if other != lang:
            a, b = _pair(lang, other, fam.langs)
            out[f"agreement_{a}_{b}"] = rec
            out[f"consistency_{a}_{b}"] = rec
    for name in SUMMARY_METRICS:
        if ENGLISH in fam.langs or "with_en" not in name:
            out[name] = rec
    return out


def metric_list(source: str) -> list[dict]:
    """The task's metric_list (written into the YAML by tasks/xlc/_generate.py)."""
    fam = family(source)
    names = [f"accuracy_{x}" for x in fam.langs]
    names += [f"{m}_{a}_{b}" for a, b in combinations(fam.langs, 2) for m in ("agreement", "consistency")]
    names += [f"lang_fidelity_{x}" for x in fam.langs]
    names += [m for m in SUMMARY_METRICS if ENGLISH in fam.langs or "with_en" not in m]
    return [{"metric": n, "aggregation": f"lm_eval_ext.xlc.{source}__{n}", "higher_is_better": _higher(n)}
            for n in names]


def _higher(name: str) -> bool:
    return not name.startswith("correct_none")


def aggregation(source: str, metric: str) -> Callable[[list], float]:
    """The lm-eval aggregation function of one metric of xlc_<source>."""
    fam = family(source)
    langs, equal = fam.langs, fam.equal
    if metric in SUMMARY_METRICS:
        return lambda records: summaries(records, langs, equal)[metric]
    parts = metric.split("_")
    if parts[-1] in langs and parts[-2] in langs and len(parts) >= 3:
        a, b = parts[-2], parts[-1]
        kind = "_".join(parts[:-2])
        if kind == "agreement":
            return lambda records: agreement(records, a, b, equal)
        if kind == "consistency":
            return lambda records: consistency(records, a, b)
    elif parts[-1] in langs:
        x, kind = parts[-1], "_".join(parts[:-1])
        if kind == "accuracy":
            return lambda records: accuracy(records, x)
        if kind == "lang_fidelity":
            from lm_eval_ext.metrics.langid import mean_decidable

            return lambda records: mean_decidable(Record(*r).fidelity for r in records if Record(*r).lang == x)
    raise AttributeError(f"xlc_{source} has no metric {metric!r}")


def __getattr__(name: str):
    """``lm_eval_ext.xlc.mgsm__agreement_de_en`` etc.: the aggregation functions
    the generated task YAML names (`aggregation: !function ...`)."""
    source, sep, metric = name.partition("__")
    if not sep or source not in FAMILY_FACTORIES:
        raise AttributeError(f"module 'lm_eval_ext.xlc' has no attribute {name!r}")
    fn = aggregation(source, metric)
    fn.__name__ = fn.__qualname__ = name
    return fn
