"""Judge backends and the disk cache.

`JudgeCache`: SQLite in WAL mode, one row per judge reply, committed as soon
as the reply arrives, so a run killed at any point (Ctrl-C, kill -9) loses at
most the requests in flight; a rerun answers every cached request from disk
(zero calls). The key is SHA-256 over (judge model, template version,
sampling parameters, messages). Nothing else is stored: no URL, no API key.

`OpenAIJudge`: any OpenAI-compatible ``/v1/chat/completions`` server, with
bounded concurrency (a thread pool), and retries with exponential backoff and
full jitter on timeouts, connection errors, 429, 5xx, oversized and malformed
bodies (a ``Retry-After`` header wins over the backoff). Other 4xx answers
(401, 404, 400) stop the job: every later request would fail the same way.
`Budget` caps the HTTP requests of a job (``--max-requests``).

The server is not trusted. Each attempt has one total deadline (``timeout``:
connecting, sending, the headers and the whole body; a server dripping bytes
cannot stretch it) and the reply body a size cap; redirects are followed only
to the same scheme, host and port unless asked (a redirect elsewhere would send
every prompt, and the key, to another host); and every message the client
makes passes through `Redactor`, which masks the API key and URL credentials
wherever they appear (a proxy echoing the Authorization header in an error).

The local transformers judge is `judge.hf_judge.HFJudge`.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import os
import random
import re
import socket
import sqlite3
import ssl
import threading
import time
import urllib.request
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


class JudgeError(RuntimeError):
    """A request that failed for good (after its retries)."""


class JudgeFatal(RuntimeError):
    """A failure every later request would share (bad key, wrong URL or model): the job stops."""


class BudgetExhausted(RuntimeError):
    pass


@dataclass(frozen=True)
class Request:
    key: str  # cache key
    messages: tuple  # ((role, content), ...)

    def payload_messages(self) -> list[dict]:
        return [{"role": r, "content": c} for r, c in self.messages]


def cache_key(model: str, template_version: str, sampling: dict, messages) -> str:
    blob = json.dumps({"model": model, "template": template_version, "sampling": sampling,
                       "messages": [list(m) for m in messages]}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process kill
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL, "
                         "model TEXT, template TEXT, created REAL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, reply: str, model: str, template: str) -> None:
        with self._lock:  # autocommit: one transaction per reply
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                             (key, reply, model, template, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class Budget:
    """At most `limit` HTTP requests (retries included); None: unlimited."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.limit is not None and self.used >= self.limit:
                raise BudgetExhausted(f"--max-requests {self.limit} reached")
            self.used += 1


@dataclass
class Stats:
    http_requests: int = 0
    retries: int = 0
    retry_reasons: dict = field(default_factory=dict)
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1

    def as_dict(self) -> dict:
        return {"http_requests": self.http_requests, "retries": self.retries,
                "retry_reasons": dict(sorted(self.retry_reasons.items())), "failed_requests": self.failed}


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


