"""``lm-eval-ext serve --hf PATH --port N``: a small OpenAI-compatible server
over a local transformers model.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (the tokenizer's
chat template) and ``POST /v1/completions``; fields ``max_tokens``,
``temperature`` (0: greedy), ``top_p``, ``seed``, ``stop``. Requests are
served one at a time (one model, no batching): meant for tests, local judges
and small evaluations, not for production traffic. It binds to 127.0.0.1 by
default and has no authentication.

It prints ``serving <model> on http://HOST:PORT/v1`` once the model is loaded.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lm_eval_ext.exit_codes import ExitCode


class Generator:
    def __init__(self, path: str, max_tokens_cap: int = 1024):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tok = AutoTokenizer.from_pretrained(path)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.cap = max_tokens_cap
        self.lock = threading.Lock()

    def chat_prompt(self, messages) -> str:
        if not isinstance(messages, list) or not all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                     for m in messages):
            raise ValueError("'messages' must be a list of {role, content} objects with string content")
        if self.tok.chat_template:
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def generate(self, prompt: str, body: dict) -> tuple[str, int, int, str]:
        torch = self.torch
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        max_tokens = max(1, min(max_tokens, self.cap))
        temperature = float(body.get("temperature") or 0.0)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        enc = self.tok(prompt, return_tensors="pt", add_special_tokens=not self.tok.chat_template,
                       return_token_type_ids=False).to(self.device)
        kwargs = dict(max_new_tokens=max_tokens, pad_token_id=self.tok.pad_token_id or self.tok.eos_token_id)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=float(body.get("top_p") or 1.0))
        else:
            kwargs.update(do_sample=False)
        with self.lock:
            if body.get("seed") is not None:
                torch.manual_seed(int(body["seed"]))
            with torch.no_grad():
                out = self.lm.generate(**enc, **kwargs)
        new = out[0, enc["input_ids"].shape[1]:]
        text = self.tok.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= max_tokens else "stop"
        for s in stops:
            if s and s in text:
                text, finish = text[: text.index(s)], "stop"
        return text, int(enc["input_ids"].shape[1]), int(len(new)), finish


def make_server(gen: Generator, model_name: str, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms a reply
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # one short line per request, no headers (no keys in logs)
            sys.stderr.write(f"{self.address_string()} {self.command} {self.path.split('?')[0]} {args[1] if len(args) > 1 else ''}\n")

        def _send(self, status: int, obj: dict) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "local"}]})
            elif self.path.rstrip("/") in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self):
            path = self.path.rstrip("/")
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the request body must be a JSON object")
                if path.endswith("/chat/completions"):
                    prompt, chat = gen.chat_prompt(body.get("messages")), True
                elif path.endswith("/completions"):
                    prompt = body.get("prompt")
                    if isinstance(prompt, list) and len(prompt) == 1:
                        prompt = prompt[0]
                    if not isinstance(prompt, str):
                        raise ValueError("'prompt' must be a string")
                    chat = False
                else:
                    self._error(404, f"no route {self.path}")
                    return
            except (ValueError, TypeError) as err:
                self._error(400, str(err))
                return
            try:
                text, n_in, n_out, finish = gen.generate(prompt, body)
            except Exception as err:  # noqa: BLE001 - a generation error is the server's fault
                self._error(500, f"{type(err).__name__}: {err}")
                return
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                      if chat else {"index": 0, "text": text, "finish_reason": finish, "logprobs": None})
            self._send(200, {
                "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": model_name, "choices": [choice],
                "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
            })

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    return httpd


def serve(args) -> int:
    gen = Generator(args.hf, max_tokens_cap=args.max_tokens_cap)
    name = args.model_name or Path(args.hf.rstrip("/")).name
    httpd = make_server(gen, name, args.host, args.port)
    host, port = httpd.server_address[:2]
    print(f"serving {name} on http://{host}:{port}/v1", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return ExitCode.OK
