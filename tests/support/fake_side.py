"""Fake side interpreters for LM_EVAL_EXT_NEURAL_PYTHON: what a real side environment can turn
into (tests/test_neural_side_env.py). Each is an executable the parent starts exactly as it
starts a real one (``<python> -c BOOTSTRAP scorers.py worker.py``).

- `banner`: a shell wrapper that prints a line (``conda activate``-style) and runs a real
  interpreter;
- `silent`: a shell wrapper that never answers;
- `protocol`: a Python script speaking the worker protocol, with one misbehaviour: ``hangs``
  on scoring, ``warns`` (prints a warning on stdout when loading a model), or ``slow``
  (scoring takes SLOW_SECONDS whatever its size); scores are 0.5 each.
"""

from __future__ import annotations

import sys
from pathlib import Path

SLOW_SECONDS = 4.5

_PROTOCOL = '''#!{python}
import json, sys, time
MODE = {mode!r}
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    if op == "hello":
        reply = {{"ok": True, "python": "3.11", "executable": sys.executable, "packages": {{
            "unbabel-comet": "2.2.7", "bleurt-pytorch": "0.0.1", "torch": "2.6.0", "transformers": "4.57.0",
            "numpy": "1.26.4"}}}}
    elif op == "load":
        if MODE == "warns":
            print("UserWarning: TypedStorage is deprecated", flush=True)
        reply = {{"ok": True, "signature": "comet:fake|batch:16", "device": "cpu", "batch_size": 16}}
    elif op == "score":
        if MODE == "hangs":
            time.sleep(3600)
        if MODE == "slow":
            time.sleep({slow})
        reply = {{"ok": True, "scores": [0.5] * len(req["triples"]), "batches": 1}}
    else:
        print(json.dumps({{"ok": True}}), flush=True)
        break
    print(json.dumps(reply), flush=True)
'''


def _executable(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def banner(folder: Path, line: str = "Activating the neural environment ...") -> str:
    return _executable(folder / "banner-python", f'#!/bin/sh\necho "{line}"\nexec "{sys.executable}" "$@"\n')


def silent(folder: Path) -> str:
    return _executable(folder / "silent-python", "#!/bin/sh\nexec sleep 3600\n")


def protocol(folder: Path, mode: str) -> str:
    return _executable(folder / f"{mode}-python", _PROTOCOL.format(python=sys.executable, mode=mode,
                                                                  slow=SLOW_SECONDS))
