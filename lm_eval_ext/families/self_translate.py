"""Self-translate (Etxaniz et al. 2023) and the translate-test protocol, for MGSM, XQuAD and PolyMath.

Two stages, both ordinary lm-eval tasks run with the model under test:

- Stage 1, ``<source>_self_translate_stage1_<lang>``: the model translates each item's text
  into English. A stage-1 doc is one unique text: an MGSM question; an XQuAD paragraph
  (once, not once per question) or question. The prompt is FLORES's (`flores.prompt_parts`:
  "Translate the following text from German to English.", 0-shot chat or k-shot), the reply
  is cleaned by FLORES's cleaner (`flores.TranslationFilter`) and scored like FLORES against
  the human English text of the same item (XQuAD and MGSM are parallel): corpus chrF++ and
  BLEU (`metrics.mt`), sacreBLEU signatures in the results. k-shot exemplars are human
  translations too: MGSM's 8 train questions (parallel in its 11 languages), in order;
  XQuAD questions of other articles (seeded, never the item's own article).
- Stage 2, ``<source>_self_translate_<lang>``: the model answers the English text of stage 1
  with the English prompt of ``mgsm_en_cot_en`` / ``xquad_en``, scored by those tasks' own
  filters and ``process_results`` against the item's gold (XQuAD: the gold answers of the
  same id in English, the translate-test protocol). Each doc carries the original text, the
  model's translation and the human English text; the task also reports the translation
  quality of the texts it used (``translation_chrfpp``, ``translation_bleu``: for XQuAD each
  paragraph once, on the first item of its paragraph).

Stage 2 reads stage 1's samples log from the run folder or the results file named by `SETTING`
(``LM_EVAL_EXT_SELF_TRANSLATE_FROM``), through the ground-floor run-folder format: the log
written with a stage-1 results file (`run_folder.paired_samples`). Its items are the data's
items in order, as many as stage 1 translated; `preflight` checks before a model loads that
the setting holds the stage-1 samples of the same family and language of one model, that they
cover the items stage 2 will evaluate (``--limit`` or ``--samples``), that they were made from
the same data, and refuses ``--cache_requests true`` (lm-eval keys its request cache by task
name, few-shot, template and tokenizer only: it would serve prompts built from another stage
1). Each stage-2 task records the stage 1 it read in its results (`STAGE1_RECORD`: the results
file, its model identity and a hash of the translations), so the reports can tell a model
answering its own translations from one answering another model's.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from pathlib import Path

from lm_eval_ext import languages, model_identity
from lm_eval_ext.families import flores, mgsm, polymath, qa
from lm_eval_ext.families.base import DataFormatError, DataNotFoundError, Family, Pairing
from lm_eval_ext.families.stage1_reader import (SETTING, STAGE1_RECORD, SelfTranslateError, Stage1Log, stage1_record,
                                                stage1_run)
from lm_eval_ext.formats import run_folder
from lm_eval_ext.languages import MGSM_LANGS, POLYMATH_LANGS, XQUAD_LANGS
from lm_eval_ext.metrics import mt
from lm_eval_ext.signature import Signature

log = logging.getLogger(__name__)

# the source families; PolyMath's item-specific parts are its own (families.polymath, "self-translate")
SOURCES = {"mgsm": MGSM_LANGS, "xquad": XQUAD_LANGS, "polymath": POLYMATH_LANGS}
TASK_VERSION = 1.0
TARGET = "en"
STAGE1_METRICS = ("chrfpp", "bleu", "reply_cleaned", "lang_fidelity", "lang_undecidable")
TRANSLATION_METRICS = ("translation_chrfpp", "translation_bleu")
XQUAD_STAGE1_MAX_GEN_TOKS = 1024  # a whole XQuAD paragraph: ~150 English words, more tokens in other scripts


def languages_of(source: str) -> tuple[str, ...]:
    """The languages self-translate runs for: every non-English language of the source family."""
    return tuple(code for code in SOURCES[source] if code != TARGET)


def stage1_task(source: str, lang: str) -> str:
    return f"{source}_self_translate_stage1_{lang}"


def stage2_task(source: str, lang: str) -> str:
    return f"{source}_self_translate_{lang}"


def _check(source: str, lang: str) -> None:
    if source not in SOURCES:
        raise DataNotFoundError(f"self-translate has no source family {source!r}; known: {', '.join(SOURCES)}")
    if lang not in languages_of(source):
        raise DataNotFoundError(f"{source} self-translate has no language {lang!r}; its languages are "
                                f"{', '.join(languages_of(source))}")


# ------------------------------------------------------------- stage 1: the texts
def _mgsm_pairs(root, lang: str, split: str) -> list[tuple[dict, dict]]:
    """(item in lang, same item in English) of one MGSM split, by position (MGSM is parallel)."""
    orig, en = mgsm.read_split(root, lang, split), mgsm.read_split(root, TARGET, split)
    if len(orig) != len(en):
        raise DataFormatError(f"MGSM {split}: {lang} has {len(orig)} items and en {len(en)}; "
                                     "self-translate needs the parallel files")
    if split == "test":
        a, b = mgsm.normalize(lang, orig, [])[0], mgsm.normalize(TARGET, en, [])[0]
    else:  # exemplar questions only
        a = [{"question": mgsm._strip_prefix(r["question"], languages.get(lang).mgsm.question)} for r in orig]
        b = [{"question": mgsm._strip_prefix(r["question"], languages.get(TARGET).mgsm.question)} for r in en]
    return list(zip(a, b))


def _xquad_pairs(root, lang: str) -> list[tuple[dict, dict]]:
    orig, en = qa.xquad_docs(root, lang, lang), qa.xquad_docs(root, TARGET, TARGET)
    if len(orig) != len(en):
        raise DataFormatError(f"XQuAD: {lang} has {len(orig)} items and en {len(en)}; "
                                     "self-translate needs the parallel files")
    for i, (a, b) in enumerate(zip(orig, en)):
        if a["id"] != b["id"]:
            raise DataFormatError(f"XQuAD item {i}: id {a['id']!r} in {lang} but {b['id']!r} in en "
                                         "(the files must list the same ids in the same order)")
    return list(zip(orig, en))


def _text(text_id: str, kind: str, source: str, reference: str, lang: str, article: str = "") -> dict:
    return {"text_id": text_id, "kind": kind, "source": source, "reference": reference,
            "src_lang": lang, "tgt_lang": TARGET, "article": article, "id": text_id}


def _xquad_texts(pairs) -> list[dict]:
    """Each paragraph once (before its first question), then each question."""
    out, last, para = [], None, -1
    for orig, en in pairs:
        if orig["context"] != last:
            para, last = para + 1, orig["context"]
            out.append(_text(f"context:{para}", "context", orig["context"], en["context"], orig["ctx_lang"],
                             orig["article"]))
        out.append(_text(f"question:{orig['id']}", "question", orig["question"], en["question"], orig["ctx_lang"],
                         orig["article"]))
    return out


def stage1_texts(root, source: str, lang: str) -> list[dict]:
    """The stage-1 docs of one language, in the order stage 2 needs them."""
    _check(source, lang)
    if source == "mgsm":
        return [_text(str(a["item_id"]), "question", a["question"], b["question"], lang)
                for a, b in _mgsm_pairs(root, lang, "test")]
    if source == "polymath":
        return [_text(key, "question", text, ref, lang) for key, text, ref in polymath.st_texts(root, lang)]
    return _xquad_texts(_xquad_pairs(root, lang))


def _stage1_exemplars(root, source: str, lang: str) -> list[dict]:
    if source == "polymath":  # 0-shot chat only: every problem is a test item
        return []
    if source == "mgsm":  # the paper's 8 exemplar questions, human-translated, in order
        return [_text(f"train:{i}", "question", a["question"], b["question"], lang)
                for i, (a, b) in enumerate(_mgsm_pairs(root, lang, "train"))]
    return [t for t in _xquad_texts(_xquad_pairs(root, lang)) if t["kind"] == "question"]


def _stage1_dataset(root, source: str, lang: str):
    import datasets

    splits = {"test": datasets.Dataset.from_list(stage1_texts(root, source, lang))}
    exemplars = _stage1_exemplars(root, source, lang)
    if exemplars:
        splits["train"] = datasets.Dataset.from_list(exemplars)
    return datasets.DatasetDict(splits)


def stage1_files(source: str, lang: str, **_) -> list[str]:
    _check(source, lang)
    if source == "mgsm":
        return [f for code in (lang, TARGET) for f in (f"mgsm/mgsm_{code}.jsonl", f"mgsm/mgsm_{code}.train.jsonl")]
    if source == "polymath":
        return polymath.st_files(lang)
    return [f"xquad/xquad.{lang}.jsonl", f"xquad/xquad.{TARGET}.jsonl"]


def stage1_prompt(source: str, lang: str) -> dict:
    """FLORES's prompt into English, with the source's generation budget."""
    parts = flores.prompt_parts(lang, TARGET)
    if source == "xquad":
        parts["max_gen_toks"] = XQUAD_STAGE1_MAX_GEN_TOKS
    if source == "polymath":
        parts["max_gen_toks"] = polymath.ST_STAGE1_MAX_GEN_TOKS
    return parts


def stage1_results(doc: dict, results: list[str]) -> dict:
    """FLORES's per-item results, the metrics stage 1 reports."""
    out = flores.process_results(doc, results)
    return {k: v for k, v in out.items() if k in STAGE1_METRICS}


