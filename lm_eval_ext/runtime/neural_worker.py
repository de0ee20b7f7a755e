"""The side-environment worker, both ends.

The released ``unbabel-comet`` and ``bleurt-pytorch`` pin transformers<5, numpy<2 and
huggingface-hub<1, so in a modern environment (vLLM, transformers 5) they run in a venv of
their own (``lm-eval-ext neural-env DIR`` builds one; ``LM_EVAL_EXT_NEURAL_PYTHON`` names
its interpreter). One worker process per side environment, started on first use, runs the
very scorer classes of `lm_eval_ext.metrics.neural`, so numbers equal the in-process ones.

- parent end: `Worker` (JSON lines on the worker's stdin/stdout, one request at a time) and
  `WorkerScorer` (a scorer whose batches the worker scores);
- deadlines: every request must be answered within ``LM_EVAL_EXT_NEURAL_TIMEOUT`` seconds
  (default 600: starting the interpreter, loading a checkpoint), a scoring request within that
  x (1 + segments / 100) (a request carries batch_size x 8 segments). A worker past its
  deadline, or one that prints anything but the protocol on stdout (a wrapper script's
  banner), is killed and the metric is NaN with the reason; a worker that stopped answering
  is not asked again in this process (its environment's next metric, and every later task,
  get the same reason at once), and the rest of the run is written;
- child end: `worker_main`. The child loads ``metrics/neural.py`` and this file by path (the
  side environment need not have lm_eval_ext installed), so this module imports nothing of
  lm_eval_ext at module level; `_scorers()` finds the scorer module in either process.
"""

from __future__ import annotations

import atexit
import collections
import importlib
import json
import logging
import math
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

log = logging.getLogger("lm_eval_ext")

SIDE_PYTHON_ENV = "LM_EVAL_EXT_NEURAL_PYTHON"
TIMEOUT_ENV = "LM_EVAL_EXT_NEURAL_TIMEOUT"
DEFAULT_TIMEOUT = 600.0  # seconds: a cold start of torch + COMET, a large checkpoint from a slow disk
SEGMENTS_PER_TIMEOUT = 100  # a scoring request's deadline grows by one timeout per this many segments
# What a side environment holds (`lm-eval-ext neural-env`; also the [neural] extra):
# the reference packages with their own pins. setuptools<81 keeps pkg_resources,
# which comet's torchmetrics 0.10 imports.
SIDE_ENV_REQUIREMENTS = ("unbabel-comet==2.2.7", "bleurt-pytorch==0.0.1", "setuptools<81")
_SCORERS_MODULE = "_lm_eval_ext_neural_scorers"  # the child's name for metrics/neural.py
_SCORERS_FILE = Path(__file__).resolve().parents[1] / "metrics" / "neural.py"


def _scorers():
    """`lm_eval_ext.metrics.neural`, as loaded in this process (by path in the child)."""
    return sys.modules.get(_SCORERS_MODULE) or importlib.import_module("lm_eval_ext.metrics.neural")


class WorkerDied(RuntimeError):
    pass


class WorkerFailed(WorkerDied):
    """A worker that was killed: past its deadline, or printing non-protocol output."""


def timeout() -> float:
    """The base deadline of a request (LM_EVAL_EXT_NEURAL_TIMEOUT, seconds)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise _scorers().MetricUnavailable(f"{TIMEOUT_ENV}={raw!r}: not a number of seconds > 0")
    return value


def score_deadline(segments: int) -> float:
    """The deadline of a scoring request of `segments` (source, hypothesis, reference) triples."""
    return timeout() * (1 + segments / SEGMENTS_PER_TIMEOUT)


# side environments (by interpreter) and (interpreter, setting) pairs whose worker was killed
# for a deadline or for non-protocol output: not asked again in this process
FAILED: dict = {}


class Worker:
    """One process in the side environment running `worker_main`."""

    # Loads the two files by path, with the working directory off sys.path so nothing
    # there shadows a module.
    BOOTSTRAP = (
        "import importlib.util, sys\n"
        "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
        "def load(name, path):\n"
        "    spec = importlib.util.spec_from_file_location(name, path)\n"
        "    mod = importlib.util.module_from_spec(spec); sys.modules[name] = mod\n"
        "    spec.loader.exec_module(mod); return mod\n"
        f"load({_SCORERS_MODULE!r}, sys.argv[1])\n"
        "load('_lm_eval_ext_neural_worker', sys.argv[2]).worker_main()\n"
    )

    def __init__(self, python: str):
        self.python = python
        start_deadline = timeout()  # a bad setting is a reason before anything is started
        self._lock = threading.Lock()
        self._stderr_tail: collections.deque = collections.deque(maxlen=40)
        try:
            self.proc = subprocess.Popen(
                [python, "-c", self.BOOTSTRAP, str(_SCORERS_FILE), str(Path(__file__).resolve())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as err:
            raise _scorers().MetricUnavailable(
                f"{SIDE_PYTHON_ENV}={python}: cannot start it ({err.strerror or err})") from None
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain_stderr, daemon=True, name="neural-worker-stderr").start()
        threading.Thread(target=self._read_stdout, daemon=True, name="neural-worker-stdout").start()
        self.info = self.request({"op": "hello"}, start_deadline)

    def _read_stdout(self) -> None:
        for raw in self.proc.stdout:
            self._lines.put(raw)
        self._lines.put(b"")  # end of output

    def _drain_stderr(self) -> None:
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                log.debug("neural worker: %s", line)

    def stderr_tail(self, n: int = 6) -> str:
        return " | ".join(list(self._stderr_tail)[-n:])

    def request(self, payload: dict, deadline: float | None = None) -> dict:
        """The worker's reply to `payload`, within `deadline` seconds (default: `timeout()`);
        WorkerFailed (the worker killed) past it or on a line that is not the protocol's."""
        deadline = timeout() if deadline is None else deadline
        with self._lock:
            end = time.monotonic() + deadline
            # written by a thread: a worker that stopped reading must not block us on a full pipe
            writer = threading.Thread(target=self._send, args=(payload,), daemon=True, name="neural-worker-stdin")
            writer.start()
            try:
                line = self._lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise WorkerFailed(f"the neural worker ({SIDE_PYTHON_ENV}={self.python}) did not answer the "
                                   f"{payload.get('op')!r} request within {deadline:.0f} s ({TIMEOUT_ENV}; "
                                   f"README, Neural metrics); killed") from None
            if not line:
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:  # stdout closed, process alive
                    self.kill()
                raise WorkerDied(f"the neural worker ({SIDE_PYTHON_ENV}={self.python}) exited with "
                                 f"{self.proc.returncode}: {self.stderr_tail() or 'no output'}")
            try:
                reply = json.loads(line)
                if not isinstance(reply, dict) or "ok" not in reply:
                    raise ValueError
            except ValueError:  # a wrapper's banner, a library printing on stdout
                self.kill()
                first = line.decode("utf-8", "replace").strip()[:200]
                raise WorkerFailed(f"the side interpreter printed non-protocol output: {first} "
                                   f"({SIDE_PYTHON_ENV}={self.python}; it must print nothing on stdout)") from None
        if not reply.get("ok"):
            reason = f"{reply.get('reason')} (in the side environment {SIDE_PYTHON_ENV}={self.python})"
            if reply.get("kind") == "unavailable":
                raise _scorers().MetricUnavailable(reason)
            raise RuntimeError(reason)
        return reply

    def _send(self, payload: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):  # it exited (its end of stdout tells why)
            pass

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request({"op": "exit"}, deadline=10)
            except Exception:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


