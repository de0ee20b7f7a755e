"""FLORES-200 machine translation: data, prompts, reply cleaning, per-item results.

Tasks ``flores_<src>-<tgt>`` (FLORES-200 codes, e.g. ``flores_deu_Latn-eng_Latn``)
translate the ``devtest`` sentences (1012) and score the corpus with BLEU,
spBLEU, chrF++ (`lm_eval_ext.metrics.mt`) and COMET/BLEURT
(`lm_eval_ext.runtime.neural`). See tasks/flores/README.md.

Data: the hub (``openlanguagedata/flores_plus``, one config per language, gated:
needs a login and accepted terms) by default; with ``LM_EVAL_EXT_DATA_DIR`` the
files ``flores/<code>.<split>.jsonl`` (fields ``id``, ``text``; line k is the same
sentence in every language).

Few-shot exemplars are the first k sentences of ``dev``. When ``dev`` is not
there (the offline copy has only ``devtest``) a k-shot run stops with
`FewshotUnavailable` naming the missing file; 0-shot runs need no ``dev``.
"""

from __future__ import annotations

import re
from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.families.base import (DataFormatError, DataNotFoundError, Extracted, Family, FirstNSampler, Pairing,
                                       ReplyFilter, Rescore, RescoreError, read_jsonl)
from lm_eval_ext.metrics import confusion, langid, mt
from lm_eval_ext.runtime import neural
from lm_eval_ext.metrics.reasoning import strip_reasoning
from lm_eval_ext.missing import Skip
from lm_eval_ext.signature import Signature

HUB_PATH = "openlanguagedata/flores_plus"
ALT_HUB_PATH = "facebook/flores"
HUB_PATH_ENV = "LM_EVAL_EXT_FLORES_HUB"
# flores_plus renamed a few FLORES-200 codes (Mandarin is written as cmn_*).
HUB_CODES = {"zho_Hans": "cmn_Hans", "zho_Hant": "cmn_Hant"}
TEST_SPLIT = "devtest"
FEWSHOT_SPLIT = "dev"
FILTER = "translation"
TASK_VERSION = 1.0
CLEANER_VERSION = 1
_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")


class FewshotUnavailable(RuntimeError):
    pass


# ----------------------------------------------------------------------- data
def check_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise DataNotFoundError(
            f"FLORES language code {code!r} is not a FLORES-200 code like 'deu_Latn' (<iso639-3>_<Script>)"
        )
    return code


def language_name(code: str) -> str:
    """English name from the registry (every FLORES-200 code has one; a prompt never shows a code)."""
    try:
        return languages.get(code).name
    except KeyError:
        raise DataNotFoundError(f"FLORES language code {code!r} is not one of the {len(languages.FLORES200)} "
                                f"FLORES-200 codes of the language registry ({languages.FLORES200_FILE})") from None


def required_files(src_lang: str, tgt_lang: str, **_) -> list[str]:
    return [f"flores/{check_code(c)}.{TEST_SPLIT}.jsonl" for c in (src_lang, tgt_lang)]


def _rows(root, code: str, split: str):
    path = root / f"flores/{code}.{split}.jsonl"
    if not path.is_file():
        return None
    return read_jsonl(path, ("id", "text"))


def pair_records(src_lang: str, tgt_lang: str, src_rows, tgt_rows, split: str) -> list[dict]:
    """Parallel rows -> docs. Line k of every language is the same sentence."""
    if len(src_rows) != len(tgt_rows):
        raise DataFormatError(
            f"FLORES {split}: {src_lang} has {len(src_rows)} sentences and {tgt_lang} {len(tgt_rows)}; "
            "the files must be parallel"
        )
    out = []
    for i, (s, t) in enumerate(zip(src_rows, tgt_rows)):
        if str(s["id"]) != str(t["id"]):
            raise DataFormatError(
                f"FLORES {split} line {i + 1}: id {s['id']} ({src_lang}) != {t['id']} ({tgt_lang})"
            )
        out.append({
            "id": int(s["id"]),
            "source": s["text"],
            "reference": t["text"],
            "src_lang": src_lang,
            "tgt_lang": tgt_lang,
            "split": split,
        })
    return out


