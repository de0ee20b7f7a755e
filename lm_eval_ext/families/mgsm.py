"""MGSM (Shi et al. 2023): data, prompts, answer extraction and scoring.

Three prompting modes, as in the paper:
- ``direct``: question in language L, the number as the answer;
- ``native_cot``: question in L, step-by-step reasoning in L, ending in L's
  answer sentence ("Die Antwort ist 11.");
- ``en_cot``: question in L, reasoning in English ("The answer is 11.").

Few-shot exemplars are the 8 human-translated exemplars of the paper (the
``train`` split), in their order. For ``en_cot`` an exemplar is the question in
L with the English chain of thought of the same exemplar.

Two extraction filters feed ``exact_match`` (numeric equality with
``answer_number``):
- ``strict-match``: the number after the reply's last answer sentence of the
  mode's reasoning language (direct: the number the reply starts with);
- ``flexible-extract``: the last number in the reply.
Both read native digits and the language's separators (`lm_eval_ext.metrics.numbers`).
"""

from __future__ import annotations

from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.families.base import (DataFormatError, DataNotFoundError, Extracted, Family, Pairing, Parallel,
                                       ReplyFilter, is_number, label_gap, line_start, read_jsonl)
from lm_eval_ext.languages import MGSM_LANGS
from lm_eval_ext.metrics import langid
from lm_eval_ext.signature import Signature, joined
from lm_eval_ext.metrics.numbers import (SCORER_VERSION, canonical, clean_reply, find_numbers, last_number,
                                         number_after_cue)

HUB_PATH = "juletxara/mgsm"
MODES = ("direct", "native_cot", "en_cot")
FILTERS = (("strict-match", "strict"), ("flexible-extract", "flexible"))
NO_ANSWER = "[no answer]"
TASK_VERSION = 1.1  # 1.1: question-label stops only at a line start


# ----------------------------------------------------------------------- data
def required_files(lang: str, mode: str = "native_cot", **_) -> list[str]:
    _check_lang(lang)
    files = [f"mgsm/mgsm_{lang}.jsonl", f"mgsm/mgsm_{lang}.train.jsonl"]
    if mode == "en_cot" and lang != "en":
        files.append("mgsm/mgsm_en.train.jsonl")
    return files


def _check_lang(lang: str) -> None:
    if lang not in MGSM_LANGS:
        raise DataNotFoundError(
            f"MGSM has no language {lang!r}; its languages are {', '.join(MGSM_LANGS)}"
        )


def _strip_prefix(text: str, prefix: str) -> str:
    text = text.strip()
    if text.startswith(prefix):
        return text[len(prefix):].strip()
    return text


def normalize(lang: str, test_rows, train_rows, en_train_rows=None):
    """Rows of the hub/JSONL layout -> records our prompts use.

    The exemplars carry the localized "Question:" and "Step-by-Step Answer:"
    prefixes; they are stripped here so that test items and exemplars go
    through the same template."""
    L = languages.get(lang)
    q_prefix, cue = L.mgsm.question, L.mgsm.cot_cue
    en = languages.get("en")

    def record(i, row, cot=None, cot_en=None):
        number = row["answer_number"]
        if not is_number(number):
            split = "test" if cot is None else "train"
            raise DataFormatError(f"MGSM {lang} {split} item {i} (row {i + 1}): field answer_number is "
                                  f"{number!r}, not a number")
        return {
            "item_id": i,
            "lang": lang,
            "question": _strip_prefix(row["question"], q_prefix),
            "answer_number": int(number) if float(number).is_integer() else float(number),
            "cot": cot,
            "cot_en": cot_en,
        }

    test = [record(i, r) for i, r in enumerate(test_rows)]
    train = []
    for i, r in enumerate(train_rows):
        cot = _strip_prefix(r["answer"] or "", cue)
        cot_en = None
        if en_train_rows is not None:
            cot_en = _strip_prefix(en_train_rows[i]["answer"] or "", en.mgsm.cot_cue)
        train.append(record(i, r, cot=cot, cot_en=cot_en if lang != "en" else cot))
    return test, train


def read_split(root: Path | None, lang: str, split: str) -> list[dict]:
    """The raw rows of one language's ``test`` or ``train`` split: from the data folder, or
    the hub when `root` is None."""
    if root is None:
        import datasets

        _check_lang(lang)
        return list(datasets.load_dataset(HUB_PATH, lang)[split])
    fields, numeric = ("question", "answer_number"), ("answer_number",)
    if split == "test":
        return read_jsonl(root / f"mgsm/mgsm_{lang}.jsonl", fields, numeric)
    return read_jsonl(root / f"mgsm/mgsm_{lang}.train.jsonl", fields + ("answer",), numeric)


