"""lm-eval integration: where our task definitions live and how lm-eval is taught to see them.

`_autoload` (imported by ``lm_eval_ext.pth`` at every Python start) calls the
``patch_*`` functions below when lm-eval loads the module each one patches:

- ``patch_task_manager``: every ``TaskManager`` also indexes our ``tasks/`` folder;
- ``patch_evaluator_config``: the data files of the selected tasks are checked
  (`families.check_available`) before any model loads;
- ``patch_result_collection``: run-time facts into the results of our tasks
  (`annotate_results`), and group values lm-eval cannot compute (`apply_group_values`:
  PolyMath's DW-ACC) after it computed its groups;
- ``patch_filter_prompts``: our reply filters see the rendered prompts of the replies they
  filter (a chat template that opened ``<think>`` in the prompt).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from lm_eval_ext.missing import Skip, skip_of
from lm_eval_ext.resources import tasks_dir

log = logging.getLogger("lm_eval_ext")


@lru_cache(maxsize=1)
def task_index():
    """lm-eval's own index of our directory alone: {name: Entry}."""
    from lm_eval.tasks._index import TaskIndex

    return TaskIndex.build([tasks_dir()])


def is_ours(path) -> bool:
    """Whether a task YAML path lies in our tasks directory."""
    if path is None:
        return False
    try:
        Path(path).resolve().relative_to(tasks_dir())
        return True
    except ValueError:
        return False


def leaf_tasks(name: str, index=None) -> list[str]:
    """Expand a group name into its leaf task names (a task gives itself)."""
    from lm_eval.tasks._index import Kind

    index = task_index() if index is None else index
    entry = index.get(name)
    if entry is None:
        return []
    if entry.kind in (Kind.TASK, Kind.PY_TASK):
        return [name]
    if entry.kind == Kind.TAG:
        return sorted(entry.tags)
    out: list[str] = []
    children = entry.cfg.get("task", []) if entry.cfg else []
    for child in children if isinstance(children, list) else [children]:
        child_name = child if isinstance(child, str) else child.get("task") or child.get("group")
        if child_name:
            out.extend(t for t in leaf_tasks(child_name, index) if t not in out)
    return out


class _QuietOverrides(logging.Filter):
    """Our tasks knowingly replace lm-eval's built-ins of the same name; say so
    once per TaskManager instead of once per task."""

    def __init__(self):
        super().__init__()
        self.replaced = 0

    def filter(self, record):
        if record.msg.startswith("Task '%s' from %s overrides") and record.args:
            if is_ours(record.args[1]):
                self.replaced += 1
                return False
        return True


class _QuietCustomDataset(logging.Filter):
    """lm-eval warns once per task that loads data through `custom_dataset`
    ("Custom kwargs can be passed to `--metadata`..."): noise for our tasks,
    which all do. Other tasks keep the warning."""

    names: set = set()

    def filter(self, record):
        msg = record.msg if isinstance(record.msg, str) else ""
        if "Custom kwargs can be passed to `--metadata`" in msg:
            return msg.split(":", 1)[0] not in self.names
        return True


_QUIET_CUSTOM_DATASET = _QuietCustomDataset()


# ------------------------------------------------------------------ patch points
# Each patch point checks, when lm-eval loads the module it patches, that what it patches has the
# shape it expects (a function with the parameters it binds by name, a class attribute). If not,
# it patches nothing, says so once at error level naming the lm-eval version and the point, and
# records why (`UNPATCHED`, which the results annotation and `lm-eval-ext doctor` report); our
# tasks still load through ``--include_path`` (ARCHITECTURE.md, "Integration points").

UNPATCHED: dict[str, str] = {}  # patch point -> why it was not installed


def lm_eval_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lm-eval")
    except PackageNotFoundError:
        return "unknown"


def _refuse(point: str, why: str) -> None:
    reason = f"lm-eval {lm_eval_version()}: {point}: {why}"
    if point not in UNPATCHED:
        UNPATCHED[point] = reason
        log.error("lm-eval-ext: not installed (%s); our tasks still load with --include_path %s", reason, tasks_dir())


def _signature_problem(fn, needs: tuple[str, ...]) -> str | None:
    """Why `fn` is not a function taking the parameters `needs` (by name), or None."""
    import inspect

    if not callable(fn):
        return "missing"
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError) as err:
        return f"no inspectable signature ({err})"
    missing = [n for n in needs if n not in params]
    return f"has no parameter(s) {', '.join(missing)} (has {', '.join(params)})" if missing else None


TASK_MANAGER_INIT = "lm_eval.tasks.manager.TaskManager.__init__"
PROCESS_TASKS = "lm_eval.config.evaluate_config.EvaluatorConfig.process_tasks"
COLLECT_RESULTS = "lm_eval.evaluator_utils._collect_results"
GROUP_VALUES = "lm_eval.evaluator_utils.aggregate_groups"
FILTER_PROMPTS = "lm_eval.api.filter.FilterEnsemble.apply"