def _to_datasets(test: list[dict], dev: list[dict]):
    import datasets

    features = datasets.Features({
        "id": datasets.Value("int32"),
        "source": datasets.Value("string"),
        "reference": datasets.Value("string"),
        "src_lang": datasets.Value("string"),
        "tgt_lang": datasets.Value("string"),
        "split": datasets.Value("string"),
    })

    def build(rows):
        return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)

    return datasets.DatasetDict({
        TEST_SPLIT: build(test),
        # empty when there is no dev split: FloresSampler then explains why k-shot cannot run
        FEWSHOT_SPLIT: build(dev),
    })


def load_local(root, src_lang: str, tgt_lang: str, **_):
    test = pair_records(src_lang, tgt_lang, _rows(root, src_lang, TEST_SPLIT), _rows(root, tgt_lang, TEST_SPLIT), TEST_SPLIT)
    src_dev, tgt_dev = _rows(root, src_lang, FEWSHOT_SPLIT), _rows(root, tgt_lang, FEWSHOT_SPLIT)
    dev = []
    if src_dev is not None and tgt_dev is not None:
        dev = pair_records(src_lang, tgt_lang, src_dev, tgt_dev, FEWSHOT_SPLIT)
    return _to_datasets(test, dev)


def load_hub(src_lang: str, tgt_lang: str, **_):
    import os

    import datasets

    path = os.environ.get(HUB_PATH_ENV, "").strip() or HUB_PATH
    splits = {}
    for split in (TEST_SPLIT, FEWSHOT_SPLIT):
        if path == ALT_HUB_PATH:  # one config per pair, columns sentence_<code>
            ds = datasets.load_dataset(path, f"{src_lang}-{tgt_lang}", split=split)
            rows = [(r["id"], r[f"sentence_{src_lang}"], r[f"sentence_{tgt_lang}"]) for r in ds]
            splits[split] = [
                {"id": i, "source": s, "reference": t, "src_lang": src_lang, "tgt_lang": tgt_lang, "split": split}
                for i, s, t in rows
            ]
        else:
            src = datasets.load_dataset(path, HUB_CODES.get(src_lang, src_lang), split=split)
            tgt = datasets.load_dataset(path, HUB_CODES.get(tgt_lang, tgt_lang), split=split)
            splits[split] = pair_records(src_lang, tgt_lang, list(src), list(tgt), split)
    return _to_datasets(splits[TEST_SPLIT], splits[FEWSHOT_SPLIT])


# -------------------------------------------------------------------- prompts
def prompt_parts(src_lang: str, tgt_lang: str) -> dict:
    """One template serves both formats:
    - 0-shot chat: the instruction is the system prompt, the user turn is
      ``German: <source>\\nEnglish:``;
    - k-shot base model: the instruction, then k ``German: ...\\nEnglish: ...``
      pairs from ``dev``, then the item."""
    src, tgt = language_name(src_lang), language_name(tgt_lang)
    return {
        "description": f"Translate the following text from {src} to {tgt}.\n\n",
        "doc_to_text": f"{src}: {{{{source}}}}\n{tgt}:",
        "target_delimiter": " ",
        "doc_to_target": "{{reference}}",
        # The next exemplar's label ends a base model's translation; never "\n"
        # or "\n\n": a chat reply may open with a preamble and a blank line.
        "until": [f"\n{src}:", f"\n\n{src}:"] if src != tgt else [f"\n{src}:"],
        "max_gen_toks": 256,
    }


