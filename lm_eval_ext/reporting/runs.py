"""The run model: what the reports, the leaderboard, the regression board and the judge see
of lm-eval run folders.

A *run* is one model's results in one folder: its ``results_<date>.json`` files (one per
``lm_eval`` invocation), each with the samples logs written by the same invocation and the judge
files made from them. A path given by the user may be a run folder itself, an ``--output_path``
folder with one sub-folder per model (each becomes a run), or a single results file (that file
alone, with its own samples logs). The ``latent_language_<date>.json`` files of ``lm-eval-ext
latent-language`` are part of the run of their model in their folder (`latent_unit`; a folder
holding only those is a run too, and so is one such file given alone). The files are read
through `lm_eval_ext.formats`; which row a
task's numbers belong to is `reporting.rows`; which runs are the same model is
`lm_eval_ext.model_identity`.

Provenance by construction: every per-item number comes from the invocation that produced the
task's result. A samples log pairs with exactly one results file (`run_folder.paired_samples`:
lm-eval's shared date, a rescore's record), is checked against the task hash lm-eval recorded
(`sample_lines`), and a judge entry pairs with the run whose results and samples it judged; what
cannot be paired is off for that run, with a `Problem` saying why.

Results of one model (one `model_identity`) merge: per task the newest result wins, but only
over results produced the same way (`comparability.task_differences`: task version, scorer,
few-shot, template, generation settings); otherwise both are kept, as separate runs marked with
the difference. `load_runs` merges within a folder; `model_columns` across folders (the
report's columns, the leaderboard's rows).

Every number becomes a `Cell` (task, family, language row, metric key, score). Bad input never
stops the whole job: every file or item that cannot be used becomes a `Problem` that the caller
prints and lists in its output, and everything valid is still used.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from lm_eval_ext import families, missing, model_identity
from lm_eval_ext.families import stage1_reader
from lm_eval_ext.formats import judge_file, latent_language
from lm_eval_ext.formats.run_folder import (RESULTS_RE, SAMPLES_RE, Problem, annotation, find_results, item_scores,
                                            number, paired_samples, read_results, read_samples, stamp, task_hash)
from lm_eval_ext.model_identity import ModelIdentity
from lm_eval_ext.reporting import merge
from lm_eval_ext.reporting.rows import split_lang_suffix, task_languages

_NOT_METRICS = {"alias", "name", "sample_len", "sample_count", "samples", " "}


@dataclass(frozen=True)
class NotComputedNote(Problem):
    """Metrics of a run that its process could not compute (NaN, with the reason its results
    record in ``configs.<task>.metadata.skipped_metrics``, e.g. an extra not installed): one
    note per run and reason, shown as a note rather than a warning per cell."""


def kind_of(problem: Problem) -> str:
    """How a command prints a problem: "note" (metrics not computed, reason recorded) or "warning"."""
    return "note" if isinstance(problem, NotComputedNote) else "warning"


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

    @property
    def translated_by(self) -> ModelIdentity | None:
        """A self-translate stage 2: the model whose stage-1 translations it answered, as recorded."""
        meta = self.config.get("metadata") if isinstance(self.config.get("metadata"), dict) else {}
        return stage1_reader.stage1_identity(meta.get(stage1_reader.STAGE1_RECORD))


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
    path: Path  # the run folder (of a merged model column: the newest part's)
    results_files: list[Path]
    data: dict  # the results document (merged: per task the winner's entries)
    label: str = ""
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    samples: dict[str, Path] = field(default_factory=dict)  # task -> the samples log of the result shown
    sources: dict[str, Path] = field(default_factory=dict)  # task -> the results file the result comes from
    judge: list = field(default_factory=list)  # [(path, doc)] of judge_results_*.json, oldest first
    pairwise: list = field(default_factory=list)  # [(path, doc)] of judge_pairwise_*.json, oldest first
    # task (latent_<task>_<pair>) -> (path, LatentLanguageResults, PairResult) of latent_language_*.json
    latent: dict = field(default_factory=dict)
    # (family, langs, metric key) -> why the value is undefined (NaN in the results): the row
    # exists, only this metric has no number there
    undefined: dict = field(default_factory=dict)
    undefined_tasks: dict = field(default_factory=dict)  # the same keys -> the task
    parts: list = field(default_factory=list)  # the runs a merged model column is made of (else empty)
    note: str = ""  # why this run is kept apart from another run of the same model
    _identity: ModelIdentity | None = field(default=None, repr=False, compare=False)

    @property
    def config(self) -> dict:
        return self.data.get("config") or {}

    @property
    def model_identity(self) -> ModelIdentity:
        if self._identity is None:
            self._identity = model_identity.of_results(self.data, fallback=self.path.name)
        return self._identity

    @property
    def model(self) -> str:
        return self.model_identity.name

    @property
    def model_type(self) -> str:
        return str(self.config.get("model") or "")

    @property
    def model_args(self) -> str:
        """Every model argument as recorded (request-only settings included), one spelling."""
        return model_identity.canonical_model_args(self.config.get("model_args"))

    @property
    def answering(self) -> ModelIdentity | None:
        """The other model whose stage-1 translations this run's self-translate stage 2 answered
        (None: its own translations, or no stage 2)."""
        own = self.model_identity.key
        for info in self.tasks.values():
            other = info.translated_by
            if other is not None and other.key != own:
                return other
        return None

    @property
    def title(self) -> str:
        """The model, or ``<model> answering <other model>'s translations``."""
        other = self.answering
        return f"{self.model} answering {other.name}'s translations" if other is not None else self.model

    @property
    def folders(self) -> list[Path]:
        return list(dict.fromkeys(p.path for p in (self.parts or [self])))

    @property
    def task_versions(self) -> dict[str, str]:
        return {k: str(v) for k, v in sorted((self.data.get("versions") or {}).items())}

    @property
    def identity(self) -> str:
        """Stable run id: the model identity (and whose translations a stage 2 answered) and, per
        task, how its result was produced (version, few-shot, generation settings, scorer)."""
        other = self.answering
        produced = {t: _produced(self, t) for t in sorted(self.tasks)}
        key = json.dumps([self.model_identity.key, other.key if other else None, produced,
                          str(self.data.get("chat_template_sha") or "")], sort_keys=True, default=str)
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