def _annotate(prefix: str, task: str, cfg: dict, meta: dict, result, acc, bootstrap_iters) -> None:
    """sacreBLEU's signatures of this process for the (prefixed) chrF++ and BLEU, and
    (stage 1) their bootstrap standard errors, as FLORES does."""
    sigs = mt.runtime_signatures(TARGET)
    meta.setdefault("metric_signatures", {}).update({prefix + m: sigs[m] for m in ("chrfpp", "bleu")})
    if prefix:
        return
    iters = flores.corpus_stderr(task, result, acc, bootstrap_iters, ("bleu", "chrfpp"))
    meta["stderr"] = (f"bootstrap over texts, {iters} resamples, seed {mt.BOOTSTRAP_SEED} (bleu, chrfpp)"
                      if iters >= 2 else "not computed")


def _annotate_stage2(source: str, task: str, cfg: dict, meta: dict, result, acc, bootstrap_iters) -> None:
    """Stage 2: sacreBLEU's signatures of the translation metrics and the stage 1 it read."""
    _annotate("translation_", task, cfg, meta, result, acc, bootstrap_iters)
    record = _READ.get(task)
    if record is None:  # the dataset was built in another process: read the same setting again
        from lm_eval_ext.families.base import local_root

        lang = str(((cfg.get("dataset_kwargs") or {}).get("lang")) or task.rsplit("_", 1)[-1])
        try:
            stage1, _, tr = stage1_translations(task, source, lang, local_root())
            record = stage1_record(stage1, tr)
        except (DataNotFoundError, DataFormatError, OSError) as err:
            record = {"error": f"the stage 1 read could not be recorded: {err}"}
    meta[STAGE1_RECORD] = record


