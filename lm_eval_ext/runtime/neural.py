"""COMET and BLEURT in a run: one scorer per metric and setting, loaded once per process,
cached on disk, and the lm-eval aggregations that FLORES's tasks name.

Scoring: unique (source, hypothesis, reference) triples not in the score cache
(`runtime.score_cache`, keyed by `cache_signature`: the scorer's signature, its checkpoint
files and the interpreter and package versions it runs with, so a score comes back only under
the scorer that computed it) are sorted by length, scored in batches by the process's scorer
(`metrics.neural`) or, with ``LM_EVAL_EXT_NEURAL_PYTHON`` set, by the side-environment
worker (`runtime.neural_worker`; the cache stays in this process, so only misses cross the
pipe), and stored as they arrive.

A metric that cannot run (package or checkpoint missing, offline, a worker that died) is a
value, not an exception: its aggregation returns `NotComputed` (NaN carrying the reason),
which the results annotation turns into ``metadata.skipped_metrics``; BLEU and chrF++ are
unaffected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
from pathlib import Path

from lm_eval_ext.metrics.neural import (METRICS, MetricUnavailable, load_in_process, package_versions, setting,
                                        system_score)
from lm_eval_ext.missing import NotComputed, Skip, switched_off
from lm_eval_ext.runtime import neural_worker, score_cache
from lm_eval_ext.runtime.neural_worker import SIDE_PYTHON_ENV, WorkerScorer
from lm_eval_ext.signature import Signature

log = logging.getLogger("lm_eval_ext")

__all__ = ["METRICS", "SIDE_PYTHON_ENV", "bleurt", "cache_signature", "comet", "scorer", "segment_scores", "signature",
           "side_python", "score"]

SCORERS: dict[tuple, object] = {}  # (metric, setting, side python) -> scorer, loaded once per process
_warned: set[tuple[str, str]] = set()
# what a score also depends on besides the scorer's own version (the worker reports the same list)
ENV_PACKAGES = ("unbabel-comet", "bleurt-pytorch", "torch", "transformers", "numpy")
_FINGERPRINT_FILES = 500  # files of a checkpoint folder fingerprinted (name, size, mtime), at most


def side_python() -> str | None:
    """The side environment's interpreter (LM_EVAL_EXT_NEURAL_PYTHON), if set."""
    return os.environ.get(SIDE_PYTHON_ENV, "").strip() or None


def scorer(metric: str):
    """The process's scorer for `metric` (loaded on first use); MetricUnavailable says why it
    cannot run."""
    cfg = setting(metric)
    if cfg is None:
        raise MetricUnavailable(switched_off(metric))
    local = Path(cfg.model).expanduser()
    if (local.is_absolute() or cfg.model.startswith(".")) and not local.exists():
        raise MetricUnavailable(f"{metric.upper()} model folder {local} does not exist")
    side = side_python()
    key = (metric, cfg, side)
    if key not in SCORERS:
        SCORERS[key] = WorkerScorer(cfg, side) if side else load_in_process(metric, cfg)
    return SCORERS[key]


def _fingerprint(model: str | None) -> str:
    """The checkpoint a setting names, as files: a local file or folder by its files' names, sizes
    and modification times; a hub id by the snapshot (commit) the hub cache holds."""
    if not model:
        return ""
    path = Path(model).expanduser()
    if path.exists():
        root = path.resolve()
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())[:_FINGERPRINT_FILES]
        stats = []
        for f in found:
            try:
                st = f.stat()
            except OSError:
                continue
            stats.append([str(f.relative_to(root)) if f != root else f.name, st.st_size, st.st_mtime_ns])
        blob = json.dumps([str(root), stats])
        return f"{root}#" + hashlib.sha256(blob.encode()).hexdigest()[:16]
    try:
        from huggingface_hub import snapshot_download

        return f"hub:{model}@{Path(snapshot_download(repo_id=model, local_files_only=True)).name}"
    except Exception:  # not in the cache (the scorer then fails to load) or no huggingface_hub here
        return f"hub:{model}"


def cache_signature(sc) -> str:
    """Who computes a scorer's scores, for the score cache: its signature (checkpoint setting,
    batch, device, its package's version), the checkpoint files, and the interpreter and package
    versions it runs with (a side-environment worker's own, as its hello reports them)."""
    known = getattr(sc, "_cache_signature", None)
    if known is not None:
        return known
    if isinstance(sc, WorkerScorer):
        info = neural_worker.worker(sc.python).info
        env = {"python": info.get("executable"), "version": info.get("python"), "packages": info.get("packages")}
    else:
        env = {"python": sys.executable, "version": platform.python_version(),
               "packages": package_versions(ENV_PACKAGES)}
    cfg = sc.cfg
    known = json.dumps({"scorer": sc.signature(), "checkpoint": _fingerprint(cfg.model),
                        "encoder": _fingerprint(cfg.encoder), "env": env}, sort_keys=True)
    sc._cache_signature = known
    return known


def segment_scores(metric: str, triples: list[tuple[str, str, str]]) -> list[float]:
    """Scores of (source, hypothesis, reference) triples, from the cache when this very scorer
    (`cache_signature`) computed them; only unique missing triples reach the model."""
    sc = scorer(metric)
    triples = [(str(s), str(h), str(r)) for s, h, r in triples]
    who = cache_signature(sc)
    keys = [score_cache.key(metric, who, *t) for t in triples]
    cache = score_cache.ScoreCache(score_cache.cache_path())
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


def score(metric: str, triples) -> float:
    """The system score (mean segment score x 100), or `NotComputed` with the reason when the
    metric cannot run here; never raises over the metric (the run's other metrics survive)."""
    try:
        return system_score(segment_scores(metric, triples))
    except Exception as err:  # e.g. GPU out of memory, a worker that died
        reason = str(err) if isinstance(err, MetricUnavailable) else (
            f"scoring failed ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:300]}); "
            "segments scored before the failure are in the cache")
        if (metric, reason) not in _warned:
            _warned.add((metric, reason))
            log.warning("lm-eval-ext: %s skipped: %s", metric, reason)
        return NotComputed(reason)


def signature(metric: str) -> str | Skip:
    """How the metric is computed in this process (its loaded scorer), or why it cannot be."""
    try:
        cfg = setting(metric)
    except ValueError as err:
        return Skip(str(err))
    if cfg is None:
        return Skip(switched_off(metric))
    loaded = SCORERS.get((metric, cfg, side_python()))
    if loaded is None:
        return str(Signature.of((metric, cfg.model), ("batch", cfg.batch_size or "auto"), "not-loaded"))
    return loaded.signature()


def outcome(metric: str, value) -> str | Skip:
    """The signature of a value this process computed: its Skip when it is `NotComputed`."""
    return value.skip if isinstance(value, NotComputed) else signature(metric)


def reset() -> None:
    """Forget the loaded scorers and stop the workers (tests that switch environments)."""
    neural_worker.close_workers()
    neural_worker.WORKERS.clear()
    neural_worker.FAILED.clear()
    SCORERS.clear()


# ------------------------------------------------------ lm-eval aggregations
def comet(items) -> float:
    return score("comet", list(items))


def bleurt(items) -> float:
    return score("bleurt", [("", h, r) for h, r in items])
