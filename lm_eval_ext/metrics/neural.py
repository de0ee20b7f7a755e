"""COMET and BLEURT: loaded once per process, batched by length, cached on disk.

Settings (environment; one per metric, read when the metric first runs):

    LM_EVAL_EXT_COMET  = MODEL[;batch_size=N][;encoder=PATH]   default Unbabel/wmt22-comet-da
    LM_EVAL_EXT_BLEURT = MODEL[;batch_size=N]                  default lucadiliello/BLEURT-20-D12
                         (``off`` switches a metric off; batch_size defaults to 64
                         on a GPU, 16 on CPU: see BENCHMARKS.md)
    LM_EVAL_EXT_SCORE_CACHE = sqlite file (default ~/.cache/lm_eval_ext/neural_scores.sqlite; ``off``: no cache)

MODEL is a hub id or a local folder (COMET: the folder holding
``checkpoints/model.ckpt`` and ``hparams.yaml``; BLEURT: a transformers folder).
COMET checkpoints name their encoder in ``hparams.yaml`` (``pretrained_model:
xlm-roberta-large``) and COMET fetches that encoder's config and tokenizer from
the hub even though the weights come from the checkpoint; ``encoder=PATH``
points it at a local copy instead (a folder with the XLM-R config and tokenizer).

Scoring: unique (source, hypothesis, reference) triples not in the cache are
sorted by length (less padding), cut into batches of ``batch_size`` and run
under ``torch.inference_mode`` on the GPU when there is one (else CPU), calling
the checkpoint's own ``prepare_for_inference``/``predict_step`` (COMET) or the
model's logits (BLEURT), so scores equal ``comet``'s ``predict``. Scores are
stored in the cache keyed by (metric, model, source, hypothesis, reference).

Side environment (``LM_EVAL_EXT_NEURAL_PYTHON=/path/to/venv/bin/python``): the
released ``unbabel-comet`` and ``bleurt-pytorch`` pin transformers<5, numpy<2 and
huggingface-hub<1, so in a modern environment (vLLM, transformers 5) they run in
a venv of their own (``lm-eval-ext neural-env DIR`` builds one). The setting
makes every scorer of this process a `WorkerScorer`: one worker process per
side environment, started on first use, runs this very file (it imports nothing
of lm_eval_ext) with the same scorer classes, so numbers equal the in-process
ones; the cache stays in this process, so only cache misses cross the pipe.

A metric that cannot run (package or checkpoint missing, offline) is skipped:
its value is NaN and the reason is logged and written into the results
(``metadata.metric_signatures``); BLEU and chrF++ are unaffected.

Keep this module free of imports from lm_eval_ext: the worker loads it by path
in an environment where lm_eval_ext is not installed.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import json
import logging
import math
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("lm_eval_ext")

DEFAULTS = {"comet": "Unbabel/wmt22-comet-da", "bleurt": "lucadiliello/BLEURT-20-D12"}
DEFAULT_BATCH_SIZE = {"cuda": 64, "cpu": 16}
CACHE_ENV = "LM_EVAL_EXT_SCORE_CACHE"
SIDE_PYTHON_ENV = "LM_EVAL_EXT_NEURAL_PYTHON"
# What a side environment holds (`lm-eval-ext neural-env`; also the [neural] extra):
# the reference packages with their own pins. setuptools<81 keeps pkg_resources,
# which comet's torchmetrics 0.10 imports.
SIDE_ENV_REQUIREMENTS = ("unbabel-comet==2.2.7", "bleurt-pytorch==0.0.1", "setuptools<81")
NAN = float("nan")
METRICS = ("comet", "bleurt")

SKIPPED: dict[str, str] = {}  # metric -> why it could not run in this process
_SCORERS: dict[tuple, "_Scorer"] = {}  # loaded once per process


class MetricUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Setting:
    metric: str
    model: str
    batch_size: int | None = None  # None: by the device the scorer runs on
    encoder: str | None = None

    @property
    def env(self) -> str:
        return f"LM_EVAL_EXT_{self.metric.upper()}"


def setting(metric: str) -> Setting | None:
    """The metric's setting from the environment; None when switched off."""
    env = f"LM_EVAL_EXT_{metric.upper()}"
    raw = os.environ.get(env, "").strip() or DEFAULTS[metric]
    if raw.lower() in ("off", "0", "none", "false"):
        return None
    model, *options = [p.strip() for p in raw.split(";")]
    kw = {"batch_size": None, "encoder": None}
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or key not in kw or (key == "encoder" and metric != "comet"):
            raise ValueError(f"{env}={raw!r}: unknown option {opt!r} (MODEL[;batch_size=N]"
                             f"{'[;encoder=PATH]' if metric == 'comet' else ''})")
        kw[key] = int(value) if key == "batch_size" else value
    if kw["batch_size"] is not None and kw["batch_size"] < 1:
        raise ValueError(f"{env}: batch_size must be >= 1")
    return Setting(metric, model, **kw)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _to(batch, device):
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


