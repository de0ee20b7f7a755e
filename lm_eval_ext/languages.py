"""The one place for language facts.

Every task, scorer and report reads codes, names, scripts, digits, number
separators, resource tiers, prompt literals and scoring rules from here; nothing
else in the package spells a language fact out. Add a language by adding one
`Language`; give it the literals of the families that should cover it.

Literals come in named kinds, one frozen dataclass each (lighteval's
``TranslationLiterals`` is the model): `MgsmLiterals` (MGSM prompts and answer
sentences), `QaLiterals` (XQuAD/MLQA labels and instruction), `QaRules` (MLQA
normalization: articles, segmentation), `MtLiterals` (FLORES reply cleaning). A
literal left out for a language is ``None``; reading it raises `MissingLiteral`
naming the language, the literal and this file. Fields with a neutral default
(no articles, no preamble words) are rules every language has.

Sources
- Codes: ISO 639-1 / 639-3 and the FLORES-200 code (``<iso639-3>_<ISO 15924>``).
- The 204 FLORES-200 languages: `FLORES200`, keyed by FLORES code, read from
  ``lm_eval_ext/data/flores200.csv`` (`lm_eval_ext.language_table`), which ``tasks/flores/_registry.py`` derives from
  maintained sources (langcodes/CLDR names, the IANA registry, the Unicode Line_Break
  property, the identifiers' labels, the NLLB team's resource counts); nothing in it is
  typed per language. A hand-written row below overrides the table's facts for its
  FLORES code and takes the facts it does not give (identifier labels, NLLB tier,
  spacing, BLEU tokenizer) from the table (tasks/flores/README.md, "Language facts").
- Resource tier: Shi et al. 2023 ("Language models are multilingual
  chain-of-thought reasoners") split MGSM into high-resource (de en es fr ja ru
  zh) and underrepresented (bn sw te th) languages by their share of the
  pretraining data. Languages outside MGSM are placed by the Joshi et al. 2020
  taxonomy class ("The state and fate of linguistic diversity"): class >= 4 is
  high-resource. The rule reproduces Shi et al.'s split on all 11 MGSM languages
  (tested). A FLORES-200 language without a Joshi class here is placed by its NLLB
  resource level (`Language.nllb_tier`: >= 1M public sentence pairs high, else low;
  ``tier_source`` says which); MGSM, XQuAD and MLQA languages all have Joshi classes.
- MGSM literals (question prefix, step-by-step cue, answer sentence) are the ones
  in the human-translated MGSM exemplars of Shi et al. (tested against the data).
  The zero-shot instructions were written for this project; they are short on
  purpose and flagged for native-speaker review in the README.
- QA rules: ar/de/en/es/hi/vi/zh are the official MLQA script's
  (mlqa_evaluation_v1.py; vi includes its non-articles của/là as published;
  Arabic's rule is the script's regex). Our extensions: el: definite and
  indefinite articles in all cases; ro: only the free-standing indefinite
  articles (the definite article is an enclitic suffix, -ul/-a/-le/-lor, that
  cannot be split off without a morphological analyser); ru, th, ja: no
  articles; tr: none (bir is also the numeral "one"). Segmentation: the official
  MLQA range for Chinese, each code point of the Thai block, kana and kanji for
  Japanese (tasks/qa/README.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from lm_eval_ext import language_table

HIGH = "high"
LOW = "low"
UNKNOWN = "unknown"
TIER_LABELS = {HIGH: "high-resource", LOW: "underrepresented"}
# The NLLB team's resource levels (Language.nllb_tier), as their evaluation code buckets FLORES-200
NLLB_TIERS = ("high", "low", "very_low", "unplaced")
NLLB_TIER_LABELS = {"high": "NLLB high-resource (≥1M public sentence pairs)",
                    "low": "NLLB low-resource (100k–1M pairs)",
                    "very_low": "NLLB very low-resource (≤100k pairs)",
                    "unplaced": "not an NLLB-200 language (no count)"}

NBSP = "\u00a0"  # no-break space
NNBSP = "\u202f"  # narrow no-break space: the French and Russian thousands separator
THIN = "\u2009"
# Spaces that may group digits ("1 234", "1\u202f234") in any language's numbers
GROUPING_SPACES = (" ", NBSP, NNBSP, THIN)

REGISTRY_FILE = "lm_eval_ext/languages.py"


class MissingLiteral(KeyError):
    """A literal a task needs is not in the registry for that language."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, repr=False, eq=False)
