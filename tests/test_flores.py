"""FLORES translation: data, prompts, reply cleaning, metrics against their
reference implementations, tiny real-architecture COMET/BLEURT, cache, rescore,
and lm_eval end to end through a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
from support.env import REPO, SHARED_DATA, run_cli, side_env
from support.loopback import ScriptedServer, last_user_message

from lm_eval_ext import families, languages
from lm_eval_ext.families import flores
from lm_eval_ext.metrics import mt
from lm_eval_ext.missing import NotComputed
from lm_eval_ext.runtime import neural, score_cache

FLORES = SHARED_DATA / "flores"
EN = "eng_Latn"


def _texts(code, n=None):
    with open(FLORES / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line)["text"] for line in fh]
    return rows[:n] if n else rows


def _degrade(refs, spaced=True):
    """Realistic system output from real sentences: words dropped, one sentence wrong."""
    out = []
    for i, ref in enumerate(refs):
        if i % 7 == 3:
            out.append(refs[(i + 1) % len(refs)])
        elif spaced:
            words = ref.split()
            out.append(" ".join(w for j, w in enumerate(words) if j % (3 + i % 4) != 1))
        else:
            out.append(ref[: max(1, int(len(ref) * (0.5 + 0.1 * (i % 5))))])
    return out


# ----------------------------------------------------------------- generator
def test_generated_tasks_are_current_and_cover_the_registry():
    proc = subprocess.run([sys.executable, str(REPO / "tasks/flores/_generate.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import yaml

    def load(path):
        return yaml.safe_load((REPO / "tasks/flores" / path).read_text(encoding="utf-8"))

    others = [c for c in languages.FLORES200 if c != EN]
    assert len(others) == 203
    for code in others:
        for src, tgt, folder in ((code, EN, "x_en"), (EN, code, "en_x")):
            text = (REPO / "tasks/flores" / folder / f"flores_{src}-{tgt}.yaml").read_text(encoding="utf-8")
            assert f"Translate the following text from {languages.get(src).name} to {languages.get(tgt).name}." in text
    for direction in ("x_en", "en_x"):
        # every FLORES-200 language, partitioned by its NLLB level
        top = load(f"{direction}/_flores_{direction}.yaml")
        assert top["task"] == [f"flores_{direction}_nllb_{t}" for t in languages.NLLB_TIERS]
        leaves = []
        for tier in languages.NLLB_TIERS:
            sub = load(f"{direction}/_flores_{direction}_nllb_{tier}.yaml")
            assert all(not a["weight_by_size"] for a in sub["aggregate_metric_list"])
            leaves += sub["task"]
            for name in sub["task"]:
                code = name.split("_", 1)[1].replace(EN, "").strip("-")
                assert languages.get(code).nllb_tier == tier, name
        assert sorted(leaves) == sorted(f"flores_{s}-{t}" for c in others
                                        for s, t in (((c, EN),) if direction == "x_en" else ((EN, c),)))
        # the 16 hand-written languages by their registry tiers, as before FLORES-200
        assert load(f"{direction}/_flores16_{direction}.yaml")["task"] == [f"flores_{direction}_hrl", f"flores_{direction}_url"]
        hand = []
        for tier, suffix in ((languages.HIGH, "hrl"), (languages.LOW, "url")):
            sub = load(f"{direction}/_flores_{direction}_{suffix}.yaml")
            hand += sub["task"]
            for name in sub["task"]:
                code = name.split("_", 1)[1].replace(EN, "").strip("-")
                assert languages.get(code).tier == tier and code in [l.flores for l in languages.LANGUAGES.values()]
        assert len(hand) == len(languages.LANGUAGES) - 1
    assert load("_flores_all.yaml")["task"] == ["flores_x_en", "flores_en_x"]
    # a metric undefined for a member is not averaged in the group, and the group says why
    url = load("en_x/_flores_en_x_url.yaml")
    assert "bleu" not in [a["metric"] for a in url["aggregate_metric_list"]]
    assert "tha_Thai" in url["metadata"]["not_averaged"]["bleu"]
    assert "bleu" in [a["metric"] for a in load("x_en/_flores_x_en_url.yaml")["aggregate_metric_list"]]


def test_any_pair_through_the_generator_and_k_shot_from_dev(tmp_path):
    """--pair writes a task for a pair outside the English-centred set; with a
    dev split present, k-shot shows the first k dev pairs in base-model format."""
    out = tmp_path / "pairs"
    proc = subprocess.run([sys.executable, str(REPO / "tasks/flores/_generate.py"), "--pair", "deu_Latn", "fra_Latn",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # a local data folder with a dev split (the shared copy has none): lines 1012..1005 of devtest
    local = tmp_path / "data" / "flores"
    local.mkdir(parents=True)
    for code in ("deu_Latn", "fra_Latn"):
        (local / f"{code}.devtest.jsonl").write_bytes((FLORES / f"{code}.devtest.jsonl").read_bytes())
        rows = [{"id": i + 1, "text": t} for i, t in enumerate(reversed(_texts(code)[-8:]))]
        (local / f"{code}.dev.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    script = f"""
