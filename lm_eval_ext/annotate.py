"""Run-time facts into the results of every one of our tasks.

Right after lm-eval aggregated the tasks (`discovery.patch_result_collection`
wraps ``lm_eval.evaluator_utils._collect_results``, so groups and the written
``results_*.json`` see the outcome), each of our tasks' config metadata, which
lm-eval writes as ``configs.<task>.metadata``, gets:

- ``metric_signatures``: ``{metric: signature}`` for each metric whose exact
  form depends on what is installed (the lingua version of ``lang_fidelity``;
  FLORES: sacreBLEU version and tokenizer, COMET/BLEURT model, ...), or
  ``skipped: <reason>``;
- ``skipped_metrics``: ``{metric: reason}`` for each metric that could not be
  computed in this process (an optional extra not installed, a model file
  absent, a metric switched off).

A skipped metric is NaN under every filter of the task (lm-eval would
otherwise just leave it out, which reads like "no decidable reply"), so its
groups are NaN too; the other metrics are untouched.
"""

from __future__ import annotations

SKIPPED_PREFIX = "skipped: "


def metric_names(cfg: dict) -> list[str]:
    return [m["metric"] for m in cfg.get("metric_list") or [] if isinstance(m, dict) and isinstance(m.get("metric"), str)]


def filters_of(task_metrics: dict) -> set[str]:
    """Filter names of a task's results (keys ``<metric>,<filter>``)."""
    return {key.split(",", 1)[1] for key in task_metrics if "," in key}


def task_signatures(cfg: dict, meta: dict) -> dict[str, str]:
    """Run-time signatures of the metrics every family shares (language identification)."""
    from lm_eval_ext.metrics import langid

    if not meta.get("fidelity_scorer"):  # a task without lang_fidelity (FLORES --pair outside the registry)
        return {}
    sig = langid.signature()
    return {name: sig for name in metric_names(cfg) if langid.uses_langid(name)}


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
        skipped = {m: s.removeprefix(SKIPPED_PREFIX) for m, s in meta["metric_signatures"].items()
                   if s.startswith(SKIPPED_PREFIX)}
        meta["skipped_metrics"] = skipped
        cfg["metadata"] = meta
        metrics = result.metrics.get(task)
        if metrics is not None:
            for filt in filters_of(metrics):
                for metric in skipped:
                    if f"{metric},{filt}" not in metrics:
                        metrics[f"{metric},{filt}"] = float("nan")
                        metrics[f"{metric}_stderr,{filt}"] = "N/A"