# ------------------------------------------------------------------- scorers
class _Scorer:
    metric = ""

    def __init__(self, cfg: Setting):
        self.cfg = cfg
        self.device = device_name()
        self.batch_size = cfg.batch_size or DEFAULT_BATCH_SIZE[self.device]
        self.model_calls = 0  # batches run (tests: a cached re-score makes none)

    @property
    def model_key(self) -> str:
        path = Path(self.cfg.model).expanduser()
        return str(path.resolve()) if path.exists() else self.cfg.model

    def signature(self) -> str:
        return (f"{self.metric}:{self.cfg.model}|batch:{self.batch_size}|device:{self.device}"
                f"|system:mean-x100|{self.versions()}")

    def score_batch(self, triples: list[tuple[str, str, str]]) -> list[float]:
        raise NotImplementedError

    def score(self, triples: list[tuple[str, str, str]]) -> list[float]:
        """Segment scores, in order: longest first, batch by batch."""
        order = sorted(range(len(triples)), key=lambda i: -max(len(t) for t in triples[i]))
        out = [NAN] * len(triples)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            self.model_calls += 1
            for i, s in zip(idx, self.score_batch([triples[i] for i in idx])):
                out[i] = float(s)
        return out


class CometScorer(_Scorer):
    metric = "comet"

    def __init__(self, cfg: Setting):
        super().__init__(cfg)
        self.model = load_comet(cfg.model, cfg.encoder).to(self.device).eval()

    def versions(self) -> str:
        import importlib.metadata as md

        enc = f"|encoder:{self.cfg.encoder}" if self.cfg.encoder else ""
        return f"comet:{md.version('unbabel-comet')}{enc}"

    def score_batch(self, triples):
        import torch

        samples = [{"src": s, "mt": h, "ref": r} for s, h, r in triples]
        with torch.inference_mode():
            batch = _to(self.model.prepare_for_inference(samples), self.device)
            return self.model.predict_step(batch)["scores"].float().cpu().tolist()


