"""Neural segment scores on disk: ``LM_EVAL_EXT_SCORE_CACHE`` (an SQLite file; default
``~/.cache/lm_eval_ext/neural_scores.sqlite``; ``off``: no cache).

A score is stored under a key of (metric, scorer, source, hypothesis, reference), where the
scorer is everything a score depends on (`runtime.neural.cache_signature`: the scorer's
signature, checkpoint files, interpreter and package versions): another checkpoint, another
unbabel-comet or bleurt-pytorch, another side environment scores again, and a value never comes
back under a signature that did not compute it. A killed run keeps what was scored before it
stopped.
A cache that cannot be opened, read or written (a folder, a read-only location, not an SQLite
file) is warned about once and scoring goes on without it: the cache saves time, it never costs a
score.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path

CACHE_ENV = "LM_EVAL_EXT_SCORE_CACHE"
log = logging.getLogger("lm_eval_ext")
_warned: set[str] = set()


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
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(str(path), timeout=60)
                self.db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, score REAL NOT NULL)")
            except (OSError, sqlite3.Error) as err:
                self._give_up("opened", err)

    def _give_up(self, what: str, err: Exception) -> None:
        """Go on without the cache, saying so once per process and path."""
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass
            self.db = None
        if str(self.path) not in _warned:
            _warned.add(str(self.path))
            log.warning("lm-eval-ext: the score cache %s cannot be %s (%s: %s); scoring without it (%s: "
                        "a writable file, or off)", self.path, what, type(err).__name__,
                        getattr(err, "strerror", None) or err, CACHE_ENV)

    def get(self, keys: list[str]) -> dict[str, float]:
        if self.db is None:
            return {}
        out = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = self.db.execute(
                    f"SELECT key, score FROM scores WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                out.update(rows.fetchall())
        except sqlite3.Error as err:
            self._give_up("read", err)
            return {}
        return out

    def put(self, items: dict[str, float]) -> None:
        if self.db is None or not items:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", list(items.items()))
        except sqlite3.Error as err:
            self._give_up("written", err)

    def close(self):
        if self.db is not None:
            self.db.close()
