"""The consistency tasks ``xlc_<family>``: the same items of a parallel family in every language.

One lm-eval task per family with a consistency adapter (`base.Parallel`: MGSM,
XQuAD) evaluates its items in all of the family's languages. A document is one
(item, language), item-major, so ``--limit k * n_langs`` evaluates k whole items.
Its per-sample value is a `metrics.consistency.Record` ``(item, lang, answer,
correct, fidelity)``; the aggregation functions this module exports by name
(``lm_eval_ext.families.xlc.mgsm__agreement_de_en``) turn the records into the
numbers `metrics.consistency` defines. The prompt, stops, extraction and
correctness are the source family's own (its adapter); see tasks/xlc/README.md.

The registry imports this module, so it looks its sources up in the registry when
it runs, never at import.
"""

from __future__ import annotations

import json
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Callable

from lm_eval_ext.families.base import (ContextSampler, DataFormatError, DataNotFoundError, Extracted, Family, Pairing,
                                       ReplyFilter, local_root)
from lm_eval_ext.metrics import consistency, langid
from lm_eval_ext.metrics.consistency import ENGLISH, SUMMARY_METRICS, Record
from lm_eval_ext.missing import mean_applicable

TASK_VERSION = 1.1  # 1.1: the MGSM/QA prompts' label stops only at a line start


def source_family(name: str):
    """The family named `name` and its consistency adapter (`base.Parallel`)."""
    from lm_eval_ext import families

    try:
        fam = families.get(name)
    except DataNotFoundError:
        fam = None
    if fam is None or fam.parallel is None:
        known = ", ".join(f.name for f in families.parallel_families())
        raise DataNotFoundError(f"no consistency family {name!r}; known: {known}")
    return fam, fam.parallel


# ----------------------------------------------------------------------- data
def required_files(source: str, **_) -> list[str]:
    fam, par = source_family(source)
    return [f for lang in fam.languages for f in fam.required_files(**par.dataset_kwargs(lang))]


def _rows(root, source_name: str) -> list[dict]:
    """Item-major: item 0 in every language, then item 1, ... so that
    ``--limit k * n_langs`` evaluates k whole items."""
    fam, par = source_family(source_name)
    per_lang = {lang: par.rows(root, lang) for lang in fam.languages}
    sizes = {lang: len(rows) for lang, rows in per_lang.items()}
    if len(set(sizes.values())) != 1:
        raise DataFormatError(
            f"xlc_{source_name}: the languages have different numbers of items ({sizes}); not parallel")
    docs = []
    for k in range(next(iter(sizes.values()))):
        ids = {lang: par.item_id(per_lang[lang][k]) for lang in fam.languages}
        if len(set(ids.values())) != 1:
            raise DataFormatError(f"xlc_{source_name}: row {k} has different item ids per language: {ids}")
        for lang in fam.languages:
            docs.append(document(source_name, ids[lang], lang, per_lang[lang][k]))
    return docs


def document(source_name: str, item: str, lang: str, row: dict) -> dict:
    """The consistency task's doc of one (item, language): the source family's prompt of it."""
    _, par = source_family(source_name)
    return {
        "xlc_source": source_name,
        "xlc_item": item,
        "xlc_lang": lang,
        "xlc_instruction": par.instruction(lang),
        "xlc_prompt": par.prompt(row),
        "xlc_target": par.target(row),
        "xlc_row": row,
    }


@lru_cache(maxsize=None)
def _exemplar_docs(source_name: str, lang: str, root: str | None) -> tuple:
    _, par = source_family(source_name)
    rows = par.exemplars(None if root is None else Path(root), lang)
    return tuple(document(source_name, f"shot{k}", lang, row) for k, row in enumerate(rows))


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
class SameLanguageSampler(ContextSampler):
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
        root = local_root()
        shots = _exemplar_docs(eval_doc["xlc_source"], eval_doc["xlc_lang"], None if root is None else str(root))
        if n > len(shots):
            raise ValueError(
                f"xlc_{eval_doc['xlc_source']}: --num_fewshot {n} but language {eval_doc['xlc_lang']} has "
                f"{len(shots)} exemplars")
        return [{**d, "xlc_row": json.dumps(d["xlc_row"], ensure_ascii=False)} for d in shots[:n]]


def _cut(text: str, stops) -> str:
    for stop in stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


def answer_of(reply: str, doc: dict, strategy: str) -> Extracted:
    """The reply cleaner of a consistency doc: the reply cut at the source family's own stop
    sequences of the doc's language (the task asks the server to stop at every language's;
    see the README), then the source family's extraction."""
    _, par = source_family(doc["xlc_source"])
    reply = _cut(reply or "", par.stops(doc["xlc_lang"]))
    return Extracted.of(par.extract(reply, doc["xlc_lang"], _row(doc), strategy), reply)


