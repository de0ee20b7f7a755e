"""``lm-eval-ext doctor``: is the plugin active in this environment, and if not, why.

It reports the versions (ours, lm-eval's and whether CI tests that one), whether
``lm_eval_ext.pth`` is installed and ran at this interpreter's start (it does nothing when the
package cannot be imported: an editable install without the ``editables`` package, a broken
dependency), each patch point of `lm_eval_ext.plugin` with the reason it was not installed
(`plugin.UNPATCHED`), and how many of our tasks lm-eval's own TaskManager finds.

Exit status 0 when the plugin is fully active, 2 (an environment that cannot work as documented)
otherwise.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

from lm_eval_ext.exit_codes import ExitCode

PTH = "lm_eval_ext.pth"
EDITABLE_PTH = "_editable_impl_lm_eval_ext.pth"
# the lm-eval modules whose loading installs a patch point (`lm_eval_ext._autoload`)
PATCHED_MODULES = ("lm_eval.tasks.manager", "lm_eval.config.evaluate_config", "lm_eval.evaluator_utils",
                   "lm_eval.api.metrics", "lm_eval.api.filter")


def _site_dirs() -> list[Path]:
    import site

    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    return [Path(d) for d in dict.fromkeys([*dirs, *([user] if user else [])])]


def _autoload_state(out: list[str]) -> bool:
    """Whether the .pth line ran and installed the finder; explains why not."""
    import importlib.util

    pths = [d / PTH for d in _site_dirs() if (d / PTH).is_file()]
    editable = [d / EDITABLE_PTH for d in _site_dirs() if (d / EDITABLE_PTH).is_file()]
    if editable and importlib.util.find_spec("editables") is None:
        out.append(f"  editable install without the `editables` package ({editable[0]}): the package cannot be "
                   "imported at interpreter start; fix: pip install editables")
    if not pths:
        out.append(f"  {PTH} is in none of {', '.join(map(str, _site_dirs()))}: the plugin is not installed here "
                   "(pip install lm-eval-ext, or pip install -e . in a checkout); lm_eval finds our tasks only "
                   "with --include_path")
        return False
    out.append(f"  {PTH}: {pths[0]}")
    if os.environ.get("LM_EVAL_EXT_AUTOLOAD", "1").strip().lower() in ("0", "false", "no", "off"):
        out.append("  switched off by LM_EVAL_EXT_AUTOLOAD (lm_eval shows its built-in tasks only)")
        return False
    if "lm_eval_ext._autoload" not in sys.modules:
        try:
            importlib.import_module("lm_eval_ext._autoload")  # what the .pth line tried at start
        except Exception as err:  # noqa: BLE001
            out.append(f"  the {PTH} line failed at interpreter start: {type(err).__name__}: {err}")
            out.extend("    " + line for line in traceback.format_exc().rstrip().splitlines()[-6:])
            return False
        out.append(f"  the {PTH} line did not run at interpreter start (python -S, or another interpreter's "
                   "site-packages); imported now")
    from lm_eval_ext import _autoload

    if not any(isinstance(f, _autoload._Finder) for f in sys.meta_path):
        out.append("  the import hook is not installed")
        return False
    out.append("  active: lm-eval is patched when it loads")
    return True


def run(args=None, out=None) -> int:
    import lm_eval_ext
    from lm_eval_ext import compat

    stream = out or sys.stdout
    lines = [f"lm-eval-ext {lm_eval_ext.__version__} ({Path(lm_eval_ext.__file__).parent})",
             f"python {sys.version.split()[0]} ({sys.executable})"]
    version = compat.lm_eval_version()
    tested = ", ".join(compat.TESTED)
    if version == "unknown":
        lines.append("lm-eval: not installed (pip install 'lm-eval[api,hf]')")
        print("\n".join(lines), file=stream)
        return ExitCode.BAD_INPUT
    lines.append(f"lm-eval {version}: " + ("tested" if version in compat.TESTED else "NOT tested")
                 + f" (CI tests {tested})")
    lines.append("autoload:")
    healthy = plugin_active = _autoload_state(lines)
    try:
        for module in PATCHED_MODULES:  # each import triggers its patch
            importlib.import_module(module)
    except Exception as err:  # noqa: BLE001
        lines.append(f"lm-eval cannot be imported: {type(err).__name__}: {err}")
        print("\n".join(lines), file=stream)
        return ExitCode.BAD_INPUT
    from lm_eval_ext import plugin

    lines.append("patch points:")
    for point, installed in _points():
        why = plugin.UNPATCHED.get(point)
        state = "installed" if installed else f"NOT installed: {why or 'autoload inactive'}"
        lines.append(f"  {point}: {state}")
        healthy = healthy and installed
    if healthy:
        lines.append(f"results annotation: configs.<task>.metadata.lm_eval_ext.annotation = {plugin.ANNOTATION_OK!r}")
    else:
        lines.append(f"results annotation: our tasks' results will say {plugin.ANNOTATION_UNAVAILABLE[:60]!r}...")
    lines.append("tasks:")
    if not plugin_active:
        lines.append("  not looked up: without the autoload lm-eval finds ours only with --include_path")
        lines.append("NOT ok: see above")
        print("\n".join(lines), file=stream)
        return ExitCode.BAD_INPUT
    try:
        from lm_eval.tasks import TaskManager

        index = compat.task_index(TaskManager())
        ours = [name for name, entry in index.items() if plugin.is_ours(entry.yaml_path)]
        lines.append(f"  lm-eval's TaskManager finds {len(ours)} of ours ({len(index)} in all)")
        healthy = healthy and bool(ours)
    except Exception as err:  # noqa: BLE001
        lines.append(f"  lm-eval's TaskManager failed: {type(err).__name__}: {err}")
        healthy = False
    lines.append("ok: the plugin is active" if healthy else "NOT ok: see above")
    print("\n".join(lines), file=stream)
    return ExitCode.OK if healthy else ExitCode.BAD_INPUT


def _points() -> list[tuple[str, bool]]:
    """(patch point, installed?) for each point of `plugin.POINTS`, as the loaded lm-eval shows it."""
    import lm_eval.api.filter as filters
    import lm_eval.api.metrics as metrics
    import lm_eval.config.evaluate_config as evaluate_config
    import lm_eval.evaluator_utils as evaluator_utils
    import lm_eval.tasks.manager as manager

    from lm_eval_ext import compat, plugin

    def patched(obj) -> bool:
        return bool(getattr(obj, "_lm_eval_ext_patched", False))

    hook = compat.results_hook_name(evaluator_utils)
    groups = compat.group_hook_name(evaluator_utils)
    return [
        (plugin.TASK_MANAGER_INIT, patched(getattr(manager, "TaskManager", None))),
        (plugin.PROCESS_TASKS, patched(getattr(evaluate_config, "EvaluatorConfig", None))),
        (plugin.COLLECT_RESULTS, bool(hook) and patched(getattr(evaluator_utils, hook))),
        (plugin.STDERR_FOR_METRIC, patched(getattr(metrics, "stderr_for_metric", None))),
        (plugin.GROUP_VALUES, bool(groups) and patched(getattr(evaluator_utils, groups))),
        (plugin.FILTER_PROMPTS, patched(getattr(filters, "FilterEnsemble", None))),
    ]
