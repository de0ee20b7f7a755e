"""The README's first command: `lm-eval-ext demo` on the embedded SmolLM2, here
cut down to two languages and one item so that it stays a test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from support.env import run_cli

from lm_eval_ext.local.demo import DEMO_SAMPLE


def test_demo_runs_the_embedded_model_and_prints_a_language_table(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli(["lm-eval-ext", "demo", "--langs", "en,sw", "--limit", "1", "--max-gen-toks", "24",
                    "--output", str(out)], timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "[1/3] preparing the embedded model SmolLM2-135M-Instruct" in text
    assert f"local data: {os.environ['LM_EVAL_EXT_DATA_DIR']}" in text
    header = next(line for line in text.splitlines() if line.startswith("lang "))
    assert header.split() == ["lang", "language", "tier", "strict", "flexible", "in-lang", "n"]
    rows = {line.split()[0]: line for line in text.splitlines() if re.match(r"^(en|sw) ", line)}
    assert set(rows) == {"en", "sw"}
    assert "Swahili Kiswahili" in rows["sw"] and "underrepresented" in rows["sw"]
    assert rows["en"].split()[-1] == "1" and rows["sw"].split()[-1] == "1"  # n = --limit
    # the printed numbers are lm-eval's own results for the run it points at
    results_path = next(out.rglob("results_*.json"))
    assert f"lm-eval output: {results_path.parent}" in text
    res = json.loads(results_path.read_text())["results"]
    for code, line in rows.items():
        strict = res[f"mgsm_native_cot_{code}"]["exact_match,strict-match"]
        assert line.split()[-4] == f"{strict:.3f}"
    assert list(results_path.parent.glob("samples_mgsm_native_cot_sw_*.jsonl"))


def test_demo_without_a_data_folder_runs_offline_on_the_labelled_demo_sample(tmp_path):
    """The README's first line on a machine with no ../shared: no
    LM_EVAL_EXT_DATA_DIR, no hub (offline), so the demo writes its labelled
    sample (not MGSM) and still runs lm_eval end to end."""
    env = {k: v for k, v in os.environ.items() if k != "LM_EVAL_EXT_DATA_DIR"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = tmp_path / "demo"
    proc = subprocess.run([str(Path(sys.executable).parent / "lm-eval-ext"), "demo", "--langs", "en,sw", "--limit", "1",
                           "--max-gen-toks", "8", "--output", str(out)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "[2/3] data: DEMO SAMPLE, two problems per language written for the demo (not MGSM" in text
    rows = {line.split()[0]: line for line in text.splitlines() if re.match(r"^(en|sw) ", line)}
    assert set(rows) == {"en", "sw"} and all(line.split()[-1] == "1" for line in rows.values())
    results_path = next(out.rglob("results_*.json"))
    res = json.loads(results_path.read_text())["results"]
    for code, line in rows.items():
        assert line.split()[-4] == f"{res[f'mgsm_native_cot_{code}']['exact_match,strict-match']:.3f}"
        (samples,) = list(results_path.parent.glob(f"samples_mgsm_native_cot_{code}_*.jsonl"))
        (first, *_) = [json.loads(s) for s in samples.read_text(encoding="utf-8").splitlines()]
        assert first["doc"]["question"] == DEMO_SAMPLE[code][0]  # the labelled sample, not MGSM
