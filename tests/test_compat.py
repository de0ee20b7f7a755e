"""What lm-eval-ext takes from lm-eval, against the lm-eval installed here: tests/run.sh runs this
file with each supported version (0.4.12, 0.4.13, 0.5.0.dev1), so a shape that moves fails here
instead of a hook silently doing nothing."""

from __future__ import annotations

import ast
import logging
import math
import os
import statistics
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from support.env import REPO, run_cli

from lm_eval_ext import compat, plugin
from lm_eval_ext.formats import run_folder


def test_every_patch_point_is_installed_and_doctor_says_so():
    import lm_eval.api.metrics as metrics
    import lm_eval.evaluator_utils as evaluator_utils

    assert plugin.UNPATCHED == {}
    hook = compat.results_hook_name(evaluator_utils)
    assert hook in compat.RESULTS_HOOKS and getattr(evaluator_utils, hook)._lm_eval_ext_patched
    assert metrics.stderr_for_metric._lm_eval_ext_patched
    proc = run_cli(["lm-eval-ext", "doctor"])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert f"lm-eval {compat.lm_eval_version()}: tested" in proc.stdout
    assert proc.stdout.count(": installed") == len(plugin.POINTS) and "ok: the plugin is active" in proc.stdout
    off = run_cli(["lm-eval-ext", "doctor"], env={"LM_EVAL_EXT_AUTOLOAD": "0"})
    assert off.returncode == 2 and "switched off by LM_EVAL_EXT_AUTOLOAD" in off.stdout
    assert "NOT installed: autoload inactive" in off.stdout


def test_version_dependent_imports():
    from lm_eval.tasks import TaskManager

    from lm_eval_ext.families import mgsm

    row = {"lang": "de", "question": "Roger hat 5 Tennisbälle.", "answer_number": 11, "cot": None}
    assert compat.apply_template(mgsm.prompt_parts("de", "native_cot")["doc_to_text"], row) == (
        "Frage: Roger hat 5 Tennisbälle.\nSchritt-für-Schritt-Antwort:")
    values = [0.0, 1.0, 1.0, 0.0, 1.0]
    assert compat.mean_stderr(values) == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)))
    index = compat.task_index(TaskManager())
    assert plugin.is_ours(index["mgsm_direct_de"].yaml_path)


def test_lm_eval_computes_no_stderr_for_our_aggregations():
    """0.5 bootstraps every aggregation but `mean` (100000 draws by default): ours get none from
    lm-eval (the results hook adds the ones we compute); lm-eval's own keep theirs."""
    import lm_eval.api.metrics as metrics

    from lm_eval_ext.families import xlc
    from lm_eval_ext.metrics import langid, mt

    for fn in (mt.bleu, mt.chrfpp, langid.mean_decidable, xlc.mgsm__accuracy_de):
        assert metrics.stderr_for_metric(fn, 100000) is None, fn
    assert metrics.stderr_for_metric(metrics.mean, 100000) is not None


def _registered_output_types() -> dict[str, set[str]]:
    """{metric name: output types} as the installed lm-eval registers them: 0.5's registry holds
    Metric objects; 0.4.x keeps only the names, so the output types come from the arguments of its
    @register_metric decorators (lm_eval/api/metrics.py)."""
    try:
        from lm_eval.api.registry import metric_registry

        metric_registry._ensure_loaded()
        entries = {name: metric_registry.get(name) for name in metric_registry.keys()}
        if all(hasattr(m, "output_type") for m in entries.values()):
            return {name: set(m.output_type) for name, m in entries.items()}
    except (ImportError, AttributeError):
        pass
    source = Path(find_spec("lm_eval.api.metrics").origin).read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_metric":
            kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("metric", "output_type")}
            types = kw.get("output_type", "multiple_choice")
            out[kw["metric"]] = {types} if isinstance(types, str) else set(types)
    assert out, "no @register_metric found"
    return out


def test_no_metric_name_of_ours_is_registered_for_another_output_type():
    """lm-eval 0.5 refuses a generate_until task naming a metric it registered for other output
    types (`f1`: multiple choice); every one of our tasks generates."""
    registered = _registered_output_types()
    assert "f1" in registered  # the check sees lm-eval's registry
    ours: dict[str, str] = {}
    for name, entry in plugin.task_index().items():
        cfg = entry.cfg or {}
        for m in [*(cfg.get("metric_list") or []), *(cfg.get("aggregate_metric_list") or [])]:
            if isinstance(m, dict) and isinstance(m.get("metric"), str):
                ours.setdefault(m["metric"], name)
        if cfg.get("output_type"):
            assert cfg["output_type"] == "generate_until", name
    assert {"exact_match", "f1_qa", "bleu", "accuracy_de", "agreement_mean"} <= set(ours)
    clashes = {m: (task, sorted(registered[m])) for m, task in ours.items()
               if m in registered and "generate_until" not in registered[m]}
    assert not clashes
    try:  # 0.5: the parser every task build runs, on every name of ours
        from lm_eval.api.metrics.utils import parse_metric
    except ImportError:
        return
    for name in ours:
        parse_metric({"metric": name, "aggregation": "mean", "higher_is_better": True}, "generate_until")


def test_our_tasks_build_without_lm_eval_warnings_about_them(caplog):
    """The per-task "Custom kwargs" warning (0.4.x and 0.5 log it from different loggers in
    different formats) and 0.5's per-metric "not found in registry" warning are silenced for our
    tasks and metrics."""
    from lm_eval.tasks import TaskManager

    with caplog.at_level(logging.WARNING):
        loaded = TaskManager().load(["xquad_de", "flores_eng_Latn-deu_Latn", "mgsm_direct_url"])
    assert loaded["tasks"]
    noisy = [r.getMessage()[:120] for r in caplog.records if compat.CUSTOM_DATASET_TEXT in r.getMessage()
             or compat.placeholder_metric(r)]
    assert not noisy


