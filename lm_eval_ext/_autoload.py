"""Make plain ``lm_eval`` see our tasks, with no flag and no cost at startup.

``lm_eval_ext.pth`` (installed into site-packages) imports this module when
Python starts. It only puts a finder on ``sys.meta_path`` that waits for two
lm-eval modules to be imported and then patches them:

- ``lm_eval.tasks.manager``: every ``TaskManager`` also indexes our ``tasks/``
  directory (as if ``--include_path`` named it, before any user path, so user
  paths still override ours). Our tasks replace lm-eval's built-in tasks of the
  same names (``mgsm_*``, ``xquad_*``, ``mlqa_*``); that is logged once instead of
  once per task.
- ``lm_eval.evaluator_utils``: right after the tasks' metrics are aggregated,
  our task configs get the signatures of this run's metrics (and the reasons
  for skipped ones, which are NaN) in their metadata, and FLORES's corpus
  metrics a capped bootstrap standard error (`lm_eval_ext.plugin.annotate_results`).
- ``lm_eval.evaluator_utils`` also: after lm-eval computed its groups, the group values it
  cannot compute (PolyMath's difficulty-weighted DW-ACC) replace its means.
- ``lm_eval.api.filter``: our reply filters see each reply's rendered prompt (a chat template
  that opened ``<think>`` in the prompt).
- ``lm_eval.config.evaluate_config``: after the CLI resolves ``--tasks`` and
  before it loads any model, the data files of our selected tasks are checked,
  so a missing file or language fails in a second, naming the path and task.

Nothing is imported from lm-eval here. Set ``LM_EVAL_EXT_AUTOLOAD=0`` to switch
the hook off (lm-eval then shows only its built-in tasks).
"""

import os
import sys

_PATCHES = {
    "lm_eval.tasks.manager": "patch_task_manager",
    "lm_eval.config.evaluate_config": "patch_evaluator_config",
    "lm_eval.evaluator_utils": "patch_result_collection",
    "lm_eval.api.filter": "patch_filter_prompts",
}


class _PatchingLoader:
    def __init__(self, real, patch_name):
        self._real = real
        self._patch_name = patch_name

    def create_module(self, spec):
        return self._real.create_module(spec)

    def exec_module(self, module):
        self._real.exec_module(module)
        from lm_eval_ext import plugin

        getattr(plugin, self._patch_name)(module)

    def __getattr__(self, name):  # get_source, is_package, ... for tools
        return getattr(self._real, name)


class _Finder:
    def find_spec(self, fullname, path=None, target=None):
        patch_name = _PATCHES.get(fullname)
        if patch_name is None:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, patch_name)
        return spec


def install():
    if os.environ.get("LM_EVAL_EXT_AUTOLOAD", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    already = [name for name in _PATCHES if name in sys.modules]
    if already:  # imported before us (unusual): patch in place
        from lm_eval_ext import plugin

        for name in already:
            getattr(plugin, _PATCHES[name])(sys.modules[name])
    sys.meta_path.insert(0, _Finder())


install()