WORKERS: dict[str, Worker] = {}


def worker(python: str) -> Worker:
    """The running worker of a side environment (started, or restarted after it died);
    WorkerFailed at once for one that was killed at its start in this process."""
    if python in FAILED:
        raise WorkerFailed(FAILED[python])
    w = WORKERS.get(python)
    if w is None or w.proc.poll() is not None:
        try:
            w = WORKERS[python] = Worker(python)
        except WorkerFailed as err:
            FAILED[python] = str(err)
            raise
    return w


@atexit.register
def close_workers() -> None:
    for w in list(WORKERS.values()):
        w.close()


class WorkerScorer(_scorers()._Scorer):
    """A scorer living in the side environment: same classes, same numbers."""

    def __init__(self, cfg, python: str):
        self.cfg = cfg
        self.python = python
        self.model_calls = 0
        try:
            reply = self._request({"op": "load", "setting": asdict(cfg)}, timeout())
        except WorkerDied as err:
            raise _scorers().MetricUnavailable(str(err)) from None
        self.metric = cfg.metric
        self.device = reply["device"]
        self.batch_size = reply["batch_size"]
        self._signature = reply["signature"]

    def signature(self) -> str:
        from lm_eval_ext.signature import Signature

        return str(Signature.of(Signature.parse(self._signature), ("via", "side-env")))

    def _request(self, payload: dict, deadline: float) -> dict:
        key = (self.python, self.cfg)
        if key in FAILED:
            raise WorkerFailed(FAILED[key])
        try:
            return worker(self.python).request(payload, deadline)
        except WorkerFailed as err:
            FAILED[key] = str(err)
            raise

    def score(self, triples):
        try:
            reply = self._request({"op": "score", "setting": asdict(self.cfg), "triples": triples},
                                  score_deadline(len(triples)))
        except WorkerFailed as err:  # the reason as it is, not "scoring failed (...)"
            raise _scorers().MetricUnavailable(str(err)) from None
        self.model_calls += reply["batches"]
        return [float(x) for x in reply["scores"]]


def worker_main() -> None:
    """The side environment's end of `Worker` (started by it, never by users)."""
    neural = _scorers()
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    loaded: dict = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "exit":
                protocol.write(json.dumps({"ok": True}) + "\n")
                break
            if op == "hello":
                reply = {"ok": True, "python": sys.version.split()[0], "executable": sys.executable,
                         "packages": neural.package_versions(
                             ("unbabel-comet", "bleurt-pytorch", "torch", "transformers", "numpy"))}
            elif op in ("load", "score"):
                cfg = neural.Setting(**req["setting"])
                sc = loaded.get(cfg)
                if sc is None:
                    sc = loaded[cfg] = neural.load_in_process(cfg.metric, cfg)
                if op == "load":
                    reply = {"ok": True, "signature": sc.signature(), "device": sc.device,
                             "batch_size": sc.batch_size}
                else:
                    before = sc.model_calls
                    scores = sc.score([tuple(t) for t in req["triples"]])
                    reply = {"ok": True, "scores": scores, "batches": sc.model_calls - before}
            else:
                reply = {"ok": False, "kind": "failed", "reason": f"unknown request {op!r}"}
        except neural.MetricUnavailable as err:
            reply = {"ok": False, "kind": "unavailable", "reason": str(err)}
        except Exception as err:  # reported to the parent, which records the metric as skipped
            first = (str(err).splitlines() or [""])[0][:300]
            reply = {"ok": False, "kind": "failed", "reason": f"{type(err).__name__}: {first}"}
        protocol.write(json.dumps(reply) + "\n")