class FloresSampler(FirstNSampler):
    """The first k ``dev`` sentences (the same k sentences for every pair); a
    clear stop when ``dev`` is missing instead of exemplars from the test set."""

    def sample(self, n: int, eval_doc=None, df=None, **kwargs):
        if n > 0 and len(self.df) < n:
            raise FewshotUnavailable(
                f"FLORES k-shot needs {n} exemplars from the '{FEWSHOT_SPLIT}' split, which has {len(self.df)} "
                f"here. Offline copies often have only '{TEST_SPLIT}': add "
                f"$LM_EVAL_EXT_DATA_DIR/flores/<code>.{FEWSHOT_SPLIT}.jsonl for both languages, use the hub "
                "(unset LM_EVAL_EXT_DATA_DIR), or run 0-shot (--num_fewshot 0). Exemplars are never taken "
                f"from '{TEST_SPLIT}'."
            )
        return super().sample(n, eval_doc=eval_doc, df=df, **kwargs)


# ------------------------------------------------------------ reply cleaning
def _words(words) -> str:
    return "|".join(re.escape(w) for w in words)


# A preamble line announces the translation and ends in a colon:
#   "Here is the translation:", "Sure! The English translation is:", "Translation:"
# (the words of every registry language: languages.mt_words)
_PREAMBLE_WORDS = re.compile(f"({_words(languages.mt_words('preamble_words'))})", re.I)
_NOTE = re.compile(rf"^\s*[\(\[]?\s*(\*\*)?\s*({_words(languages.mt_words('note_openers'))})\b", re.I)
_LABELS = languages.mt_words("translation_label")
_QUOTES = {'"': '"', "“": "”", "«": "»", "„": "“", "「": "」", "'": "'"}


def clean_translation(reply: str, src_lang: str = "", tgt_lang: str = "", source: str = "") -> tuple[str, bool]:
    """The translation inside a reply, and whether anything had to be removed.

    The documented rule (tasks/flores/README.md), applied in order:
    1. reasoning blocks are dropped (`metrics.reasoning.strip_reasoning`: ``<think>…</think>``;
       a reply that only closes one starts after ``</think>``; an unclosed one ends the reply);
    2. a first line that ends in ``:``/``：`` and announces a translation
       ("Here is the translation:") is dropped when text follows it;
    3. a leading target-language or "Translation" label (``English: …``) is dropped;
    4. the translation ends at the first blank line, or at a line that starts a
       note ("Note: …", "(Literally …)");
    5. ``**bold**`` markers are unwrapped and one pair of quotes wrapping the
       whole translation is removed when the source is not itself quoted.
    Whitespace at both ends is never counted as cleaning.
    """
    original = (reply or "").strip()
    text = strip_reasoning(reply or "").strip()
    lines = text.split("\n")
    if len(lines) > 1:
        first = lines[0].strip()
        rest = "\n".join(lines[1:]).strip()
        if first.endswith((":", "：")) and _PREAMBLE_WORDS.search(first) and rest:
            text = rest
    labels = list(_LABELS)
    if tgt_lang:
        labels.insert(0, language_name(tgt_lang))
    for label in labels:
        m = re.match(rf"^\**{re.escape(label)}\**\s*[:：]\s*", text, re.I)
        if m:
            text = text[m.end():]
            break
    kept = []
    for line in text.strip().split("\n"):
        if not line.strip() or (kept and _NOTE.match(line)):
            if kept:
                break
            continue
        kept.append(line)
    text = "\n".join(kept).strip()
    text = text.replace("**", "")
    src = (source or "").strip()
    if (len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]
            and not (src and src[0] in _QUOTES)):
        text = text[1:-1].strip()
    return text, text != original


def cleaner_signature(tgt_lang: str | None = None) -> str:
    """The cleaning rule; a target language whose own preamble/label/note words the registry
    lacks is cleaned by the language-neutral rule alone (the other languages' words and its
    English name as a label), which the signature says."""
    fields = [("flores-clean", f"v{CLEANER_VERSION}"), "think", "preamble", "label", "first-paragraph", "notes",
              "quotes"]
    if tgt_lang and not languages.get(tgt_lang).has_mt_words:
        fields.append(("target-words", "none(language-neutral)"))
    return str(Signature.of(*fields))


