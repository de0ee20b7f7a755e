"""The lm-eval integration points (plugin.py): each checks the shape of what it patches and
refuses loudly, naming the lm-eval version and the point, when lm-eval changed it; our tasks
still load through plain --include_path then."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types

import pytest

from lm_eval_ext import compat, plugin, resources


@pytest.fixture()
def fresh_unpatched(monkeypatch):
    monkeypatch.setattr(plugin, "UNPATCHED", {})
    return plugin.UNPATCHED


def test_a_results_hook_of_another_shape_is_refused_and_left_untouched(fresh_unpatched, caplog):
    module = types.ModuleType("lm_eval.evaluator_utils")

    def _collect_results(acc, groups=None):  # reshaped
        return acc

    module._collect_results = _collect_results
    with caplog.at_level(logging.ERROR, logger="lm_eval_ext"):
        plugin.patch_result_collection(module)
    assert module._collect_results is _collect_results
    why = fresh_unpatched[plugin.COLLECT_RESULTS]
    assert f"lm-eval {plugin.lm_eval_version()}" in why and "eval_results_acc, bootstrap_iters" in why
    assert plugin.COLLECT_RESULTS in caplog.text and "--include_path" in caplog.text
    missing = types.ModuleType("lm_eval.evaluator_utils")
    fresh_unpatched.clear()
    plugin.patch_result_collection(missing)  # gone altogether
    assert "has none of _collect_results, _agg_and_collect" in fresh_unpatched[plugin.COLLECT_RESULTS]


def test_a_patch_that_raises_leaves_lm_eval_importable(fresh_unpatched, monkeypatch):
    """A bug in a patch (or an lm-eval shape nobody checked for) never stops lm-eval's import."""
    from lm_eval_ext import _autoload

    def broken(module):
        raise KeyError("surprise")

    monkeypatch.setattr(plugin, "patch_stderr", broken)
    module = types.ModuleType("lm_eval.api.metrics")
    _autoload._patch("patch_stderr", module)
    assert "patching lm_eval.api.metrics failed (KeyError" in fresh_unpatched[plugin.STDERR_FOR_METRIC]


def test_a_task_manager_of_another_shape_is_refused(fresh_unpatched):
    class TaskManager:
        def __init__(self, paths=None):
            self.paths = paths

    module = types.ModuleType("lm_eval.tasks.manager")
    module.TaskManager = TaskManager
    plugin.patch_task_manager(module)
    assert TaskManager(["x"]).paths == ["x"] and not getattr(TaskManager, "_lm_eval_ext_patched", False)
    assert "include_path, include_defaults" in fresh_unpatched[plugin.TASK_MANAGER_INIT]
    plugin.patch_evaluator_config(types.ModuleType("lm_eval.config.evaluate_config"))
    assert "no EvaluatorConfig" in fresh_unpatched[plugin.PROCESS_TASKS]


def test_the_installed_lm_eval_has_every_patch_point():
    import lm_eval.config.evaluate_config as evaluate_config
    import lm_eval.evaluator_utils as evaluator_utils
    from lm_eval.tasks import TaskManager

    assert plugin.UNPATCHED == {}
    assert TaskManager._lm_eval_ext_patched and evaluate_config.EvaluatorConfig._lm_eval_ext_patched
    assert getattr(evaluator_utils, compat.results_hook_name(evaluator_utils))._lm_eval_ext_patched
    # keyword and positional callers both reach the patched __init__ (it binds by name)
    assert "mgsm_direct_de" in TaskManager(None, include_defaults=True).all_tasks


def test_tasks_load_through_include_path_with_the_hook_off():
    code = ("from lm_eval.tasks import TaskManager; from lm_eval_ext.compat import task_index; "
            f"print(task_index(TaskManager(include_path={str(resources.tasks_dir())!r}))['mgsm_direct_de'].yaml_path)")
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "LM_EVAL_EXT_AUTOLOAD": "0"})
    assert off.returncode == 0, off.stderr[-2000:]
    assert "tasks/mgsm/direct" in off.stdout