# ------------------------------------------------- stage 2: reading stage 1's run (`stage1_reader`)
def stage1_translations(task: str, source: str, lang: str, root) -> tuple[Stage1Log, Path, dict[str, str]]:
    """(stage-1 run, samples file, {text_id: the model's cleaned English translation}) after
    checking that each logged text is the data's text of the same id."""
    stage1 = stage1_run(task, source, stage1_task(source, lang))
    path = stage1.samples
    texts = {t["text_id"]: t for t in stage1_texts(root, source, lang)}
    out: dict[str, str] = {}
    problems: list = []
    for line in run_folder.read_samples(path, problems):
        doc, resps = line.get("doc"), line.get("filtered_resps")
        if line.get("filter", flores.FILTER) != flores.FILTER:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("text_id"), str) or not isinstance(resps, list) \
                or not resps or not isinstance(resps[0], str):
            raise SelfTranslateError(f"task {task}: {path}, doc {line.get('doc_id')}: not a stage-1 sample of "
                                     f"{stage1_task(source, lang)} (no doc.text_id or filtered_resps)")
        ours = texts.get(doc["text_id"])
        if ours is None or ours["source"] != doc.get("source"):
            raise SelfTranslateError(
                f"task {task}: {path}, doc {line.get('doc_id')} ({doc['text_id']}): the stage-1 text is not the "
                f"data's text of that item ({'unknown id' if ours is None else 'different text'}); stage 1 was "
                "run on other data (LM_EVAL_EXT_DATA_DIR or hub version)")
        out[doc["text_id"]] = resps[0]
    if problems:
        raise SelfTranslateError(f"task {task}: {problems[0]}")
    return stage1, path, out


_READ: dict[str, dict] = {}  # stage-2 task -> the record of the stage 1 its dataset was built from


# ------------------------------------------------------------- stage 2: the docs
def _mgsm_stage2(root, lang: str, tr: dict[str, str]) -> list[dict]:
    out = []
    for a, b in _mgsm_pairs(root, lang, "test"):
        key = str(a["item_id"])
        if key not in tr:
            break
        # the doc of mgsm_en_cot_en (so its filters and process_results score it as such) plus the texts
        out.append({**b, "item_id": a["item_id"], "question": tr[key], "source_lang": lang,
                    "original_question": a["question"], "reference_question": b["question"]})
    return out


