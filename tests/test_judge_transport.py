"""The judge client against hostile and broken servers on loopback: a total
deadline per request however slowly bytes come, a cap on the reply size, no
secret (API key, URL password, its Basic token) in any message or file, and no
redirect that sends the prompts to another host."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from support.env import run_cli
from support.judge_runs import qa_task, write_run
from support.loopback import RawServer, chat_reply, http_reply

from lm_eval_ext.judge import client

SENTINEL = "sk-SENTINEL-4b1d-do-not-leak"
PASSWORD = "pw-SENTINEL-93c1"
REQUEST = client.Request("k", (("user", "Is 2 + 2 = 4? End with 'Verdict: yes' or 'Verdict: no'."),))


def _bounded(fn, limit: float):
    """fn() in a thread: (result or exception, seconds); a call still running after `limit`
    seconds fails the test instead of hanging it."""
    box = {}

    def target():
        start = time.monotonic()
        try:
            box["out"] = fn()
        except Exception as err:  # noqa: BLE001  (the test inspects it)
            box["out"] = err
        box["s"] = time.monotonic() - start

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"the request was still running after {limit} s"
    return box["out"], box["s"]


def _drip(where: str):
    def handler(server, conn, head, body):
        reply = chat_reply("Verdict: yes")
        split = reply.index(b"\r\n") + 2 if where == "headers" else reply.index(b"\r\n\r\n") + 4
        server.send(conn, reply[:split])
        for byte in reply[split:]:  # one byte a second: each read returns in time, the whole never does
            server.send(conn, bytes([byte]))
            time.sleep(1.0)
    return handler


@pytest.mark.parametrize("where", ["body", "headers"])
def test_timeout_is_a_total_deadline_however_slowly_bytes_come(where):
    with RawServer(_drip(where)) as server:
        judge = client.OpenAIJudge(server.base_url, "m", timeout=1.5, max_retries=0)
        out, seconds = _bounded(lambda: judge.complete(REQUEST), 30)
    assert isinstance(out, client.JudgeError) and "timed out" in str(out), out
    assert seconds < 10  # 1.5 s deadline; the drip alone would take minutes
    assert judge.stats.as_dict()["failed_requests"] == 1


def _endless(declared: bool):
    def handler(server, conn, head, body):
        headers = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        headers += "Content-Length: 300000000\r\n" if declared else "Connection: close\r\n"
        server.send(conn, (headers + "\r\n").encode())
        chunk = b'{"pad": "' + b"x" * (1 << 20)
        while True:  # until the client hangs up
            server.send(conn, chunk)
    return handler


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_reply_size_is_capped(declared):
    cap = 2 * 1024 * 1024
    with RawServer(_endless(declared)) as server:
        judge = client.OpenAIJudge(server.base_url, "m", timeout=60, max_retries=1, backoff=0.01, max_reply_bytes=cap)
        out, _ = _bounded(lambda: judge.complete(REQUEST), 60)
        time.sleep(0.2)
        sent = server.sent
    assert isinstance(out, client.JudgeError) and f"larger than {cap} bytes" in str(out), out
    assert judge.stats.as_dict()["retry_reasons"] == {"too_large": 1}
    assert sent < 64 * 1024 * 1024  # what the client took before hanging up: the cap plus socket buffers


def test_redactor_masks_url_credentials_and_secrets():
    r = client.Redactor([SENTINEL, PASSWORD])
    text = f"GET http://bob:{PASSWORD}@host:8000/v1 said 'Authorization: Bearer {SENTINEL}' (https://x:y@z/)"
    out = r(text)
    assert SENTINEL not in out and PASSWORD not in out and "x:y@" not in out
    assert "http://***@host:8000/v1" in out and "Bearer ***" in out


# ------------------------------------------------------------------ through the command
@pytest.fixture()
def run_dir(tmp_path, shared_data):
    return write_run(tmp_path / "run", "org/model-x",
                     {"xquad_de": qa_task(shared_data, "de", 2, lambda i, d: d["answers"]["text"][0])})


def _judge(run_dir, url, tmp_path, *extra, key=True):
    args = ["lm-eval-ext", "judge", str(run_dir), "--judge-url", url, "--judge-model", "m",
            "--cache", str(tmp_path / "cache.sqlite"), "--backoff", "0.01", "--timeout", "5", "--no-progress", *extra]
    if key:
        args += ["--api-key-env", "JUDGE_KEY"]
    return run_cli(args, env={"JUDGE_KEY": SENTINEL}, timeout=120)


def _echo(status: int):
    """A proxy that echoes the request's Authorization header (and the whole head) in its error body."""
    def handler(server, conn, head, body):
        auth = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                     if line.lower().startswith("authorization:")), "")
        text = json.dumps({"error": f"denied for Authorization: {auth}", "request": head})
        server.send(conn, http_reply(status, text.encode(), {"Content-Type": "application/json"}))
    return handler


def _written(run_dir) -> bytes:
    return b"".join(f.read_bytes() for f in run_dir.iterdir() if f.name.startswith("judge_"))


