"""Corpus-level BLEU, spBLEU and chrF++ through sacreBLEU's API.

Each is an lm-eval aggregation over the items of FLORES's `process_results`
(``(hypothesis, reference, tgt_lang)``), computed once over the whole test set
exactly as ``sacrebleu.corpus_bleu`` / ``corpus_chrf`` would (tested). lm-eval
does not bootstrap custom aggregations (it would resample and re-tokenize the
corpus 100k times); `bootstrap_stderr` gives their standard errors from at most
BOOTSTRAP_CAP resamples of the per-sentence sufficient statistics (one
tokenization pass), added to the results by the autoload hook.

- BLEU: the tokenizer follows the target language (`bleu_tokenizer`, from the
  language registry): ``zh`` for Chinese (Hans, Hant, Cantonese), ``ja-mecab`` for
  Japanese, ``ko-mecab`` for Korean when installed (``lm-eval-ext[ko]``; else
  ``13a``, said in the signature), ``13a`` for the other scripts written with
  spaces. Japanese never falls back: without ``lm-eval-ext[ja]`` (mecab-python3,
  ipadic) BLEU into Japanese is NaN with the reason (`bleu_unavailable`). Into a
  script written without spaces that sacreBLEU has no word tokenizer for (Thai,
  Lao, Khmer, Myanmar, Tibetan) BLEU is undefined: NaN with the reason; chrF++
  (and spBLEU, where its model is there) are the metrics there.
- spBLEU: BLEU with sacreBLEU's ``flores200`` SentencePiece tokenizer. sacreBLEU
  downloads that model on first use; here it is read from
  ``LM_EVAL_EXT_FLORES200_SPM`` (default: sacreBLEU's own cache path
  ``$SACREBLEU/models/flores200sacrebleuspm``). When the file is not there the
  metric is skipped (NaN plus a stated reason) instead of downloading mid-run.
- chrF++: chrF with word n-grams of order 2 (``nw:2``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.missing import NotComputed, Skip, skip_of
from lm_eval_ext.signature import Signature, nested

UNDEFINED = "none"  # the registry's tokenizer of a script without a word tokenizer: BLEU is NaN with the reason
SPM_ENV = "LM_EVAL_EXT_FLORES200_SPM"
SPM_URL = "https://tinyurl.com/flores200sacrebleuspm"
NAN = float("nan")
BOOTSTRAP_CAP = 1000
BOOTSTRAP_SEED = 1234



def _skip(metric: str, reason: str) -> NotComputed:
    from lm_eval_ext import optional

    optional.warn_once(f"{metric} skipped: {reason}")
    return NotComputed(reason)


@lru_cache(maxsize=None)
def _tokenizer_available(name: str) -> str | None:
    """None when sacreBLEU's tokenizer `name` can be built here, else why not."""
    from sacrebleu.metrics.bleu import _get_tokenizer

    try:
        _get_tokenizer(name)()
        return None
    except BaseException as err:  # sacreBLEU calls sys.exit() when mecab is missing
        return f"{type(err).__name__}: {err}".strip()


def bleu_tokenizer(tgt_lang: str) -> str:
    """sacreBLEU tokenizer for a FLORES target code (the language registry's)."""
    name = languages.bleu_tokenizer(tgt_lang)
    if name == "ko-mecab" and _tokenizer_available(name):
        return "13a"  # ko-mecab only when installed
    return name


