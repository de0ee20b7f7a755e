"""Values that say why a metric has no number.

Ground floor. A metric that cannot be computed in a process (an optional extra not
installed, a model file absent, a side environment that died, a metric switched off)
is not an exception and not a log line to be parsed later: it is a value.

- `Skip`: why a metric was not computed. Where a signature would stand (a task's
  ``metadata.metric_signatures``) a `Skip` stands instead; results files write it as
  ``skipped: <reason>`` and `Skip.parse` reads that back.
- `NotComputed`: what an lm-eval aggregation returns instead of a number: NaN (so
  lm-eval, JSON and every mean treat it as NaN) carrying its `Skip`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PREFIX = "skipped: "


@dataclass(frozen=True)
class Skip:
    reason: str

    def __str__(self) -> str:
        return PREFIX + self.reason

    @staticmethod
    def parse(text) -> "Skip | None":
        """The Skip a results file wrote as a signature string, else None."""
        return Skip(text[len(PREFIX):]) if isinstance(text, str) and text.startswith(PREFIX) else None


class NotComputed(float):
    """NaN that carries why (`skip`)."""

    skip: Skip

    def __new__(cls, reason: str) -> "NotComputed":
        value = super().__new__(cls, math.nan)
        value.skip = Skip(reason)
        return value

    def __repr__(self) -> str:
        return f"NotComputed({self.skip.reason!r})"


def skip_of(value) -> Skip | None:
    """The Skip of a metric value or signature, when it is one."""
    if isinstance(value, NotComputed):
        return value.skip
    if isinstance(value, Skip):
        return value
    return None
