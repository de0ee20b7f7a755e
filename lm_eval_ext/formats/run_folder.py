"""An lm-eval run folder, as files: what lm-eval 0.4.x and 0.5 write into ``--output_path``.

- ``results_<date>.json``: one per ``lm_eval`` invocation (`RESULTS_RE`); its shape is
  checked by `shape_problem` and read by `read_results`;
- ``samples_<task>_<date>.jsonl`` (``--log_samples``): one per task and invocation, named
  with the date of the results file written by the same invocation (`SAMPLES_RE`, `stamp`):
  `paired_samples` pairs them with that file, `task_hash` checks a log against the hash lm-eval
  recorded in it (``task_hashes``); read line by line by `read_samples`, per-item scores by
  `item_scores`.

Read as one shape whichever version wrote them (`normalize`): lm-eval 0.5 keys a task inside a
group ``<group>::<task>`` (results, configs, samples file names), read as ``<task>``; and a
metric lm-eval-ext renamed (`LEGACY_METRICS`: the QA ``f1``, now ``f1_qa``) is read under its
name now, so runs made before and after a rename share their columns.

Family-agnostic and ground floor: the run model built from these files (`reporting.runs`),
self-translate's stage-1 reader and the judge all read through here. Bad input never
raises: whatever cannot be used becomes a `Problem` (file + what is wrong), the rest is used.

Folders are scanned following symbolic links (a run folder linked into a scanned folder
is read), each folder once (a link loop or a second link to a folder is named and skipped);
only regular files are opened (`open_regular`): a FIFO or a device named like a results
file would block a reader forever, so it is named and skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from lm_eval_ext.compat import base_task
from lm_eval_ext.missing import applies

DATE_PATTERN = r"\d{4}-\d{2}-\d{2}T[0-9\-.]+"
RESULTS_RE = re.compile(rf"^results_(?P<date>{DATE_PATTERN})\.json$")
SAMPLES_RE = re.compile(rf"^samples_(?P<task>.+)_(?P<date>{DATE_PATTERN})\.jsonl$")

# top-level fields of a results file and the JSON type they must have when present
_OBJECT_FIELDS = ("results", "configs", "versions", "groups", "group_subtasks", "higher_is_better", "n-samples",
                  "config")
_OBJECT_VALUED = ("configs", "higher_is_better", "n-samples")  # {task: object}
_MAX_TIMESTAMP = 253402300799  # 9999-12-31: what a date can be shown as
_TASK_KEYED = ("results", "configs", "versions", "n-samples", "higher_is_better", "groups", "task_hashes")

# metric names lm-eval-ext changed: {name now: (old name, the families whose tasks wrote the old
# one)}. The QA F1 was `f1` until lm-eval 0.5 registered `f1` for multiple-choice tasks; PolyMath's
# accuracy was `acc` (registered for loglikelihood and multiple choice on every lm-eval version).
LEGACY_METRICS = {"f1_qa": ("f1", ("xquad", "mlqa", "xquad_self_translate")),
                  "acc_math": ("acc", ("polymath", "polymath_self_translate"))}


@dataclass(frozen=True)
class Problem:
    """Something in the input that could not be used (and was skipped)."""

    where: str  # a file or folder
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def number(value) -> float | None:
    """A JSON number as float (booleans are not numbers); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def stamp(path: Path) -> str | None:
    """The date in a results or samples file name (shared by the files of one invocation)."""
    m = RESULTS_RE.match(path.name) or SAMPLES_RE.match(path.name)
    return m["date"] if m else None


# ------------------------------------------------------------------ regular files
class NotRegularFile(OSError):
    """A path that is not a regular file (a FIFO, a device, a socket, a folder)."""


