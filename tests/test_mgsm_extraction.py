"""MGSM answer extraction on the reply formats real models write, per language.

Each row: language, mode, reply, what `strict-match` must read, what
`flexible-extract` must read (None = no answer). The expected values are what a
careful human grader reads off the reply.
"""

from decimal import Decimal

import pytest

from lm_eval_ext import languages
from lm_eval_ext.families.mgsm import NO_ANSWER, extract, process_results
from lm_eval_ext.metrics.numbers import canonical, find_numbers, to_ascii_digits

N = None
CASES = [
    # --- English
    ("en", "native_cot", "She has 16 - 3 - 4 = 9 eggs. 9 * 2 = 18. The answer is 18.", "18", "18"),
    ("en", "native_cot", "The answer is $18.", "18", "18"),
    ("en", "native_cot", "The answer is 1,234.5 dollars.", "1234.5", "1234.5"),
    ("en", "native_cot", "**The answer is 18**", "18", "18"),
    ("en", "native_cot", "So the total is \\boxed{18}.", N, "18"),
    ("en", "native_cot", "The answer is 16 - 3 - 4 = 9.", "9", "9"),
    ("en", "native_cot", "It drops to -5 degrees. The answer is -5.", "-5", "-5"),
    ("en", "native_cot", "74-35=39. So 39 chocolates are left.", N, "39"),
    ("en", "native_cot", "I cannot solve this.", N, N),
    ("en", "native_cot", "", N, N),
    ("en", "native_cot", "<think>maybe 17? no, the answer is 17</think>The answer is 18.", "18", "18"),
    ("en", "native_cot", "<think>16 - 3 - 4 = 9, so 18 dollars", N, N),  # still thinking: no answer
    ("en", "native_cot", "first 16 eggs</think>\nThe answer is 18.", "18", "18"),  # template opened the block
    ("en", "native_cot", "The answer is 18.\n\nQuestion: a new question with 5 numbers", "18", "5"),
    ("en", "native_cot", "The answer is 18.0", "18", "18"),
    ("en", "direct", "18", "18", "18"),
    ("en", "direct", "$18.00", "18", "18"),
    ("en", "direct", "She makes 18 dollars.", N, "18"),
    ("en", "direct", "Answer: 18", "18", "18"),
    # --- German: 1.234,5 and both answer sentences of the exemplars
    ("de", "native_cot", "Sie verdient 9 * 2 = 18 Dollar. Die Antwort ist 18.", "18", "18"),
    ("de", "native_cot", "Das macht 1.234,5 €. Die Antwort lautet 1.234,5.", "1234.5", "1234.5"),
    ("de", "native_cot", "Die Antwort lautet: 18 Euro.", "18", "18"),
    ("de", "native_cot", "Insgesamt 3,5 Stunden. Die Antwort ist 3,5.", "3.5", "3.5"),
    ("de", "native_cot", "Es sind 12.000 Besucher. Die Antwort ist 12.000.", "12000", "12000"),
    ("de", "en_cot", "She makes 9 * 2 = 18 dollars. The answer is 18.", "18", "18"),
    ("de", "en_cot", "Die Antwort ist 18.", N, "18"),  # en_cot strict wants the English sentence
    # --- Spanish
    ("es", "native_cot", "Gana 1.234,50 dólares. La respuesta es 1.234,50.", "1234.5", "1234.5"),
    ("es", "native_cot", "La respuesta es 18.", "18", "18"),
    # --- French: 1 234,5 with spaces, NBSP and narrow NBSP
    ("fr", "native_cot", "Elle gagne 1 234,5 euros. La réponse est 1 234,5.", "1234.5", "1234.5"),
    ("fr", "native_cot", "Total : 1\u202f234,5 €. La réponse est 1\u202f234,5 €.", "1234.5", "1234.5"),
    ("fr", "native_cot", "La réponse est 12\u00a0000.", "12000", "12000"),
    ("fr", "native_cot", "Réponse : 18", "18", "18"),
    # --- Russian
    ("ru", "native_cot", "Итого 9 * 2 = 18 долларов. Ответ — 18.", "18", "18"),
    ("ru", "native_cot", "Ответ: 1 234,5 руб.", "1234.5", "1234.5"),
    ("ru", "native_cot", "Ответ равен 7.", "7", "7"),
    # --- Japanese / Chinese: full-width digits, no spaces, 。
    ("ja", "native_cot", "9×2=18ドルです。答えは18です。", "18", "18"),
    ("ja", "native_cot", "答えは１８個です。", "18", "18"),
    ("ja", "native_cot", "答え：29台", "29", "29"),
    ("zh", "native_cot", "她每天赚 9 × 2 = 18 美元。答案是 18。", "18", "18"),
    ("zh", "native_cot", "所以一共 １，２３４ 元。答案是１，２３４。", "1234", "1234"),
    ("zh", "native_cot", "答案为 3.5 小时。", "3.5", "3.5"),
    # --- Bengali: native digits, ৳ counters and the danda
    ("bn", "native_cot", "তার কাছে ৯টি ডিম আছে। ৯ × ২ = ১৮ ডলার। উত্তর হল ১৮।", "18", "18"),
    ("bn", "native_cot", "উত্তর হল 18।", "18", "18"),
    ("bn", "native_cot", "উত্তর হলো ১,২৩৪।", "1234", "1234"),
    ("bn", "direct", "১৮", "18", "18"),
    # --- Telugu: native digits; the exemplar's "సమాధానం 39." form
    ("te", "native_cot", "మొత్తం ౧౮ డాలర్లు. సమాధానం ౧౮.", "18", "18"),
    ("te", "native_cot", "సమాధానం 39.చాక్లెట్లు", "39", "39"),
    # --- Thai: native digits, no sentence punctuation
    ("th", "native_cot", "เธอได้เงิน ๑๘ ดอลลาร์ คำตอบคือ ๑๘", "18", "18"),
    ("th", "native_cot", "คำตอบคือ 1,234.5 บาท", "1234.5", "1234.5"),
    # --- Swahili
    ("sw", "native_cot", "Anapata dola 9 x 2 = 18. Jibu ni 18.", "18", "18"),
    ("sw", "native_cot", "Jibu ni 1,234.", "1234", "1234"),
]


