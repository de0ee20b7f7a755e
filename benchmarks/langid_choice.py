"""Which offline language identifier for `lang_fidelity`? Accuracy on short real
texts in all registry languages, and speed.

    python benchmarks/langid_choice.py [--data ../shared/data] [--n 150]

Texts: FLORES-200 devtest sentences (all registry languages), MGSM test
questions (the 11 MGSM languages) and Language Confusion Benchmark prompts (its 15
monolingual languages, as released: real user requests), each cut to 20, 40 and
60 characters (at a word boundary in spaced languages): model replies that get
judged are often that short. A prediction counts as right when it maps to the text's registry
language (`lm_eval_ext.metrics.langid.to_registry_code`); "undecided" (the detector
gives up) counts as wrong. Candidates see every language they know (no
restriction to our 17): a reply in Portuguese must not pass as Spanish.
Needs the candidates installed: langid==1.1.6 pycld2==0.42
lingua-language-detector==2.1.1 (only the chosen one is a dependency), and
lm-eval-ext[confusion] for fastText lid.176.ftz (the model file LCB scores with).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from lm_eval_ext import languages
from lm_eval_ext.metrics.langid import to_registry_code

LENGTHS = (20, 40, 60, 10_000)  # characters; 10 000 = the whole sentence


def cut(text: str, n: int, spaced: bool) -> str:
    if len(text) <= n:
        return text
    piece = text[:n]
    if spaced and " " in piece:
        piece = piece[: piece.rindex(" ")]
    return piece


def texts(data: Path, n: int) -> dict[tuple[str, str], list[str]]:
    """(source, lang) -> texts."""
    out = {}
    for code, L in languages.LANGUAGES.items():
        with open(data / "flores" / f"{L.flores}.devtest.jsonl", encoding="utf-8") as fh:
            out[("flores", code)] = [json.loads(line)["text"] for line in fh][:n]
    for code in languages.MGSM_LANGS:
        with open(data / "mgsm" / f"mgsm_{code}.jsonl", encoding="utf-8") as fh:
            out[("mgsm", code)] = [json.loads(line)["question"] for line in fh][:n]
    from lm_eval_ext.families import lcb

    for code in lcb.LANGS["monolingual"]:
        prompts = [d["prompt"].strip() for d in lcb.docs(data, "monolingual", code)]
        out[("lcb", code)] = prompts[:: max(1, len(prompts) // n)][:n]  # every source of the language
    return out


# A restricted detector (rejected, see BENCHMARKS.md): the registry's languages
# plus those a reply in one of ours is most often confused with (same script and
# family) or that models switch into.
CONFUSERS = (
    "pt", "it", "ca", "nl", "af", "id", "ms", "tl", "pl", "az",  # Latin script
    "uk", "bg", "be", "mk", "sr", "kk",  # Cyrillic
    "fa", "ur", "mr", "pa", "gu", "ta", "ko",  # Arabic / Indic / Hangul
)


def _lingua(low_accuracy: bool, restricted: bool = False):
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    if restricted:  # the registry's languages + CONFUSERS
        codes = [getattr(IsoCode639_1, c.upper()) for c in dict.fromkeys((*languages.LANGUAGES, *CONFUSERS))]
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    else:
        builder = LanguageDetectorBuilder.from_all_languages()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    det = builder.build()  # models load lazily, per script seen (as lm_eval_ext.metrics.langid does)

    def f(text):
        lang = det.detect_language_of(text)
        return None if lang is None else lang.iso_code_639_1.name.lower()
    return f


def _lingua_registry():
    """lingua restricted to the registry's languages (the languages under test), nothing else."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in languages.LANGUAGES]
    det = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def f(text):
        lang = det.detect_language_of(text)
        return None if lang is None else lang.iso_code_639_1.name.lower()
    return f