class AnswerFilter(ReplyFilter):
    """Replies -> answers with the source family's extraction in each doc's language."""

    def __init__(self, source: str, strategy: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.source, self.strategy = source, strategy

    def one(self, reply, doc):
        return answer_of(reply, doc, self.strategy)


def process_results(doc: dict, results: list[str]) -> dict:
    """The doc's record under every metric it takes part in: its language's
    accuracy and fidelity, the pairs with its language, and the summaries; None
    under the task's other metrics. Every document emits every key: lm-eval 0.4.13
    gathers a data-parallel run under the keys rank 0 saw, and a rank holding
    other languages' documents would lose (or stop on) the keys it lacks."""
    fam, par = source_family(doc["xlc_source"])
    lang, answer = doc["xlc_lang"], results[0]
    reply = getattr(answer, "reply", None)
    # no lingua: every fidelity None, lang_fidelity_<l> NaN (reason added to the results)
    fid = langid.fidelity(reply, par.reply_lang(lang)) if reply is not None and not langid.unavailable() else None
    rec = Record(doc["xlc_item"], lang, str(answer), bool(par.correct(_row(doc), str(answer))), fid)
    out = {f"accuracy_{lang}": rec, f"lang_fidelity_{lang}": rec}
    for other in fam.languages:
        if other != lang:
            a, b = consistency.ordered_pair(lang, other, fam.languages)
            out[f"agreement_{a}_{b}"] = rec
            out[f"consistency_{a}_{b}"] = rec
    for name in SUMMARY_METRICS:
        if ENGLISH in fam.languages or "with_en" not in name:
            out[name] = rec
    return {name: out.get(name) for name in metric_names(doc["xlc_source"])}


@lru_cache(maxsize=None)
def metric_names(source_name: str) -> tuple[str, ...]:
    fam, _ = source_family(source_name)
    names = [f"accuracy_{x}" for x in fam.languages]
    names += [f"{m}_{a}_{b}" for a, b in combinations(fam.languages, 2) for m in ("agreement", "consistency")]
    names += [f"lang_fidelity_{x}" for x in fam.languages]
    names += [m for m in SUMMARY_METRICS if ENGLISH in fam.languages or "with_en" not in m]
    return tuple(names)


def metric_list(source_name: str) -> list[dict]:
    """The task's metric_list (written into the YAML by tasks/xlc/_generate.py)."""
    return [{"metric": n, "aggregation": f"{__name__}.{source_name}__{n}", "higher_is_better": _higher(n)}
            for n in metric_names(source_name)]


def _higher(name: str) -> bool:
    return not name.startswith("correct_none")


def aggregation(source_name: str, metric: str) -> Callable[[list], float]:
    """The lm-eval aggregation function of one metric of xlc_<source>, over the
    records of the documents that take part in it (the others log None)."""
    score = _aggregation(source_name, metric)
    return lambda values: score([r for r in values if r is not None])


def _aggregation(source_name: str, metric: str) -> Callable[[list], float]:
    fam, par = source_family(source_name)
    langs, equal = fam.languages, par.equal
    if metric in SUMMARY_METRICS:
        return lambda records: consistency.summaries(records, langs, equal)[metric]
    parts = metric.split("_")
    if parts[-1] in langs and parts[-2] in langs and len(parts) >= 3:
        a, b = parts[-2], parts[-1]
        kind = "_".join(parts[:-2])
        if kind == "agreement":
            return lambda records: consistency.agreement(records, a, b, equal)
        if kind == "consistency":
            return lambda records: consistency.correct_overlap(records, a, b)
    elif parts[-1] in langs:
        x, kind = parts[-1], "_".join(parts[:-1])
        if kind == "accuracy":
            return lambda records: consistency.accuracy(records, x)
        if kind == "lang_fidelity":
            return lambda records: mean_applicable(Record(*r).fidelity for r in records if Record(*r).lang == x)
    raise AttributeError(f"xlc_{source_name} has no metric {metric!r}")


def __getattr__(name: str):
    """``lm_eval_ext.families.xlc.mgsm__agreement_de_en`` etc.: the aggregation functions
    the generated task YAML names (`aggregation: !function ...`)."""
    source_name, sep, metric = name.partition("__")
    if not sep:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        source_family(source_name)
    except DataNotFoundError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    fn = aggregation(source_name, metric)
    fn.__name__ = fn.__qualname__ = name
    return fn


FAMILY = Family(
    name="xlc",
    pairing=Pairing.PARALLEL,
    languages=(),  # each task has its source family's languages
    language_keys=(),  # its metric names carry the languages (agreement_de_en)
    required_files=required_files,
    load_local=load_local,
    load_hub=load_hub,
    process_results=process_results,
    reference_metric="",
    judge_protocol="",
    reply_language=lambda kwargs: None,
    item_key=lambda doc: str(doc["xlc_item"]),  # the source family's item id (one doc per item and language)
)