@pytest.mark.parametrize("status", [401, 500])
def test_an_echoed_key_or_password_is_never_printed_or_written(run_dir, tmp_path, status):
    basic = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    with RawServer(_echo(status)) as server:
        port = server.port
        p = _judge(run_dir, server.base_url, tmp_path, "--max-retries", "0")  # the key, as a Bearer token
        url = server.base_url.replace("http://", f"http://bob:{PASSWORD}@")
        q = _judge(run_dir, url, tmp_path, "--max-retries", "0", key=False)  # URL credentials as Basic auth
        auths = [line for head, _ in server.requests for line in head.split("\r\n") if line.startswith("Authorization")]
    for out in (p.stdout, p.stderr, q.stdout, q.stderr, _written(run_dir).decode()):
        for secret in (SENTINEL, PASSWORD, basic):
            assert secret not in out
    assert p.returncode == (2 if status == 401 else 3) and q.returncode == p.returncode, p.stderr + q.stderr
    if status == 401:
        assert "HTTP 401" in p.stderr and "denied for Authorization: Bearer ***" in p.stderr
        assert f"http://127.0.0.1:{port}/v1/chat/completions answered HTTP 401" in p.stderr
        assert f"http://127.0.0.1:{port}/v1/chat/completions answered HTTP 401" in q.stderr
    assert f"Authorization: Bearer {SENTINEL}" in auths and f"Authorization: Basic {basic}" in auths


def test_a_bad_status_line_echoing_the_key_is_masked_in_the_written_error(run_dir, tmp_path):
    def handler(server, conn, head, body):
        server.send(conn, f"HTTP/1.1 Bearer {SENTINEL}\r\n\r\n".encode())

    with RawServer(handler) as server:
        p = _judge(run_dir, server.base_url, tmp_path, "--max-retries", "0")
    assert p.returncode == 3, p.stderr
    written = _written(run_dir).decode()
    assert "connection error (BadStatusLine" in written and "Bearer ***" in written
    assert SENTINEL not in written + p.stdout + p.stderr


def test_a_redirect_to_another_host_is_not_followed(run_dir, tmp_path):
    def elsewhere(server, conn, head, body):
        server.send(conn, chat_reply("Verdict: yes"))

    with RawServer(elsewhere) as other:
        def redirect(server, conn, head, body):
            server.send(conn, http_reply(307, b"", {"Location": f"{other.base_url}/chat/completions"}))

        with RawServer(redirect) as server:
            p = _judge(run_dir, server.base_url, tmp_path)
            assert p.returncode == 2, p.stderr
            assert "redirected (HTTP 307)" in p.stderr and f"127.0.0.1:{other.port}" in p.stderr
            assert "not followed" in p.stderr
            assert other.requests == []  # no prompt (and no key) went there
            assert len(server.requests) <= 2  # and the job stopped at once (2 items, both in flight)


def test_a_same_host_redirect_is_followed_and_recorded(run_dir, tmp_path):
    def handler(server, conn, head, body):
        if head.startswith("POST /old/v1/"):
            server.send(conn, http_reply(308, b"", {"Location": "/v1/chat/completions"}))
        else:
            assert f"Bearer {SENTINEL}" in head  # same origin: the key goes along
            server.send(conn, chat_reply("Same answer.\nVerdict: yes"))

    with RawServer(handler) as server:
        port = server.port
        p = _judge(run_dir, server.base_url.replace("/v1", "/old/v1"), tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(sorted(run_dir.glob("judge_results_*.json"))[-1].read_text())
    judge = doc["provenance"]["judge"]
    assert judge["url"] == f"http://127.0.0.1:{port}/old/v1/chat/completions"
    assert judge["redirected_to"] == f"http://127.0.0.1:{port}/v1/chat/completions"
    assert doc["tasks"]["xquad_de"]["qa_equiv"]["mean"] == 1.0


def test_a_url_that_is_not_http_is_a_clear_error_without_its_password(run_dir, tmp_path):
    p = _judge(run_dir, f"ftp://bob:{PASSWORD}@127.0.0.1/v1", tmp_path)
    assert p.returncode == 2 and "not an http:// or https:// URL" in p.stderr
    assert PASSWORD not in p.stderr and "Traceback" not in p.stderr


def test_judge_fatal_is_raised_for_a_redirect_elsewhere_in_process():
    with RawServer(lambda s, c, h, b: s.send(c, http_reply(302, b"", {"Location": "http://10.255.255.1/x"}))) as server:
        judge = client.OpenAIJudge(server.base_url, "m", timeout=5, max_retries=0)
        out, _ = _bounded(lambda: judge.complete(REQUEST), 30)
    assert isinstance(out, client.JudgeFatal) and "10.255.255.1" in str(out)


def test_a_key_with_a_stray_newline_is_refused_before_any_request(run_dir, tmp_path):
    with RawServer(lambda s, c, h, b: s.send(c, chat_reply("Verdict: yes"))) as server:
        p = run_cli(["lm-eval-ext", "judge", str(run_dir), "--judge-url", server.base_url, "--judge-model", "m",
                     "--cache", str(tmp_path / "c.sqlite"), "--api-key-env", "JUDGE_KEY", "--no-progress"],
                    env={"JUDGE_KEY": SENTINEL + "\n"}, timeout=120)
        assert server.requests == []
    assert p.returncode == 2 and "control character" in p.stderr, p.stderr
    assert SENTINEL not in p.stderr + p.stdout + _written(run_dir).decode()
