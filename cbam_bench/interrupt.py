"""Ctrl-C and SIGTERM as one thing: an exception that says which signal, and the exit code it means.

Python turns Ctrl-C (SIGINT) into KeyboardInterrupt; a scheduler, `kill` or a container stopping
sends SIGTERM, whose default is to end the process on the spot. Within sigterm_interrupts(), SIGTERM
raises Interrupted instead, so code that records an interrupted piece of work (the search's
running trial) handles both alike. Commands exit with 128 + the signal's number (130, 143), the
shell's convention.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal; `recorded` says what was saved of the work in progress, when anything was."""

    def __init__(self, signum: int = signal.SIGINT, recorded: str | None = None) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.recorded = recorded


def signal_of(exc: KeyboardInterrupt) -> int:
    """The signal behind an interrupt: its own for Interrupted, SIGINT for a plain KeyboardInterrupt."""
    return exc.signum if isinstance(exc, Interrupted) else signal.SIGINT


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + signal_of(exc)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises Interrupted(SIGTERM) in the main thread; the handler before it
    comes back afterwards. Further SIGTERMs are ignored while the first is handled, so recording the
    interrupted work is not itself interrupted. Outside the main thread nothing changes (Python
    delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
