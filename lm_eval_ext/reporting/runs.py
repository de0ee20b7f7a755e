"""The run model: what the reports, the leaderboard, the regression board and the judge see
of lm-eval run folders.

A *run* is one model configuration's results in one folder: its ``results_<date>.json`` files
(several are merged, the newest result of a task winning), the samples logs written with them and
the judge files beside them, and the ``latent_language_<date>.json`` files of the same model (a
folder holding only those is a run too). A path given by the user may be a run folder itself, an
``--output_path`` folder with one sub-folder per model (each becomes a run), or a single results
file. The files are read through `lm_eval_ext.formats` (the run folder and the judge files);
which row a task's numbers belong to is `reporting.rows`; which runs are the same model is
`lm_eval_ext.model_identity`.

Every number becomes a `Cell` (task, family, language row, metric key, score). Bad input never
stops the whole job: every file or item that cannot be used becomes a `Problem` that the caller
prints and lists in its output, and everything valid is still used.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from lm_eval_ext import families, model_identity
from lm_eval_ext.formats import judge_file, latent_language
from lm_eval_ext.formats.run_folder import (RESULTS_RE, Problem, find_results, find_samples, item_scores, merge_results,
                                            number, read_results, read_samples, stamp)
from lm_eval_ext.reporting.rows import split_lang_suffix, task_languages

_NOT_METRICS = {"alias", "name", "sample_len", "sample_count", "samples", " "}


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
    latent: list = field(default_factory=list)  # [(path, doc)] of latent_language_*.json, oldest first
    # (family, langs, metric key) -> why the value is undefined (NaN in the results): the row
    # exists, only this metric has no number there
    undefined: dict = field(default_factory=dict)

    @property
    def config(self) -> dict:
        return self.data.get("config") or {}

    @property
    def model(self) -> str:
        return model_identity.model_name(self.data, fallback=self.path.name)

    @property
    def model_type(self) -> str:
        return str(self.config.get("model") or "")

    @property
    def model_args(self) -> str:
        return model_identity.canonical_model_args(self.config.get("model_args"))

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
def load_run(folder: Path, files: list[Path], problems: list[Problem]) -> list[Run]:
    """The runs of one folder. Results files of one model configuration (model type, model,
    model args) are merged, the newest winning per task; files of different configurations
    (two lm_eval invocations into one --output_path) are kept apart as separate runs."""
    configs: dict[tuple, list[tuple[Path, dict]]] = {}
    for f in files:
        doc = read_results(f, problems)
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
    runs = [Run(path=folder, results_files=[f for f, _ in fs], data=merge_results([d for _, d in fs]))
            for fs in configs.values()]
    for run in runs:
        _index(run, problems)
    _find_samples(runs, problems)
    _add_judge(runs, problems)
    return runs


def _judge_owner(doc, runs: list[Run]) -> Run | None:
    if len(runs) == 1:
        return runs[0]
    prov = doc.run
    for run in runs:
        if prov.get("run_id") == run.identity or set(prov.get("results_files") or ()) & {p.name for p in run.results_files}:
            return run
    return None


def _add_judge(runs: list[Run], problems: list[Problem]) -> None:
    """Judge results (``lm-eval-ext judge``) become cells ``judge/<protocol>`` of the
    judged task's family and language row; the newest file wins per task and protocol."""
    folder = runs[0].path
    for regex, attr in ((judge_file.RESULTS_RE, "judge"), (judge_file.PAIRWISE_RE, "pairwise")):
        for f in sorted((f for f in folder.glob("judge_*.json") if regex.match(f.name)), key=lambda p: p.name):
            doc = judge_file.read(f, problems)
            if doc is None:
                continue
            owner = _judge_owner(doc, runs)
            if owner is None:
                problems.append(Problem(str(f), "the folder holds several runs and this file names none of them; skipped"))
                continue
            getattr(owner, attr).append((f, doc))
    for run in runs:
        _judge_cells(run, problems)


def _judge_cells(run: Run, problems: list[Problem]) -> None:
    latest: dict[tuple[str, str], tuple[Path, judge_file.JudgeEntry]] = {}
    for f, doc in run.judge:
        for task, per in doc.tasks.items():
            for proto, entry in per.items():
                latest[(task, proto)] = (f, entry)
    for (task, proto), (f, entry) in sorted(latest.items()):
        info = run.tasks.get(task)
        if info is None:
            problems.append(Problem(str(f), f"judged task {task!r} is not in the run's results; skipped"))
            continue
        mean = number(entry.mean)
        if mean is None:
            problems.append(Problem(str(f), f"task {task}: no item was judged ({entry.parse_failures} parse "
                                            f"failure(s), {entry.request_failures} failed); no judge/{proto} cell"))
            continue
        ci = (float(entry.ci95[0]), float(entry.ci95[1])) if entry.ci95 else None
        run.cells.append(Cell(task, info.family, info.langs, f"judge/{proto},none",
                              Score(mean, number(entry.stderr), entry.n), None, ci))


LATENT_METRIC = "english_share,none"