def _produced(run: Run, task: str) -> list:
    info = run.tasks[task]
    cfg = info.config if isinstance(info.config, dict) else {}
    return [info.version, info.scorer, (run.data.get("n-shot") or {}).get(task, cfg.get("num_fewshot")),
            cfg.get("generation_kwargs")]


# --------------------------------------------------------------------- loading
def _unit(folder: Path, f: Path, doc: dict, problems: list[Problem]) -> list[Run]:
    """The run(s) of one results file (one lm_eval invocation) with its own samples logs; its
    stage-2 tasks that answered another model's translations apart from the rest."""
    run = Run(path=folder, results_files=[f], data=doc)
    _index(run, problems)
    _unannotated(run, problems)
    run.samples = paired_samples(f, doc, problems)
    run.sources = {task: f for task in run.tasks}
    origins: dict = {}
    for task, info in run.tasks.items():
        other = info.translated_by
        origins.setdefault(other.key if other is not None and other.key != run.model_identity.key else None,
                           []).append(task)
    if len(origins) == 1:
        return [run]
    return [merge.subset(run, set(tasks)) for tasks in origins.values()]


def load_run(folder: Path, files: list[Path], problems: list[Problem], whole_folder: bool = True,
             latent: list[Path] = ()) -> list[Run]:
    """The runs of one folder: each results file with its own samples logs, and each
    latent-language file (`latent`, `latent_unit`); those of one model merged
    (`merge.merge_same_model`); different models (two lm_eval invocations with other model args
    into one --output_path) kept apart as separate runs. `whole_folder`: `files` are all the folder's
    results files (not one given alone), so a samples log or judge file none of them explains is named."""
    units: list[Run] = []
    for f in files:
        doc = read_results(f, problems)
        if doc is not None:
            units += _unit(folder, f, doc, problems)
    units += [u for f in latent for u in latent_unit(folder, f, problems)]
    if not units:
        problems.append(Problem(str(folder), "no readable results file; run skipped"))
        return []
    models: dict[str, list[Run]] = {}
    for u in units:
        models.setdefault(u.model_identity.key, []).append(u)
    if len(models) > 1:
        described = "; ".join(f"{us[0].model} [{us[0].model_identity.describe()}] in "
                              f"{', '.join(f.name for u in us for f in u.results_files)}" for us in models.values())
        problems.append(Problem(str(folder), f"results of {len(models)} different model configurations in one "
                                             f"folder ({described}); kept apart as separate runs"))
    if whole_folder:
        _unpaired_logs(folder, units, problems)
    runs = merge.merge_same_model(units, problems)
    _add_judge(runs, problems, whole_folder)
    return runs


