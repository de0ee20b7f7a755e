"""XQuAD/MLQA task definitions: generated files, data loading, prompts in every
language, answer cleaning, few-shot exemplar choice, missing-data errors."""

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from support.qa_data import MLQA_DEV_ITEMS, MLQA_TEST_ITEMS, build_data_dir, xquad_rows

from lm_eval_ext import families, languages, plugin, resources
from lm_eval_ext.families import qa
from lm_eval_ext.languages import MLQA_LANGS, XQUAD_LANGS

QA_TASKS = Path(resources.tasks_dir()) / "qa"

SCRIPT_NAMES = {"Arab": ("ARABIC",), "Deva": ("DEVANAGARI",), "Grek": ("GREEK",), "Cyrl": ("CYRILLIC",),
                "Thai": ("THAI",), "Hans": ("CJK",), "Jpan": ("CJK", "HIRAGANA", "KATAKANA"), "Latn": ("LATIN",)}


@pytest.fixture(scope="module")
def mlqa_dir(shared_data, tmp_path_factory):
    return build_data_dir(shared_data, tmp_path_factory.mktemp("qa_data"))


def _load(family, ctx, q, root=None, **env):
    with pytest.MonkeyPatch.context() as mp:
        if root is not None:
            mp.setenv(families.DATA_DIR_ENV, str(root))
        for k, v in env.items():
            mp.setenv(k, v)
        return families.load(family, task=f"{family}_{ctx}_{q}", ctx_lang=ctx, q_lang=q)


