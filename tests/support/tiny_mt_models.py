"""Tiny COMET and BLEURT checkpoints of the real architectures, built offline.

- a SentencePiece model trained here on real FLORES sentences;
- an XLM-R encoder folder (XLMRobertaConfig + fast tokenizer from that model),
  standing in for ``xlm-roberta-large``;
- a COMET ``RegressionMetric`` (the class of Unbabel/wmt22-comet-da) saved the
  way COMET releases are: ``checkpoints/model.ckpt`` + ``hparams.yaml`` whose
  ``pretrained_model`` is ``xlm-roberta-large`` (so loading it offline needs the
  encoder setting, as with the real checkpoint);
- a BLEURT (``BleurtConfig`` + ``BleurtForSequenceClassification``) folder with
  the SentencePiece tokenizer BLEURT-20 uses.
Used by the tests and by benchmarks/comet_speed.py and gpu_bench.py (``size`` picks the shapes;
"large" is the shape of the released checkpoints, with this small vocabulary).
"""

from __future__ import annotations

import json
from pathlib import Path

SIZES = {
    # hidden, layers, heads, intermediate
    "tiny": (32, 2, 4, 64),
    "small": (256, 4, 4, 1024),
    "large": (1024, 24, 16, 4096),  # xlm-roberta-large, the encoder of Unbabel/wmt22-comet-da
}
# BLEURT's shapes where they differ: "large" is BLEURT-20-D12 (lucadiliello/BLEURT-20-D12,
# the default BLEURT), 12 layers of width 1024 over 128-wide input embeddings
BLEURT_SIZES = {**SIZES, "large": (1024, 12, 16, 4096)}
BLEURT_EMBEDDING_SIZE = {"large": 128}


def flores_texts(data_dir: Path, codes=("eng_Latn", "deu_Latn", "fra_Latn", "zho_Hans", "jpn_Jpan", "hin_Deva"), n=300):
    texts = []
    for code in codes:
        with open(data_dir / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh][:n]
    return texts


def train_spm(texts, out: Path, vocab_size=3000) -> Path:
    import sentencepiece as spm

    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "spm"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(prefix), vocab_size=vocab_size,
        model_type="unigram", character_coverage=0.995, num_threads=1, minloglevel=2,
        pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0,
    )
    return prefix.with_suffix(".model")


