"""COMET and BLEURT from a modern environment (transformers 5, numpy 2) through
the side environment (LM_EVAL_EXT_NEURAL_PYTHON): the worker's scores equal the
reference packages' own (comet's predict, bleurt-pytorch's usage) computed in
that environment, the cache stays here, failures become NaN with a reason.

Runs wherever a side environment is known (tests/run.sh: the neural env); in the
neural env itself the side environment is that same interpreter, which still
exercises the worker protocol."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading

import pytest
from support.env import SHARED_DATA, in_neural_python, run_cli

from lm_eval_ext.missing import NotComputed
from lm_eval_ext.runtime import neural, neural_worker, score_cache

EN, DE = "eng_Latn", "deu_Latn"


def _texts(code, n):
    with open(SHARED_DATA / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh][:n]


def _triples(n=40):
    """Real English sources and German references; hypotheses degraded from the references."""
    src, ref = _texts(EN, n), _texts(DE, n)
    hyp = [" ".join(w for j, w in enumerate(r.split()) if j % (3 + i % 4) != 1) if i % 7 != 3 else ref[(i + 1) % n]
           for i, r in enumerate(ref)]
    return list(zip(src, hyp, ref))


@pytest.fixture(scope="module")
def side(neural_python):
    """The side environment's interpreter: the neural env of tests/run.sh (or this
    interpreter when it has the reference packages itself)."""
    return neural_python


@pytest.fixture(scope="module")
def reference(mt_models, side, tmp_path_factory):
    """Segment scores of the reference packages, computed in the side environment."""
    out = tmp_path_factory.mktemp("reference")
    triples = _triples()
    (out / "paths.json").write_text(json.dumps({k: str(v) for k, v in mt_models.items()}))
    (out / "triples.json").write_text(json.dumps(triples))
    in_neural_python(side, "reference", str(out / "paths.json"), str(out / "triples.json"), str(out / "ref.json"))
    return triples, json.loads((out / "ref.json").read_text())


@pytest.fixture()
def via_side(mt_models, side, tmp_path, monkeypatch):
    monkeypatch.setenv(neural.SIDE_PYTHON_ENV, side)
    monkeypatch.setenv("LM_EVAL_EXT_COMET", f"{mt_models['comet']};encoder={mt_models['encoder']};batch_size=8")
    monkeypatch.setenv("LM_EVAL_EXT_BLEURT", f"{mt_models['bleurt']};batch_size=8")
    monkeypatch.setenv(score_cache.CACHE_ENV, str(tmp_path / "scores.sqlite"))
    yield mt_models
    neural.reset()


def test_side_environment_scores_equal_the_reference_packages(via_side, reference):
    triples, ref = reference
    comet = neural.segment_scores("comet", triples)
    bleurt = neural.segment_scores("bleurt", [("", h, r) for _, h, r in triples])
    assert comet == pytest.approx(ref["comet"], abs=1e-5)
    assert bleurt == pytest.approx(ref["bleurt"], abs=1e-5)
    assert len({round(x, 4) for x in comet}) > 10 and len({round(x, 4) for x in bleurt}) > 10  # input-dependent
    assert neural.comet(triples) == pytest.approx(100 * ref["comet_system"], abs=1e-3)
    sig = neural.signature("comet")
    assert sig.startswith(f"comet:{via_side['comet']}|batch:8|device:cpu") and "comet:2.2.7" in sig
    assert sig.endswith("|via:side-env")
    # the worker is a different interpreter from this one whenever this one lacks comet
    worker = neural_worker.WORKERS[neural.side_python()]
    assert worker.info["packages"]["unbabel-comet"] == "2.2.7"


def test_cache_stays_here_and_only_misses_reach_the_worker(via_side, reference):
    triples, _ = reference
    first = neural.segment_scores("comet", triples[:24])
    sc = neural.scorer("comet")
    assert isinstance(sc, neural_worker.WorkerScorer) and sc.model_calls == 3  # 24 segments, batches of 8
    again = neural.segment_scores("comet", list(reversed(triples[:24])))
    assert again == list(reversed(first)) and sc.model_calls == 3  # no request reached the worker
    neural.segment_scores("comet", triples[:25])
    assert sc.model_calls == 4  # the one new triple


def _reporting_another_version(side: str, folder) -> str:
    """A side interpreter that reports unbabel-comet 9.9.9: the real one, with a distribution
    record of that version first on its path (importlib.metadata finds it before the real one),
    running the very same comet code."""
    record = folder / "fake" / "unbabel_comet-9.9.9.dist-info"
    record.mkdir(parents=True)
    (record / "METADATA").write_text("Metadata-Version: 2.1\nName: unbabel-comet\nVersion: 9.9.9\n")
    wrapper = folder / "python-comet-9.9.9"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{record.parent}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{side}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_scorer_version_change_scores_again(via_side, reference, side, tmp_path, monkeypatch):
    """One score cache, two side environments that differ in unbabel-comet's version: the second
    worker scores the triples itself (a cached value of 2.2.7 never comes back as 9.9.9's), and
    each environment finds its own scores again."""
    triples, _ = reference
    first = neural.segment_scores("comet", triples[:8])
    old = neural.scorer("comet")
    assert old.model_calls == 1 and "comet:2.2.7" in neural.signature("comet")
    monkeypatch.setenv(neural.SIDE_PYTHON_ENV, _reporting_another_version(side, tmp_path))
    again = neural.segment_scores("comet", triples[:8])
    new = neural.scorer("comet")
    assert new is not old and "comet:9.9.9" in neural.signature("comet")
    assert new.model_calls == 1  # asked to score: the cache held no score of this scorer
    assert again == pytest.approx(first, abs=1e-5)  # the same code underneath
    monkeypatch.setenv(neural.SIDE_PYTHON_ENV, side)
    assert neural.segment_scores("comet", triples[:8]) == first and neural.scorer("comet") is old
    assert old.model_calls == 1 and new.model_calls == 1  # both from the cache now
    monkeypatch.setenv(neural.SIDE_PYTHON_ENV, _reporting_another_version(side, tmp_path / "again"))
    neural.segment_scores("comet", triples[:8])
    assert neural.scorer("comet").model_calls == 0  # another path to the same environment: its scores


def test_a_worker_dying_mid_request_costs_the_metric_not_the_run(via_side, reference):
    triples, ref = reference
    neural.segment_scores("bleurt", [("", h, r) for _, h, r in triples[:4]])
    worker = neural_worker.WORKERS[neural.side_python()]
    # the request is surely in flight: the worker is stopped when it is sent and killed a second later
    os.kill(worker.proc.pid, signal.SIGSTOP)
    threading.Timer(1.0, os.kill, (worker.proc.pid, signal.SIGKILL)).start()
    value = neural.bleurt([(h, r) for _, h, r in triples[4:12]])
    assert math.isnan(value) and isinstance(value, NotComputed)
    reason = value.skip.reason
    assert "neural worker" in reason and "exited with -9" in reason and neural.SIDE_PYTHON_ENV in reason
    # the next scoring starts a new worker; a worker gone between requests is replaced silently
    assert neural.segment_scores("bleurt", [("", h, r) for _, h, r in triples[4:12]]) == \
        pytest.approx(ref["bleurt"][4:12], abs=1e-5)
    second = neural_worker.WORKERS[neural.side_python()].proc
    second.kill()
    second.wait()
    value = neural.bleurt([(h, r) for _, h, r in triples[12:16]])
    assert value == pytest.approx(100 * sum(ref["bleurt"][12:16]) / 4, abs=1e-3)
    assert not isinstance(value, NotComputed)


def test_a_side_environment_without_the_packages_or_missing_is_a_reason(monkeypatch, tmp_path, mt_models):
    monkeypatch.setenv(score_cache.CACHE_ENV, "off")
    monkeypatch.setenv("LM_EVAL_EXT_COMET", f"{mt_models['comet']};encoder={mt_models['encoder']}")
    cases = [
        (str(tmp_path / "no-such-venv" / "bin" / "python"), "cannot start it"),
        # an interpreter without unbabel-comet (this one, in a modern environment)
        (sys.executable if not _has_comet(sys.executable) else None, "unbabel-comet is not installed"),
    ]
    for python, reason in cases:
        if python is None:
            continue
        monkeypatch.setenv(neural.SIDE_PYTHON_ENV, python)
        neural.SCORERS.clear()
        value = neural.comet(_triples(3))
        assert math.isnan(value) and reason in value.skip.reason, value
        assert str(neural.outcome("comet", value)).startswith("skipped:")
    neural.reset()


def _has_comet(python):
    import subprocess

    return subprocess.run([python, "-c", "import comet"], capture_output=True).returncode == 0


def test_neural_env_check_command(side, tmp_path):
    proc = run_cli(["lm-eval-ext", "neural-env", "--check"], env={neural.SIDE_PYTHON_ENV: side})
    assert proc.returncode == 0, proc.stderr
    assert "unbabel-comet 2.2.7" in proc.stdout and f"{neural.SIDE_PYTHON_ENV}={side}" in proc.stdout
    proc = run_cli(["lm-eval-ext", "neural-env", "--check", str(tmp_path / "nothing")])
    assert proc.returncode == 2 and "cannot start it" in proc.stderr
