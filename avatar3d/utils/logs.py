"""Logging set-up for the CLI (library code only calls ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import logging


def setup_logging(verbose: int = 0) -> None:
    """Route avatar3d's logs to stderr through rich; ``verbose`` 0 = warnings, 1 = info, 2 = debug."""
    from rich.logging import RichHandler

    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(show_path=False, show_time=False, rich_tracebacks=False)
    root = logging.getLogger("avatar3d")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
