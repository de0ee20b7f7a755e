"""Reading lm-eval output folders (``results_*.json``, ``samples_<task>_*.jsonl``)."""

from __future__ import annotations

import json
import math
from pathlib import Path


class ResultsError(ValueError):
    pass


def results_files(run_dir: Path) -> list[Path]:
    """All results files below a run folder, oldest first."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        return [run_dir]
    files = sorted(run_dir.rglob("results_*.json"), key=lambda p: p.name)
    if not files:
        raise ResultsError(f"{run_dir}: no results_*.json found (is this an lm-eval --output_path folder?)")
    return files


def load_results(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or "results" not in data:
        raise ResultsError(f"{path}: no 'results' key; not an lm-eval results file")
    return data


def latest_results(run_dir: Path) -> tuple[Path, dict]:
    path = results_files(run_dir)[-1]
    return path, load_results(path)


def metric(entry: dict, name: str, filter_name: str):
    """A metric value of one task/group entry, or None when absent or not a number."""
    value = entry.get(f"{name},{filter_name}")
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None
