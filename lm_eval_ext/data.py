"""Benchmark data: from the Hugging Face hub by default, from a folder when told.

The one setting: ``LM_EVAL_EXT_DATA_DIR``. Unset, tasks load their hub
datasets. Set to a folder laid out like ``shared/data`` (``mgsm/``, ``xquad/``,
``mlqa/``, ``flores/`` with JSONL files carrying the hub's field names), the
same tasks read those files instead. A missing file raises `DataNotFoundError`
naming the path and the task; the CLI checks this before loading a model.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path

DATA_DIR_ENV = "LM_EVAL_EXT_DATA_DIR"

# family name -> module that implements `required_files(**kw)`, `load_local(root, **kw)`,
# `load_hub(**kw)`
FAMILIES = {
    "mgsm": "lm_eval_ext.mgsm",
    "xquad": "lm_eval_ext.qa_xquad",
    "mlqa": "lm_eval_ext.qa_mlqa",
    "flores": "lm_eval_ext.flores",
    "xlc": "lm_eval_ext.xlc",
}


class DataNotFoundError(FileNotFoundError):
    pass


class DataFormatError(ValueError):
    pass


def local_root() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def source_label() -> str:
    root = local_root()
    return f"local:{root}" if root else "hub"


def _family(name: str):
    try:
        return importlib.import_module(FAMILIES[name])
    except KeyError:
        raise DataNotFoundError(f"unknown task family {name!r}; known: {', '.join(FAMILIES)}") from None


def check_available(task: str | None = None, family: str = "", **kwargs) -> None:
    """Raise DataNotFoundError when local data is selected and a file is missing.

    Hub data cannot be checked without a download; it fails at load time with
    the hub's own message."""
    root = local_root()
    if root is None:
        return
    if not root.is_dir():
        raise DataNotFoundError(
            f"{DATA_DIR_ENV}={root} is not a directory (task {task or family})"
        )
    for rel in _family(family).required_files(**kwargs):
        path = root / rel
        if not path.is_file():
            raise DataNotFoundError(
                f"task {task or family}: data file {path} not found "
                f"({DATA_DIR_ENV}={root}; expected layout: {rel})"
            )


def load(family: str, task: str | None = None, **kwargs):
    """The `custom_dataset` entry point of every task: returns a DatasetDict."""
    module = _family(family)
    root = local_root()
    if root is None:
        return module.load_hub(**kwargs)
    check_available(task=task, family=family, **kwargs)
    return module.load_local(root, **kwargs)


def read_jsonl(path: Path, required: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a JSONL file; every defect is a DataFormatError naming the file, line and field:
    a line that is not UTF-8 or not a JSON object, a missing field, a `numeric` field that is
    not a number."""
    rows = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                                      f"{err.start + 1})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataFormatError(f"{path}:{lineno}: not a JSON object")
            missing = [f for f in required if f not in row]
            if missing:
                raise DataFormatError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            for f in numeric:
                if not is_number(row[f]):
                    raise DataFormatError(f"{path}:{lineno}: field {f} is {row[f]!r}, not a number")
            rows.append(row)
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return rows


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
