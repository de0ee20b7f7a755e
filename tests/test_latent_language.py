"""The latent-language analysis (lm-eval-ext latent-language): the logit lens against a hand
computation on tiny random models of three architectures, prefix-token sets against references
built from the tokenizers' own encodings (byte-level BPE) and the SentencePiece model itself,
the concept filter, the statistics, the file format, bad input (exit 2), and a run read by
report, leaderboard and compare."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lm_eval_ext.cli import main as cli_main
from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.formats import latent_language as fmt
from lm_eval_ext.formats.run_folder import Problem
from lm_eval_ext.latent import concepts as cc
from lm_eval_ext.latent import prompts as pr
from lm_eval_ext.latent import summary
from lm_eval_ext.latent import tokens as tk
from lm_eval_ext.latent.lens import LensError, LogitLens
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.signature import Signature
from support.tiny_models import build_byte_tokenizer, build_tiny_decoder, train_sentencepiece

SP = "\u2581"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def models(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """Llama (untied, RMSNorm), GPT-2 (tied, LayerNorm, absolute positions), Gemma 2 (RMSNorm 1+w,
    scaled embeddings, soft-capping), all with the tiny byte-level BPE tokenizer."""
    root = tmp_path_factory.mktemp("latent_models")
    return {"llama": tiny_model_dir, "gpt2": build_tiny_decoder("gpt2", tiny_model_dir, root / "gpt2"),
            "gemma2": build_tiny_decoder("gemma2", tiny_model_dir, root / "gemma2")}


@pytest.fixture(scope="module")
def sentencepiece(tmp_path_factory):
    return train_sentencepiece(tmp_path_factory.mktemp("sp"))


def _load(path, sharpen: float = 30.0):
    """The model, its unembedding scaled by `sharpen`: a random tiny model's next-token
    distribution is nearly uniform; a sharp one shows any error in the lens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(sharpen)
    return model, tok


# ------------------------------------------------------------------ references
def byte_level_reference(tok, word: str) -> list[int]:
    """Prefix tokens of a byte-level BPE tokenizer found the other way round: the word's
    byte-level string is the concatenation of its tokens (merges only join), and every prefix of
    that string that is a vocabulary entry is a prefix token."""
    vocab, special = tok.get_vocab(), set(tok.all_special_ids)
    out = set()
    for form in (word, " " + word):
        mapped = "".join(tok.convert_ids_to_tokens(tok.encode(form, add_special_tokens=False)))
        for end in range(1, len(mapped) + 1):
            piece = mapped[:end]
            if piece in vocab and piece.strip("Ġ") and vocab[piece] not in special:
                out.add(vocab[piece])
    return sorted(out)


def sentencepiece_reference(sp, word: str) -> list[int]:
    """Prefix pieces from the SentencePiece model itself: every prefix of the word (with and
    without its ▁) that is a piece, and the byte piece of the word's first byte."""
    out = set()
    for form in (word.replace(" ", SP), SP + word.replace(" ", SP)):
        for end in range(1, len(form) + 1):
            pid = sp.piece_to_id(form[:end])
            if pid != sp.unk_id() and form[:end].strip(SP):
                out.add(pid)
    out.add(sp.piece_to_id(f"<0x{word.encode('utf-8')[0]:02X}>"))
    return sorted(out)


def hand_lens(kind: str, model, tok, prompt: str, target_ids, english_ids):
    """(P(target), P(English), entropy) per layer of one prompt, alone: hidden state -> the final
    norm written out by hand -> lm_head weight -> (soft-capping) -> softmax -> summed prefix ids.
    The last layer is the model's own output distribution."""
    ids = tok(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
    cfg = model.config
    weight = model.get_output_embeddings().weight

    def norm(x):
        if kind == "gpt2":
            ln = model.transformer.ln_f
            return torch.nn.functional.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, ln.eps)
        w = model.model.norm.weight
        scaled = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps)
        return scaled * (1.0 + w) if kind == "gemma2" else scaled * w

    dists = []
    for h in out.hidden_states[:-1]:  # the embeddings and every layer's output but the last (normed by HF)
        logits = norm(h[0, -1]) @ weight.T
        if getattr(cfg, "final_logit_softcapping", None):
            logits = torch.tanh(logits / cfg.final_logit_softcapping) * cfg.final_logit_softcapping
        dists.append(torch.softmax(logits, -1))
    dists.append(torch.softmax(out.logits[0, -1], -1))
    dists = [p.detach() for p in dists]
    p_t = [float(p[target_ids].sum()) for p in dists]
    p_e = [float(p[english_ids].sum()) for p in dists]
    ent = [float(-(p[p > 0] * torch.log2(p[p > 0])).sum()) for p in dists]
    return p_t, p_e, ent


