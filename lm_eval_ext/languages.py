"""The one place for language facts.

Every task, scorer and report reads codes, names, scripts, digits, number
separators, resource tiers and prompt phrases from here; nothing else in the
project spells a language fact out. Add a language by adding one `Language`.

Sources
- Codes: ISO 639-1 / 639-3 and the FLORES-200 code (``<iso639-3>_<ISO 15924>``).
- Resource tier: Shi et al. 2023 ("Language models are multilingual
  chain-of-thought reasoners") split MGSM into high-resource (de en es fr ja ru
  zh) and underrepresented (bn sw te th) languages by their share of the
  pretraining data. Languages outside MGSM are placed by the Joshi et al. 2020
  taxonomy class ("The state and fate of linguistic diversity"): class >= 4 is
  high-resource. The rule reproduces Shi et al.'s split on all 11 MGSM languages
  (tested).
- MGSM phrases (question prefix, step-by-step cue, answer sentence) are the ones
  in the human-translated MGSM exemplars of Shi et al. (tested against the data).
  The zero-shot instructions were written for this project; they are short on
  purpose and flagged for native-speaker review in the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

HIGH = "high"
LOW = "low"
TIER_LABELS = {HIGH: "high-resource", LOW: "underrepresented"}

NBSP = "\u00a0"  # no-break space
NNBSP = "\u202f"  # narrow no-break space: the French and Russian thousands separator
THIN = "\u2009"


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    iso639_3: str
    flores: str  # FLORES-200 code
    name: str  # English name
    native_name: str
    script: str  # ISO 15924
    digits: str | None  # the script's own digits 0-9, when it has them
    decimal_sep: str
    group_seps: tuple[str, ...]  # thousands separators in use, most common first
    joshi_class: int
    spaced: bool = True  # words separated by spaces (False: zh, ja, th)
    phrases: Mapping[str, object] = field(default_factory=dict)

    @property
    def tier(self) -> str:
        return HIGH if self.joshi_class >= 4 else LOW

    @property
    def tier_label(self) -> str:
        return TIER_LABELS[self.tier]

    def phrase(self, key: str):
        try:
            return self.phrases[key]
        except KeyError:
            raise KeyError(
                f"language {self.code!r} ({self.name}) has no phrase {key!r} in the "
                f"language registry (lm_eval_ext/languages.py)"
            ) from None

    def __str__(self) -> str:  # pragma: no cover - convenience
        return f"{self.code} ({self.name})"


def _mgsm(question, cot_cue, answer_prefix, answer_sentence, answer_cues, cot_instruction, direct_instruction):
    return {
        "mgsm_question": question,  # prefix of a question, as in the exemplars
        "mgsm_cot_cue": cot_cue,  # "Step-by-Step Answer:"
        "mgsm_answer_prefix": answer_prefix,  # "Answer:" of the direct mode
        "mgsm_answer_sentence": answer_sentence,  # "The answer is {}."
        # What may stand before the final number (the exemplars' own forms first).
        "mgsm_answer_cues": answer_cues,
        "mgsm_cot_instruction": cot_instruction,
        "mgsm_direct_instruction": direct_instruction,
    }


_LANGS = [
    Language("ar", "ara", "arb_Arab", "Arabic", "العربية", "Arab", "٠١٢٣٤٥٦٧٨٩", ".", (",", "٬"), 5),
    Language(
        "bn", "ben", "ben_Beng", "Bengali", "বাংলা", "Beng", "০১২৩৪৫৬৭৮৯", ".", (",",), 3,
        phrases=_mgsm(
            "প্রশ্ন:", "ধাপে ধাপে উত্তর:", "উত্তর:", "উত্তর হল {}।",
            ("উত্তর হল", "উত্তর হলো", "উত্তর:"),
            'সমস্যাটি ধাপে ধাপে সমাধান করুন এবং শেষে লিখুন "উত্তর হল [সংখ্যা]।"',
            "শুধু সংখ্যাটি দিয়ে উত্তর দিন।",
        ),
    ),
    Language(
        "de", "deu", "deu_Latn", "German", "Deutsch", "Latn", None, ",", (".", NNBSP, NBSP, THIN), 5,
        phrases=_mgsm(
            "Frage:", "Schritt-für-Schritt-Antwort:", "Antwort:", "Die Antwort ist {}.",
            ("Die Antwort ist", "Die Antwort lautet", "Antwort:"),
            "Löse die Aufgabe Schritt für Schritt und schließe mit dem Satz „Die Antwort ist [Zahl].“",
            "Antworte nur mit der Zahl.",
        ),
    ),
    Language("el", "ell", "ell_Grek", "Greek", "Ελληνικά", "Grek", None, ",", (".", NNBSP, NBSP), 3),
    Language(
        "en", "eng", "eng_Latn", "English", "English", "Latn", None, ".", (",", NNBSP, NBSP, THIN), 5,
        phrases=_mgsm(
            "Question:", "Step-by-Step Answer:", "Answer:", "The answer is {}.",
            ("The answer is", "Answer:"),
            'Solve the problem step by step and end with the sentence "The answer is [number]."',
            "Answer with the number only.",
        ),
    ),
    Language(
        "es", "spa", "spa_Latn", "Spanish", "Español", "Latn", None, ",", (".", NNBSP, NBSP, THIN), 5,
        phrases=_mgsm(
            "Pregunta:", "Respuesta paso a paso:", "Respuesta:", "La respuesta es {}.",
            ("La respuesta es", "Respuesta:"),
            "Resuelve el problema paso a paso y termina con la frase «La respuesta es [número].»",
            "Responde solo con el número.",
        ),
    ),
    Language(
        "fr", "fra", "fra_Latn", "French", "Français", "Latn", None, ",", (NNBSP, NBSP, THIN, " "), 5,
        phrases=_mgsm(
            "Question :", "Réponse étape par étape :", "Réponse :", "La réponse est {}.",
            ("La réponse est", "Réponse :", "Réponse:"),
            "Résous le problème étape par étape et termine par la phrase « La réponse est [nombre]. »",
            "Réponds uniquement par le nombre.",
        ),
    ),
    Language("hi", "hin", "hin_Deva", "Hindi", "हिन्दी", "Deva", "०१२३४५६७८९", ".", (",",), 4),
    Language(
        "ja", "jpn", "jpn_Jpan", "Japanese", "日本語", "Jpan", None, ".", (",", "，"), 5, spaced=False,
        phrases=_mgsm(
            "問題：", "ステップごとの答え：", "答え：", "答えは{}です。",
            ("答えは", "答え：", "答え:"),
            "問題を段階的に解き、最後に「答えは[数]です。」と書いてください。",
            "数字だけで答えてください。",
        ),
    ),
    Language("ro", "ron", "ron_Latn", "Romanian", "Română", "Latn", None, ",", (".", NNBSP, NBSP), 3),
    Language(
        "ru", "rus", "rus_Cyrl", "Russian", "Русский", "Cyrl", None, ",", (NNBSP, NBSP, THIN, " "), 4,
        phrases=_mgsm(
            "Задача:", "Пошаговое решение:", "Ответ:", "Ответ — {}.",
            ("Ответ —", "Ответ –", "Ответ -", "Ответ:", "Ответ равен", "Ответ"),
            "Реши задачу шаг за шагом и закончи фразой «Ответ — [число].»",
            "Ответь только числом.",
        ),
    ),
    Language(
        "sw", "swa", "swh_Latn", "Swahili", "Kiswahili", "Latn", None, ".", (",", NNBSP, NBSP), 2,
        phrases=_mgsm(
            "Swali:", "Jibu la Hatua kwa Hatua:", "Jibu:", "Jibu ni {}.",
            ("Jibu ni", "Jibu:"),
            'Tatua swali hatua kwa hatua na umalizie kwa sentensi "Jibu ni [namba]."',
            "Jibu kwa namba pekee.",
        ),
    ),
    Language(
        "te", "tel", "tel_Telu", "Telugu", "తెలుగు", "Telu", "౦౧౨౩౪౫౬౭౮౯", ".", (",",), 1,
        phrases=_mgsm(
            "ప్రశ్న:", "దశలవారీగా సమాధానం:", "సమాధానం:", "సమాధానం {}.",
            ("సమాధానం:", "సమాధానం"),
            'సమస్యను దశలవారీగా పరిష్కరించి, చివరలో "సమాధానం [సంఖ్య]." అని రాయండి.',
            "సంఖ్యతో మాత్రమే సమాధానం ఇవ్వండి.",
        ),
    ),
    Language(
        "th", "tha", "tha_Thai", "Thai", "ไทย", "Thai", "๐๑๒๓๔๕๖๗๘๙", ".", (",",), 3, spaced=False,
        phrases=_mgsm(
            "โจทย์:", "คำตอบทีละขั้นตอน:", "คำตอบ:", "คำตอบคือ {}",
            ("คำตอบคือ", "คำตอบ:"),
            'แก้โจทย์ทีละขั้นตอน แล้วจบด้วยประโยค "คำตอบคือ [ตัวเลข]"',
            "ตอบเป็นตัวเลขเท่านั้น",
        ),
    ),
    Language("tr", "tur", "tur_Latn", "Turkish", "Türkçe", "Latn", None, ",", (".", NNBSP, NBSP), 4),
    Language("vi", "vie", "vie_Latn", "Vietnamese", "Tiếng Việt", "Latn", None, ",", (".", NNBSP, NBSP), 4),
    Language(
        "zh", "zho", "zho_Hans", "Chinese", "中文", "Hans", None, ".", (",", "，"), 5, spaced=False,
        phrases=_mgsm(
            "问题：", "逐步解答：", "答案：", "答案是 {}。",
            ("答案是", "答案为", "答案：", "答案:"),
            "请逐步解答这道题，并以“答案是[数字]。”这句话结尾。",
            "只用数字回答。",
        ),
    ),
]

LANGUAGES: Mapping[str, Language] = MappingProxyType({lang.code: lang for lang in _LANGS})
_BY_FLORES = {lang.flores: lang for lang in _LANGS}

# Language sets of the benchmarks, in the benchmarks' own order.
MGSM_LANGS = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")


def get(code: str) -> Language:
    """Look a language up by ISO 639-1 or FLORES-200 code."""
    lang = LANGUAGES.get(code) or _BY_FLORES.get(code)
    if lang is None:
        known = ", ".join(sorted(LANGUAGES))
        raise KeyError(f"unknown language {code!r}; the registry knows: {known}")
    return lang


def of_tier(tier: str, codes=None) -> tuple[str, ...]:
    codes = LANGUAGES if codes is None else codes
    return tuple(c for c in codes if get(c).tier == tier)


def all_native_digits() -> str:
    """Every digit character the registry knows beyond ASCII (for extraction)."""
    return "".join(lang.digits for lang in _LANGS if lang.digits)


# ------------------------------------------------------------ extractive QA
# Prompt labels and the zero-shot instruction of XQuAD/MLQA, in the question's
# language (written for this project, flagged for native-speaker review in
# tasks/qa/README.md like the MGSM instructions). Keys: "context", "question",
# "answer" (labels as they open a line, colon included) and "instruction".
QA_PHRASES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "ar": {"context": "السياق:", "question": "السؤال:", "answer": "الإجابة:",
           "instruction": "أجب عن السؤال بالكلمات نفسها الواردة في السياق، دون أي شيء آخر."},
    "de": {"context": "Kontext:", "question": "Frage:", "answer": "Antwort:",
           "instruction": "Beantworte die Frage mit genau den Worten aus dem Kontext, ohne weiteren Text."},
    "el": {"context": "Κείμενο:", "question": "Ερώτηση:", "answer": "Απάντηση:",
           "instruction": "Απάντησε στην ερώτηση με ακριβώς τις λέξεις του κειμένου, χωρίς τίποτε άλλο."},
    "en": {"context": "Context:", "question": "Question:", "answer": "Answer:",
           "instruction": "Answer the question with the exact words from the context, nothing else."},
    "es": {"context": "Contexto:", "question": "Pregunta:", "answer": "Respuesta:",
           "instruction": "Responde a la pregunta con las palabras exactas del contexto, sin nada más."},
    "hi": {"context": "संदर्भ:", "question": "प्रश्न:", "answer": "उत्तर:",
           "instruction": "संदर्भ में दिए गए सटीक शब्दों से ही प्रश्न का उत्तर दें, और कुछ न लिखें।"},
    "ja": {"context": "文脈：", "question": "質問：", "answer": "答え：",
           "instruction": "文脈の中の語句をそのまま使って質問に答えてください。それ以外は書かないでください。"},
    "ro": {"context": "Context:", "question": "Întrebare:", "answer": "Răspuns:",
           "instruction": "Răspunde la întrebare exact cu cuvintele din context, fără nimic altceva."},
    "ru": {"context": "Контекст:", "question": "Вопрос:", "answer": "Ответ:",
           "instruction": "Ответь на вопрос точными словами из контекста, без лишнего текста."},
    "th": {"context": "บริบท:", "question": "คำถาม:", "answer": "คำตอบ:",
           "instruction": "ตอบคำถามโดยใช้ข้อความจากบริบทตามตัวอักษร และไม่ต้องเขียนอย่างอื่น"},
    "tr": {"context": "Bağlam:", "question": "Soru:", "answer": "Cevap:",
           "instruction": "Soruyu bağlamdaki kelimelerin aynısıyla yanıtla, başka bir şey yazma."},
    "vi": {"context": "Ngữ cảnh:", "question": "Câu hỏi:", "answer": "Trả lời:",
           "instruction": "Trả lời câu hỏi bằng đúng các từ trong ngữ cảnh, không thêm gì khác."},
    "zh": {"context": "上下文：", "question": "问题：", "answer": "答案：",
           "instruction": "请直接用上下文中的原文回答问题，不要添加其他内容。"},
})

# Free-standing articles removed before QA scoring (lower-cased), per language.
# ar/de/en/es/hi/vi/zh are the lists of the official MLQA script
# (mlqa_evaluation_v1.py; vi includes its non-articles của/là as published;
# Arabic's rule is a regex, kept in lm_eval_ext.qa_scoring). Our extensions:
# el: definite and indefinite articles in all cases; ro: only the free-standing
# indefinite articles (the definite article is an enclitic suffix, -ul/-a/-le/
# -lor, that cannot be split off without a morphological analyser); ru, th, ja:
# no articles; tr: none (bir is also the numeral "one").
QA_ARTICLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "en": ("a", "an", "the"),
    "es": ("un", "una", "unos", "unas", "el", "la", "los", "las"),
    "de": ("ein", "eine", "einen", "einem", "eines", "einer", "der", "die", "das", "den", "dem", "des"),
    "vi": ("của", "là", "cái", "chiếc", "những"),
    "el": ("ο", "η", "το", "οι", "τα", "του", "της", "των", "τον", "την", "τους", "τις",
           "ένας", "ενός", "έναν", "μια", "μία", "μιας", "ένα"),
    "ro": ("un", "o", "niște", "nişte", "unui", "unei", "unor"),
    "hi": (), "zh": (), "ru": (), "th": (), "tr": (), "ja": (),
})