def _xquad_stage2(root, lang: str, tr: dict[str, str]) -> list[dict]:
    out, last, para = [], None, -1
    for orig, en in _xquad_pairs(root, lang):
        first = orig["context"] != last
        if first:
            para, last = para + 1, orig["context"]
        ctx, q = tr.get(f"context:{para}"), tr.get(f"question:{orig['id']}")
        if ctx is None or q is None:
            break
        # the doc of xquad_en (gold answers of the same id in English) with the model's texts
        out.append({**en, "context": ctx, "question": q, "source_lang": lang, "context_first": first,
                    "original_context": orig["context"], "original_question": orig["question"],
                    "reference_context": en["context"], "reference_question": en["question"]})
    return out


def stage2_docs(root, source: str, lang: str, translations: dict[str, str]) -> list[dict]:
    """The items stage 1 translated, in data order (the longest covered prefix)."""
    if source == "polymath":
        return polymath.st_docs(root, lang, translations)
    return (_mgsm_stage2 if source == "mgsm" else _xquad_stage2)(root, lang, translations)


def item_count(root, source: str, lang: str) -> int:
    """How many items a language of the source family has (what stage 2 evaluates without --limit)."""
    if source == "polymath":
        return len(polymath.parallel_levels(root, lang))
    return len(_mgsm_pairs(root, lang, "test")) if source == "mgsm" else len(_xquad_pairs(root, lang))


def limit_count(limit, total: int) -> int:
    """How many items lm-eval evaluates with --limit (lm_eval.evaluator_utils.get_sample_size)."""
    if limit is None:
        return total
    limit = float(limit)
    return int(math.ceil(total * limit)) if limit < 1.0 else min(int(limit), total)


def stage1_count(root, source: str, lang: str, items: int) -> int:
    """How many stage-1 texts (lm-eval's --limit of stage 1) the first `items` stage-2 items need:
    MGSM and PolyMath one question per item; XQuAD also each paragraph once, before its first question."""
    if source in ("mgsm", "polymath"):
        return items
    texts = stage1_texts(root, source, lang)
    questions = [i for i, t in enumerate(texts) if t["kind"] == "question"]
    return 0 if items <= 0 else questions[min(items, len(questions)) - 1] + 1


def _cache_requests_on(cache_requests) -> bool:
    """lm-eval's ``--cache_requests true`` (reads cached prompts; ``refresh`` rebuilds them)."""
    if isinstance(cache_requests, dict):
        return bool(cache_requests.get("cache_requests")) and not cache_requests.get("rewrite_requests_cache")
    return cache_requests is True or str(cache_requests).lower() == "true"


def preflight(task: str | None = None, source: str = "", lang: str = "", limit=None, model_args=None,
              samples=None, cache_requests=None, model=None, **_) -> None:
    """Stage 2, before any model loads: the stage-1 samples exist, are of this family and
    language, come from the same data and cover the items this run evaluates (`limit`, or the
    doc indices `samples` selects); lm-eval's request cache is not asked to serve prompts."""
    task = task or stage2_task(source, lang)
    _check(source, lang)
    if _cache_requests_on(cache_requests):
        raise SelfTranslateError(
            f"task {task}: --cache_requests true would serve the prompts lm-eval cached for {task} in an earlier "
            "run, built from the stage-1 translations that run read (lm-eval keys its request cache by task "
            f"name, few-shot, chat template and tokenizer only, not by {SETTING}); run stage-2 tasks without "
            "--cache_requests, or with --cache_requests refresh (prompts rebuilt from this stage 1)")
    from lm_eval_ext.families.base import local_root

    root = local_root()
    run, path, tr = stage1_translations(task, source, lang, root)
    covered = len(stage2_docs(root, source, lang, tr))
    selected = samples.get(task) if isinstance(samples, dict) else None
    if selected is not None:
        indices = [i for i in selected if isinstance(i, int) and not isinstance(i, bool)]
        beyond = sorted(i for i in indices if i >= covered)
        if beyond:
            raise SelfTranslateError(
                f"task {task}: --samples selects item(s) {', '.join(map(str, beyond[:10]))}"
                f"{' …' if len(beyond) > 10 else ''} but the stage-1 run ({run.results}) translated the texts of "
                f"the first {covered} items only; run {stage1_task(source, lang)} on the items up to "
                f"{max(beyond)} (--limit {stage1_count(root, source, lang, max(beyond) + 1)})")
    else:
        needed = limit_count(limit, item_count(root, source, lang))
        if covered < needed:
            hint = "the same --limit" if source in ("mgsm", "polymath") else (
                f"--limit {stage1_count(root, source, lang, needed)} (stage 1 counts paragraphs and questions)")
            raise SelfTranslateError(
                f"task {task} evaluates {needed} items but the stage-1 run in {SETTING}={path.parent} translated "
                f"the texts of the first {covered} ({path.name}); run {stage1_task(source, lang)} with {hint}")
    if model_args:
        this = model_identity.identity(model or run.config.get("model"), model_args)
        if this.key != run.identity.key:
            log.warning("task %s: the stage-1 run %s translated with %s [%s], this run answers with %s [%s]: that "
                        "is translate-test with another model's translations, not self-translate", task,
                        run.results, run.model, run.identity.describe(), this.name, this.describe())