def add_latent(runs: list[Run], folder: Path, files: list[Path], problems: list[Problem]) -> list[Run]:
    """Latent-language files (``lm-eval-ext latent-language``) join the run of their model (model
    type, model, model args) in their folder, else make a run of their own; each language pair
    becomes a cell ``latent_<task>`` / its language row / ``english_share`` (the newest file wins
    per task and pair), the file's signature the task's scorer."""
    out = list(runs)
    for f in files:
        doc = latent_language.read(f, problems)
        if doc is None:
            continue
        key = (doc.model_type, doc.model_name, doc.model_args)
        owner = next((r for r in out if (r.model_type, r.model, r.model_args) == key), None)
        if owner is None:
            owner = Run(path=folder, results_files=[f], data={
                "config": {"model": doc.model_type, "model_args": doc.model.get("model_args")},
                "model_name": doc.model_name, "results": {}, "date": doc.date,
                "lm_eval_ext_version": doc.lm_eval_ext_version})
            out.append(owner)
        owner.latent.append((f, doc))
    for run in out:
        latest = {}
        for f, doc in run.latent:
            for pair in doc.pairs.values():
                latest[(doc.task, pair.key)] = (doc, pair)
        for (task, _), (doc, pair) in sorted(latest.items()):
            name = f"latent_{task}"
            config = {"task": name, "metadata": {"scorer": doc.signature}}
            run.tasks[name] = TaskInfo(name=name, family=name, langs=(), version=str(doc.format_version),
                                       scorer=doc.signature, config=config, higher_is_better={"english_share": True})
            run.data["versions"] = {**(run.data.get("versions") or {}), name: str(doc.format_version)}
            run.data["configs"] = {**(run.data.get("configs") or {}), name: config}
            share = pair.english_share
            if share is None:
                run.undefined[(name, pair.langs, LATENT_METRIC)] = "no mass on either word in the middle layers"
                continue
            run.cells.append(Cell(name, name, pair.langs, LATENT_METRIC,
                                  Score(float(share["value"]), number(share.get("se")), pair.n), None,
                                  (float(share["ci"][0]), float(share["ci"][1]))))
    return out


def load_runs(paths, problems: list[Problem] | None = None) -> tuple[list[Run], list[Problem]]:
    problems = [] if problems is None else problems
    runs: list[Run] = []
    for p in paths:
        latent = latent_language.find(Path(p))
        missing: list[Problem] = []
        found = [] if Path(p).is_file() and latent else find_results(Path(p), missing)
        problems += missing if found or not latent else []  # a folder of latent-language files only is fine
        for folder, files in found:
            runs.extend(add_latent(load_run(folder, files, problems), folder, latent.pop(folder, []), problems))
        for folder, files in latent.items():
            runs.extend(add_latent([], folder, files, problems))
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
            num = number(value)
            if num is None or math.isnan(num) or math.isinf(num):
                why = _undefined_reason(entry, metric_name, filt)
                problems.append(Problem(where, f"task {name}: metric {key} is {value!r} (not a finite number"
                                               f"{': ' + why if why else ''}); cell skipped"))
                if langs:
                    run.undefined[(family, langs, key)] = why or f"{value!r} in the results"
                continue
            se = number(entry.get(f"{metric_name}_stderr,{filt}"))
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
    if metric == "lang_fidelity" and number(entry.get(f"lang_undecidable,{filt}")) == 1.0:
        return "all replies undecidable (too short to identify their language: lang_undecidable = 1)"
    return ""


def _find_samples(runs: list[Run], problems: list[Problem]) -> None:
    """Each run gets the newest samples log per task. In a folder holding several runs, a log
    belongs to the run whose results file has its date (lm-eval names both with one date)."""
    folder = runs[0].path
    stamps = {id(r): {stamp(f) for f in r.results_files} for r in runs}
    all_stamps = set().union(*stamps.values())
    for task, fs in find_samples(folder).items():
        owners = [r for r in runs if task in r.tasks]
        if not owners:
            problems.append(Problem(str(fs[-1]), f"samples for task {task!r}, which is not in the run's results; samples skipped"))
            continue
        for run in owners:
            mine = [f for f in fs if len(runs) == 1 or stamp(f) in stamps[id(run)]
                    or (stamp(f) not in all_stamps and len(owners) == 1)]
            if mine:
                run.samples[task] = mine[-1]


def judge_item_scores(run: Run, task: str, metric_key: str) -> dict | None:
    """{doc_id: judge score} of the parsed items behind a ``judge/<protocol>`` cell (newest judge file)."""
    proto = metric_key.partition(",")[0].removeprefix("judge/")
    for f, doc in reversed(run.judge):
        entry = doc.tasks.get(task, {}).get(proto)
        if entry is None or not isinstance(entry.samples_file, str):
            continue
        path = run.path / Path(entry.samples_file).name
        if not path.is_file():
            return None
        parsed = [line for line in read_samples(path) if line.get("protocol") == proto and line.get("status") == "ok"
                  and number(line.get("score")) is not None and isinstance(line.get("doc_id"), (int, str))]
        return item_scores(parsed, "score,none")
    return None