def spm_path() -> Path:
    value = os.environ.get(SPM_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    from sacrebleu.utils import SACREBLEU_DIR

    return Path(SACREBLEU_DIR) / "models" / "flores200sacrebleuspm"


def _split(items):
    hyps, refs, tgts = zip(*items)
    tgt_set = set(tgts)
    if len(tgt_set) != 1:
        raise ValueError(f"one corpus-level score needs one target language, got {sorted(tgt_set)}")
    return [str(h) for h in hyps], [str(r) for r in refs], tgts[0]


def bleu_unavailable(tgt_lang: str) -> str | None:
    """None when BLEU into `tgt_lang` can be computed here with its documented
    tokenizer, else why not."""
    from lm_eval_ext import optional

    name = bleu_tokenizer(tgt_lang)
    if name == UNDEFINED:
        return (f"BLEU is undefined into the {languages.get(tgt_lang).script} script: it is written without spaces "
                "between words and sacreBLEU has no word tokenizer for it (13a would count whole phrases); "
                "chrF++ is the metric there, and spBLEU where its SentencePiece model is available")
    if name == "ja-mecab":
        reason = optional.missing("ja")
        if reason:
            return reason
    problem = _tokenizer_available(name)
    if problem:
        fix = f": {optional.pip_command('ja')}" if name == "ja-mecab" else ""
        return f"sacreBLEU tokenizer {name!r} for {tgt_lang} cannot be built ({problem}){fix}"
    return None


def bleu_metric(tgt_lang: str):
    from sacrebleu.metrics import BLEU

    reason = bleu_unavailable(tgt_lang)
    if reason:
        raise RuntimeError(reason)
    return BLEU(tokenize=bleu_tokenizer(tgt_lang))


def spbleu_metric():
    """BLEU with the flores200 SentencePiece model from the configured path,
    None when that file is missing."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.tokenizers.tokenizer_spm import Flores200Tokenizer

    path = spm_path()
    if not path.is_file():
        return None
    metric = BLEU(tokenize="none")

    class _Configured(Flores200Tokenizer):
        def __init__(self):  # the configured file instead of sacreBLEU's download
            import sentencepiece as spm

            self.name = "flores200"
            self.sp = spm.SentencePieceProcessor()
            self.sp.Load(str(path))

    metric.tokenizer = _Configured()
    metric.tokenizer_signature = metric.tokenizer.signature()
    return metric


def chrfpp_metric():
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=2)


# ------------------------------------------------------ lm-eval aggregations
def bleu(items) -> float:
    hyps, refs, tgt = _split(items)
    reason = bleu_unavailable(tgt)
    if reason:
        return _skip("bleu", reason)
    return bleu_metric(tgt).corpus_score(hyps, [refs]).score


def spm_missing() -> str:
    return (f"sacreBLEU's flores200 SentencePiece model is not at {spm_path()} (sacreBLEU would download it from "
            f"{SPM_URL}); download it once and set {SPM_ENV}=<path>")


def spbleu(items) -> float:
    hyps, refs, _ = _split(items)
    metric = spbleu_metric()
    if metric is None:
        return _skip("spbleu", spm_missing())
    return metric.corpus_score(hyps, [refs]).score


def chrfpp(items) -> float:
    hyps, refs, _ = _split(items)
    return chrfpp_metric().corpus_score(hyps, [refs]).score


_METRICS = {"bleu": lambda tgt: bleu_metric(tgt), "spbleu": lambda tgt: spbleu_metric(), "chrfpp": lambda tgt: chrfpp_metric()}


def bootstrap_stderr(name: str, items, iters: int) -> float | None:
    """Standard error of a corpus score over `min(iters, BOOTSTRAP_CAP)` resamples
    of the sentences (sum of resampled sentence statistics -> score, as in
    sacreBLEU's own bootstrap); None when not computable."""
    import numpy as np

    iters = min(int(iters or 0), BOOTSTRAP_CAP)
    if iters < 2 or len(items) < 2 or name not in _METRICS:
        return None
    # resample in one canonical order: a data-parallel run gathers the sentences
    # rank by rank, and must get the single process's standard error
    hyps, refs, tgt = _split(sorted(tuple(str(x) for x in item) for item in items))
    if name == "bleu" and bleu_unavailable(tgt):
        return None
    metric = _METRICS[name](tgt)
    if metric is None:
        return None
    stats = np.asarray(metric._extract_corpus_statistics(hyps, [refs]), dtype=np.int64)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    scores = []
    for start in range(0, iters, 100):  # bounded memory: 100 x n x k at a time
        idx = rng.integers(0, len(hyps), size=(min(100, iters - start), len(hyps)))
        for row in stats[idx].sum(axis=1):
            scores.append(metric._compute_score_from_stats(row.tolist()).score)
    return float(np.std(scores, ddof=1))


# -------------------------------------------------------------- signatures
def _sig(metric) -> str:
    metric.corpus_score(["a"], [["a"]])  # sacreBLEU knows the reference count only after scoring
    return str(metric.get_signature())


def static_scorer(tgt_lang: str) -> str:
    """Written into each task's metadata by the generator (independent of what
    is installed): how each lexical metric of the task is computed. The exact
    sacreBLEU signatures of a run are added to the results (`runtime_signatures`)."""
    tok = languages.bleu_tokenizer(tgt_lang)
    bleu = ("bleu", "undefined(unspaced script)") if tok == UNDEFINED else (
        "bleu", nested("sacrebleu", "corpus", ("tok", tok + ("-if-installed-else-13a" if tok == "ko-mecab" else ""))))
    return str(Signature.of(
        bleu,
        ("spbleu", nested("sacrebleu", "corpus", ("tok", "flores200"))),
        ("chrfpp", nested("sacrebleu", "corpus", "chrF2++", ("nc", 6), ("nw", 2))),
    ))


def runtime_signatures(tgt_lang: str, values: dict | None = None, filt: str = "translation") -> dict[str, str | Skip]:
    """The exact sacreBLEU signatures of this process (version, tokenizer), or the `Skip` of a
    metric that could not be computed (from its value among `values`, the task's aggregated
    metrics ``<metric>,<filt>``, when it is `NotComputed`)."""
    values = values or {}
    reason = bleu_unavailable(tgt_lang)
    out: dict[str, str | Skip] = {"bleu": Skip(reason) if reason else _sig(bleu_metric(tgt_lang))}
    sp = spbleu_metric()
    out["spbleu"] = (skip_of(values.get(f"spbleu,{filt}"))
                     or (str(Signature.of(Signature.parse(_sig(sp)), ("spm", spm_path()))) if sp else Skip(spm_missing())))
    out["chrfpp"] = _sig(chrfpp_metric())
    return out