def test_generated_files_are_up_to_date():
    proc = subprocess.run([sys.executable, str(QA_TASKS / "_generate.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lm_eval_index_has_every_task_and_group():
    index = plugin.task_index()
    mono = {f"xquad_{c}" for c in XQUAD_LANGS}
    xling = {f"xquad_{c}_{q}" for c in XQUAD_LANGS for q in XQUAD_LANGS if c != q}
    mlqa = {f"mlqa_{c}_{q}" for c in MLQA_LANGS for q in MLQA_LANGS}
    assert len(mono) == 12 and len(xling) == 132 and len(mlqa) == 49
    assert mono | xling | mlqa <= set(index)
    assert set(plugin.leaf_tasks("xquad_all", index)) == mono
    assert set(plugin.leaf_tasks("xquad_xling", index)) == xling
    assert set(plugin.leaf_tasks("mlqa_gxlt", index)) == mlqa
    assert set(plugin.leaf_tasks("mlqa_all", index)) == {f"mlqa_{c}_{c}" for c in MLQA_LANGS}
    hrl, url = (set(plugin.leaf_tasks(g, index)) for g in ("xquad_hrl", "xquad_url"))
    assert hrl | url == mono and not hrl & url
    assert url == {f"xquad_{c}" for c in languages.of_tier(languages.LOW, XQUAD_LANGS)}
    cfg = index["xquad_de_zh"].cfg
    assert cfg["dataset_kwargs"] == {"family": "xquad", "ctx_lang": "de", "q_lang": "zh", "task": "xquad_de_zh"}
    assert index["xquad_th"].cfg["dataset_kwargs"]["lang"] == "th"
    assert {m["metric"] for m in index["mlqa_gxlt"].cfg["aggregate_metric_list"]} == {
        *qa.METRICS, "lang_fidelity", "lang_undecidable", "lang_line_pass"}
    assert index["xquad_de_zh"].cfg["metadata"]["reply_lang"] == "de"  # the context's language


def test_xquad_cross_lingual_docs_pair_context_and_question_by_id(shared_data):
    ds = _load("xquad", "th", "de")
    th, de = xquad_rows(shared_data, "th"), xquad_rows(shared_data, "de")
    docs = ds["eval"]
    assert len(docs) == 1190 == len(ds["fewshot"])
    for i in (0, 500, 1189):
        doc = docs[i]
        assert doc["id"] == th[i]["id"] == de[i]["id"]
        assert doc["context"] == th[i]["context"] and doc["question"] == de[i]["question"]
        assert doc["answers"] == th[i]["answers"]
        assert (doc["ctx_lang"], doc["q_lang"], doc["split"]) == ("th", "de", "test")
        ans = doc["answers"]
        assert doc["context"][ans["answer_start"][0]:].startswith(ans["text"][0])
    articles = [int(d) for d in docs["article"]]
    assert articles[0] == 0 and articles[-1] == 47 and articles == sorted(articles)


def test_mlqa_local_test_and_dev_split(mlqa_dir):
    ds = _load("mlqa", "hi", "vi", root=mlqa_dir)
    assert len(ds["eval"]) == MLQA_TEST_ITEMS and len(ds["fewshot"]) == MLQA_DEV_ITEMS
    assert set(ds["eval"]["split"]) == {"test"} and set(ds["fewshot"]["split"]) == {"dev"}
    assert not set(ds["eval"]["article"]) & set(ds["fewshot"]["article"])
    dev = _load("mlqa", "hi", "vi", root=mlqa_dir, LM_EVAL_EXT_MLQA_SPLIT="dev")
    assert len(dev["eval"]) == MLQA_DEV_ITEMS and set(dev["eval"]["split"]) == {"dev"}
    with pytest.raises(ValueError, match="LM_EVAL_EXT_MLQA_SPLIT='train'"):
        _load("mlqa", "hi", "vi", root=mlqa_dir, LM_EVAL_EXT_MLQA_SPLIT="train")


def _script_of(text):
    names = set()
    for ch in text:
        if ch.isalpha():
            names.add(unicodedata.name(ch, "?").split()[0])
    return names


@pytest.mark.parametrize("q", XQUAD_LANGS)
def test_prompt_in_the_question_language(shared_data, q):
    """Every language: the instruction, labels and question are in the question's
    language; the context in the context's; the same doc renders the same way in
    lm-eval's template engine."""
    from lm_eval.utils import apply_template

    ctx = "en" if q != "en" else "zh"
    L, P = languages.get(q), languages.get(q).qa
    for name, c in ((f"xquad_{q}", q), (f"xquad_{ctx}_{q}", ctx)):
        cfg = yaml.safe_load((QA_TASKS / ("xquad" if c == q else "xquad_xling") / f"{name}.yaml").read_text().replace("!function", ""))
        doc = _load("xquad", c, q)["eval"][3]
        prompt = apply_template(cfg["doc_to_text"], doc)
        assert prompt == qa.render_prompt(doc)
        assert cfg["description"] == P.instruction + "\n\n"
        assert _script_of(P.instruction) <= set(SCRIPT_NAMES[L.script]), (q, _script_of(P.instruction))
        lines = prompt.split("\n")
        assert lines[0] == f"{P.context}{'' if P.context.endswith('：') else ' '}{xquad_rows(shared_data, c)[3]['context']}"
        assert lines[1].startswith(P.question) and lines[1].endswith(xquad_rows(shared_data, q)[3]["question"])
        assert lines[2] == P.answer and len(lines) == 3
        target = apply_template(cfg["doc_to_target"], doc)
        assert target == doc["answers"]["text"][0]
        until = cfg["generation_kwargs"]["until"]
        assert "\n" + P.question in until and "\n" not in until and "\nQuestion:" in until
        assert all(stop.startswith("\n") for stop in until)  # a label mid-answer is part of the answer
    # the instruction is localized, not English, outside English
    if q != "en":
        assert P.instruction != languages.get("en").qa.instruction


def test_mlqa_prompt_and_scorer_follow_the_pair(mlqa_dir):
    cfg = yaml.safe_load((QA_TASKS / "mlqa" / "mlqa_zh_ar.yaml").read_text().replace("!function", ""))
    assert cfg["description"].strip() == languages.get("ar").qa.instruction
    assert "lang:zh" in cfg["metadata"]["scorer"] and "mixed" in cfg["metadata"]["scorer"]
    doc = _load("mlqa", "zh", "ar", root=mlqa_dir)["eval"][0]
    assert qa.render_prompt(doc).startswith("السياق: " + doc["context"][:10])
    # scored with the answer (= context) language's rules: Chinese mixed segmentation
    gold = doc["answers"]["text"][0]
    assert qa.process_results(doc, [gold]) == {"exact_match": 1.0, "f1": 1.0, "exact_match_squad": 1.0, "f1_squad": 1.0}


@pytest.mark.parametrize("lang", XQUAD_LANGS)
def test_answer_cleaning_in_every_language(lang):
    label = languages.get(lang).qa.answer
    gold = {"ar": "جامعة", "hi": "भारत", "th": "กรุงเทพ", "zh": "黑豹队", "el": "Αθήνα", "ru": "Москва"}.get(lang, "Warsaw Uprising")
    for reply in (
        gold,
        f" {gold}\n",
        f"{label} {gold}",
        f"{label}{gold}.",
        f"**{label}** {gold}",
        f"Answer: «{gold}».",
        f"\n\n\"{gold}\"\nBecause the context says so.",
        f"<think>{label} maybe not</think>\n{gold}。",
        f"{label} „{gold}“!",
    ):
        assert qa.clean_answer(reply, lang, lang) == gold, (lang, reply)
    assert qa.clean_answer("<think>still thinking", lang, lang) == ""
    assert qa.clean_answer(f"{gold}, {gold}", lang, lang) == f"{gold}, {gold}"  # inner punctuation stays


def test_cleaning_keeps_quotes_and_punctuation_copied_from_the_context(shared_data):
    de = xquad_rows(shared_data, "de")
    (row,) = [r for r in de if r["answers"]["text"][0] == "„Der Denver-Clan“"]
    gold = row["answers"]["text"][0]
    assert qa.clean_answer(f"Antwort: {gold}", "de", "de", row["context"]) == gold  # a verbatim span
    assert qa.clean_answer(f"Antwort: {gold}.", "de", "de", row["context"]) == "Der Denver-Clan"
    assert qa.clean_answer("«Denver-Clan»", "de", "de", row["context"]) == "Denver-Clan"
    zh = [r for r in xquad_rows(shared_data, "zh") if r["answers"]["text"][0] == "欧洲人权法院。"][0]
    assert qa.clean_answer("欧洲人权法院。", "zh", "zh", zh["context"]) == "欧洲人权法院。"
    assert qa.process_results({**zh, "ctx_lang": "zh"}, [qa.clean_answer("欧洲人权法院。", "zh", "zh", zh["context"])])["exact_match_squad"] == 1.0


def test_cross_lingual_cleaning_knows_both_labels():
    assert qa.clean_answer("Antwort: 308", "zh", "de") == "308"
    assert qa.clean_answer("答案：308", "zh", "de") == "308"
    assert qa.clean_answer("Answer: 308", "zh", "de") == "308"


def test_fewshot_exemplars_come_from_other_articles(mlqa_dir):
    ds = _load("xquad", "ro", "ro")
    docs, pool = list(ds["eval"]), list(ds["fewshot"])
    sampler = qa.OtherArticleSampler(pool, rnd=1234)
    for doc in docs[::97]:
        shots = sampler.sample(5, eval_doc=doc)
        assert len(shots) == 5 and all(s["article"] != doc["article"] and s["id"] != doc["id"] for s in shots)
        assert all(s["context"] != doc["context"] for s in shots)
    again = qa.OtherArticleSampler(pool, rnd=1234)
    assert [s["id"] for s in again.sample(3, eval_doc=docs[0])] == [
        s["id"] for s in qa.OtherArticleSampler(pool, rnd=1234).sample(3, eval_doc=docs[0])]
    # MLQA exemplars come from dev, whose articles the test split never shares
    m = _load("mlqa", "de", "es", root=mlqa_dir)
    shots = qa.OtherArticleSampler(list(m["fewshot"]), rnd=0).sample(4, eval_doc=m["eval"][0])
    assert {s["split"] for s in shots} == {"dev"}
    with pytest.raises(ValueError, match="other articles"):
        qa.OtherArticleSampler([d for d in pool if d["article"] == "0"], rnd=0).sample(2, eval_doc=docs[0])


def test_missing_files_and_bad_languages_are_named(tmp_path, shared_data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(families.DATA_DIR_ENV, str(tmp_path))
        with pytest.raises(families.DataNotFoundError) as err:
            families.check_available(task="mlqa_de_zh", family="mlqa", ctx_lang="de", q_lang="zh")
        assert str(tmp_path / "mlqa" / "mlqa.de.zh.dev.jsonl") in str(err.value)  # first missing, sorted
        assert "mlqa_de_zh" in str(err.value)
        (tmp_path / "xquad").mkdir()
        (tmp_path / "xquad" / "xquad.de.jsonl").symlink_to(shared_data / "xquad" / "xquad.de.jsonl")
        with pytest.raises(families.DataNotFoundError, match=r"xquad\.el\.jsonl"):
            families.check_available(task="xquad_de_el", family="xquad", ctx_lang="de", q_lang="el")
        families.check_available(task="xquad_de", family="xquad", lang="de")
    with pytest.raises(families.DataNotFoundError, match="MLQA has no context language 'th'"):
        families.check_available(task="t", family="mlqa", ctx_lang="th", q_lang="en")


def test_misaligned_xquad_files_are_an_error(tmp_path, shared_data):
    (tmp_path / "xquad").mkdir()
    de = (shared_data / "xquad" / "xquad.de.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "xquad" / "xquad.de.jsonl").write_text("\n".join(de) + "\n", encoding="utf-8")
    (tmp_path / "xquad" / "xquad.en.jsonl").write_text("\n".join(de[1:] + de[:1]) + "\n", encoding="utf-8")
    with pytest.raises(families.DataFormatError, match="item 0 has id"):
        _load("xquad", "de", "en", root=tmp_path)


def test_lm_eval_ext_tasks_lists_pair_languages():
    import json

    from support.env import run_cli

    proc = run_cli(["lm-eval-ext", "tasks", "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    listing = json.loads(proc.stdout)
    assert listing["tasks"]["xquad_de_zh"]["languages"] == ["de", "zh"]
    assert listing["tasks"]["xquad_th"]["languages"] == ["th"]
    assert sorted(listing["groups"]["mlqa_gxlt"]["languages"]) == sorted(MLQA_LANGS)
    assert len(listing["groups"]["xquad_xling"]["tasks"]) == 132


def test_item_without_gold_answer_is_an_error(tmp_path, shared_data):
    import json

    (tmp_path / "xquad").mkdir()
    rows = xquad_rows(shared_data, "vi")
    rows[4]["answers"] = {"text": [""], "answer_start": [0]}
    (tmp_path / "xquad" / "xquad.vi.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(families.DataFormatError, match=r"xquad\.vi\.jsonl item 4: .*no gold answer"):
        _load("xquad", "vi", "vi", root=tmp_path)


def test_xquad_subset_falls_back_to_paragraphs(shared_data):
    rows = xquad_rows(shared_data, "en")[:40]
    paras = qa.xquad_articles(rows)
    assert paras[0] == 0 and len(set(paras)) == len({r["context"] for r in rows})
