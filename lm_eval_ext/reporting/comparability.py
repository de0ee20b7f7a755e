"""Whether two runs' results of a task were produced the same way (so one may stand for the
other: the newer result of one model replaces the older, a delta means something).

Minimal: task version, scorer signature (``metadata.scorer``), few-shot count, whether a chat
template was applied, and the generation settings of the task config. The full list of what
makes results comparable is the comparability check's (reports/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    field: str  # e.g. "task version", "scorer", "num_fewshot", "chat template", "gen_kwargs"
    a: str
    b: str

    def __str__(self) -> str:
        return f"{self.field} {self.a} vs {self.b}"


def _text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _fields(run, task: str) -> dict[str, str]:
    data = run.data
    info = run.tasks.get(task)
    cfg = info.config if info is not None else ((data.get("configs") or {}).get(task) or {})
    n_shot = (data.get("n-shot") or {}).get(task)
    if n_shot is None and isinstance(cfg, dict):
        n_shot = cfg.get("num_fewshot")
    template = data.get("chat_template_sha") or ("applied" if data.get("chat_template") else None)
    return {
        "task version": _text(info.version if info is not None else (data.get("versions") or {}).get(task)),
        "scorer": _text(info.scorer if info is not None else None),
        "num_fewshot": _text(n_shot),
        "chat template": _text(template),
        "gen_kwargs": _text(cfg.get("generation_kwargs") if isinstance(cfg, dict) else None),
    }


def task_differences(run_a, task_a: str, run_b, task_b: str | None = None) -> list[Difference]:
    """Fields that change outputs or scores where the two runs' task differs ([] = comparable)."""
    a, b = _fields(run_a, task_a), _fields(run_b, task_b or task_a)
    return [Difference(name, a[name], b[name]) for name in a if a[name] != b[name]]
