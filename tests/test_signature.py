"""The one Signature type: every signature string we write (and sacreBLEU's own) parses into
named fields and formats back byte for byte; builders produce the fields they name; diff says
what differs."""

from __future__ import annotations

from pathlib import Path

import yaml

from support.env import REPO
from lm_eval_ext.families import flores, mgsm, qa
from lm_eval_ext.signature import Change, Signature, nested


class _Tolerant(yaml.SafeLoader):
    pass


_Tolerant.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _task_signatures() -> list[str]:
    """Every scorer and fidelity signature the generated task YAMLs carry (what old and new
    results files record in ``configs.<task>.metadata``)."""
    out = []
    for path in sorted(Path(REPO, "tasks").rglob("*.yaml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Tolerant)
        meta = (doc or {}).get("metadata") if isinstance(doc, dict) else None
        if isinstance(meta, dict):
            out += [str(meta[k]) for k in ("scorer", "fidelity_scorer") if meta.get(k)]
    return out


def test_every_written_signature_reads_back_byte_for_byte():
    from sacrebleu.metrics import BLEU, CHRF

    sigs = _task_signatures()
    assert len(sigs) > 200  # every task of every family
    bleu, chrf = BLEU(tokenize="13a"), CHRF(word_order=2)
    for metric in (bleu, chrf):
        metric.corpus_score(["a"], [["a"]])
    sigs += [str(bleu.get_signature()), str(chrf.get_signature())]
    for text in sigs:
        assert Signature.parse(text).format() == text, text
    # sacreBLEU's own fields are named fields here
    assert Signature.parse(str(bleu.get_signature())).get("tok") == "13a"


def test_builders_write_named_fields():
    sig = Signature.parse(mgsm.scorer_signature("de", "direct"))
    assert sig.head == ("mgsm-numeric", "v1")
    assert sig.get("lang") == "de" and sig.get("compare") == "decimal"
    # '|' inside parentheses stays inside its field
    assert sig.get("strict") == "after-cue(Die Antwort ist|Die Antwort lautet|Antwort:)+leading"
    flores_sig = Signature.parse(flores.scorer_signature("deu_Latn"))
    assert flores_sig.get("bleu") == "sacrebleu(corpus|tok:13a)" and flores_sig.get("think") == ""
    assert flores_sig.names()[-7:] == ["flores-clean", "think", "preamble", "label", "first-paragraph", "notes",
                                       "quotes"]
    assert Signature.parse(qa.scorer_signature("de")).get("clean").startswith("clean(first-line")
    assert nested("sacrebleu", "corpus", ("tok", "13a")) == "sacrebleu(corpus|tok:13a)"


def test_diff_names_the_differing_fields_and_outside_text_stays_one_field():
    from sacrebleu.metrics import BLEU

    a, b = BLEU(tokenize="13a"), BLEU(tokenize="intl")
    for metric in (a, b):
        metric.corpus_score(["a"], [["a"]])
    changes = Signature.parse(str(a.get_signature())).diff(Signature.parse(str(b.get_signature())))
    assert changes == [Change("tok", "13a", "intl")]
    assert str(changes[0]) == "tok 13a vs intl"
    # a repeated name is matched by occurrence (COMET writes the model, then the package version)
    comet = "comet:/m/a|batch:4|device:cpu|system:mean-x100|comet:2.2.7|via:side-env"
    other = comet.replace("comet:2.2.7", "comet:2.2.8")
    assert Signature.parse(comet).diff(Signature.parse(other)) == [Change("comet#2", "2.2.7", "2.2.8")]
    # a model name or path from outside cannot split a field or swallow the next ones
    sig = Signature.of(("judge", "evil|model(("), ("template", "da"))
    assert Signature.parse(str(sig)).get("template") == "da" and len(Signature.parse(str(sig)).fields) == 2
