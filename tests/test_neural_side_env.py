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
import time

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


# ------------------------------------------------ side interpreters that misbehave
@pytest.fixture()
def fake_comet(monkeypatch):
    """COMET through whatever interpreter a test names; no cache, BLEURT off."""
    monkeypatch.setenv("LM_EVAL_EXT_COMET", "fake/comet-model")
    monkeypatch.setenv("LM_EVAL_EXT_BLEURT", "off")
    monkeypatch.setenv(score_cache.CACHE_ENV, "off")
    neural.reset()
    yield monkeypatch
    neural.reset()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_banner_or_a_warning_on_stdout_is_a_reason_and_the_check_exits_2(fake_comet, tmp_path):
    from support import fake_side

    for python, line in ((fake_side.banner(tmp_path), "Activating the neural environment ..."),
                         (fake_side.protocol(tmp_path, "warns"), "UserWarning: TypedStorage is deprecated")):
        neural.reset()
        fake_comet.setenv(neural.SIDE_PYTHON_ENV, python)
        value = neural.comet(_triples(3))
        assert isinstance(value, NotComputed) and math.isnan(value)
        assert value.skip.reason.startswith(f"the side interpreter printed non-protocol output: {line}"), value
        assert f"{neural.SIDE_PYTHON_ENV}={python}" in value.skip.reason
        assert all(not _alive(w.proc.pid) for w in neural_worker.WORKERS.values())  # killed
        proc = run_cli(["lm-eval-ext", "neural-env", "--check"], env={neural.SIDE_PYTHON_ENV: python}, timeout=120)
        if line.startswith("Activating"):  # --check loads no model: the warning one passes it
            assert proc.returncode == 2, proc.stderr
            assert f"error: the side interpreter printed non-protocol output: {line}" in proc.stderr
            assert "Traceback" not in proc.stderr
        else:
            assert proc.returncode == 0, proc.stderr


def test_a_side_interpreter_that_never_answers_is_killed_at_its_deadline(fake_comet, tmp_path):
    from support import fake_side

    python = fake_side.silent(tmp_path)
    fake_comet.setenv(neural.SIDE_PYTHON_ENV, python)
    fake_comet.setenv(neural_worker.TIMEOUT_ENV, "1")
    value = neural.comet(_triples(3))
    assert isinstance(value, NotComputed)
    assert value.skip.reason.startswith(f"the neural worker ({neural.SIDE_PYTHON_ENV}={python}) did not answer the "
                                        "'hello' request within 1 s (LM_EVAL_EXT_NEURAL_TIMEOUT"), value
    # not asked again in this process: every later task gets the reason at once
    started = time.monotonic()
    again = neural.comet(_triples(3))
    assert time.monotonic() - started < 0.5 and again.skip.reason == value.skip.reason
    proc = run_cli(["lm-eval-ext", "neural-env", "--check"],
                   env={neural.SIDE_PYTHON_ENV: python, neural_worker.TIMEOUT_ENV: "1"}, timeout=120)
    assert proc.returncode == 2 and "did not answer the 'hello' request within 1 s" in proc.stderr, proc.stderr
    fake_comet.setenv(neural_worker.TIMEOUT_ENV, "soon")
    neural.reset()
    value = neural.comet(_triples(3))
    assert value.skip.reason == "LM_EVAL_EXT_NEURAL_TIMEOUT='soon': not a number of seconds > 0"