@pytest.mark.parametrize("lang,mode,reply,strict,flexible", CASES)
def test_extraction_table(lang, mode, reply, strict, flexible):
    assert extract(reply, lang, mode, "strict") == (strict if strict is not None else NO_ANSWER)
    assert extract(reply, lang, mode, "flexible") == (flexible if flexible is not None else NO_ANSWER)


def test_every_mgsm_language_is_in_the_table():
    assert {row[0] for row in CASES} >= set(languages.MGSM_LANGS)


@pytest.mark.parametrize(
    "text,lang,expected",
    [
        ("1,234.5", "en", ["1234.5"]),
        ("1.234,5", "de", ["1234.5"]),
        ("1,234", "en", ["1234"]),
        ("1,234", "de", ["1.234"]),  # German decimal comma
        ("1.234", "de", ["1234"]),  # German thousands dot
        ("1.234", "en", ["1.234"]),
        ("1,23,456", "hi", ["123456"]),  # Indian grouping
        ("2,5 and 7", "en", ["2", "5", "7"]),  # a list, not a decimal
        ("1 2 3", "fr", ["1", "2", "3"]),  # spaces join only 3-digit groups
        ("١٢٫٥", "ar", ["12.5"]),  # Arabic-Indic digits and decimal mark
        ("०१२३४५६७८९", "hi", ["123456789"]),
        ("74 - 35 = 39", "en", ["74", "35", "39"]),
        ("x = −5", "en", ["-5"]),  # U+2212 minus
        ("5টি বল", "bn", ["5"]),
    ],
)
def test_number_reading(text, lang, expected):
    assert [canonical(n.value) for n in find_numbers(text, lang)] == expected


def test_positions_survive_native_digits():
    text = "মোট ১২৩ টাকা"
    (num,) = find_numbers(text, "bn")
    assert text[num.start:num.end] == "১২৩"
    assert to_ascii_digits(text)[num.start:num.end] == "123"


def test_numeric_comparison_and_metrics():
    doc = {"answer_number": 18.0, "lang": "de"}
    assert process_results(doc, ["18"]) == {"exact_match": 1.0, "exact_match_non_en": 1.0}
    assert process_results(doc, [canonical(Decimal("18.00"))])["exact_match"] == 1.0
    assert process_results(doc, [NO_ANSWER])["exact_match"] == 0.0
    assert process_results({"answer_number": 18, "lang": "en"}, ["18"]) == {"exact_match": 1.0}


def test_no_number_never_raises():
    for lang in languages.MGSM_LANGS:
        for mode in ("direct", "native_cot", "en_cot"):
            for strategy in ("strict", "flexible"):
                assert extract("—", lang, mode, strategy) == NO_ANSWER
                assert extract(None, lang, mode, strategy) == NO_ANSWER