class Literals:
    """Base of the literal kinds. A field left ``None`` is missing for the language:
    reading it raises `MissingLiteral` naming the language, the literal and the file."""

    lang: str = ""  # set by the `Language` holding it

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if value is None:
            lang = object.__getattribute__(self, "lang")
            raise MissingLiteral(
                f"language {lang!r} has no literal {type(self).__name__}.{name} in the language registry: "
                f"add it in {REGISTRY_FILE}")
        return value

    def _values(self) -> dict:
        return {f.name: object.__getattribute__(self, f.name) for f in dataclasses.fields(self)}

    def bound(self, lang: str) -> "Literals":
        """The same literals, knowing their language."""
        return type(self)(**{**self._values(), "lang": lang})

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self._values().items() if k != "lang" and v is not None)
        return f"{type(self).__name__}({given})"


@dataclass(frozen=True, repr=False, eq=False)
class MgsmLiterals(Literals):
    question: str | None = None  # prefix of a question, as in the exemplars ("Frage:")
    cot_cue: str | None = None  # "Step-by-Step Answer:"
    answer_prefix: str | None = None  # "Answer:" of the direct mode
    answer_sentence: str | None = None  # "The answer is {}."
    answer_cues: tuple[str, ...] | None = None  # what may stand before the final number (the exemplars' own forms first)
    cot_instruction: str | None = None  # 0-shot system prompt, chain of thought
    direct_instruction: str | None = None  # 0-shot system prompt, direct answer


@dataclass(frozen=True, repr=False, eq=False)
class QaLiterals(Literals):
    """Prompt labels (as they open a line, colon included) and the zero-shot instruction of
    XQuAD/MLQA, in the question's language (written for this project, flagged for
    native-speaker review in tasks/qa/README.md)."""

    context: str | None = None
    question: str | None = None
    answer: str | None = None
    instruction: str | None = None


@dataclass(frozen=True, repr=False, eq=False)
class QaRules(Literals):
    """How an answer in this language is normalized before QA scoring (MLQA rules)."""

    articles: tuple[str, ...] | None = None  # free-standing articles deleted after lower-casing
    article_pattern: str = ""  # a regex deleted instead of the word list (Arabic: the official script's)
    article_pattern_label: str = ""  # how the signature names that regex
    segmentation: str = "whitespace"  # whitespace | mixed (official) | character
    segment_chars: str = ""  # regex character ranges of the characters that are one token each


@dataclass(frozen=True, repr=False, eq=False)
class MtLiterals(Literals):
    """Words of the FLORES reply-cleaning rule (tasks/flores/README.md); the rule matches
    the words of every registry language."""

    preamble_words: tuple[str, ...] = ()  # a first line announcing a translation ("Here is the translation:")
    translation_label: str = ""  # a label before the translation ("Translation:")
    note_openers: tuple[str, ...] = ()  # a line opening a note after the translation ("Note:")