def stage2_files(source: str, lang: str, **_) -> list[str]:
    return stage1_files(source, lang)


def _stage2_dataset(root, source: str, lang: str, task: str | None = None):
    import datasets

    task = task or stage2_task(source, lang)
    _check(source, lang)
    stage1, _, tr = stage1_translations(task, source, lang, root)
    _READ[task] = stage1_record(stage1, tr)
    docs = stage2_docs(root, source, lang, tr)
    if source == "polymath":
        return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})
    if source == "mgsm":
        extra = {"source_lang": lang, "original_question": None, "reference_question": None}
        exemplars = [{**r, **extra} for r in mgsm.normalize(TARGET, [], mgsm.read_split(root, TARGET, "train"))[1]]
        features = datasets.Features({
            "item_id": datasets.Value("int32"), "lang": datasets.Value("string"),
            "question": datasets.Value("string"), "answer_number": datasets.Value("float64"),
            "cot": datasets.Value("string"), "cot_en": datasets.Value("string"),
            **{k: datasets.Value("string") for k in extra}})
        return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs, features=features),
                                     "train": datasets.Dataset.from_list(exemplars, features=features)})
    extra = {"source_lang": lang, "context_first": False, "original_context": None, "original_question": None,
             "reference_context": None, "reference_question": None}
    features = qa._features()
    features.update({k: datasets.Value("bool" if k == "context_first" else "string") for k in extra})
    pool = [{**d, **extra} for d in qa.xquad_docs(root, TARGET, TARGET)]
    return datasets.DatasetDict({"eval": datasets.Dataset.from_list(docs, features=features),
                                 "fewshot": datasets.Dataset.from_list(pool, features=features)})


def _translation_items(doc: dict) -> list[tuple[str, str, str]]:
    """(model's translation, human English text, "en") of the texts a stage-2 item used:
    XQuAD's paragraph only on the first item of its paragraph, so each text counts once."""
    items = [(doc["question"], doc["reference_question"], TARGET)]
    if doc.get("context_first"):
        items.append((doc["context"], doc["reference_context"], TARGET))
    return items


def translation_chrfpp(items) -> float:
    """Corpus chrF++ of the translations the stage-2 items used (per-item lists flattened)."""
    return mt.chrfpp([t for item in items for t in item])


def translation_bleu(items) -> float:
    return mt.bleu([t for item in items for t in item])


def mgsm_stage2_results(doc: dict, results: list[str]) -> dict:
    """``mgsm_en_cot_en``'s scorer on the English text, and the translation it used; the
    item is non-English (exact_match_non_en, as in the MGSM groups)."""
    out = {k: v for k, v in mgsm.process_results(doc, results).items() if k in MGSM_STAGE2_METRICS}
    out["exact_match_non_en"] = out["exact_match"]
    translation = _translation_items(doc)
    return {**out, "translation_chrfpp": translation, "translation_bleu": translation}


def xquad_stage2_results(doc: dict, results: list[str]) -> dict:
    """``xquad_en``'s scorer (English rules, English gold of the same id) and the translations used."""
    out = qa.process_results(doc, results)
    translation = _translation_items(doc)
    return {**out, "translation_chrfpp": translation, "translation_bleu": translation}


MGSM_STAGE2_METRICS = ("exact_match", "lang_fidelity", "lang_undecidable")


