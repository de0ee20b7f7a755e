"""Answer checks with a deadline: `metrics.math_answer` where adversarial LaTeX cannot hang a run.

``check(pred, gold) -> Verdict(equal, timed_out)``. The cheap verdicts (string forms, numbers:
`math_answer.quick_equal`) are given in this process. The symbolic ones run in one worker
process (started on first use, JSON lines on its stdin/stdout, like the side-environment
worker), which this process kills and restarts when a check passes its deadline
(`DEADLINE_S`): a tower of exponents or a 10^6-character box is then a wrong answer counted in
``check_timeout``, never a hung run. Signals cannot do this: math-verify's own timeout uses
``signal.alarm``, which works only in the main thread and cannot interrupt a long big-integer
operation inside C; a process can always be killed. The worker also caps its address space
(`MEMORY_BYTES`), so a huge power fails with MemoryError instead of swapping the machine.

Works from any thread (one request at a time per worker, under a lock) and in every process
of a data-parallel or xdist run (each has its own worker). Without math-verify installed the
symbolic verdicts are unavailable: `unavailable` says why, and `check` raises `Unavailable`.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("lm_eval_ext")

DEADLINE_S = 10.0  # per symbolic check: generous on a loaded machine (the release gives sympy 1 s per call)
START_DEADLINE_S = 120.0  # importing sympy and math-verify in the worker
MEMORY_BYTES = 4 << 30
MAX_ANSWER_CHARS = 20_000  # longer answers are compared as strings only (no gold is this long)
_ANSWERS_FILE = Path(__file__).resolve().parents[1] / "metrics" / "math_answer.py"


@dataclass(frozen=True)
class Verdict:
    equal: bool
    timed_out: bool = False


class Unavailable(RuntimeError):
    pass


def unavailable() -> str | None:
    """None when the symbolic checker (math-verify) imports here, else why not."""
    from lm_eval_ext import optional

    reason = optional.missing("math")
    if reason:
        optional.warn_once(reason)
    return reason


def signature() -> str:
    """The checker with the installed versions of what decides symbolic verdicts."""
    from importlib.metadata import PackageNotFoundError, version

    def v(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    return (f"math-verify-{v('math-verify')}|latex2sympy2_extended-{v('latex2sympy2_extended')}|sympy-{v('sympy')}"
            f"|deadline:{DEADLINE_S:g}s(killed-process)|timeout:wrong")


class _Worker:
    """One process running `worker_main`."""

    BOOTSTRAP = (
        "import importlib.util, sys\n"
        "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
        "spec = importlib.util.spec_from_file_location('_lm_eval_ext_math_answer', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)\n"
        "spec = importlib.util.spec_from_file_location('_lm_eval_ext_math_check', sys.argv[2])\n"
        "w = importlib.util.module_from_spec(spec); sys.modules[spec.name] = w; spec.loader.exec_module(w)\n"
        "w.worker_main(mod)\n"
    )

    def __init__(self):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LM_EVAL_EXT_AUTOLOAD": "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.BOOTSTRAP, str(_ANSWERS_FILE), str(Path(__file__).resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        reply = self._ask({"op": "hello"}, START_DEADLINE_S)
        if reply is None or not reply.get("ok"):
            self.kill()
            raise Unavailable(f"the answer-check worker did not start ({(reply or {}).get('reason', 'no reply')})")

    def _ask(self, payload: dict, deadline_s: float) -> dict | None:
        """The reply, or None when the deadline passed (the worker is then killed)."""
        try:
            self.proc.stdin.write((json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        end = time.monotonic() + deadline_s
        fd = self.proc.stdout.fileno()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                self.kill()
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    self.kill()
                    return {"ok": False, "reason": f"worker exited ({self.proc.wait()})"}
                return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()


_lock = threading.Lock()
_worker: _Worker | None = None
timeouts = 0  # checks that passed their deadline in this process


def _symbolic(pred: str, gold: str, deadline_s: float) -> Verdict:
    global _worker, timeouts
    with _lock:
        if _worker is None or not _worker.alive():
            _worker = _Worker()
        reply = _worker._ask({"op": "equal", "pred": pred, "gold": gold}, deadline_s)
        if reply is None:
            timeouts += 1
            log.debug("answer check passed its %.1f s deadline (pred %.60r, gold %.60r)", deadline_s, pred, gold)
            _worker = None
            return Verdict(False, timed_out=True)
    if not reply.get("ok"):  # the worker died on this input (memory): wrong, and counted
        timeouts += 1
        return Verdict(False, timed_out=True)
    return Verdict(bool(reply["equal"]))


@lru_cache(maxsize=65536)
def check(pred: str, gold: str, deadline_s: float = DEADLINE_S) -> Verdict:
    """Whether the extracted answer `pred` equals `gold` (`metrics.math_answer.equal`), with a
    deadline on the symbolic part; a check that passes it is wrong and `timed_out`."""
    from lm_eval_ext.metrics import math_answer

    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return Verdict(pred.strip() == gold.strip())
    quick = math_answer.quick_equal(pred, gold)
    if quick is not None:
        return Verdict(quick)
    reason = unavailable()
    if reason:
        raise Unavailable(reason)
    return _symbolic(pred, gold, deadline_s)


@atexit.register
def close() -> None:
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


def worker_main(answers) -> None:
    """The worker's end (started by `_Worker`, never by users): `answers` is metrics/math_answer.py
    loaded by path, so the worker imports nothing of lm_eval_ext (no plugin, no lm-eval)."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ValueError, OSError):  # pragma: no cover - a platform without the limit
        pass
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # "timeout is disabled": ours is the process
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req.get("op") == "hello":
                import math_verify  # noqa: F401  (fails here, loudly, when missing)

                reply = {"ok": True}
            else:
                reply = {"ok": True, "equal": bool(answers.symbolic_equal(req["pred"], req["gold"]))}
        except MemoryError:
            reply = {"ok": False, "reason": "MemoryError"}
        except Exception as err:  # a parser error is a wrong answer, as math-verify itself treats it
            reply = {"ok": True, "equal": False, "error": f"{type(err).__name__}: {str(err)[:200]}"}
        protocol.write(json.dumps(reply) + "\n")