@dataclass(frozen=True, kw_only=True)
class Language:
    code: str  # the registry key: ISO 639-1 for the hand-written rows, else the FLORES-200 code
    iso639_3: str
    flores: str  # FLORES-200 code
    name: str  # English name (with the script where FLORES has the language in two)
    native_name: str
    script: str  # ISO 15924
    digits: str | None = None  # the script's own digits 0-9, when it has them (None: not recorded)
    decimal_sep: str | None = None  # None: not recorded (a FLORES-200 row)
    group_seps: tuple[str, ...] = ()  # thousands separators in use, most common first
    joshi_class: int | None = None  # None: not placed by Joshi et al. (see tier)
    # letters written without spaces between words (regex character ranges): in language
    # identification two of them count as a word
    unspaced_letters: str = ""
    ascii_marks: tuple[tuple[str, str], ...] = ()  # native decimal/grouping marks read as "." / ","
    # sacreBLEU's tokenizer for BLEU into this language; "none": BLEU is undefined (an unspaced
    # script without a word tokenizer); "" in a hand-written row: the FLORES-200 table's
    bleu_tokenizer: str = ""
    # -- facts of the FLORES-200 table (lm_eval_ext/data/flores200.csv), filled in for the hand-written rows
    iso639_1: str = ""
    macrolanguage: str = ""  # ISO 639-3 of its macrolanguage (IANA registry), "" when none
    spaced_script: bool = True  # the script separates words with spaces (Unicode Line_Break, UAX #14)
    native_name_source: str = ""  # where native_name comes from ("fallback: English name" when none was found)
    lid176: str = ""  # the fastText lid.176 label that stands for it, "" when none
    lid176_match: str = ""  # direct | macrolanguage | ""
    lingua: str = ""  # the lingua ISO 639-3 code that stands for it, "" when none
    lingua_match: str = ""  # direct | macrolanguage | ""
    nllb_tier: str = ""  # high | low | very_low | unplaced (NLLB_TIER_LABELS)
    nllb_train_pairs: int | None = None
    mgsm: MgsmLiterals = MgsmLiterals()
    qa: QaLiterals = QaLiterals()
    qa_rules: QaRules = QaRules()
    mt: MtLiterals = MtLiterals()

    def __post_init__(self):  # each literal kind knows its language, to name it when one is missing
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Literals):
                object.__setattr__(self, f.name, value.bound(self.code))

    @property
    def spaced(self) -> bool:
        """Words separated by spaces (False: zh, ja, th, lo, km, my, bo, ...)."""
        return self.spaced_script and not self.unspaced_letters

    @property
    def tier(self) -> str:
        """high / low: Joshi class >= 4 where the registry gives one, else the NLLB level
        (high = high, low and very_low = low); unknown for a language with neither."""
        if self.joshi_class is not None:
            return HIGH if self.joshi_class >= 4 else LOW
        return {"high": HIGH, "low": LOW, "very_low": LOW}.get(self.nllb_tier, UNKNOWN)

    @property
    def tier_source(self) -> str:
        return "Joshi et al. 2020 / Shi et al. 2023" if self.joshi_class is not None else "NLLB (fairseq train_counts)"

    @property
    def tier_label(self) -> str:
        return TIER_LABELS.get(self.tier, UNKNOWN)

    @property
    def has_mt_words(self) -> bool:
        """Whether the FLORES reply cleaner knows words of this language (else its rule is language-neutral)."""
        mt = self.mt
        return bool(mt.preamble_words or mt.translation_label or mt.note_openers)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return f"{self.code} ({self.name})"


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs, extension A, compatibility ideographs

