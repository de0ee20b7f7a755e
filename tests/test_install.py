"""Installation and discovery: plain lm-eval finds our tasks, from a checkout
(editable install) and from a built wheel."""

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
from support.env import REPO, run_cli


def test_lm_eval_ls_tasks_lists_ours_without_flags():
    proc = run_cli(["lm_eval", "ls", "tasks"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("mgsm_native_cot", "mgsm_direct_url", "mgsm_en_cot_sw"):
        line = next(l for l in proc.stdout.splitlines() if f"|{name} " in l)
        assert "tasks/mgsm/" in line  # ours, not lm-eval's built-in of the same family


def test_autoload_can_be_switched_off():
    code = "from lm_eval.tasks import TaskManager; print(TaskManager().task_index['mgsm_direct_de'].yaml_path)"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "LM_EVAL_EXT_AUTOLOAD": "0"})
    assert "tasks/mgsm/direct" in on.stdout and "lm_eval/tasks/mgsm" not in on.stdout
    assert "lm_eval/tasks/mgsm" in off.stdout  # the built-in task again


def test_lm_eval_ext_tasks_lists_groups_with_languages():
    proc = run_cli(["lm-eval-ext", "tasks"])
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.split() and l.split()[0] == "mgsm_native_cot_url")
    assert line.split()[-4:] == ["bn", "sw", "te", "th"]
    assert re.search(r"^\s+mgsm_en_cot_te\s+te Telugu \(underrepresented\)$", proc.stdout, re.M)
    js = run_cli(["lm-eval-ext", "tasks", "--json"])

    groups = json.loads(js.stdout)["groups"]
    assert len(groups["mgsm_direct"]["tasks"]) == 11 and sorted(groups["mgsm_direct"]["languages"]) == sorted(
        ["bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh"])


@pytest.mark.slow
def test_wheel_ships_tasks_and_autoload(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("lm_eval_ext-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lm_eval_ext.pth" in names
    assert "lm_eval_ext/tasks/mgsm/_mgsm_common_yaml" in names
    assert "lm_eval_ext/tasks/mgsm/native_cot/mgsm_native_cot_te.yaml" in names
    assert "lm_eval_ext/reports/README.md" in names
    assert "lm_eval_ext/data/flores200.csv" in names  # the FLORES-200 language table the registry reads
    assert not [n for n in names if n.endswith(".jsonl")]  # no benchmark data in the wheel

    # A non-editable install in a bare venv: the .pth runs at startup and the
    # packaged tasks are the ones found.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "-q", "--no-deps", str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = ("import sys, lm_eval_ext.resources as d; "
             "print('lm_eval_ext._autoload' in sys.modules, d.tasks_dir())")
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed wheel, not a checkout
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, env=bare)
    loaded, path = out.stdout.split()
    assert loaded == "True" and path.startswith(str(venv)) and path.endswith("lm_eval_ext/tasks")


@pytest.mark.slow
def test_installs_beside_vllm_without_downgrades(tmp_path):
    """`pip install lm-eval-ext vllm==0.32.0` resolves (metadata only, from the registry):
    our ranges admit vLLM's pins, and the stack it lands on is the modern one."""
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--disable-pip-version-check", "--report", str(report), str(REPO), "vllm==0.32.0"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    assert resolved["vllm"] == "0.32.0" and resolved["lm-eval-ext"]
    assert resolved["transformers"].split(".")[0] == "5" and resolved["numpy"].split(".")[0] == "2"