def _unpaired_logs(folder: Path, units: list[Run], problems: list[Problem]) -> None:
    """Samples logs whose invocation left no readable results file here: never lent to another run."""
    paired = {p for u in units for p in u.samples.values()}
    explained = {stamp(f) for u in units for f in u.results_files}
    orphans: dict[str, list[Path]] = {}
    for f in sorted(folder.glob("samples_*.jsonl")):
        m = SAMPLES_RE.match(f.name)
        if m and f not in paired and m["date"] not in explained:
            orphans.setdefault(m["date"], []).append(f)
    for date, logs in orphans.items():
        problems.append(Problem(str(logs[0]), f"{len(logs)} samples log(s) of the invocation of {date} "
                                              f"({', '.join(f.name for f in logs[:3])}{' …' if len(logs) > 3 else ''}) "
                                              f"have no readable results file of that invocation here "
                                              f"(results_{date}.json); their per-item scores are not used"))


def load_runs(paths, problems: list[Problem] | None = None) -> tuple[list[Run], list[Problem]]:
    """The runs of `paths`, one per model (and way of producing a task's results) per folder."""
    problems = [] if problems is None else problems
    runs: list[Run] = []
    for p in paths:
        latent = latent_language.find(Path(p))
        if Path(p).is_file() and latent:
            found = []
        else:  # a folder holding latent-language files only is a run, not "no results files"
            missed: list[Problem] = []
            found = find_results(Path(p), missed)
            problems += missed if found or not latent else [m for m in missed if "no results_" not in m.what]
        for folder, files in found:
            runs.extend(load_run(folder, files, problems, whole_folder=not Path(p).is_file(),
                                 latent=latent.pop(folder, [])))
        for folder, files in latent.items():
            runs.extend(load_run(folder, [], problems, whole_folder=not Path(p).is_file(), latent=files))
    _label(runs)
    return runs, problems


def model_columns(runs: list[Run], problems: list[Problem]) -> list[Run]:
    """One run per model across folders (the report's columns, the leaderboard's rows): the runs
    of one model identity merged, per task the newest result winning where comparable."""
    columns = merge.merge_same_model(runs, problems)
    _label(columns)
    return columns


# --------------------------------------------------------------------- judge files
def _add_judge(runs: list[Run], problems: list[Problem], whole_folder: bool = True) -> None:
    """Judge files (``lm-eval-ext judge``) belong to the run whose results files they name; a
    judge entry counts only when the task's result (and samples log, when recorded) is the one
    the judge read. Judge results become cells ``judge/<protocol>`` of the judged task's family
    and language row; the newest file wins per task and protocol."""
    folder = runs[0].path
    for regex, attr in ((judge_file.RESULTS_RE, "judge"), (judge_file.PAIRWISE_RE, "pairwise")):
        for f in sorted((f for f in folder.glob("judge_*.json") if regex.match(f.name)), key=lambda p: p.name):
            doc = judge_file.read(f, problems)
            if doc is None:
                continue
            judged = doc.run
            names = {str(n) for n in judged.get("results_files") or () if isinstance(n, str)}
            owners = sorted((r for r in runs if names & {p.name for p in r.results_files}),
                            key=lambda r: -len(names & {p.name for p in r.results_files}))
            if not owners:
                if whole_folder:  # (a results file given alone: the folder's other runs are not asked for)
                    problems.append(Problem(str(f), "names no results file of the run(s) here (it judged another "
                                                    "run, or was written before judge files named them); skipped"))
                continue
            owner = owners[0]
            if attr == "judge":
                doc = _judged_here(f, doc, owner, names, judged.get("samples"), problems)
                if doc is None:
                    continue
            getattr(owner, attr).append((f, doc))
    for run in runs:
        _judge_cells(run, problems)


