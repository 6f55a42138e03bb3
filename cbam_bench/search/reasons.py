"""The one-line reasons a trial records when it fails or is interrupted (`fail_reason`)."""

from __future__ import annotations

import signal

_REASON_CHARS = 500


def interrupted_reason(signum: int) -> str:
    """The fail_reason of a trial stopped by Ctrl-C (KeyboardInterrupt) or another signal (SIGTERM)."""
    name = "KeyboardInterrupt" if signum == signal.SIGINT else signal.Signals(signum).name
    return f"interrupted ({name}); queued again"


INTERRUPTED = interrupted_reason(signal.SIGINT)


def failure_reason(exc: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 3] + "..."