def test_nested_groups_through_the_python_api():
    """get_task_dict + evaluate fails for a group of groups on every supported lm-eval
    (EleutherAI/lm-evaluation-harness#3549); the two helpers give evaluate() what it handles."""
    from lm_eval.evaluator import evaluate
    from lm_eval.models.dummy import DummyLM
    from lm_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager()
    for task_dict in (compat.flat_task_dict(["mgsm_native_cot"], tm),
                      compat.flatten_task_dict(get_task_dict(["mgsm_native_cot"], tm))):
        out = evaluate(lm=DummyLM(), task_dict=task_dict, limit=1, bootstrap_iters=0, verbosity="ERROR")
        for group in ("mgsm_native_cot", "mgsm_native_cot_hrl", "mgsm_native_cot_url"):
            assert out["results"][group]["exact_match,strict-match"] == 0.0, group  # DummyLM replies "lol"
        assert {compat.base_task(t) for t in out["results"]} >= {"mgsm_native_cot_de", "mgsm_native_cot_th"}


def test_the_pth_line_never_raises(tmp_path):
    """Where the package cannot be imported (an editable install without `editables`), or its
    autoload fails, the .pth line does nothing; `lm-eval-ext doctor` says why."""
    line = (REPO / "lm_eval_ext.pth").read_text(encoding="utf-8").strip()
    assert line.startswith("import ") and "\n" not in line
    broken = tmp_path / "broken" / "lm_eval_ext"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    (broken / "_autoload.py").write_text("raise RuntimeError('a bug in the autoload')\n")
    for path in (tmp_path, tmp_path / "broken"):  # not importable; importable but failing
        site = tmp_path / f"site{len(str(path))}"
        site.mkdir()
        (site / "lm_eval_ext.pth").write_text(line + "\n")
        code = f"import sys, site; sys.path.insert(0, {str(path)!r}); site.addsitedir({str(site)!r}); print('started')"
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout == "started\n" and proc.stderr == "", proc.stderr


def test_base_task_of_every_key_shape():
    assert compat.base_task("mgsm_direct_hrl::mgsm_direct_de") == "mgsm_direct_de"
    assert compat.base_task("mgsm_direct_hrl::mgsm_direct_de", {"task": "mgsm_direct_de"}) == "mgsm_direct_de"
    assert compat.base_task("xquad_de", {"task": "xquad_de"}) == "xquad_de"
    assert compat.base_task("a::b::c") == "c"


@pytest.mark.skipif(os.environ.get("LM_EVAL_EXT_AUTOLOAD") == "0", reason="needs the autoload")
def test_a_results_hook_that_cannot_be_installed_leaves_lm_eval_running_and_says_so(tmp_path):
    """An lm-eval without a results hook we know: lm_eval still runs our task, and its results
    carry lm_eval_ext.annotation "unavailable: ..." (what the task YAML says until the hook runs)."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, lm_eval.evaluator_utils as eu\n"
        "from lm_eval_ext import compat, plugin\n"
        "assert compat.results_hook_name(eu)\n"
        "for name in compat.RESULTS_HOOKS:\n"
        "    fn = getattr(eu, name, None)\n"
        "    if fn is not None: setattr(eu, name, getattr(fn, '__wrapped__', fn))\n"  # as if never patched
        "plugin.patch_result_collection(type(sys)('lm_eval.evaluator_utils'))\n"  # a module without the hook
        "assert plugin.COLLECT_RESULTS in plugin.UNPATCHED, plugin.UNPATCHED\n"
        "from lm_eval.__main__ import cli_evaluate\n"
        "sys.argv = ['lm_eval', *sys.argv[1:]]\n"
        "cli_evaluate()\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(script), "run", "--model", "dummy", "--tasks", "mgsm_direct_de",
                           "--limit", "1", "--output_path", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    (path,) = out.rglob("results_*.json")
    cfg = json.loads(path.read_text())["configs"]["mgsm_direct_de"]
    assert run_folder.annotation(cfg) == plugin.ANNOTATION_UNAVAILABLE
    assert "metric_signatures" not in cfg["metadata"]
    report = run_cli(["lm-eval-ext", "report", str(out), "-o", str(tmp_path / "report")])
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "results annotation unavailable: lm-eval-ext's results hook did not run" in text
    assert "mgsm_direct_de" in text.split("results annotation unavailable")[1][:400]


def test_the_declared_range_is_what_ci_tests():
    """pyproject.toml admits exactly the line CI runs (compat.TESTED, pinned by the constraints files
    of tests/run.sh's environments), and this environment runs one of them."""
    import re

    from packaging.requirements import Requirement
    from packaging.version import Version

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (spec,) = [Requirement(d).specifier for d in deps if Requirement(d).name == "lm-eval"]
    assert all(spec.contains(v, prereleases=True) for v in compat.TESTED)
    assert not spec.contains("0.4.11") and not spec.contains("0.6.0", prereleases=True)
    pins = {f: re.search(r"^lm-eval==(\S+)", (REPO / "tests" / f).read_text(encoding="utf-8"), re.M)[1]
            for f in ("constraints-lowest.txt", "constraints-lm05.txt")}
    assert pins["constraints-lowest.txt"] == min(compat.TESTED, key=Version)
    assert pins["constraints-lm05.txt"] in compat.TESTED
    assert compat.lm_eval_version() in compat.TESTED