# ------------------------------------------------------------------ the lens
@pytest.mark.parametrize("kind", ["llama", "gpt2", "gemma2"])
def test_lens_equals_hand_computation_batched_and_padded(models, kind):
    model, tok = _load(models[kind])
    lens = LogitLens(model)
    assert lens.points == model.config.num_hidden_layers + 1
    concepts = cc.pool(["fr", "de"])[:40]
    chosen = [concepts[3], concepts[17], concepts[31]]
    prompts = [pr.prompt("translation", c, concepts[:k], "de", "fr") for c, k in zip(chosen, (0, 2, 5))]
    target_ids = [byte_level_reference(tok, c.word("de")) for c in chosen]
    english_ids = [byte_level_reference(tok, c.word("en")) for c in chosen]
    tok.padding_side = "left"
    enc = tok(prompts, padding=True, return_tensors="pt")
    assert (enc.attention_mask == 0).any()  # the batch is padded: the short prompts see left padding
    values = lens.run(enc.input_ids, enc.attention_mask, target_ids, english_ids)
    assert values.check < 1e-5  # the last layer through the lens is the model's own distribution
    # only the last position of each layer was kept (a view would keep every position alive)
    assert values.kept_bytes == lens.points * len(prompts) * model.config.hidden_size * 4
    for row, prompt in enumerate(prompts):
        p_t, p_e, ent = hand_lens(kind, model, tok, prompt, target_ids[row], english_ids[row])
        assert values.p_target[row].tolist() == pytest.approx(p_t, abs=2e-6)
        assert values.p_english[row].tolist() == pytest.approx(p_e, abs=2e-6)
        assert values.entropy[row].tolist() == pytest.approx(ent, abs=2e-4)
    assert values.entropy.min() < 6  # sharp distributions (uniform over this vocabulary: 10 bits)


def test_lens_check_catches_an_output_transformation_it_does_not_apply(models):
    model, tok = _load(models["gemma2"])
    lens = LogitLens(model)
    lens.softcap = None  # a lens that forgets Gemma 2's soft-capping
    enc = tok(["Deutsch: \"Blume\""], return_tensors="pt")
    ids = byte_level_reference(tok, "Blume")
    assert lens.run(enc.input_ids, enc.attention_mask, [ids], [ids]).check > 1e-2


def test_auto_batch_size_halves_on_out_of_memory_and_loses_no_prompt(models):
    """Auto batch size on a GPU that runs out of memory above 2 prompts (the out-of-memory error
    injected; a CPU has no such limit): every prompt is measured once, in its own row."""
    import lm_eval.api.registry

    from lm_eval_ext.latent.command import measure

    lm = lm_eval.api.registry.get_model("hf").create_from_arg_string(f"pretrained={models['llama']}",
                                                                    {"batch_size": 1, "device": "cpu"})
    concepts = cc.pool(["de"])[:7]
    items = [{"prompt": pr.prompt("repetition", c, concepts[:k], "de"),
              "target_ids": byte_level_reference(lm.tokenizer, c.word("de")),
              "english_ids": byte_level_reference(lm.tokenizer, c.word("en"))} for k, c in enumerate(concepts)]

    class SmallGPU(LogitLens):
        def run(self, input_ids, *rest):
            if len(input_ids) > 2:
                raise torch.cuda.OutOfMemoryError("injected")
            return super().run(input_ids, *rest)

    rows, size, _ = measure(lm, SmallGPU(lm.model), items, None, 16)
    single, _, _ = measure(lm, LogitLens(lm.model), items, 1, 16)
    assert size == 2 and len(rows) == len(items)
    for got, alone in zip(rows, single):
        assert np.allclose(np.array(got), np.array(alone), atol=1e-5)


def test_model_without_final_norm_is_refused(models, tmp_path):
    opt = build_tiny_decoder("opt-post-ln", models["llama"], tmp_path / "opt")
    model, _ = _load(opt)
    with pytest.raises(LensError, match="no final norm"):
        LogitLens(model)