def patch_task_manager(module) -> None:
    """Every TaskManager also indexes our tasks/ (no public way to add a default task folder)."""
    import inspect

    TaskManager = getattr(module, "TaskManager", None)
    if TaskManager is None or getattr(TaskManager, "_lm_eval_ext_patched", False):
        if TaskManager is None:
            _refuse(TASK_MANAGER_INIT, "lm_eval.tasks.manager has no TaskManager")
        return
    original_init = TaskManager.__init__
    why = _signature_problem(original_init, ("include_path", "include_defaults"))
    if why:
        _refuse(TASK_MANAGER_INIT, why)
        return
    signature = inspect.signature(original_init)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        include_path = bound.arguments.get("include_path")
        include_defaults = bound.arguments.get("include_defaults", True)
        ours = tasks_dir()
        if include_path is None:
            paths = []
        elif isinstance(include_path, (list, tuple)):
            paths = list(include_path)
        else:
            paths = [include_path]
        # ours join lm-eval's defaults: include_defaults=False asks for the given paths alone
        if include_defaults and not any(Path(p).resolve() == ours for p in paths):
            paths = [ours, *paths]  # user paths come later, so they override ours
        bound.arguments["include_path"] = paths
        index_log = logging.getLogger("lm_eval.tasks._index")
        quiet = _QuietOverrides()
        index_log.addFilter(quiet)
        try:
            original_init(*bound.args, **bound.kwargs)
        finally:
            index_log.removeFilter(quiet)
        _QUIET_CUSTOM_DATASET.names.update(
            name for name, entry in getattr(self, "_index", {}).items() if is_ours(entry.yaml_path)
        )
        task_log = logging.getLogger("lm_eval.api.task")
        if _QUIET_CUSTOM_DATASET not in task_log.filters:
            task_log.addFilter(_QUIET_CUSTOM_DATASET)
        if quiet.replaced:
            log.info(
                "lm-eval-ext: %d built-in lm-eval tasks replaced by ours of the same name "
                "(set LM_EVAL_EXT_AUTOLOAD=0 for the built-ins)",
                quiet.replaced,
            )

    __init__.__doc__ = original_init.__doc__
    __init__.__signature__ = signature
    TaskManager.__init__ = __init__
    TaskManager._lm_eval_ext_patched = True


def patch_evaluator_config(module) -> None:
    """Our selected tasks' data are checked before any model loads (no public hook between task
    resolution and model loading)."""
    EvaluatorConfig = getattr(module, "EvaluatorConfig", None)
    if EvaluatorConfig is None:
        _refuse(PROCESS_TASKS, "lm_eval.config.evaluate_config has no EvaluatorConfig")
        return
    if getattr(EvaluatorConfig, "_lm_eval_ext_patched", False):
        return
    original = getattr(EvaluatorConfig, "process_tasks", None)
    why = _signature_problem(original, ("self",))
    if why:
        _refuse(PROCESS_TASKS, why)
        return

    def process_tasks(self, *args, **kwargs):
        task_manager = original(self, *args, **kwargs)
        check_selected(getattr(self, "tasks", None), limit=getattr(self, "limit", None),
                       model_args=getattr(self, "model_args", None), samples=getattr(self, "samples", None),
                       cache_requests=getattr(self, "cache_requests", None), model=getattr(self, "model", None))
        return task_manager

    process_tasks.__doc__ = original.__doc__
    EvaluatorConfig.process_tasks = process_tasks
    EvaluatorConfig._lm_eval_ext_patched = True


