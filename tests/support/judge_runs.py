"""lm-eval-shaped run folders for judge tests, built from the real XQuAD and
FLORES data in ../shared/data (the QA and FLORES task families log these doc
fields: QA ``context, question, answers, ctx_lang, q_lang``; FLORES ``source,
reference, src_lang, tgt_lang``). Model replies are chosen per item by the
caller; per-sample reference metrics are computed with the real scorers
(exact match after stripping; sacreBLEU sentence chrF++)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

STAMP = "2026-01-01T00-00-00.000001"


def _jsonl(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _sha(x) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def qa_docs(data: Path, lang: str, n: int) -> list[dict]:
    rows = _jsonl(data / "xquad" / f"xquad.{lang}.jsonl")[:n]
    return [{"id": r["id"], "context": r["context"], "question": r["question"], "answers": r["answers"],
             "ctx_lang": lang, "q_lang": lang} for r in rows]


def flores_docs(data: Path, src: str, tgt: str, n: int) -> list[dict]:
    s = _jsonl(data / "flores" / f"{src}.devtest.jsonl")[:n]
    t = _jsonl(data / "flores" / f"{tgt}.devtest.jsonl")[:n]
    return [{"id": a["id"], "source": a["text"], "reference": b["text"], "src_lang": src, "tgt_lang": tgt}
            for a, b in zip(s, t)]


def _sample(doc_id, doc, target, reply, metrics: dict, prompt: str) -> dict:
    return {"doc_id": doc_id, "doc": doc, "target": target,
            "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["\n\n"]}}},
            "resps": [[reply]], "filtered_resps": [reply.strip()], "filter": "none",
            "metrics": list(metrics), **metrics,
            "doc_hash": _sha(doc), "prompt_hash": _sha(prompt), "target_hash": _sha(target)}


def write_run(folder: Path, model: str, tasks: dict[str, dict]) -> Path:
    """tasks: name -> {"kwargs": dataset_kwargs, "samples": [sample, ...], "metric": name}"""
    folder.mkdir(parents=True, exist_ok=True)
    results, configs, versions, n_samples = {}, {}, {}, {}
    for name, t in tasks.items():
        m = t["metric"]
        vals = [s[m] for s in t["samples"]]
        results[name] = {"alias": name, f"{m},none": sum(vals) / len(vals), f"{m}_stderr,none": "N/A"}
        configs[name] = {"task": name, "dataset_kwargs": t["kwargs"], "output_type": "generate_until",
                         "metadata": {"version": 1.0, "scorer": f"test:{m}"}}
        versions[name] = 1.0
        n_samples[name] = {"original": len(vals), "effective": len(vals)}
        with open(folder / f"samples_{name}_{STAMP}.jsonl", "w", encoding="utf-8") as fh:
            for s in t["samples"]:
                fh.write(json.dumps(s, ensure_ascii=False) + "\n")
    doc = {"results": results, "configs": configs, "versions": versions, "n-samples": n_samples,
           "higher_is_better": {n: {t["metric"]: True} for n, t in tasks.items()},
           "config": {"model": "local-chat-completions", "model_args": f"model={model}", "limit": None},
           "model_name": model, "lm_eval_version": "0.4.13", "date": 1767225600.0}
    (folder / f"results_{STAMP}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return folder


def qa_task(data, lang, n, reply_of):
    """reply_of(i, doc) -> model reply; exact_match = reply equals a gold answer after strip."""
    samples = []
    for i, doc in enumerate(qa_docs(data, lang, n)):
        reply = reply_of(i, doc)
        em = float(reply.strip() in [a.strip() for a in doc["answers"]["text"]])
        samples.append(_sample(i, doc, doc["answers"]["text"][0], reply, {"exact_match": em},
                               f"Context: {doc['context']}\nQuestion: {doc['question']}\nAnswer:"))
    return {"kwargs": {"family": "xquad", "lang": lang}, "samples": samples, "metric": "exact_match"}


def flores_task(data, src, tgt, n, reply_of):
    """reply_of(i, doc) -> model reply; chrf = sacreBLEU sentence chrF++."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF(word_order=2)
    samples = []
    for i, doc in enumerate(flores_docs(data, src, tgt, n)):
        reply = reply_of(i, doc)
        score = chrf.sentence_score(reply, [doc["reference"]]).score
        samples.append(_sample(i, doc, doc["reference"], reply, {"chrf": score},
                               f"Translate into the target language:\n{doc['source']}\n"))
    return {"kwargs": {"family": "flores", "src_lang": src, "tgt_lang": tgt}, "samples": samples, "metric": "chrf"}