def polymath_stage2_results(doc: dict, results: list) -> dict:
    """polymath_en_*'s scorer on the English text (acc, and DW-ACC over the task's items) and the
    translation it used."""
    translation = _translation_items(doc)
    return {**polymath.st_results(doc, results), "translation_chrfpp": translation, "translation_bleu": translation}


def stage2_prompt(source: str, lang: str) -> dict:
    """The English prompt of mgsm_en_cot_en / xquad_en."""
    if source == "polymath":
        return polymath.prompt_parts(TARGET, "low", "native")
    return mgsm.prompt_parts(TARGET, "en_cot") if source == "mgsm" else qa.prompt_parts(TARGET, TARGET)


def scorer_signature(source: str, stage: int, lang: str) -> str:
    if stage == 1:  # FLORES's lexical scorers but spBLEU, and FLORES's cleaner
        return str(Signature.of(("self-translate-stage1", "v1"), source, f"{lang}->en",
                                Signature.parse(mt.static_scorer(TARGET)).without("spbleu"),
                                Signature.parse(flores.cleaner_signature())))
    inner = {"mgsm": lambda: mgsm.scorer_signature(TARGET, "en_cot"), "xquad": lambda: qa.scorer_signature(TARGET),
             "polymath": lambda: polymath.scorer_signature(TARGET, "native")}[source]()
    return str(Signature.of(("self-translate", "v1"), source, f"{lang}->en", ("translations", SETTING),
                            Signature.parse(inner), ("translation", "chrfpp+bleu(corpus,each-text-once)")))


# ------------------------------------------------------------------- the families
def _family(source: str, stage: int) -> Family:
    name = stage1_task(source, "")[:-1] if stage == 1 else stage2_task(source, "")[:-1]
    if stage == 1:
        return Family(
            name=name, pairing=Pairing.SINGLE, languages=languages_of(source), language_keys=(("lang",),),
            required_files=partial(stage1_files, source),
            load_local=lambda root, lang, **_: _stage1_dataset(root, source, lang),
            load_hub=lambda lang, **_: _stage1_dataset(None, source, lang),
            prompt=partial(stage1_prompt, source),
            process_results=stage1_results,
            reference_metric=f"chrfpp,{flores.FILTER}",  # corpus-level: the judge's generic rule
            judge_protocol="da", reply_language=lambda kwargs: TARGET,
            item_key=lambda doc: str(doc["text_id"]),  # question:<item> / context:<paragraph>, every language
            annotate=partial(_annotate, ""),
        )
    inner = families_of_source(source)
    return Family(
        name=name, pairing=Pairing.SINGLE, languages=languages_of(source), language_keys=(("lang",),),
        required_files=partial(stage2_files, source),
        load_local=lambda root, lang, task=None, **_: _stage2_dataset(root, source, lang, task),
        load_hub=lambda lang, task=None, **_: _stage2_dataset(None, source, lang, task),
        prompt=partial(stage2_prompt, source),
        process_results={"mgsm": mgsm_stage2_results, "xquad": xquad_stage2_results,
                         "polymath": polymath_stage2_results}[source],
        reference_metric=inner.reference_metric, judge_protocol=inner.judge_protocol,
        reply_language=lambda kwargs: TARGET,
        item_key=inner.item_key,  # the source family's items, in every language
        run_made_documents=True,  # the docs hold stage 1's translations, the model's own
        annotate=partial(_polymath_stage2_annotate if source == "polymath" else _annotate_stage2, source),
        preflight=lambda task=None, lang="", limit=None, model_args=None, samples=None, cache_requests=None,
        model=None, **_: preflight(task, source, lang, limit, model_args, samples, cache_requests, model),
    )


def _polymath_stage2_annotate(source: str, task: str, cfg: dict, meta: dict, result, acc, bootstrap_iters) -> None:
    """PolyMath's run-time facts (checker signature, each reply's thinking and answer parts), then
    what every stage 2 records (the translations' sacreBLEU signatures, the stage 1 it read)."""
    polymath.annotate(task, cfg, meta, result, acc, bootstrap_iters)
    _annotate_stage2(source, task, cfg, meta, result, acc, bootstrap_iters)


def families_of_source(source: str) -> Family:
    return {"mgsm": mgsm.FAMILY, "xquad": qa.XQUAD, "polymath": polymath.FAMILY}[source]


FAMILIES = tuple(_family(source, stage) for source in SOURCES for stage in (1, 2))


def family(source: str, stage: int) -> Family:
    """The registered family of `source`'s stage 1 or 2."""
    return FAMILIES[list(SOURCES).index(source) * 2 + stage - 1]