def _to_datasets(test, train):
    import datasets

    features = datasets.Features(
        {
            "item_id": datasets.Value("int32"),
            "lang": datasets.Value("string"),
            "question": datasets.Value("string"),
            # explicit type: the hub's test split has null `answer`; never inferred
            "answer_number": datasets.Value("float64"),
            "cot": datasets.Value("string"),
            "cot_en": datasets.Value("string"),
        }
    )
    return datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_list(test, features=features),
            "train": datasets.Dataset.from_list(train, features=features),
        }
    )


def _load(root: Path | None, lang: str, mode: str):
    test, train = read_split(root, lang, "test"), read_split(root, lang, "train")
    en_train = read_split(root, "en", "train") if mode == "en_cot" else None
    return _to_datasets(*normalize(lang, test, train, en_train))


def load_local(root, lang: str, mode: str = "native_cot", **_):
    return _load(root, lang, mode)


def load_hub(lang: str, mode: str = "native_cot", **_):
    _check_lang(lang)
    return _load(None, lang, mode)


# -------------------------------------------------------------------- prompts
def reasoning_lang(lang: str, mode: str) -> str:
    """The language the reply is expected to reason and answer in."""
    return "en" if mode == "en_cot" else lang


def prompt_parts(lang: str, mode: str) -> dict:
    """Everything a task YAML needs, read from the language registry."""
    L, R = languages.get(lang).mgsm, languages.get(reasoning_lang(lang, mode)).mgsm
    question = L.question
    if mode == "direct":
        cue = L.answer_prefix
        instruction = L.direct_instruction
        target = "{{answer_number|int}}"
    else:
        cue = R.cot_cue
        instruction = R.cot_instruction
        # exemplars show their reasoning; a test item (no reasoning) logs its number
        field = "cot" if mode == "native_cot" else "cot_en"
        target = f"{{{{{field} if {field} is not none else answer_number|int}}}}"
    # A new question starts a line. Labels stop only there: mid-line they are words of the
    # reasoning (SmolLM2 opens Thai replies with "แก้โจทย์: ..." = "solving the problem: ...").
    stops = [line_start(question)]
    if mode != "direct":
        stops += ["\n\n\n"]
    else:
        stops += ["\n"]
    english_label = line_start(languages.get("en").mgsm.question)
    if lang != "en" and english_label not in stops:
        stops.insert(1, english_label)
    return {
        "description": instruction + "\n\n",
        "doc_to_text": f"{question}{label_gap(question)}{{{{question}}}}\n{cue}",
        "target_delimiter": label_gap(cue),
        "doc_to_target": target,
        "until": stops,
        "max_gen_toks": 32 if mode == "direct" else 512,
    }


# ----------------------------------------------------------------- extraction
def answer_cues(lang: str, mode: str) -> tuple[str, ...]:
    return tuple(languages.get(reasoning_lang(lang, mode)).mgsm.answer_cues)


def number_at_start(text: str, lang: str):
    """Direct mode: the number the reply opens with ("18", "$18", "18 dollars"),
    nothing when words come first."""
    line = text.strip().split("\n", 1)[0]
    nums = find_numbers(line, lang)
    if not nums:
        return None
    head = line[: nums[0].start]
    if any(ch.isalpha() for ch in head):
        return None
    return nums[0].value


def extract(reply: str, lang: str, mode: str, strategy: str) -> str:
    """Canonical number string of the reply's answer, or NO_ANSWER."""
    text = clean_reply(reply or "")
    number_lang = reasoning_lang(lang, mode)
    if strategy == "flexible":
        value = last_number(text, number_lang)
    elif strategy == "strict":
        value = number_after_cue(text, number_lang, answer_cues(lang, mode))
        if value is None and mode == "direct":
            value = number_at_start(text, number_lang)
    else:
        raise ValueError(f"unknown extraction strategy {strategy!r} (strict or flexible)")
    return NO_ANSWER if value is None else canonical(value)


def scorer_signature(lang: str, mode: str) -> str:
    """How a number was scored, in the style of sacreBLEU's signatures."""
    cues = joined(answer_cues(lang, mode))
    return str(Signature.of(
        ("mgsm-numeric", f"v{SCORER_VERSION}"), ("lang", lang), ("numbers", reasoning_lang(lang, mode)),
        ("strict", f"after-cue({cues}){'+leading' if mode == 'direct' else ''}"),
        ("flexible", "last-number"), ("think", "stripped"), ("compare", "decimal"),
    ))


