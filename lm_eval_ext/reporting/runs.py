"""Run folders of lm-eval 0.4.x, read for reports, the leaderboard and the
regression board.

A *run* is one folder holding ``results_<date>.json`` files (and, with
``--log_samples``, ``samples_<task>_<date>.jsonl``). lm-eval writes one results
file per invocation; several in one folder are merged, the newest result of a
task winning. A path given by the user may be a run folder itself, an
``--output_path`` folder with one sub-folder per model (each becomes a run), or
a single results file.

Bad input never stops the whole job: every file or item that cannot be used
becomes a `Problem` (file + what is wrong) that the caller prints and lists in
its output, and everything valid is still used.

Languages of a task: for our tasks (``dataset_kwargs.family`` names a family of
the registry, `lm_eval_ext.families`) the dataset_kwargs keys that family names
(``lang``; ``ctx_lang``/``q_lang``; ``src_lang``/``tgt_lang``). For any other
lm-eval task, the generic rules (`generic_task_languages`): the config's
``dataset_kwargs`` (``lang``, or a pair such as ``ctx_lang``/``q_lang`` or
``src_lang``/``tgt_lang``); else the task name's suffix read with the language
registry: ``_<src>-<tgt>`` (ISO 639-1 or FLORES-200 codes, e.g.
``flores_deu_Latn-eng_Latn``), ``_<ctx>_<q>`` (``xquad_de_en``, ``mlqa_ar_zh``)
or ``_<lang>`` (``mgsm_native_cot_de``). A task whose metrics carry language
suffixes instead (a consistency task reporting ``agreement_de_en``) is split per
metric the same way. See reports/README.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from lm_eval_ext import families, languages

_DATE = r"\d{4}-\d{2}-\d{2}T[0-9\-.]+"
RESULTS_RE = re.compile(rf"^results_(?P<date>{_DATE})\.json$")
SAMPLES_RE = re.compile(rf"^samples_(?P<task>.+)_(?P<date>{_DATE})\.jsonl$")
_FLORES = r"[a-z]{3}_[A-Z][a-z]{3}"
_CODE = rf"(?:{_FLORES}|[a-z]{{2,3}})"
_PAIR_DASH_RE = re.compile(rf"^(?P<base>.+?)_(?P<a>{_CODE})-(?P<b>{_CODE})$")
_FLORES_SUFFIX_RE = re.compile(rf"^(?P<base>.+?)_(?P<a>{_FLORES})$")
_PAIR_KEYS = (
    ("ctx_lang", "q_lang"),
    ("context_lang", "question_lang"),
    ("src_lang", "tgt_lang"),
    ("source_lang", "target_lang"),
    ("src", "tgt"),
    ("lang1", "lang2"),
)
_NOT_METRICS = {"alias", "name", "sample_len", "sample_count", "samples", " "}


@dataclass(frozen=True)
class Problem:
    """Something in the input that could not be used (and was skipped)."""

    where: str  # a file or folder
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Score:
    value: float
    stderr: float | None = None
    n: int | None = None


@dataclass
class TaskInfo:
    name: str
    family: str
    langs: tuple[str, ...]  # (), (lang,) or (a, b): context/source first
    version: str | None = None
    scorer: str | None = None
    alias: str | None = None
    is_group: bool = False
    higher_is_better: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)  # the task's config as the results record it

    @property
    def ours(self):
        """The registry family of one of our tasks (`families.of_config`), else None."""
        return families.of_config(self.config)


@dataclass
class Cell:
    """One number of a run: a family, a language row, a metric key."""

    task: str  # the lm-eval task (or group) it comes from
    family: str
    langs: tuple[str, ...]
    metric: str  # "exact_match,strict-match"
    score: Score
    sample_metric: str | None = None  # per-sample field in the samples log, if any
    ci: tuple[float, float] | None = None  # a 95% CI computed elsewhere (judge results)


def canonical_code(code: str) -> str:
    """ISO 639-1 code of a registry language given by ISO or FLORES code; others unchanged."""
    try:
        return languages.get(code).code
    except KeyError:
        return code


def known(code: str) -> bool:
    try:
        languages.get(code)
        return True
    except KeyError:
        return False


def split_lang_suffix(name: str) -> tuple[str, tuple[str, ...]]:
    """``xquad_de_en`` -> (``xquad``, (de, en)); ``mgsm_direct_bn`` -> (``mgsm_direct``, (bn,));
    ``flores_deu_Latn-eng_Latn`` -> (``flores``, (de, en)); no suffix -> (name, ())."""
    m = _PAIR_DASH_RE.match(name)
    if m and (known(m["a"]) and known(m["b"]) or ("_" in m["a"] and "_" in m["b"])):
        return m["base"], (canonical_code(m["a"]), canonical_code(m["b"]))
    m = _FLORES_SUFFIX_RE.match(name)
    if m:
        return m["base"], (canonical_code(m["a"]),)
    parts = name.split("_")
    if len(parts) >= 3 and parts[-1] in languages.LANGUAGES and parts[-2] in languages.LANGUAGES:
        return "_".join(parts[:-2]), (parts[-2], parts[-1])
    if len(parts) >= 2 and parts[-1] in languages.LANGUAGES:
        return "_".join(parts[:-1]), (parts[-1],)
    return name, ()


def task_languages(name: str, config: dict | None) -> tuple[str, tuple[str, ...]]:
    """(family, languages) of a task: of ours the languages from the keys its family names,
    of any other task by the generic rules. The family (the report's table) is the task
    name without its language suffix (mgsm_native_cot_de -> mgsm_native_cot)."""
    family = families.of_config(config)
    if family is not None:
        codes = family.task_languages((config or {}).get("dataset_kwargs") or {})
        if codes is not None:
            base, suffix_langs = split_lang_suffix(name)
            return (base if suffix_langs else name), tuple(canonical_code(c) for c in codes)
    return generic_task_languages(name, config)


def generic_task_languages(name: str, config: dict | None) -> tuple[str, tuple[str, ...]]:
    """(family, languages) of a task that is not ours (or a config of ours without its
    family's keys): its config's language keys, else its name."""
    base, suffix_langs = split_lang_suffix(name)
    kw = (config or {}).get("dataset_kwargs") or {}
    if isinstance(kw, dict):
        for a, b in _PAIR_KEYS:
            if isinstance(kw.get(a), str) and isinstance(kw.get(b), str):
                pair = (canonical_code(kw[a]), canonical_code(kw[b]))
                if pair[0] == pair[1] and len(suffix_langs) == 1:
                    return base, pair[:1]  # xquad_de: a monolingual task, not a diagonal cell
                return (base if suffix_langs else name), pair
        if isinstance(kw.get("lang"), str):
            return (base if suffix_langs else name), (canonical_code(kw["lang"]),)
    return base, suffix_langs


def lang_label(code: str) -> str:
    """``Deutsch (de)``; unknown codes as themselves."""
    try:
        lang = languages.get(code)
    except KeyError:
        return code
    return f"{lang.native_name} ({lang.code})"


def row_label(langs: tuple[str, ...]) -> str:
    if not langs:
        return "—"
    return " → ".join(lang_label(c) for c in langs)


def row_key(langs: tuple[str, ...]) -> str:
    """``de``, ``de-en``; ``-`` for a task without a language (leaderboard columns)."""
    return "-".join(langs) if langs else "-"


def tier_of(langs: tuple[str, ...]) -> str:
    """high / low / unknown: a row is low-resource when any non-English language in it is."""
    tiers = []
    for c in langs:
        try:
            tiers.append(languages.get(c).tier)
        except KeyError:
            tiers.append("unknown")
    if not tiers:
        return "unknown"
    if languages.LOW in tiers:
        return languages.LOW
    if "unknown" in tiers:
        return "unknown"
    return languages.HIGH


def is_english(langs: tuple[str, ...]) -> bool:
    return bool(langs) and all(c == "en" for c in langs)


def lang_sort_key(langs: tuple[str, ...]):
    """Rows in tier order (high, low, unknown), then by code."""
    order = {languages.HIGH: 0, languages.LOW: 1}
    return (order.get(tier_of(langs), 2), langs)


def _num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def canonical_model_args(args) -> str:
    """``k=v,k=v`` sorted by key, from a dict (lm-eval >= 0.4.9) or a string."""
    if args is None:
        return ""
    if isinstance(args, dict):
        items = args.items()
    else:
        items = []
        for part in str(args).split(","):
            if part.strip():
                k, _, v = part.partition("=")
                items.append((k.strip(), v.strip()))
    return ",".join(f"{k}={v}" for k, v in sorted(items, key=lambda kv: str(kv[0])))


@dataclass
class Run:
    path: Path  # the run folder
    results_files: list[Path]
    data: dict  # the merged results document
    label: str = ""
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    samples: dict[str, Path] = field(default_factory=dict)  # task -> newest samples file
    judge: list = field(default_factory=list)  # [(path, doc)] of judge_results_*.json, oldest first
    pairwise: list = field(default_factory=list)  # [(path, doc)] of judge_pairwise_*.json, oldest first
    # (family, langs, metric key) -> why the value is undefined (NaN in the results): the row
    # exists, only this metric has no number there
    undefined: dict = field(default_factory=dict)

    @property
    def config(self) -> dict:
        return self.data.get("config") or {}

    @property
    def model(self) -> str:
        cfg = self.config
        args = cfg.get("model_args")
        name = self.data.get("model_name")
        if not name and isinstance(args, dict):
            name = args.get("pretrained") or args.get("model")
        if not name and isinstance(args, str):
            m = re.search(r"(?:pretrained|model)=([^,]+)", args)
            name = m.group(1) if m else None
        return str(name or cfg.get("model") or self.path.name)

    @property
    def model_type(self) -> str:
        return str(self.config.get("model") or "")

    @property
    def model_args(self) -> str:
        return canonical_model_args(self.config.get("model_args"))

    @property
    def task_versions(self) -> dict[str, str]:
        return {k: str(v) for k, v in sorted((self.data.get("versions") or {}).items())}

    @property
    def identity(self) -> str:
        """Stable run id: model + model args + task versions."""
        key = json.dumps([self.model_type, self.model, self.model_args, self.task_versions], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    @property
    def date(self) -> str:
        from datetime import datetime, timezone

        d = self.data.get("date")
        if isinstance(d, (int, float)):
            return datetime.fromtimestamp(d, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        m = RESULTS_RE.match(self.results_files[-1].name)
        return m["date"] if m else ""

    @property
    def git_hash(self) -> str:
        return str(self.data.get("git_hash") or self.data.get("upper_git_hash") or "")

    @property
    def lm_eval_version(self) -> str:
        return str(self.data.get("lm_eval_version") or "")

    @property
    def ext_version(self) -> str:
        """Our package version, as recorded in the run, if it was (else empty)."""
        for cfg in (self.data.get("configs") or {}).values():
            meta = (cfg or {}).get("metadata") or {}
            if isinstance(meta, dict) and meta.get("lm_eval_ext_version"):
                return str(meta["lm_eval_ext_version"])
        return str(self.data.get("lm_eval_ext_version") or "")

    def scorers(self) -> dict[str, str]:
        out = {}
        for task, cfg in sorted((self.data.get("configs") or {}).items()):
            meta = (cfg or {}).get("metadata") or {}
            if isinstance(meta, dict) and meta.get("scorer"):
                out[task] = str(meta["scorer"])
        return out


# --------------------------------------------------------------------- loading
# top-level fields of a results file and the JSON type they must have when present
_OBJECT_FIELDS = ("results", "configs", "versions", "groups", "group_subtasks", "higher_is_better", "n-samples",
                  "config")
_OBJECT_VALUED = ("configs", "higher_is_better", "n-samples")  # {task: object}
_MAX_TIMESTAMP = 253402300799  # 9999-12-31: what a date can be shown as


def _type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def shape_problem(data) -> str | None:
    """What makes a parsed results document unusable (valid JSON of the wrong shape), or None."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return "no 'results' object: not an lm-eval results file"
    for key in _OBJECT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' is {_type_name(data[key])}, not an object"
    for key in _OBJECT_VALUED:
        for name, value in (data.get(key) or {}).items():
            if value is not None and not isinstance(value, dict):
                return f"'{key}.{name}' is {_type_name(value)}, not an object"
    for name, value in (data.get("group_subtasks") or {}).items():
        if not isinstance(value, list):
            return f"'group_subtasks.{name}' is {_type_name(value)}, not a list"
    date = data.get("date")
    if date is not None:
        if isinstance(date, bool) or not isinstance(date, (int, float, str)):
            return f"'date' is {_type_name(date)}, not a timestamp"
        if isinstance(date, (int, float)) and not (math.isfinite(date) and 0 <= date <= _MAX_TIMESTAMP):
            return f"'date' is {date!r}, not a timestamp"
    return None


def _load_json(path: Path, problems: list[Problem]) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        problems.append(Problem(str(path), f"not valid JSON, truncated or corrupt ({err.msg} at line {err.lineno}); file skipped"))
        return None
    except (OSError, UnicodeDecodeError, RecursionError) as err:
        problems.append(Problem(str(path), f"cannot be read ({err}); file skipped"))
        return None
    why = shape_problem(data)
    if why:
        problems.append(Problem(str(path), f"{why}; file skipped"))
        return None
    return data


def _run_folders(path: Path, problems: list[Problem]) -> list[tuple[Path, list[Path]]]:
    if path.is_file():
        return [(path.parent, [path])]
    if not path.is_dir():
        problems.append(Problem(str(path), "no such folder"))
        return []
    by_dir: dict[Path, list[Path]] = {}
    for f in path.rglob("results_*.json"):
        if RESULTS_RE.match(f.name):
            by_dir.setdefault(f.parent, []).append(f)
    if not by_dir:
        problems.append(Problem(str(path), "no results_*.json found (not an lm-eval --output_path folder?); folder skipped"))
        return []
    return [(d, sorted(fs, key=lambda p: p.name)) for d, fs in sorted(by_dir.items())]


def _merge(docs: list[dict]) -> dict:
    """Merge results files of one folder, the later file winning per task."""
    if len(docs) == 1:
        return docs[0]
    merged: dict = {}
    for doc in docs:
        for key, value in doc.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def _stamp(path: Path) -> str | None:
    m = RESULTS_RE.match(path.name) or SAMPLES_RE.match(path.name)
    return m["date"] if m else None


def load_run(folder: Path, files: list[Path], problems: list[Problem]) -> list[Run]:
    """The runs of one folder. Results files of one model configuration (model type, model,
    model args) are merged, the newest winning per task; files of different configurations
    (two lm_eval invocations into one --output_path) are kept apart as separate runs."""
    configs: dict[tuple, list[tuple[Path, dict]]] = {}
    for f in files:
        doc = _load_json(f, problems)
        if doc is not None:
            probe = Run(path=folder, results_files=[f], data=doc)
            configs.setdefault((probe.model_type, probe.model, probe.model_args), []).append((f, doc))
    if not configs:
        problems.append(Problem(str(folder), "no readable results file; run skipped"))
        return []
    if len(configs) > 1:
        described = "; ".join(f"{m} [{a or 'no model args'}] in {', '.join(f.name for f, _ in fs)}"
                              for (_, m, a), fs in configs.items())
        problems.append(Problem(str(folder), f"results of {len(configs)} different model configurations in one "
                                             f"folder ({described}); kept apart as separate runs"))
    runs = [Run(path=folder, results_files=[f for f, _ in fs], data=_merge([d for _, d in fs]))
            for fs in configs.values()]
    for run in runs:
        _index(run, problems)
    _find_samples(runs, problems)
    _add_judge(runs, problems)
    return runs


JUDGE_RESULTS_RE = re.compile(rf"^judge_results_(?P<date>{_DATE})\.json$")
JUDGE_PAIRWISE_RE = re.compile(rf"^judge_pairwise_(?P<date>{_DATE})\.json$")


def _is_num(x, allow_none=True) -> bool:
    return (x is None and allow_none) or (_num(x) is not None and math.isfinite(x))


def _is_ci(x) -> bool:
    return x is None or (isinstance(x, list) and len(x) == 2 and all(_is_num(v, False) for v in x))


def _judge_entry_problem(entry) -> str | None:
    if not isinstance(entry, dict):
        return f"is {_type_name(entry)}, not an object"
    for key in ("mean", "stderr", "win_rate"):
        if not _is_num(entry.get(key)):
            return f"'{key}' is {entry.get(key)!r}, not a number"
    for key in ("ci95", "win_rate_ci95"):
        if not _is_ci(entry.get(key)):
            return f"'{key}' is {entry.get(key)!r}, not a pair of numbers"
    for key in ("n", "n_items", "parse_failures", "request_failures", "not_judged", "invalid_items", "win", "tie",
                "loss", "order_disagreements"):
        v = entry.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            return f"'{key}' is {v!r}, not a count"
    for key in ("agreement",):
        v = entry.get(key)
        if v is not None and (not isinstance(v, dict) or not _is_num(v.get("rho"))):
            return f"'{key}' is {v!r}, not an object with a numeric rho"
    if not isinstance(entry.get("parse_failure_doc_ids", []), list):
        return "'parse_failure_doc_ids' is not a list"
    return None


def _clean_judge_doc(f: Path, doc, section: str, depth: int, problems: list[Problem]) -> dict | None:
    """The judge document with its entries of the wrong shape reported and dropped."""
    if not isinstance(doc, dict) or not isinstance(doc.get(section), dict):
        problems.append(Problem(str(f), f"no '{section}' object: not a judge results file; skipped"))
        return None
    kept: dict = {}
    for name, per in doc[section].items():
        entries = {"": per} if depth == 1 else per
        if not isinstance(entries, dict):
            problems.append(Problem(str(f), f"{section}.{name} is {_type_name(per)}, not an object; skipped"))
            continue
        for proto, entry in entries.items():
            why = _judge_entry_problem(entry)
            if why:
                problems.append(Problem(str(f), f"{section}.{name}{'.' + proto if proto else ''} {why}; skipped"))
            elif depth == 1:
                kept[name] = entry
            else:
                kept.setdefault(name, {})[proto] = entry
    for key in ("provenance", "run_a", "run_b", "requests"):
        if not isinstance(doc.get(key, {}), dict):
            doc = {**doc, key: {}}
    return {**doc, section: kept}


def _judge_owner(f: Path, doc: dict, runs: list[Run]) -> Run | None:
    if len(runs) == 1:
        return runs[0]
    prov = (doc.get("provenance") or {}).get("run") or {}
    if not isinstance(prov, dict):
        return None
    for run in runs:
        if prov.get("run_id") == run.identity or set(prov.get("results_files") or ()) & {p.name for p in run.results_files}:
            return run
    return None


def _add_judge(runs: list[Run], problems: list[Problem]) -> None:
    """Judge results (``lm-eval-ext judge``) become cells ``judge/<protocol>`` of the
    judged task's family and language row; the newest file wins per task and protocol."""
    folder = runs[0].path
    for regex, attr, section, depth in ((JUDGE_RESULTS_RE, "judge", "tasks", 2),
                                        (JUDGE_PAIRWISE_RE, "pairwise", "languages", 1)):
        for f in sorted((f for f in folder.glob("judge_*.json") if regex.match(f.name)), key=lambda p: p.name):
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
                problems.append(Problem(str(f), f"judge results cannot be read ({err}); skipped"))
                continue
            doc = _clean_judge_doc(f, doc, section, depth, problems)
            if doc is None:
                continue
            if attr == "pairwise" and not isinstance(doc.get("tasks", {}), dict):
                doc["tasks"] = {}
            owner = _judge_owner(f, doc, runs)
            if owner is None:
                problems.append(Problem(str(f), "the folder holds several runs and this file names none of them; skipped"))
                continue
            getattr(owner, attr).append((f, doc))
    for run in runs:
        _judge_cells(run, problems)


def _judge_cells(run: Run, problems: list[Problem]) -> None:
    latest: dict[tuple[str, str], tuple[Path, dict]] = {}
    for f, doc in run.judge:
        for task, per in doc["tasks"].items():
            for proto, entry in per.items():
                latest[(task, proto)] = (f, entry)
    for (task, proto), (f, entry) in sorted(latest.items()):
        info = run.tasks.get(task)
        if info is None:
            problems.append(Problem(str(f), f"judged task {task!r} is not in the run's results; skipped"))
            continue
        mean = _num(entry.get("mean"))
        if mean is None:
            problems.append(Problem(str(f), f"task {task}: no item was judged ({entry.get('parse_failures', 0)} parse "
                                            f"failure(s), {entry.get('request_failures', 0)} failed); no judge/{proto} cell"))
            continue
        ci = entry.get("ci95")
        ci = (float(ci[0]), float(ci[1])) if ci else None
        run.cells.append(Cell(task, info.family, info.langs, f"judge/{proto},none",
                              Score(mean, _num(entry.get("stderr")), entry.get("n")), None, ci))


def load_runs(paths, problems: list[Problem] | None = None) -> tuple[list[Run], list[Problem]]:
    problems = [] if problems is None else problems
    runs: list[Run] = []
    for p in paths:
        for folder, files in _run_folders(Path(p), problems):
            runs.extend(load_run(folder, files, problems))
    _label(runs)
    return runs, problems


def same_identity(runs: list[Run]) -> list[tuple[Run, Run]]:
    """(older, newer) for every run whose identity (model, model args, task versions) a newer
    run also has; newer = later results file date (input order breaks ties)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.identity, []).append(run)
    out = []
    for same in groups.values():
        if len(same) > 1:
            newest = max(reversed(same), key=lambda r: r.results_files[-1].name)
            out += [(r, newest) for r in same if r is not newest]
    return out


def _label(runs: list[Run]) -> None:
    """Column labels: the model name as recorded (never cut at a '/'); when two runs share
    it, the nearest folder level where their paths differ is added, else a number."""
    for run in runs:
        run.label = run.model
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)
    for label, same in groups.items():
        if len(same) < 2:
            continue
        # the nearest folder level (from the run folder upwards) where their paths differ
        parts = [list(reversed(r.path.resolve().parts)) for r in same]
        depth = max(len(p) for p in parts)
        for level in range(depth):
            names = [p[level] if level < len(p) else "" for p in parts]
            if len(set(names)) == len(names):
                for r, n in zip(same, names):
                    r.label = f"{label} ({n})"
                break
        else:
            for k, r in enumerate(same, 1):
                r.label = f"{label} #{k}"


def _metric_keys(entry: dict) -> Iterator[tuple[str, str, str]]:
    """(metric key, metric name, filter) of a results entry, stderr keys excluded."""
    for key in entry:
        if key in _NOT_METRICS or "," not in key:
            continue
        name, _, filt = key.partition(",")
        if name.endswith("_stderr"):
            continue
        yield key, name, filt


def _index(run: Run, problems: list[Problem]) -> None:
    data = run.data
    configs = data.get("configs") or {}
    versions = data.get("versions") or {}
    hib = data.get("higher_is_better") or {}
    n_samples = data.get("n-samples") or {}
    groups = data.get("groups") or {}
    where = str(run.results_files[-1])
    entries = [(name, entry, False) for name, entry in (data.get("results") or {}).items()]
    entries += [(name, entry, True) for name, entry in groups.items()]
    seen_group_in_results = set()
    for name, entry, from_groups in entries:
        if not isinstance(entry, dict):
            problems.append(Problem(where, f"results entry {name!r} is not an object; skipped"))
            continue
        is_group = from_groups or name in groups or name in (data.get("group_subtasks") or {})
        if is_group:
            if name in seen_group_in_results:
                continue
            seen_group_in_results.add(name)
        cfg = configs.get(name) if isinstance(configs.get(name), dict) else None
        family, langs = task_languages(name, cfg)
        meta = (cfg or {}).get("metadata") or {}
        info = TaskInfo(
            name=name, family=family, langs=langs,
            version=None if versions.get(name) is None else str(versions.get(name)),
            scorer=str(meta["scorer"]) if isinstance(meta, dict) and meta.get("scorer") else None,
            alias=entry.get("alias"), is_group=is_group,
            higher_is_better=hib.get(name) or {}, config=cfg or {},
        )
        run.tasks[name] = info
        if is_group:
            continue  # group aggregates are read by the leaderboard from run.data directly
        n = (n_samples.get(name) or {}).get("effective") if isinstance(n_samples.get(name), dict) else None
        for key, metric_name, filt in _metric_keys(entry):
            value = entry[key]
            num = _num(value)
            if num is None or math.isnan(num) or math.isinf(num):
                why = _undefined_reason(entry, metric_name, filt)
                problems.append(Problem(where, f"task {name}: metric {key} is {value!r} (not a finite number"
                                               f"{': ' + why if why else ''}); cell skipped"))
                if langs:
                    run.undefined[(family, langs, key)] = why or f"{value!r} in the results"
                continue
            se = _num(entry.get(f"{metric_name}_stderr,{filt}"))
            if se is not None and (math.isnan(se) or math.isinf(se)):
                se = None
            score = Score(num, se, n if isinstance(n, int) else None)
            if langs:
                run.cells.append(Cell(name, family, langs, key, score, metric_name))
                continue
            # a task without a language: its metrics may carry the languages
            mbase, mlangs = split_lang_suffix(metric_name)
            if mlangs:
                run.cells.append(Cell(name, name, mlangs, f"{mbase},{filt}", score, None))
            else:
                run.cells.append(Cell(name, name, (), key, score, metric_name))


def _undefined_reason(entry: dict, metric: str, filt: str) -> str:
    """Why a metric has no value, when the results say (e.g. language fidelity of replies that
    were all too short to identify)."""
    if metric == "lang_fidelity" and _num(entry.get(f"lang_undecidable,{filt}")) == 1.0:
        return "all replies undecidable (too short to identify their language: lang_undecidable = 1)"
    return ""


def _find_samples(runs: list[Run], problems: list[Problem]) -> None:
    """Each run gets the newest samples log per task. In a folder holding several runs, a log
    belongs to the run whose results file has its date (lm-eval names both with one date)."""
    folder = runs[0].path
    stamps = {id(r): {_stamp(f) for f in r.results_files} for r in runs}
    all_stamps = set().union(*stamps.values())
    files: dict[str, list[Path]] = {}
    for f in folder.glob("samples_*.jsonl"):
        m = SAMPLES_RE.match(f.name)
        if m:
            files.setdefault(m["task"], []).append(f)
    for task, fs in sorted(files.items()):
        fs = sorted(fs, key=lambda p: p.name)
        owners = [r for r in runs if task in r.tasks]
        if not owners:
            problems.append(Problem(str(fs[-1]), f"samples for task {task!r}, which is not in the run's results; samples skipped"))
            continue
        for run in owners:
            mine = [f for f in fs if len(runs) == 1 or _stamp(f) in stamps[id(run)]
                    or (_stamp(f) not in all_stamps and len(owners) == 1)]
            if mine:
                run.samples[task] = mine[-1]


def judge_item_scores(run: Run, task: str, metric_key: str) -> dict | None:
    """{doc_id: judge score} of the parsed items behind a ``judge/<protocol>`` cell (newest judge file)."""
    proto = metric_key.partition(",")[0].removeprefix("judge/")
    for f, doc in reversed(run.judge):
        entry = ((doc.get("tasks") or {}).get(task) or {}).get(proto)
        if not isinstance(entry, dict) or not isinstance(entry.get("samples_file"), str):
            continue
        path = run.path / Path(entry["samples_file"]).name
        if not path.is_file():
            return None
        parsed = [line for line in read_samples(path) if line.get("protocol") == proto and line.get("status") == "ok"
                  and _num(line.get("score")) is not None and isinstance(line.get("doc_id"), (int, str))]
        return item_scores(parsed, "score,none")
    return None


def read_samples(path: Path, problems: list[Problem] | None = None, limit: int | None = None) -> list[dict]:
    """The lines of a samples log. A line that is not UTF-8, not JSON or not an object (a
    log cut mid-line by a kill, a corrupt byte) is reported and skipped, never guessed at."""
    out = []
    bad: dict[str, list[int]] = {}
    try:
        fh = open(path, "rb")
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


def item_scores(lines: list[dict], metric_key: str, every_item: bool = False) -> dict | None:
    """{doc_id: score} of one metric key (``exact_match,strict-match``) in logged samples:
    the one reader of per-item scores (report CIs, compare's paired bootstrap, the judge's
    reference metric and judge cells). None when the metric has no numeric per-item value
    (corpus-level metrics), or with `every_item` when an item lacks it; otherwise an item
    without the key or with None is left out (exact_match_non_en is absent on English
    items; an undecidable reply's lang_fidelity is None, an older run's absent)."""
    metric_name, _, filt = metric_key.partition(",")
    out: dict = {}
    for doc in lines:
        if doc.get("filter", "none") != filt:
            continue
        raw = doc.get(metric_name)
        if raw is None:  # not applicable to this item
            if every_item:
                return None
            continue
        value = _num(raw)
        if value is None:  # not a number: a corpus-level metric's tuple
            return None
        doc_id = doc.get("doc_id", len(out))
        if isinstance(doc_id, (int, str)):
            out[doc_id] = value
    return out or None