def _judged_here(f: Path, doc, run: Run, names: set[str], samples, problems: list[Problem]):
    """`doc` with the task entries that judged this run's outputs of the task: the samples log the
    judge recorded is the run's (a file written before judges recorded logs: the results file the
    task's result comes from is one the judge names); None if no entry did."""
    samples = samples if isinstance(samples, dict) else {}
    kept = {}
    for task, per in doc.tasks.items():
        source, log = run.sources.get(task), run.samples.get(task)
        if source is None:
            kept[task] = per  # not in the results: reported by _judge_cells
        elif (log is None or samples[task] != log.name) if task in samples else source.name not in names:
            problems.append(Problem(str(f), f"task {task}: judged the outputs of {samples.get(task) or ', '.join(sorted(names))}, "
                                            f"not this run's ({log.name if log else source.name}); entry skipped"))
        else:
            kept[task] = per
    return replace(doc, tasks=kept) if kept else None


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


# --------------------------------------------------------------------- latent-language files
LATENT_METRIC = "english_share,none"


def latent_task(task: str, pair) -> str:
    """The task name of one language pair of a latent-language file: ``latent_<task>_<src>_<tgt>``
    (``latent_<task>_<l>`` for a monolingual prompt); its family is ``latent_<task>``."""
    return "_".join(("latent", task, *pair.langs))


def latent_unit(folder: Path, f: Path, problems: list[Problem]) -> list[Run]:
    """The run of one latent-language file (``lm-eval-ext latent-language``), shaped like the run
    of a results file so that it merges with the lm-eval runs of its model (`merge`): one task per
    language pair (`latent_task`, family ``latent_<task>``, the pair's language row), the file's
    signature its scorer, the file's format version its version, one cell ``english_share``."""
    doc = latent_language.read(f, problems)
    if doc is None:
        return []
    tasks = {latent_task(doc.task, pair): pair for pair in doc.pairs.values()}
    meta = {"scorer": doc.signature, "lm_eval_ext_version": doc.lm_eval_ext_version}
    configs = {name: {"task": name, "metadata": dict(meta)} for name in tasks}
    data = {**doc.results_header(), "results": {}, "configs": configs,
            "versions": {name: str(doc.format_version) for name in tasks},
            "higher_is_better": {name: {"english_share": True} for name in tasks}}
    run = Run(path=folder, results_files=[f], data=data)
    family = f"latent_{doc.task}"
    for name, pair in tasks.items():
        run.tasks[name] = TaskInfo(name=name, family=family, langs=pair.langs, version=str(doc.format_version),
                                   scorer=doc.signature, config=configs[name], higher_is_better={"english_share": True})
        run.sources[name] = f
        run.latent[name] = (f, doc, pair)
        share = pair.english_share
        if share is None:
            run.undefined[(family, pair.langs, LATENT_METRIC)] = "no layer puts the floor's mass on either word"
            run.undefined_tasks[(family, pair.langs, LATENT_METRIC)] = name
            continue
        run.cells.append(Cell(name, family, pair.langs, LATENT_METRIC,
                              Score(float(share["value"]), number(share.get("se")), pair.n), None,
                              (float(share["ci"][0]), float(share["ci"][1]))))
    return [run]


def _label(runs: list[Run]) -> None:
    """Column labels: the model name as recorded (never cut at a '/'; a stage 2 that answered
    another model's translations says so); when two runs share it, the nearest folder level where
    their paths differ is added, else a number."""
    for run in runs:
        run.label = run.title
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
    not_computed: dict[str, dict[str, set]] = {}  # reason -> {metric name: tasks}
    entries = [(name, entry, False) for name, entry in (data.get("results") or {}).items()]
    entries += [(name, entry, True) for name, entry in groups.items()]
    seen_group_in_results = set()
    not_finite: dict[tuple[str, str, str], list[str]] = {}  # (metric key, value, why) -> tasks
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
                skipped = _skip_reason(meta, metric_name)
                if skipped:  # said once per run and reason, below
                    not_computed.setdefault(skipped, {}).setdefault(metric_name, set()).add(name)
                    why = f"not computed: {skipped}"
                else:  # said once per metric, value and reason, below
                    why = _undefined_reason(entry, metric_name, filt)
                    not_finite.setdefault((key, repr(value), why), []).append(name)
                if langs:
                    run.undefined[(family, langs, key)] = why or f"{value!r} in the results"
                    run.undefined_tasks[(family, langs, key)] = name
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
    # one problem per metric, value and reason (FLORES-200: hundreds of tasks share one)
    for (key, value, why), names in not_finite.items():
        if len(names) == 1:
            problems.append(Problem(where, f"task {names[0]}: metric {key} is {value} (not a finite number"
                                           f"{': ' + why if why else ''}); cell skipped"))
        else:
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            problems.append(Problem(where, f"metric {key} is {value} (not a finite number{': ' + why if why else ''}) "
                                           f"in {len(names)} tasks ({shown}); cells skipped"))
    for reason, metrics in not_computed.items():
        tasks = set().union(*metrics.values())
        problems.append(NotComputedNote(where, f"{_metric_names(metrics)}: not computed ({len(tasks)} task(s)), "
                                               f"{reason}"))


