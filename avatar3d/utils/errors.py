"""User-facing errors: what was wrong and what to do about it."""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input or set-up (not a bug).

    The CLI prints ``str(error)`` without a traceback and exits with status 2; the demo shows it.
    ``hint`` says what to do.
    """

    def __init__(self, problem: str, hint: str = "") -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem}\n  -> {hint}" if hint else problem)