import os, json
os.environ["LM_EVAL_EXT_DATA_DIR"] = {str(tmp_path / "data")!r}
from lm_eval.tasks import TaskManager
task = TaskManager(include_path={str(out)!r}).load(["flores_deu_Latn-fra_Latn"])["tasks"]["flores_deu_Latn-fra_Latn"]
doc = task.test_docs()[0]
print(json.dumps({{"n": len(task.test_docs()), "ctx": task.fewshot_context(doc, num_fewshot=2), "doc": doc}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    de, fr = _texts("deu_Latn"), _texts("fra_Latn")
    assert got["n"] == 1012 and got["doc"]["source"] == de[0] and got["doc"]["reference"] == fr[0]
    ctx = got["ctx"]
    assert ctx.startswith("Translate the following text from German to French.\n\n")
    assert f"German: {de[-1]}\nFrench: {fr[-1]}\n\nGerman: {de[-2]}\nFrench: {fr[-2]}\n\nGerman: {de[0]}\nFrench:" in ctx
    assert fr[0] not in ctx


# ---------------------------------------------------------------------- data
def test_local_loader_reads_real_parallel_data():
    ds = families.load("flores", task="flores_deu_Latn-eng_Latn", src_lang="deu_Latn", tgt_lang=EN)
    test = ds["devtest"]
    assert len(test) == 1012 and len(ds["dev"]) == 0
    de, en = _texts("deu_Latn"), _texts(EN)
    for i in (0, 500, 1011):
        row = test[i]
        assert row == {"id": i + 1, "source": de[i], "reference": en[i], "src_lang": "deu_Latn",
                       "tgt_lang": EN, "split": "devtest"}


def test_missing_file_and_bad_codes_fail_clearly(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(families.DATA_DIR_ENV, str(tmp_path))
        with pytest.raises(families.DataNotFoundError) as err:
            families.load("flores", task="flores_deu_Latn-eng_Latn", src_lang="deu_Latn", tgt_lang=EN)
    assert str(tmp_path / "flores" / "deu_Latn.devtest.jsonl") in str(err.value)
    assert "flores_deu_Latn-eng_Latn" in str(err.value)
    with pytest.raises(families.DataNotFoundError, match="not a FLORES-200 code"):
        families.check_available(task="t", family="flores", src_lang="de", tgt_lang=EN)


def test_k_shot_without_dev_stops_with_a_clear_message():
    sampler = flores.FloresSampler([], rnd=None)
    assert sampler.sample(0) == []
    with pytest.raises(flores.FewshotUnavailable, match=r"flores/<code>\.dev\.jsonl.*never taken"):
        sampler.sample(3)


# ------------------------------------------------------------------ cleaning
def test_reply_cleaning_rule_on_real_sentences():
    de = _texts("deu_Latn", 3)
    s = de[1]  # unquoted source sentence
    cases = [
        (s, s, False),
        (f"  {s}\n", s, False),
        (f"Here is the translation:\n\n{s}", s, True),
        (f"Sure! The German translation is:\n{s}\n\nNote: I kept the names as they are.", s, True),
        (f"German: {s}", s, True),
        (f"**{s}**", s, True),
        (f"<think>The user wants German.</think>\n{s}", s, True),
        (f'"{s}"', s, True),
        (f"{s}\n(Literally: something else)", s, True),
        (f"{s}\n\nThis translation keeps the formal register.", s, True),
        # a first line ending in a colon that is not a preamble stays
        (f"Er sagte:\n{s}", f"Er sagte:\n{s}", False),
    ]
    for reply, want, cleaned in cases:
        got, flag = flores.clean_translation(reply, EN, "deu_Latn", source=_texts(EN, 2)[1])
        assert (got, flag) == (want, cleaned), reply
    # a quoted source keeps the quotes of its translation
    quoted = de[0]
    assert quoted.startswith(("„", '"', "“"))
    got, flag = flores.clean_translation(quoted, EN, "deu_Latn", source=_texts(EN, 1)[0])
    assert got == quoted and not flag


# ------------------------------------------------------------ lexical metrics
@pytest.mark.parametrize("tgt,tokenize", [("deu_Latn", "13a"), ("zho_Hans", "zh"), ("jpn_Jpan", "ja-mecab"),
                                          (EN, "13a"), ("yue_Hant", "zh"), ("amh_Ethi", "13a")])
def test_bleu_and_chrfpp_equal_sacrebleu(tgt, tokenize):
    refs = _texts(tgt, 120)
    hyps = _degrade(refs, spaced=languages.get(tgt).spaced)
    items = [(h, r, tgt) for h, r in zip(hyps, refs)]
    assert mt.bleu_tokenizer(tgt) == tokenize
    want_bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize=tokenize).score
    want_chrf = sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score
    assert mt.bleu(items) == pytest.approx(want_bleu, abs=1e-9)
    assert mt.chrfpp(items) == pytest.approx(want_chrf, abs=1e-9)
    assert 5 < want_bleu < 95 and 5 < want_chrf < 99  # a real, discriminating corpus
    sig = mt.runtime_signatures(tgt)
    assert f"tok:{tokenize}" in sig["bleu"] and f"version:{sacrebleu.__version__}" in sig["bleu"]
    assert "nw:2" in sig["chrfpp"]


@pytest.mark.parametrize("tgt", ["tha_Thai", "lao_Laoo", "bod_Tibt"])
def test_bleu_into_an_unspaced_script_is_nan_with_the_reason_and_chrfpp_is_sacrebleus(tgt):
    refs = _texts(tgt, 60)
    hyps = _degrade(refs, spaced=False)
    items = [(h, r, tgt) for h, r in zip(hyps, refs)]
    value = mt.bleu(items)
    assert math.isnan(value) and "without spaces" in value.skip.reason and tgt[-4:] in value.skip.reason
    assert mt.bootstrap_stderr("bleu", items, 100) is None
    assert str(mt.runtime_signatures(tgt)["bleu"]).startswith("skipped: BLEU is undefined into the")
    assert mt.static_scorer(tgt).startswith("bleu:undefined(unspaced script)|")
    assert mt.chrfpp(items) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score, abs=1e-9)


def test_bootstrap_stderr_from_sentence_statistics_equals_full_recomputation():
    import numpy as np

    refs = _texts("deu_Latn", 60)
    hyps = _degrade(refs)
    items = [(h, r, "deu_Latn") for h, r in zip(hyps, refs)]
    hyps, refs, _ = zip(*sorted(items))  # resampled in sorted order (the same in a data-parallel run)
    iters = 150
    rng = np.random.default_rng(mt.BOOTSTRAP_SEED)
    idx = np.concatenate([rng.integers(0, 60, size=(min(100, iters - s), 60)) for s in range(0, iters, 100)])
    for name, full in (("bleu", lambda h, r: sacrebleu.corpus_bleu(h, [r]).score),
                       ("chrfpp", lambda h, r: sacrebleu.corpus_chrf(h, [r], word_order=2).score)):
        scores = [full([hyps[i] for i in row], [refs[i] for i in row]) for row in idx]
        assert mt.bootstrap_stderr(name, items, iters) == pytest.approx(np.std(scores, ddof=1), rel=1e-9)
    assert mt.bootstrap_stderr("bleu", items, 0) is None


def test_korean_uses_ko_mecab_only_when_installed():
    expected = "13a" if mt._tokenizer_available("ko-mecab") else "ko-mecab"
    assert mt.bleu_tokenizer("kor_Hang") == expected


def test_spbleu_reads_the_configured_model_and_skips_without_it(tmp_path, monkeypatch):
    import sentencepiece as spm
    from support.tiny_mt_models import flores_texts, train_spm

    model = train_spm(flores_texts(SHARED_DATA), tmp_path / "spm")
    refs = _texts("deu_Latn", 80)
    hyps = _degrade(refs)
    items = [(h, r, "deu_Latn") for h, r in zip(hyps, refs)]
    monkeypatch.setenv(mt.SPM_ENV, str(tmp_path / "absent.model"))
    value = mt.spbleu(items)
    assert math.isnan(value) and str(tmp_path / "absent.model") in value.skip.reason
    assert mt.runtime_signatures("deu_Latn", {"spbleu,translation": value})["spbleu"] == value.skip
    assert str(mt.runtime_signatures("deu_Latn")["spbleu"]).startswith("skipped:")
    monkeypatch.setenv(mt.SPM_ENV, str(model))
    sp = spm.SentencePieceProcessor(model_file=str(model))
    pieces = lambda xs: [" ".join(sp.encode(x, out_type=str)) for x in xs]  # noqa: E731 - what flores200 does
    want = sacrebleu.corpus_bleu(pieces(hyps), [pieces(refs)], tokenize="none").score
    assert mt.spbleu(items) == pytest.approx(want, abs=1e-9)
    assert "tok:flores200" in mt.runtime_signatures("deu_Latn")["spbleu"]


# ---------------------------------------------------------- neural metrics
@pytest.fixture()
def neural_env(mt_models, tmp_path, monkeypatch):
    monkeypatch.setenv("LM_EVAL_EXT_COMET", f"{mt_models['comet']};encoder={mt_models['encoder']};batch_size=8")
    monkeypatch.setenv("LM_EVAL_EXT_BLEURT", f"{mt_models['bleurt']};batch_size=8")
    monkeypatch.setenv(score_cache.CACHE_ENV, str(tmp_path / "scores.sqlite"))
    return mt_models


def _triples(n=40):
    src, ref = _texts(EN, n), _texts("deu_Latn", n)
    return list(zip(src, _degrade(ref), ref))


@pytest.mark.neural
def test_comet_equals_comets_own_predict(neural_env):
    import comet

    triples = _triples()
    ours = neural.segment_scores("comet", triples)
    # the checkpoint's hparams say xlm-roberta-large, as the real one does: loaded
    # through the encoder setting, exactly the default path
    assert neural.scorer("comet").model.hparams.pretrained_model == str(neural_env["encoder"])
    reference = comet.load_from_checkpoint(str(neural_env["comet_ref"] / "checkpoints" / "model.ckpt"),
                                           local_files_only=True)
    pred = reference.predict([{"src": s, "mt": h, "ref": r} for s, h, r in triples], gpus=0, progress_bar=False)
    assert ours == pytest.approx(pred.scores, abs=1e-5)
    assert len(set(round(x, 4) for x in ours)) > 10  # scores depend on the input
    items = triples
    assert neural.comet(items) == pytest.approx(100 * pred.system_score, abs=1e-3)
    sig = neural.signature("comet")
    assert f"comet:{neural_env['comet']}" in sig and "batch:8" in sig and "device:cpu" in sig


@pytest.mark.neural
def test_second_scoring_comes_from_the_cache(neural_env, tmp_path):
    triples = _triples(30)
    sc = neural.scorer("comet")
    first = neural.segment_scores("comet", triples)
    calls = sc.model_calls
    assert calls > 0
    again = neural.segment_scores("comet", list(reversed(triples)))
    assert sc.model_calls == calls and again == list(reversed(first))  # no model call at all
    changed = triples[:5] + [(triples[5][0], triples[5][1] + " Extra.", triples[5][2])]
    neural.segment_scores("comet", changed)
    assert sc.model_calls == calls + 1  # only the new hypothesis reached the model
    import sqlite3

    rows = sqlite3.connect(tmp_path / "scores.sqlite").execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert rows == 31


@pytest.mark.neural
def test_a_failure_mid_scoring_keeps_what_was_scored_and_the_run(neural_env, monkeypatch, tmp_path):
    """Fault injection: the 9th batch raises (say, GPU out of memory)."""
    sc = neural.scorer("comet")
    real, calls = sc.score_batch, []

    def failing(batch):
        calls.append(len(batch))
        if len(calls) == 9:
            raise RuntimeError("CUDA out of memory (injected)")
        return real(batch)

    monkeypatch.setattr(sc, "score_batch", failing)
    triples = _triples(100)
    value = neural.comet(triples)
    assert math.isnan(value) and "out of memory (injected)" in value.skip.reason
    import sqlite3

    rows = sqlite3.connect(tmp_path / "scores.sqlite").execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert rows == 64  # the first chunk (8 batches of 8) was stored before the failure
    monkeypatch.setattr(sc, "score_batch", real)
    calls_before = sc.model_calls
    value = neural.comet(triples)
    assert not math.isnan(value) and not isinstance(value, NotComputed)
    assert sc.model_calls - calls_before == 5  # only the 36 missing segments: 5 batches of 8


@pytest.mark.neural
def test_bleurt_tiny_checkpoint_equals_the_reference_usage(neural_env):
    import torch
    from bleurt_pytorch import BleurtForSequenceClassification, BleurtTokenizer
    from bleurt_pytorch.bleurt.tokenization_bleurt_sp import BleurtSPTokenizer

    triples = _triples(24)
    ours = neural.segment_scores("bleurt", [("", h, r) for _, h, r in triples])
    assert isinstance(neural.scorer("bleurt").tokenizer, BleurtSPTokenizer)  # BLEURT-20's tokenizer
    # bleurt-pytorch's README usage, one batch
    model = BleurtForSequenceClassification.from_pretrained(neural_env["bleurt"]).eval()
    tok = BleurtTokenizer.from_pretrained(neural_env["bleurt"])
    refs, hyps = [r for _, _, r in triples], [h for _, h, _ in triples]
    with torch.no_grad():
        want = model(**tok(refs, hyps, padding="longest", return_tensors="pt")).logits.flatten().tolist()
    assert ours == pytest.approx(want, abs=1e-5)


def test_missing_checkpoint_or_switched_off_metric_is_skipped_with_a_reason(monkeypatch, tmp_path):
    monkeypatch.setenv(score_cache.CACHE_ENV, "off")
    monkeypatch.setenv("LM_EVAL_EXT_COMET", str(tmp_path / "no-such-comet"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    value = neural.comet(_triples(3))
    assert math.isnan(value) and "no-such-comet" in value.skip.reason
    assert str(neural.outcome("comet", value)).startswith("skipped:")
    monkeypatch.setenv("LM_EVAL_EXT_BLEURT", "off")
    value = neural.bleurt([("a", "b")])
    assert math.isnan(value) and "LM_EVAL_EXT_BLEURT=off" in value.skip.reason
    assert str(neural.signature("bleurt")) == f"skipped: {value.skip.reason}"
    with pytest.raises(ValueError, match="unknown option"):
        monkeypatch.setenv("LM_EVAL_EXT_BLEURT", "x;encoder=/p")
        neural.setting("bleurt")


# --------------------------------------------------------------- end to end
LIMIT = 2
TARGETS = [languages.get(c).flores for c in languages.LANGUAGES if c != "en"]


def payload_langs(payload):
    system = " ".join(m["content"] for m in payload.get("messages", []) if m["role"] == "system")
    return [c for c in TARGETS if f"to {flores.language_name(c)}." in system]


def _off_target(tgt):
    return TARGETS.index(tgt) % 3 == 1


@pytest.fixture(scope="module")
def en_x_run(tmp_path_factory, mt_models):
    out = tmp_path_factory.mktemp("flores_run")
    src = _texts(EN, LIMIT)
    table = {}
    for tgt in TARGETS:
        for k, ref in enumerate(_texts(tgt, LIMIT)):
            table[(src[k], tgt)] = (tgt, k, ref)

    def policy(kind, payload):
        """The reference translation; for every other language the first item
        wrapped in a preamble and a note; the second item cut short."""
        prompt = last_user_message(payload)
        source = prompt.split(": ", 1)[1].rsplit("\n", 1)[0]
        (tgt,) = payload_langs(payload)
        _, k, ref = table[(source, tgt)]
        text = ref if k == 0 else ref[: len(ref) // 2]
        if k == 1 and _off_target(tgt):  # the source copied: an off-target translation
            text = source
        if k == 0 and TARGETS.index(tgt) % 2 == 0:
            return f"Here is the translation:\n\n{text}\n\nNote: names were kept."
        return text

    env = {
        **side_env(),  # COMET through the side environment where this one lacks the reference packages
        "LM_EVAL_EXT_COMET": f"{mt_models['comet']};encoder={mt_models['encoder']};batch_size=4",
        "LM_EVAL_EXT_BLEURT": "off",  # added afterwards by rescore
        score_cache.CACHE_ENV: str(out / "scores.sqlite"),
        mt.SPM_ENV: str(out / "no-flores200.model"),
    }
    with ScriptedServer(policy) as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4",
            "--tasks", "flores16_en_x", "--limit", str(LIMIT), "--apply_chat_template",
            "--log_samples", "--output_path", str(out / "run"),
        ], env=env)
        assert proc.returncode == 0, proc.stderr[-4000:]
        requests = list(server.requests)
    return {"out": out, "env": env, "requests": requests, "table": table}


def _results_files(folder):
    return sorted(Path(folder).rglob("results_*.json"))


def _samples(folder, task):
    (path,) = list(Path(folder).rglob(f"samples_{task}_*.jsonl"))
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_end_to_end_en_x_through_loopback(en_x_run, mt_models):
    run = en_x_run["out"] / "run"
    assert len(en_x_run["requests"]) == LIMIT * len(TARGETS)
    kind, payload = en_x_run["requests"][0]
    assert kind == "chat" and payload["messages"][0]["role"] == "system"
    assert payload["messages"][0]["content"].startswith("Translate the following text from English to ")
    assert "\n" not in payload["stop"] and "\n\n" not in payload["stop"]
    (results_file,) = _results_files(run)
    res = json.loads(results_file.read_text())
    per_task = {}
    for tgt in TARGETS:
        task = f"flores_{EN}-{tgt}"
        r = res["results"][task]
        samples = _samples(run, task)
        hyps = [s["filtered_resps"][0] for s in sorted(samples, key=lambda s: s["doc_id"])]
        refs = _texts(tgt, LIMIT)
        # the cleaning rule removed preamble and note: the hypothesis is the reply's translation
        second = _texts(EN, LIMIT)[1] if _off_target(tgt) else refs[1][: len(refs[1]) // 2]
        assert hyps == [refs[0].strip(), second.strip()]
        # lang_fidelity: a plain mean over sentences; the copied English source is off-target
        assert [s.get("lang_fidelity") for s in sorted(samples, key=lambda s: s["doc_id"])] == \
            [1.0, 0.0 if _off_target(tgt) else 1.0], tgt
        assert r["lang_fidelity,translation"] == (0.5 if _off_target(tgt) else 1.0)
        assert r["lang_undecidable,translation"] == 0.0
        tok = mt.bleu_tokenizer(tgt)
        if tok == mt.UNDEFINED:  # Thai: BLEU undefined, NaN with the reason
            assert math.isnan(r["bleu,translation"]), tgt
            assert "without spaces" in res["configs"][task]["metadata"]["skipped_metrics"]["bleu"]
        else:
            assert r["bleu,translation"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize=tok).score,
                                                          abs=1e-9)
        assert r["chrfpp,translation"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score, abs=1e-9)
        assert r["reply_cleaned,translation"] == (0.5 if TARGETS.index(tgt) % 2 == 0 else 0.0)
        assert math.isnan(r["spbleu,translation"]) and math.isnan(r["bleurt,translation"])
        assert not math.isnan(r["comet,translation"])
        # stderr: our capped bootstrap (1000 resamples), not lm-eval's 100k; none for COMET
        items = [(h, ref, tgt) for h, ref in zip(hyps, refs)]
        if tok == mt.UNDEFINED:
            assert r["bleu_stderr,translation"] == "N/A" and mt.bootstrap_stderr("bleu", items, 1000) is None
        else:
            assert r["bleu_stderr,translation"] == pytest.approx(mt.bootstrap_stderr("bleu", items, 1000), abs=1e-9)
        assert r["comet_stderr,translation"] == "N/A"
        meta = res["configs"][task]["metadata"]
        sigs = meta["metric_signatures"]
        if tok != mt.UNDEFINED:
            assert f"tok:{tok}" in sigs["bleu"] and f"version:{sacrebleu.__version__}" in sigs["bleu"]
        assert sigs["comet"].startswith(f"comet:{mt_models['comet']}|batch:4|device:cpu")
        assert "no-flores200.model" in meta["skipped_metrics"]["spbleu"]
        assert "LM_EVAL_EXT_BLEURT=off" in meta["skipped_metrics"]["bleurt"]
        assert meta["scorer"].startswith("bleu:undefined(unspaced script)|" if tok == mt.UNDEFINED else
                                         "bleu:sacrebleu(corpus|tok:")
        per_task[tgt] = r
    # groups: means over languages and tiers
    for group, codes in (("flores16_en_x", TARGETS),
                         ("flores_en_x_hrl", [t for t in TARGETS if languages.get(t).tier == languages.HIGH]),
                         ("flores_en_x_url", [t for t in TARGETS if languages.get(t).tier == languages.LOW])):
        for metric in ("bleu", "chrfpp", "comet", "reply_cleaned", "lang_fidelity"):
            if metric == "bleu" and "tha_Thai" in codes:  # not averaged where a member's BLEU is undefined
                assert f"{metric},translation" not in res["results"][group], group
                continue
            want = sum(per_task[c][f"{metric},translation"] for c in codes) / len(codes)
            assert res["results"][group][f"{metric},translation"] == pytest.approx(want, abs=1e-9), (group, metric)


def test_rescore_adds_neural_metrics_beside_the_old_results(en_x_run, mt_models):
    run = en_x_run["out"] / "run"
    before = {p: p.read_bytes() for p in Path(run).rglob("*") if p.is_file()}
    env = {**en_x_run["env"], "LM_EVAL_EXT_BLEURT": f"{mt_models['bleurt']};batch_size=8"}
    proc = run_cli(["lm-eval-ext", "rescore", str(run), "--metrics", "comet,bleurt"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for path, content in before.items():  # nothing touched
        assert path.read_bytes() == content
    old_file, new_file = _results_files(run)
    assert str(new_file) in proc.stdout
    old, new = json.loads(old_file.read_text()), json.loads(new_file.read_text())
    assert new["lm_eval_ext_rescore"]["rescored_from"] == [old_file.name]  # the files the reader merged
    for tgt in TARGETS:
        task = f"flores_{EN}-{tgt}"
        o, n = old["results"][task], new["results"][task]
        # COMET from the cache/recomputation equals what the run computed; BLEU unchanged
        assert n["comet,translation"] == pytest.approx(o["comet,translation"], abs=1e-9)
        assert n["bleu,translation"] == o["bleu,translation"] or math.isnan(n["bleu,translation"]) and \
            math.isnan(o["bleu,translation"]) and tgt == "tha_Thai"  # BLEU undefined into Thai
        samples = sorted(_samples(run, task), key=lambda s: s["doc_id"])
        pairs = [("", s["filtered_resps"][0], s["doc"]["reference"]) for s in samples]
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            want = neural.score("bleurt", pairs)
        assert n["bleurt,translation"] == pytest.approx(want, abs=1e-6)
        meta = new["configs"][task]["metadata"]
        assert "bleurt" not in meta["skipped_metrics"]
        assert meta["metric_signatures"]["bleurt"].startswith(f"bleurt:{mt_models['bleurt']}|batch:8")
    vals = [new["results"][f"flores_{EN}-{t}"]["bleurt,translation"] for t in TARGETS]
    assert new["results"]["flores16_en_x"]["bleurt,translation"] == pytest.approx(sum(vals) / len(vals), abs=1e-9)
    # the report reads the run with the rescored file winning
    from lm_eval_ext.formats.run_folder import find_results
    from lm_eval_ext.reporting import runs

    problems = []
    (folder, files), = find_results(run, problems)
    (loaded,) = runs.load_run(folder, files, problems)
    assert loaded.results_files == files


def test_rescore_of_a_folder_without_samples_fails_clearly(tmp_path, en_x_run):
    run = en_x_run["out"] / "run"
    (results_file,) = [p for p in _results_files(run)][:1]
    bare = tmp_path / "bare" / "m"
    bare.mkdir(parents=True)
    (bare / results_file.name).write_bytes(results_file.read_bytes())
    proc = run_cli(["lm-eval-ext", "rescore", str(tmp_path / "bare"), "--metrics", "comet"], env=en_x_run["env"])
    assert proc.returncode == 2 and "--log_samples" in proc.stderr


# --------------------------------------------------------------- rescore hardening
def _fresh_run_copy(en_x_run, dest: Path) -> Path:
    """The run's own results file and samples logs (not what earlier rescore tests added)."""
    first = _results_files(en_x_run["out"] / "run")[0]
    folder = dest / "run" / first.parent.name
    folder.mkdir(parents=True)
    for f in first.parent.iterdir():
        if f.name.startswith("samples_") or f == first:
            (folder / f.name).write_bytes(f.read_bytes())
    return folder


def _leaderboard_row(run, env):
    proc = run_cli(["lm-eval-ext", "leaderboard", str(run), "--format", "json"], env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(proc.stdout)["rows"]
    return row


def test_a_rescore_that_computes_nothing_writes_nothing(en_x_run, tmp_path):
    folder = _fresh_run_copy(en_x_run, tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    env = {**en_x_run["env"], "LM_EVAL_EXT_COMET": str(tmp_path / "nonexistent" / "folder")}
    proc = run_cli(["lm-eval-ext", "rescore", str(folder.parent), "--metrics", "comet"], env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "nothing new was computed; no results file written" in proc.stderr and "nonexistent" in proc.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # the run's COMET is what reports and the leaderboard still show
    old = json.loads(_results_files(folder)[0].read_text())["results"]
    row = _leaderboard_row(folder, env)
    tgt = TARGETS[0]
    assert row[f"flores/en-{languages.get(tgt).code}/comet:translation"] == \
        pytest.approx(old[f"flores_{EN}-{tgt}"]["comet,translation"])


def test_a_partial_rescore_carries_valid_earlier_values_forward(en_x_run, mt_models, tmp_path):
    folder = _fresh_run_copy(en_x_run, tmp_path)
    env = {**en_x_run["env"], "LM_EVAL_EXT_COMET": str(tmp_path / "nonexistent" / "folder"),
           "LM_EVAL_EXT_BLEURT": f"{mt_models['bleurt']};batch_size=8"}
    proc = run_cli(["lm-eval-ext", "rescore", str(folder.parent), "--metrics", "comet,bleurt"], env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # COMET was asked for and could not be computed
    assert "the earlier value" in proc.stderr and "carried forward" in proc.stderr
    old_file, new_file = _results_files(folder)
    old, new = json.loads(old_file.read_text()), json.loads(new_file.read_text())
    for tgt in TARGETS:
        task = f"flores_{EN}-{tgt}"
        assert new["results"][task]["comet,translation"] == old["results"][task]["comet,translation"]
        assert new["configs"][task]["metadata"]["metric_signatures"]["comet"] == \
            old["configs"][task]["metadata"]["metric_signatures"]["comet"]
        assert math.isfinite(new["results"][task]["bleurt,translation"])
    assert sorted(new["lm_eval_ext_rescore"]["carried_forward"]) == sorted(f"flores_{EN}-{t}" for t in TARGETS)
    row = _leaderboard_row(folder, env)
    assert all(math.isfinite(row[f"flores/en-{languages.get(t).code}/comet:translation"]) for t in TARGETS)


def _own_pairs(results_file: Path, task: str) -> list[tuple[str, str, str]]:
    """(source, hypothesis, reference) of the samples log written with `results_file`."""
    date = results_file.name[len("results_"):-len(".json")]
    lines = [json.loads(x) for x in (results_file.parent / f"samples_{task}_{date}.jsonl").read_text().splitlines()]
    return [("", s["filtered_resps"][0], s["doc"]["reference"]) for s in sorted(lines, key=lambda s: s["doc_id"])]


def test_rescore_of_a_results_file_given_alone_scores_its_own_samples(en_x_run, mt_models, tmp_path):
    """A second configuration of the model (seed 7, another translation of every sentence) into
    the same folder; rescoring the first results file alone scores the first run's translations,
    the samples logs written with it, not the newest logs of the folder."""
    folder = _fresh_run_copy(en_x_run, tmp_path)
    (first,) = _results_files(folder)
    tasks = [f"flores_{EN}-{t}" for t in TARGETS[:2]]
    with ScriptedServer(lambda kind, payload: "Nothing to translate here.") as server:
        proc = run_cli([
            "lm_eval", "run", "--model", "local-chat-completions",
            "--model_args", f"model=scripted,base_url={server.base_url}/chat/completions,num_concurrent=4,seed=7",
            "--tasks", ",".join(tasks), "--limit", str(LIMIT), "--apply_chat_template", "--log_samples",
            "--output_path", str(folder.parent)], env={**en_x_run["env"], "LM_EVAL_EXT_COMET": "off"})
        assert proc.returncode == 0, proc.stderr[-4000:]
    (_, second) = _results_files(folder)
    env = {**en_x_run["env"], "LM_EVAL_EXT_BLEURT": f"{mt_models['bleurt']};batch_size=8"}
    proc = run_cli(["lm-eval-ext", "rescore", str(first), "--metrics", "bleurt"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    new_file = Path(next(line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("wrote ")))
    new = json.loads(new_file.read_text())
    record = new["lm_eval_ext_rescore"]
    assert record["rescored_from"] == [first.name]
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        for task in tasks:
            own, other = _own_pairs(first, task), _own_pairs(second, task)
            assert own != other
            want, not_this = neural.score("bleurt", own), neural.score("bleurt", other)
            assert new["results"][task]["bleurt,translation"] == pytest.approx(want, abs=1e-6), task
            assert abs(want - not_this) > 1e-3
            assert record["samples"][task] == f"samples_{task}_{first.name[len('results_'):-len('.json')]}.jsonl"
    neural.reset()


def test_rescore_reads_a_damaged_folder_like_the_reports(en_x_run, mt_models, tmp_path):
    folder = _fresh_run_copy(en_x_run, tmp_path)
    (results_file,) = _results_files(folder)
    doc = json.loads(results_file.read_text())
    cut_task, bad_byte_task = f"flores_{EN}-{TARGETS[0]}", f"flores_{EN}-{TARGETS[1]}"
    cut = next(folder.glob(f"samples_{cut_task}_*.jsonl"))
    cut.write_bytes(cut.read_bytes()[:-40])  # killed mid-line
    bad = next(folder.glob(f"samples_{bad_byte_task}_*.jsonl"))
    bad.write_bytes(bad.read_bytes().replace(b'"doc_id": 1', b'"doc_id": 1, "x": "\xff"', 1))
    # a later invocation of another task, then a later results file cut by a kill
    other = {**doc, "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5}}, "configs": {"arc_easy": {}},
             "versions": {"arc_easy": 1.0}, "group_subtasks": {}, "groups": {}, "n-samples": {}}
    (folder / "results_2098-01-01T00-00-00.000001.json").write_text(json.dumps(other))
    truncated = folder / "results_2099-01-01T00-00-00.000001.json"
    truncated.write_text(results_file.read_text()[:300])
    env = {**en_x_run["env"], "LM_EVAL_EXT_BLEURT": f"{mt_models['bleurt']};batch_size=8"}
    proc = run_cli(["lm-eval-ext", "rescore", str(folder.parent), "--metrics", "bleurt"], env=env)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, proc.stdout + proc.stderr  # two tasks could not be rescored
    for where, what in ((truncated, "not valid JSON"), (cut, "not valid JSON"), (bad, "not UTF-8"),
                        (cut, f"task {cut_task} not rescored"), (bad, f"task {bad_byte_task} not rescored")):
        assert any(str(where) in line and what in line for line in proc.stderr.splitlines()), (where, what)
    new_file = Path(next(line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("wrote ")))
    assert new_file.name > truncated.name  # the newest, readable file: what the reports read
    new = json.loads(new_file.read_text())
    for tgt in TARGETS[2:]:  # FLORES results found in the older file; every intact log rescored
        assert math.isfinite(new["results"][f"flores_{EN}-{tgt}"]["bleurt,translation"])
    for task in (cut_task, bad_byte_task):
        assert not math.isfinite(new["results"][task].get("bleurt,translation", float("nan")))
    assert "arc_easy" in new["results"]  # the merged view, as the reports see the folder