class AnswerFilter(ReplyFilter):
    """lm-eval filter: replies -> canonical answer strings (carrying the reply and the mode)."""

    def __init__(self, lang: str, mode: str, strategy: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lang, self.mode, self.strategy = lang, mode, strategy

    def one(self, reply, doc):
        return Extracted.of(extract(reply, self.lang, self.mode, self.strategy), reply, mode=self.mode)


def expected_reply_lang(lang: str, mode: str) -> str:
    """The language a reply should be written in: the reasoning language
    (native-CoT: the question's, en-CoT: English). Direct mode: the question's
    language too; its replies are mostly a bare number, which is undecidable
    and excluded (``lang_undecidable`` shows how many)."""
    return reasoning_lang(lang, mode)


def process_results(doc: dict, results: list[str]) -> dict:
    gold = canonical(doc["answer_number"])
    em = float(results[0] == gold)
    out = {"exact_match": em}
    if doc["lang"] != "en":
        out["exact_match_non_en"] = em
    reply, mode = getattr(results[0], "reply", None), getattr(results[0], "mode", None)
    if reply is None or mode is None:  # a filter of someone else's that drops the reply
        return out
    out.update(langid.fidelity_metrics(reply, expected_reply_lang(doc["lang"], mode)))
    if mode == "native_cot" and "lang_fidelity" in out:
        # accuracy among the replies written in the question's language; None (every
        # document emits every key: see metrics.langid) for the others
        out["exact_match_in_lang"] = em if out["lang_fidelity"] == 1.0 else None
    return out


# ------------------------------------------------------- cross-lingual consistency
CONSISTENCY_MODE = "native_cot"


def _render(template_key: str, row: dict) -> str:
    from lm_eval.utils import apply_template

    return apply_template(prompt_parts(row["lang"], CONSISTENCY_MODE)[template_key], row)


PARALLEL = Parallel(
    mode=CONSISTENCY_MODE,
    per_language_tasks={**{f"mgsm_{mode}": f"mgsm_{mode}_{{lang}}" for mode in ("native_cot", "en_cot", "direct")},
                        "mgsm_self_translate": "mgsm_self_translate_{lang}"},
    dataset_kwargs=lambda lang: {"lang": lang, "mode": CONSISTENCY_MODE},
    rows=lambda root, lang: normalize(lang, read_split(root, lang, "test"), [])[0],
    exemplars=lambda root, lang: normalize(lang, [], read_split(root, lang, "train"))[1],
    item_id=lambda doc: str(int(doc["item_id"])),
    doc_lang=lambda doc: doc.get("source_lang") or doc["lang"],  # self-translate docs: the item's language
    instruction=lambda lang: prompt_parts(lang, CONSISTENCY_MODE)["description"],
    prompt=lambda row: _render("doc_to_text", row),
    target=lambda row: prompt_parts(row["lang"], CONSISTENCY_MODE)["target_delimiter"] + _render("doc_to_target", row),
    stops=lambda lang: list(prompt_parts(lang, CONSISTENCY_MODE)["until"]),
    extract=lambda reply, lang, row, strategy: extract(reply, lang, CONSISTENCY_MODE, strategy),
    correct=lambda row, answer: answer == canonical(row["answer_number"]),
    equal=lambda a, lang_a, b, lang_b: a == b and a != NO_ANSWER,
    reply_lang=lambda lang: expected_reply_lang(lang, CONSISTENCY_MODE),
    filters=FILTERS,
    scorer=str(Signature.of(("mgsm-numeric", f"v{SCORER_VERSION}"), ("mode", CONSISTENCY_MODE),
                            ("agreement", "equal-canonical-number,no-answer-never-equal"),
                            ("consistency", "jaccard-of-correct-sets"))),
    max_gen_toks=prompt_parts("en", CONSISTENCY_MODE)["max_gen_toks"],
)

FAMILY = Family(
    name="mgsm",
    pairing=Pairing.SINGLE,
    languages=MGSM_LANGS,
    language_keys=(("lang",),),
    required_files=required_files,
    load_local=load_local,
    load_hub=load_hub,
    prompt=prompt_parts,
    process_results=process_results,
    reference_metric="exact_match,strict-match",
    judge_protocol="math_cot",
    reply_language=lambda kwargs: reasoning_lang(kwargs["lang"], kwargs.get("mode")) if kwargs.get("lang") else None,
    item_key=PARALLEL.item_id,  # item k is the same problem in every language (the loader's item_id)
    parallel=PARALLEL,
)