def file_kind(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def open_regular(path: Path):
    """`path` opened for binary reading when it is a regular file; NotRegularFile otherwise.
    Opened without blocking and checked on the open descriptor, so a FIFO never blocks the
    reader and nothing can be swapped in between the check and the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"is {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ------------------------------------------------------------------ results files
def _metric_keys_without_filter(results: dict) -> bool:
    """Every metric key lacks lm-eval 0.4's ``,<filter>``: an lm-eval 0.3 ``results.json``."""
    keys = [k for entry in results.values() if isinstance(entry, dict) for k in entry
            if k != "alias" and not k.endswith("_stderr")]
    return bool(keys) and not any("," in k for k in keys)


def shape_problem(data) -> str | None:
    """What makes a parsed results document unusable (valid JSON of the wrong shape), or None."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return "no 'results' object: not an lm-eval results file"
    if _metric_keys_without_filter(data["results"]):
        return ("metric keys without ',<filter>' (an lm-eval 0.3 results file?): not supported, only the "
                "results files of lm-eval 0.4.x are read")
    for key in _OBJECT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' is {type_name(data[key])}, not an object"
    for key in _OBJECT_VALUED:
        for name, value in (data.get(key) or {}).items():
            if value is not None and not isinstance(value, dict):
                return f"'{key}.{name}' is {type_name(value)}, not an object"
    for name, value in (data.get("group_subtasks") or {}).items():
        if not isinstance(value, list):
            return f"'group_subtasks.{name}' is {type_name(value)}, not a list"
    date = data.get("date")
    if date is not None:
        if isinstance(date, bool) or not isinstance(date, (int, float, str)):
            return f"'date' is {type_name(date)}, not a timestamp"
        if isinstance(date, (int, float)) and not (math.isfinite(date) and 0 <= date <= _MAX_TIMESTAMP):
            return f"'date' is {date!r}, not a timestamp"
    return None


def read_results(path: Path, problems: list[Problem]) -> dict | None:
    """A results document, or None (and a Problem) when it cannot be read or has the wrong shape."""
    try:
        with open_regular(path) as fh:
            data = json.loads(fh.read().decode("utf-8"))
    except json.JSONDecodeError as err:
        problems.append(Problem(str(path), f"not valid JSON, truncated or corrupt ({err.msg} at line {err.lineno}); file skipped"))
        return None
    except NotRegularFile as err:
        problems.append(Problem(str(path), f"{err}; file skipped"))
        return None
    except (OSError, UnicodeDecodeError, RecursionError) as err:
        problems.append(Problem(str(path), f"cannot be read ({err}); file skipped"))
        return None
    why = shape_problem(data)
    if why:
        problems.append(Problem(str(path), f"{why}; file skipped"))
        return None
    return normalize(data)


def normalize(data: dict) -> dict:
    """A results document in the one shape the readers know (a new dict when anything changes):
    task keys without lm-eval 0.5's ``<group>::`` prefix, and `LEGACY_METRICS` under their names
    now (tasks of the families that wrote them, and groups made of such tasks only)."""
    configs = data.get("configs") or {}
    names = {key: base_task(key, configs.get(key)) for section in _TASK_KEYED
             for key in (data.get(section) or {}) if "::" in key}
    for group, subtasks in (data.get("group_subtasks") or {}).items():
        names.update({t: base_task(t, configs.get(t)) for t in subtasks if isinstance(t, str) and "::" in t})
    if names:
        data = dict(data)
        for section in _TASK_KEYED:
            if isinstance(data.get(section), dict):
                data[section] = {names.get(k, k): v for k, v in data[section].items()}
        if isinstance(data.get("group_subtasks"), dict):
            data["group_subtasks"] = {names.get(g, g): [names.get(t, t) for t in v]
                                      for g, v in data["group_subtasks"].items()}
    return _rename_legacy_metrics(data)


def _rename_legacy_metrics(data: dict) -> dict:
    configs = data.get("configs") or {}
    subtasks = data.get("group_subtasks") or {}

    def family(task: str) -> str | None:
        kwargs = (configs.get(task) or {}).get("dataset_kwargs") if isinstance(configs.get(task), dict) else None
        value = kwargs.get("family") if isinstance(kwargs, dict) else None
        return value if isinstance(value, str) else None

    def leaves(name: str, seen=()) -> list[str]:
        if name in seen or not isinstance(subtasks.get(name), list):
            return [name]
        return [leaf for child in subtasks[name] for leaf in leaves(child, (*seen, name))]

    renames: dict[str, dict[str, str]] = {}  # task or group -> {old metric: new}
    for new, (old, fams) in LEGACY_METRICS.items():
        for name in {**(data.get("results") or {}), **(data.get("groups") or {})}:
            found = leaves(name)
            if found and all(family(leaf) in fams for leaf in found):
                renames.setdefault(name, {})[old] = new
    if not renames:
        return data

    def entry(name: str, values):
        rename = renames.get(name)
        if not rename or not isinstance(values, dict):
            return values
        out = {}
        for key, value in values.items():
            metric, comma, filt = key.partition(",")
            base, stderr = (metric[: -len("_stderr")], "_stderr") if metric.endswith("_stderr") else (metric, "")
            new = f"{rename[base]}{stderr}{comma}{filt}" if base in rename else key
            if new != key and new in values:
                new = key  # both present: the current name wins, the old one stays as it is
            out[new] = value
        return out

    data = dict(data)
    for section in ("results", "groups", "higher_is_better"):
        if isinstance(data.get(section), dict):
            data[section] = {name: entry(name, values) for name, values in data[section].items()}
    return data


def find_results(path: Path, problems: list[Problem]) -> list[tuple[Path, list[Path]]]:
    """(folder, its results files oldest first) for a results file, a run folder or an
    ``--output_path`` folder with one sub-folder per model (symbolic links followed)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as err:
        problems.append(Problem(str(path), f"a link that points nowhere ({err.strerror or err})"
                                if path.is_symlink() else "no such folder"))
        return []
    if stat.S_ISREG(mode):
        return [(path.parent, [path])]
    if not stat.S_ISDIR(mode):
        problems.append(Problem(str(path), f"is {file_kind(mode)}, not a results file or a folder; skipped"))
        return []
    by_dir: dict[Path, list[Path]] = {}
    for f in walk(path, problems):
        if RESULTS_RE.match(f.name):
            by_dir.setdefault(f.parent, []).append(f)
    if not by_dir:
        problems.append(Problem(str(path), "no results_*.json found (not an lm-eval --output_path folder?); folder skipped"))
        return []
    return [(d, sorted(fs, key=lambda p: p.name)) for d, fs in sorted(by_dir.items())]


def walk(root: Path, problems: list[Problem]):
    """The regular files under `root`, sorted folder by folder, following links to folders.
    Every folder is entered once (by its device and inode): a link loop or a second path to
    a folder already scanned is a Problem, as is a link that points nowhere, a folder that
    cannot be listed, and a non-regular file named like a results file."""
    entered: dict[tuple[int, int], Path] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
            inode = (info.st_dev, info.st_ino)
            if inode in entered:
                problems.append(Problem(str(folder), f"the folder {entered[inode]} again (through a symbolic link"
                                                     f"{', a loop' if _is_within(entered[inode], folder) else ''}); "
                                                     "scanned once, skipped here"))
                continue
            entered[inode] = folder
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            problems.append(Problem(str(folder), f"cannot be listed ({err.strerror or err}); folder skipped"))
            continue
        sub = []
        for entry in entries:
            p = Path(entry.path)
            try:
                mode = entry.stat(follow_symlinks=True).st_mode
            except OSError as err:
                if entry.is_symlink():
                    problems.append(Problem(str(p), f"a link that points nowhere ({err.strerror or err}); skipped"))
                continue
            if stat.S_ISDIR(mode):
                sub.append(p)
            elif stat.S_ISREG(mode):
                yield p
            elif RESULTS_RE.match(entry.name):  # samples logs: paired_samples names them
                problems.append(Problem(str(p), f"is {file_kind(mode)}, not a regular file; skipped"))
        stack.extend(reversed(sub))


def _is_within(folder: Path, path: Path) -> bool:
    """Whether `path` (a path through links) lies under `folder`: a link back up is a loop."""
    return folder in path.parents


def annotation(config) -> str | None:
    """``metadata.lm_eval_ext.annotation`` of a task config in a results file: ``ok`` when
    lm-eval-ext's results hook annotated the task, ``unavailable: <reason>`` when it did not;
    None for another task or a run made before the field existed."""
    meta = config.get("metadata") if isinstance(config, dict) else None
    ext = meta.get("lm_eval_ext") if isinstance(meta, dict) else None
    value = ext.get("annotation") if isinstance(ext, dict) else None
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------ samples logs
RESCORE_RECORD = "lm_eval_ext_rescore"  # what `lm-eval-ext rescore` adds to the results file it writes
_HASH_FIELDS = ("doc_hash", "prompt_hash", "target_hash")


def paired_samples(results: Path, doc: dict, problems: list[Problem]) -> dict[str, Path]:
    """{task: the samples log written by the invocation that wrote `results`}, by lm-eval's own
    naming: one invocation names its results file and its samples logs with one date
    (``EvaluationTracker.date_id``), so a log pairs with exactly one results file, never with
    "the newest in the folder". A results file written by ``lm-eval-ext rescore`` has no logs of
    its own: its record names the logs its numbers were computed from. A log of the invocation
    for a task the results file does not hold is a Problem."""
    folder = results.parent
    record = doc.get(RESCORE_RECORD)
    if isinstance(record, dict):
        return _rescored_samples(results, record, doc, problems)
    date = stamp(results)
    if date is None:
        return {}
    tasks = set(doc.get("results") or {}) | set(doc.get("configs") or {})
    out: dict[str, Path] = {}
    for f in sorted(folder.glob(f"samples_*_{date}.jsonl")):
        m = SAMPLES_RE.match(f.name)
        if not m or m["date"] != date:
            continue
        try:
            mode = f.stat().st_mode
        except OSError:
            mode = None
        if mode is None or not stat.S_ISREG(mode):  # a FIFO or device would block a reader
            what = f"is {file_kind(mode)}, not a regular file" if mode is not None else "cannot be read"
            problems.append(Problem(str(f), f"{what}; samples skipped"))
            continue
        task = base_task(m["task"])  # lm-eval 0.5 names a task inside a group "<group>::<task>"
        if task not in tasks:
            problems.append(Problem(str(f), f"samples for task {task!r}, which is not in the run's results "
                                            f"({results.name}, written with it); samples skipped"))
            continue
        out[task] = f
    return out


def _rescored_samples(results: Path, record: dict, doc: dict, problems: list[Problem]) -> dict[str, Path]:
    """The logs a rescored results file names (``samples``: {task: log}); a record written before
    it named them: for each task the log of the newest results file it was rescored from."""
    folder = results.parent
    named = record.get("samples")
    out: dict[str, Path] = {}
    if isinstance(named, dict):
        for task, name in named.items():
            path = folder / Path(str(name)).name
            if path.is_file():
                out[str(task)] = path
            else:
                problems.append(Problem(str(results), f"task {task}: the samples log {name} its numbers were "
                                                      "computed from is not in the folder; per-item scores off"))
        return out
    sources = [stamp(Path(str(n))) for n in record.get("rescored_from") or [] if isinstance(n, str)]
    for task in doc.get("results") or {}:
        for date in reversed([d for d in sources if d]):
            path = folder / f"samples_{task}_{date}.jsonl"
            if path.is_file():
                out[task] = path
                break
    return out


def task_hash(lines: list[dict]) -> str | None:
    """lm-eval's hash of a task's logged samples (``EvaluationTracker.save_results_aggregated``:
    SHA-256 of the doc, prompt and target hashes of every line, in order), None when a line
    lacks them (an older lm-eval)."""
    parts = []
    for line in lines:
        values = [line.get(k) for k in _HASH_FIELDS]
        if not all(isinstance(v, str) for v in values):
            return None
        parts.append("".join(values))
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()


def read_samples(path: Path, problems: list[Problem] | None = None, limit: int | None = None) -> list[dict]:
    """The lines of a samples log. A line that is not UTF-8, not JSON or not an object (a
    log cut mid-line by a kill, a corrupt byte) is reported and skipped, never guessed at."""
    out = []
    bad: dict[str, list[int]] = {}
    try:
        fh = open_regular(path)
    except NotRegularFile as err:
        if problems is not None:
            problems.append(Problem(str(path), f"{err}; samples skipped"))
        return out
    except OSError as err:
        if problems is not None:
            problems.append(Problem(str(path), f"cannot be read ({err.strerror or err}); samples skipped"))
        return out
    with fh:
        for i, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                bad.setdefault("not UTF-8", []).append(i)
                continue
            except (json.JSONDecodeError, RecursionError):
                bad.setdefault("not valid JSON", []).append(i)
                continue
            if not isinstance(doc, dict):
                bad.setdefault("not a JSON object", []).append(i)
                continue
            out.append(doc)
            if limit is not None and len(out) >= limit:
                break
    if problems is not None:
        for what, lines in bad.items():
            problems.append(Problem(str(path), f"{len(lines)} line(s) are {what} (first: line {lines[0]}); "
                                               "those samples skipped"))
    return out


def first_response(value) -> str | None:
    """The first reply of a logged ``resps`` or ``filtered_resps``: lm-eval 0.4.x logs the filtered
    replies as ``[reply]``, 0.5 as ``[[reply]]`` (and ``resps`` as ``[[reply]]`` on both). None when
    there is no text."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def chat_messages(value) -> list[dict] | None:
    """A chat prompt as lm-eval logs it for chat-completions models (a list of {role, content},
    or a JSON string of one, alone in a list), else None."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if isinstance(value, str):
        if not value.lstrip().startswith("[{"):
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return value
    return None


def prompt_parts(sample: dict) -> list[str]:
    """The request arguments of a logged sample as text, the prompt first (a chat prompt as
    ``[role]`` + content per message), then any other text argument (a loglikelihood
    continuation); generation settings left out."""
    args = sample.get("arguments")
    if isinstance(args, dict):  # lm-eval >= 0.4.9: {"gen_args_0": {"arg_0": prompt, "arg_1": gen_kwargs}}
        first = next(iter(args.values()), {})
        values = list(first.values()) if isinstance(first, dict) else [first]
    elif isinstance(args, list) and args:  # older: [[prompt, gen_kwargs]]
        values = args[0] if isinstance(args[0], list) else [args[0]]
    else:
        return []
    out = []
    for v in values:
        messages = chat_messages(v)
        if messages is not None:
            out.append("\n\n".join(f"[{m.get('role', '?')}]\n{m['content']}" for m in messages))
        elif isinstance(v, str):
            out.append(v)
    return out


def item_scores(lines: list[dict], metric_key: str, every_item: bool = False, key=None) -> dict | None:
    """{doc_id: score} of one metric key (``exact_match,strict-match``) in logged samples:
    the one reader of per-item scores (report CIs, compare's paired bootstrap, the judge's
    reference metric and judge cells). None when the metric has no numeric per-item value
    (corpus-level metrics), or with `every_item` when an item lacks it; otherwise an item
    without the key or with None is left out (exact_match_non_en is absent on English
    items; an undecidable reply's lang_fidelity is None, an older run's absent). `key` (a
    line -> key function) keys the items otherwise than by doc_id (a family's item key)."""
    metric_name, _, filt = metric_key.partition(",")
    old_name = LEGACY_METRICS.get(metric_name, (None,))[0]  # a log written before the rename
    out: dict = {}
    for doc in lines:
        if doc.get("filter", "none") != filt:
            continue
        raw = doc.get(metric_name, doc.get(old_name) if old_name else None)
        if not applies(raw):  # the one "does not apply" rule (missing.py); an absent key too
            if every_item:
                return None
            continue
        value = number(raw)
        if value is None:  # not a number: a corpus-level metric's tuple
            return None
        doc_id = doc.get("doc_id", len(out)) if key is None else key(doc)
        if isinstance(doc_id, (int, str)):
            out[doc_id] = value
    return out or None
