"""What every task family shares: the family contract, the lm-eval glue, the data files.

- `Family`: the typed description of one family. The registry
  (`lm_eval_ext.families.FAMILIES`) holds one per family; data loading, the
  consistency task and command, the judge, rescore, the run-folder reader and
  ``lm-eval-ext tasks`` ask it instead of guessing from task names.
- `Parallel`: for a family whose items are the same in every language, how they
  plug into cross-lingual consistency (``xlc_<family>``, ``lm-eval-ext consistency``).
- `Rescore`: for a family whose logged replies can be scored again after the run.
- lm-eval glue: `ReplyFilter` (the filter base), `ContextSampler` / `FirstNSampler`
  (the sampler bases), `Extracted` (the one ``str`` that carries the reply to
  ``process_results``), `line_start` / `label_gap` (prompt labels).
- Data files: ``LM_EVAL_EXT_DATA_DIR`` (`local_root`), `read_jsonl`, and the two
  errors of bad data, `DataNotFoundError` and `DataFormatError` (`hub_data`: a hub that
  cannot be reached names the setting and the files it would read instead).

A family module never imports the registry at import time (the registry imports
the family modules); the consistency family looks its sources up when it runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping

from lm_eval.api.filter import Filter
from lm_eval.api.samplers import ContextSampler, FirstNSampler

__all__ = [
    "DATA_DIR_ENV", "ContextSampler", "DataFormatError", "DataNotFoundError", "Extracted", "Family", "FirstNSampler",
    "Pairing", "Parallel", "ReplyFilter", "Rescore", "RescoreError", "hub_data", "is_number", "label_gap", "line_start",
    "local_root", "read_jsonl",
]

DATA_DIR_ENV = "LM_EVAL_EXT_DATA_DIR"


# ------------------------------------------------------------------ the contract
class Pairing(Enum):
    """How the languages of one task of a family are arranged."""

    SINGLE = "one language"  # mgsm_native_cot_de
    CONTEXT_QUESTION = "context x question"  # xquad_de_en: context (and answer) in de, question in en
    SOURCE_TARGET = "source -> target"  # flores_deu_Latn-eng_Latn
    PARALLEL = "every language of a parallel family"  # xlc_mgsm: dataset_kwargs.source names the family


@dataclass(frozen=True)
class Parallel:
    """The consistency adapter of a family whose items are parallel (the same item in
    every language): what ``xlc_<family>`` and ``lm-eval-ext consistency`` ask."""

    mode: str  # which of the family's prompts the consistency task uses (documented per family)
    per_language_tasks: Mapping[str, str]  # per-language task family -> task name pattern ("mgsm_native_cot_{lang}")
    dataset_kwargs: Callable[[str], dict]  # lang -> the family's dataset_kwargs of that prompt (data files)
    rows: Callable[[Path | None, str], list[dict]]  # (data root, None = hub; lang) -> the family's docs, item order
    exemplars: Callable[[Path | None, str], list[dict]]  # (data root; lang) -> few-shot docs, in order
    item_id: Callable[[dict], str]  # doc -> the item's key, shared by all languages
    doc_lang: Callable[[dict], str]  # doc -> its language
    instruction: Callable[[str], str]  # lang -> system prompt / description
    prompt: Callable[[dict], str]  # doc -> user turn
    target: Callable[[dict], str]  # doc -> what follows the prompt in an exemplar (delimiter included)
    stops: Callable[[str], list[str]]  # lang -> the stop sequences of the family's own task
    extract: Callable[[str, str, dict, str], str]  # (reply, lang, doc, strategy) -> the extracted answer
    correct: Callable[[dict, str], bool]  # (doc, answer) -> right?
    equal: Callable[[str, str, str, str], bool]  # (answer a, lang a, answer b, lang b) -> the same answer?
    reply_lang: Callable[[str], str]  # lang -> the language a reply should be written in
    filters: tuple[tuple[str, str], ...]  # (filter name, extraction strategy)
    scorer: str  # signature of how answers are compared
    max_gen_toks: int  # the family's own generation budget


class RescoreError(ValueError):
    """A samples log whose replies cannot be scored again (names the file and the item)."""


@dataclass(frozen=True)
class Rescore:
    """Scoring a family's logged replies again after the run (``lm-eval-ext rescore``)."""

    filter: str  # the filter whose filtered_resps are scored
    metrics: tuple[str, ...]  # the metrics that can be added
    # (samples-log lines, path for messages) -> (source, hypothesis, reference) per item; RescoreError
    triples: Callable[[list[dict], Path], list[tuple[str, str, str]]]


