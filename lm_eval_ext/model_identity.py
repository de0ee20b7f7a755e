"""One model identity: which runs are the same model, as lm-eval recorded them.

Read by the run-folder reader (which results files merge), the leaderboard (one row per
model), the report (one column per model) and self-translate (whose stage 1 a stage 2 used).
Ground floor: works on the ``config`` / ``model_name`` of a results document, or on a
backend and its model arguments, only.

What counts as identity (README: "Which runs are the same model"):

- the backend (``config.model``: ``hf``, ``vllm``, ``local-chat-completions``, ...);
- the checkpoint: the ``model_sha`` lm-eval records (hf backend, when the hub answered), else
  the ``pretrained=`` / ``model=`` argument as written, with its ``revision`` when not ``main``;
- every other model argument, parsed the way lm-eval parses them (``true`` / ``True`` are one
  boolean, ``0.90`` / ``0.9`` one number, ``1`` / ``1.0`` one number, a quoted value keeps its
  commas) -- except the request-only settings, which change how requests are sent, never what
  the model answers: ``num_concurrent``, ``max_retries``, ``timeout``, ``tokenized_requests``,
  and the host and port of a ``base_url`` on a loopback host (a local server started on any
  free port). The reports still show them.
"""

from __future__ import annotations

import ast
import hashlib
import ipaddress
import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

REQUEST_ONLY = ("num_concurrent", "max_retries", "timeout", "tokenized_requests")
CHECKPOINT_ARGS = ("pretrained", "model")  # the first one present names the checkpoint
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


# ------------------------------------------------------------------ parsing, as lm-eval does
def parse_value(text: str):
    """One ``key=value`` value as lm-eval reads it (``lm_eval.utils.handle_arg_string``, and the
    CLI's literal lists and dicts): booleans, None, int, float; a quoted value stays a string."""
    arg = text.strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
        return arg[1:-1]
    lower = arg.lower()
    if lower == "true":
        return True
    if lower == "false":
        return False
    if lower == "none":
        return None
    if arg.lstrip("+-").isdigit():
        return int(arg)
    try:
        return float(arg)
    except ValueError:
        pass
    if arg[:1] in "[{(":
        try:
            return ast.literal_eval(arg)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    return arg


def split_args(text: str) -> list[str]:
    """``a=1,b='x,y',c=[1,2]`` -> its ``key=value`` parts: commas inside quotes or brackets do not
    split (lm-eval's CLI, ``lm_eval._cli.utils.split_top_level``)."""
    parts, buf, depth, quote = [], [], 0, None
    for char in text:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(char)
    parts.append("".join(buf))
    return [p for p in parts if p.strip()]


def parse_model_args(args) -> dict:
    """Model arguments as lm-eval holds them: a dict (lm-eval >= 0.4.9 records one) as it is, a
    ``k=v,k=v`` string parsed; a JSON object string (the CLI accepts one) read as JSON."""
    if args is None:
        return {}
    if isinstance(args, dict):
        return dict(args)
    text = str(args).strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
            if isinstance(value, dict):
                return value
        except (ValueError, RecursionError):
            pass
    out = {}
    for part in split_args(text):
        key, _, value = part.partition("=")
        out[key.strip()] = parse_value(value)
    return out


def _canonical(value):
    """A parsed value in one spelling: an integral float is the int (``1.0`` is ``1``), containers
    recursively, anything else as its JSON-able self or its text."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return str(value)


def _text(value) -> str:
    """A canonical value as written in ``k=v`` (strings bare, the rest as JSON: ``true``, ``0.9``)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _identity_url(url: str) -> str | None:
    """A ``base_url`` without host and port when the host is a loopback address (None otherwise:
    the URL is identity as written)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not is_loopback(parts.hostname):
        return None
    return urlunsplit((parts.scheme, "loopback", parts.path, parts.query, parts.fragment))


# ------------------------------------------------------------------ the identity
@dataclass(frozen=True)
class ModelIdentity:
    """Which model a run is. Two runs with equal `key` are the same model."""

    backend: str  # config.model
    checkpoint: str  # "sha:<model_sha>" or the pretrained=/model= argument [@revision]
    settings: tuple[tuple[str, str], ...]  # the other identity arguments, (key, canonical JSON), sorted
    request_only: tuple[tuple[str, str], ...]  # arguments that are not identity (shown, not compared)
    name: str  # the model as recorded (model_name, else the checkpoint argument)

    @property
    def key(self) -> str:
        blob = json.dumps([self.backend, self.checkpoint, list(self.settings)], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def describe(self) -> str:
        """The identity arguments as ``k=v,k=v`` (the checkpoint first)."""
        return ",".join([f"checkpoint={self.checkpoint}", *(f"{k}={_text(json.loads(v))}" for k, v in self.settings)])

    def describe_requests(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.request_only)


def identity(backend, model_args, model_info: dict | None = None, name: str | None = None) -> ModelIdentity:
    """The identity of a backend and its model arguments (a dict or an lm-eval ``k=v`` string);
    `model_info` the facts lm-eval records beside them in ``config`` (``model_sha``, ``model_revision``)."""
    args = {str(k).strip(): _canonical(v) for k, v in parse_model_args(model_args).items()}
    info = model_info or {}
    ckpt_arg = next((k for k in CHECKPOINT_ARGS if args.get(k) not in (None, "")), None)
    path = _text(args.pop(ckpt_arg)) if ckpt_arg else ""
    revision = args.pop("revision", None)
    if revision in (None, "") and isinstance(info.get("model_revision"), str):
        revision = info["model_revision"]
    sha = info.get("model_sha")
    if isinstance(sha, str) and sha.strip():
        checkpoint = f"sha:{sha.strip()}"
    else:
        checkpoint = path + (f"@{_text(revision)}" if revision not in (None, "", "main") else "")
    settings, request = [], []
    for key, value in args.items():
        if key in REQUEST_ONLY:
            request.append((key, _text(value)))
        elif key == "base_url" and isinstance(value, str) and (local := _identity_url(value)) is not None:
            settings.append((key, json.dumps(local)))
            request.append((key, value))
        else:
            settings.append((key, json.dumps(value, sort_keys=True, ensure_ascii=False)))
    return ModelIdentity(str(backend or ""), checkpoint, tuple(sorted(settings)), tuple(sorted(request)),
                         str(name or path or backend or ""))


def of_results(data: dict, fallback: str = "") -> ModelIdentity:
    """The identity of a results document (its ``config`` and ``model_name``)."""
    cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
    return identity(cfg.get("model"), cfg.get("model_args"), cfg, model_name(data, fallback))


def model_name(data: dict, fallback: str = "") -> str:
    """The model as recorded: ``model_name``, else ``pretrained=`` / ``model=`` of the model args,
    else the backend name, else `fallback`."""
    cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
    name = data.get("model_name")
    if not name:
        args = parse_model_args(cfg.get("model_args"))
        name = next((args[k] for k in CHECKPOINT_ARGS if args.get(k) not in (None, "")), None)
    return str(name or cfg.get("model") or fallback)


def canonical_model_args(args) -> str:
    """Every model argument (request-only ones included) as ``k=v,k=v`` sorted by key, values in
    one spelling (what reports show)."""
    parsed = parse_model_args(args)
    return ",".join(f"{k}={_text(_canonical(v))}" for k, v in sorted(parsed.items(), key=lambda kv: str(kv[0])))


