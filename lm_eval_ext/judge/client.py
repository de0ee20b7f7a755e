"""Judge backends and the disk cache.

`JudgeCache`: SQLite in WAL mode, one row per judge reply, committed as soon
as the reply arrives, so a run killed at any point (Ctrl-C, kill -9) loses at
most the requests in flight; a rerun answers every cached request from disk
(zero calls). The key is SHA-256 over (judge model, template version,
sampling parameters, messages). Nothing else is stored: no URL, no API key.

`OpenAIJudge`: any OpenAI-compatible ``/v1/chat/completions`` server, with
bounded concurrency (a thread pool), a per-request timeout, and retries with
exponential backoff and full jitter on timeouts, connection errors, 429, 5xx
and malformed bodies (a ``Retry-After`` header wins over the backoff). Other
4xx answers (401, 404, 400) stop the job: every later request would fail the
same way. `Budget` caps the HTTP requests of a job (``--max-requests``).

`HFJudge`: a local transformers model, greedy, in batches (GPU when present).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
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


class OpenAIJudge:
    kind = "openai-compatible"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, sampling: dict | None = None,
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5, backoff: float = 1.0,
                 max_backoff: float = 60.0, budget: Budget | None = None):
        import requests  # noqa: F401  (fail early if missing)

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key  # kept in memory only; never logged, cached or written
        self.sampling = dict(sampling or {})
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.budget = budget or Budget(None)
        self.stats = Stats()
        self._local = threading.local()

    def __repr__(self) -> str:  # no key in reprs or tracebacks
        return f"OpenAIJudge(url={self.url!r}, model={self.model!r})"

    def describe(self) -> dict:
        return {"backend": self.kind, "url": self.url, "model": self.model, "concurrency": self.concurrency,
                "timeout_s": self.timeout, "max_retries": self.max_retries}

    def _session(self):
        import requests

        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            if self._api_key:
                s.headers["Authorization"] = f"Bearer {self._api_key}"
        return s

    def _sleep(self, attempt: int, retry_after: float | None, stop: threading.Event) -> None:
        # full jitter (AWS architecture blog), capped; the server's Retry-After wins when given
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), max(self.max_backoff, 1.0))
        stop.wait(delay)

    def complete(self, request: Request, stop: threading.Event | None = None) -> str:
        import requests

        stop = stop or threading.Event()
        payload = {"model": self.model, "messages": request.payload_messages(), **self.sampling}
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise JudgeError("stopped")
            self.budget.take()
            with self.stats._lock:
                self.stats.http_requests += 1
            retry_after = None
            try:
                resp = self._session().post(self.url, json=payload, timeout=self.timeout)
            except requests.Timeout:
                last, reason = f"timed out after {self.timeout:g} s", "timeout"
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema) as err:
                raise JudgeFatal(f"--judge-url: {type(err).__name__}: {err}") from None
            except requests.RequestException as err:  # refused, reset, broken chunked body, ...
                last, reason = f"connection error ({type(err).__name__})", "connection"
            else:
                status = resp.status_code
                if status == 429 or status >= 500:
                    last, reason = f"HTTP {status}", f"http_{status}"
                    retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                elif status >= 400:
                    raise JudgeFatal(f"{self.url} answered HTTP {status}: {resp.text[:300]!r} "
                                     "(check --judge-url, --judge-model and the API key variable)")
                else:
                    try:
                        content = resp.json()["choices"][0]["message"]["content"]
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
        raise JudgeError(f"{last}; gave up after {self.max_retries + 1} attempts")

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


class HFJudge:
    """A local transformers chat model as the judge: greedy decoding in batches."""

    kind = "transformers"

    def __init__(self, path: str, batch_size: int = 8, max_new_tokens: int = 256, device: str | None = None,
                 budget: Budget | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = str(path)
        self.model = Path(self.path).name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tok = AutoTokenizer.from_pretrained(self.path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.lm = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype).to(self.device).eval()
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max_new_tokens
        self.sampling = {"temperature": 0, "max_tokens": max_new_tokens}
        self.budget = budget or Budget(None)
        self.stats = Stats()

    def describe(self) -> dict:
        return {"backend": self.kind, "path": self.path, "model": self.model, "device": self.device,
                "batch_size": self.batch_size}

    def generate(self, batch: list[Request]) -> list[str]:
        import torch

        texts = []
        for req in batch:
            msgs = req.payload_messages()
            if self.tok.chat_template:
                texts.append(self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
            else:
                texts.append("\n\n".join(m["content"] for m in msgs) + "\n\n")
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=not self.tok.chat_template,
                       return_token_type_ids=False).to(self.device)
        with torch.no_grad():
            out = self.lm.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                   pad_token_id=self.tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return [self.tok.decode(row, skip_special_tokens=True) for row in new]

    def run_many(self, requests_: list[Request]) -> Iterator[tuple[Request, str | Exception]]:
        for start in range(0, len(requests_), self.batch_size):
            batch = requests_[start:start + self.batch_size]
            allowed = []
            for req in batch:
                try:
                    self.budget.take()
                    allowed.append(req)
                except BudgetExhausted as err:
                    yield req, err
            if not allowed:
                continue
            self.stats.http_requests += len(allowed)  # "requests" to the local model
            for req, reply in zip(allowed, self.generate(allowed)):
                yield req, reply


def api_key_from_env(var: str | None) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise ValueError(f"--api-key-env {var}: the environment variable {var} is not set or empty")
    return value