@dataclass(frozen=True, kw_only=True)
class Family:
    """One task family. Its tasks carry ``dataset_kwargs.family`` = `name` and the
    language keys below; everything else is asked here."""

    name: str  # dataset_kwargs.family of its tasks
    pairing: Pairing
    languages: tuple[str, ...]  # registry codes its tasks are generated for (PARALLEL: its source's)
    # dataset_kwargs keys naming one task's languages, in row order (context/source first);
    # the first set a config has wins (monolingual XQuAD tasks carry `lang` too)
    language_keys: tuple[tuple[str, ...], ...]
    required_files: Callable[..., list[str]]  # (**dataset_kwargs) -> files under LM_EVAL_EXT_DATA_DIR
    load_local: Callable[..., Any]  # (data root, **dataset_kwargs) -> datasets.DatasetDict
    load_hub: Callable[..., Any]  # (**dataset_kwargs) -> datasets.DatasetDict
    process_results: Callable[[dict, list], dict]  # lm-eval's per-document scorer
    reference_metric: str  # "metric,filter" the judge correlates with ("" for PARALLEL: its source's)
    judge_protocol: str  # the judge's default protocol ("" for PARALLEL: its source's)
    reply_language: Callable[[Mapping], str | None]  # dataset_kwargs -> the code a reply should be in (None: not said)
    # doc (as logged in a samples log) -> the key of its item, the same in every language of the
    # family; None: the items are not parallel (then a mean over languages treats the languages as
    # independent samples). Every family declares it (no default): a mean over parallel items
    # clusters its uncertainty by item (`metrics.bootstrap.rows_bootstrap`).
    item_key: Callable[[Mapping], str] | None
    # the prompt builder: (**a task's dataset_kwargs but family) -> what its YAML needs (description,
    # prompt, target, stops, budget); called by the family's generator. None: the family has no
    # prompt of its own (xlc: its source family's)
    prompt: Callable[..., dict] | None = None
    parallel: Parallel | None = None  # the consistency adapter (parallel items only)
    annotate: Callable[..., None] | None = None  # run-time metadata into the results (plugin.annotate_results)
    rescore: Rescore | None = None
    # checks beyond the data files, before a model loads: (task=, limit=, model_args=, samples=,
    # cache_requests=, model=, **dataset_kwargs);
    # raises DataNotFoundError (self-translate stage 2: the stage-1 run it reads)
    preflight: Callable[..., None] | None = None
    # the docs hold an earlier run's outputs (self-translate stage 2: the model's translations), so
    # lm-eval's task hash differs between models by design and comparability does not compare it
    run_made_documents: bool = False
    # a group value lm-eval cannot compute (PolyMath's DW-ACC weights levels 1:2:4:8): (group name,
    # {leaf task: its results metrics}) -> {metric key: value} replacing lm-eval's, applied by the plugin
    # after lm-eval computed its groups (plugin.patch_group_values); without that hook: NaN and the reason
    group_values: Callable[[str, dict[str, dict]], dict[str, float]] | None = None

    def task_languages(self, kwargs: Mapping) -> tuple[str, ...] | None:
        """The codes of one task, as its dataset_kwargs write them (ISO 639-1 or FLORES-200),
        context/source first; () for a PARALLEL family (its metrics carry the languages);
        None when the config lacks every set of the family's keys."""
        if self.pairing is Pairing.PARALLEL:
            return ()
        for keys in self.language_keys:
            if all(isinstance(kwargs.get(k), str) for k in keys):
                return tuple(kwargs[k] for k in keys)
        return None

    def listed_languages(self, config: Mapping) -> list[str]:
        """Every language code a task covers, for listings: the values of all of the family's
        keys (PARALLEL: the languages its generator wrote into metadata.langs)."""
        if self.pairing is Pairing.PARALLEL:
            return list((config.get("metadata") or {}).get("langs") or [])
        kwargs = config.get("dataset_kwargs") or {}
        codes: list[str] = []
        for keys in self.language_keys:
            for key in keys:
                if isinstance(kwargs.get(key), str) and kwargs[key] not in codes:
                    codes.append(kwargs[key])
        return codes


