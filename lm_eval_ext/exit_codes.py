"""The exit status of every ``lm-eval-ext`` command: one meaning each (reports/README.md,
"Exit status"). Ground floor, so that every command returns a member, never a bare integer.

When several apply, the most serious wins: bad input 2 > not comparable 4 > regression 1 > ok 0
(`ExitCode.worst`)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    REGRESSED = 1  # compare only: the candidate failed the gate
    BAD_INPUT = 2  # bad input, usage, an environment that cannot work, or an output that cannot be written
    BUDGET = 3  # judge only: items left unjudged (--max-requests, failed requests)
    NOT_COMPARABLE = 4  # compare only: a task set side by side was produced another way
    INTERNAL = 70  # a bug: a traceback was printed
    INTERRUPTED = 130  # Ctrl-C

    @staticmethod
    def worst(*codes: "ExitCode") -> "ExitCode":
        """The code to exit with when several outcomes apply."""
        order = (ExitCode.INTERNAL, ExitCode.INTERRUPTED, ExitCode.BAD_INPUT, ExitCode.BUDGET,
                 ExitCode.NOT_COMPARABLE, ExitCode.REGRESSED, ExitCode.OK)
        return min(codes, key=order.index, default=ExitCode.OK)
