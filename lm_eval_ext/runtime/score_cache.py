"""Neural segment scores on disk: ``LM_EVAL_EXT_SCORE_CACHE`` (an SQLite file; default
``~/.cache/lm_eval_ext/neural_scores.sqlite``; ``off``: no cache).

A score is stored under a key of (metric, scorer, source, hypothesis, reference), where the
scorer is everything a score depends on (`runtime.neural.cache_signature`: the scorer's
signature, checkpoint files, interpreter and package versions): another checkpoint, another
unbabel-comet or bleurt-pytorch, another side environment scores again, and a value never comes
back under a signature that did not compute it. A killed run keeps what was scored before it
stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

CACHE_ENV = "LM_EVAL_EXT_SCORE_CACHE"


def cache_path() -> Path | None:
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "none"):
        return None
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "lm_eval_ext" / "neural_scores.sqlite"


def key(metric: str, scorer: str, src: str, hyp: str, ref: str) -> str:
    return hashlib.sha256(json.dumps(["v2", metric, scorer, src, hyp, ref], ensure_ascii=False).encode()).hexdigest()


class ScoreCache:
    def __init__(self, path: Path | None):
        self.path = path
        self.db = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=60)
            self.db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, score REAL NOT NULL)")

    def get(self, keys: list[str]) -> dict[str, float]:
        if self.db is None:
            return {}
        out = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(
                f"SELECT key, score FROM scores WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            out.update(rows.fetchall())
        return out

    def put(self, items: dict[str, float]) -> None:
        if self.db is None or not items:
            return
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", list(items.items()))

    def close(self):
        if self.db is not None:
            self.db.close()