def _metric_names(metrics) -> str:
    """Metric names for a note, one per language folded (``lang_fidelity_<l>`` for 11 languages)."""
    per_lang: dict[str, list[str]] = {}
    for m in metrics:
        base, langs = split_lang_suffix(m)
        per_lang.setdefault(f"{base}_<l>" if len(langs) == 1 else m, []).append(m)
    return ", ".join(f"{name} ({len(names)} languages)" if len(names) > 1 else names[0]
                     for name, names in per_lang.items())


def _skip_reason(meta, metric: str) -> str:
    """The reason the task's results record for not computing `metric`, if they do."""
    skipped = meta.get("skipped_metrics") if isinstance(meta, dict) else None
    reason = skipped.get(metric) if isinstance(skipped, dict) else None
    return reason.strip() if isinstance(reason, str) and reason.strip() else ""


def _unannotated(run: Run, problems: list[Problem]) -> None:
    """Our tasks whose results lm-eval-ext's results hook did not annotate (the plugin was not
    active, or the lm-eval had no hook it knows): one problem per reason, naming the tasks."""
    by_reason: dict[str, list[str]] = {}
    for name, info in run.tasks.items():
        value = annotation(info.config)
        if value is not None and value.startswith("unavailable"):
            by_reason.setdefault(value, []).append(name)
    for reason, tasks in by_reason.items():
        shown = ", ".join(tasks[:5]) + (f" and {len(tasks) - 5} more" if len(tasks) > 5 else "")
        problems.append(Problem(str(run.results_files[-1]), f"results annotation {reason} (tasks {shown}): no "
                                "run-time metric signatures, no NaN for metrics that could not be computed, "
                                "no standard errors of corpus metrics"))


def _undefined_reason(entry: dict, metric: str, filt: str) -> str:
    """Why a metric has no value, when the results say (the registry: `missing.undefined_reason`)."""
    return missing.undefined_reason(entry, metric, filt)


def sample_lines(run: Run, task: str, problems: list[Problem]) -> list[dict]:
    """The samples log of `task`'s result in `run`, read; [] with a Problem when the log does not
    match the task hash lm-eval recorded in the results file (changed or appended to since)."""
    path = run.samples.get(task)
    if path is None:
        return []
    bad: list[Problem] = []
    lines = read_samples(path, bad)
    problems.extend(bad)
    expected = (run.data.get("task_hashes") or {}).get(task)
    if not bad and isinstance(expected, str) and expected:
        found = task_hash(lines)
        if found is not None and found != expected:
            source = run.sources.get(task)
            problems.append(Problem(str(path), f"does not match the task hash lm-eval recorded for {task} in "
                                               f"{source.name if source else 'the results'} (changed or appended to "
                                               "since the run); its per-item scores are not used"))
            return []
    return lines


def judge_item_scores(run: Run, task: str, metric_key: str) -> dict | None:
    """{doc_id: judge score} of the parsed items behind a ``judge/<protocol>`` cell (newest judge file)."""
    proto = metric_key.partition(",")[0].removeprefix("judge/")
    for f, doc in reversed(run.judge):
        entry = doc.tasks.get(task, {}).get(proto)
        if entry is None or not isinstance(entry.samples_file, str):
            continue
        path = f.parent / Path(entry.samples_file).name
        if not path.is_file():
            return None
        parsed = [line for line in read_samples(path) if line.get("protocol") == proto and line.get("status") == "ok"
                  and number(line.get("score")) is not None and isinstance(line.get("doc_id"), (int, str))]
        return item_scores(parsed, "score,none")
    return None