_LANGS = [
    Language(
        code="ar", iso639_3="ara", flores="arb_Arab", name="Arabic", native_name="العربية", script="Arab",
        digits="٠١٢٣٤٥٦٧٨٩", decimal_sep=".", group_seps=(",", "٬"), joshi_class=5,
        ascii_marks=(("٫", "."), ("٬", ",")),
        qa=QaLiterals(context="السياق:", question="السؤال:", answer="الإجابة:",
                      instruction="أجب عن السؤال بالكلمات نفسها الواردة في السياق، دون أي شيء آخر."),
        # the official MLQA regex '\sال^|ال': its first branch never matches, so every ال is deleted
        qa_rules=QaRules(articles=(), article_pattern="\\sال^|ال", article_pattern_label="every ال (official regex)"),
    ),
    Language(
        code="bn", iso639_3="ben", flores="ben_Beng", name="Bengali", native_name="বাংলা", script="Beng",
        digits="০১২৩৪৫৬৭৮৯", decimal_sep=".", group_seps=(",",), joshi_class=3,
        mgsm=MgsmLiterals(
            question="প্রশ্ন:", cot_cue="ধাপে ধাপে উত্তর:", answer_prefix="উত্তর:", answer_sentence="উত্তর হল {}।",
            answer_cues=("উত্তর হল", "উত্তর হলো", "উত্তর:"),
            cot_instruction='সমস্যাটি ধাপে ধাপে সমাধান করুন এবং শেষে লিখুন "উত্তর হল [সংখ্যা]।"',
            direct_instruction="শুধু সংখ্যাটি দিয়ে উত্তর দিন।",
        ),
    ),
    Language(
        code="de", iso639_3="deu", flores="deu_Latn", name="German", native_name="Deutsch", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP, THIN), joshi_class=5,
        mgsm=MgsmLiterals(
            question="Frage:", cot_cue="Schritt-für-Schritt-Antwort:", answer_prefix="Antwort:",
            answer_sentence="Die Antwort ist {}.", answer_cues=("Die Antwort ist", "Die Antwort lautet", "Antwort:"),
            cot_instruction="Löse die Aufgabe Schritt für Schritt und schließe mit dem Satz „Die Antwort ist [Zahl].“",
            direct_instruction="Antworte nur mit der Zahl.",
        ),
        qa=QaLiterals(context="Kontext:", question="Frage:", answer="Antwort:",
                      instruction="Beantworte die Frage mit genau den Worten aus dem Kontext, ohne weiteren Text."),
        qa_rules=QaRules(articles=("ein", "eine", "einen", "einem", "eines", "einer",
                                   "der", "die", "das", "den", "dem", "des")),
        mt=MtLiterals(preamble_words=("übersetzung",), translation_label="Übersetzung"),
    ),
    Language(
        code="el", iso639_3="ell", flores="ell_Grek", name="Greek", native_name="Ελληνικά", script="Grek",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP), joshi_class=3,
        qa=QaLiterals(context="Κείμενο:", question="Ερώτηση:", answer="Απάντηση:",
                      instruction="Απάντησε στην ερώτηση με ακριβώς τις λέξεις του κειμένου, χωρίς τίποτε άλλο."),
        qa_rules=QaRules(articles=("ο", "η", "το", "οι", "τα", "του", "της", "των", "τον", "την", "τους", "τις",
                                   "ένας", "ενός", "έναν", "μια", "μία", "μιας", "ένα")),
    ),
    Language(
        code="en", iso639_3="eng", flores="eng_Latn", name="English", native_name="English", script="Latn",
        digits=None, decimal_sep=".", group_seps=(",", NNBSP, NBSP, THIN), joshi_class=5,
        mgsm=MgsmLiterals(
            question="Question:", cot_cue="Step-by-Step Answer:", answer_prefix="Answer:",
            answer_sentence="The answer is {}.", answer_cues=("The answer is", "Answer:"),
            cot_instruction='Solve the problem step by step and end with the sentence "The answer is [number]."',
            direct_instruction="Answer with the number only.",
        ),
        qa=QaLiterals(context="Context:", question="Question:", answer="Answer:",
                      instruction="Answer the question with the exact words from the context, nothing else."),
        qa_rules=QaRules(articles=("a", "an", "the")),
        mt=MtLiterals(
            preamble_words=("translat", "here is", "here's", "sure", "certainly", "of course"),
            translation_label="Translation",
            note_openers=("note", "notes", "explanation", "translation note", "translation notes", "literal",
                          "literally", "i translated", "this translation", "the translation"),
        ),
    ),
    Language(
        code="es", iso639_3="spa", flores="spa_Latn", name="Spanish", native_name="Español", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP, THIN), joshi_class=5,
        mgsm=MgsmLiterals(
            question="Pregunta:", cot_cue="Respuesta paso a paso:", answer_prefix="Respuesta:",
            answer_sentence="La respuesta es {}.", answer_cues=("La respuesta es", "Respuesta:"),
            cot_instruction="Resuelve el problema paso a paso y termina con la frase «La respuesta es [número].»",
            direct_instruction="Responde solo con el número.",
        ),
        qa=QaLiterals(context="Contexto:", question="Pregunta:", answer="Respuesta:",
                      instruction="Responde a la pregunta con las palabras exactas del contexto, sin nada más."),
        qa_rules=QaRules(articles=("un", "una", "unos", "unas", "el", "la", "los", "las")),
        # traduc-: traducción, traducir; traduz-: traduzco, traduzca (and Portuguese tradução, Italian traduzione)
        mt=MtLiterals(preamble_words=("traduc", "traduz")),
    ),
    Language(
        code="fr", iso639_3="fra", flores="fra_Latn", name="French", native_name="Français", script="Latn",
        digits=None, decimal_sep=",", group_seps=(NNBSP, NBSP, THIN, " "), joshi_class=5,
        mgsm=MgsmLiterals(
            question="Question :", cot_cue="Réponse étape par étape :", answer_prefix="Réponse :",
            answer_sentence="La réponse est {}.", answer_cues=("La réponse est", "Réponse :", "Réponse:"),
            cot_instruction="Résous le problème étape par étape et termine par la phrase « La réponse est [nombre]. »",
            direct_instruction="Réponds uniquement par le nombre.",
        ),
        mt=MtLiterals(preamble_words=("traduc",)),
    ),
    Language(
        code="hi", iso639_3="hin", flores="hin_Deva", name="Hindi", native_name="हिन्दी", script="Deva",
        digits="०१२३४५६७८९", decimal_sep=".", group_seps=(",",), joshi_class=4,
        qa=QaLiterals(context="संदर्भ:", question="प्रश्न:", answer="उत्तर:",
                      instruction="संदर्भ में दिए गए सटीक शब्दों से ही प्रश्न का उत्तर दें, और कुछ न लिखें।"),
        qa_rules=QaRules(articles=()),
    ),
    Language(
        code="id", iso639_3="ind", flores="ind_Latn", name="Indonesian", native_name="Bahasa Indonesia", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".",), joshi_class=3,
    ),
    Language(
        code="it", iso639_3="ita", flores="ita_Latn", name="Italian", native_name="Italiano", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP), joshi_class=4,
    ),
    Language(
        code="ja", iso639_3="jpn", flores="jpn_Jpan", name="Japanese", native_name="日本語", script="Jpan",
        digits=None, decimal_sep=".", group_seps=(",", "，"), joshi_class=5,
        unspaced_letters="\u3040-\u30ff" + _CJK, bleu_tokenizer="ja-mecab",
        mgsm=MgsmLiterals(
            question="問題：", cot_cue="ステップごとの答え：", answer_prefix="答え：", answer_sentence="答えは{}です。",
            answer_cues=("答えは", "答え：", "答え:"),
            cot_instruction="問題を段階的に解き、最後に「答えは[数]です。」と書いてください。",
            direct_instruction="数字だけで答えてください。",
        ),
        qa=QaLiterals(context="文脈：", question="質問：", answer="答え：",
                      instruction="文脈の中の語句をそのまま使って質問に答えてください。それ以外は書かないでください。"),
        # hiragana, katakana (incl. the prolonged-sound mark), CJK ideographs and extension A, half-width katakana
        qa_rules=QaRules(articles=(), segmentation="character",
                         segment_chars="\u3040-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f"),
        mt=MtLiterals(preamble_words=("翻訳", "訳")),
    ),
    Language(  # PolyMath: code facts only (no literals)
        code="ms", iso639_3="zsm", flores="zsm_Latn", name="Malay", native_name="Bahasa Melayu", script="Latn",
        digits=None, decimal_sep=".", group_seps=(",",), joshi_class=3,
    ),
    Language(
        code="ko", iso639_3="kor", flores="kor_Hang", name="Korean", native_name="한국어", script="Hang",
        digits=None, decimal_sep=".", group_seps=(",",), joshi_class=4, bleu_tokenizer="ko-mecab",
    ),
    Language(
        code="pt", iso639_3="por", flores="por_Latn", name="Portuguese", native_name="Português", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP), joshi_class=4,
    ),
    Language(
        code="ro", iso639_3="ron", flores="ron_Latn", name="Romanian", native_name="Română", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP), joshi_class=3,
        qa=QaLiterals(context="Context:", question="Întrebare:", answer="Răspuns:",
                      instruction="Răspunde la întrebare exact cu cuvintele din context, fără nimic altceva."),
        qa_rules=QaRules(articles=("un", "o", "niște", "nişte", "unui", "unei", "unor")),
    ),
    Language(
        code="ru", iso639_3="rus", flores="rus_Cyrl", name="Russian", native_name="Русский", script="Cyrl",
        digits=None, decimal_sep=",", group_seps=(NNBSP, NBSP, THIN, " "), joshi_class=4,
        mgsm=MgsmLiterals(
            question="Задача:", cot_cue="Пошаговое решение:", answer_prefix="Ответ:", answer_sentence="Ответ — {}.",
            answer_cues=("Ответ —", "Ответ –", "Ответ -", "Ответ:", "Ответ равен", "Ответ"),
            cot_instruction="Реши задачу шаг за шагом и закончи фразой «Ответ — [число].»",
            direct_instruction="Ответь только числом.",
        ),
        qa=QaLiterals(context="Контекст:", question="Вопрос:", answer="Ответ:",
                      instruction="Ответь на вопрос точными словами из контекста, без лишнего текста."),
        qa_rules=QaRules(articles=()),
        mt=MtLiterals(preamble_words=("перевод",)),
    ),
    Language(
        code="sw", iso639_3="swa", flores="swh_Latn", name="Swahili", native_name="Kiswahili", script="Latn",
        digits=None, decimal_sep=".", group_seps=(",", NNBSP, NBSP), joshi_class=2,
        mgsm=MgsmLiterals(
            question="Swali:", cot_cue="Jibu la Hatua kwa Hatua:", answer_prefix="Jibu:", answer_sentence="Jibu ni {}.",
            answer_cues=("Jibu ni", "Jibu:"),
            cot_instruction='Tatua swali hatua kwa hatua na umalizie kwa sentensi "Jibu ni [namba]."',
            direct_instruction="Jibu kwa namba pekee.",
        ),
    ),
    Language(
        code="te", iso639_3="tel", flores="tel_Telu", name="Telugu", native_name="తెలుగు", script="Telu",
        digits="౦౧౨౩౪౫౬౭౮౯", decimal_sep=".", group_seps=(",",), joshi_class=1,
        mgsm=MgsmLiterals(
            question="ప్రశ్న:", cot_cue="దశలవారీగా సమాధానం:", answer_prefix="సమాధానం:", answer_sentence="సమాధానం {}.",
            answer_cues=("సమాధానం:", "సమాధానం"),
            cot_instruction='సమస్యను దశలవారీగా పరిష్కరించి, చివరలో "సమాధానం [సంఖ్య]." అని రాయండి.',
            direct_instruction="సంఖ్యతో మాత్రమే సమాధానం ఇవ్వండి.",
        ),
    ),
    Language(
        code="th", iso639_3="tha", flores="tha_Thai", name="Thai", native_name="ไทย", script="Thai",
        digits="๐๑๒๓๔๕๖๗๘๙", decimal_sep=".", group_seps=(",",), joshi_class=3,
        unspaced_letters="\u0e00-\u0e7f",
        mgsm=MgsmLiterals(
            question="โจทย์:", cot_cue="คำตอบทีละขั้นตอน:", answer_prefix="คำตอบ:", answer_sentence="คำตอบคือ {}",
            answer_cues=("คำตอบคือ", "คำตอบ:"),
            cot_instruction='แก้โจทย์ทีละขั้นตอน แล้วจบด้วยประโยค "คำตอบคือ [ตัวเลข]"',
            direct_instruction="ตอบเป็นตัวเลขเท่านั้น",
        ),
        qa=QaLiterals(context="บริบท:", question="คำถาม:", answer="คำตอบ:",
                      instruction="ตอบคำถามโดยใช้ข้อความจากบริบทตามตัวอักษร และไม่ต้องเขียนอย่างอื่น"),
        # the Thai block (consonants, vowels, tone marks, digits): Thai writes no spaces between words
        qa_rules=QaRules(articles=(), segmentation="character", segment_chars="\u0e00-\u0e7f"),
    ),
    Language(
        code="tr", iso639_3="tur", flores="tur_Latn", name="Turkish", native_name="Türkçe", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP), joshi_class=4,
        qa=QaLiterals(context="Bağlam:", question="Soru:", answer="Cevap:",
                      instruction="Soruyu bağlamdaki kelimelerin aynısıyla yanıtla, başka bir şey yazma."),
        qa_rules=QaRules(articles=()),
    ),
    Language(
        code="vi", iso639_3="vie", flores="vie_Latn", name="Vietnamese", native_name="Tiếng Việt", script="Latn",
        digits=None, decimal_sep=",", group_seps=(".", NNBSP, NBSP), joshi_class=4,
        qa=QaLiterals(context="Ngữ cảnh:", question="Câu hỏi:", answer="Trả lời:",
                      instruction="Trả lời câu hỏi bằng đúng các từ trong ngữ cảnh, không thêm gì khác."),
        qa_rules=QaRules(articles=("của", "là", "cái", "chiếc", "những")),
    ),
    Language(
        code="zh", iso639_3="zho", flores="zho_Hans", name="Chinese", native_name="中文", script="Hans",
        digits=None, decimal_sep=".", group_seps=(",", "，"), joshi_class=5,
        unspaced_letters=_CJK, bleu_tokenizer="zh",
        mgsm=MgsmLiterals(
            question="问题：", cot_cue="逐步解答：", answer_prefix="答案：", answer_sentence="答案是 {}。",
            answer_cues=("答案是", "答案为", "答案：", "答案:"),
            cot_instruction="请逐步解答这道题，并以“答案是[数字]。”这句话结尾。",
            direct_instruction="只用数字回答。",
        ),
        qa=QaLiterals(context="上下文：", question="问题：", answer="答案：",
                      instruction="请直接用上下文中的原文回答问题，不要添加其他内容。"),
        # mixed segmentation: each CJK ideograph of the official MLQA range one token
        qa_rules=QaRules(articles=(), segmentation="mixed (official)", segment_chars="\u4e00-\u9fa5"),
        mt=MtLiterals(preamble_words=("翻译",)),
    ),
]


