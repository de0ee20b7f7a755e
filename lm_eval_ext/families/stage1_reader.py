"""The stage-1 run a self-translate stage 2 reads (`self_translate`): ``LM_EVAL_EXT_SELF_TRANSLATE_FROM``
names a folder (an ``--output_path`` or run folder) or one stage-1 results file; the stage-1
samples log is the one written with its results file (`run_folder.paired_samples`), of one model
(`model_identity`): a folder holding stage 1 of several models is refused, naming their results
files. What a stage-2 result records of it (`STAGE1_RECORD`): the results file and log, its model
identity and a hash of the translations read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lm_eval_ext import model_identity
from lm_eval_ext.families.base import DataNotFoundError
from lm_eval_ext.formats import run_folder

SETTING = "LM_EVAL_EXT_SELF_TRANSLATE_FROM"
STAGE1_RECORD = "self_translate_stage1"  # configs.<stage-2 task>.metadata: the stage 1 it read
_CHECKPOINT_FACTS = ("model", "model_args", "model_sha", "model_revision")


class SelfTranslateError(DataNotFoundError):
    """A stage-2 task whose stage-1 run is missing, incomplete or made from other data
    (names the stage-2 task and the stage-1 folder or file)."""


def setting_path(task: str, wanted: str) -> Path:
    value = os.environ.get(SETTING, "").strip()
    if not value:
        raise SelfTranslateError(
            f"task {task} answers the model's own English translations from a stage-1 run: run "
            f"{wanted} first (lm_eval ... --log_samples --output_path RUN1) and set "
            f"{SETTING}=RUN1 (or use `lm-eval-ext self-translate`, which runs both stages)")
    path = Path(value).expanduser()
    if not path.is_dir() and not path.is_file():
        raise SelfTranslateError(f"task {task}: {SETTING}={path} is not a folder or a results file (expected the "
                                 f"--output_path of a stage-1 run of {wanted}, or its "
                                 "results_<date>.json)")
    return path


@dataclass(frozen=True)
class Stage1Log:
    """The stage-1 samples log a stage-2 task reads, with the results file written with it."""

    model: str  # the model as its results file records it
    folder: Path
    results: Path
    samples: Path
    identity: model_identity.ModelIdentity
    config: dict  # the results file's config (model, model args, checkpoint facts)


def stage1_logs(path: Path, wanted: str) -> tuple[list[Stage1Log], list[str], list]:
    """(the stage-1 logs of task `wanted` under `path` (a folder: the newest per folder and model;
    a results file: its own), the stage-1 tasks logged there, the problems met), read with the
    ground-floor run-folder format."""
    problems: list = []
    found: dict[tuple, Stage1Log] = {}
    logged: set[str] = set()
    any_results = False
    listing = [(path.parent, [path])] if path.is_file() else run_folder.find_results(path, problems)
    for sub, results_files in listing:
        for results in results_files:  # oldest first: the newest of a model wins
            doc = run_folder.read_results(results, problems)
            if doc is None:
                continue
            any_results = True
            logs = run_folder.paired_samples(results, doc, [])
            logged.update(t for t in logs if "_self_translate_stage1_" in t)
            log_file = logs.get(wanted)
            if log_file is None:
                continue
            ident = model_identity.of_results(doc, sub.name)
            cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
            found[(sub, ident.key)] = Stage1Log(ident.name, sub, results, log_file, ident, cfg)
    return list(found.values()), sorted(logged), (problems if not any_results else [])


def stage1_run(task: str, source: str, wanted: str) -> Stage1Log:
    """The log of stage-1 task `wanted` (of family `source`) in the folder or results file of
    `SETTING`; SelfTranslateError naming the stage-2 task and the setting when it is not there."""
    path = setting_path(task, wanted)
    holders, stage1, problems = stage1_logs(path, wanted)
    if len(holders) == 1:
        return holders[0]
    where = f"{SETTING}={path}"
    if len(holders) > 1:
        raise SelfTranslateError(
            f"task {task}: {where} holds stage-1 samples of {wanted} from {len(holders)} models "
            f"({'; '.join(f'{h.model} [{h.identity.describe()}] in {h.results}' for h in holders)}); point it at "
            "one of those results files")
    if stage1:
        other = sorted({t.split("_self_translate_stage1_")[0] for t in stage1} - {source})
        has = f"it has stage-1 samples of {', '.join(stage1)}" + (
            f" (family {', '.join(other)}, not {source})" if other else "")
    elif not problems:
        has = "it has no stage-1 samples logs (was stage 1 run with --log_samples?)"
    else:
        has = "; ".join(str(p) for p in problems) or "no lm-eval results there"
    raise SelfTranslateError(f"task {task}: {where} has no samples log of {wanted}: {has}")


def translations_hash(translations: dict[str, str]) -> str:
    """SHA-256 of the translations a stage 2 read ({text_id: translation}, sorted)."""
    blob = json.dumps(sorted(translations.items()), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def stage1_record(stage1: Stage1Log, translations: dict[str, str]) -> dict:
    """What a stage-2 result records of the stage 1 it read (`STAGE1_RECORD`)."""
    return {"results": str(stage1.results), "samples": str(stage1.samples), "model_name": stage1.model,
            "config": {k: stage1.config[k] for k in _CHECKPOINT_FACTS if k in stage1.config},
            "model_identity": stage1.identity.key, "texts": len(translations),
            "translations_sha256": translations_hash(translations)}


def stage1_identity(record) -> model_identity.ModelIdentity | None:
    """The model identity of the stage 1 a stage-2 result recorded, None when it recorded none."""
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        return None
    return model_identity.of_results({"config": record["config"], "model_name": record.get("model_name")})