def patch_result_collection(module) -> None:
    """Run-time metric signatures, skipped metrics (NaN plus reason) and FLORES's
    corpus-metric standard errors into our tasks' results, after aggregation
    (when they are known) and before groups and files (`annotate_results`). lm-eval has no
    public hook between a task's aggregation and the groups."""
    import inspect

    patch_group_values(module)
    original = getattr(module, "_collect_results", None)
    if getattr(original, "_lm_eval_ext_patched", False):
        return
    why = _signature_problem(original, ("eval_results_acc", "bootstrap_iters"))
    if why:
        _refuse(COLLECT_RESULTS, why)
        return
    signature = inspect.signature(original)

    def _collect_results(*args, **kwargs):
        result = original(*args, **kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            annotate_results(result, bound.arguments["eval_results_acc"], bound.arguments["bootstrap_iters"])
        except Exception as err:  # never lose computed results over a signature
            log.warning("lm-eval-ext: could not add metric signatures: %s", err)
        return result

    _collect_results._lm_eval_ext_patched = True
    _collect_results.__signature__ = signature
    module._collect_results = _collect_results


def patch_group_values(module) -> None:
    """Group values lm-eval cannot compute (a family's `group_values`: PolyMath's DW-ACC), right
    after lm-eval computed its groups (``aggregate_groups(results)``, which ``_process_results``
    calls by its module name) and before the results are assembled and written. lm-eval's group
    aggregation knows only (size-)weighted means of the leaves' values."""
    import inspect

    original = getattr(module, "aggregate_groups", None)
    if getattr(original, "_lm_eval_ext_patched", False):
        return
    why = _signature_problem(original, ("results",))
    if why:
        _refuse(GROUP_VALUES, why)
        return

    def aggregate_groups(results, *args, **kwargs):
        out = original(results, *args, **kwargs)
        try:
            apply_group_values(out if out is not None else results)
        except Exception as err:  # never lose computed results over a group value
            log.warning("lm-eval-ext: could not compute group values: %s", err)
        return out

    aggregate_groups._lm_eval_ext_patched = True
    aggregate_groups.__signature__ = inspect.signature(original)
    aggregate_groups.__doc__ = original.__doc__
    module.aggregate_groups = aggregate_groups


def _groups_of(results) -> list:
    """Every group of lm-eval's results container (nested ones too), each once."""
    seen, out = set(), []
    stack = list((getattr(results, "groups", None) or {}).values())
    while stack:
        group = stack.pop()
        name = getattr(group, "name", None)
        if name is None or name in seen:
            continue
        seen.add(name)
        out.append(group)
        stack.extend(getattr(group, "get_all_groups", lambda **_: [])(recursive=False))
    return out


def apply_group_values(results) -> None:
    """For each group whose leaves are all tasks of one family with `group_values`, that
    function's values replace lm-eval's in the group's metrics."""
    from lm_eval_ext import families

    for group in _groups_of(results):
        leaves = [t.task_name for t in group.get_all_tasks()]
        fams = {id(f): f for f in (families.of_config(results.configs.get(leaf) or {}) for leaf in leaves)}
        family = next(iter(fams.values())) if len(fams) == 1 else None
        if family is None or family.group_values is None:
            continue
        values = family.group_values(group.name, {leaf: results.metrics[leaf] for leaf in leaves
                                                  if leaf in results.metrics})
        if values:
            results.metrics.setdefault(group.name, {"alias": group.alias or group.name, "name": group.name})
            results.metrics[group.name].update(values)


def patch_filter_prompts(module) -> None:
    """Our reply filters see the rendered prompt of each reply (`families.base.RENDERED_PROMPTS`)
    while lm-eval runs a filter pipeline: a reply to a prompt whose chat template opened
    ``<think>`` carries no tag when it is cut off inside its thinking (`metrics.reasoning`).
    lm-eval hands filters the replies and docs only."""
    FilterEnsemble = getattr(module, "FilterEnsemble", None)
    if FilterEnsemble is None:
        _refuse(FILTER_PROMPTS, "lm_eval.api.filter has no FilterEnsemble")
        return
    if getattr(FilterEnsemble, "_lm_eval_ext_patched", False):
        return
    original = getattr(FilterEnsemble, "apply", None)
    why = _signature_problem(original, ("self", "instances"))
    if why:
        _refuse(FILTER_PROMPTS, why)
        return

    def apply(self, instances, *args, **kwargs):
        from lm_eval_ext.families.base import RENDERED_PROMPTS

        prompts = tuple((getattr(inst, "args", None) or (None,))[0] for inst in instances)
        token = RENDERED_PROMPTS.set(prompts)
        try:
            return original(self, instances, *args, **kwargs)
        finally:
            RENDERED_PROMPTS.reset(token)

    apply.__doc__ = original.__doc__
    FilterEnsemble.apply = apply
    FilterEnsemble._lm_eval_ext_patched = True


def check_selected(names, limit=None, model_args=None, **run) -> None:
    """Check the data of every one of our tasks among `names` (before a model loads); `limit`,
    `model_args` and the rest of the run's settings (`samples`, `cache_requests`, `model`) go to the
    families' preflight checks (self-translate stage 2)."""
    from lm_eval_ext import families

    index = task_index()
    for name in names or []:
        if not isinstance(name, str) or name not in index:
            continue
        for leaf in leaf_tasks(name, index):
            entry = index[leaf]
            kwargs = (entry.cfg or {}).get("dataset_kwargs") or {}
            if kwargs.get("family"):
                families.check_available(**{"task": leaf, **kwargs}, limit=limit, model_args=model_args, **run)


# ------------------------------------------------------- results annotation
# Run-time facts into the results of every one of our tasks.
#
# Right after lm-eval aggregated the tasks (`patch_result_collection`
# wraps ``lm_eval.evaluator_utils._collect_results``, so groups and the written
# ``results_*.json`` see the outcome), each of our tasks' config metadata, which
# lm-eval writes as ``configs.<task>.metadata``, gets:
#
# - ``metric_signatures``: ``{metric: signature}`` for each metric whose exact
#   form depends on what is installed (the lingua version of ``lang_fidelity``;
#   FLORES: sacreBLEU version and tokenizer, COMET/BLEURT model, ...), or
#   its `missing.Skip`, written ``skipped: <reason>``;
# - ``skipped_metrics``: ``{metric: reason}`` for each metric that could not be
#   computed in this process (an optional extra not installed, a model file
#   absent, a metric switched off).
#
# A skipped metric is NaN under every filter of the task (lm-eval would
# otherwise just leave it out, which reads like "no decidable reply"), so its
# groups are NaN too; the other metrics are untouched.

def metric_names(cfg: dict) -> list[str]:
    return [m["metric"] for m in cfg.get("metric_list") or [] if isinstance(m, dict) and isinstance(m.get("metric"), str)]


def filters_of(task_metrics: dict) -> set[str]:
    """Filter names of a task's results (keys ``<metric>,<filter>``)."""
    return {key.split(",", 1)[1] for key in task_metrics if "," in key}


def task_signatures(cfg: dict, meta: dict) -> dict[str, str | Skip]:
    """Run-time signatures of the metrics every family shares (language identification)."""
    from lm_eval_ext.metrics import confusion, langid

    if not meta.get("fidelity_scorer"):  # a task without lang_fidelity (FLORES --pair outside the registry)
        return {}
    sig = langid.signature()
    out = {name: sig for name in metric_names(cfg) if langid.uses_langid(name)}
    if confusion.LINE_PASS in metric_names(cfg):
        out[confusion.LINE_PASS] = confusion.signature()
    return out


def decidable_means(task_metrics: dict | None, acc: dict | None, bootstrap_iters) -> None:
    """The metrics aggregated with the one None-skipping mean (`missing.mean_applicable`, named
    ``langid.mean_decidable`` in the YAMLs; found by identity, `missing.skips_none`: documents
    log None where the metric does not apply) read as a plain ``mean`` whose documents omit the key:
    lm-eval's closed-form standard error (``mean_stderr``) over the decided values
    (lm-eval reports N/A for an aggregation it does not know), and no key at all when
    no document decided (so a group's mean skips the task, as lm-eval does for a
    metric a task lacks)."""
    if not task_metrics or not acc or "task" not in acc:
        return
    from lm_eval.api.metrics import mean_stderr

    from lm_eval_ext.missing import applicable, skips_none

    aggregations = acc["task"].aggregation()
    for (metric, filt), values in acc.get("raw_metrics", {}).items():
        key, stderr_key = f"{metric},{filt}", f"{metric}_stderr,{filt}"
        if key not in task_metrics or not skips_none(aggregations.get(metric)):
            continue
        kept = applicable(values)
        if not kept:
            task_metrics.pop(key, None)
            task_metrics.pop(stderr_key, None)
            continue
        ok = isinstance(bootstrap_iters, int) and bootstrap_iters > 0 and len(kept) > 1
        task_metrics[stderr_key] = mean_stderr(kept) if ok else "N/A"


def annotate_results(result, eval_results_acc=None, bootstrap_iters=None) -> None:
    from lm_eval_ext import families

    for task, cfg in result.configs.items():
        family = families.of_config(cfg)
        if family is None:  # not one of our tasks
            continue
        meta = dict(cfg.get("metadata") or {})
        meta["metric_signatures"] = {**(meta.get("metric_signatures") or {}), **task_signatures(cfg, meta)}
        if family.annotate is not None:  # the family's own run-time facts (FLORES: sacreBLEU, COMET, stderr)
            family.annotate(task, cfg, meta, result, (eval_results_acc or {}).get(task), bootstrap_iters)
        if family.group_values is not None and GROUP_VALUES in UNPATCHED:  # NaN and why, never lm-eval's mean
            for metric in meta.get("group_metrics") or ():
                meta["metric_signatures"][metric] = Skip(f"group value not computed: {UNPATCHED[GROUP_VALUES]}")
        skipped = {m: skip.reason for m, sig in meta["metric_signatures"].items() if (skip := skip_of(sig))}
        meta["metric_signatures"] = {m: str(sig) for m, sig in meta["metric_signatures"].items()}
        meta["skipped_metrics"] = skipped
        cfg["metadata"] = meta
        decidable_means(result.metrics.get(task), (eval_results_acc or {}).get(task), bootstrap_iters)
        metrics = result.metrics.get(task)
        if metrics is not None:
            for filt in filters_of(metrics):
                for metric in skipped:  # NaN even where documents before a mid-run failure gave a mean
                    metrics[f"{metric},{filt}"] = float("nan")
                    metrics[f"{metric}_stderr,{filt}"] = "N/A"
