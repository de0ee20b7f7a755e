"""The prompts: few-shot lines, the last one's target word left open after its opening quote.

| task | a line | the model must produce |
|---|---|---|
| ``translation`` | ``Français: "Allemagne" - Deutsch: "Deutschland"`` | the target word, given the source word |
| ``repetition`` | ``Deutsch: "Deutschland" - Deutsch: "Deutschland"`` | the target word, given itself |
| ``cloze`` | ``DE - Deutsch: "Deutschland"`` | the target word, given the concept's CLDR code only (`Concept.cue`) |

Labels are the languages' own names (CLDR autonyms). The examples (shots) are other concepts of
the same category and language pair, drawn with a seed from the pair and the concept, so a
concept's prompt is the same whatever ``--limit`` selects. In the cloze prompt no word of
another language appears; in the translation prompt only the source language's.
"""

from __future__ import annotations

import random

from lm_eval_ext.latent import concepts as cc

TASKS = ("translation", "repetition", "cloze")
TEMPLATES = {
    "translation": '{src_label}: "{src}" - {tgt_label}: "{tgt}"',
    "repetition": '{tgt_label}: "{tgt}" - {tgt_label}: "{tgt}"',
    "cloze": '{cue} - {tgt_label}: "{tgt}"',
}
TEMPLATE_VERSION = 1
SEPARATOR = "\n"


def template_id(task: str, shots: int) -> str:
    return f"{task}-v{TEMPLATE_VERSION}({TEMPLATES[task]!s} x{shots + 1}, joined by newline)"


def _line(task: str, concept, source: str | None, target: str, open_end: bool) -> str:
    text = TEMPLATES[task].format(src_label=cc.label(source) if source else "",
                                  src=concept.word(source) if source else "", tgt_label=cc.label(target),
                                  tgt=concept.word(target), cue=concept.cue)
    if open_end:  # cut after the opening quote of the last target word
        return text[: text.rindex('"', 0, len(text) - 1) + 1]
    return text


def shots_for(concept, kept: list, k: int, seed: int, pair: str) -> list:
    """Up to `k` other concepts of the same category among `kept`, drawn with a seed of the
    pair and the concept."""
    others = [c for c in kept if c.category == concept.category and c.id != concept.id]
    rng = random.Random(f"{seed}|{pair}|{concept.id}")
    return rng.sample(others, min(k, len(others)))


def prompt(task: str, concept, examples: list, target: str, source: str | None = None) -> str:
    if task not in TEMPLATES:
        raise ValueError(f"task {task!r}: one of {', '.join(TASKS)}")
    src = source if task == "translation" else None
    lines = [_line(task, c, src, target, False) for c in examples]
    lines.append(_line(task, concept, src, target, True))
    return SEPARATOR.join(lines)
