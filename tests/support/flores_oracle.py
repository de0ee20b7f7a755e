"""A scripted translator for FLORES tasks on the loopback server (tests/support/loopback.py).

    policy = FloresOracle(data_dir, codes, n, mode_of=lambda src, tgt: "oracle")
    with ScriptedServer(policy) as server: ...

It finds the direction in the system prompt ("Translate the following text from <name> to
<name>.", names from the language registry) and the item by its source sentence, and answers
per direction in one of three modes:

- ``oracle``: the reference translation (a perfect translator: chrF++ 100, BLEU 100 where defined);
- ``copy``: the source sentence copied (an off-target reply);
- ``wrong``: the reference of the next item (a fluent reply in the right language, wrong sentence).

`hypotheses(src, tgt)` gives the same replies, as scored, computed from the data alone, so a test or
benchmark can compare lm-eval's numbers with sacreBLEU's on them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lm_eval_ext import languages

MODES = ("oracle", "copy", "wrong")
_SYSTEM = re.compile(r"Translate the following text from (.+) to (.+)\.")


def first_lines(data_dir: Path, code: str, n: int) -> list[str]:
    out = []
    with open(Path(data_dir) / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line)["text"])
                if len(out) == n:
                    break
    return out


class FloresOracle:
    def __init__(self, data_dir: Path, codes, n: int, mode_of=lambda src, tgt: "oracle"):
        self.n = n
        self.mode_of = mode_of
        self.text = {code: first_lines(data_dir, code, n) for code in codes}
        self.by_name = {languages.get(code).name: code for code in codes}
        self.index = {code: {s: k for k, s in enumerate(lines)} for code, lines in self.text.items()}

    def hypothesis(self, src: str, tgt: str, k: int) -> str:
        """The reply to item k. The server knows an item by its source sentence only: where two items
        share one (FLORES has a few duplicated source lines), both get the later item's reply."""
        k = self.index[src][self.text[src][k]]
        mode = self.mode_of(src, tgt)
        if mode == "oracle":
            return self.text[tgt][k]
        if mode == "copy":
            return self.text[src][k]
        if mode == "wrong":
            return self.text[tgt][(k + 1) % self.n]
        raise ValueError(f"unknown mode {mode!r}")

    def hypotheses(self, src: str, tgt: str, n: int | None = None) -> list[str]:
        """The replies as FLORES scores them: after the documented cleaning rule (a reply quoted
        where its source is not loses the quotes)."""
        from lm_eval_ext.families.flores import clean_translation

        return [clean_translation(self.hypothesis(src, tgt, k), src, tgt, self.text[src][k])[0]
                for k in range(n or self.n)]

    def __call__(self, kind, payload) -> str:
        system = " ".join(m["content"] for m in payload.get("messages", []) if m.get("role") == "system")
        m = _SYSTEM.match(system)
        src, tgt = self.by_name[m[1]], self.by_name[m[2]]
        user = [x["content"] for x in payload.get("messages", []) if x.get("role") == "user"][-1]
        # "<src name>: <source>\n<tgt name>:"
        source = user[len(m[1]) + 2:].rsplit("\n", 1)[0]
        return self.hypothesis(src, tgt, self.index[src][source])
