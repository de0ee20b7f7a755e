"""Which numbers may be set side by side: a task's numbers in two runs are comparable when
everything that changes its outputs or its scores was the same.

Read from what lm-eval 0.4.x writes into a results file (and what our tasks add to it):

| field | from |
|---|---|
| task version | ``versions.<task>`` |
| scorer | ``configs.<task>.metadata.scorer`` (our tasks' static scorer signature) |
| ``<metric>`` signature | ``configs.<task>.metadata.metric_signatures`` (sacreBLEU, COMET/BLEURT model and version, langid); a judge score's judge, template and sampling |
| num_fewshot | ``configs.<task>.num_fewshot`` (else ``n-shot``) |
| chat template | ``chat_template`` (absent: off; ``""``: applied by the server; else on, with ``chat_template_sha``) |
| template kwargs | ``enable_thinking``, ``chat_template_args``, ``think_end_token`` in ``config.model_args`` |
| fewshot_as_multiturn | ``fewshot_as_multiturn`` (compared only with a chat template and few-shot examples) |
| system instruction | ``system_instruction_sha`` |
| gen_kwargs | ``configs.<task>.generation_kwargs``, the keys that change outputs (`OUTPUT_KWARGS`) |
| seed | ``config.fewshot_seed`` (with few-shot examples); the sampling seeds when a run samples |
| repeats | ``configs.<task>.repeats`` |
| sample count | ``n-samples.<task>.effective`` (else ``config.limit``) |
| task hash | ``task_hashes.<task>`` (lm-eval's hash of the documents, prompts and targets; written with ``--log_samples``; not compared for a family whose documents hold an earlier run's outputs) |

The lm-eval version is shown (`provenance`), never compared: a run moved to another lm-eval
with identical task hashes and signatures is comparable. A field one run does not record is
not compared, except the scorer and the per-metric signatures: a number one run scored with a
recorded scorer and the other without any cannot be assumed to be scored the same way.

Run-level fields (chat template, system instruction, seeds, limit) are read from the results
file that holds the task's result: a run folder merges several files, the newest winning per
task, and each file carries its own settings.

`task_differences` is what `compare` gates on (exit 4), the report marks and the leaderboard
splits columns by (`column_signature`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

from lm_eval_ext import families
from lm_eval_ext.formats.run_folder import number, read_results
from lm_eval_ext.missing import Skip
from lm_eval_ext.signature import Signature

# generation settings that change what a model writes (not how it is asked: timeouts, retries)
OUTPUT_KWARGS = ("until", "max_gen_toks", "max_tokens", "max_new_tokens", "max_length", "temperature", "top_p",
                 "top_k", "min_p", "do_sample", "num_beams", "repetition_penalty", "presence_penalty",
                 "frequency_penalty", "seed")
TEMPLATE_KWARGS = ("enable_thinking", "chat_template_args", "think_end_token")
SIGNATURE_FIELDS = ("scorer",)  # plus every "<metric> signature"
# signature fields that say where or how fast a number was computed, not how: COMET's batch size
# and device, the side environment, the path of sacreBLEU's flores200 SentencePiece model (its
# tokenizer is named by tok:flores200); shown in the provenance, not compared
WHERE_NOT_HOW = ("batch", "device", "via", "spm")
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Difference:
    field: str  # e.g. "task version", "scorer", "num_fewshot", "chat template", "gen_kwargs temperature"
    a: str
    b: str

    def __str__(self) -> str:
        return f"{self.field} {self.a} vs {self.b}"


# ------------------------------------------------------------------ reading
def _file_docs(run) -> dict[str, dict]:
    """{task: the results document (one file) its result came from}, the newest file winning."""
    cached = getattr(run, "_comparability_docs", None)
    if cached is not None:
        return cached
    out: dict[str, dict] = {}
    for path in run.results_files:
        doc = read_results(path, [])  # a bad file is already a Problem of the run reader
        if doc is None:
            continue
        for task in list(doc.get("results") or {}) + list(doc.get("groups") or {}):
            out[task] = doc
    run._comparability_docs = out
    return out


def _short_hash(text: str, digits: int = 12) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:digits]


def _text(value) -> str:
    """A setting as text: numbers as floats (0 and 0.0 are one temperature), lists and objects as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(float(value)).removesuffix(".0")
    if isinstance(value, str):
        num = number(_maybe_number(value))
        return repr(num).removesuffix(".0") if num is not None else value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _maybe_number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _model_args(doc: dict) -> dict:
    args = (doc.get("config") or {}).get("model_args")
    if isinstance(args, dict):
        return args
    out = {}
    for part in str(args or "").split(","):
        if "=" in part:
            k, _, v = part.partition("=")
            out[k.strip()] = v.strip()
    return out


def _config(run, task: str) -> dict:
    cfg = (run.data.get("configs") or {}).get(task)
    return cfg if isinstance(cfg, dict) else {}


def _metadata(run, task: str) -> dict:
    meta = _config(run, task).get("metadata")
    return meta if isinstance(meta, dict) else {}


