"""``lm-eval-ext neural-env DIR``: a side environment for COMET and BLEURT.

The released ``unbabel-comet`` and ``bleurt-pytorch`` pin transformers<5, numpy<2
and huggingface-hub<1. Rather than downgrading the environment a run was made
in (vLLM, transformers 5), they get a venv of their own; setting
``LM_EVAL_EXT_NEURAL_PYTHON=DIR/bin/python`` then routes every COMET/BLEURT
score of ``lm_eval`` (in-run) and ``lm-eval-ext rescore`` through one worker
process there (`lm_eval_ext.runtime.neural_worker.WorkerScorer`).

torch comes first and as you name it (``--torch 'torch==2.6.0'``, an index URL
for a CUDA build through ``--pip-arg``): the side environment needs its own
torch, and the build is your choice, never ours.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from lm_eval_ext.exit_codes import ExitCode
from lm_eval_ext.metrics.neural import MetricUnavailable
from lm_eval_ext.runtime import neural, neural_worker


class NeuralEnvError(RuntimeError):
    pass


def python_of(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _run(cmd: list[str], what: str) -> int:
    """The exit status of `cmd`; NeuralEnvError naming `what` when it cannot be started."""
    try:
        return subprocess.run(cmd).returncode
    except OSError as err:
        raise NeuralEnvError(f"{what} {cmd[0]}: cannot run it ({err.strerror or err})") from None


def _pip(python: Path, args: list[str], pip_args: list[str]) -> None:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *pip_args, *args]
    print("$ " + " ".join(cmd), flush=True)
    if _run(cmd, "the side environment's interpreter") != 0:
        raise NeuralEnvError(f"pip install {' '.join(args)} failed in {python} (output above)")


def check(python: str) -> dict:
    """Start a worker in `python` and report its packages; NeuralEnvError when it
    cannot run or lacks a reference package."""
    try:
        worker = neural_worker.Worker(str(python))
    except (MetricUnavailable, neural_worker.WorkerDied) as err:
        raise NeuralEnvError(str(err)) from None
    try:
        info = worker.info
    finally:
        worker.close()
    missing = [d for d in ("unbabel-comet", "bleurt-pytorch", "torch") if not info["packages"].get(d)]
    if missing:
        raise NeuralEnvError(f"{python} lacks {', '.join(missing)} (lm-eval-ext neural-env DIR installs them)")
    return info


def create(folder: Path, torch_spec: str = "torch", pip_args: list[str] | None = None,
           base_python: str | None = None) -> Path:
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise NeuralEnvError(f"DIR {folder}: exists and is not a folder (give the folder of a new or existing "
                             "side environment)")
    python = python_of(folder)
    if not python.exists():
        print(f"creating the side environment {folder}", flush=True)
        if base_python:
            if _run([base_python, "-m", "venv", str(folder)], "--python") != 0:
                raise NeuralEnvError(f"{base_python} -m venv {folder} failed")
        else:
            try:
                venv.EnvBuilder(with_pip=True).create(folder)
            except (OSError, subprocess.CalledProcessError) as err:
                raise NeuralEnvError(f"DIR {folder}: the environment cannot be created ({err})") from None
    pip_args = list(pip_args or [])
    _pip(python, [torch_spec], pip_args)  # first: the reference packages' own torch range is wide
    _pip(python, list(neural_worker.SIDE_ENV_REQUIREMENTS), pip_args)
    return python


def run_command(args) -> int:
    try:
        if args.check:
            python = args.dir and python_of(Path(args.dir)) or neural.side_python()
            if not python:
                print(f"lm-eval-ext neural-env: error: give DIR or set {neural_worker.SIDE_PYTHON_ENV}",
                      file=sys.stderr)
                return ExitCode.BAD_INPUT
        else:
            if not args.dir:
                print("lm-eval-ext neural-env: error: DIR is required (the folder of the new environment)",
                      file=sys.stderr)
                return ExitCode.BAD_INPUT
            python = create(Path(args.dir), args.torch, args.pip_arg, args.python)
        info = check(str(python))
    except NeuralEnvError as err:
        print(f"lm-eval-ext neural-env: error: {err}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    pk = info["packages"]
    print(f"side environment ok: Python {info['python']}, unbabel-comet {pk['unbabel-comet']}, bleurt-pytorch "
          f"{pk['bleurt-pytorch']}, torch {pk['torch']}, transformers {pk['transformers']}, numpy {pk['numpy']}")
    print(f"use it with:\n  export {neural_worker.SIDE_PYTHON_ENV}={python}")
    return ExitCode.OK
