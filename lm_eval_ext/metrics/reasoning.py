"""The one reasoning-block stripper: what a reasoning model's reply says after it has thought.

Every reader of model replies uses it: answer extraction (MGSM numbers, QA spans,
FLORES translations), language identification, and the LLM judge (the judged
reply and the judge's own reply).
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.I)
_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.I)


def strip_reasoning(text: str) -> str:
    """Remove reasoning-model ``<think>`` blocks (also ``<thinking>``, ``<reasoning>``;
    any case); the answer is what follows them.

    A reply whose template opened the block in the prompt carries only the
    closing tag: everything before it is reasoning. A reply still inside an
    unclosed block when generation stopped has given no answer there: the text
    from the opening tag on is dropped ("" when the reply opens with it).
    """
    text = _BLOCK.sub(" ", text)
    closes = list(_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    opened = _OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text


def unfinished_reasoning(text: str) -> bool:
    """Whether generation stopped inside a reasoning block (an opening tag with no closing tag
    after it): `strip_reasoning` leaves nothing of what followed, so the reply gave no answer there
    (a budget too small for a reasoning model)."""
    text = _BLOCK.sub(" ", text)
    closes = list(_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    return _OPEN.search(text) is not None