def scorer_signature(tgt_lang: str) -> str:
    """A FLORES task's static ``metadata.scorer``: its lexical metrics, then its reply cleaner."""
    return str(Signature.of(Signature.parse(mt.static_scorer(tgt_lang)), Signature.parse(cleaner_signature(tgt_lang))))


class TranslationFilter(ReplyFilter):
    """lm-eval filter: replies -> translations (`clean_translation`), carrying whether cleaning changed the reply."""

    def __init__(self, src_lang: str = "", tgt_lang: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def one(self, reply, doc):
        text, cleaned = clean_translation(reply, self.src_lang, self.tgt_lang, (doc or {}).get("source", ""))
        return Extracted.of(text, reply, cleaned=cleaned)


def reply_lang(tgt_lang: str) -> str | None:
    """The registry code a translation should be written in (the target
    language); None for a code outside the registry (no such task is generated)."""
    try:
        return languages.get(tgt_lang).code
    except KeyError:
        return None


def fidelity_signatures(tgt_lang: str, cfg: dict, current: dict) -> dict:
    """The language-identification metrics of a task whose target an identifier does not know
    (lingua for lang_fidelity & co., fastText lid.176 for lang_line_pass): skipped with the reason
    (NaN, never a false 0); known through its macrolanguage (``ara`` for Egyptian Arabic): the
    signature says so. `current`: the task's signatures."""
    expected = reply_lang(tgt_lang)
    if expected is None:
        return {}
    lang = languages.get(expected)
    out: dict = {}
    for m in cfg.get("metric_list") or []:
        name = m.get("metric") if isinstance(m, dict) else None
        if not isinstance(name, str):
            continue
        if langid.uses_langid(name):
            label, reason = langid.label_of(expected), langid.unknown_reason
        elif name == confusion.LINE_PASS:
            label = (lang.lid176, lang.lid176_match) if lang.lid176 else None
            reason = confusion.unknown_reason
        else:
            continue
        if label is None:
            out[name] = Skip(reason(expected))
        elif label[1] == "macrolanguage" and isinstance(current.get(name), str):
            out[name] = f"{current[name]}|label:{label[0]}(macrolanguage)"
    return out


def process_results(doc: dict, results: list[str]) -> dict:
    """Per item: what each corpus-level aggregation needs (see metrics.mt /
    metrics.neural), whether the reply had to be cleaned, and the plain
    per-sentence means ``lang_undecidable`` / ``lang_fidelity`` (is the cleaned
    translation, i.e. what BLEU scores, written in the target language; a copy
    of the source or a reply in another language is off-target)."""
    hyp = results[0]
    src, ref, tgt = doc["source"], doc["reference"], doc["tgt_lang"]
    out = {
        "bleu": (hyp, ref, tgt),
        "spbleu": (hyp, ref, tgt),
        "chrfpp": (hyp, ref, tgt),
        "comet": (src, hyp, ref),
        "bleurt": (hyp, ref),
        "reply_cleaned": float(getattr(hyp, "cleaned", False)),
    }
    expected = reply_lang(tgt)
    if expected is not None:
        out.update(langid.fidelity_metrics(str(hyp), expected))
    return out


# ------------------------------------------------------------------ results
def runtime_metadata(tgt_lang: str, values: dict | None = None) -> dict:
    """What the results record beside each FLORES task's static `scorer`: the
    exact signatures of this process (sacreBLEU version and tokenizer, COMET/
    BLEURT model, batch size, device; a `Skip` for a metric that could not be
    computed, from its value in `values`, the task's aggregated metrics). The
    plugin's annotation merges them with the other run-time signatures and
    derives ``skipped_metrics``."""
    values = values or {}
    sigs = mt.runtime_signatures(tgt_lang, values)
    for metric in neural.METRICS:
        sigs[metric] = neural.outcome(metric, values.get(f"{metric},{FILTER}"))
    sigs["reply_cleaned"] = cleaner_signature(tgt_lang)
    return {
        "metric_signatures": sigs,
        "fewshot_source": f"first k of '{FEWSHOT_SPLIT}' (k-shot stops when '{FEWSHOT_SPLIT}' is missing)",
    }


def annotate_task(task: str, cfg: dict, meta: dict, result, acc: dict | None, bootstrap_iters) -> None:
    """FLORES's part of the results annotation (`lm_eval_ext.plugin.annotate_results`):
    run-time signatures into `meta`, and bootstrap standard errors of the corpus metrics
    (`metrics.mt.bootstrap_stderr`, at most 1000 resamples; none with --bootstrap_iters 0)
    into the task's results."""
    tgt = cfg["dataset_kwargs"]["tgt_lang"]
    runtime = runtime_metadata(tgt, result.metrics.get(task))
    sigs = meta.setdefault("metric_signatures", {})
    sigs.update(fidelity_signatures(tgt, cfg, sigs))
    sigs.update(runtime.pop("metric_signatures"))
    meta.update(runtime)
    iters = corpus_stderr(task, result, acc, bootstrap_iters, ("bleu", "spbleu", "chrfpp"))
    meta["stderr"] = (f"bootstrap over sentences, {iters} resamples, seed {mt.BOOTSTRAP_SEED} "
                      "(bleu, spbleu, chrfpp); N/A for comet, bleurt" if iters >= 2 else "not computed")


def corpus_stderr(task: str, result, acc: dict | None, bootstrap_iters, metrics: tuple[str, ...]) -> int:
    """Bootstrap standard errors of the corpus metrics `metrics` (`metrics.mt.bootstrap_stderr`,
    at most BOOTSTRAP_CAP resamples) into the task's results, for each one with a value;
    returns the number of resamples (< 2: none computed)."""
    iters = min(int(bootstrap_iters or 0), mt.BOOTSTRAP_CAP)
    for (metric, filt), items in ((acc or {}).get("raw_metrics") or {}).items():
        value = result.metrics.get(task, {}).get(f"{metric},{filt}")
        if metric in metrics and isinstance(value, float) and value == value:
            se = mt.bootstrap_stderr(metric, items, iters)
            if se is not None:
                result.metrics[task][f"{metric}_stderr,{filt}"] = se
    return iters


# ------------------------------------------------------------------ rescore
def logged_triples(samples: list[dict], path: Path) -> list[tuple[str, str, str]]:
    """(source, translation as scored, reference) of every logged item of the translation filter."""
    out = []
    for s in samples:
        if s.get("filter", FILTER) != FILTER:
            continue
        doc, resps = s.get("doc") or {}, s.get("filtered_resps")
        if (not isinstance(doc, dict) or not isinstance(resps, list) or not resps
                or not isinstance(doc.get("source"), str) or not isinstance(doc.get("reference"), str)):
            raise RescoreError(f"{path}: doc {s.get('doc_id')} lacks doc.source/doc.reference/filtered_resps")
        out.append((doc["source"], str(resps[0]), doc["reference"]))
    if not out:
        raise RescoreError(f"{path}: no samples of filter {FILTER!r}")
    return out


FAMILY = Family(
    name="flores",
    pairing=Pairing.SOURCE_TARGET,
    languages=tuple(lang.code for lang in languages.FLORES200.values()),  # every FLORES-200 language
    language_keys=(("src_lang", "tgt_lang"),),
    required_files=required_files,
    load_local=load_local,
    load_hub=load_hub,
    prompt=prompt_parts,
    process_results=process_results,
    # chrF++ is corpus-level: no per-item value, so the judge falls back to its rule for any
    # task (the first metric with per-item values) until a sentence-level reference exists
    reference_metric=f"chrfpp,{FILTER}",
    judge_protocol="da",
    reply_language=lambda kwargs: kwargs.get("tgt_lang"),
    item_key=lambda doc: str(int(doc["id"])),  # line k of devtest is the same sentence in every language
    annotate=annotate_task,
    rescore=Rescore(filter=FILTER, metrics=neural.METRICS, triples=logged_triples),
)