class Redactor:
    """Masks secrets in text: the userinfo of any URL (``user:password@``) and each given
    secret value (an API key, a password, its Basic-auth token) wherever it appears."""

    def __init__(self, secrets=()):
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text) -> str:
        text = _USERINFO_RE.sub(r"\1***@", str(text))
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def safe_url(url: str) -> str:
    """The URL without any user:password part (and without query and fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _origin(parts) -> tuple:
    return (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


class _Timeout(Exception):
    pass


class _TooLarge(Exception):
    pass


class _Redirect(Exception):
    def __init__(self, status: int, target):
        super().__init__(status)
        self.status, self.target = status, target


MAX_REPLY_BYTES = 8 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def _ssl_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    try:
        if not bundle:
            import certifi

            bundle = certifi.where()
        ctx.load_verify_locations(bundle)
    except (ImportError, OSError, ssl.SSLError):
        pass  # the system's certificates only
    return ctx


class OpenAIJudge:
    kind = "openai-compatible"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, sampling: dict | None = None,
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5, backoff: float = 1.0,
                 max_backoff: float = 60.0, budget: Budget | None = None, max_reply_bytes: int = MAX_REPLY_BYTES,
                 follow_redirects: bool = False):
        parts = urlsplit(base_url)
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode() if (user or password) else None
        # kept in memory only; never logged, cached or written, and masked in every message
        self.redact = Redactor([api_key, parts.password, password, basic])
        if api_key and re.search(r"[\x00-\x1f\x7f]", api_key):
            raise JudgeFatal("the API key contains a control character (a stray newline?); "
                             "it cannot be sent in a header")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise JudgeFatal(self.redact(f"--judge-url {base_url!r}: not an http:// or https:// URL"))
        try:
            parts.port
        except ValueError as err:
            raise JudgeFatal(self.redact(f"--judge-url: {err}")) from None
        self.url = safe_url(base_url).rstrip("/") + "/chat/completions"
        self._target = urlsplit(self.url + (f"?{parts.query}" if parts.query else ""))
        self._auth = f"Bearer {api_key}" if api_key else (f"Basic {basic}" if basic else None)
        self.model = model
        self.sampling = dict(sampling or {})
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_reply_bytes = max_reply_bytes
        self.follow_redirects = follow_redirects
        self.redirected_to: str | None = None  # where a followed redirect led (provenance)
        self.budget = budget or Budget(None)
        self.stats = Stats()
        self._local = threading.local()
        self._ssl = _ssl_context() if parts.scheme == "https" else None

    def __repr__(self) -> str:  # no key in reprs or tracebacks
        return f"OpenAIJudge(url={self.url!r}, model={self.model!r})"

    def describe(self) -> dict:
        out = {"backend": self.kind, "url": self.url, "model": self.model, "concurrency": self.concurrency,
               "timeout_s": self.timeout, "max_retries": self.max_retries, "max_reply_bytes": self.max_reply_bytes}
        if self.redirected_to:
            out["redirected_to"] = self.redirected_to
        return out

    # ------------------------------------------------------------ transport
    def _connection(self, target, timeout: float):
        """This thread's keep-alive connection to the target's origin (or its proxy)."""
        key = _origin(target)
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.key == key:
            return conn, True
        self._drop()
        host, port = target.hostname, key[2]
        proxy = None
        if not urllib.request.proxy_bypass(host):
            proxy = urllib.request.getproxies().get(target.scheme)
        if proxy:
            pp = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            pport = pp.port or (443 if pp.scheme == "https" else 80)
            if target.scheme == "https":
                conn = http.client.HTTPSConnection(pp.hostname, pport, timeout=timeout, context=self._ssl)
                tunnel_headers = {}
                if pp.username:
                    token = base64.b64encode(f"{unquote(pp.username)}:{unquote(pp.password or '')}".encode()).decode()
                    tunnel_headers["Proxy-Authorization"] = f"Basic {token}"
                    self.redact.secrets.append(token)
                conn.set_tunnel(host, port, headers=tunnel_headers)
            else:
                conn = http.client.HTTPConnection(pp.hostname, pport, timeout=timeout)
            conn._lm_eval_ext_absolute = target.scheme == "http"  # an http proxy takes absolute URIs
        elif target.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._local.conn, self._local.key = conn, key
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def _exchange(self, target, body: bytes, deadline: float, send_auth: bool):
        """One HTTP request and its whole reply within the deadline: (status, headers, body)."""
        for fresh_retry in (False, True):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            conn, reused = self._connection(target, remaining)
            fired = threading.Event()
            held: list = []  # the socket, kept here: http.client lets go of it once a reply says "close"

            def abort():  # wakes a read blocked past the deadline (however slowly bytes come)
                fired.set()
                for sock in held:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            timer = threading.Timer(remaining, abort)
            timer.daemon = True
            timer.start()
            got_reply = False
            try:
                conn.timeout = remaining
                if conn.sock is None:
                    conn.connect()  # bounded by the remaining time
                conn.sock.settimeout(remaining)
                held.append(conn.sock)
                if fired.is_set():
                    raise _Timeout()
                host = f"[{target.hostname}]" if ":" in target.hostname else target.hostname
                if target.port:
                    host += f":{target.port}"
                headers = {"Host": host, "Content-Type": "application/json", "Accept": "application/json",
                           "User-Agent": "lm-eval-ext-judge", "Content-Length": str(len(body))}
                if send_auth and self._auth:
                    headers["Authorization"] = self._auth
                path = target.path + (f"?{target.query}" if target.query else "")
                if getattr(conn, "_lm_eval_ext_absolute", False):
                    path = urlunsplit(target)
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                got_reply = True
                length = resp.getheader("Content-Length")
                if length and length.strip().isdigit() and int(length) > self.max_reply_bytes:
                    raise _TooLarge()
                chunks, size = [], 0
                while True:
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_reply_bytes:
                        raise _TooLarge()
                    chunks.append(chunk)
                resp.close()  # read1 does not mark a fully read reply closed; the connection needs it
                if fired.is_set():
                    raise _Timeout()
                if resp.will_close:
                    self._drop()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, b"".join(chunks)
            except (_Timeout, _TooLarge):
                self._drop()
                raise
            except (OSError, http.client.HTTPException):
                self._drop()
                if fired.is_set():
                    raise _Timeout() from None
                # a kept-alive connection the server had closed: once more on a fresh one
                if reused and not got_reply and not fresh_retry:
                    continue
                raise
            finally:
                timer.cancel()
        raise AssertionError("unreachable")

    def _post(self, body: bytes) -> tuple[int, dict, bytes]:
        """POST to the chat endpoint within one total deadline, following redirects only to
        the same origin (or anywhere with follow_redirects, without the credentials)."""
        deadline = time.monotonic() + self.timeout
        target = self._target
        for _ in range(MAX_REDIRECTS + 1):
            same = _origin(target) == _origin(self._target)
            status, headers, data = self._exchange(target, body, deadline, send_auth=same)
            if status not in _REDIRECTS or not headers.get("location"):
                return status, headers, data
            nxt = urlsplit(urljoin(urlunsplit(target), headers["location"]))
            if nxt.scheme not in ("http", "https") or not nxt.hostname:
                raise _Redirect(status, nxt)
            if _origin(nxt) != _origin(self._target) and not self.follow_redirects:
                raise _Redirect(status, nxt)
            target = nxt
            self.redirected_to = self.redact(safe_url(urlunsplit(nxt)))
        raise JudgeFatal(self.redact(f"{self.url}: more than {MAX_REDIRECTS} redirects"))

    def _sleep(self, attempt: int, retry_after: float | None, stop: threading.Event) -> None:
        # full jitter (AWS architecture blog), capped; the server's Retry-After wins when given
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), max(self.max_backoff, 1.0))
        stop.wait(delay)

    def _excerpt(self, body: bytes) -> str:
        # masked before it is cut, so no part of a secret survives at the cut
        text = self.redact(body[: 64 * 1024].decode("utf-8", errors="replace"))
        return repr(text[:300])  # repr: control characters from the server stay inert on a terminal

    def complete(self, request: Request, stop: threading.Event | None = None) -> str:
        stop = stop or threading.Event()
        payload = {"model": self.model, "messages": request.payload_messages(), **self.sampling}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise JudgeError("stopped")
            self.budget.take()
            with self.stats._lock:
                self.stats.http_requests += 1
            retry_after = None
            try:
                status, headers, data = self._post(body)
            except _Timeout:
                last, reason = f"timed out: no complete reply within {self.timeout:g} s", "timeout"
            except _TooLarge:
                last, reason = f"reply larger than {self.max_reply_bytes} bytes; not read", "too_large"
            except _Redirect as r:
                raise JudgeFatal(self.redact(
                    f"{self.url} redirected (HTTP {r.status}) to {safe_url(urlunsplit(r.target))}, another host: "
                    "not followed (every prompt and the API key would go there); give that URL as --judge-url, "
                    "or --follow-redirects")) from None
            except (OSError, http.client.HTTPException) as err:  # refused, reset, bad status line, TLS, ...
                last = self.redact(f"connection error ({type(err).__name__}: {err})")
                reason = "connection"
            except Exception as err:  # anything else ends this item; its message may quote what was sent
                with self.stats._lock:
                    self.stats.failed += 1
                raise JudgeError(self.redact(f"request failed ({type(err).__name__}: {err})")) from None
            else:
                if status == 429 or status >= 500:
                    last, reason = f"HTTP {status}: {self._excerpt(data)}", f"http_{status}"
                    retry_after = retry_after_seconds(headers.get("retry-after"))
                elif status >= 300:  # 4xx, or a redirect without a usable Location
                    raise JudgeFatal(f"{self.url} answered HTTP {status}: {self._excerpt(data)} "
                                     "(check --judge-url, --judge-model and the API key variable)")
                else:
                    try:
                        content = json.loads(data)["choices"][0]["message"]["content"]
                        if not isinstance(content, str):
                            raise TypeError("content is not a string")
                        return content
                    except (ValueError, KeyError, IndexError, TypeError) as err:
                        last, reason = f"malformed response body ({type(err).__name__})", "malformed"
            if attempt == self.max_retries:
                break
            self.stats.note_retry(reason)
            self._sleep(attempt, retry_after, stop)
        with self.stats._lock:
            self.stats.failed += 1
        raise JudgeError(self.redact(f"{last}; gave up after {self.max_retries + 1} attempts"))

    def run_many(self, requests_: list[Request]) -> Iterator[tuple[Request, str | Exception]]:
        """(request, reply or exception) in completion order, at most `concurrency` in flight."""
        if not requests_:
            return
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="judge")
        stop = threading.Event()  # set when the caller stops early: queued retries give up
        todo = iter(requests_)
        running = {}
        try:
            for req in todo:  # fill the window; submit lazily so Ctrl-C leaves little in flight
                running[pool.submit(self.complete, req, stop)] = req
                if len(running) >= self.concurrency:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    req = running.pop(fut)
                    err = fut.exception()
                    if isinstance(err, JudgeFatal):
                        raise err
                    yield req, (err if err is not None else fut.result())
                    nxt = next(todo, None)
                    if nxt is not None:
                        running[pool.submit(self.complete, nxt, stop)] = nxt
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)


def api_key_from_env(var: str | None) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise ValueError(f"--api-key-env {var}: the environment variable {var} is not set or empty")
    return value