def metric_signatures(run, task: str) -> dict[str, str]:
    """{metric: signature} of a task's metrics (computed ones: a `Skip` is no signature), the
    judge's too (``judge/<protocol>``)."""
    sigs = _metadata(run, task).get("metric_signatures")
    out = {str(m): str(s) for m, s in (sigs.items() if isinstance(sigs, dict) else ()) if Skip.parse(s) is None}
    latest = {}
    for _, doc in getattr(run, "judge", []) or []:
        for proto, entry in (doc.tasks.get(task) or {}).items():
            latest[proto] = doc.signature(proto, entry)
    out.update({f"judge/{proto}": sig for proto, sig in latest.items()})
    return out


def _num_fewshot(run, task: str) -> int | None:
    value = _config(run, task).get("num_fewshot")
    if value is None:
        value = (run.data.get("n-shot") or {}).get(task)
    return int(value) if number(value) is not None else None


def _samples(doc_or_run_data: dict, task: str) -> int | None:
    n = (doc_or_run_data.get("n-samples") or {}).get(task)
    value = n.get("effective") if isinstance(n, dict) else None
    return int(value) if number(value) is not None else None


def _samples_with_sampling(gen: dict) -> bool:
    temperature = number(gen.get("temperature"))
    return gen.get("do_sample") is True or (temperature is not None and temperature > 0)


def task_settings(run, task: str) -> dict:
    """{field: value} of how a task's numbers were made in `run`, for the fields the run
    records (see the module's table). ``gen_kwargs`` is a dict of its output-changing keys;
    the ``<metric> signature`` fields are in `metric_signatures`."""
    doc = _file_docs(run).get(task, run.data)
    out: dict = {}
    versions = run.data.get("versions") or {}
    if versions.get(task) is not None:
        out["task version"] = str(versions[task])  # as recorded: 1.1, 2.0
    meta = _metadata(run, task)
    if meta.get("scorer"):
        out["scorer"] = str(meta["scorer"])
    shots = _num_fewshot(run, task)
    if shots is not None:
        out["num_fewshot"] = str(shots)
    chat_on = None
    if "chat_template" in doc:
        template = doc.get("chat_template")
        chat_on = template is not None
        if template is None:
            out["chat template"] = "off"
        else:
            sha = doc.get("chat_template_sha") or (_short_hash(template, 64) if template else None)
            out["chat template"] = f"on (sha {sha[:12]})" if sha else "on (applied by the server)"
    if "config" in doc:
        args = _model_args(doc)
        kwargs = {k: args[k] for k in TEMPLATE_KWARGS if k in args}
        out["template kwargs"] = ", ".join(f"{k}={_text(v)}" for k, v in kwargs.items()) or "none"
    if chat_on and shots and "fewshot_as_multiturn" in doc:
        out["fewshot_as_multiturn"] = _text(doc.get("fewshot_as_multiturn"))
    if "system_instruction" in doc or "system_instruction_sha" in doc:
        sha = doc.get("system_instruction_sha") or (
            _short_hash(doc["system_instruction"], 64) if doc.get("system_instruction") else None)
        out["system instruction"] = f"sha {sha[:12]}" if sha else "none"
    gen = _config(run, task).get("generation_kwargs")
    gen = gen if isinstance(gen, dict) else None
    if gen is not None:
        out["gen_kwargs"] = {k: _text(gen[k]) for k in OUTPUT_KWARGS if k in gen}
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    if shots and config.get("fewshot_seed", "absent") != "absent":
        out["fewshot seed"] = _text(config.get("fewshot_seed"))
    if gen is not None and _samples_with_sampling(gen):
        seeds = [config.get(k) for k in ("random_seed", "numpy_seed", "torch_seed") if k in config]
        if seeds:
            out["sampling seeds"] = "/".join(_text(s) for s in seeds)
    cfg = _config(run, task)
    if cfg.get("repeats") is not None:
        out["repeats"] = _text(cfg["repeats"]).removesuffix(".0")
    count = _samples(run.data, task)
    if count is not None:
        out["sample count"] = str(count)
    elif "limit" in config:
        out["limit"] = "none" if config.get("limit") is None else _text(config["limit"])
    hashes = run.data.get("task_hashes") or {}
    family = families.of_config(cfg)
    if isinstance(hashes.get(task), str) and hashes[task] and not (family and family.run_made_documents):
        out["task hash"] = hashes[task][:12]
    return out


def provenance(run, task: str) -> dict:
    """`task_settings`, the per-metric signatures and the lm-eval version (shown, never compared)."""
    doc = _file_docs(run).get(task, run.data)
    out = dict(task_settings(run, task))
    out.update({f"{metric} signature": sig for metric, sig in metric_signatures(run, task).items()})
    out["lm-eval version"] = str(doc.get("lm_eval_version") or NOT_RECORDED)
    return out