def _fasttext_lid176():
    """fastText lid.176.ftz (the file LCB's scorer uses), top-1 label, all 176 languages; one line
    per call (fastText reads one line)."""
    from lm_eval_ext.metrics import confusion

    model = confusion._model()

    def f(text):
        labels, _ = model.predict(" ".join(text.split("\n")), k=1, threshold=0.0)
        return labels[0].removeprefix("__label__") if len(labels) else None
    return f


def _langid():
    import langid

    return lambda t: langid.classify(t)[0]


def _cld2():
    import pycld2

    def f(text):
        try:
            _, _, details = pycld2.detect(text, bestEffort=True)
        except pycld2.error:
            return None
        code = details[0][1]
        return None if code in ("un", "xxx") else code
    return f


CANDIDATES = {
    "langid 1.1.6": _langid,
    "pycld2 0.42": _cld2,
    "lingua 2.1.1 high accuracy": lambda: _lingua(False),
    "lingua 2.1.1 low accuracy": lambda: _lingua(True),
    "lingua 2.1.1 high accuracy, registry + confusers": lambda: _lingua(False, restricted=True),
    "lingua 2.1.1 high accuracy, registry only": _lingua_registry,
    "fastText lid.176.ftz (fasttext-predict)": _fasttext_lid176,
}


# lingua languages outside the restricted detector (registry + CONFUSERS), with a
# FLORES-200 file: a reply in one of them must not be read as one of ours.
OUTSIDE = {
    "sv": "swe_Latn", "da": "dan_Latn", "nb": "nob_Latn", "fi": "fin_Latn", "hu": "hun_Latn",
    "cs": "ces_Latn", "sk": "slk_Latn", "hr": "hrv_Latn", "sl": "slv_Latn", "et": "est_Latn",
    "lv": "lvs_Latn", "lt": "lit_Latn", "eu": "eus_Latn", "cy": "cym_Latn", "ga": "gle_Latn",
    "is": "isl_Latn", "sq": "als_Latn", "so": "som_Latn", "yo": "yor_Latn", "zu": "zul_Latn",
    "xh": "xho_Latn", "eo": "epo_Latn", "bs": "bos_Latn", "nn": "nno_Latn", "mi": "mri_Latn",
    "he": "heb_Hebr", "hy": "hye_Armn", "ka": "kat_Geor", "mn": "khk_Cyrl",
}


def outside_read_as_ours(name: str, data: Path, n: int) -> dict:
    """Share of texts in languages outside the restricted set that a candidate
    maps to one of the 17 registry languages (a wrong-language reply that could
    pass as right), per length."""
    fn = CANDIDATES[name]()
    hits: dict[str, list[int]] = {}
    for code, fl in OUTSIDE.items():
        path = data / "flores" / f"{fl}.devtest.jsonl"
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as fh:
            items = [json.loads(line)["text"] for line in fh][:n]
        for length in LENGTHS:
            for t in items:
                got = to_registry_code(fn(cut(t, length, True)))
                hits.setdefault(str(length), []).append(int(got in languages.LANGUAGES))
    return {k: sum(v) / len(v) for k, v in hits.items()}