def comet_checkpoint(model: str) -> Path:
    """A hub id or local folder/file -> checkpoints/model.ckpt (no network when offline)."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        ckpt = path / "checkpoints" / "model.ckpt"
        if not ckpt.is_file():
            raise MetricUnavailable(f"COMET model folder {path} has no checkpoints/model.ckpt")
        return ckpt
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id=model, local_files_only=_offline())
    except Exception as err:
        raise MetricUnavailable(
            f"COMET checkpoint {model!r} is not available{' offline' if _offline() else ''} "
            f"({type(err).__name__}); download it (huggingface-cli download {model}) or set "
            f"LM_EVAL_EXT_COMET to a local folder"
        ) from None
    return Path(folder) / "checkpoints" / "model.ckpt"


def load_comet(model: str, encoder: str | None = None):
    """comet.load_from_checkpoint, with the encoder's config/tokenizer read from
    `encoder` (a local folder) instead of the hub when given."""
    import torch
    import yaml
    from comet.models import str2model

    ckpt = comet_checkpoint(model)
    hparams_file = ckpt.parents[1] / "hparams.yaml"
    if not hparams_file.is_file():
        raise MetricUnavailable(f"COMET checkpoint {ckpt}: hparams.yaml is missing from {hparams_file.parent}")
    hparams = yaml.safe_load(hparams_file.read_text(encoding="utf-8"))
    kwargs = {
        "checkpoint_path": ckpt,
        "load_pretrained_weights": False,
        "map_location": torch.device("cpu"),
        "strict": False,
        "local_files_only": _offline() or bool(encoder),
    }
    if hparams.get("layer_transformation") == "sparsemax_patch":
        kwargs["layer_transformation"] = "softmax"  # what comet.load_from_checkpoint does (comet >= 2.2.4)
    if encoder:
        kwargs["pretrained_model"] = encoder  # overrides the checkpoint's hparams
    try:
        return str2model[hparams["class_identifier"]].load_from_checkpoint(**kwargs)
    except OSError as err:
        enc = encoder or hparams.get("pretrained_model")
        raise MetricUnavailable(
            f"COMET encoder {enc!r} (config and tokenizer) could not be loaded ({str(err).splitlines()[0]}); "
            "set LM_EVAL_EXT_COMET='MODEL;encoder=/path/to/xlm-roberta-large'"
        ) from None


class BleurtScorer(_Scorer):
    metric = "bleurt"

    def __init__(self, cfg: Setting):
        super().__init__(cfg)
        from bleurt_pytorch import BleurtForSequenceClassification, BleurtTokenizer

        if not Path(cfg.model).expanduser().is_dir():
            from huggingface_hub import snapshot_download

            try:
                snapshot_download(repo_id=cfg.model, local_files_only=_offline())
            except Exception as err:
                raise MetricUnavailable(
                    f"BLEURT checkpoint {cfg.model!r} is not available{' offline' if _offline() else ''} "
                    f"({type(err).__name__}); download it (huggingface-cli download {cfg.model}) or set "
                    "LM_EVAL_EXT_BLEURT to a local folder"
                ) from None
        try:
            self.tokenizer = BleurtTokenizer.from_pretrained(cfg.model, local_files_only=_offline())
            self.model = BleurtForSequenceClassification.from_pretrained(
                cfg.model, local_files_only=_offline()).to(self.device).eval()
        except OSError as err:
            raise MetricUnavailable(
                f"BLEURT checkpoint {cfg.model!r} is not available{' offline' if _offline() else ''} "
                f"({str(err).splitlines()[0][:200]}); download it or set LM_EVAL_EXT_BLEURT to a local folder"
            ) from None
        self.max_length = min(512, self.model.config.max_position_embeddings)

    def versions(self) -> str:
        import importlib.metadata as md

        return f"bleurt-pytorch:{md.version('bleurt-pytorch')}"

    def score_batch(self, triples):
        import torch

        refs = [r for _, _, r in triples]
        hyps = [h for _, h, _ in triples]
        with torch.inference_mode():
            inputs = self.tokenizer(refs, hyps, padding="longest", truncation=True,
                                    max_length=self.max_length, return_tensors="pt")
            return self.model(**_to(dict(inputs), self.device)).logits.flatten().float().cpu().tolist()


_CLASSES = {"comet": CometScorer, "bleurt": BleurtScorer}
_PACKAGES = {"comet": ("comet", "unbabel-comet"), "bleurt": ("bleurt_pytorch", "bleurt-pytorch")}


def side_python() -> str | None:
    """The side environment's interpreter (LM_EVAL_EXT_NEURAL_PYTHON), if set."""
    return os.environ.get(SIDE_PYTHON_ENV, "").strip() or None


def scorer(metric: str) -> _Scorer:
    """The process's scorer for `metric` (loaded on first use); MetricUnavailable
    says why it cannot run."""
    cfg = setting(metric)
    if cfg is None:
        raise MetricUnavailable(f"switched off (LM_EVAL_EXT_{metric.upper()}=off)")
    local = Path(cfg.model).expanduser()
    if (local.is_absolute() or cfg.model.startswith(".")) and not local.exists():
        raise MetricUnavailable(f"{metric.upper()} model folder {local} does not exist")
    side = side_python()
    key = (metric, cfg, side)
    if key not in _SCORERS:
        _SCORERS[key] = WorkerScorer(cfg, side) if side else _load_in_process(metric, cfg)
    return _SCORERS[key]


def _load_in_process(metric: str, cfg: Setting) -> _Scorer:
    import importlib.util

    module, dist = _PACKAGES[metric]
    if importlib.util.find_spec(module) is None:
        raise MetricUnavailable(
            f"package {dist} is not installed here; it pins transformers<5 and numpy<2, so in a modern "
            f"environment run it in a side environment: lm-eval-ext neural-env DIR, then "
            f"{SIDE_PYTHON_ENV}=DIR/bin/python (README: Neural metrics)")
    try:
        return _CLASSES[metric](cfg)
    except MetricUnavailable:
        raise
    except Exception as err:  # a broken install must not cost the run its other metrics
        first = (str(err).splitlines() or [""])[0][:300]
        raise MetricUnavailable(f"{cfg.model!r} could not be loaded ({type(err).__name__}: {first})") from err


