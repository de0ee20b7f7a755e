"""The language registry, checked against the real benchmark data."""

import json

import pytest

from lm_eval_ext import languages
from lm_eval_ext.languages import MGSM_LANGS, MLQA_LANGS, XQUAD_LANGS
from lm_eval_ext.families.mgsm import extract


def _jsonl(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_codes_unique_and_lookups():
    langs = list(languages.LANGUAGES.values())
    assert len({l.code for l in langs}) == len({l.flores for l in langs}) == len({l.iso639_3 for l in langs}) == len(langs)
    assert languages.get("deu_Latn") is languages.get("de")
    with pytest.raises(KeyError, match="unknown language 'xx'"):
        languages.get("xx")


def test_benchmark_language_sets_are_known():
    for code in set(MGSM_LANGS) | set(XQUAD_LANGS) | set(MLQA_LANGS):
        assert code in languages.LANGUAGES


def test_tiers_reproduce_shi_et_al():
    # Shi et al. 2023, MGSM: high-resource vs underrepresented.
    assert set(languages.of_tier(languages.HIGH, MGSM_LANGS)) == {"de", "en", "es", "fr", "ja", "ru", "zh"}
    assert set(languages.of_tier(languages.LOW, MGSM_LANGS)) == {"bn", "sw", "te", "th"}


def test_native_digits_are_decimal_digits_in_order():
    import unicodedata

    for lang in languages.LANGUAGES.values():
        if lang.digits:
            assert len(lang.digits) == 10
            assert [unicodedata.decimal(ch) for ch in lang.digits] == list(range(10)), lang.code


def test_flores_codes_exist_in_the_data(shared_data):
    for lang in languages.LANGUAGES.values():
        assert (shared_data / "flores" / f"{lang.flores}.devtest.jsonl").is_file(), lang.flores


@pytest.mark.parametrize("code", MGSM_LANGS)
def test_mgsm_phrases_match_the_exemplars(shared_data, code):
    """The registry's question prefix and step-by-step cue are the ones the
    human-translated exemplars use, and strict extraction reads every
    exemplar's own answer sentence correctly."""
    L = languages.get(code)
    rows = _jsonl(shared_data / "mgsm" / f"mgsm_{code}.train.jsonl")
    assert len(rows) == 8
    for row in rows:
        assert row["question"].startswith(L.mgsm.question), row["question"][:30]
        assert row["answer"].startswith(L.mgsm.cot_cue), row["answer"][:30]
        got = extract(row["answer"], code, "native_cot", "strict")
        assert got == str(row["answer_number"]), (code, row["answer"][-40:])
    # The sentence the registry teaches in 0-shot prompts is read back as well.
    sentence = L.mgsm.answer_sentence.format(42)
    assert extract(f"... {sentence}", code, "native_cot", "strict") == "42"


def test_a_missing_literal_names_the_language_the_literal_and_the_file():
    from lm_eval_ext.families import mgsm

    where = r"lm_eval_ext/languages\.py"
    with pytest.raises(languages.MissingLiteral, match=rf"language 'ar' has no literal MgsmLiterals\.question .*{where}"):
        mgsm.prompt_parts("ar", "native_cot")  # Arabic has no MGSM literals
    with pytest.raises(languages.MissingLiteral, match=rf"language 'bn' has no literal QaLiterals\.instruction .*{where}"):
        languages.get("bn").qa.instruction
    # literal kinds are named fields, the same ones in every language that has them
    de = languages.get("de")
    assert de.mgsm.answer_sentence.format(3) == "Die Antwort ist 3." and de.qa.answer == "Antwort:"
    assert de.qa_rules.articles[:2] == ("ein", "eine") and languages.get("ar").qa_rules.article_pattern
