"""One model identity: which runs are the same model, as lm-eval recorded them.

Read by the run-folder reader (which runs merge), the leaderboard (one row per model),
the report (one column per model) and self-translate (whose stage 1 a stage 2 used).
Ground floor: works on the ``config`` / ``model_name`` of a results document only.
"""

from __future__ import annotations

import re


def model_name(data: dict, fallback: str = "") -> str:
    """The model as recorded: ``model_name``, else ``pretrained=`` / ``model=`` of the model args,
    else the backend name, else `fallback`."""
    cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
    args = cfg.get("model_args")
    name = data.get("model_name")
    if not name and isinstance(args, dict):
        name = args.get("pretrained") or args.get("model")
    if not name and isinstance(args, str):
        m = re.search(r"(?:pretrained|model)=([^,]+)", args)
        name = m.group(1) if m else None
    return str(name or cfg.get("model") or fallback)


def canonical_model_args(args) -> str:
    """``k=v,k=v`` sorted by key, from a dict (lm-eval >= 0.4.9) or a string."""
    if args is None:
        return ""
    if isinstance(args, dict):
        items = args.items()
    else:
        items = []
        for part in str(args).split(","):
            if part.strip():
                k, _, v = part.partition("=")
                items.append((k.strip(), v.strip()))
    return ",".join(f"{k}={v}" for k, v in sorted(items, key=lambda kv: str(kv[0])))