# ------------------------------------------------------------------ comparing
def _signature_difference(field: str, a: str | None, b: str | None) -> Difference:
    if a is None or b is None:
        return Difference(field, a or "none", b or "none")
    sa, sb = Signature.parse(a), Signature.parse(b)
    if sa.head and sb.head and sa.head[0] != sb.head[0]:  # another scorer altogether
        return Difference(field, Signature(sa.fields[:1]).format(), Signature(sb.fields[:1]).format())
    changes = sa.diff(sb)[:3]
    return Difference(field, "; ".join(f"{c.name}:{c.a if c.a is not None else 'absent'}" for c in changes),
                      "; ".join(f"{c.name}:{c.b if c.b is not None else 'absent'}" for c in changes))


def task_differences(run_a, task_a: str, run_b, task_b: str | None = None, *,
                     metrics: Iterable[str] | None = None) -> list[Difference]:
    """Fields that change outputs or scores where the two runs' task differs ([] = comparable).
    `metrics` (metric names, ``bleu``, ``judge/da``): the per-metric signatures compared, a
    signature only one run records counting as a difference (default: every metric both runs
    record: a metric one run lacks has no number to set side by side)."""
    task_b = task_a if task_b is None else task_b
    a, b = task_settings(run_a, task_a), task_settings(run_b, task_b)
    out: list[Difference] = []
    for field in dict.fromkeys([*a, *b]):
        va, vb = a.get(field), b.get(field)
        if field == "gen_kwargs":
            if va is None or vb is None:
                continue
            for key in dict.fromkeys([*va, *vb]):
                if va.get(key) != vb.get(key):
                    out.append(Difference(f"gen_kwargs {key}", va.get(key, "unset"), vb.get(key, "unset")))
            continue
        if field in SIGNATURE_FIELDS:
            if va != vb and (va is not None or vb is not None):
                out.append(_signature_difference(field, va, vb))
            continue
        if va is not None and vb is not None and va != vb:
            out.append(Difference(field, va, vb))
    sa, sb = metric_signatures(run_a, task_a), metric_signatures(run_b, task_b)
    wanted = None if metrics is None else set(metrics)
    for metric in dict.fromkeys([*sa, *sb]):
        if (metric not in wanted) if wanted is not None else (metric not in sa or metric not in sb):
            continue
        va, vb = (None if v is None else Signature.parse(v).without(*WHERE_NOT_HOW).format()
                  for v in (sa.get(metric), sb.get(metric)))
        if va != vb:
            out.append(_signature_difference(f"{metric} signature", va, vb))
    return out


def differences_text(diffs: Iterable[Difference]) -> str:
    return "; ".join(dict.fromkeys(str(d) for d in diffs))


def summary_text(per_task: list[list[Difference]]) -> str:
    """What differs across several tasks (a family's languages): a field with one pair of values
    once, a field whose values differ per task (the task hash) as ``<field> differs in k tasks``."""
    fields: dict[str, set] = {}
    counts: dict[str, int] = {}
    for diffs in per_task:
        for d in diffs:
            fields.setdefault(d.field, set()).add((d.a, d.b))
            counts[d.field] = counts.get(d.field, 0) + 1
    parts = []
    for field, pairs in fields.items():
        if len(pairs) == 1:
            (a, b), = pairs
            parts.append(str(Difference(field, a, b)))
        else:
            parts.append(f"{field} differs in {counts[field]} tasks")
    return "; ".join(parts)


# ------------------------------------------------------------------ columns
def _compact(field: str, value) -> str:
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    value = str(value)
    return value if len(value) <= 32 and field not in ("scorer",) else "#" + _short_hash(value, 8)


_COMPACT_NAMES = {"task version": "version", "num_fewshot": "fewshot", "chat template": "chat",
                  "template kwargs": "template-kwargs", "fewshot_as_multiturn": "multiturn",
                  "system instruction": "system", "gen_kwargs": "gen", "fewshot seed": "fewshot-seed",
                  "sampling seeds": "seeds", "sample count": "n"}


def column_signature(run, tasks: Iterable[str], metric: str) -> str:
    """How a leaderboard column's value was made in `run`: the comparability fields of the
    tasks behind it (one task, or the rows of a family mean) for the metric, compact (long
    values as ``#<sha-256 prefix>``); a field the tasks disagree on is one hash of their values.
    Equal strings: the values may share a column. lm-eval's task hash is left out (it exists
    only with ``--log_samples``; `compare` and the report check it)."""
    per_task = []
    for task in sorted(set(tasks)):
        fields = {k: v for k, v in task_settings(run, task).items() if k != "task hash"}
        sig = metric_signatures(run, task).get(metric)
        if sig is not None:
            fields[f"{metric} signature"] = Signature.parse(sig).without(*WHERE_NOT_HOW).format()
        per_task.append(fields)
    names = list(dict.fromkeys(k for fields in per_task for k in fields))
    parts = []
    for name in names:
        values = [json.dumps(f.get(name), sort_keys=True, ensure_ascii=False) for f in per_task]
        if len(set(values)) == 1:
            value = per_task[0].get(name)
            parts.append((_COMPACT_NAMES.get(name, name.replace(" ", "-")), _compact(name, value)))
        else:
            parts.append((_COMPACT_NAMES.get(name, name.replace(" ", "-")), "#" + _short_hash("\n".join(values), 8)))
    return str(Signature.of(*parts))
