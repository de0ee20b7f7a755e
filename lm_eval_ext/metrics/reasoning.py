"""The one reasoning splitter: what a reasoning model thought, and what it answered after.

Every reader of model replies uses it: answer extraction (MGSM numbers, QA spans,
FLORES translations, PolyMath's boxed answers), language identification, and the
LLM judge (the judged reply and the judge's own reply).

- ``split(reply, prompt=None) -> Split(thinking, answer, truncated)``: the thinking
  part (``<think>``, ``<thinking>``, ``<reasoning>`` blocks, any case), the answer
  part, and whether the reply stopped inside its thinking;
- ``strip_reasoning(reply)``: the answer part alone (``split(reply).answer``).

The rule, for a reply (and, when known, the rendered prompt it continues):

- complete blocks are thinking; the answer is the text around them (each block
  leaves a space, so the words on its two sides stay apart);
- a reply that only closes a block (the chat template opened it in the prompt,
  R1/QwQ style) thought up to its last closing tag and answers after it;
- a reply still inside an opened block when generation stopped has given no answer
  there: the text from the opening tag on is thinking, and the reply is `truncated`;
- a prompt that ends in an opening tag (``...<|Assistant|><think>\\n``) makes the
  whole of a reply without a closing tag thinking, cut off (`truncated`): such a
  reply carries no tag at all. Without the prompt that reply reads as an answer.

A prompt is the rendered text (hf, vllm, local-completions) or, for
chat-completions, the messages (a list, or lm-eval's JSON string of it): the server
renders those, so only an assistant prefill that ends in an opening tag is seen.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

_TAGS = "think|thinking|reasoning"
_BLOCK = re.compile(rf"<({_TAGS})>(.*?)</\1>", re.S | re.I)
_OPEN = re.compile(rf"<({_TAGS})>", re.I)
_CLOSE = re.compile(rf"</({_TAGS})>", re.I)
_OPEN_AT_END = re.compile(rf"<({_TAGS})>\s*$", re.I)


class Split(NamedTuple):
    thinking: str | None  # None: the reply has no thinking part
    answer: str  # what the reply says after thinking ("" when it stopped inside)
    truncated: bool  # generation stopped inside the thinking part


def prompt_opens_thinking(prompt) -> bool:
    """Whether a rendered prompt ends inside an opened thinking block (its last
    characters are ``<think>`` and white space). For chat messages: whether the last
    message is the assistant's and its content so ends (a prefill)."""
    if isinstance(getattr(prompt, "prompt", None), str):  # lm-eval's JsonChatStr (a named 1-tuple)
        prompt = prompt.prompt
    if isinstance(prompt, str):
        text = prompt.strip()
        if not (text.startswith("[{") and text.endswith("}]")):
            return bool(_OPEN_AT_END.search(prompt))
        try:  # the messages as JSON
            prompt = json.loads(text)
        except ValueError:
            return bool(_OPEN_AT_END.search(prompt))
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[-1], dict):
        last = prompt[-1]
        content = last.get("content")
        return last.get("role") == "assistant" and isinstance(content, str) and bool(_OPEN_AT_END.search(content))
    return False


def split(reply: str, prompt=None) -> Split:
    """The thinking part, the answer part and whether the reply stopped inside its
    thinking (module docstring). `prompt`: the rendered prompt or chat messages."""
    reply = reply or ""
    thoughts: list[str] = []

    def block(match) -> str:
        thoughts.append(match.group(2))
        return " "

    text = _BLOCK.sub(block, reply)
    closes = list(_CLOSE.finditer(text))
    truncated = False
    if closes:  # the template opened the block: everything before the last closing tag is thinking
        thoughts.insert(0, _CLOSE.sub(" ", text[: closes[-1].start()]))
        text = text[closes[-1].end():]
    elif prompt_opens_thinking(prompt):  # the reply never closed what the prompt opened
        return Split(reply, "", True)
    opened = _OPEN.search(text)
    if opened:
        thoughts.append(text[opened.end():])
        text = text[: opened.start()]
        truncated = True
    thinking = "\n".join(t.strip() for t in thoughts) if thoughts else None
    return Split(thinking, text, truncated)


def strip_reasoning(text: str) -> str:
    """The answer part of a reply (`split`): complete ``<think>`` blocks (also
    ``<thinking>``, ``<reasoning>``; any case) removed, the text before a lone closing
    tag dropped, the text from an unclosed opening tag on dropped ("" when the reply
    opens with it)."""
    return split(text).answer


def unfinished_reasoning(text: str, prompt=None) -> bool:
    """Whether generation stopped inside a reasoning block (`split`'s ``truncated``): the reply gave
    no answer there (a budget too small for a reasoning model)."""
    return split(text, prompt).truncated