def measure(name: str, corpus) -> dict:
    """Run in a fresh process per candidate: load time and peak memory are its own."""
    import resource

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    fn = CANDIDATES[name]()
    fn("warm up: this loads the model")
    load_s = time.perf_counter() - t0
    from lm_eval_ext.metrics.langid import judged_text, undecidable

    per_lang: dict[str, list[int]] = {}
    per_len: dict[str, list[int]] = {}
    per_source: dict[str, list[int]] = {}
    elapsed, count = 0.0, 0
    for (source, code), items in corpus.items():
        spaced = languages.get(code).spaced
        for n in LENGTHS:
            # only what lang_fidelity decides (2+ words, 4+ letters): the others are excluded there
            batch = [c for c in (cut(t, n, spaced) for t in items) if not undecidable(judged_text(c))]
            start = time.perf_counter()
            preds = [fn(t) for t in batch]
            elapsed += time.perf_counter() - start
            count += len(batch)
            hits = [int(to_registry_code(p) == code) for p in preds]
            per_lang.setdefault(code, []).extend(hits)
            per_len.setdefault(str(n), []).extend(hits)
            per_source.setdefault(source, []).extend(hits)
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return {
        "acc": {c: sum(h) / len(h) for c, h in per_lang.items()},
        "by_len": {n: sum(h) / len(h) for n, h in per_len.items()},
        "by_source": {s: sum(h) / len(h) for s, h in per_source.items()},
        "n": count,
        "us_per_text": elapsed / count * 1e6,
        "load_s": load_s,
        "rss_mb": rss_mb,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("LM_EVAL_EXT_TEST_DATA") or os.environ.get("LM_EVAL_EXT_DATA_DIR") or "../shared/data"
    ap.add_argument("--data", type=Path, default=Path(default))
    ap.add_argument("--n", type=int, default=150, help="texts per language and source")
    ap.add_argument("--candidates", help="comma-separated substrings of candidate names (default: all)")
    ap.add_argument("--outside", action="store_true",
                    help="only: how often texts in languages outside registry+CONFUSERS are read as ours")
    ap.add_argument("--only", help=argparse.SUPPRESS)  # one candidate, JSON out (child process)
    args = ap.parse_args(argv)
    if args.outside:
        print(f"{len(OUTSIDE)} languages outside registry + CONFUSERS, {args.n} FLORES sentences each; "
              "% read as a registry language")
        print("| detector | " + " | ".join("whole" if n == LENGTHS[-1] else f"{n} ch" for n in LENGTHS) + " |")
        print("|---" * (len(LENGTHS) + 1) + "|")
        wanted = [w.strip() for w in (args.candidates or "high accuracy,fastText").split(",") if w.strip()]
        for name in CANDIDATES:
            if any(w in name for w in wanted):
                r = outside_read_as_ours(name, args.data, args.n)
                print(f"| {name} | " + " | ".join(f"{100 * r[str(n)]:.1f}" for n in LENGTHS) + " |")
        return 0
    corpus = texts(args.data, args.n)
    if args.only:
        print(json.dumps(measure(args.only, corpus)))
        return 0
    import subprocess
    import sys

    rows = {}
    wanted = [w.strip() for w in (args.candidates or "").split(",") if w.strip()]
    for name in CANDIDATES:
        if wanted and not any(w in name for w in wanted):
            continue
        proc = subprocess.run(
            [sys.executable, __file__, "--data", str(args.data), "--n", str(args.n), "--only", name],
            capture_output=True, text=True, check=True,
        )
        rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    codes = list(languages.LANGUAGES)
    n_texts = sum(len(v) for v in corpus.values())
    print(f"{n_texts} texts (FLORES devtest x {len(languages.LANGUAGES)} languages, MGSM test x 11, LCB prompts x 15) "
          f"cut to {LENGTHS[:-1]} characters and whole")
    print("accuracy (%) per language, mean/min over languages, accuracy per length; speed per text;")
    print("load = import + model load + first call; memory = peak RSS growth of a fresh process\n")
    print("| detector | " + " | ".join(codes) + " | mean | min | "
          + " | ".join("whole" if n == LENGTHS[-1] else f"{n} ch" for n in LENGTHS) + " | µs/text | load s | memory MB |")
    print("|---" * (len(codes) + 7 + len(LENGTHS)) + "|")
    for name, r in rows.items():
        acc = r["acc"]
        codes = [c for c in codes if c in acc]
        cells = " | ".join(f"{100 * acc[c]:.0f}" for c in codes)
        lens = " | ".join(f"{100 * r['by_len'][str(n)]:.1f}" for n in LENGTHS)
        print(f"| {name} | {cells} | {100 * statistics.mean(acc.values()):.1f} | "
              f"{100 * min(acc.values()):.0f} | {lens} | {r['us_per_text']:.0f} | {r['load_s']:.1f} | {r['rss_mb']:.0f} |")
    print("\naccuracy (%) per text source, decidable texts at all lengths:")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{s} {100 * v:.1f}" for s, v in r["by_source"].items())
              + f" | {r['n']} texts |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