# ------------------------------------------------------------------ lm-eval glue
class Extracted(str):
    """What our filters hand to ``process_results``: the extracted answer or cleaned
    translation, compared and logged as the plain string, carrying what lm-eval would
    otherwise drop: the raw reply (output-language metrics judge it), whether the
    cleaning rule changed it (FLORES ``reply_cleaned``) and the prompting mode (MGSM)."""

    reply: str | None = None
    cleaned: bool = False
    mode: str | None = None

    @classmethod
    def of(cls, value: str, reply: str | None, **facts) -> "Extracted":
        out = cls(value)
        out.reply = reply
        for key, fact in facts.items():
            setattr(out, key, fact)
        return out


# The rendered prompts of the instances lm-eval is filtering, in the order of their replies: set by
# the plugin around each lm-eval filter pipeline (plugin.patch_filter_prompts); None without it.
RENDERED_PROMPTS: ContextVar[tuple | None] = ContextVar("lm_eval_ext_rendered_prompts", default=None)


class ReplyFilter(Filter):
    """The lm-eval filter base of our families: one value per reply, from `one(reply, doc)`."""

    def one(self, reply: str, doc: dict) -> Extracted:
        raise NotImplementedError

    def apply(self, resps, docs):
        return [[self.one(reply, doc) for reply in replies] for replies, doc in zip(resps, docs)]

    @staticmethod
    def prompts(n: int) -> list:
        """The rendered prompt of each of the `n` instances being filtered (a string, or chat
        messages), or None each where lm-eval did not pass them (a reasoning split then
        cannot see a thinking block the prompt opened: `metrics.reasoning`)."""
        prompts = RENDERED_PROMPTS.get()
        return list(prompts) if prompts is not None and len(prompts) == n else [None] * n


def line_start(label: str) -> str:
    """A stop sequence that matches a prompt label ("Question:") only at the start of a
    line: mid-line the same letters can be words of the reply, above all in scripts
    written without spaces."""
    return "\n" + label


def label_gap(label: str) -> str:
    """The space after a prompt label; none after a full-width colon ("問題：ロジャーは...")."""
    return "" if label.endswith("：") else " "


# ------------------------------------------------------------------ data files
class DataNotFoundError(FileNotFoundError):
    pass


class DataFormatError(ValueError):
    pass


def local_root() -> Path | None:
    """The folder of ``LM_EVAL_EXT_DATA_DIR``; None: the hub."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _hub_errors() -> tuple:
    errors: list = [ConnectionError]  # datasets: "Couldn't reach '<id>' on the Hub (...)"
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError  # offline, not in the cache

        errors.append(LocalEntryNotFoundError)
    except ImportError:
        pass
    return tuple(errors)


@contextlib.contextmanager
def hub_data(what: str, files):
    """Loading hub data (``LM_EVAL_EXT_DATA_DIR`` unset): a hub that cannot be reached is a
    DataNotFoundError naming the setting and the `files` (paths in its layout) it would read."""
    try:
        yield
    except _hub_errors() as err:
        first = (str(err).splitlines() or [""])[0][:300]
        raise DataNotFoundError(
            f"{what}: {DATA_DIR_ENV} is not set, so the data comes from the Hugging Face hub, which cannot be "
            f"reached ({type(err).__name__}: {first}); to run offline, set {DATA_DIR_ENV} to a folder holding "
            f"{', '.join(dict.fromkeys(files))}") from None


def read_jsonl(path: Path, required: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a JSONL file; every defect is a DataFormatError naming the file, line and field:
    a line that is not UTF-8 or not a JSON object, a missing field, a `numeric` field that is
    not a number."""
    rows = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                                      f"{err.start + 1})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataFormatError(f"{path}:{lineno}: not a JSON object")
            missing = [f for f in required if f not in row]
            if missing:
                raise DataFormatError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            for f in numeric:
                if not is_number(row[f]):
                    raise DataFormatError(f"{path}:{lineno}: field {f} is {row[f]!r}, not a number")
            rows.append(row)
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return rows


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