# ------------------------------------------------------------------ the FLORES-200 table
FLORES200_FILE = language_table.FLORES200_FILE
RegistryError = language_table.RegistryError


def _merged(hand: Language, row: dict | None) -> Language:
    """A hand-written row with the table's facts it leaves open."""
    if row is None:
        raise RegistryError(f"language {hand.code!r} of {REGISTRY_FILE} has FLORES code {hand.flores!r}, which is not "
                            f"one of the FLORES-200 codes of {FLORES200_FILE}")
    facts = language_table.facts(row)
    if not hand.bleu_tokenizer:
        facts["bleu_tokenizer"] = row["bleu_tokenizer"]
    facts["native_name_source"] = "hand-written (lm_eval_ext/languages.py)"
    return dataclasses.replace(hand, **facts)


def _from_table(row: dict) -> Language:
    return Language(code=row["flores_code"], iso639_3=row["iso639_3"], flores=row["flores_code"], name=row["name"],
                    native_name=row["native_name"], script=row["script"], bleu_tokenizer=row["bleu_tokenizer"],
                    **language_table.facts(row))


_TABLE = language_table.read()
_LANGS = [_merged(lang, _TABLE.get(lang.flores)) for lang in _LANGS]

LANGUAGES: Mapping[str, Language] = MappingProxyType({lang.code: lang for lang in _LANGS})
_BY_FLORES = {lang.flores: lang for lang in _LANGS}
# Every FLORES-200 language by its FLORES code (the registry key of the languages without a
# hand-written row), in code order; a hand-written row stands for its own code.
FLORES200: Mapping[str, Language] = MappingProxyType(
    {code: _BY_FLORES.get(code) or _from_table(row) for code, row in sorted(_TABLE.items())})

