"""CPython's cycle collector around bulk reads of a study.

Reading 10,000 trials builds a few million small dicts, lists and tuples, none of them in a cycle.
Each allocation counts towards the collector's next pass, and its full passes traverse every
object alive, the study read so far included: at 10,000 trials that was about a third of a
report's CPU time, and none of it found garbage.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Build the objects with the collector off; its previous state is restored after (also on error)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def frozen() -> Iterator[None]:
    """Within the block, every object alive at its start (a study just read) is left out of the
    collector's passes (gc.freeze), so the summaries, tables and exports built next do not traverse
    it again on every pass; after the block it is back in (gc.unfreeze), so a process that lives on
    (a test run, a notebook) keeps collecting it. Nested blocks leave the outermost one in charge."""
    outermost = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if outermost:
            gc.unfreeze()