# ------------------------------------------------------------------ prefix tokens
WORDS = ["花", "日本語", "中华人民共和国", "Deutschland", "Blume", "Südkorea", "Côte d’Ivoire", "Россия", "ドイツ"]


def test_prefix_tokens_byte_level_bpe(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    vocab = tk.Vocabulary.of(tok)
    assert vocab.scheme == tk.BYTE_LEVEL
    for word in WORDS:
        got = vocab.prefix_ids(word)
        assert got == byte_level_reference(tok, word), word
        for tid in got:  # and by definition: the bytes are a prefix of the word's (or a space and them)
            data = vocab.token_bytes[tid]
            assert word.encode().startswith(data) or (" " + word).encode().startswith(data)
    # a Chinese character's first byte is a prefix token of it: the first byte of 花 (E8 8A B1)
    first_byte = tok.convert_tokens_to_ids(tok.convert_ids_to_tokens(tok.encode("花", add_special_tokens=False))[0][0])
    assert vocab.token_bytes[first_byte] == b"\xe8" and first_byte in vocab.prefix_ids("花")


def test_prefix_tokens_sentencepiece(sentencepiece):
    sp, tok = sentencepiece
    vocab = tk.Vocabulary.of(tok)
    assert vocab.scheme == tk.SENTENCEPIECE
    for word in WORDS:
        assert vocab.prefix_ids(word) == sentencepiece_reference(sp, word), word
    # byte fallback: 语 is not a piece here, so 日本語 is written with byte pieces after 日本
    assert sp.piece_to_id("語") == sp.unk_id()
    pieces = sp.encode("語", out_type=str)
    assert [p for p in pieces if p.startswith("<0x")] == ["<0xE8>", "<0xAA>", "<0x9E>"]


def test_partial_characters_are_dropped_and_counted(sentencepiece):
    sp, tok = sentencepiece
    vocab = tk.Vocabulary.of(tok)
    pool = cc.pool(["zh"])
    whole = next(c for c in pool if sp.piece_to_id(c.word("zh")[0]) != sp.unk_id()
                 and sp.piece_to_id(SP + c.word("zh")[0]) == sp.unk_id())
    partial = next(c for c in pool if sp.piece_to_id(c.word("zh")[0]) == sp.unk_id()
                   and sp.piece_to_id(SP + c.word("zh")[0]) == sp.unk_id())
    assert tk.is_partial_character(vocab.first_token(partial.word("zh"))[1])
    chosen = tk.select([whole, partial], vocab, "zh")
    assert chosen.kept == [whole]
    assert chosen.dropped["partial_character"] == 1 and chosen.n_dropped == 1


def test_filter_keeps_only_concepts_whose_masses_differ(tiny_model_dir):
    from transformers import AutoTokenizer

    vocab = tk.Vocabulary.of(AutoTokenizer.from_pretrained(tiny_model_dir))
    pool = cc.pool(["fr", "de"])
    chosen = tk.select(pool, vocab, "de", "fr")
    assert len(chosen.kept) + chosen.n_dropped == len(pool)
    assert chosen.dropped["same_as_english"] >= 1  # e.g. Japan is Japan in German
    for c in chosen.kept:
        target_ids, english_ids, _ = tk.exclusive_ids(vocab, c.word("de"), c.word("en"))
        assert not set(target_ids) & set(english_ids)
        assert vocab.first_token(c.word("de"))[0] in target_ids  # each word's own first token counts for it
        assert vocab.first_token(c.word("en"))[0] in english_ids
        assert c.word("de").casefold() != c.word("en").casefold()


def test_a_first_token_that_is_a_prefix_of_the_other_word_drops_the_concept(sentencepiece):
    """Singhalesisch / Sinhala under this SentencePiece model: first tokens ▁S and ▁Si differ, but ▁S
    is a prefix of Sinhala too, so the German word's own first token would count for neither."""
    _, tok = sentencepiece
    vocab = tk.Vocabulary.of(tok)
    cases = [c for c in cc.pool(["de"]) if c.word("de").casefold() != c.word("en").casefold()
             and vocab.first_token(c.word("de"))[0] != vocab.first_token(c.word("en"))[0]
             and (vocab.first_token(c.word("de"))[0] in vocab.prefix_ids(c.word("en"))
                  or vocab.first_token(c.word("en"))[0] in vocab.prefix_ids(c.word("de")))]
    assert cases
    chosen = tk.select(cases, vocab, "de")
    assert not chosen.kept and chosen.dropped["shared_first_token"] + chosen.dropped["partial_character"] == len(cases)


def test_masses_are_exclusive(tiny_model_dir):
    from transformers import AutoTokenizer

    vocab = tk.Vocabulary.of(AutoTokenizer.from_pretrained(tiny_model_dir))
    shared = set(vocab.prefix_ids("Spanien")) & set(vocab.prefix_ids("Spain"))
    assert {vocab.token_bytes[i] for i in shared} >= {b"S", b" S"}
    target_ids, english_ids, n_shared = tk.exclusive_ids(vocab, "Spanien", "Spain")
    assert n_shared == len(shared) and not shared & (set(target_ids) | set(english_ids))
    assert set(target_ids) == set(vocab.prefix_ids("Spanien")) - shared
    assert set(english_ids) == set(vocab.prefix_ids("Spain")) - shared


def test_unknown_tokenizer_scheme_is_refused():
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    wp = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    wp.decoder = decoders.WordPiece()
    with pytest.raises(tk.TokenizerError, match="neither byte-level BPE nor SentencePiece"):
        tk.Vocabulary.of(PreTrainedTokenizerFast(tokenizer_object=wp, unk_token="[UNK]"))


# ------------------------------------------------------------------ concepts and prompts
def test_concepts_come_from_the_installed_cldr():
    import babel

    pool = cc.pool(["de"])
    counts = cc.category_counts(pool)
    assert counts["weekday"] == 7 and counts["month"] == 12 and counts["territory"] > 200
    monday = next(c for c in pool if c.id == "weekday:1")
    assert (monday.word("de"), monday.word("en")) == (babel.Locale("de").days["stand-alone"]["wide"][0],
                                                      babel.Locale("en").days["stand-alone"]["wide"][0])
    assert cc.versions()["babel"] == babel.__version__
    with pytest.raises(cc.UnknownLanguage, match="'xx'"):
        cc.locale("xx")


def test_prompts_leave_the_last_target_open():
    pool = cc.pool(["fr", "de"])
    concept = next(c for c in pool if c.id == "territory:DE")
    examples = pr.shots_for(concept, pool, 3, 1234, "fr->de")
    assert len(examples) == 3 and all(e.category == "territory" and e.id != concept.id for e in examples)
    assert examples == pr.shots_for(concept, pool, 3, 1234, "fr->de")
    text = pr.prompt("translation", concept, examples, "de", "fr")
    assert text.endswith(f'{cc.label("fr")}: "{concept.word("fr")}" - {cc.label("de")}: "')
    assert text.count("\n") == 3 and "Deutschland" not in text.splitlines()[-1]
    assert pr.prompt("cloze", concept, [], "de").endswith(' - Deutsch: "') and \
        pr.prompt("cloze", concept, [], "de").startswith("DE")


# ------------------------------------------------------------------ statistics
def test_per_layer_cis_are_the_bootstrap_modules():
    rng = np.random.default_rng(0)
    p_t, p_e, ent = rng.random((37, 7)) * 0.5, rng.random((37, 7)) * 0.5, rng.random((37, 7)) * 3
    out = summary.summarize(p_t, p_e, ent, iters=500, seed=7)
    for layer in range(7):
        mean, lo, hi = bootstrap.bootstrap_ci(p_t[:, layer], iters=500, seed=7)
        assert out["p_target"][layer] == pytest.approx(mean)
        assert out["ci"]["p_target"][layer] == pytest.approx([lo, hi])
    # the share by hand: the intermediate layers 1..5 of 7 points (all above the 1% floor here)
    assert summary.intermediate_layers(7) == [1, 2, 3, 4, 5]
    assert summary.middle_layers(7) == [2, 3, 4] and summary.middle_layers(31) == list(range(10, 21))
    en, tgt = p_e.mean(0), p_t.mean(0)
    ratios = [en[i] / (en[i] + tgt[i]) for i in range(1, 6)]
    share = out["english_share"]
    assert share["value"] == pytest.approx(max(ratios)) and share["peak_layer"] == 1 + int(np.argmax(ratios))
    assert share["ci"][0] <= share["value"] <= share["ci"][1] and share["se"] > 0
    assert out["middle_third"]["value"] == pytest.approx(max(ratios[1:4]))


def test_share_ignores_layers_without_mass_on_either_word():
    """A layer where both words hold under 1% reads noise (1e-5 against 1e-10 is no 'share' of 1.0)."""
    p_t = np.zeros((4, 6))
    p_e = np.zeros((4, 6))
    p_e[:, 2], p_t[:, 2] = 1e-5, 1e-10  # noise
    p_e[:, 3], p_t[:, 3] = 0.2, 0.2  # half and half
    p_t[:, 5] = 0.9  # the output layer (not counted)
    out = summary.summarize(p_t, p_e, np.ones((4, 6)), iters=50)
    assert out["english_share"]["value"] == pytest.approx(0.5) and out["english_share"]["peak_layer"] == 3
    p_e[:, 1], p_t[:, 1] = 0.02, 0.0  # English only, little mass; and at layer 4 English only, more mass
    p_e[:, 4] = 0.3
    out = summary.summarize(p_t, p_e, np.ones((4, 6)), iters=50)
    assert out["english_share"]["value"] == 1.0 and out["english_share"]["peak_layer"] == 4
    assert out["english_share"]["p_english_at_peak"] == pytest.approx(0.3)


def test_share_is_undefined_without_mass_in_the_middle():
    zeros = np.zeros((5, 4))
    zeros[:, 3] = 0.5
    assert summary.summarize(zeros, zeros, zeros, iters=50)["english_share"] is None


# ------------------------------------------------------------------ the file
def _doc(layers=3) -> fmt.LatentLanguageResults:
    pair = fmt.PairResult(source="fr", target="de", n=4, p_target=[0.0, 0.1, 0.5], p_english=[0.0, 0.3, 0.1],
                          entropy=[1.0, 2.0, 0.5], ci={"p_target": [[0, 0], [0.05, 0.2], [0.3, 0.7]]},
                          english_share={"value": 0.75, "ci": [0.6, 0.9], "se": 0.08, "layers": [1, 1],
                                         "peak_layer": 1}, dropped={"same_as_english": 2}, kept={"territory": 4})
    return fmt.LatentLanguageResults(model={"model": "hf", "model_args": "pretrained=m"}, layers=layers,
                                     signature="logit-lens-latent-language:v1|task:translation", task="translation",
                                     pairs={pair.key: pair}, date=1.0)


def test_file_round_trip_and_bad_shapes(tmp_path):
    path = tmp_path / fmt.file_name("2026-01-01T00-00-00.000001")
    fmt.write(path, _doc())
    problems: list[Problem] = []
    back = fmt.read(path, problems)
    assert not problems and back.to_json() == _doc().to_json()
    assert back.pairs["fr->de"].langs == ("fr", "de") and back.model_name == "m"
    raw = _doc().to_json()
    raw["pairs"]["fr->ru"] = {**raw["pairs"]["fr->de"], "target": "ru", "p_target": [0.0, 1.5, 0.2]}
    raw["pairs"]["fr->zh"] = {**raw["pairs"]["fr->de"], "target": "zh", "entropy": [1.0]}
    raw["pairs"]["x"] = raw["pairs"]["fr->de"]
    path.write_text(json.dumps(raw))
    back = fmt.read(path, problems)
    assert list(back.pairs) == ["fr->de"]
    assert any("fr->ru" in p.what and "layer 1 is 1.5" in p.what for p in problems)
    assert any("fr->zh" in p.what and "list of 3 numbers" in p.what for p in problems)
    assert any("pairs.x is named 'x' but holds 'fr->de'" in p.what for p in problems)
    path.write_text(json.dumps({**raw, "format_version": 99}))
    assert fmt.read(path, problems) is None and "version 99" in problems[-1].what


# ------------------------------------------------------------------ the command
def _cli(capsys, *args) -> tuple[int, str, str]:
    code = cli_main(["latent-language", "--device", "cpu", "--bootstrap_iters", "200", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bad_input_exits_2_naming_what(capsys, models, tmp_path):
    code, _, err = _cli(capsys, "--model_args", f"pretrained={models['llama']}", "--langs", "de,xx",
                        "--output_path", str(tmp_path))
    assert code == ExitCode.BAD_INPUT and "'xx'" in err and "CLDR" in err
    code, _, err = _cli(capsys, "--model_args", f"pretrained={models['llama']}", "--langs", "en",
                        "--output_path", str(tmp_path))
    assert code == ExitCode.BAD_INPUT and "English is the language" in err
    code, _, err = _cli(capsys, "--model", "local-completions", "--model_args", "model=x", "--langs", "de",
                        "--output_path", str(tmp_path))
    assert code == ExitCode.BAD_INPUT and "hf backend only" in err
    opt = build_tiny_decoder("opt-post-ln", models["llama"], tmp_path / "opt")
    code, _, err = _cli(capsys, "--model_args", f"pretrained={opt}", "--langs", "de", "--output_path", str(tmp_path))
    assert code == ExitCode.BAD_INPUT and "no final norm" in err
    bytes_only = build_tiny_decoder("gpt2", build_byte_tokenizer(tmp_path / "bytetok"), tmp_path / "bytemodel")
    code, _, err = _cli(capsys, "--model_args", f"pretrained={bytes_only}", "--langs", "zh",
                        "--output_path", str(tmp_path))
    assert code == ExitCode.BAD_INPUT and "fr->zh" in err and "partial_character" in err and "filtered out" in err
    assert not list(tmp_path.rglob("latent_language_*.json"))


def test_without_babel_the_command_names_the_extra(tmp_path):
    from support.env import run_cli
    from support.hidden import hidden_env

    proc = run_cli(["lm-eval-ext", "latent-language", "--model_args", "pretrained=unused", "--langs", "de",
                    "--output_path", str(tmp_path)], env=hidden_env("babel"), timeout=120)
    assert proc.returncode == ExitCode.BAD_INPUT, proc.stderr[-2000:]
    assert "babel not installed" in proc.stderr and 'pip install "lm-eval-ext[latent]"' in proc.stderr


@pytest.fixture(scope="module")
def latent_runs(models, tmp_path_factory) -> dict[str, Path]:
    """Two runs of the command: the tiny Llama and the tiny GPT-2, German and Chinese (a random
    model puts well under 1% on any word: no floor)."""
    out = tmp_path_factory.mktemp("latent_runs")
    folders = {}
    for kind in ("llama", "gpt2"):
        code = cli_main(["latent-language", "--model_args", f"pretrained={models[kind]}", "--langs", "de,zh",
                         "--limit", "6", "--device", "cpu", "--bootstrap_iters", "200", "--share_floor", "0",
                         "--output_path", str(out / kind)])
        assert code == ExitCode.OK
        (folders[kind],) = {p.parent for p in (out / kind).rglob("latent_language_*.json")}
    return folders


def test_run_file_holds_what_the_issue_asks(latent_runs, models):
    (path,) = latent_runs["llama"].glob("latent_language_*.json")
    problems: list[Problem] = []
    doc = fmt.read(path, problems)
    assert not problems
    assert doc.layers == 3 and doc.task == "translation" and set(doc.pairs) == {"fr->de", "fr->zh"}
    assert doc.model["model"] == "hf" and doc.model_name == str(models["llama"])
    sig = Signature.parse(doc.signature)
    assert sig.head == ("logit-lens-latent-language", "v1") and str(sig) == doc.signature
    assert sig.get("task") == "translation" and sig.get("template") == "translation-v1"
    assert sig.get("concepts").startswith("cldr-") and sig.get("babel") == cc.versions()["babel"]
    assert sig.get("tokenizer") and sig.get("share") == "peak-intermediate(floor 0)"
    assert doc.settings["lens"] == "norm(LlamaRMSNorm)+unembed"  # the model's, shown, not compared
    assert doc.concepts["categories"]["weekday"] == 7
    for pair in doc.pairs.values():
        assert pair.n <= 6 and len(pair.p_target) == 3 and len(pair.ci["p_english"]) == 3
        assert sum(pair.dropped.values()) > 0 and pair.example.endswith('"')
    assert doc.pairs["fr->zh"].dropped["partial_character"] > 0
    assert doc.settings["lens_check_max_abs_diff"] < 1e-5


def test_report_leaderboard_and_compare_read_the_runs(latent_runs, tmp_path, capsys):
    from lm_eval_ext.reporting import leaderboard
    from lm_eval_ext.reporting.report import write_report

    llama, gpt2 = latent_runs["llama"], latent_runs["gpt2"]
    report, problems = write_report([llama, gpt2], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "## Latent language" in md and "English-latent share" in md and "fam-latent_translation" not in html
    assert html.count("<polyline") == 2 * 2 * 2  # two curves per pair, two pairs, two runs
    rows, _ = leaderboard.build([llama, gpt2], err=io.StringIO())
    (path,) = llama.glob("latent_language_*.json")
    doc = fmt.read(path, [])
    row = next(r for r in rows if r["model"] == doc.model_name)
    assert row["latent_translation/fr-de/english_share"] == doc.pairs["fr->de"].english_share["value"]
    assert row["latent_translation/fr-zh/english_share"] == doc.pairs["fr->zh"].english_share["value"]
    code = cli_main(["compare", str(llama), str(llama)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK and "fr-de" in out and "english_share" in out and "unchanged" in out
    code = cli_main(["compare", str(llama), str(gpt2), "--threshold", "0"])
    out = capsys.readouterr().out  # two architectures, one tokenizer: comparable (the lens is the model's)
    assert code in (ExitCode.OK, ExitCode.REGRESSED) and out.count("latent_translation_fr_") == 2


def test_compare_gates_a_share_made_another_way(latent_runs, models, tmp_path, capsys):
    """Another prompt (--shots 2): compare refuses the pair (exit 4) naming the field; the
    leaderboard puts it in a column of its own signature."""
    from lm_eval_ext.reporting import leaderboard

    code = cli_main(["latent-language", "--model_args", f"pretrained={models['llama']}", "--langs", "de,zh",
                     "--limit", "6", "--shots", "2", "--device", "cpu", "--bootstrap_iters", "200",
                     "--share_floor", "0", "--output_path", str(tmp_path / "out")])
    assert code == ExitCode.OK
    (other,) = {p.parent for p in (tmp_path / "out").rglob("latent_language_*.json")}
    code = cli_main(["compare", str(latent_runs["llama"]), str(other)])
    out = capsys.readouterr().out
    assert code == ExitCode.NOT_COMPARABLE and "scorer shots:4 vs shots:2" in out and "2 not comparable" in out
    (new,) = other.glob("latent_language_*.json")
    assert fmt.read(new, []).pairs["fr->de"].example.count("\n") == 2  # two shots above the open line
    rows, _ = leaderboard.build([latent_runs["llama"], other], err=io.StringIO())
    placed, signatures = leaderboard.place(rows)
    columns = sorted(k for k in signatures if k.startswith("latent_translation/fr-de/english_share"))
    assert len(rows) == 2 and len(columns) == 2 and columns[1].startswith(columns[0] + "~")
    first, second = (Signature.parse(signatures[c]) for c in columns)
    assert [change.name for change in first.diff(second)] == ["scorer"]  # the file's signature, hashed


def test_latent_file_joins_the_lm_eval_run_of_its_model(latent_runs, tmp_path, shared_data):
    import shutil

    from support.judge_runs import qa_task, write_run

    from lm_eval_ext.reporting.runs import load_runs

    folder = tmp_path / "run"
    shutil.copytree(latent_runs["llama"], folder)
    (path,) = folder.glob("latent_language_*.json")
    doc = fmt.read(path, [])
    write_run(folder, "unused", {"xquad_de": qa_task(shared_data, "de", 3, lambda i, d: d["answers"]["text"][0])})
    (results,) = folder.glob("results_*.json")
    data = json.loads(results.read_text())
    data["config"].update(model="hf", model_args=doc.model["model_args"])
    data["model_name"] = doc.model_name
    results.write_text(json.dumps(data))
    runs, problems = load_runs([folder])
    assert len(runs) == 1 and not problems
    families = {c.family for c in runs[0].cells}
    assert {"xquad", "latent_translation"} <= families
    assert runs[0].tasks["latent_translation_fr_de"].scorer == doc.signature
    assert set(runs[0].latent) == {"latent_translation_fr_de", "latent_translation_fr_zh"}
    data["config"]["model_args"] = "pretrained=another"  # another model: two runs in one folder
    results.write_text(json.dumps(data))
    runs, _ = load_runs([folder])
    assert len(runs) == 2
    runs, problems = load_runs([path])  # the file itself
    assert len(runs) == 1 and not problems and runs[0].latent
