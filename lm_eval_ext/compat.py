"""Everything lm-eval-ext takes from lm-eval that moved between the supported versions, in one
module: lm-eval 0.4.12, 0.4.13 and 0.5.0.dev1 (`TESTED`, each one run by tests/run.sh).

Ground floor: nothing here imports lm-eval at module import (``_autoload`` and the readers of
finished runs stay free of it); functions that need it import it when called. Decisions are
made on shapes (an attribute present, a parameter name), never on version numbers, which only
appear in messages. The patch points themselves are in `lm_eval_ext.plugin`, which asks here
what to patch.

What moved (file:line of each wheel in the study behind issue 24):

- the per-task results hook: ``evaluator_utils._collect_results`` (0.4.x) was renamed
  ``_agg_and_collect`` (0.5), same parameters (`results_hook_name`); likewise the group
  aggregation ``aggregate_groups`` -> ``_aggregate_groups`` (`group_hook_name`);
- per-document metric values: ``acc["raw_metrics"]`` (0.4.x) vs. ``task.scorers[i].reduced_docs``
  (0.5) (`raw_metrics`);
- ``apply_template``: ``lm_eval.utils`` (0.4.x) vs. ``lm_eval.config.templates`` (0.5);
- the logger of the "Custom kwargs" warning and its message format (`custom_dataset_task`); 0.5's
  new "Metric '%s' not found in registry" warning (`placeholder_metric`);
- task keys: 0.5 writes a task inside a group as ``<group>::<task>`` in results, configs and
  samples file names (`base_task`);
- 0.5 bootstraps every aggregation but ``mean`` (`ours`: the plugin keeps 0.4's "no stderr from
  lm-eval" for our aggregations);
- nested groups through ``get_task_dict`` + ``evaluate`` fail on every supported version
  (`flat_task_dict`, `flatten_task_dict`).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Iterable, Mapping

# The versions CI runs (tests/run.sh): the newest stable one runs the whole suite, the others the
# lm-eval-facing part. pyproject.toml's range admits exactly this line (>=0.4.12,<0.6).
TESTED = ("0.4.12", "0.4.13", "0.5.0.dev1")


def lm_eval_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lm-eval")
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------ the results hook
# lm_eval/evaluator_utils.py: the per-task aggregation, called once by _process_results through a
# module-global lookup, before groups are aggregated and files written.
#   0.4.12 :222, 0.4.13 :248   _collect_results(eval_results_acc, groups=None, bootstrap_iters=100000)
#   0.5.0.dev1 :211            _agg_and_collect(eval_results_acc, groups=None, bootstrap_iters=100000)
RESULTS_HOOKS = ("_collect_results", "_agg_and_collect")


def results_hook_name(evaluator_utils) -> str | None:
    """The name of the results hook in `evaluator_utils` (the first of `RESULTS_HOOKS` it has)."""
    return next((name for name in RESULTS_HOOKS if callable(getattr(evaluator_utils, name, None))), None)


def task_key(task) -> str:
    """The key of a Task object in lm-eval's results containers (metrics, configs): the task name
    on 0.4.x, ``Task._qualified_name`` on 0.5 (``<group>::<task>`` inside a group)."""
    return getattr(task, "_qualified_name", None) or task.task_name


# lm_eval/evaluator_utils.py: the group aggregation, called by _process_results through a
# module-global lookup after the results hook, before the results are assembled.
#   0.4.12 :275, 0.4.13 :301   aggregate_groups(results)
#   0.5.0.dev1 :257            _aggregate_groups(results)
GROUP_HOOKS = ("aggregate_groups", "_aggregate_groups")


def group_hook_name(evaluator_utils) -> str | None:
    """The name of the group aggregation in `evaluator_utils` (the first of `GROUP_HOOKS` it has)."""
    return next((name for name in GROUP_HOOKS if callable(getattr(evaluator_utils, name, None))), None)


def raw_metrics(acc: Mapping | None) -> dict[tuple[str, str], list]:
    """{(metric, filter): [per-document value, ...]} of one task's accumulator.

    0.4.x: ``acc["raw_metrics"]``, filled by evaluate() in document order.
    0.5: no raw_metrics; each filter pipeline is a Scorer (``task.scorers``, ``scorer.name`` = the
    filter) holding ``reduced_docs`` {doc_id: {metric: value}} (a document holds the keys its
    process_results returned)."""
    if not acc:
        return {}
    if "raw_metrics" in acc:
        return acc["raw_metrics"] or {}
    out: dict[tuple[str, str], list] = {}
    for scorer in getattr(acc.get("task"), "scorers", None) or ():
        for doc in (getattr(scorer, "reduced_docs", None) or {}).values():
            for metric, value in doc.items():
                out.setdefault((metric, scorer.name), []).append(value)
    return out


# ------------------------------------------------------------------ imports that moved
def apply_template(template: str, doc: dict) -> str:
    """lm-eval's Jinja rendering of a doc_to_text/doc_to_target template: ``lm_eval.utils`` on 0.4.x,
    ``lm_eval.config.templates`` on 0.5 (same environment: StrictUndefined, keep_trailing_newline)."""
    return _apply_template()(template, doc)


@lru_cache(maxsize=1)
def _apply_template():
    try:
        from lm_eval.utils import apply_template as fn  # 0.4.x
    except ImportError:
        from lm_eval.config.templates import apply_template as fn  # 0.5
    return fn


def mean_stderr(values) -> float:
    """lm-eval's closed-form standard error of a mean (``lm_eval.api.metrics``: a module on 0.4.x, a
    package re-exporting it on 0.5)."""
    from lm_eval.api.metrics import mean_stderr as fn

    return fn(values)


def task_index(task_manager) -> dict:
    """The {name: Entry} index of a TaskManager: ``_index`` on every supported version (the public
    property is ``task_index`` on 0.4.x, ``_task_index`` on 0.5)."""
    index = getattr(task_manager, "_index", None)
    if not isinstance(index, dict):
        raise TypeError(f"lm-eval {lm_eval_version()}: TaskManager has no `_index` dict")
    return index


# ------------------------------------------------------------------ task keys
def base_task(key: str, config: Mapping | None = None) -> str:
    """The task name behind a results/configs/samples key: 0.5 keys a task inside a group
    ``<group>::<task>`` (the config's ``task`` stays the plain name); 0.4.x keys are plain."""
    name = (config or {}).get("task") if isinstance(config, Mapping) else None
    if isinstance(name, str) and name and key.endswith(name):
        return name
    return key.rsplit("::", 1)[-1]


# ------------------------------------------------------------------ log records
# "Custom kwargs can be passed to `--metadata` ..." (WARNING, once per task with custom_dataset):
#   0.4.x: logger "lm_eval.api.task", message pre-formatted "<task>: Custom kwargs ...";
#   0.5:   logger "lm_eval.api.task._task", "%s: Custom kwargs ..." with the task as the argument.
# A logging.Filter sees only the records of the logger it is added to, not its children's.
CUSTOM_DATASET_LOGGERS = ("lm_eval.api.task", "lm_eval.api.task._task")
CUSTOM_DATASET_TEXT = "Custom kwargs can be passed to `--metadata`"
# 0.5 only: "Metric '%s' not found in registry. Using a placeholder that expects values from
# 'process_results'." (WARNING) once per metric, filter and task build: every metric of ours.
PLACEHOLDER_METRIC_LOGGER = "lm_eval.api.metrics.utils"
PLACEHOLDER_METRIC_TEXT = "Metric '%s' not found in registry"
INDEX_LOGGER = "lm_eval.tasks._index"


def custom_dataset_task(record: logging.LogRecord) -> str | None:
    """The task a "Custom kwargs" warning names (either format), None for any other record."""
    try:
        text = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose arguments do not format is not ours to judge
        return None
    return text.split(":", 1)[0] if CUSTOM_DATASET_TEXT in text else None


def placeholder_metric(record: logging.LogRecord) -> str | None:
    """The metric a "not found in registry" warning names, None for any other record."""
    msg = record.msg if isinstance(record.msg, str) else ""
    if msg.startswith(PLACEHOLDER_METRIC_TEXT) and record.args:
        return str(record.args[0])
    return None


# ------------------------------------------------------------------ stderr of our aggregations
# 0.4.x (api/metrics.py stderr_for_metric): a bootstrap only for lm-eval's own aggregations, None
# ("N/A") for every other, i.e. ours. 0.5 (api/metrics/stderr.py:104): a multiprocessing bootstrap
# with the run's bootstrap_iters (100000 by default) of every aggregation but `mean`, before any
# hook of ours runs: ~39 CPU-hours for one FLORES corpus BLEU, and a PicklingError for xlc's
# aggregations. The plugin keeps 0.4's answer for ours; the results hook adds the standard errors
# we want (FLORES's capped bootstrap, the decidable means' closed form).
STDERR_FOR_METRIC_PARAMS = ("metric", "bootstrap_iters")


def ours(fn) -> bool:
    """Whether an aggregation function is one of lm-eval-ext's."""
    return str(getattr(fn, "__module__", "") or "").startswith("lm_eval_ext")


# ------------------------------------------------------------------ nested groups, Python API
# `get_task_dict` + `evaluator.evaluate` with a group of groups (10 of ours: mgsm_native_cot, ...)
# raises "'dict' object has no attribute 'build_all_requests'" on 0.4.12, 0.4.13 and 0.5.0.dev1:
# get_task_dict nests subgroups as dicts and evaluate()'s _handle_back_comp flattens one level
# only. Introduced by EleutherAI/lm-evaluation-harness#3549 (the TaskManager refactor, v0.4.12);
# no upstream fix yet (same report downstream: oumi-ai/oumi#2645). The CLI and simple_evaluate are
# not affected: they use TaskManager.load, which these helpers use too.
def flat_task_dict(names: Iterable[str], task_manager=None) -> dict:
    """The task dict ``lm_eval.evaluator.evaluate`` takes, for task and group names (nested groups
    included): ``TaskManager.load`` (``{"tasks", "groups", "group_map"}``). Use it instead of
    ``get_task_dict``:

        from lm_eval.evaluator import evaluate
        from lm_eval_ext.compat import flat_task_dict
        results = evaluate(lm=lm, task_dict=flat_task_dict(["mgsm_native_cot"]), limit=10)
    """
    if task_manager is None:
        from lm_eval.tasks import TaskManager

        task_manager = TaskManager()
    return task_manager.load(list(names))


def flatten_task_dict(task_dict: Mapping) -> dict:
    """A dict from ``get_task_dict`` (``{Group: {name: Task | Group: {...}}}``) as the flat task
    dict ``evaluate`` handles at any depth. Tasks are keyed as ``TaskManager.load`` keys them
    (``Task._qualified_name`` on 0.5, the task name on 0.4.x): ``Group.aggregate`` looks the leaf
    results up by that key."""
    if {"tasks", "groups"} <= set(task_dict):
        return dict(task_dict)  # already flat
    tasks: dict[str, Any] = {}
    groups: dict[str, Any] = {}

    def walk(mapping: Mapping) -> None:
        for k, v in mapping.items():
            if isinstance(v, Mapping):  # a group: its key is the Group object
                groups[k.name] = k
                walk(v)
            else:
                tasks[task_key(v)] = v

    walk(task_dict)
    return {"tasks": tasks, "groups": groups, "group_map": {g.name: list(g.child_names) for g in groups.values()}}
