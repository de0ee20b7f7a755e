"""A real OpenAI-compatible HTTP server on loopback whose replies are scripted.

    with ScriptedServer(policy) as server:
        server.base_url  # http://127.0.0.1:PORT/v1

`policy(kind, payload)` gets the endpoint ("chat" or "completions") and the
request JSON and returns the reply text, or a `Fault` to answer with an HTTP
error, a delay or a broken body. Every request is recorded in
`server.requests`. Stop sequences are applied as a real server would, unless
``ignore_stops=True`` (a server that runs on past them, or returns them).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    status: int = 500
    body: str = '{"error": {"message": "scripted fault"}}'
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (timeouts)


def _cut(text: str, stops) -> str:
    for stop in stops or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


class LoopbackHTTP:
    """A threaded HTTP server on 127.0.0.1 (port 0: any free port), served while in a `with`
    block; `base_url` is its OpenAI-style /v1 root."""

    def _serve(self, handler, port: int = 0) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()


class ScriptedServer(LoopbackHTTP):
    def __init__(self, policy, model_name="scripted", port=0, ignore_stops=False):
        self.policy = policy
        self.ignore_stops = ignore_stops
        self.model_name = model_name
        self.requests: list[tuple[str, dict]] = []
        self.headers: list[dict] = []  # request headers, in arrival order (credential checks)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms a reply
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status, body: str, headers=None):
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"data": [{"id": server.model_name, "object": "model"}]}))
                else:
                    self._send(404, '{"error": "not found"}')

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                kind = "chat" if self.path.rstrip("/").endswith("chat/completions") else "completions"
                with server._lock:
                    server.requests.append((kind, payload))
                    server.headers.append(dict(self.headers))
                reply = server.policy(kind, payload)
                if isinstance(reply, Fault):
                    if reply.delay:
                        time.sleep(reply.delay)
                    self._send(reply.status, reply.body, reply.headers)
                    return
                text = reply if server.ignore_stops else _cut(reply, payload.get("stop"))
                if kind == "chat":
                    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                else:
                    choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
                body = {
                    "id": "cmpl-scripted",
                    "object": "chat.completion" if kind == "chat" else "text_completion",
                    "model": server.model_name,
                    "choices": [choice],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }
                self._send(200, json.dumps(body, ensure_ascii=False))

        self._serve(Handler, port)




def last_user_message(payload: dict) -> str:
    messages = payload.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    return users[-1]["content"] if users else payload.get("prompt", "")


class RawServer:
    """A TCP server on loopback that answers each HTTP request with raw bytes of the
    test's choosing, to play a hostile or broken server (dripped bytes, an endless
    body, a bad status line, a redirect).

        with RawServer(handler) as server:  # handler(server, sock, request_head: str, body: bytes)
            server.base_url

    `requests` holds (request line + headers, body) per request; `sent` counts the
    bytes the handler wrote through `server.send`.
    """

    def __init__(self, handler):
        import socket

        self.handler = handler
        self.requests: list[tuple[str, bytes]] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def send(self, conn, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                text = head.decode("latin-1")
                length = next((int(line.split(":", 1)[1]) for line in text.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                with self._lock:
                    self.requests.append((text, body))
                self.handler(self, conn, text, body)
        except OSError:  # the client hung up: what a hostile-server test expects
            pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sock.close()


def http_reply(status: int, body: bytes = b"", headers: dict | None = None, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chat_reply(text: str) -> bytes:
    body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()
    return http_reply(200, body, {"Content-Type": "application/json"}, "OK")