# ------------------------------------------------------------ side environment
class WorkerDied(RuntimeError):
    pass


class _Worker:
    """One process in the side environment running this file's `worker_main`:
    JSON lines on stdin/stdout, one request at a time."""

    # Loads this file by path (the side environment need not have lm_eval_ext), with
    # the working directory off sys.path so nothing there shadows a module.
    BOOTSTRAP = (
        "import importlib.util, sys\n"
        "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
        "spec = importlib.util.spec_from_file_location('_lm_eval_ext_neural_worker', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod\n"
        "spec.loader.exec_module(mod); mod.worker_main()\n"
    )

    def __init__(self, python: str):
        self.python = python
        self._lock = threading.Lock()
        self._stderr_tail: collections.deque = collections.deque(maxlen=40)
        try:
            self.proc = subprocess.Popen(
                [python, "-c", self.BOOTSTRAP, str(Path(__file__).resolve())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as err:
            raise MetricUnavailable(f"{SIDE_PYTHON_ENV}={python}: cannot start it ({err.strerror or err})") from None
        threading.Thread(target=self._drain_stderr, daemon=True, name="neural-worker-stderr").start()
        self.info = self.request({"op": "hello"})

    def _drain_stderr(self) -> None:
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                log.debug("neural worker: %s", line)

    def stderr_tail(self, n: int = 6) -> str:
        return " | ".join(list(self._stderr_tail)[-n:])

    def request(self, payload: dict) -> dict:
        with self._lock:
            try:
                self.proc.stdin.write((json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8"))
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except (BrokenPipeError, OSError):
                line = b""
            if not line:
                self.proc.wait(timeout=30)
                raise WorkerDied(f"the neural worker ({SIDE_PYTHON_ENV}={self.python}) exited with "
                                 f"{self.proc.returncode}: {self.stderr_tail() or 'no output'}")
        reply = json.loads(line)
        if not reply.get("ok"):
            reason = f"{reply.get('reason')} (in the side environment {SIDE_PYTHON_ENV}={self.python})"
            if reply.get("kind") == "unavailable":
                raise MetricUnavailable(reason)
            raise RuntimeError(reason)
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request({"op": "exit"})
            except Exception:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_WORKERS: dict[str, _Worker] = {}


def _worker(python: str) -> _Worker:
    w = _WORKERS.get(python)
    if w is None or w.proc.poll() is not None:
        w = _WORKERS[python] = _Worker(python)
    return w


@atexit.register
def _close_workers() -> None:
    for w in list(_WORKERS.values()):
        w.close()


class WorkerScorer(_Scorer):
    """A scorer living in the side environment: same classes, same numbers."""

    def __init__(self, cfg: Setting, python: str):
        self.cfg = cfg
        self.python = python
        self.model_calls = 0
        try:
            reply = _worker(python).request({"op": "load", "setting": asdict(cfg)})
        except WorkerDied as err:
            raise MetricUnavailable(str(err)) from None
        self.metric = cfg.metric
        self.device = reply["device"]
        self.batch_size = reply["batch_size"]
        self._signature = reply["signature"]

    def signature(self) -> str:
        return f"{self._signature}|via:side-env"

    def score(self, triples):
        reply = _worker(self.python).request({"op": "score", "setting": asdict(self.cfg), "triples": triples})
        self.model_calls += reply["batches"]
        return [float(x) for x in reply["scores"]]


def _versions(dists) -> dict:
    import importlib.metadata as md

    out = {}
    for dist in dists:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def worker_main() -> None:
    """The side environment's end of `_Worker` (started by it, never by users)."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    loaded: dict[Setting, _Scorer] = {}
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
                         "packages": _versions(("unbabel-comet", "bleurt-pytorch", "torch", "transformers", "numpy"))}
            elif op in ("load", "score"):
                cfg = Setting(**req["setting"])
                sc = loaded.get(cfg)
                if sc is None:
                    sc = loaded[cfg] = _load_in_process(cfg.metric, cfg)
                if op == "load":
                    reply = {"ok": True, "signature": sc.signature(), "device": sc.device,
                             "batch_size": sc.batch_size}
                else:
                    before = sc.model_calls
                    scores = sc.score([tuple(t) for t in req["triples"]])
                    reply = {"ok": True, "scores": scores, "batches": sc.model_calls - before}
            else:
                reply = {"ok": False, "kind": "failed", "reason": f"unknown request {op!r}"}
        except MetricUnavailable as err:
            reply = {"ok": False, "kind": "unavailable", "reason": str(err)}
        except Exception as err:  # reported to the parent, which records the metric as skipped
            first = (str(err).splitlines() or [""])[0][:300]
            reply = {"ok": False, "kind": "failed", "reason": f"{type(err).__name__}: {first}"}
        protocol.write(json.dumps(reply) + "\n")


# --------------------------------------------------------------------- cache
def cache_path() -> Path | None:
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "none"):
        return None
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "lm_eval_ext" / "neural_scores.sqlite"


def _key(metric: str, model: str, src: str, hyp: str, ref: str) -> str:
    return hashlib.sha256(json.dumps([metric, model, src, hyp, ref], ensure_ascii=False).encode()).hexdigest()


class ScoreCache:
    def __init__(self, path: Path | None):
        self.path = path
        self.db = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=60)
            self.db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, score REAL NOT NULL)")

    def get(self, keys: list[str]) -> dict[str, float]:
        if self.db is None:
            return {}
        out = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(
                f"SELECT key, score FROM scores WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            out.update(rows.fetchall())
        return out

    def put(self, items: dict[str, float]) -> None:
        if self.db is None or not items:
            return
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", list(items.items()))

    def close(self):
        if self.db is not None:
            self.db.close()


def segment_scores(metric: str, triples: list[tuple[str, str, str]]) -> list[float]:
    """Scores of (source, hypothesis, reference) triples, from the cache when
    known; only unique missing triples reach the model."""
    sc = scorer(metric)
    triples = [(str(s), str(h), str(r)) for s, h, r in triples]
    keys = [_key(metric, sc.model_key, *t) for t in triples]
    cache = ScoreCache(cache_path())
    try:
        known = cache.get(list(dict.fromkeys(keys)))
        todo = {k: t for k, t in zip(keys, triples) if k not in known}
        # longest first; ties by key, so batches do not depend on the order items arrive in
        todo_keys = sorted(todo, key=lambda k: (-max(len(x) for x in todo[k]), k))
        chunk = sc.batch_size * 8  # stored as it goes: a crash later keeps what was scored
        for start in range(0, len(todo_keys), chunk):
            part = todo_keys[start:start + chunk]
            fresh = dict(zip(part, sc.score([todo[k] for k in part])))
            cache.put(fresh)
            known.update(fresh)
    finally:
        cache.close()
    return [known[k] for k in keys]


def system_score(metric: str, triples) -> float:
    """Mean segment score x 100 (COMET's system score, on BLEU's scale); NaN
    and a recorded reason when the metric cannot run."""
    try:
        scores = segment_scores(metric, triples)
    except Exception as err:  # the run's other metrics must survive (e.g. GPU out of memory)
        reason = str(err) if isinstance(err, MetricUnavailable) else (
            f"scoring failed ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:300]}); "
            "segments scored before the failure are in the cache")
        if SKIPPED.get(metric) != reason:
            log.warning("lm-eval-ext: %s skipped: %s", metric, reason)
        SKIPPED[metric] = reason
        return NAN
    SKIPPED.pop(metric, None)
    return 100.0 * math.fsum(scores) / len(scores)  # exact sum: the same in any item order


def signature(metric: str) -> str:
    """How the metric was computed in this process, or why it was skipped."""
    if metric in SKIPPED:
        return f"skipped: {SKIPPED[metric]}"
    try:
        cfg = setting(metric)
    except ValueError as err:
        return f"skipped: {err}"
    if cfg is None:
        return f"skipped: switched off (LM_EVAL_EXT_{metric.upper()}=off)"
    loaded = _SCORERS.get((metric, cfg, side_python()))
    if loaded is None:
        return f"{metric}:{cfg.model}|batch:{cfg.batch_size or 'auto'}|not-loaded"
    return loaded.signature()


# ------------------------------------------------------ lm-eval aggregations
def comet(items) -> float:
    return system_score("comet", list(items))


def bleurt(items) -> float:
    return system_score("bleurt", [("", h, r) for h, r in items])