# Language sets of the benchmarks, in the benchmarks' own order.
MGSM_LANGS = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")
# Language Confusion Benchmark (Marchisio et al. 2024): monolingual prompts (the user writes in l) and
# cross-lingual ones (an English prompt asks for l)
LCB_MONOLINGUAL_LANGS = ("ar", "de", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "pt", "ru", "tr", "vi", "zh")
LCB_CROSSLINGUAL_LANGS = ("ar", "de", "es", "fr", "hi", "id", "it", "ja", "ko", "pt", "ru", "tr", "vi", "zh")
# PolyMath (QwenLM/PolyMath, run_eval.sh order)
POLYMATH_LANGS = ("en", "zh", "ar", "bn", "de", "es", "fr", "id", "it", "ja", "ko", "ms", "pt", "ru", "sw", "te", "th", "vi")



def get(code: str) -> Language:
    """Look a language up by the ISO 639-1 code of a hand-written row or by FLORES-200 code."""
    lang = LANGUAGES.get(code) or FLORES200.get(code)
    if lang is None:
        known = ", ".join(sorted(LANGUAGES))
        raise KeyError(f"unknown language {code!r}; the registry knows the ISO 639-1 codes {known} and the "
                       f"{len(FLORES200)} FLORES-200 codes of {FLORES200_FILE.name} (e.g. deu_Latn)")
    return lang


def of_tier(tier: str, codes=None) -> tuple[str, ...]:
    codes = LANGUAGES if codes is None else codes
    return tuple(c for c in codes if get(c).tier == tier)


def all_native_digits() -> str:
    """Every digit character the registry knows beyond ASCII (for extraction)."""
    return "".join(lang.digits for lang in _LANGS if lang.digits)


def bleu_tokenizer(flores_code: str) -> str:
    """sacreBLEU's tokenizer for BLEU into a FLORES-200 language; "none": BLEU is undefined there."""
    return get(flores_code).bleu_tokenizer


def unspaced_letters() -> str:
    """Regex character ranges of every registry script written without spaces."""
    return "".join(lang.unspaced_letters for lang in _LANGS)


def mt_words(kind: str) -> tuple[str, ...]:
    """Reply-cleaning words of every registry language: ``preamble_words``, ``note_openers``,
    or ``translation_label`` (the labels, English first)."""
    ordered = sorted(_LANGS, key=lambda lang: lang.code != "en")
    if kind == "translation_label":
        return tuple(lang.mt.translation_label for lang in ordered if lang.mt.translation_label)
    return tuple(dict.fromkeys(word for lang in ordered for word in getattr(lang.mt, kind)))
