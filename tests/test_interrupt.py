"""Ctrl-C and SIGTERM as one exception: which signal it was, its exit code, and a handler that is put back."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from cbam_bench.interrupt import Interrupted, exit_code, signal_of, sigterm_interrupts


def test_exit_codes_are_128_plus_the_signal() -> None:
    assert exit_code(KeyboardInterrupt()) == 130 and signal_of(KeyboardInterrupt()) == signal.SIGINT
    assert exit_code(Interrupted(signal.SIGTERM)) == 143 and exit_code(Interrupted()) == 130
    assert isinstance(Interrupted(signal.SIGTERM), KeyboardInterrupt)  # caught wherever Ctrl-C is


def test_sigterm_raises_inside_the_block_and_the_old_handler_comes_back() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with pytest.raises(Interrupted) as info, sigterm_interrupts():
            signal.raise_signal(signal.SIGTERM)
            time.sleep(5)  # never reached: the handler raises as raise_signal returns
        assert info.value.signum == signal.SIGTERM and info.value.recorded is None
        signal.raise_signal(signal.SIGTERM)  # the handler from before the block again
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_nothing_changes() -> None:
    handlers: list[object] = []

    def worker() -> None:
        with sigterm_interrupts():
            handlers.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert handlers == [before]
