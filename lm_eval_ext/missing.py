"""Why a number is missing, in one place: the values that say so, the one "does not apply"
rule, and the registry of reasons.

Ground floor. A metric that cannot be computed in a process (an optional extra not
installed, a model file absent, a side environment that died, a metric switched off)
is not an exception and not a log line to be parsed later: it is a value.

- `Skip`: why a metric was not computed. Where a signature would stand (a task's
  ``metadata.metric_signatures``) a `Skip` stands instead; results files write it as
  ``skipped: <reason>`` and `Skip.parse` reads that back.
- `NotComputed`: what an lm-eval aggregation returns instead of a number: NaN (so
  lm-eval, JSON and every mean treat it as NaN) carrying its `Skip`.

**Does not apply** (one rule): an item for which a per-item metric means nothing (an
undecidable reply's ``lang_fidelity``) logs ``None`` under the metric's key, never a
sentinel and never a missing key (lm-eval gathers a data-parallel run's values under the
keys rank 0 saw). `applies` says which values count; `mean_applicable` is the one
aggregation that skips the others (the task YAMLs name it through
``lm_eval_ext.metrics.langid.mean_decidable``, the same function object); the plugin finds
it by identity (`skips_none`) to give it lm-eval's standard error; the per-item reader
(`formats.run_folder.item_scores`) skips the same values. A metric no item of a task
applies to has no number there, and `undefined_reason` says why.

**Reasons** (the registry): every reason a user reads for an absent number is made by a
function below (`switched_off`, `all_undecidable`, `no_item_scores`, ...), so the same
cause reads the same in the results, the report, the leaderboard and the board.
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


# ------------------------------------------------------------------ does not apply
def applies(value) -> bool:
    """Whether a logged per-item value counts (None: the metric does not apply to that item)."""
    return value is not None


def applicable(values) -> list:
    """The per-item values that count, in order."""
    return [v for v in values if applies(v)]


def mean_applicable(values) -> float:
    """lm-eval aggregation for per-item values that may not apply (None): the mean over the
    others; NaN when none applies (the plugin then removes the number, so groups skip it)."""
    kept = applicable(values)
    return sum(kept) / len(kept) if kept else math.nan


def skips_none(aggregation) -> bool:
    """Whether an lm-eval aggregation is the one None-skipping mean: by identity, not by name."""
    return aggregation is mean_applicable


# ------------------------------------------------------------------ reasons
def switched_off(metric: str) -> str:
    return f"switched off (LM_EVAL_EXT_{metric.upper()}=off)"


def all_undecidable() -> str:
    return "all replies undecidable (too short to identify their language: lang_undecidable = 1)"


def no_item_scores(metric: str) -> str:
    return f"no per-item scores of {metric} in the samples logs (a corpus-level metric, or not logged)"


def no_samples_log(where) -> str:
    return f"no samples log in {where}"


def undefined_reason(entry: dict, metric: str, filt: str) -> str:
    """Why a results entry has no finite value of `metric` under `filt`, when the entry says
    (lang_fidelity of replies that were all too short to identify), else ''."""
    undecidable = entry.get(f"lang_undecidable,{filt}")
    if metric == "lang_fidelity" and not isinstance(undecidable, bool) and undecidable == 1.0:
        return all_undecidable()
    return ""