def xlmr_tokenizer(texts, vocab_size=3000):
    """An XLM-R-style fast tokenizer (SentencePiece unigram, <s> A </s></s> B </s>)
    trained with `tokenizers` (converting a slow one needs a newer protobuf)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))],
    )
    return XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")


def build_encoder(texts, out: Path, size="tiny", seed=0) -> Path:
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    hidden, layers, heads, inter = SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    fast = xlmr_tokenizer(texts)
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=inter, max_position_embeddings=514, pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
    )
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(out)
    return out


def build_comet(encoder_dir: Path, out: Path, hparams_encoder="xlm-roberta-large", seed=0) -> Path:
    """A COMET release folder (checkpoints/model.ckpt + hparams.yaml)."""
    import pytorch_lightning as pl
    import torch
    import yaml
    from comet.models import RegressionMetric

    torch.manual_seed(seed)
    model = RegressionMetric(
        pretrained_model=str(encoder_dir), encoder_model="XLM-RoBERTa", layer="mix", pool="avg",
        hidden_sizes=[64], activations="Tanh", final_activation=None, dropout=0.1,
        layer_transformation="sparsemax", load_pretrained_weights=True,
    )
    with torch.no_grad():  # spread the random head so that scores differ by input
        for p in model.estimator.parameters():
            p.mul_(8.0)
    hparams = dict(model.hparams)
    hparams["pretrained_model"] = hparams_encoder
    hparams["class_identifier"] = "regression_metric"
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save({
        "state_dict": model.state_dict(),
        "hyper_parameters": hparams,
        "pytorch-lightning_version": pl.__version__,
        "epoch": 0, "global_step": 0,
    }, out / "checkpoints" / "model.ckpt")
    (out / "hparams.yaml").write_text(yaml.safe_dump(hparams), encoding="utf-8")
    return out


def build_bleurt(spm_model: Path, out: Path, size="tiny", seed=0) -> Path:
    import torch
    from bleurt_pytorch import BleurtConfig, BleurtForSequenceClassification
    from bleurt_pytorch.bleurt.tokenization_bleurt_sp import BleurtSPTokenizer

    hidden, layers, heads, inter = BLEURT_SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    tok = BleurtSPTokenizer(vocab_file=str(spm_model), do_lower_case=False)
    tok.save_pretrained(out)
    torch.manual_seed(seed)
    config = BleurtConfig(vocab_size=len(tok), embedding_size=BLEURT_EMBEDDING_SIZE.get(size),
                          hidden_size=hidden, num_hidden_layers=layers,
                          num_attention_heads=heads, intermediate_size=inter, max_position_embeddings=512,
                          pad_token_id=tok.pad_token_id)
    model = BleurtForSequenceClassification(config)
    with torch.no_grad():  # spread the random head so that scores differ by input (as for COMET)
        for module in (model.classifier, getattr(model.bleurt, "pooler", None)):
            for p in (module.parameters() if module is not None else []):
                p.mul_(30.0)
    model.save_pretrained(out)
    return out


def build_all(data_dir: Path, out: Path, size="tiny") -> dict[str, Path]:
    texts = flores_texts(data_dir)
    spm_model = train_spm(texts, out / "spm")
    encoder = build_encoder(texts, out / "xlmr-encoder", size)
    return {
        "spm": spm_model,
        "encoder": encoder,
        "comet": build_comet(encoder, out / "comet"),
        "bleurt": build_bleurt(spm_model, out / "bleurt", size),
    }


# ------------------------------------------------ where the reference packages live
def reference_scores(paths: dict, triples) -> dict:
    """Segment scores by the reference packages themselves, as their READMEs use
    them: COMET's load_from_checkpoint + predict (on the copy whose hparams name
    the local encoder), bleurt-pytorch's tokenizer + model logits in one batch."""
    import comet
    import torch
    from bleurt_pytorch import BleurtForSequenceClassification, BleurtTokenizer

    model = comet.load_from_checkpoint(str(Path(paths["comet_ref"]) / "checkpoints" / "model.ckpt"),
                                       local_files_only=True)
    pred = model.predict([{"src": s, "mt": h, "ref": r} for s, h, r in triples], gpus=0, progress_bar=False)
    bleurt = BleurtForSequenceClassification.from_pretrained(paths["bleurt"]).eval()
    tok = BleurtTokenizer.from_pretrained(paths["bleurt"])
    refs, hyps = [r for _, _, r in triples], [h for _, h, _ in triples]
    with torch.no_grad():
        logits = bleurt(**tok(refs, hyps, padding="longest", return_tensors="pt")).logits.flatten().tolist()
    return {"comet": [float(x) for x in pred.scores], "comet_system": float(pred.system_score), "bleurt": logits}


def build_with_reference(data_dir: Path, out: Path, size="tiny") -> dict:
    paths = build_all(data_dir, out, size)
    # the same weights, with hparams naming the local encoder: what comet's own loader can open offline
    paths["comet_ref"] = build_comet(paths["encoder"], out / "comet_ref", hparams_encoder=str(paths["encoder"]))
    return paths


def main(argv=None) -> int:
    """Run in the environment that has unbabel-comet and bleurt-pytorch (the side
    environment of a modern test run):
        python tiny_mt_models.py build DATA_DIR OUT            -> OUT/paths.json
        python tiny_mt_models.py reference PATHS.json TRIPLES.json OUT.json"""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "build":
        paths = build_with_reference(Path(argv[1]), Path(argv[2]))
        (Path(argv[2]) / "paths.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    elif argv[0] == "reference":
        paths = json.loads(Path(argv[1]).read_text())
        triples = [tuple(t) for t in json.loads(Path(argv[2]).read_text())]
        Path(argv[3]).write_text(json.dumps(reference_scores(paths, triples)))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
