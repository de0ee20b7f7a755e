"""``lm-eval-ext rescore RUN_DIR --metrics comet,bleurt``: neural metrics for a finished run.

For runs made where no GPU or checkpoint was available: reads the run's
results file and its FLORES samples logs (``--log_samples``), scores the logged
translations (``filtered_resps``, what BLEU was computed on) with the metrics
asked for (`lm_eval_ext.neural_metrics`, cache included), and writes a NEW
results file beside the old one: a copy of the newest ``results_<date>.json``
with the rescored task metrics, the group means recomputed the way the groups
define them (mean over their language tasks), the new signatures in each task's
``metadata.metric_signatures`` and an ``lm_eval_ext_rescore`` record. Existing
files are never modified; reports read the newer file as winning per task.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path

from lm_eval_ext import neural_metrics

RESULTS_RE = re.compile(r"^results_(?P<date>\d{4}-\d{2}-\d{2}T[0-9\-.]+)\.json$")
FILTER = "translation"


class RescoreError(RuntimeError):
    pass


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def latest_results(folder: Path) -> Path:
    files = sorted(p for p in folder.glob("results_*.json") if RESULTS_RE.match(p.name))
    if not files:
        raise RescoreError(f"{folder}: no results_<date>.json (not an lm-eval --output_path model folder?)")
    return files[-1]


def model_folders(run_dir: Path) -> list[Path]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RescoreError(f"{run_dir}: no such folder")
    folders = sorted({p.parent for p in run_dir.rglob("results_*.json") if RESULTS_RE.match(p.name)})
    if not folders:
        raise RescoreError(f"{run_dir}: no results_<date>.json found below it")
    return folders


def samples_file(folder: Path, task: str, stamp: str) -> Path:
    exact = folder / f"samples_{task}_{stamp}.jsonl"
    if exact.is_file():
        return exact
    found = sorted(folder.glob(f"samples_{task}_*.jsonl"))
    if not found:
        raise RescoreError(
            f"task {task}: no samples_{task}_*.jsonl in {folder}; rescoring needs a run made with --log_samples"
        )
    return found[-1]


def triples_of(samples: list[dict], path: Path) -> list[tuple[str, str, str]]:
    out = []
    for s in samples:
        if s.get("filter", FILTER) != FILTER:
            continue
        doc, resps = s.get("doc") or {}, s.get("filtered_resps")
        if not isinstance(resps, list) or not resps or not {"source", "reference"} <= set(doc):
            raise RescoreError(f"{path}: doc {s.get('doc_id')} lacks doc.source/doc.reference/filtered_resps")
        out.append((doc["source"], str(resps[0]), doc["reference"]))
    if not out:
        raise RescoreError(f"{path}: no samples of filter {FILTER!r}")
    return out


def _leaves(name: str, subtasks: dict) -> list[str]:
    out = []
    for child in subtasks.get(name, []):
        out.extend(_leaves(child, subtasks) if child in subtasks else [child])
    return out


def rescore_folder(folder: Path, metrics: list[str]) -> Path:
    source = latest_results(folder)
    stamp = RESULTS_RE.match(source.name)["date"]
    doc = json.loads(source.read_text(encoding="utf-8"))
    configs, results = doc.get("configs") or {}, doc.get("results") or {}
    tasks = [t for t, c in configs.items() if ((c or {}).get("dataset_kwargs") or {}).get("family") == "flores"]
    if not tasks:
        raise RescoreError(f"{source}: no FLORES task in this run; nothing to rescore")
    for task in tasks:
        path = samples_file(folder, task, stamp)
        triples = triples_of(_jsonl(path), path)
        meta = dict(configs[task].get("metadata") or {})
        sigs = dict(meta.get("metric_signatures") or {})
        skipped = dict(meta.get("skipped_metrics") or {})
        for metric in metrics:
            items = triples if metric == "comet" else [("", h, r) for _, h, r in triples]
            value = neural_metrics.system_score(metric, items)
            results.setdefault(task, {})[f"{metric},{FILTER}"] = value
            results[task][f"{metric}_stderr,{FILTER}"] = "N/A"
            sigs[metric] = neural_metrics.signature(metric)
            if math.isnan(value):
                skipped[metric] = neural_metrics.SKIPPED.get(metric, "not computed")
            else:
                skipped.pop(metric, None)
        meta.update(metric_signatures=sigs, skipped_metrics=skipped)
        configs[task]["metadata"] = meta
    subtasks = doc.get("group_subtasks") or {}
    for group in subtasks:
        leaves = [t for t in _leaves(group, subtasks) if t in results]
        for metric in metrics:
            key = f"{metric},{FILTER}"
            values = [results[t][key] for t in leaves if isinstance(results[t].get(key), (int, float))]
            if values and group in results and key in results[group]:
                results[group][key] = sum(values) / len(values)  # NaN stays NaN: one skipped language shows
    doc["lm_eval_ext_rescore"] = {
        "rescored_from": source.name,
        "metrics": metrics,
        "tasks": tasks,
        "at": datetime.now().isoformat(timespec="seconds"),
    }
    new_stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")
    if new_stamp <= stamp:  # keep the rescored file the newest
        new_stamp = stamp + "1"
    out = folder / f"results_{new_stamp}.json"
    if out.exists():
        raise RescoreError(f"{out} exists; not overwriting")
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return out


def run_rescore(args) -> int:
    import sys

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in neural_metrics.METRICS]
    if unknown or not metrics:
        print(f"lm-eval-ext rescore: error: unknown metric(s) {unknown}; choose from "
              f"{','.join(neural_metrics.METRICS)}", file=sys.stderr)
        return 2
    try:
        written = [rescore_folder(f, metrics) for f in model_folders(Path(args.run_dir))]
    except RescoreError as err:
        print(f"lm-eval-ext rescore: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    for metric in metrics:
        print(f"{metric}: {neural_metrics.signature(metric)}")
    return 1 if any(m in neural_metrics.SKIPPED for m in metrics) else 0