def test_the_scoring_deadline_grows_with_the_segments_of_a_request(fake_comet, tmp_path):
    """A scorer that takes SLOW_SECONDS per request: within the deadline of 100 segments
    (3 s x 2), past the deadline of 3 (3 s x 1.03), where it is killed."""
    from support import fake_side

    fake_comet.setenv(neural.SIDE_PYTHON_ENV, fake_side.protocol(tmp_path, "slow"))
    fake_comet.setenv(neural_worker.TIMEOUT_ENV, "3")
    assert neural_worker.score_deadline(3) + 1.4 < fake_side.SLOW_SECONDS < neural_worker.score_deadline(100) - 1.4
    assert neural.comet(_triples(100)) == pytest.approx(50.0)
    pid = neural_worker.WORKERS[neural.side_python()].proc.pid
    value = neural.comet(_triples(3))
    assert isinstance(value, NotComputed)
    assert "did not answer the 'score' request within 3 s" in value.skip.reason and "killed" in value.skip.reason
    assert not _alive(pid)


@pytest.mark.slow
def test_a_hung_worker_costs_comet_not_the_run(tmp_path):
    """lm_eval end to end: generation, BLEU and chrF++ done, the worker hangs on COMET; the
    run is written with COMET NaN and the reason."""
    from support import fake_side
    from support.loopback import ScriptedServer

    task = "flores_eng_Latn-deu_Latn"
    refs = [json.loads(line)["text"] for line in open(SHARED_DATA / "flores" / f"{DE}.devtest.jsonl",
                                                      encoding="utf-8")][:3]
    with ScriptedServer(lambda kind, payload: refs[0]) as server:
        proc = run_cli(["lm_eval", "run", "--model", "local-chat-completions", "--model_args",
                        f"model=scripted,base_url={server.base_url}/chat/completions", "--tasks", task,
                        "--limit", "3", "--apply_chat_template", "--output_path", str(tmp_path / "out")],
                       env={neural.SIDE_PYTHON_ENV: fake_side.protocol(tmp_path, "hangs"),
                            neural_worker.TIMEOUT_ENV: "2", "LM_EVAL_EXT_COMET": "fake/comet-model",
                            "LM_EVAL_EXT_BLEURT": "off", score_cache.CACHE_ENV: "off"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (path,) = list((tmp_path / "out").rglob("results_*.json"))
    doc = json.loads(path.read_text(encoding="utf-8"))
    res, meta = doc["results"][task], doc["configs"][task]["metadata"]
    assert math.isnan(res["comet,translation"]) and res["chrfpp,translation"] > 0
    assert "did not answer the 'score' request within 2 s" in meta["skipped_metrics"]["comet"]


def test_neural_env_given_a_missing_interpreter_or_a_file_exits_2_naming_it(tmp_path):
    proc = run_cli(["lm-eval-ext", "neural-env", str(tmp_path / "env"), "--python", "/nonexistent/python3"])
    assert proc.returncode == 2, proc.stderr
    assert "error: --python /nonexistent/python3: cannot run it (No such file or directory)" in proc.stderr
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder\n")
    proc = run_cli(["lm-eval-ext", "neural-env", str(afile)])
    assert proc.returncode == 2 and f"error: DIR {afile}: exists and is not a folder" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and afile.read_text() == "not a folder\n"


def test_a_score_cache_that_cannot_be_opened_is_warned_about_once_and_scoring_goes_on(fake_comet, tmp_path, caplog):
    from support import fake_side

    fake_comet.setenv(neural.SIDE_PYTHON_ENV, fake_side.protocol(tmp_path, "answers"))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    not_sqlite = tmp_path / "scores.sqlite"
    not_sqlite.write_bytes(b"\x00garbage, not an SQLite file\n" * 64)
    for path in (tmp_path, a_file / "scores.sqlite", not_sqlite):  # a folder, under a file, not SQLite
        fake_comet.setenv(score_cache.CACHE_ENV, str(path))
        caplog.clear()
        for _ in range(2):
            assert neural.comet(_triples(3)) == pytest.approx(50.0), path
        warnings = [r.getMessage() for r in caplog.records if "score cache" in r.getMessage()]
        assert len(warnings) == 1 and f"the score cache {path} cannot be opened" in warnings[0], warnings
        assert "scoring without it" in warnings[0]
    assert not_sqlite.read_bytes().startswith(b"\x00garbage")
